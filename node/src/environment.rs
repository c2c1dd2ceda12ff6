//! What a node is given by the world it runs in: its store, its sockets, its clock and how its
//! services are served.
//!
//! `start(config, environment)` is the same code in production and in the simulation; the two
//! differ only in the `Environment` they pass:
//!
//! - `Production` (real builds): RocksDB under the data directory, TCP listeners (port 0
//!   picks a free port) serving mutual TLS from the configured files (`tianping_tls`; a
//!   caller without a certificate signed by a trusted CA is refused at the handshake, and
//!   every request carries the caller's `tianping_tls::TlsConnectInfo`) — or plaintext when
//!   the configuration says `insecure`, warned about at start —, the system clock, gRPC
//!   health and reflection beside the client API, and the `/metrics` HTTP endpoint when the
//!   configuration names one.
//! - `Simulated` (`--cfg madsim` only): the `MemoryDisk` the simulation owns for the node (so a
//!   node it kills and restarts sees exactly what was synced), madsim's addresses, every served
//!   call delayed by its link's distance (`sim_link::Delayed`), and the clock the simulation
//!   hands the node (madsim's, possibly set apart from the others by a fault). No TLS: the
//!   simulation's messages never leave the process.
//!
//! The trait is sealed: its methods take the node's own services, so only this crate can
//! implement it. Each environment is defined once, in the one build its types exist in; that is
//! the only place `cfg(madsim)` decides anything about how a node starts.
//!
//! The state machine store's type is the one thing the environment does not choose:
//! `StateMachineStore` names it per build, because the openraft handle (`LedgerRaft`) carries
//! it and every service holds that handle.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openraft::storage::RaftLogStorage;
use tianping_ledger::StateMachine;
use tianping_raft_store::{StoreWithIdentity, TypeConfig};
use tianping_tls::Channels;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::Router;

use crate::clock::Clock;
use crate::identity::RandomIds;
use crate::metrics::NodeMetrics;
use crate::{LedgerRaft, NodeConfig, StartError, StateMachineStore};

/// The Raft service a node serves on its Raft address, built by `start`.
pub struct RaftServices {
    pub(crate) raft: served::Raft,
}

/// The client services a node serves on its API address, built by `start`.
pub struct ApiServices {
    pub(crate) ledger: served::Ledger,
    pub(crate) payouts: served::Payouts,
    pub(crate) reconciliation: served::Reconciliation,
    pub(crate) admin: served::Admin,
    pub(crate) feed: served::Feed,
}

/// The generated servers' types. madsim-tonic's carry an interceptor type parameter that
/// tonic's do not, so each build spells them its own way.
mod served {
    use crate::admin_service::AdminService;
    use crate::feed_service::FeedService;
    use crate::ledger_service::LedgerService;
    use crate::payouts_service::PayoutsService;
    use crate::raft_service::RaftService;
    use crate::reconciliation_service::ReconciliationService;
    use crate::request_id::Observed;
    use tianping_proto::raft::raft_server::RaftServer;
    use tianping_proto::v1::admin_server::AdminServer;
    use tianping_proto::v1::feed_server::FeedServer;
    use tianping_proto::v1::ledger_server::LedgerServer;
    use tianping_proto::v1::payouts_server::PayoutsServer;
    use tianping_proto::v1::reconciliation_server::ReconciliationServer;

    #[cfg(not(madsim))]
    pub(crate) type Raft = RaftServer<RaftService>;
    #[cfg(not(madsim))]
    pub(crate) type Ledger = LedgerServer<Observed<LedgerService>>;
    #[cfg(not(madsim))]
    pub(crate) type Payouts = PayoutsServer<Observed<PayoutsService>>;
    #[cfg(not(madsim))]
    pub(crate) type Reconciliation = ReconciliationServer<Observed<ReconciliationService>>;
    #[cfg(not(madsim))]
    pub(crate) type Admin = AdminServer<Observed<AdminService>>;
    #[cfg(not(madsim))]
    pub(crate) type Feed = FeedServer<FeedService>;

