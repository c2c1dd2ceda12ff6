//! The simulated world: `N` nodes spread over data centers (default 5 in 3: 2 + 2 + 1), one
//! client machine per data center, and the network between them.
//!
//! Every node is a madsim machine with its own IP whose init (run again on every restart)
//! boots it through `tianping_node::start` with a `Simulated` environment — the `MemoryDisk`
//! the world owns and the node's clock — : a crash
//! (`crash`) drops what the node had not synced, and the restarted node sees exactly what it
//! had. Data-center partitions are per-link clogs.
//!
//! Latency: madsim 0.2 draws every message's delay from one range for the whole network (no
//! per-link latency), so the world sets that range to an intra-data-center hop
//! (`WorldConfig::intra_dc_latency`, 0.1–1 ms) and installs the node's `sim_link` table — each
//! machine's data center by IP, and `WorldConfig::inter_dc_latency` between every two data
//! centers, from the seed's `LatencyProfile` (national by default: 20–45 ms) — which makes
//! every gRPC call a node serves from another data center pay one drawn delay each way: a
//! national round trip across data centers costs ~40–90 ms more than one inside a data
//! center. The nodes are told the profile's round trip (`inter_dc_round_trip_ms`) and derive
//! their Raft timings from it, as a real deployment's configuration would. madsim sleeps at least 1 ms per sleep, so an intra-data-center hop is
//! 1 ms in effect (a call's round trip inside a data center ~3 ms: connect, request, answer).
//! The drills' controller machine is in no data center: its calls pay no extra delay.
//!
//! The world also keeps the bookkeeping of the transient faults (`faults`), so one `heal`
//! undoes them all and a fault's own timer never undoes a later one: clogged links (counted,
//! so a link clogged by a partition and a flapping link stays clogged until both let go),
//! paused machines (a GC-like stall: madsim stops running the machine's tasks, its timers
//! fire late), the network "weather" (packet loss and extra latency over the configured base
//! latency) and slow disks (`MemoryDisk::set_sync_delay`). Each timed fault holds a token;
//! its timer undoes it only while the token is still the current one.

mod history;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle as MachineHandle};
use madsim::task::NodeId as MachineId;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::storage::RaftStateMachine;
use tianping_history::Replica;
use tianping_ledger::MemoryStore;
use tianping_node::clock::Clock;
use tianping_node::sim_link::{self, LinkDelay, LinkTable};
use tianping_node::{LedgerRaft, NodeConfig, Simulated, StateMachineStore};
use tianping_proto::v1::InitializeRequest;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_raft_store::{MemoryDisk, NodeInfo};

use crate::latency::LatencyProfile;
use crate::planted::PlantedBug;

/// Port of every node's Raft transport.
pub const RAFT_PORT: u16 = 7000;
/// Port of every node's client API.
pub const API_PORT: u16 = 8000;
/// The bank machine's address: outside every data center's 10.0/10.1/10.4 ranges.
pub const BANK_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 3, 0, 1));
/// Simulated time to elect the first leader and for every node to learn it.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the world polls for a restarted node to come up.
const POLL: Duration = Duration::from_millis(10);

/// The shape of a world.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    /// Nodes per data center, in order; node ids count from 1 across them.
    pub data_centers: Vec<u8>,
    /// One-way delay of every message, drawn per message: madsim's one range for all links,
    /// an intra-data-center hop (at least 1 ms in effect: madsim's shortest sleep).
    pub intra_dc_latency: Range<Duration>,
    /// Extra one-way delay of a call between two data centers, drawn per call and direction
    /// (`tianping_node::sim_link`), on top of `intra_dc_latency`.
    pub inter_dc_latency: LinkDelay,
    /// The round trip between data centers the nodes are told to expect
    /// (`NodeConfig::inter_dc_round_trip_ms`); their Raft timings derive from it.
    pub inter_dc_round_trip_ms: u64,
    /// Entries between two snapshots, and entries kept below one: far smaller than the
    /// node defaults, so a seed's few hundred entries build snapshots, purge logs and make a
    /// restarted node catch up by snapshot.
    pub snapshot_logs_since_last: u64,
    /// See `snapshot_logs_since_last`.
    pub logs_kept_after_snapshot: u64,
    /// A bug to plant in the clients (`None`: the real thing).
    pub planted_bug: Option<PlantedBug>,
    /// Nodes per extra data center whose machines exist but stay parked — not running, not
    /// members — until `World::boot` starts them: the new data centers a migration moves
    /// into, added at run time as an operator would. Their ids and data-center indexes follow
    /// those of `data_centers`; they have no client machine.
    pub spare_data_centers: Vec<u8>,
    /// Whether the world has a bank: a bank machine outside every data center and one bank
    /// worker machine per data center (`crate::bank`; a spare data center gets none). Every
    /// drill sets it (`drills::bank_harness::world_config`); off, a world has neither, for
    /// the tests that drive a cluster alone.
    pub bank: bool,
}

