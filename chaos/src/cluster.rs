//! `ChaosCluster`: a local cluster of `tianping node` processes (the supervisor's
//! `LocalCluster`) whose Raft traffic between data centers passes through the fault proxy.
//!
//! How the traffic is routed. A node dials a peer at the `raft_address` the replicated
//! membership names, one address for every caller. So the cluster is started in two halves
//! (`LocalCluster::start`, then `initialize`): once every node serves, each gets an `Ingress`
//! in front of its real Raft listener, and the membership the cluster is initialized with
//! names the ingress instead (`NodeProcess::advertise_raft_address`). Every Raft message then
//! reaches its receiver through the receiver's ingress, which tells the caller's data center
//! by the process holding the connection (`proxy::owner`, with the `ProcessTable` of node
//! pids kept here across restarts) and applies that directed link's delay and flow; callers in
//! the receiver's own data center pass undelayed. Nodes are unchanged: they listen where their
//! config says and dial whatever the membership names.
//!
//! Nodes added later (`add_node`: a drill's new data center, a replacement machine) get their
//! ingress the same way before they are admitted, so their Raft traffic crosses the proxy too;
//! `retire` stops a node that left the membership and drops its ingress.
//!
//! What is not routed yet: the client API (clients and a follower forwarding a write to the
//! leader dial the `api_address`es directly), so a partition separates Raft, not clients, from
//! a data center. Everything stays on loopback (no network namespaces yet).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tianping_proto::v1::Member;
use tianping_supervisor::cluster::STOP_TIMEOUT;
use tianping_supervisor::{
    LocalCluster, NodeProcess, NodeSettings, Shape, Stopped, SupervisorError, Up,
};

use crate::latency::LatencyProfile;
use crate::proxy::{FaultNetwork, Ingress, ProcessTable, Source};

/// What chaos cluster to bring up, and where.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// Every node's data, configuration and log live under it; always started fresh (the
    /// proxies' ports are new on every run, and the membership in an old log names old ones).
    pub data_dir: PathBuf,
    /// The nodes and their data centers.
    pub shape: Shape,
    /// The delay of every link between data centers, and the round trip the nodes are told
    /// to expect.
    pub profile: LatencyProfile,
    /// Seeds the delays drawn.
    pub seed: u64,
    /// Longest to wait for the cluster to become healthy.
    pub timeout: Duration,
}

/// A local cluster behind the fault proxy; dropping it stops the nodes and the proxies.
#[derive(Debug)]
pub struct ChaosCluster {
    cluster: LocalCluster,
    network: FaultNetwork,
    processes: ProcessTable,
    /// One per node, by node id (kept alive: dropping one stops accepting).
    ingresses: Vec<(u64, Ingress)>,
    /// The `tianping` executable, for nodes added later.
    binary: PathBuf,
    /// The round trip every node is told to expect between data centers.
    round_trip_ms: i64,
}

impl ChaosCluster {
    /// Starts the nodes, puts an ingress in front of each, initializes the cluster with the
    /// ingresses as Raft addresses and waits until it is healthy. `binary` is the `tianping`
    /// executable; `progress` hears what happens.
    pub async fn up(
        binary: &Path,
        config: &ChaosConfig,
        progress: &mut dyn FnMut(String),
    ) -> Result<(ChaosCluster, Up), SupervisorError> {
        let started = Instant::now();
        let round_trip_ms = i64::try_from(config.profile.round_trip_ms()).unwrap_or(i64::MAX);
        let mut configure = |settings: &mut NodeSettings| {
            settings.set("inter_dc_round_trip_ms", round_trip_ms);
        };
        let up_config = tianping_supervisor::UpConfig {
            data_dir: config.data_dir.clone(),
            fresh: true,
            shape: config.shape,
            timeout: config.timeout,
            // The drills judge replication, not TLS: plaintext, so the fault proxy and the
            // checkers' plain channels see the same traffic as before.
            security: tianping_supervisor::ClusterSecurity::Insecure,
        };
        let cluster = LocalCluster::start(binary, &up_config, &mut configure, progress).await?;
        let network = FaultNetwork::new(config.seed);
        network.set_default_delay(config.profile.delay());
        let mut chaos = ChaosCluster {
            cluster,
            network,
            processes: ProcessTable::new(),
            ingresses: Vec::new(),
            binary: binary.to_path_buf(),
            round_trip_ms,
        };
        for index in 0..chaos.cluster.nodes().len() {
            chaos.put_ingress(index).await?;
        }
        progress(format!(
            "raft traffic between data centers goes through the fault proxy ({} profile)",
            config.profile
        ));
        let up = chaos.cluster.initialize(started + config.timeout, progress).await?;
        Ok((chaos, up))
    }