    #[cfg(madsim)]
    use tonic::codegen::IdentityInterceptor as Plain;
    #[cfg(madsim)]
    pub(crate) type Raft = RaftServer<RaftService, Plain>;
    #[cfg(madsim)]
    pub(crate) type Ledger = LedgerServer<Observed<LedgerService>, Plain>;
    #[cfg(madsim)]
    pub(crate) type Payouts = PayoutsServer<Observed<PayoutsService>, Plain>;
    #[cfg(madsim)]
    pub(crate) type Reconciliation = ReconciliationServer<Observed<ReconciliationService>, Plain>;
    #[cfg(madsim)]
    pub(crate) type Admin = AdminServer<Observed<AdminService>, Plain>;
    #[cfg(madsim)]
    pub(crate) type Feed = FeedServer<FeedService, Plain>;
}

/// A server an environment runs beside the node's gRPC servers (the `/metrics` endpoint),
/// stopped with the node.
pub trait Endpoint: Send + Sync {
    /// Where it serves.
    fn address(&self) -> SocketAddr;

    /// Stops serving, waiting at most `timeout` for in-flight requests.
    fn stop(
        self: Box<Self>,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
}

/// The world a node runs in. See the module documentation.
pub trait Environment: sealed::Sealed + Send + 'static {
    /// The Raft log store the environment opens.
    type LogStore: RaftLogStorage<TypeConfig> + StoreWithIdentity;
    /// A bound gRPC socket, not yet serving.
    type Listener: Send + 'static;
    /// A bound `/metrics` socket, not yet serving.
    type MetricsListener: Send + 'static;
    /// What secures the node's servers, decided at start from the configuration.
    type Security: Send + Sync + 'static;

    /// The node's wall clock: what the leader stamps entries with.
    fn clock(&self) -> Clock;

    /// Where the node draws random 128-bit ids (its store's incarnation, a new cluster's id):
    /// the operating system's generator, or the simulator's seeded one.
    fn random_ids(&self) -> RandomIds;

    /// Checks the configuration's choice between TLS and `insecure` and loads the TLS files:
    /// what secures the node's servers, and how it opens channels to its peers. An error
    /// names what is missing.
    fn security(&self, config: &NodeConfig) -> Result<(Self::Security, Channels), StartError>;

    /// Binds `address` for a gRPC server secured by `security`; answers the address it
    /// really has.
    fn bind(
        &self,
        address: SocketAddr,
        security: &Self::Security,
    ) -> Result<(Self::Listener, SocketAddr), StartError>;

    /// Keeps the node's certificate expiry metric current (the files may be rotated), when
    /// the node runs TLS; the task ends with the node.
    fn watch_certificates(
        &self,
        security: &Self::Security,
        metrics: &Arc<NodeMetrics>,
    ) -> Option<JoinHandle<()>>;

    /// Binds the `/metrics` address, if the environment serves metrics and one is configured.
    fn bind_metrics(
        &self,
        address: Option<SocketAddr>,
    ) -> Result<Option<Self::MetricsListener>, StartError>;

    /// Opens the node's stores (and whatever they need on disk) with `machine` as the state
    /// machine when the store is new.
    fn open_store(
        &self,
        config: &NodeConfig,
        machine: StateMachine,
    ) -> Result<(Self::LogStore, StateMachineStore), StartError>;

    /// The router for the Raft address.
    fn raft_router(&self, services: RaftServices) -> Router;

    /// The router for the API address, and the background tasks it needs (ended with the
    /// node).
    fn api_router(
        &self,
        services: ApiServices,
        raft: &LedgerRaft,
    ) -> Result<(Router, Vec<JoinHandle<()>>), StartError>;

    /// Serves `router` on `listener` until `stop` fires (or its sender is dropped).
    fn serve(
        router: Router,
        listener: Self::Listener,
        stop: oneshot::Receiver<()>,
    ) -> impl Future<Output = Result<(), tonic::transport::Error>> + Send + 'static;

    /// Serves `GET /metrics` from `metrics` on `listener`.
    fn serve_metrics(
        &self,
        listener: Self::MetricsListener,
        metrics: Arc<NodeMetrics>,
    ) -> Box<dyn Endpoint>;
}

mod sealed {
    /// Only this crate's environments: they build routers from the node's own services.
    pub trait Sealed {}
}

#[cfg(not(madsim))]
pub use production::Production;

