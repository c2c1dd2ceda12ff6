//! Clusters of real `tianping node` processes, for fault tests that kill, stop, wipe or cut off
//! a node the way an operator or a crash would.
//!
//! Each node gets `<tmp>/node-N.toml` (its `NodeConfig`), `<tmp>/node-N.log` (its output) and
//! `<tmp>/node-N/` (its data directory, so wiping the data leaves config and log in place). A
//! node started on port 0 reports the ports it bound in `addresses.toml` (see `main.rs`); the
//! cluster pins them into the node's config so a restarted node comes back on the same ports,
//! which the membership in the log names. Dropping the cluster SIGKILLs every node still
//! running, also when a test panics or times out.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tempfile::TempDir;
use tianping_node::NodeConfig;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{ClusterStatusRequest, ClusterStatusResponse, InitializeRequest, Member};
use tonic::transport::{Channel, Endpoint};

use crate::netns::Namespaces;

/// Longest a node process may take to start serving.
const SERVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest a cluster may take to elect a leader, or a node to reach an applied index.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest one status or lookup call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a client waits to connect to a node.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How often the cluster is polled while a test waits.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What `addresses.toml` holds (written by `tianping node` once it serves).
#[derive(Debug, Deserialize)]
struct BoundAddresses {
    raft_address: String,
    api_address: String,
}

/// One `tianping node` child process and its files.
pub struct NodeProcess {
    pub node_id: u64,
    pub config: NodeConfig,
    config_path: PathBuf,
    log_path: PathBuf,
    /// The network namespace the node runs in, if any.
    namespace: Option<String>,
    child: Option<Child>,
}

impl NodeProcess {
    /// The client API address, as clients dial it.
    pub fn api_address(&self) -> String {
        self.config.api_address.to_string()
    }

    /// Writes the config and starts the process; returns once it serves.
    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.node_id);
        std::fs::create_dir_all(&self.config.data_directory).expect("create the data directory");
        let addresses_path = self.config.data_directory.join("addresses.toml");
        let _ = std::fs::remove_file(&addresses_path);
        let text = toml::to_string(&self.config).expect("encode the node config");
        std::fs::write(&self.config_path, text).expect("write the node config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the node log");
        let log_copy = log.try_clone().expect("clone the log handle");
        let binary = env!("CARGO_BIN_EXE_tianping");
        let mut command = match &self.namespace {
            // `ip netns exec` execs the binary, so the child's pid is the node's.
            Some(namespace) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", namespace, binary]);
                command
            }
            None => Command::new(binary),
        };
        let child = command
            .arg("node")
            .arg("--config")
            .arg(&self.config_path)
            .env_remove("TIANPING_CONFIG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_copy)
            .spawn()
            .expect("start tianping node");
        self.child = Some(child);
        let deadline = Instant::now() + SERVE_TIMEOUT;
        let addresses = loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "node {} exited ({status}) while starting:\n{}",
                    self.node_id,
                    self.log_tail()
                );
            }
            if let Ok(text) = std::fs::read_to_string(&addresses_path) {
                break toml::from_str::<BoundAddresses>(&text).expect("parse addresses.toml");
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not serve within {SERVE_TIMEOUT:?}:\n{}",
                self.node_id,
                self.log_tail()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        };
        // Pin the bound ports, so a restart comes back where the membership says it is.
        self.config.raft_address = addresses.raft_address.parse().expect("raft address");
        self.config.api_address = addresses.api_address.parse().expect("api address");
        let text = toml::to_string(&self.config).expect("encode the node config");
        std::fs::write(&self.config_path, text).expect("write the node config");
    }

    /// SIGKILLs the process (`kill -9`: no clean stop, no flush) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Deletes the node's data directory (store, snapshots, everything); the node must be down.
    pub fn wipe_data(&mut self) {
        assert!(self.child.is_none(), "wipe node {} only while it is down", self.node_id);
        std::fs::remove_dir_all(&self.config.data_directory).expect("wipe the data directory");
    }

    /// The last lines of the node's output, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn member(&self) -> Member {
        Member {
            node_id: self.node_id,
            region: self.config.region.clone(),
            data_center: self.config.data_center.clone(),
            raft_address: self.config.raft_address.to_string(),
            api_address: self.config.api_address.to_string(),
            voter: true,
            ..Default::default()
        }
    }
}