impl WorldConfig {
    /// The default world with data centers `profile` apart.
    pub fn with_latency(profile: LatencyProfile) -> WorldConfig {
        WorldConfig {
            inter_dc_latency: profile.link_delay(),
            inter_dc_round_trip_ms: profile.round_trip_ms(),
            ..WorldConfig::default()
        }
    }
}

impl Default for WorldConfig {
    /// Five nodes in three data centers (2 + 2 + 1), `LatencyProfile::National` apart.
    fn default() -> Self {
        let profile = LatencyProfile::default();
        WorldConfig {
            data_centers: vec![2, 2, 1],
            intra_dc_latency: Duration::from_micros(100)..Duration::from_millis(1),
            inter_dc_latency: profile.link_delay(),
            inter_dc_round_trip_ms: profile.round_trip_ms(),
            snapshot_logs_since_last: 64,
            logs_kept_after_snapshot: 16,
            planted_bug: None,
            spare_data_centers: Vec::new(),
            bank: false,
        }
    }
}

/// What a running node shares with the world: its Raft handle and its info.
type Slot = Arc<Mutex<Option<(LedgerRaft, NodeInfo)>>>;

/// Locks `mutex`, whether or not a panicking holder poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a world lock is a failing check already being reported.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A node's clock: madsim's true time shifted by `offset_ns`, which the world may change at
/// any moment (a clock-skew fault). Saturates at the ends of `u64` like the system clock.
fn skewed_clock(offset_ns: &Arc<AtomicI64>) -> Clock {
    let offset_ns = Arc::clone(offset_ns);
    Clock::from_fn(move || {
        let now_ns = i128::from(tianping_node::clock::system_now_ns());
        let skewed = now_ns + i128::from(offset_ns.load(Ordering::Relaxed));
        u64::try_from(skewed.max(0)).unwrap_or(u64::MAX)
    })
}

/// One simulated node.
pub struct SimNode {
    /// Its Raft node id (from 1).
    pub id: u64,
    /// Its data center's index in `WorldConfig::data_centers`.
    pub data_center: usize,
    /// Its madsim machine name, `node-<id>`.
    pub name: String,
    /// Its IP address.
    pub ip: IpAddr,
    machine: MachineId,
    slot: Slot,
    disk: MemoryDisk,
    /// How far its wall clock is from true time, in nanoseconds (positive: ahead): its
    /// environment's `Clock` reads madsim's time plus this (`World::set_clock_offset`).
    clock_offset_ns: Arc<AtomicI64>,
}

impl SimNode {
    /// The URL of its client API.
    pub fn api_url(&self) -> String {
        format!("http://{}:{API_PORT}", self.ip)
    }
}

/// A client machine, attached to one data center.
pub struct ClientMachine {
    /// Its data center's index.
    pub data_center: usize,
    /// The madsim machine, to spawn client tasks on.
    pub machine: MachineHandle,
}

/// The machines of the bank side: the bank (in no data center: it is reached over the
/// internet from every one) and a worker machine per data center.
pub struct BankMachines {
    /// The bank's machine, at [`BANK_IP`].
    pub bank: MachineHandle,
    /// One bank worker machine per data center, in data-center order.
    pub workers: Vec<ClientMachine>,
}

/// The simulated cluster and its clients.
pub struct World {
    handle: Handle,
    /// When the world was created: the run's start, from which the history's times
    /// (`World::elapsed`) count.
    started: madsim::time::Instant,
    /// Every node, by id - 1.
    pub nodes: Vec<SimNode>,
    /// One client machine per data center.
    pub clients: Vec<ClientMachine>,
    /// The bank machine and one bank worker machine per data center, when
    /// `WorldConfig::bank` is set.
    pub bank: Option<BankMachines>,
    down: Mutex<BTreeSet<u64>>,
    /// Nodes not running on purpose (spares not yet booted, retired nodes): also in `down`,
    /// but never restarted by `crashed` callers.
    parked: Mutex<BTreeSet<u64>>,
    clogged: Mutex<Vec<(MachineId, MachineId)>>,
    /// Bumped by every `heal`: a flapping task started before it stops touching links.
    heal_epoch: AtomicU64,
    /// Source of the tokens of timed faults (pause, weather, slow disk).
    tokens: AtomicU64,
    /// Paused nodes, each with the token of the pause that holds it.
    paused: Mutex<BTreeMap<u64, u64>>,
    /// madsim's network-wide delay range as the world set it (the intra-data-center hop),
    /// without weather.
    base_latency: Range<Duration>,
    /// The token of the weather in force, if any.
    weather: Mutex<Option<u64>>,
    /// Nodes whose disk syncs slowly, each with the token of the fault that slowed it.
    slow_disks: Mutex<BTreeMap<u64, u64>>,
    /// The nodes' shortest election timeout (derived from the profile's round trip as every
    /// node derives it): how long a follower may stall and still know its leader on waking.
    pub election_timeout_min: Duration,
}