/// The real world: RocksDB, TCP, the system clock.
#[cfg(not(madsim))]
mod production {
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::time::Duration;

    use tianping_ledger::StateMachine;
    use tianping_raft_store::{RocksConfig, RocksLogStore, RocksStore};
    use tianping_tls::{Channels, ServerTls, TlsIncoming};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tonic::transport::server::{Router, TcpIncoming};

    use super::{ApiServices, Endpoint, Environment, RaftServices, RandomIds, sealed};
    use crate::clock::Clock;
    use crate::metrics::{self, NodeMetrics};
    use crate::{LedgerRaft, NodeConfig, StartError, StateMachineStore, probes};
    use tianping_proto::v1::admin_server::AdminServer;
    use tianping_proto::v1::feed_server::FeedServer;
    use tianping_proto::v1::ledger_server::LedgerServer;
    use tianping_proto::v1::payouts_server::PayoutsServer;
    use tianping_proto::v1::reconciliation_server::ReconciliationServer;

    /// How often the certificate expiry metric reads the files again.
    const CERTIFICATE_CHECK_INTERVAL: Duration = Duration::from_secs(60);

    /// The production environment: what the `tianping` binary and the native tests pass.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Production;

    impl sealed::Sealed for Production {}

    /// A bound gRPC socket: TLS (the handshakes run beside the server), or plaintext for an
    /// `insecure` node.
    pub enum Listener {
        /// Mutual TLS.
        Tls(TlsIncoming),
        /// Plaintext (`insecure`).
        Plain(TcpIncoming),
    }

    impl Environment for Production {
        type LogStore = RocksLogStore;
        type Listener = Listener;
        type MetricsListener = metrics::MetricsListener;
        /// The servers' TLS; none when `insecure`.
        type Security = Option<Arc<ServerTls>>;

        fn security(
            &self,
            config: &NodeConfig,
        ) -> Result<(Option<Arc<ServerTls>>, Channels), StartError> {
            match (&config.tls, config.insecure) {
                (Some(_), true) => Err(StartError::Tls(
                    "both TLS files and `insecure` are configured; choose one".to_owned(),
                )),
                (None, true) => {
                    tracing::warn!(
                        node_id = config.node_id,
                        "INSECURE: this node serves and calls its peers in PLAINTEXT; anyone \
                         who reaches its ports can move money, change the membership or \
                         install a snapshot. Configure `[tls]` (`tianping certs dev` makes \
                         local certificates) unless this is a local experiment."
                    );
                    Ok((None, Channels::plaintext()))
                }
                (None, false) => Err(StartError::Tls(
                    "no certificates: configure `[tls]` with `ca`, `cert` and `key` (PEM files; \
                     `tianping certs dev --out DIR` makes local ones), or start with \
                     `--insecure` (`insecure = true`) to serve plaintext on purpose"
                        .to_owned(),
                )),
                (Some(files), false) => {
                    let missing = files.missing();
                    if !missing.is_empty() {
                        return Err(StartError::Tls(format!(
                            "missing TLS files: {} (`tianping certs dev --out DIR` makes local \
                             ones, or start with `--insecure`)",
                            missing.join(", ")
                        )));
                    }
                    let server = ServerTls::load(files.clone())
                        .map_err(|error| StartError::Tls(error.to_string()))?;
                    let channels = Channels::from_files(Some(files))
                        .map_err(|error| StartError::Tls(error.to_string()))?;
                    tracing::info!(
                        node_id = config.node_id,
                        ca = %files.ca.display(),
                        cert = %files.cert.display(),
                        "mutual TLS on both ports"
                    );
                    Ok((Some(Arc::new(server)), channels))
                }
            }
        }

        fn clock(&self) -> Clock {
            Clock::system()
        }

        fn random_ids(&self) -> RandomIds {
            || {
                let mut bytes = [0_u8; 16];
                getrandom::fill(&mut bytes).map_err(|error| {
                    std::io::Error::other(format!(
                        "the operating system's random generator: {error}"
                    ))
                })?;
                Ok(u128::from_le_bytes(bytes))
            }
        }