/// Node processes with their files; dropping it kills every node still running, then removes
/// the namespaces (if any) and the files.
pub struct ProcessCluster {
    pub nodes: Vec<NodeProcess>,
    /// Dropped after the nodes are killed (see `Drop`), before the files.
    namespaces: Option<Namespaces>,
    directory: TempDir,
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!("--- node {} log tail ---\n{}", node.node_id, node.log_tail());
            }
        }
    }
}

impl ProcessCluster {
    /// Starts `size` node processes (ids 1..=size) on loopback with free ports; `tune` adjusts
    /// each config (timings, snapshot policy). Not a cluster yet: see `initialize`.
    pub async fn start_on_loopback(size: u64, tune: impl Fn(&mut NodeConfig)) -> ProcessCluster {
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start(size, None, |_| (any_port, any_port), tune).await
    }

    /// Starts `size` node processes, node N in namespace N of `namespaces`, with its Raft and
    /// client addresses on the namespace's two links.
    pub async fn start_in_namespaces(
        namespaces: Namespaces,
        tune: impl Fn(&mut NodeConfig),
    ) -> ProcessCluster {
        let size = namespaces.size();
        let addresses =
            |node_id| (namespaces.raft_address(node_id), namespaces.api_address(node_id));
        let names: Vec<String> = (1..=size).map(|node_id| namespaces.name(node_id)).collect();
        let mut cluster = Self::start(size, Some(names), addresses, tune).await;
        cluster.namespaces = Some(namespaces);
        cluster
    }

    async fn start(
        size: u64,
        namespace_names: Option<Vec<String>>,
        addresses: impl Fn(u64) -> (std::net::SocketAddr, std::net::SocketAddr),
        tune: impl Fn(&mut NodeConfig),
    ) -> ProcessCluster {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut cluster = ProcessCluster { nodes: Vec::new(), namespaces: None, directory };
        for node_id in 1..=size {
            let (raft_address, api_address) = addresses(node_id);
            let root = cluster.directory.path();
            let mut config = NodeConfig::new(
                node_id,
                raft_address,
                api_address,
                root.join(format!("node-{node_id}")),
            );
            config.region = "test".to_owned();
            config.data_center = format!("dc-{node_id}");
            tune(&mut config);
            let namespace = namespace_names
                .as_ref()
                .and_then(|names| names.get(usize::try_from(node_id - 1).ok()?).cloned());
            cluster.nodes.push(NodeProcess {
                node_id,
                config,
                config_path: root.join(format!("node-{node_id}.toml")),
                log_path: root.join(format!("node-{node_id}.log")),
                namespace,
                child: None,
            });
        }
        for node in &mut cluster.nodes {
            node.spawn().await;
        }
        cluster
    }

    pub fn node(&self, node_id: u64) -> &NodeProcess {
        self.nodes.iter().find(|node| node.node_id == node_id).expect("node exists")
    }

    pub fn node_mut(&mut self, node_id: u64) -> &mut NodeProcess {
        self.nodes.iter_mut().find(|node| node.node_id == node_id).expect("node exists")
    }

    /// The namespaces the nodes run in.
    pub fn namespaces(&self) -> &Namespaces {
        self.namespaces.as_ref().expect("this cluster runs in namespaces")
    }

    /// Restarts a stopped node with its config (same id, same addresses).
    pub async fn restart(&mut self, node_id: u64) {
        self.node_mut(node_id).spawn().await;
    }

