//! A local cluster for xtask steps that need one running (`bench cluster`, the generic-client
//! check): `tianping_supervisor::LocalCluster` — the same code `tianping dev up` runs — in a
//! fresh data directory, on a runtime of its own (xtask is otherwise synchronous), stopped
//! with SIGINT — the same Ctrl-C a developer sends — by `stop` or when the handle is dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tianping_supervisor::{NODES_3, NODES_5, UpConfig};

use crate::process::Progress;

/// Longest the cluster may take to become healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running local cluster.
pub struct LocalCluster {
    /// The nodes; dropping them stops every one.
    cluster: tianping_supervisor::LocalCluster,
    /// Every node's client API address (`HOST:PORT`), in node-id order.
    pub api_addresses: Vec<String>,
    /// The node that led when the cluster came up (the bench sends to it).
    pub leader: u64,
}

impl LocalCluster {
    /// Starts a fresh cluster of `voters` (3 or 5) nodes of `binary` in `data_dir` and waits
    /// until it is healthy.
    pub fn start(
        progress: &Progress,
        binary: &Path,
        voters: u32,
        data_dir: &Path,
    ) -> Result<LocalCluster, String> {
        let shape = match voters {
            3 => NODES_3,
            5 => NODES_5,
            _ => return Err(format!("a local cluster has 3 or 5 voters, not {voters}")),
        };
        progress.say(&format!(
            "starting a {voters}-voter cluster of {} in {}",
            binary.display(),
            data_dir.display()
        ));
        let config = UpConfig {
            data_dir: data_dir.to_path_buf(),
            fresh: true,
            shape,
            timeout: READY_TIMEOUT,
            // Benchmarks and the generic-client check (grpcurl) run plaintext; `cargo xtask
            // up` (`tianping dev up`) runs TLS.
            security: tianping_supervisor::ClusterSecurity::Insecure,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("starting a runtime: {error}"))?;
        let (cluster, up) = runtime
            .block_on(tianping_supervisor::LocalCluster::up(binary, &config, &mut |line| {
                progress.say(&line);
            }))
            .map_err(|error| format!("the local cluster did not come up: {error}"))?;
        let api_addresses = cluster.api_addresses();
        progress.say(&format!(
            "cluster ready, leader node {}: {}",
            up.leader,
            api_addresses.join(" ")
        ));
        Ok(LocalCluster { cluster, api_addresses, leader: up.leader })
    }

    /// Every running node's id and process id, in node-id order.
    pub fn node_pids(&self) -> Vec<(u64, u32)> {
        self.cluster.nodes().iter().filter_map(|node| Some((node.node_id, node.pid()?))).collect()
    }

    /// Stops every node with SIGINT and waits; an error if one had to be killed.
    pub fn stop(mut self) -> Result<(), String> {
        let killed = self.cluster.stop();
        if killed.is_empty() {
            Ok(())
        } else {
            Err(format!("nodes {killed:?} did not stop after SIGINT and were killed"))
        }
    }
}

/// A fresh scratch directory for a cluster's data under the target directory (kept out of the
/// source tree, removed first if a previous run left it).
pub fn scratch_directory(name: &str) -> Result<PathBuf, String> {
    let path = crate::process::target_directory().join("xtask").join(name);
    match std::fs::remove_dir_all(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing {}: {error}", path.display()));
        }
        _ => {}
    }
    std::fs::create_dir_all(&path)
        .map_err(|error| format!("creating {}: {error}", path.display()))?;
    Ok(path)
}