        fn bind(
            &self,
            address: SocketAddr,
            security: &Option<Arc<ServerTls>>,
        ) -> Result<(Listener, SocketAddr), StartError> {
            let bind_error = |error| StartError::Bind { address, error };
            let listener = std::net::TcpListener::bind(address).map_err(bind_error)?;
            let local = listener.local_addr().map_err(bind_error)?;
            listener.set_nonblocking(true).map_err(bind_error)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
            let incoming = match security {
                // The TLS listener sets no-delay on every connection it accepts.
                Some(tls) => Listener::Tls(tianping_tls::incoming(listener, Arc::clone(tls))),
                // Raft and client messages are small and latency-bound: never wait to
                // coalesce them.
                None => Listener::Plain(TcpIncoming::from(listener).with_nodelay(Some(true))),
            };
            Ok((incoming, local))
        }

        fn bind_metrics(
            &self,
            address: Option<SocketAddr>,
        ) -> Result<Option<metrics::MetricsListener>, StartError> {
            address.map(metrics::bind).transpose()
        }

        fn watch_certificates(
            &self,
            security: &Option<Arc<ServerTls>>,
            metrics: &Arc<NodeMetrics>,
        ) -> Option<JoinHandle<()>> {
            let (tls, metrics) = (Arc::clone(security.as_ref()?), Arc::clone(metrics));
            Some(tokio::spawn(async move {
                loop {
                    if let Some(not_after) = tls.expiry() {
                        metrics.record_certificate_expiry(not_after);
                    }
                    tokio::time::sleep(CERTIFICATE_CHECK_INTERVAL).await;
                }
            }))
        }

        fn open_store(
            &self,
            config: &NodeConfig,
            machine: StateMachine,
        ) -> Result<(RocksLogStore, StateMachineStore), StartError> {
            let stores =
                RocksStore::open(&config.store_directory(), machine, RocksConfig::default())
                    .map_err(StartError::Storage)?;
            // Incoming snapshots are staged in files here (`raft_service`).
            recreate_directory(&config.incoming_snapshot_directory())
                .map_err(StartError::Storage)?;
            Ok(stores)
        }

        fn raft_router(&self, services: RaftServices) -> Router {
            tonic::transport::Server::builder().add_service(services.raft)
        }

        fn api_router(
            &self,
            services: ApiServices,
            raft: &LedgerRaft,
        ) -> Result<(Router, Vec<JoinHandle<()>>), StartError> {
            // The client address's services, named once: reflection lists exactly these.
            let served = [
                <LedgerServer<()> as tonic::server::NamedService>::NAME,
                <PayoutsServer<()> as tonic::server::NamedService>::NAME,
                <ReconciliationServer<()> as tonic::server::NamedService>::NAME,
                <AdminServer<()> as tonic::server::NamedService>::NAME,
                <FeedServer<()> as tonic::server::NamedService>::NAME,
            ];
            let router = tonic::transport::Server::builder()
                .add_service(services.ledger)
                .add_service(services.payouts)
                .add_service(services.reconciliation)
                .add_service(services.admin)
                .add_service(services.feed);
            let (router, health) = probes::add_to(router, &served).map_err(StartError::Raft)?;
            let health_task = tokio::spawn(probes::follow_leader(raft.clone(), health));
            Ok((router, vec![health_task]))
        }

        fn serve(
            router: Router,
            listener: Listener,
            stop: oneshot::Receiver<()>,
        ) -> impl Future<Output = Result<(), tonic::transport::Error>> + Send + 'static {
            let stopped = async move {
                let _ = stop.await;
            };
            async move {
                match listener {
                    Listener::Tls(incoming) => {
                        router.serve_with_incoming_shutdown(incoming, stopped).await
                    }
                    Listener::Plain(incoming) => {
                        router.serve_with_incoming_shutdown(incoming, stopped).await
                    }
                }
            }
        }

        fn serve_metrics(
            &self,
            listener: metrics::MetricsListener,
            metrics: Arc<NodeMetrics>,
        ) -> Box<dyn Endpoint> {
            Box::new(metrics::Exporter::serve(listener, metrics))
        }
    }

    impl Endpoint for metrics::Exporter {
        fn address(&self) -> SocketAddr {
            self.address
        }

        fn stop(
            self: Box<Self>,
            timeout: Duration,
        ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
            Box::pin(metrics::Exporter::stop(*self, timeout))
        }
    }

    /// Empties (or makes) a staging directory: what a crash left there is incomplete by
    /// definition.
    fn recreate_directory(path: &std::path::Path) -> io::Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        std::fs::create_dir_all(path)
    }
}

