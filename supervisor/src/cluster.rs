//! `LocalCluster`: a local multi-data-center cluster of `tianping node` processes on loopback —
//! the logic of `tianping dev up`, also used by `cargo xtask` (benchmarks, the generic-client
//! check).
//!
//! How it comes up (`LocalCluster::up`):
//! 1. Each node gets `<data-dir>/node-N/node.toml`. On the first run its addresses are
//!    `127.0.0.1:0`, so the OS picks free ports with no race; later runs reuse the file. Each
//!    node also gets a `metrics_address` on a free port (Prometheus `GET /metrics`).
//! 2. Each node runs as `tianping node --config node.toml --bound-addresses-file
//!    addresses.toml` (output to `node-N/node.log`); once every node reported its addresses,
//!    the real ports are pinned into `node.toml`, so a restart keeps them (the membership
//!    stored in the log names them).
//! 3. If node 1 knows no members yet, it is sent `tianping.v1.Admin/Initialize` with every
//!    node as a voter; a restarted cluster is left as it is.
//! 4. Healthy (`health::healthy`): every node knows the same leader and all members, and has
//!    applied the entry the leader committed in its term.
//! 5. `stop` (and dropping the cluster): SIGINT to every running node, up to `STOP_TIMEOUT`
//!    for them to exit, SIGKILL for the rest. No node outlives the cluster, also when start-up
//!    fails.
//!
//! Security (`UpConfig::security`): by default (`ClusterSecurity::DevCertificates`) the
//! cluster runs mutual TLS with development certificates made once under `<data-dir>/certs`
//! (`tianping_tls::dev`: a local CA, `node-N.pem` per node, `operator.pem` for clients), and the
//! supervisor itself calls the nodes with the operator certificate; `Insecure` runs them in
//! plaintext (`insecure = true`), for drills and tests that are not about TLS.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{ClusterStatusRequest, ClusterStatusResponse, InitializeRequest};
use tianping_tls::{Channels, TlsFiles};
use tonic::transport::Channel;

use crate::child::Stopped;
use crate::process::{NodeFiles, NodeProcess};
use crate::{ADDRESSES_FILE, NodeSettings, SupervisorError, health};

/// The local cluster's region.
pub const REGION: &str = "local";

/// A cluster's shape: node id and data center of each node.
pub type Shape = &'static [(u64, &'static str)];

/// The default shape: 2 + 2 + 1 voters in dc-a, dc-b, dc-c, so losing any one data center
/// keeps a majority.
pub const NODES_5: Shape = &[(1, "dc-a"), (2, "dc-a"), (3, "dc-b"), (4, "dc-b"), (5, "dc-c")];

/// The smaller shape: one voter in each of three data centers, for benchmarks and laptops.
pub const NODES_3: Shape = &[(1, "dc-a"), (2, "dc-b"), (3, "dc-c")];

/// The largest node id any shape uses (a data directory holding more is a larger cluster).
const NODE_ID_MAX: u64 = 5;

/// Longest a stopping node may take after SIGINT before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the cluster is looked at while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How often a progress line is reported while waiting.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// Longest one status or initialize call to a node may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// What cluster to bring up, and where.
#[derive(Clone, Debug)]
pub struct UpConfig {
    /// Every node's data, configuration and log live under it (`node-1` … `node-N`).
    pub data_dir: PathBuf,
    /// Delete `data_dir` first and start a brand-new cluster.
    pub fresh: bool,
    /// The nodes.
    pub shape: Shape,
    /// Longest to wait for the cluster to become healthy.
    pub timeout: Duration,
    /// TLS with development certificates, or plaintext.
    pub security: ClusterSecurity,
}

/// How a local cluster's connections are secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterSecurity {
    /// Mutual TLS with development certificates under `<data-dir>/certs` (made when missing).
    DevCertificates,
    /// Plaintext (`insecure = true` in every node's config; the nodes warn at start).
    Insecure,
}

/// The directory under a local cluster's data directory that holds its certificates.
pub const CERTS_DIR: &str = "certs";

/// The client certificate's name in a local cluster's certificates (`operator.pem`).
pub const OPERATOR_CERT: &str = "operator";

