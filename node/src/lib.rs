//! A Tianping ledger node: one replica of the ledger, replicated with openraft over gRPC.
//!
//! `start(config, environment)` is the one way a node comes up — for the `tianping` binary,
//! the integration tests and the madsim simulation alike. The `Environment` is what differs
//! between them (`environment`): `Production` opens RocksDB (`tianping_raft_store::RocksStore`),
//! binds TCP listeners, reads the system clock and serves health, reflection and `/metrics`
//! beside the API; the simulation's `Simulated` opens the `MemoryDisk` it owns for the node,
//! serves on madsim's addresses with every call delayed by its link (`sim_link`) and hands the
//! node its own clock. `start` itself has no `cfg(madsim)`: it starts openraft with the gRPC
//! transport (`network`), and serves two gRPC services on two addresses:
//!
//! - `tianping.raft.v1.Raft` on `raft_address` (`raft_service`): peers' append-entries, votes
//!   and streamed snapshots. Internal; never exposed to clients.
//! - `tianping.v1.Ledger` on `api_address` (`ledger_service`): the client API. Any node
//!   accepts writes and forwards them, one hop, to the leader.
//! - `tianping.v1.Payouts` on `api_address` too (`payouts_service`): the payout outbox and
//!   collections.
//! - `tianping.v1.Reconciliation` on `api_address` too (`reconciliation_service`):
//!   discrepancies recorded by reconcilers (each outflow-blocks its accounts), listed and
//!   resolved by operators.
//! - `tianping.v1.Admin` on `api_address` too (`admin_service`): initialize a new cluster,
//!   cluster status, membership changes, leadership transfer, preferred leader data center.
//! - `tianping.v1.Feed` on `api_address` too (`feed_service`): the change feed, every
//!   committed event in log order from this node's own applied state.
//! - `grpc.health.v1.Health` and server reflection on `api_address` too (`probes`, added by
//!   the production environment).
//!
//! Background tasks: `preferred_leader` (hands leadership to the preferred data center) and,
//! in production, the health updater; both end with the node.
//!
//! Module map: `config` (what a node is told), `membership_policy` (the voter rules every
//! membership change is checked against), `timing` (Raft timings from the distance
//! between data centers), `clock` (the wall clock the environment hands the node: every
//! timestamp the leader stamps is read from it), `members` (cluster members on
//! the wire ⇄ the Raft membership; every other wire conversion is `tianping_proto`'s), `writer`
//! (the one write path every client service shares: propose on the leader or forward),
//! `reads` (read consistency: ReadIndex, bounded staleness).
//!
//! Observability: `metrics` (the node's Prometheus registry, served on the optional
//! `metrics_address` by the production environment) and `request_id` (a request id and `tracing` span
//! per client request, from the receiving node through forwarding to the apply). Nodes emit
//! `tracing` events; the `tianping` binary decides where they go.
//!
//! Runtime rules, so the simulation can run this exact code: `tokio` and `tonic` are the
//! workspace's `madsim-tokio` / `madsim-tonic`; no OS threads, no `Instant::now()` outside
//! openraft's runtime, no wall-clock read but the environment's `Clock`, every `select!` is
//! `biased;`, timeouts through `runtime::timeout`. openraft's own runtime under madsim is
//! raft-store's `runtime::SimRuntime`. In the simulation every call a node serves pays the delay
//! between its caller's data center and the node's (`sim_link`, madsim only).