    /// Registers node `index`'s process and starts its ingress, advertised in its place.
    async fn put_ingress(&mut self, index: usize) -> Result<(), SupervisorError> {
        let processes = self.processes.clone();
        let network = self.network.clone();
        let Some(node) = self.cluster.nodes_mut().get_mut(index) else {
            return Err(SupervisorError::Usage(format!("no node at position {index}")));
        };
        register(&processes, node);
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let target = node.settings.raft_address;
        let data_center = node.settings.data_center.clone();
        let ingress =
            Ingress::start(&network, listen, target, &data_center, Source::Processes(processes))
                .await
                .map_err(|source| SupervisorError::Process {
                    what: format!("starting the fault proxy in front of node {}", node.node_id),
                    source,
                })?;
        node.advertise_raft_address(ingress.address());
        let node_id = node.node_id;
        self.ingresses.push((node_id, ingress));
        Ok(())
    }

    /// Starts a new node `node_id` in `data_center` on a blank disk (not a member: admit it
    /// with `Admin/AddLearner` and the member returned), with the same round trip setting as
    /// the others and an ingress in front of it, once it serves within `timeout`.
    pub async fn add_node(
        &mut self,
        node_id: u64,
        data_center: &str,
        timeout: Duration,
    ) -> Result<Member, SupervisorError> {
        let round_trip_ms = self.round_trip_ms;
        let mut configure = |settings: &mut NodeSettings| {
            settings.set("inter_dc_round_trip_ms", round_trip_ms);
        };
        let binary = self.binary.clone();
        let node = self.cluster.add_node(&binary, node_id, data_center, &mut configure)?;
        node.spawn(timeout).await?;
        let index = self
            .cluster
            .nodes()
            .iter()
            .position(|node| node.node_id == node_id)
            .ok_or_else(|| SupervisorError::Usage(format!("node {node_id} vanished")))?;
        self.put_ingress(index).await?;
        let mut member = self.node_mut(node_id)?.member();
        member.voter = false;
        Ok(member)
    }

    /// Stops node `node_id` gracefully (SIGINT, SIGKILL after the supervisor's timeout) and
    /// takes it and its ingress out of the cluster: for a node that left the membership.
    /// Whether it had to be killed.
    pub fn retire(&mut self, node_id: u64) -> Result<Stopped, SupervisorError> {
        let stopped = self.stop_node(node_id)?;
        self.cluster.retire(node_id);
        self.ingresses.retain(|(id, _)| *id != node_id);
        Ok(stopped)
    }

    /// Stops node `node_id` gracefully (SIGINT, then SIGKILL after the supervisor's timeout),
    /// keeping its data for a `restart`. Whether it had to be killed.
    pub fn stop_node(&mut self, node_id: u64) -> Result<Stopped, SupervisorError> {
        let processes = self.processes.clone();
        let node = self.node_mut(node_id)?;
        let pid = node.pid();
        let stopped = node.stop(STOP_TIMEOUT);
        if let Some(pid) = pid {
            processes.remove(pid);
        }
        Ok(stopped)
    }

