//! Clusters of real `tianping node` processes, for fault tests that kill, stop, wipe or cut off
//! a node the way an operator or a crash would. The processes themselves are
//! `tianping_supervisor::NodeProcess` (the one spawn / wait / kill logic); this is the tests'
//! cluster around them: a temporary directory, optional network namespaces, and waits on
//! the nodes' status.
//!
//! Each node gets `<tmp>/node-N.toml` (its config), `<tmp>/node-N.log` (its output),
//! `<tmp>/node-N.addresses.toml` (the ports it bound) and `<tmp>/node-N/` (its data directory,
//! so wiping the data leaves config and log in place). Dropping the cluster SIGKILLs every
//! node still running, also when a test panics or times out.

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{ClusterStatusRequest, ClusterStatusResponse, InitializeRequest};
use tianping_supervisor::{NodeFiles, NodeProcess, NodeSettings};
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

/// The `tianping` binary under test.
fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tianping"))
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
    pub async fn start_on_loopback(size: u64, tune: impl Fn(&mut NodeSettings)) -> ProcessCluster {
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start(size, None, |_| (any_port, any_port), tune).await
    }

    /// Starts `size` node processes, node N in namespace N of `namespaces`, with its Raft and
    /// client addresses on the namespace's two links.
    pub async fn start_in_namespaces(
        namespaces: Namespaces,
        tune: impl Fn(&mut NodeSettings),
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
        tune: impl Fn(&mut NodeSettings),
    ) -> ProcessCluster {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut cluster = ProcessCluster { nodes: Vec::new(), namespaces: None, directory };
        for node_id in 1..=size {
            let (raft_address, api_address) = addresses(node_id);
            let root = cluster.directory.path();
            let mut settings = NodeSettings::new(
                node_id,
                raft_address,
                api_address,
                root.join(format!("node-{node_id}")),
            );
            settings.region = "test".to_owned();
            settings.data_center = format!("dc-{node_id}");
            // TLS has its own tests (`tls`).
            settings.insecure = true;
            tune(&mut settings);
            let files = NodeFiles {
                config: root.join(format!("node-{node_id}.toml")),
                log: root.join(format!("node-{node_id}.log")),
                bound_addresses: root.join(format!("node-{node_id}.addresses.toml")),
            };
            let mut node = NodeProcess::new(binary(), settings, files);
            if let Some(name) = namespace_names
                .as_ref()
                .and_then(|names| names.get(usize::try_from(node_id - 1).ok()?).cloned())
            {
                node = node.in_namespace(name);
            }
            cluster.nodes.push(node);
        }
        for node in &mut cluster.nodes {
            node.spawn(SERVE_TIMEOUT).await.expect("the node serves");
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
        self.node_mut(node_id).restart(SERVE_TIMEOUT).await.expect("the node serves again");
    }

    /// Makes the nodes one cluster of voters (through node 1) and waits until it is healthy;
    /// the leader's id.
    pub async fn initialize(&self) -> u64 {
        let ids: Vec<u64> = self.nodes.iter().map(|node| node.node_id).collect();
        self.initialize_members(&ids).await
    }

    /// Makes the nodes `ids` one cluster of voters (through the first of them) and waits
    /// until it is healthy; the leader's id. The other nodes run beside it as no members.
    pub async fn initialize_members(&self, ids: &[u64]) -> u64 {
        let members = ids.iter().map(|id| self.node(*id).member()).collect();
        let first = ids.first().expect("at least one member");
        let mut admin = AdminClient::new(channel(&self.node(*first).api_address()));
        tokio::time::timeout(CALL_TIMEOUT, admin.initialize(InitializeRequest { members }))
            .await
            .expect("initialize in time")
            .expect("initialize");
        self.wait_converged(ids).await
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

/// What the supervisor writes is what the node reads, and the other way round: the node
/// config keys (`NodeSettings` → `NodeConfig`, which refuses unknown keys) and the
/// bound-addresses file (the node's writer → the supervisor's reader). The two sides share no
/// type (the supervisor never links the node), so this is where a renamed key is caught.
#[test]
fn the_supervisor_and_the_node_agree_on_their_files() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let mut settings = NodeSettings::new(4, any_port, any_port, directory.path().join("data"));
    settings.region = "local".into();
    settings.data_center = "dc-b".into();
    settings.metrics_address = Some(any_port);
    settings.set("snapshot_logs_since_last", 50);
    settings.set("heartbeat_interval_ms", 120);
    let config_path = directory.path().join("node.toml");
    settings.write(&config_path).expect("write the config");
    let text = std::fs::read_to_string(&config_path).expect("read the config");
    let config: tianping_node::NodeConfig = toml::from_str(&text).expect("the node reads it");
    assert_eq!(config.node_id, 4);
    assert_eq!(config.data_center, "dc-b");
    assert_eq!(config.metrics_address, Some(any_port));
    assert_eq!(config.snapshot_logs_since_last, 50);
    assert_eq!(config.heartbeat_interval_ms, Some(120));
    let mut misspelt = settings.clone();
    misspelt.set("snapshot_every", 50);
    misspelt.write(&config_path).expect("write the config");
    let text = std::fs::read_to_string(&config_path).expect("read the config");
    assert!(toml::from_str::<tianping_node::NodeConfig>(&text).is_err(), "unknown keys refused");

    use tianping_node::probes::bound_addresses::BoundAddresses as Written;
    let reported = directory.path().join(tianping_supervisor::ADDRESSES_FILE);
    let written = Written {
        raft_address: "127.0.0.1:40121".into(),
        api_address: "127.0.0.1:40123".into(),
        metrics_address: Some("127.0.0.1:40125".into()),
    };
    written.write_atomically(&reported).expect("the node writes");
    let read = tianping_supervisor::BoundAddresses::read(&reported)
        .expect("the supervisor reads")
        .expect("present");
    assert_eq!(read.raft_address, written.raft_address);
    assert_eq!(read.api_address, written.api_address);
    assert_eq!(read.metrics_address, written.metrics_address);
}