mod admin_service;
mod admission;
pub mod clock;
mod clock_guard;
pub mod config;
pub mod environment;
mod feed_service;
mod forward;
mod group_commit;
mod headers;
pub mod identity;
mod ledger_service;
pub mod members;
pub mod membership_policy;
pub mod metrics;
pub mod network;
mod payouts_service;
pub mod peer_clocks;
mod preferred_leader;
#[cfg(not(madsim))]
pub mod probes;
mod raft_service;
pub mod reads;
mod reconciliation_service;
mod replica_digest;
mod request_id;
pub mod runtime;
#[cfg(madsim)]
pub mod sim_link;
pub mod timing;
mod writer;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tianping_ledger::{ConfigError, LedgerConfig, StateMachine};
use tianping_raft_store::{NodeId, NodeInfo, StoreWithIdentity, TypeConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::NodeConfig;
pub use environment::Environment;
#[cfg(not(madsim))]
pub use environment::Production;
#[cfg(madsim)]
pub use environment::Simulated;
pub use group_commit::{GROUP_COMMIT_EVENTS_MAX, GROUP_COMMIT_IN_FLIGHT_MAX};
pub use headers::{FORWARDED_HEADER, REQUEST_ID_BYTES_MAX, REQUEST_ID_HEADER};
pub use metrics::NodeMetrics;
pub use request_id::RequestId;
pub use timing::{RaftTimings, TimingError};

use crate::admin_service::AdminService;
use crate::clock::Clock;
use crate::clock_guard::{ClockGuard, ClockRules};
use crate::environment::{ApiServices, Endpoint, RaftServices};
use crate::feed_service::FeedService;
use crate::ledger_service::LedgerService;
use crate::network::GrpcNetworkFactory;
use crate::payouts_service::PayoutsService;
use crate::peer_clocks::PeerClocks;
use crate::raft_service::RaftService;
use crate::reads::Reader;
use crate::reconciliation_service::ReconciliationService;
use crate::writer::Writer;
use tianping_proto::raft::raft_server::RaftServer;
use tianping_proto::v1::admin_server::AdminServer;
use tianping_proto::v1::feed_server::FeedServer;
use tianping_proto::v1::ledger_server::LedgerServer;
use tianping_proto::v1::payouts_server::PayoutsServer;
use tianping_proto::v1::reconciliation_server::ReconciliationServer;

/// The state machine store a node runs on: RocksDB outside the simulation.
#[cfg(not(madsim))]
pub type StateMachineStore = tianping_raft_store::RocksStateMachine;
/// The state machine store a node runs on: the memory store inside the simulation.
#[cfg(madsim)]
pub type StateMachineStore = tianping_raft_store::MemoryStateMachine;

/// The openraft handle of a node.
pub type LedgerRaft = openraft::Raft<TypeConfig, StateMachineStore>;

/// Largest Raft message a node accepts, in bytes. openraft sends at most
/// `RAFT_PAYLOAD_ENTRIES_MAX` entries per append and group commit makes no entry's batch
/// larger than `ENTRY_BYTES_MAX`, so every append a leader can send fits (asserted below), and
/// this bounds a receiver's memory per message; snapshot chunks are far smaller
/// (`SNAPSHOT_CHUNK_BYTES_MAX`).
pub const RAFT_MESSAGE_BYTES_MAX: usize = 65 << 20;

/// Most entries in one append-entries message (openraft's `max_payload_entries`).
pub const RAFT_PAYLOAD_ENTRIES_MAX: u64 = 16;

/// What an append-entries message holds besides its entries' batches: the vote, the previous
/// log id, the commit index and, per entry, its log id and payload tag (each under 64 bytes in
/// postcard), with ample margin.
pub const RAFT_MESSAGE_FRAMING_BYTES_MAX: usize = 64 << 10;

/// Largest client request, in bytes: a full batch of `BATCH_EVENTS_MAX` transfers with every
/// 128-bit field at its longest decimal spelling (about 2.2 MiB) fits. Not larger than one log
/// entry: the wire spells numbers in decimal and frames every field, so a request's ledger
/// batch encodes (postcard) to about its wire size or less, and the rare one that does not fit
/// an entry is refused whole, naming its size (`group_commit`).
pub const CLIENT_REQUEST_BYTES_MAX: usize = ENTRY_BYTES_MAX;

pub use group_commit::{ENTRY_BYTES_MAX, GROUP_COMMIT_QUEUED_BYTES_MAX};

// The limits nest: a request fits an entry, and the most entries one append carries, each at
// its largest, fit in the largest Raft message a follower accepts.
const _: () = assert!(CLIENT_REQUEST_BYTES_MAX <= ENTRY_BYTES_MAX);
const _: () = assert!(
    ENTRY_BYTES_MAX * RAFT_PAYLOAD_ENTRIES_MAX as usize + RAFT_MESSAGE_FRAMING_BYTES_MAX
        <= RAFT_MESSAGE_BYTES_MAX
);

/// Longest a stopping node waits for its servers to finish in-flight requests.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

const _: () = assert!(tianping_raft_store::SNAPSHOT_CHUNK_BYTES_MAX * 2 < RAFT_MESSAGE_BYTES_MAX);

/// Why a node could not start.
#[derive(Debug)]
pub enum StartError {
    /// The Raft timings cannot work at the configured distance between data centers.
    Timing(TimingError),
    /// The ledger configuration is invalid.
    Ledger(ConfigError),
    /// The store could not be opened or a directory could not be made.
    Storage(io::Error),
    /// An address could not be bound.
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        error: io::Error,
    },
    /// The store belongs to another node, or predates store identities (`identity`).
    Identity(identity::IdentityError),
    /// openraft refused the configuration or failed to start.
    Raft(String),
    /// Neither TLS files nor `insecure` were configured, a TLS file is missing or unusable,
    /// or the configuration asks for both (`environment`).
    Tls(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Timing(error) => write!(f, "raft timing configuration: {error}"),
            StartError::Ledger(error) => write!(f, "ledger configuration: {error}"),
            StartError::Storage(error) => write!(f, "opening the store: {error}"),
            StartError::Bind { address, error } => write!(f, "binding {address}: {error}"),
            StartError::Identity(error) => write!(f, "the store's identity: {error}"),
            StartError::Raft(error) => write!(f, "starting raft: {error}"),
            StartError::Tls(error) => write!(f, "TLS: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running node. Stop it with `shutdown`; dropping it leaves the servers running until the
/// runtime ends.
pub struct NodeHandle {
    node_id: NodeId,
    info: NodeInfo,
    raft: LedgerRaft,
    /// Whom the node's store belongs to (`identity`).
    identity: Arc<identity::NodeIdentity>,
    /// How long a peer has to answer `Admit` when this node initializes a cluster.
    admit_timeout: Duration,
    /// How channels to peers are secured.
    channels: tianping_tls::Channels,
    /// One sender per server; sending (or dropping) it starts that server's graceful stop.
    stop_servers: Vec<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<Result<(), tonic::transport::Error>>>,
    /// The node's metrics (recorded in the simulation too).
    metrics: Arc<NodeMetrics>,
    /// The `/metrics` endpoint, when the environment serves one and the configuration names it.
    exporter: Option<Box<dyn Endpoint>>,
    /// Background tasks (preferred leader, health), aborted at shutdown.
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeHandle")
            .field("node_id", &self.node_id)
            .field("info", &self.info)
            .finish()
    }
}

impl NodeHandle {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Where this node is and how to reach it (the addresses it actually serves on).
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// The openraft handle, for membership changes and metrics.
    pub fn raft(&self) -> &LedgerRaft {
        &self.raft
    }

    /// The node's metrics, as `/metrics` would show them (`NodeMetrics::encode`).
    pub fn metrics(&self) -> &Arc<NodeMetrics> {
        &self.metrics
    }

    /// Where the node serves `GET /metrics`: none unless `metrics_address` was configured,
    /// and always none in the simulation.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.exporter.as_ref().map(|exporter| exporter.address())
    }

    /// Makes a brand-new cluster of `members` (call on one node, once), admitting every
    /// member's store to it first (`admission`). A node that already has a log refuses, so
    /// calling it on a restarted cluster changes nothing.
    pub async fn initialize(&self, members: BTreeMap<NodeId, NodeInfo>) -> Result<(), String> {
        admission::initialize(
            &self.raft,
            &self.identity,
            members,
            self.admit_timeout,
            &self.channels,
        )
        .await
        .map_err(|status| status.message().to_owned())
    }

    /// Stops serving (letting in-flight requests finish, for at most `SERVER_STOP_TIMEOUT`)
    /// and then stops Raft, which flushes nothing new: every acknowledged write is durable
    /// already.
    pub async fn shutdown(self) -> Result<(), String> {
        for task in &self.tasks {
            task.abort();
        }
        for stop in self.stop_servers {
            let _ = stop.send(());
        }
        let mut problems = Vec::new();
        if let Some(exporter) = self.exporter
            && let Err(problem) = exporter.stop(SERVER_STOP_TIMEOUT).await
        {
            problems.push(problem);
        }
        for server in self.servers {
            match runtime::timeout(SERVER_STOP_TIMEOUT, server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => problems.push(format!("server: {error}")),
                Ok(Err(error)) => problems.push(format!("server task: {error}")),
                Err(_elapsed) => problems.push("server did not stop in time".to_owned()),
            }
        }
        if let Err(error) = self.raft.shutdown().await {
            problems.push(format!("raft: {error}"));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

/// openraft's configuration from the node's and its derived timings.
fn raft_config(config: &NodeConfig, timings: &RaftTimings) -> Result<openraft::Config, StartError> {
    if config.snapshot_logs_since_last == 0 {
        return Err(StartError::Raft("snapshot_logs_since_last must be at least 1".to_owned()));
    }
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    openraft::Config {
        cluster_name: "tianping".to_owned(),
        heartbeat_interval: millis(timings.heartbeat_interval),
        election_timeout_min: millis(timings.election_timeout_min),
        election_timeout_max: millis(timings.election_timeout_max),
        max_payload_entries: RAFT_PAYLOAD_ENTRIES_MAX,
        snapshot_max_chunk_size: tianping_raft_store::SNAPSHOT_CHUNK_BYTES_MAX as u64,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_logs_since_last),
        max_in_snapshot_log_to_keep: config.logs_kept_after_snapshot,
        // No leader restore: a leader that restarts in its old term would serve ReadIndex
        // from the committed index it last persisted — and neither store syncs the committed
        // id — so after a power loss it answered linearizable reads that miss entries
        // committed and acknowledged before the loss (found by the simulation's
        // `balance_reads` checker, soak seed 34). A restarted leader stands for election
        // instead, and its new term's no-op entry covers everything committed.
        enable_leader_restore: Some(false),
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|error| StartError::Raft(error.to_string()))
}

/// Starts a node in `environment`: opens its store, binds its two addresses, starts Raft and
/// serves. The returned handle reports the addresses actually bound. The node joins a cluster
/// when a member's `initialize` (new cluster) or a membership change (later) names it.
pub async fn start<E: Environment>(
    config: NodeConfig,
    environment: E,
) -> Result<NodeHandle, StartError> {
    // Checked before anything is bound or opened: a node that cannot hear a quorum across
    // its data centers must not start at all.
    let timings = RaftTimings::of(&config).map_err(StartError::Timing)?;
    let raft_config = raft_config(&config, &timings)?;
    // Before anything is bound: a node without certificates (and not `insecure`) must not
    // serve at all.
    let (security, channels) = environment.security(&config)?;
    let (raft_listener, raft_address) = environment.bind(config.raft_address, &security)?;
    let (api_listener, api_address) = environment.bind(config.api_address, &security)?;
    let metrics_listener = environment.bind_metrics(config.metrics_address)?;
    let info = NodeInfo {
        region: config.region.clone(),
        data_center: config.data_center.clone(),
        raft_address: raft_address.to_string(),
        api_address: api_address.to_string(),
    };
    let machine = StateMachine::new(LedgerConfig::default()).map_err(StartError::Ledger)?;
    let (log_store, state_machine) = environment.open_store(&config, machine)?;
    let feed: Arc<dyn tianping_raft_store::FeedSource> = Arc::new(state_machine.feed_source());
    let identity = identity::NodeIdentity::open(
        config.node_id,
        log_store.identity_storage(),
        environment.random_ids(),
    )
    .map_err(StartError::Identity)?;
    let clock = environment.clock();
    let node_metrics = Arc::new(NodeMetrics::new());
    node_metrics.record_node_info(config.node_id, &config.data_center, &config.region);
    let peer_clocks = PeerClocks::new();
    let network = GrpcNetworkFactory::new(
        config.node_id,
        timings.rpc_timeout,
        Arc::clone(&identity),
        clock.clone(),
        peer_clocks.clone(),
        Arc::clone(&node_metrics),
        channels.clone(),
    );
    let raft =
        LedgerRaft::new(config.node_id, Arc::new(raft_config), network, log_store, state_machine)
            .await
            .map_err(|error| StartError::Raft(error.to_string()))?;
    metrics::watch_raft(&raft, config.node_id, Arc::clone(&node_metrics));
    let guard = Arc::new(ClockGuard::new(
        config.node_id,
        raft.clone(),
        clock.clone(),
        peer_clocks,
        ClockRules {
            max_offset: Duration::from_millis(config.max_clock_offset_ms),
            // Fresh: a follower answers every heartbeat; one silent for two election
            // timeouts is not vouching for anything.
            sample_age_max: timings.election_timeout_max.saturating_mul(2),
            // A new leader hears its followers within a round trip of its first heartbeat.
            agreement_wait: timings.election_timeout_max,
        },
        Arc::clone(&node_metrics),
    ));

    let (raft_services, api_services, preferred) = services(
        &config,
        &raft,
        &identity,
        &clock,
        Arc::clone(&guard),
        &node_metrics,
        &timings,
        &channels,
        feed,
    );
    let mut tasks = vec![tokio::spawn(preferred_leader::run(
        raft.clone(),
        config.node_id,
        config.data_center.clone(),
        preferred,
        guard,
    ))];
    tasks.extend(environment.watch_certificates(&security, &node_metrics));

    let (stop_raft, raft_stopped) = oneshot::channel::<()>();
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let raft_router = environment.raft_router(raft_services);
    let raft_server = tokio::spawn(E::serve(raft_router, raft_listener, raft_stopped));
    let (api_router, api_tasks) = environment.api_router(api_services, &raft)?;
    tasks.extend(api_tasks);
    let api_server = tokio::spawn(E::serve(api_router, api_listener, api_stopped));
    let exporter = metrics_listener
        .map(|listener| environment.serve_metrics(listener, Arc::clone(&node_metrics)));
    Ok(NodeHandle {
        metrics: node_metrics,
        exporter,
        node_id: config.node_id,
        info,
        raft,
        identity,
        admit_timeout: timings.forward_timeout,
        channels,
        // The client API stops first, so no new write arrives while Raft still runs.
        stop_servers: vec![stop_api, stop_raft],
        servers: vec![api_server, raft_server],
        tasks,
    })
}

/// The node's gRPC services, each with its message size bound, and the preferred data center
/// the admin service sets and the `preferred_leader` task follows. Channels to the leader and
/// to peers are opened through `channels`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; each argument is a distinct handle of the starting node"
)]
fn services(
    config: &NodeConfig,
    raft: &LedgerRaft,
    identity: &Arc<identity::NodeIdentity>,
    clock: &Clock,
    guard: Arc<ClockGuard>,
    node_metrics: &Arc<NodeMetrics>,
    timings: &RaftTimings,
    channels: &tianping_tls::Channels,
    feed: Arc<dyn tianping_raft_store::FeedSource>,
) -> (RaftServices, ApiServices, preferred_leader::PreferredDataCenter) {
    let forward_timeout = timings.forward_timeout;
    let raft_services = RaftServices {
        raft: RaftServer::new(RaftService::new(
            raft.clone(),
            Arc::clone(identity),
            config.incoming_snapshot_directory(),
            clock.clone(),
        ))
        .max_decoding_message_size(RAFT_MESSAGE_BYTES_MAX),
    };
    let writer = Arc::new(Writer::new(
        raft.clone(),
        config.node_id,
        forward_timeout,
        Arc::clone(&guard),
        channels.clone(),
    ));
    let reader = Arc::new(Reader::new(
        raft.clone(),
        config.node_id,
        forward_timeout,
        Arc::clone(identity),
        channels.clone(),
    ));
    let preferred =
        preferred_leader::PreferredDataCenter::new(config.preferred_leader_data_center.clone());
    let ledger = request_id::Observed::new(
        LedgerService::new(writer.clone(), reader.clone()),
        config.node_id,
        Arc::clone(node_metrics),
        clock,
    );
    let payouts = request_id::Observed::new(
        PayoutsService::new(writer.clone(), reader.clone()),
        config.node_id,
        Arc::clone(node_metrics),
        clock,
    );
    let reconciliation = request_id::Observed::new(
        ReconciliationService::new(writer, reader),
        config.node_id,
        Arc::clone(node_metrics),
        clock,
    );
    let admin = request_id::Observed::new(
        AdminService::new(
            raft.clone(),
            Arc::clone(identity),
            forward_timeout,
            preferred.clone(),
            guard,
            channels.clone(),
        ),
        config.node_id,
        Arc::clone(node_metrics),
        clock,
    );
    let api_services = ApiServices {
        ledger: LedgerServer::new(ledger).max_decoding_message_size(CLIENT_REQUEST_BYTES_MAX),
        payouts: PayoutsServer::new(payouts).max_decoding_message_size(CLIENT_REQUEST_BYTES_MAX),
        reconciliation: ReconciliationServer::new(reconciliation)
            .max_decoding_message_size(CLIENT_REQUEST_BYTES_MAX),
        admin: AdminServer::new(admin),
        feed: FeedServer::new(FeedService::new(raft.clone(), feed)),
    };
    (raft_services, api_services, preferred)
}