/// Links the world clogs and unclogs together (see `World::clog_links`).
#[derive(Clone, Debug)]
pub struct Links(Vec<(MachineId, MachineId)>);

impl World {
    /// Creates the machines (nodes start booting at once) and sets the network latency:
    /// madsim's range and the nodes' link table (replacing the last seed's).
    pub fn create(config: &WorldConfig) -> Arc<World> {
        let started = madsim::time::Instant::now();
        let handle = Handle::current();
        let base_latency = config.intra_dc_latency.clone();
        let latency = base_latency.clone();
        NetSim::current().update_config(|net| net.send_latency = latency);
        let mut links = LinkTable::new();
        // Only a key for the disk registry: under madsim a node keeps everything on its
        // `MemoryDisk` (snapshots are staged in memory) and never creates this directory.
        let data = PathBuf::from(format!("/tianping-sim/seed-{}", handle.seed()));
        let mut nodes = Vec::new();
        let mut next_id: u8 = 1;
        let mut parked = BTreeSet::new();
        let shapes = config.data_centers.iter().chain(&config.spare_data_centers);
        for (data_center, &count) in shapes.enumerate() {
            let dc_octet = u8::try_from(data_center + 1).unwrap_or(u8::MAX);
            for _ in 0..count {
                let id = next_id;
                next_id = next_id.saturating_add(1);
                let ip = IpAddr::V4(Ipv4Addr::new(10, 0, dc_octet, id));
                links.place(ip, data_center);
                let directory = data.join(format!("node-{id}"));
                let disk = MemoryDisk::new();
                let node_disk = disk.clone();
                let clock_offset_ns = Arc::new(AtomicI64::new(0));
                let node_clock_offset_ns = clock_offset_ns.clone();
                let slot: Slot = Arc::new(Mutex::new(None));
                let name = format!("node-{id}");
                let init_slot = slot.clone();
                let init_directory = directory.clone();
                let round_trip = config.inter_dc_round_trip_ms;
                let snapshot_every = config.snapshot_logs_since_last;
                let logs_kept = config.logs_kept_after_snapshot;
                let dc_name = format!("dc-{}", data_center + 1);
                let machine = handle
                    .create_node()
                    .name(name.clone())
                    .ip(ip)
                    .init(move || {
                        let (directory, slot, dc_name) =
                            (init_directory.clone(), init_slot.clone(), dc_name.clone());
                        let environment =
                            Simulated::new(node_disk.clone(), skewed_clock(&node_clock_offset_ns));
                        async move {
                            let mut config = NodeConfig::new(
                                u64::from(id),
                                SocketAddr::new(ip, RAFT_PORT),
                                SocketAddr::new(ip, API_PORT),
                                directory,
                            );
                            config.data_center = dc_name;
                            config.inter_dc_round_trip_ms = round_trip;
                            config.snapshot_logs_since_last = snapshot_every;
                            config.logs_kept_after_snapshot = logs_kept;
                            let node = match tianping_node::start(config, environment).await {
                                Ok(node) => node,
                                Err(error) => panic!("node {id} failed to start: {error}"),
                            };
                            *lock(&slot) = Some((node.raft().clone(), node.info().clone()));
                            // The node lives as long as its simulated machine.
                            std::future::pending::<()>().await;
                            drop(node);
                        }
                    })
                    .build();
                if data_center >= config.data_centers.len() {
                    // A spare: its machine stops before its first step, until `boot`.
                    handle.kill(machine.id());
                    parked.insert(u64::from(id));
                }
                nodes.push(SimNode {
                    id: u64::from(id),
                    data_center,
                    name,
                    ip,
                    machine: machine.id(),
                    slot,
                    disk,
                    clock_offset_ns,
                });
            }
        }
        let clients = (0..config.data_centers.len())
            .map(|data_center| {
                let dc_octet = u8::try_from(data_center + 1).unwrap_or(u8::MAX);
                let ip = IpAddr::V4(Ipv4Addr::new(10, 1, dc_octet, 1));
                links.place(ip, data_center);
                let machine = handle
                    .create_node()
                    .name(format!("client-dc-{}", data_center + 1))
                    .ip(ip)
                    .build();
                ClientMachine { data_center, machine }
            })
            .collect();
        let bank = config.bank.then(|| {
            let bank = handle.create_node().name("bank").ip(BANK_IP).build();
            let workers = (0..config.data_centers.len())
                .map(|data_center| {
                    let dc_octet = u8::try_from(data_center + 1).unwrap_or(u8::MAX);
                    let ip = IpAddr::V4(Ipv4Addr::new(10, 4, dc_octet, 1));
                    links.place(ip, data_center);
                    let machine = handle
                        .create_node()
                        .name(format!("bank-worker-dc-{}", data_center + 1))
                        .ip(ip)
                        .build();
                    ClientMachine { data_center, machine }
                })
                .collect();
            BankMachines { bank, workers }
        });
        let data_centers = config.data_centers.len() + config.spare_data_centers.len();
        for a in 0..data_centers {
            for b in a + 1..data_centers {
                links.set_delay(a, b, config.inter_dc_latency.clone());
            }
        }
        sim_link::install(links);
        Arc::new(World {
            handle,
            started,
            nodes,
            clients,
            bank,
            down: Mutex::new(parked.clone()),
            parked: Mutex::new(parked),
            clogged: Mutex::new(Vec::new()),
            heal_epoch: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            paused: Mutex::new(BTreeMap::new()),
            base_latency,
            weather: Mutex::new(None),
            slow_disks: Mutex::new(BTreeMap::new()),
            election_timeout_min: election_timeout_min(config.inter_dc_round_trip_ms),
        })
    }