#[cfg(madsim)]
pub use simulated::Simulated;

/// The simulated world: madsim's network and clock, the simulation's disks.
#[cfg(madsim)]
mod simulated {
    use std::convert::Infallible;
    use std::future::Future;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use tianping_ledger::StateMachine;
    use tianping_raft_store::{MemoryDisk, MemoryLogStore};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tonic::transport::server::Router;

    use super::{ApiServices, Endpoint, Environment, RaftServices, RandomIds, sealed};
    use crate::clock::Clock;
    use crate::metrics::NodeMetrics;
    use crate::sim_link::Delayed;
    use crate::{LedgerRaft, NodeConfig, StartError, StateMachineStore};
    use tianping_tls::Channels;

    /// A simulated node's environment: its disk (which outlives the node, so a restart sees
    /// what was synced) and its clock.
    #[derive(Clone, Debug)]
    pub struct Simulated {
        disk: MemoryDisk,
        clock: Clock,
    }

    impl Simulated {
        /// A node on `disk` reading `clock` (`Clock::system()` is madsim's true time).
        pub fn new(disk: MemoryDisk, clock: Clock) -> Simulated {
            Simulated { disk, clock }
        }
    }

    impl sealed::Sealed for Simulated {}

    impl Environment for Simulated {
        type LogStore = MemoryLogStore;
        // A simulated server binds its (fixed) address itself as it starts serving.
        type Listener = SocketAddr;
        // The simulation records metrics but serves none.
        type MetricsListener = Infallible;
        // No TLS in the simulation.
        type Security = ();

        fn clock(&self) -> Clock {
            self.clock.clone()
        }

        fn random_ids(&self) -> RandomIds {
            || Ok(madsim::rand::random::<u128>())
        }

        fn security(&self, _config: &NodeConfig) -> Result<((), Channels), StartError> {
            Ok(((), Channels::plaintext()))
        }

        fn bind(
            &self,
            address: SocketAddr,
            _security: &(),
        ) -> Result<(SocketAddr, SocketAddr), StartError> {
            Ok((address, address))
        }

        fn bind_metrics(
            &self,
            _address: Option<SocketAddr>,
        ) -> Result<Option<Infallible>, StartError> {
            Ok(None)
        }

        fn watch_certificates(
            &self,
            _security: &(),
            _metrics: &Arc<NodeMetrics>,
        ) -> Option<JoinHandle<()>> {
            None
        }

        fn open_store(
            &self,
            _config: &NodeConfig,
            machine: StateMachine,
        ) -> Result<(MemoryLogStore, StateMachineStore), StartError> {
            Ok(self.disk.open(machine))
        }

        fn raft_router(&self, services: RaftServices) -> Router {
            // Every call pays its link's cross-data-center delay (`sim_link`).
            tonic::transport::Server::builder().add_service(Delayed::new(services.raft))
        }

        fn api_router(
            &self,
            services: ApiServices,
            _raft: &LedgerRaft,
        ) -> Result<(Router, Vec<JoinHandle<()>>), StartError> {
            let router = tonic::transport::Server::builder()
                .add_service(Delayed::new(services.ledger))
                .add_service(Delayed::new(services.payouts))
                .add_service(Delayed::new(services.reconciliation))
                .add_service(Delayed::new(services.admin))
                .add_service(Delayed::new(services.feed));
            Ok((router, Vec::new()))
        }

        fn serve(
            router: Router,
            address: SocketAddr,
            stop: oneshot::Receiver<()>,
        ) -> impl Future<Output = Result<(), tonic::transport::Error>> + Send + 'static {
            router.serve_with_shutdown(address, async move {
                let _ = stop.await;
            })
        }

        fn serve_metrics(
            &self,
            listener: Infallible,
            _metrics: Arc<NodeMetrics>,
        ) -> Box<dyn Endpoint> {
            match listener {}
        }
    }
}