    /// Deletes node `node_id`'s data directory (a lost disk); the node must be down.
    pub fn wipe(&mut self, node_id: u64) -> Result<(), SupervisorError> {
        self.node_mut(node_id)?.wipe_data()
    }

    /// Node `node_id` as a member (the Raft address its ingress, `voter` set), to ask the
    /// admin API about it.
    pub fn member(&self, node_id: u64) -> Result<Member, SupervisorError> {
        Ok(self.existing(node_id)?.member())
    }

    /// The fault network: every link's delay and flow, for the drill to change.
    pub fn network(&self) -> &FaultNetwork {
        &self.network
    }

    /// The supervised nodes.
    pub fn cluster(&self) -> &LocalCluster {
        &self.cluster
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        self.cluster.data_dir()
    }

    /// Node `node_id`'s data center, if it is a node of the cluster.
    pub fn data_center_of(&self, node_id: u64) -> Option<&str> {
        self.node(node_id).map(|node| node.settings.data_center.as_str())
    }

    fn node(&self, node_id: u64) -> Option<&NodeProcess> {
        self.cluster.nodes().iter().find(|node| node.node_id == node_id)
    }

    fn node_mut(&mut self, node_id: u64) -> Result<&mut NodeProcess, SupervisorError> {
        self.cluster
            .nodes_mut()
            .iter_mut()
            .find(|node| node.node_id == node_id)
            .ok_or_else(|| SupervisorError::Usage(format!("no node {node_id} in the cluster")))
    }

    /// SIGKILLs node `node_id` (`kill -9`: no clean stop, no flush).
    pub fn kill(&mut self, node_id: u64) -> Result<(), SupervisorError> {
        let processes = self.processes.clone();
        let node = self.node_mut(node_id)?;
        if let Some(pid) = node.pid() {
            processes.remove(pid);
        }
        node.kill();
        Ok(())
    }

    /// SIGSTOPs node `node_id`: it keeps its sockets but answers nothing until resumed.
    pub fn pause(&self, node_id: u64) -> Result<(), SupervisorError> {
        self.existing(node_id)?.pause()
    }

    /// SIGCONTs node `node_id` after `pause`.
    pub fn resume(&self, node_id: u64) -> Result<(), SupervisorError> {
        self.existing(node_id)?.resume()
    }

    /// The ids of the nodes in `data_center`, in id order.
    pub fn nodes_in(&self, data_center: &str) -> Vec<u64> {
        let nodes = self.cluster.nodes().iter();
        nodes
            .filter(|node| node.settings.data_center == data_center)
            .map(|node| node.node_id)
            .collect()
    }

    /// Every node's (id, data center, client API address), in id order.
    pub fn api_addresses(&self) -> Vec<(u64, String, String)> {
        let nodes = self.cluster.nodes().iter();
        nodes
            .map(|node| (node.node_id, node.settings.data_center.clone(), node.api_address()))
            .collect()
    }

    fn existing(&self, node_id: u64) -> Result<&NodeProcess, SupervisorError> {
        self.node(node_id)
            .ok_or_else(|| SupervisorError::Usage(format!("no node {node_id} in the cluster")))
    }

    /// Starts node `node_id` again with its data and waits until it serves; its new process
    /// is known to the proxies from then on.
    pub async fn restart(
        &mut self,
        node_id: u64,
        timeout: Duration,
    ) -> Result<(), SupervisorError> {
        let processes = self.processes.clone();
        let node = self.node_mut(node_id)?;
        node.start()?;
        register(&processes, node);
        node.wait_serving(timeout).await?;
        Ok(())
    }

    /// Stops every node (SIGINT, then SIGKILL after the supervisor's timeout); the ids of the
    /// nodes that had to be killed.
    pub fn stop(&mut self) -> Vec<u64> {
        self.cluster.stop()
    }
}

/// Tells the proxies which data center `node`'s running process is in.
fn register(processes: &ProcessTable, node: &NodeProcess) {
    if let Some(pid) = node.pid() {
        processes.insert(pid, &node.settings.data_center);
    }
}