    /// Simulated time since the world was created (the seed's start, where the drills' fault
    /// log counts from too): the clock of every time the history and the samplers record,
    /// which `tianping_history` takes as a `Duration` since the run began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// madsim's network-wide one-way delay range as the world set it (the intra-data-center
    /// hop): what a fault that changes the network's delay for a while restores.
    pub fn base_latency(&self) -> Range<Duration> {
        self.base_latency.clone()
    }

    /// The node with id `node_id`.
    pub fn node(&self, node_id: u64) -> Option<&SimNode> {
        usize::try_from(node_id)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|i| self.nodes.get(i))
    }

    /// The ids of the nodes in data center `data_center`.
    pub fn nodes_in(&self, data_center: usize) -> Vec<u64> {
        self.nodes.iter().filter(|node| node.data_center == data_center).map(|n| n.id).collect()
    }

    /// How many data centers the world has.
    pub fn data_center_count(&self) -> usize {
        self.clients.len()
    }

    fn raft(&self, node_id: u64) -> Option<LedgerRaft> {
        self.node(node_id).and_then(|node| lock(&node.slot).as_ref().map(|(raft, _)| raft.clone()))
    }

    /// Whether the node is running (not crashed, and booted).
    pub fn is_up(&self, node_id: u64) -> bool {
        !lock(&self.down).contains(&node_id) && self.raft(node_id).is_some()
    }

    /// `initialize`, run on the first data center's client machine: for callers on the test's
    /// own task, which has no address on the simulated network to send `Initialize` from.
    pub async fn initialize_from_client(self: &Arc<Self>) -> Result<u64, String> {
        let world = Arc::clone(self);
        let machine = self.clients.first().ok_or("the world has no client machine")?;
        machine
            .machine
            .spawn(async move { world.initialize().await })
            .await
            .map_err(|error| format!("the initializing task: {error}"))?
    }

    /// Waits for every node to boot, initializes the cluster on node 1 and waits until every
    /// node knows the elected leader, which it returns.
    pub async fn initialize(&self) -> Result<u64, String> {
        let parked = lock(&self.parked).clone();
        let initial: Vec<&SimNode> =
            self.nodes.iter().filter(|node| !parked.contains(&node.id)).collect();
        for node in &initial {
            while lock(&node.slot).is_none() {
                madsim::time::sleep(POLL).await;
            }
        }
        let mut members = BTreeMap::new();
        for node in &initial {
            if let Some((_, info)) = lock(&node.slot).as_ref() {
                members.insert(node.id, info.clone());
            }
        }
        // As an operator does it: `Initialize` on node 1, which admits every member's store
        // to the new cluster (`tianping_node::identity`) before openraft starts it.
        let request = InitializeRequest {
            members: members
                .iter()
                .map(|(id, info)| tianping_node::members::member(*id, info, true))
                .collect(),
        };
        let url = self.node(1).ok_or("there is no node 1")?.api_url();
        let call = async {
            let mut admin = AdminClient::connect(url).await.map_err(|error| error.to_string())?;
            admin.initialize(request).await.map_err(|status| status.to_string())
        };
        match tianping_node::runtime::timeout(CONVERGE_TIMEOUT, call).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(format!("initialize: {error}")),
            Err(_elapsed) => return Err("initialize: node 1 did not answer".to_owned()),
        }
        let first = self.raft(1).ok_or("node 1 is not up")?;
        let leader = first
            .wait(Some(CONVERGE_TIMEOUT))
            .metrics(|metrics| metrics.current_leader.is_some(), "a leader is elected")
            .await
            .map_err(|error| format!("no leader: {error}"))?
            .current_leader
            .ok_or("no leader")?;
        for node in &initial {
            let raft = self.raft(node.id).ok_or("a node went down during initialization")?;
            raft.wait(Some(CONVERGE_TIMEOUT))
                .current_leader(leader, "every node knows the leader")
                .await
                .map_err(|error| format!("node {} does not know the leader: {error}", node.id))?;
        }
        Ok(leader)
    }

    /// The leader as the running nodes see it: the one a running node names with the highest
    /// term, if that node is itself running.
    pub fn leader(&self) -> Option<u64> {
        let mut best: Option<(u64, u64)> = None;
        for node in &self.nodes {
            if !self.is_up(node.id) {
                continue;
            }
            if let Some(raft) = self.raft(node.id) {
                let metrics = raft.metrics().borrow_watched().clone();
                if let Some(leader) = metrics.current_leader {
                    let term = metrics.current_term;
                    if best.is_none_or(|(best_term, _)| term > best_term) {
                        best = Some((term, leader));
                    }
                }
            }
        }
        best.map(|(_, leader)| leader).filter(|leader| self.is_up(*leader))
    }

    /// Every running node that believes it leads, with its term: what the `leaders` checker
    /// samples (two of them in one term would be a split brain).
    pub fn self_declared_leaders(&self) -> Vec<(u64, u64)> {
        self.nodes
            .iter()
            .filter(|node| self.is_up(node.id))
            .filter_map(|node| {
                let metrics = self.raft(node.id)?.metrics().borrow_watched().clone();
                (metrics.state == openraft::ServerState::Leader)
                    .then_some((metrics.current_term, node.id))
            })
            .collect()
    }

    /// The last log index in the running node's snapshot (0 when it has none), for reports.
    pub fn snapshot_index(&self, node_id: u64) -> u64 {
        self.raft(node_id)
            .and_then(|raft| raft.metrics().borrow_watched().snapshot.map(|id| id.index))
            .unwrap_or(0)
    }

    /// A power cut on `node_id`: its machine stops and its disk loses every unsynced write.
    pub fn crash(&self, node_id: u64) {
        let Some(node) = self.node(node_id) else { return };
        if !lock(&self.down).insert(node_id) {
            return;
        }
        self.handle.kill(node.machine);
        node.disk.crash();
        *lock(&node.slot) = None;
        // The kill ends a stall: madsim restarts the machine unpaused.
        lock(&self.paused).remove(&node_id);
    }

    /// Replaces a crashed node's disk by a blank one (a failed disk swapped, a volume lost):
    /// when it restarts under the same id it has no vote, no log and no identity. `false` when
    /// the node is not down.
    pub fn replace_disk(&self, node_id: u64) -> bool {
        let Some(node) = self.node(node_id) else { return false };
        if !lock(&self.down).contains(&node_id) {
            return false;
        }
        node.disk.release();
        true
    }

    /// Restarts a crashed node (through the same `start`, on what its disk kept) and waits for
    /// it to boot.
    pub async fn restart(&self, node_id: u64) {
        let Some(node) = self.node(node_id) else { return };
        if !lock(&self.down).contains(&node_id) {
            return;
        }
        self.handle.restart(node.machine);
        while lock(&node.slot).is_none() {
            madsim::time::sleep(POLL).await;
        }
        lock(&self.down).remove(&node_id);
    }

    /// The nodes running now, by id.
    pub fn running(&self) -> Vec<u64> {
        self.nodes.iter().map(|node| node.id).filter(|id| self.is_up(*id)).collect()
    }

    /// The nodes currently crashed (not the parked ones: spares and retired nodes).
    pub fn crashed(&self) -> Vec<u64> {
        let parked = lock(&self.parked);
        lock(&self.down).iter().copied().filter(|id| !parked.contains(id)).collect()
    }

    /// Starts a parked spare node (first boot: empty disk, not a member; an operator adds it)
    /// and waits for it to boot.
    pub async fn boot(&self, node_id: u64) {
        if lock(&self.parked).remove(&node_id) {
            self.restart(node_id).await;
        }
    }

    /// Stops a node for good, as an operator decommissions a removed member: its machine
    /// stops and it is never restarted.
    pub fn retire(&self, node_id: u64) {
        self.crash(node_id);
        lock(&self.parked).insert(node_id);
    }

    /// The running node's view of the membership: its voters, its learners, and whether it is
    /// a joint configuration (a change in flight).
    pub fn membership(&self, node_id: u64) -> Option<(Vec<u64>, Vec<u64>, bool)> {
        let metrics = self.raft(node_id)?.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let voters = membership.voter_ids().collect();
        let learners = membership.learner_ids().collect();
        Some((voters, learners, membership.get_joint_config().len() > 1))
    }

    /// The `NodeInfo` a running node announces (what an operator passes to `AddLearner`).
    pub fn info(&self, node_id: u64) -> Option<NodeInfo> {
        self.node(node_id).and_then(|node| lock(&node.slot).as_ref().map(|(_, info)| info.clone()))
    }

    /// The machines (nodes and clients) inside data center `data_center`, and those outside.
    fn sides(&self, data_center: usize) -> (Vec<MachineId>, Vec<MachineId>) {
        // The bank is outside every data center (`usize::MAX`): a data center cut off is cut
        // off from it too.
        let bank_side = self.bank.iter().flat_map(|bank| {
            std::iter::once((usize::MAX, bank.bank.id()))
                .chain(bank.workers.iter().map(|worker| (worker.data_center, worker.machine.id())))
        });
        let machines = self
            .nodes
            .iter()
            .map(|node| (node.data_center, node.machine))
            .chain(self.clients.iter().map(|client| (client.data_center, client.machine.id())))
            .chain(bank_side);
        let (inside, outside): (Vec<_>, Vec<_>) =
            machines.partition(|(machine_dc, _)| *machine_dc == data_center);
        let ids = |side: Vec<(usize, MachineId)>| side.into_iter().map(|(_, id)| id).collect();
        (ids(inside), ids(outside))
    }

    /// Clogs every link from `from` to `to` (one way), remembering it for `heal`.
    fn clog(&self, from: &[MachineId], to: &[MachineId]) {
        let net = NetSim::current();
        let mut clogged = lock(&self.clogged);
        for &a in from {
            for &b in to {
                net.clog_link(a, b);
                clogged.push((a, b));
            }
        }
    }

    /// Cuts data center `data_center` off from every other machine (nodes and clients), both
    /// ways; inside it, machines still talk.
    pub fn partition_data_center(&self, data_center: usize) {
        let (inside, outside) = self.sides(data_center);
        self.clog(&inside, &outside);
        self.clog(&outside, &inside);
    }

    /// An asymmetric partition: what data center `data_center` sends to the rest is lost
    /// (`outbound`), or what the rest sends to it is (`!outbound`); the other direction still
    /// delivers. Inside it, machines still talk.
    pub fn partition_data_center_one_way(&self, data_center: usize, outbound: bool) {
        let (inside, outside) = self.sides(data_center);
        if outbound {
            self.clog(&inside, &outside);
        } else {
            self.clog(&outside, &inside);
        }
    }

    /// Removes every partition, and stops every flapping link (see `heal_epoch`).
    pub fn heal(&self) {
        let net = NetSim::current();
        for (a, b) in lock(&self.clogged).drain(..) {
            net.unclog_link(a, b);
        }
        self.heal_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// How many `heal`s have happened: a flapping task stops once this moves, because the
    /// heal undid its clogs and later clogs are no longer its own.
    pub fn heal_epoch(&self) -> u64 {
        self.heal_epoch.load(Ordering::Relaxed)
    }

    /// Every link between data center `data_center` and the rest, both ways.
    pub fn data_center_links(&self, data_center: usize) -> Links {
        let (inside, outside) = self.sides(data_center);
        let mut links = Vec::new();
        for &a in &inside {
            for &b in &outside {
                links.push((a, b));
                links.push((b, a));
            }
        }
        Links(links)
    }

    /// Every link between the nodes of `group` and the other nodes, both ways: those nodes
    /// cut off from the rest of the cluster (clients and workers still reach them).
    pub fn group_links(&self, group: &[u64]) -> Links {
        let (inside, outside): (Vec<&SimNode>, Vec<&SimNode>) =
            self.nodes.iter().partition(|node| group.contains(&node.id));
        let mut links = Vec::new();
        for a in &inside {
            for b in &outside {
                links.push((a.machine, b.machine));
                links.push((b.machine, a.machine));
            }
        }
        Links(links)
    }

    /// The link between nodes `a` and `b`, both ways (empty for an unknown node).
    pub fn node_links(&self, a: u64, b: u64) -> Links {
        match (self.node(a), self.node(b)) {
            (Some(a), Some(b)) => Links(vec![(a.machine, b.machine), (b.machine, a.machine)]),
            _ => Links(Vec::new()),
        }
    }

    /// The links between bank worker `data_center`'s machine and every node, both ways: a
    /// worker cut off from the cluster but not from the bank (empty without a bank).
    pub fn worker_cluster_links(&self, data_center: usize) -> Links {
        let Some(worker) = self.bank.as_ref().and_then(|bank| bank.workers.get(data_center)) else {
            return Links(Vec::new());
        };
        let id = worker.machine.id();
        Links(self.nodes.iter().flat_map(|node| [(id, node.machine), (node.machine, id)]).collect())
    }

    /// The links between every bank worker and the bank, both ways (empty without a bank).
    pub fn worker_bank_links(&self) -> Links {
        let Some(bank) = &self.bank else { return Links(Vec::new()) };
        let id = bank.bank.id();
        Links(
            bank.workers
                .iter()
                .flat_map(|worker| [(worker.machine.id(), id), (id, worker.machine.id())])
                .collect(),
        )
    }

    /// Clogs `links`, remembering them for `heal` and `unclog_links`.
    pub fn clog_links(&self, links: &Links) {
        let net = NetSim::current();
        let mut clogged = lock(&self.clogged);
        for &(a, b) in &links.0 {
            net.clog_link(a, b);
            clogged.push((a, b));
        }
    }

    /// Undoes one `clog_links(links)`: each link lets go once, and delivers again unless
    /// another clog (a partition) still holds it.
    pub fn unclog_links(&self, links: &Links) {
        let net = NetSim::current();
        let mut clogged = lock(&self.clogged);
        for link in &links.0 {
            if let Some(position) = clogged.iter().position(|held| held == link) {
                clogged.remove(position);
                if !clogged.contains(link) {
                    net.unclog_link(link.0, link.1);
                }
            }
        }
    }

    fn token(&self) -> u64 {
        self.tokens.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Pauses a running node's machine (none of its tasks runs; messages to it queue up, its
    /// timers fire when it resumes). The token lets the pause's own timer resume it; `None`
    /// when the node is down or already paused.
    pub fn pause(&self, node_id: u64) -> Option<u64> {
        let node = self.node(node_id)?;
        if !self.is_up(node_id) || lock(&self.paused).contains_key(&node_id) {
            return None;
        }
        let token = self.token();
        lock(&self.paused).insert(node_id, token);
        self.handle.pause(node.machine);
        Some(token)
    }

    /// Resumes a paused node, if `token` is the pause's (any pause for `None`). Whether it did.
    pub fn resume(&self, node_id: u64, token: Option<u64>) -> bool {
        let Some(node) = self.node(node_id) else { return false };
        let mut paused = lock(&self.paused);
        match paused.get(&node_id) {
            Some(held) if token.is_none_or(|token| token == *held) => {
                paused.remove(&node_id);
                self.handle.resume(node.machine);
                true
            }
            _ => false,
        }
    }

    /// Resumes every paused node; the ones it resumed.
    pub fn resume_all(&self) -> Vec<u64> {
        let paused: Vec<u64> = lock(&self.paused).keys().copied().collect();
        paused.into_iter().filter(|node_id| self.resume(*node_id, None)).collect()
    }

    /// Network weather over the configured base: every message is lost with probability `loss`
    /// (madsim's connections then resend it after a backoff, so a loss is a delay) and takes
    /// `extra_latency` longer. It replaces any weather in force; the token lets its own timer
    /// clear it.
    pub fn set_network_weather(&self, loss: f64, extra_latency: Duration) -> u64 {
        let base = self.base_latency.clone();
        let latency =
            base.start.saturating_add(extra_latency)..base.end.saturating_add(extra_latency);
        NetSim::current().update_config(|net| {
            net.packet_loss_rate = loss.clamp(0.0, 1.0);
            net.send_latency = latency;
        });
        let token = self.token();
        *lock(&self.weather) = Some(token);
        token
    }

    /// Restores the configured network (no loss, base latency), if `token` is the weather in
    /// force (any weather for `None`). Whether it did.
    pub fn clear_network_weather(&self, token: Option<u64>) -> bool {
        let mut weather = lock(&self.weather);
        match *weather {
            Some(held) if token.is_none_or(|token| token == held) => {
                *weather = None;
                let base = self.base_latency.clone();
                NetSim::current().update_config(|net| {
                    net.packet_loss_rate = 0.0;
                    net.send_latency = base;
                });
                true
            }
            _ => false,
        }
    }

    /// Makes node `node_id`'s disk sync slowly (`MemoryDisk::set_sync_delay`): every fsync
    /// waits `delay` first, across restarts, until cleared. The token lets the fault's own
    /// timer clear it.
    pub fn slow_disk(&self, node_id: u64, delay: Duration) -> Option<u64> {
        let node = self.node(node_id)?;
        node.disk.set_sync_delay(delay);
        let token = self.token();
        lock(&self.slow_disks).insert(node_id, token);
        Some(token)
    }

    /// Makes node `node_id`'s disk fast again, if `token` is the slowing fault's (any for
    /// `None`). Whether it did.
    pub fn fast_disk(&self, node_id: u64, token: Option<u64>) -> bool {
        let Some(node) = self.node(node_id) else { return false };
        let mut slow = lock(&self.slow_disks);
        match slow.get(&node_id) {
            Some(held) if token.is_none_or(|token| token == *held) => {
                slow.remove(&node_id);
                node.disk.set_sync_delay(Duration::ZERO);
                true
            }
            _ => false,
        }
    }

    /// Sets node `node_id`'s wall clock `offset_ns` from true time (positive: ahead), at once
    /// and across restarts, until set again; whether the node exists. Only what the node's
    /// `Clock` reads moves: madsim's time, the network and every timer stay true.
    pub fn set_clock_offset(&self, node_id: u64, offset_ns: i64) -> bool {
        let Some(node) = self.node(node_id) else { return false };
        node.clock_offset_ns.store(offset_ns, Ordering::Relaxed);
        true
    }

    /// Node `node_id`'s clock offset from true time, in nanoseconds.
    pub fn clock_offset(&self, node_id: u64) -> Option<i64> {
        Some(self.node(node_id)?.clock_offset_ns.load(Ordering::Relaxed))
    }

    /// Sets every skewed clock right; the nodes whose clocks it set.
    pub fn reset_clocks(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|node| node.clock_offset_ns.swap(0, Ordering::Relaxed) != 0)
            .map(|node| node.id)
            .collect()
    }

    /// Makes every slow disk fast again; the nodes whose disks it sped up.
    pub fn fast_disks(&self) -> Vec<u64> {
        let slow: Vec<u64> = lock(&self.slow_disks).keys().copied().collect();
        slow.into_iter().filter(|node_id| self.fast_disk(*node_id, None)).collect()
    }

    /// Waits until the running node `node_id` has applied `index`, for at most `timeout`.
    pub async fn wait_applied(&self, node_id: u64, index: u64, timeout: Duration) -> bool {
        match self.raft(node_id) {
            Some(raft) => raft
                .wait(Some(timeout))
                .applied_index_at_least(Some(index), "caught up")
                .await
                .is_ok(),
            None => false,
        }
    }

    /// Reads the running node's replica in one step of its state machine, so the applied
    /// index and the state belong together.
    pub async fn replica(&self, node_id: u64) -> Result<Replica, String> {
        let raft = self.raft(node_id).ok_or_else(|| format!("node {node_id} is down"))?;
        let read = raft
            .with_state_machine(|machine: &mut StateMachineStore| {
                Box::pin(async move {
                    let (applied, _) = machine.applied_state().await?;
                    let ledger = machine.with_ledger(MemoryStore::clone)?;
                    Ok::<_, std::io::Error>((applied.map_or(0, |id| id.index), ledger))
                })
            })
            .await
            .map_err(|error| format!("node {node_id}: {error}"))?
            .map_err(|error| format!("node {node_id}: reading its state: {error}"))?;
        let (applied, ledger) = read;
        let digest = tianping_ledger::state_digest(&ledger);
        Ok(Replica { node_id, applied, digest, ledger })
    }

    /// Ends the world so that nothing of this seed outlives it (issue 11: a sweep of many
    /// seeds in one process must stay flat in memory): kills every machine — madsim wakes a
    /// killed machine's tasks and drops their futures at its next step, which it otherwise
    /// never does for a task parked on a waker it holds itself (openraft's cores, the
    /// servers, the clients), so each seed's whole cluster stayed allocated — then empties
    /// the disks (a handle some dropped future or a machine's init kept is emptied too), so the
    /// next seed in this process starts from blank ones, and forgets the link table. `also`
    /// names further machines of the seed to kill (the drill's controller).
    pub async fn finish(&self, also: &[MachineId]) {
        for node in &self.nodes {
            *lock(&node.slot) = None;
            self.handle.kill(node.machine);
            node.disk.release();
        }
        for client in &self.clients {
            self.handle.kill(client.machine.id());
        }
        if let Some(bank) = &self.bank {
            self.handle.kill(bank.bank.id());
            for worker in &bank.workers {
                self.handle.kill(worker.machine.id());
            }
        }
        for machine in also {
            self.handle.kill(*machine);
        }
        // One step of the executor drops every killed task.
        madsim::time::sleep(Duration::from_millis(1)).await;
        sim_link::clear();
    }
}

/// The shortest election timeout a node derives from `round_trip_ms` (`RaftTimings::of`, the
/// same rule the nodes apply at start).
fn election_timeout_min(round_trip_ms: u64) -> Duration {
    let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mut config = NodeConfig::new(0, address, address, PathBuf::new());
    config.inter_dc_round_trip_ms = round_trip_ms;
    match tianping_node::timing::RaftTimings::of(&config) {
        Ok(timings) => timings.election_timeout_min,
        Err(error) => panic!("the world's round trip gives no Raft timings: {error}"),
    }
}