    /// Makes the nodes one cluster of voters (through node 1) and waits until it is healthy;
    /// the leader's id.
    pub async fn initialize(&self) -> u64 {
        let members = self.nodes.iter().map(NodeProcess::member).collect();
        let mut admin = AdminClient::new(channel(&self.nodes[0].api_address()));
        tokio::time::timeout(CALL_TIMEOUT, admin.initialize(InitializeRequest { members }))
            .await
            .expect("initialize in time")
            .expect("initialize");
        let ids: Vec<u64> = self.nodes.iter().map(|node| node.node_id).collect();
        self.wait_converged(&ids).await
    }

    /// A client of node `node_id`'s ledger API (connects lazily, so a down node is an error
    /// per call, not here).
    pub fn ledger(&self, node_id: u64) -> LedgerClient<Channel> {
        LedgerClient::new(channel(&self.node(node_id).api_address()))
    }

    /// Node `node_id`'s view of the cluster.
    pub async fn status(&self, node_id: u64) -> Result<ClusterStatusResponse, String> {
        let mut admin = AdminClient::new(channel(&self.node(node_id).api_address()));
        match tokio::time::timeout(CALL_TIMEOUT, admin.cluster_status(ClusterStatusRequest {}))
            .await
        {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(format!("node {node_id}: {status:?}")),
            Err(_elapsed) => Err(format!("node {node_id}: status timed out")),
        }
    }

    /// Waits until `check` holds for node `node_id`'s status; that status.
    pub async fn wait_status(
        &self,
        node_id: u64,
        what: &str,
        check: impl Fn(&ClusterStatusResponse) -> bool,
    ) -> ClusterStatusResponse {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            let last = match self.status(node_id).await {
                Ok(status) if check(&status) => return status,
                Ok(status) => format!("{status:?}"),
                Err(error) => error,
            };
            assert!(
                Instant::now() < deadline,
                "node {node_id}: {what} not reached in {CONVERGE_TIMEOUT:?}; last: {last}\n{}",
                self.node(node_id).log_tail()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits until the nodes `node_ids` know the same leader (one of them), and every one has
    /// applied the leader's whole log (so also an entry of the leader's term: committed).
    /// The leader's id.
    pub async fn wait_converged(&self, node_ids: &[u64]) -> u64 {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            let mut statuses = Vec::new();
            for node_id in node_ids {
                if let Ok(status) = self.status(*node_id).await {
                    statuses.push(status);
                }
            }
            let missing = match converged(node_ids, &statuses) {
                Ok(leader) => return leader,
                Err(missing) => missing,
            };
            assert!(
                Instant::now() < deadline,
                "nodes {node_ids:?} did not converge in {CONVERGE_TIMEOUT:?}: {missing}; \
                 statuses: {statuses:#?}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// The leader when every node in `node_ids` answered, knows the same leader among them, and
/// applied exactly the leader's last log index; else what is missing.
fn converged(node_ids: &[u64], statuses: &[ClusterStatusResponse]) -> Result<u64, String> {
    if statuses.len() < node_ids.len() {
        return Err(format!("{} of {} nodes answer", statuses.len(), node_ids.len()));
    }
    let Some(leader_status) =
        statuses.iter().find(|status| status.has_leader && status.leader_id == status.node_id)
    else {
        return Err("no leader among them".to_owned());
    };
    let leader = leader_status.node_id;
    if !statuses.iter().all(|status| status.has_leader && status.leader_id == leader) {
        return Err(format!("not every node follows leader {leader}"));
    }
    let last = leader_status.last_log_index;
    if leader_status.applied_index == 0 || leader_status.applied_index < last {
        return Err(format!("leader {leader} has not applied its log up to {last}"));
    }
    if !statuses.iter().all(|status| status.applied_index == last) {
        return Err(format!("not every node applied index {last}"));
    }
    Ok(leader)
}

/// A lazily connecting channel to a client API.
pub fn channel(api_address: &str) -> Channel {
    Endpoint::from_shared(format!("http://{api_address}"))
        .expect("endpoint")
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_lazy()
}