/// Node `node_id`'s certificate name in a local cluster's certificates (`node-N.pem`).
pub fn node_cert_name(node_id: u64) -> String {
    format!("node-{node_id}")
}

/// The operator's TLS files of the local cluster under `data_dir`, if it has certificates.
pub fn operator_files(data_dir: &Path) -> Option<TlsFiles> {
    let certs = data_dir.join(CERTS_DIR);
    let files = TlsFiles {
        ca: certs.join("ca.pem"),
        cert: certs.join(format!("{OPERATOR_CERT}.pem")),
        key: certs.join(format!("{OPERATOR_CERT}-key.pem")),
    };
    files.missing().is_empty().then_some(files)
}

/// Makes the development certificates of `shape` under `data_dir/certs` unless the CA is
/// there already (a restarted cluster keeps its certificates); the operator's files.
fn ensure_dev_certificates(
    data_dir: &Path,
    shape: Shape,
    progress: &mut dyn FnMut(String),
) -> Result<TlsFiles, SupervisorError> {
    if let Some(files) = operator_files(data_dir) {
        return Ok(files);
    }
    let certs = data_dir.join(CERTS_DIR);
    let names: Vec<String> = (1..=NODE_ID_MAX)
        .filter(|node_id| shape.iter().any(|(wanted, _)| wanted == node_id))
        .map(node_cert_name)
        .collect();
    let made = tianping_tls::dev::generate(&certs, &names, OPERATOR_CERT)
        .map_err(|error| SupervisorError::Node(error.to_string()))?;
    progress(format!("made development certificates (a local CA) in {}", certs.display()));
    Ok(made.client)
}

/// How `up` found the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// A new cluster, initialized now.
    Initialized,
    /// An existing cluster, restarted with its data.
    Restarted,
}

/// A healthy cluster's facts, as `up` returns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Up {
    /// The leader's node id.
    pub leader: u64,
    /// New or restarted.
    pub started: Started,
}

/// The node processes of a local cluster; dropping it stops every one still running.
#[derive(Debug)]
pub struct LocalCluster {
    data_dir: PathBuf,
    nodes: Vec<NodeProcess>,
    /// The operator's TLS files the supervisor calls the nodes with; none when insecure.
    client_tls: Option<TlsFiles>,
    /// Channels to the nodes, secured with `client_tls`.
    channels: Channels,
}

impl LocalCluster {
    /// Brings a cluster up with `binary` (the `tianping` executable) and waits until it is
    /// healthy; `progress` hears what happens (one line at a time, for a person). `start`, then
    /// `initialize`, within `config.timeout` in all.
    pub async fn up(
        binary: &Path,
        config: &UpConfig,
        progress: &mut dyn FnMut(String),
    ) -> Result<(LocalCluster, Up), SupervisorError> {
        let started = Instant::now();
        let mut cluster = LocalCluster::start(binary, config, &mut |_| {}, progress).await?;
        let up = cluster.initialize(started + config.timeout, progress).await?;
        Ok((cluster, up))
    }

    /// The first half of `up`: starts every node and waits until each serves (its bound
    /// addresses pinned), without initializing. `configure` may change a new node's settings
    /// before its config is first written (a drill sets its timings there). Between the two
    /// halves a caller may put something in front of the nodes (`NodeProcess::
    /// advertise_raft_address`).
    pub async fn start(
        binary: &Path,
        config: &UpConfig,
        configure: &mut dyn FnMut(&mut NodeSettings),
        progress: &mut dyn FnMut(String),
    ) -> Result<LocalCluster, SupervisorError> {
        let deadline = Instant::now() + config.timeout;
        let data_dir = prepare_data_dir(config)?;
        progress(format!("starting {} nodes under {}", config.shape.len(), data_dir.display()));
        let client_tls = match config.security {
            ClusterSecurity::DevCertificates => {
                Some(ensure_dev_certificates(&data_dir, config.shape, progress)?)
            }
            ClusterSecurity::Insecure => None,
        };
        let channels = Channels::from_files(client_tls.as_ref())
            .map_err(|error| SupervisorError::Node(format!("the operator's TLS files: {error}")))?;
        let mut cluster = LocalCluster { data_dir, nodes: Vec::new(), client_tls, channels };
        for &(node_id, data_center) in config.shape {
            let mut node = cluster.node_process(binary, node_id, data_center, configure)?;
            node.start()?;
            cluster.nodes.push(node);
        }
        cluster.wait_serving(deadline).await?;
        Ok(cluster)
    }

