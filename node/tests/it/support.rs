//! Starting clusters and talking to them.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tempfile::TempDir;
use tianping_node::{NodeConfig, NodeHandle};
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::payouts_client::PayoutsClient;
use tonic::transport::Channel;

/// Longest any one test may run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest a cluster may take to elect a leader or apply an entry everywhere.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Most attempts of one write while leadership settles (each waits `RETRY_PAUSE`).
pub const WRITE_ATTEMPTS_MAX: usize = 50;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Runs `test` within `TEST_TIMEOUT`.
pub async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test).await.expect("test ran past TEST_TIMEOUT");
}

/// A loopback address whose port the node picks (it reports the one it got).
fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Nodes with their data directories (removed when this is dropped).
pub struct Cluster {
    pub nodes: Vec<NodeHandle>,
    _directory: TempDir,
}

impl Cluster {
    /// Starts `size` nodes with ids 1..=size, without making them a cluster yet.
    pub async fn start(size: u64) -> Cluster {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut nodes = Vec::new();
        for node_id in 1..=size {
            let mut config = NodeConfig::new(
                node_id,
                loopback_any_port(),
                loopback_any_port(),
                directory.path().join(format!("node-{node_id}")),
            );
            config.data_center = format!("dc-{node_id}");
            config.metrics_address = Some(loopback_any_port());
            // TLS has its own tests (`tls.rs`).
            config.insecure = true;
            nodes.push(
                tianping_node::start(config, tianping_node::Production).await.expect("node starts"),
            );
        }
        Cluster { nodes, _directory: directory }
    }

    /// Starts `size` nodes, makes them one cluster of voters and waits for every node to
    /// know the same leader. Returns the cluster and the leader's id.
    pub async fn start_initialized(size: u64) -> (Cluster, u64) {
        let cluster = Cluster::start(size).await;
        let leader = initialize_all(&cluster.nodes).await;
        for node in &cluster.nodes {
            node.raft()
                .wait(Some(CONVERGE_TIMEOUT))
                .current_leader(leader, "every node knows the leader")
                .await
                .expect("leader known everywhere");
        }
        (cluster, leader)
    }

    /// A client of node `node_id`'s client API.
    pub async fn client(&self, node_id: u64) -> LedgerClient<Channel> {
        let node = self.node(node_id);
        LedgerClient::connect(format!("http://{}", node.info().api_address))
            .await
            .expect("connect to the client API")
    }

    /// A client of node `node_id`'s payouts API.
    pub async fn payouts_client(&self, node_id: u64) -> PayoutsClient<Channel> {
        let node = self.node(node_id);
        PayoutsClient::connect(format!("http://{}", node.info().api_address))
            .await
            .expect("connect to the payouts API")
    }

    /// The ids of the nodes other than `leader`.
    pub fn followers(&self, leader: u64) -> Vec<u64> {
        self.nodes.iter().map(|node| node.node_id()).filter(|id| *id != leader).collect()
    }

    /// Stops node `node_id` cleanly and drops it from the cluster.
    pub async fn stop(&mut self, node_id: u64) {
        let position =
            self.nodes.iter().position(|node| node.node_id() == node_id).expect("node exists");
        self.nodes.remove(position).shutdown().await.expect("clean shutdown");
    }

    pub fn node(&self, node_id: u64) -> &NodeHandle {
        self.nodes.iter().find(|node| node.node_id() == node_id).expect("node exists")
    }

    /// Waits until every node has applied the log up to `index`.
    pub async fn wait_applied(&self, index: u64) {
        for node in &self.nodes {
            node.raft()
                .wait(Some(CONVERGE_TIMEOUT))
                .applied_index_at_least(Some(index), "entry applied everywhere")
                .await
                .expect("applied in time");
        }
    }

    /// Stops every node cleanly.
    pub async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Retries `write` while the cluster answers UNAVAILABLE (leadership settling), at most
/// `WRITE_ATTEMPTS_MAX` times. Safe because every write carries client-chosen ids.
pub async fn retry_unavailable<T, F, Fut>(mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS_MAX {
        match write().await {
            Ok(response) => return response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                last = Some(status);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(status) => panic!("write failed: {status:?}"),
        }
    }
    panic!("write still unavailable after {WRITE_ATTEMPTS_MAX} attempts: {last:?}")
}

/// Initializes a cluster of every node in `nodes` through the first one and waits until it
/// knows a leader, which it returns.
pub async fn initialize_all(nodes: &[NodeHandle]) -> u64 {
    let members: BTreeMap<_, _> =
        nodes.iter().map(|node| (node.node_id(), node.info().clone())).collect();
    nodes[0].initialize(members).await.expect("initialize");
    nodes[0]
        .raft()
        .wait(Some(CONVERGE_TIMEOUT))
        .metrics(|metrics| metrics.current_leader.is_some(), "a leader is elected")
        .await
        .expect("leader elected")
        .current_leader
        .expect("leader known")
}