    /// The second half of `up`: initializes a new cluster (every node a voter, at the Raft
    /// address it advertises) or leaves a restarted one as it is, then waits until it is
    /// healthy, at most until `deadline`.
    pub async fn initialize(
        &mut self,
        deadline: Instant,
        progress: &mut dyn FnMut(String),
    ) -> Result<Up, SupervisorError> {
        let started = Instant::now();
        let how = self.initialize_if_new(progress).await?;
        let leader = self.wait_healthy(deadline, started, progress).await?;
        Ok(Up { leader, started: how })
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The nodes, in node-id order.
    pub fn nodes(&self) -> &[NodeProcess] {
        &self.nodes
    }

    /// The nodes, in node-id order, to signal, restart or advertise elsewhere.
    pub fn nodes_mut(&mut self) -> &mut [NodeProcess] {
        &mut self.nodes
    }

    /// Every node's client API address, in node-id order.
    pub fn api_addresses(&self) -> Vec<String> {
        self.nodes.iter().map(NodeProcess::api_address).collect()
    }

    /// Adds node `node_id` in `data_center` to the cluster's processes, not started and not a
    /// member: its config is written like the others' (`configure` runs on a new one), and
    /// the caller starts it and admits it (`Admin/AddLearner`), as an operator adds a machine.
    /// Refused for an id the cluster already runs.
    pub fn add_node(
        &mut self,
        binary: &Path,
        node_id: u64,
        data_center: &str,
        configure: &mut dyn FnMut(&mut NodeSettings),
    ) -> Result<&mut NodeProcess, SupervisorError> {
        if self.nodes.iter().any(|node| node.node_id == node_id) {
            return Err(SupervisorError::Usage(format!(
                "node {node_id} is already in the cluster"
            )));
        }
        let node = self.node_process(binary, node_id, data_center, configure)?;
        let at = self.nodes.partition_point(|other| other.node_id < node_id);
        self.nodes.insert(at, node);
        Ok(&mut self.nodes[at])
    }

    /// Takes node `node_id` out of the cluster's processes (once it left the membership): the
    /// caller stops it; dropping the process kills it if it still runs. Its files stay.
    pub fn retire(&mut self, node_id: u64) -> Option<NodeProcess> {
        let at = self.nodes.iter().position(|node| node.node_id == node_id)?;
        Some(self.nodes.remove(at))
    }

    /// The TLS files a client of this cluster presents (the operator's development
    /// certificate); none when it runs in plaintext.
    pub fn client_tls(&self) -> Option<&TlsFiles> {
        self.client_tls.as_ref()
    }

    /// Channels to this cluster's nodes, secured as it is.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// Node `node_id`'s process: its config written on first use (port 0 everywhere, then
    /// `configure`), a metrics endpoint added to a config written before `/metrics` existed.
    fn node_process(
        &self,
        binary: &Path,
        node_id: u64,
        data_center: &str,
        configure: &mut dyn FnMut(&mut NodeSettings),
    ) -> Result<NodeProcess, SupervisorError> {
        let directory = self.data_dir.join(format!("node-{node_id}"));
        std::fs::create_dir_all(&directory)
            .map_err(SupervisorError::file("creating", &directory))?;
        let config = directory.join("node.toml");
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let settings = if config.exists() {
            let mut settings = NodeSettings::read(&config)?;
            settings.metrics_address = settings.metrics_address.or(Some(any_port));
            // As this run asks, also when an earlier run chose otherwise.
            self.secure(&mut settings);
            settings
        } else {
            let mut settings = NodeSettings::new(node_id, any_port, any_port, directory.clone());
            settings.region = REGION.to_owned();
            settings.data_center = data_center.to_owned();
            settings.metrics_address = Some(any_port);
            self.secure(&mut settings);
            configure(&mut settings);
            settings
        };
        let files = NodeFiles {
            config,
            log: directory.join("node.log"),
            bound_addresses: directory.join(ADDRESSES_FILE),
        };
        Ok(NodeProcess::new(binary, settings, files))
    }

    /// Sets a node's TLS files (its development certificate) or `insecure`, as the cluster runs.
    fn secure(&self, settings: &mut NodeSettings) {
        match &self.client_tls {
            Some(operator) => {
                let certs = self.data_dir.join(CERTS_DIR);
                let name = node_cert_name(settings.node_id);
                settings.tls = Some(TlsFiles {
                    ca: operator.ca.clone(),
                    cert: certs.join(format!("{name}.pem")),
                    key: certs.join(format!("{name}-key.pem")),
                });
                settings.insecure = false;
            }
            None => {
                settings.tls = None;
                settings.insecure = true;
            }
        }
    }

    /// An error if any node has exited.
    pub fn check_running(&mut self) -> Result<(), SupervisorError> {
        for node in &mut self.nodes {
            if let Some(status) = node.exit_status() {
                return Err(SupervisorError::Exited {
                    node_id: node.node_id,
                    status,
                    log: node.files().log.clone(),
                    log_tail: node.log_tail(),
                });
            }
        }
        Ok(())
    }

    /// Waits until every node has reported the addresses it bound (pinned into its config).
    async fn wait_serving(&mut self, deadline: Instant) -> Result<(), SupervisorError> {
        loop {
            let mut serving = 0;
            for node in &mut self.nodes {
                if node.poll_serving()?.is_some() {
                    serving += 1;
                }
            }
            if serving == self.nodes.len() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SupervisorError::Timeout(format!(
                    "only {serving} of {} nodes started serving in time",
                    self.nodes.len()
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Initializes a new cluster through node 1 with every node as a voter; a cluster whose
    /// node 1 already knows members is left alone.
    async fn initialize_if_new(
        &self,
        progress: &mut dyn FnMut(String),
    ) -> Result<Started, SupervisorError> {
        let first = self.nodes.first().map(NodeProcess::api_address).unwrap_or_default();
        if !status_through(&self.channels, &first).await?.members.is_empty() {
            progress(format!("restarting the existing cluster in {}", self.data_dir.display()));
            return Ok(Started::Restarted);
        }
        progress(format!(
            "initializing a new cluster of {} voters through node 1",
            self.nodes.len()
        ));
        let members = self.nodes.iter().map(NodeProcess::member).collect();
        let mut admin = AdminClient::new(channel(&self.channels, &first)?);
        let request = admin.initialize(InitializeRequest { members });
        match tokio::time::timeout(CALL_TIMEOUT, request).await {
            Ok(Ok(_)) => Ok(Started::Initialized),
            Ok(Err(status)) => Err(SupervisorError::Node(format!(
                "initializing the cluster: {}",
                status.message()
            ))),
            Err(_elapsed) => Err(SupervisorError::Timeout(format!(
                "initializing the cluster: {first} did not answer within {CALL_TIMEOUT:?}"
            ))),
        }
    }

    /// Waits until the cluster is healthy (`health::healthy`); the leader's id.
    async fn wait_healthy(
        &mut self,
        deadline: Instant,
        started: Instant,
        progress: &mut dyn FnMut(String),
    ) -> Result<u64, SupervisorError> {
        let mut last_progress = Instant::now();
        loop {
            self.check_running()?;
            let mut statuses = Vec::new();
            for node in &self.nodes {
                if let Ok(status) = status_through(&self.channels, &node.api_address()).await {
                    statuses.push(status);
                }
            }
            let missing = match health::healthy(&statuses, self.nodes.len()) {
                Ok(leader) => return Ok(leader),
                Err(missing) => missing,
            };
            if Instant::now() >= deadline {
                return Err(SupervisorError::Timeout(format!(
                    "the cluster did not become healthy in time: {missing}"
                )));
            }
            if last_progress.elapsed() >= PROGRESS_INTERVAL {
                last_progress = Instant::now();
                progress(format!("[{:5.1}s] waiting: {missing}", started.elapsed().as_secs_f64()));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Stops every node: SIGINT to each running one, up to `STOP_TIMEOUT` for all of them,
    /// then SIGKILL. The ids of the nodes that had to be killed.
    pub fn stop(&mut self) -> Vec<u64> {
        for node in &mut self.nodes {
            let _ = node.interrupt();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut killed = Vec::new();
        for node in &mut self.nodes {
            if node.wait_stopped(deadline) == Stopped::Killed {
                killed.push(node.node_id);
            }
        }
        killed
    }

    /// Returns once every node has exited; `on_exit` hears of each exit as it is seen.
    pub async fn wait_all_exited(&mut self, on_exit: &mut dyn FnMut(u64, ExitStatus)) {
        let mut reported = vec![false; self.nodes.len()];
        loop {
            for (index, node) in self.nodes.iter_mut().enumerate() {
                if !reported[index]
                    && let Some(status) = node.exit_status()
                {
                    reported[index] = true;
                    on_exit(node.node_id, status);
                }
            }
            if reported.iter().all(|done| *done) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes (or wipes and makes) the data directory; its absolute path. Refuses a directory that
/// holds a larger cluster than `config.shape`.
fn prepare_data_dir(config: &UpConfig) -> Result<PathBuf, SupervisorError> {
    let path = &config.data_dir;
    if config.fresh {
        match std::fs::remove_dir_all(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(SupervisorError::file("removing", path)(error));
            }
            _ => {}
        }
    }
    std::fs::create_dir_all(path).map_err(SupervisorError::file("creating", path))?;
    let extra = (1..=NODE_ID_MAX).find(|node_id| {
        !config.shape.iter().any(|(wanted, _)| wanted == node_id)
            && path.join(format!("node-{node_id}")).exists()
    });
    if let Some(extra) = extra {
        return Err(SupervisorError::Usage(format!(
            "{} holds a larger cluster (node-{extra} exists) than --voters {}; \
             run with its size or add --fresh to start over",
            path.display(),
            config.shape.len()
        )));
    }
    std::fs::canonicalize(path).map_err(SupervisorError::file("resolving", path))
}

/// A lazily connecting channel to a node's client API, secured by `channels`.
fn channel(channels: &Channels, api_address: &str) -> Result<Channel, SupervisorError> {
    let endpoint = Channels::endpoint(api_address)
        .map_err(|error| SupervisorError::Node(format!("address {api_address:?}: {error}")))?
        .connect_timeout(CALL_TIMEOUT);
    Ok(channels.lazy(endpoint))
}

/// One plaintext (`insecure`) node's `ClusterStatus`.
pub async fn status_of(api_address: &str) -> Result<ClusterStatusResponse, SupervisorError> {
    status_through(&Channels::plaintext(), api_address).await
}

/// One node's `ClusterStatus`, asked through `channels`.
pub async fn status_through(
    channels: &Channels,
    api_address: &str,
) -> Result<ClusterStatusResponse, SupervisorError> {
    let mut admin = AdminClient::new(channel(channels, api_address)?);
    match tokio::time::timeout(CALL_TIMEOUT, admin.cluster_status(ClusterStatusRequest {})).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => {
            Err(SupervisorError::Node(format!("{api_address}: {}", status.message())))
        }
        Err(_elapsed) => Err(SupervisorError::Timeout(format!(
            "{api_address}: no status within {CALL_TIMEOUT:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_of_a_larger_cluster_is_refused() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let config = UpConfig {
            data_dir: directory.path().join("cluster"),
            fresh: false,
            shape: NODES_3,
            timeout: Duration::from_secs(1),
            security: ClusterSecurity::Insecure,
        };
        prepare_data_dir(&config).expect("a new directory is fine");
        std::fs::create_dir_all(config.data_dir.join("node-5")).expect("create node-5");
        let error = prepare_data_dir(&config).expect_err("node-5 is not in a 3-node shape");
        assert!(error.to_string().contains("node-5 exists"), "{error}");
        let fresh = UpConfig { fresh: true, ..config };
        prepare_data_dir(&fresh).expect("--fresh starts over");
        assert!(!fresh.data_dir.join("node-5").exists());
    }
}
