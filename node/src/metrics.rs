//! A node's Prometheus metrics: one registry per node, and small typed functions that record.
//!
//! Every node owns its own `NodeMetrics` (tests run several nodes in one process, so a global
//! registry would mix them). The client API records requests, forwards, events and commit
//! latency through the functions here; `watch_raft` copies openraft's own metrics (term, log
//! indexes, leadership, and on the leader each peer's replication lag) into gauges as they
//! change. `record_node_info` states once where the node runs (its data center and region), so
//! queries can place the leader by the node's own configuration. `encode` renders the text exposition that
//! `serve` (outside the simulation only) answers on `GET /metrics`. Inside the simulation the
//! same recording runs, so the code paths stay identical; only the HTTP server is left out.
//!
//! Label sets are bounded: `rpc` is a method name of the API, `code` one of the 17 gRPC status
//! codes, `command` one of the ledger's command kinds and `result` one of its result codes;
//! `peer` and `node_id` are member ids, and `data_center`/`region` this node's configured ones.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use openraft::async_runtime::watch::WatchReceiver;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tianping_ledger::{Command, EventResult};
use tianping_raft_store::NodeId;
use tokio::task::JoinHandle;

use crate::LedgerRaft;
use tianping_proto::convert as pb_convert;

/// The `Content-Type` of the text exposition `encode` writes (OpenMetrics text, which
/// Prometheus scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a per-RPC counter.
type RpcLabels = [(&'static str, &'static str); 1];
/// Labels of `tianping_requests_total`: the RPC and its gRPC status code name.
type RequestLabels = [(&'static str, &'static str); 2];
/// Labels of `tianping_events_total`: the command kind and its result code name.
type EventLabels = [(&'static str, String); 2];

/// One node's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct NodeMetrics {
    registry: Registry,
    commit_latency: Histogram,
    applied_index: Gauge,
    last_log_index: Gauge,
    term: Gauge,
    is_leader: Gauge,
    leader_changes: Counter,
    forwarded: Family<RpcLabels, Counter>,
    events: Family<EventLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    peer_clock_offset_ms: Family<PeerLabels, Gauge>,
    clock_refusals: Counter,
    clock_clamps: Counter,
    clock_step_downs: Counter,
    replication_lag: Family<PeerLabels, Gauge>,
    node_info: Family<NodeInfoLabels, Gauge>,
    certificate_expiry: Gauge,
}

/// Labels of `tianping_node_info`: the node's id, data center and region.
type NodeInfoLabels = [(&'static str, String); 3];

/// Labels of a per-peer metric: the peer's node id.
type PeerLabels = [(&'static str, String); 1];

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

impl NodeMetrics {
    /// A registry with every metric registered at zero.
    pub fn new() -> NodeMetrics {
        let mut registry = Registry::default();
        // 0.5 ms to ~16 s: a loopback commit takes about a millisecond, a WAN quorum tens to
        // hundreds, and anything beyond a few seconds is an outage worth seeing as such.
        let commit_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "tianping_commit_latency_seconds",
            "Time from proposing a batch to its being applied, on the leader",
            commit_latency.clone(),
        );
        let applied_index = Gauge::default();
        registry.register(
            "tianping_applied_index",
            "Index of the last log entry this node applied",
            applied_index.clone(),
        );
        let last_log_index = Gauge::default();
        registry.register(
            "tianping_last_log_index",
            "Index of the last entry in this node's log",
            last_log_index.clone(),
        );
        let term = Gauge::default();
        registry.register("tianping_term", "This node's current Raft term", term.clone());
        let is_leader = Gauge::default();
        registry.register(
            "tianping_is_leader",
            "1 while this node is the leader, else 0",
            is_leader.clone(),
        );
        let leader_changes = Counter::default();
        registry.register(
            "tianping_leader_changes",
            "Times this node learned of a new leader (the first one it learns of counts)",
            leader_changes.clone(),
        );
        let forwarded = Family::<RpcLabels, Counter>::default();
        registry.register(
            "tianping_forwarded_requests",
            "Client requests this node forwarded to the leader, by RPC",
            forwarded.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "tianping_events",
            "Events this node applied as leader for a client, by command kind and result code",
            events.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "tianping_requests",
            "Client API requests answered by this node, by RPC and gRPC status code",
            requests.clone(),
        );
        let peer_clock_offset_ms = Family::<PeerLabels, Gauge>::default();
        registry.register(
            "tianping_peer_clock_offset_milliseconds",
            "Each peer's wall clock minus this node's, as last measured on an append-entries \
             round trip (measured by the leader only)",
            peer_clock_offset_ms.clone(),
        );
        let clock_refusals = Counter::default();
        registry.register(
            "tianping_clock_refusals",
            "Groups of writes this node refused to stamp as leader because its clock was not \
             within max_clock_offset_ms of a majority of the voters",
            clock_refusals.clone(),
        );
        let clock_clamps = Counter::default();
        registry.register(
            "tianping_clock_clamps",
            "Entries this node stamped as leader with a time held back toward its monotonic \
             clock because its wall clock had jumped more than max_clock_offset_ms within its \
             term",
            clock_clamps.clone(),
        );
        let clock_step_downs = Counter::default();
        registry.register(
            "tianping_clock_step_downs",
            "Times this node, leading with a clock a majority of the voters did not vouch for, \
             handed leadership to a voter whose clock they did",
            clock_step_downs.clone(),
        );
        let replication_lag = Family::<PeerLabels, Gauge>::default();
        registry.register(
            "tianping_replication_lag_entries",
            "Entries of the leader's log each peer is not known to hold (the leader's last log \
             index minus the peer's matched index); only the leader reports it, a follower \
             reports no series",
            replication_lag.clone(),
        );
        let node_info = Family::<NodeInfoLabels, Gauge>::default();
        registry.register(
            "tianping_node_info",
            "Always 1: where this node runs, from its configuration (node_id, data_center, \
             region)",
            node_info.clone(),
        );
        let certificate_expiry = Gauge::default();
        registry.register(
            "tianping_tls_certificate_expiry_timestamp_seconds",
            "When this node's TLS certificate expires (its notAfter), in seconds since the Unix \
             epoch, as the files are now (checked every minute); 0 for a node without TLS",
            certificate_expiry.clone(),
        );
        NodeMetrics {
            registry,
            certificate_expiry,
            replication_lag,
            node_info,
            peer_clock_offset_ms,
            clock_refusals,
            clock_clamps,
            clock_step_downs,
            commit_latency,
            applied_index,
            last_log_index,
            term,
            is_leader,
            leader_changes,
            forwarded,
            events,
            requests,
        }
    }

    /// The text exposition of every metric (what `GET /metrics` answers).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a `String` cannot fail; an encoder error would only truncate the page.
        if let Err(error) = encode(&mut text, &self.registry) {
            tracing::warn!(%error, "encoding metrics");
        }
        text
    }

    /// A client request `rpc` was answered with `code`.
    pub(crate) fn record_request(&self, rpc: &'static str, code: tonic::Code) {
        self.requests.get_or_create(&[("rpc", rpc), ("code", code_name(code))]).inc();
    }

    /// Peer `peer`'s clock was measured `offset_ns` from this node's.
    pub(crate) fn record_peer_clock_offset(&self, peer: u64, offset_ns: i64) {
        self.peer_clock_offset_ms
            .get_or_create(&[("peer", peer.to_string())])
            .set(offset_ns / 1_000_000);
    }

    /// This node, leading, refused to stamp a group: its clock disagreed with the voters'.
    pub(crate) fn record_clock_refusal(&self) {
        self.clock_refusals.inc();
    }

    /// This node, leading, held a stamp back: its wall clock jumped within its term.
    pub(crate) fn record_clock_clamp(&self) {
        self.clock_clamps.inc();
    }

    /// This node, leading with a clock nobody vouched for, handed leadership away.
    pub(crate) fn record_clock_step_down(&self) {
        self.clock_step_downs.inc();
    }

    /// States where this node runs (`tianping_node_info` = 1), once at start: the scrape
    /// target's own labels are the operator's, these are the node's configuration.
    pub(crate) fn record_node_info(&self, node_id: NodeId, data_center: &str, region: &str) {
        let labels = [
            ("node_id", node_id.to_string()),
            ("data_center", data_center.to_owned()),
            ("region", region.to_owned()),
        ];
        self.node_info.get_or_create(&labels).set(1);
    }

    /// The node's certificate expires at `not_after` (seconds since the Unix epoch).
    pub fn record_certificate_expiry(&self, not_after: i64) {
        self.certificate_expiry.set(not_after);
    }

    /// Sets the replication lag series to `lags` and drops those of peers no longer in it (a
    /// removed member, or every peer once this node stops leading). `reported` is the set of
    /// peers with a series, kept by the caller between updates.
    fn set_replication_lags(&self, lags: &BTreeMap<NodeId, u64>, reported: &mut BTreeSet<NodeId>) {
        for gone in reported.iter().filter(|peer| !lags.contains_key(peer)) {
            self.replication_lag.remove(&[("peer", gone.to_string())]);
        }
        for (peer, lag) in lags {
            self.replication_lag
                .get_or_create(&[("peer", peer.to_string())])
                .set(gauge_value(*lag));
        }
        *reported = lags.keys().copied().collect();
    }

    /// A client request `rpc` is being forwarded to the leader.
    pub(crate) fn record_forward(&self, rpc: &'static str) {
        self.forwarded.get_or_create(&[("rpc", rpc)]).inc();
    }

    /// A batch this node proposed as leader was applied after `latency`, with `results`
    /// (one per command, in order).
    pub(crate) fn record_applied(
        &self,
        latency: Duration,
        kinds: &[&'static str],
        results: &[EventResult],
    ) {
        self.commit_latency.observe(latency.as_secs_f64());
        for (kind, result) in kinds.iter().zip(results) {
            let labels = [("command", (*kind).to_owned()), ("result", result_name(result))];
            self.events.get_or_create(&labels).inc();
        }
    }
}

/// A result code's label value: the snake_case name clients see in `code_name`.
fn result_name(result: &EventResult) -> String {
    pb_convert::result_code_name(result.code)
}

/// A command's kind, for the `command` label: the ledger's own name for it.
pub(crate) fn command_kind(command: &Command) -> &'static str {
    command.kind()
}

/// A gRPC status code's canonical name (as in the gRPC specification).
pub(crate) fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A `u64` as a gauge value (indexes and terms never reach `i64::MAX` in practice; if one
/// did, the gauge would stick at the maximum rather than wrap negative).
fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Each peer's replication lag as a leader sees it: `last_log_index` minus the index of the
/// last entry the peer is known to hold (`None`, nothing matched yet, counts as 0). `matched`
/// is openraft's `RaftMetrics::replication`, which only the leader has; `None` (not leading)
/// gives no lags at all rather than zeros, so a follower cannot look like a leader whose peers
/// are caught up. The map also holds the leader itself (its own flushed log): `leader` is left
/// out, its lag is no replication's. A matched index past `last_log_index` (a metrics
/// snapshot taken between the two updates) counts as caught up.
pub(crate) fn replication_lags<'a>(
    leader: NodeId,
    last_log_index: u64,
    matched: Option<impl IntoIterator<Item = (&'a NodeId, Option<u64>)>>,
) -> BTreeMap<NodeId, u64> {
    matched
        .into_iter()
        .flatten()
        .filter(|(peer, _)| **peer != leader)
        .map(|(peer, index)| (*peer, last_log_index.saturating_sub(index.unwrap_or(0))))
        .collect()
}

/// Copies openraft's metrics into `metrics` whenever they change, until Raft stops. Counts a
/// leader change each time the known leader becomes a different node, the first one included
/// (not when it becomes unknown during an election), and logs it. While leading it sets each
/// peer's replication lag; on losing leadership it drops every lag series.
pub(crate) fn watch_raft(
    raft: &LedgerRaft,
    node_id: NodeId,
    metrics: Arc<NodeMetrics>,
) -> JoinHandle<()> {
    let mut watch = raft.metrics();
    tokio::spawn(async move {
        let mut last_leader: Option<NodeId> = None;
        let mut lag_reported: BTreeSet<NodeId> = BTreeSet::new();
        loop {
            let (term, last_log_index, applied, leader, state, lags) = {
                let current = watch.borrow_watched();
                let last_log_index = current.last_log_index.unwrap_or_default();
                let matched = current.replication.as_ref().map(|replication| {
                    replication
                        .iter()
                        .map(|(peer, log_id)| (peer, log_id.as_ref().map(|log_id| log_id.index)))
                });
                (
                    current.current_term,
                    last_log_index,
                    current.last_applied.as_ref().map_or(0, |log_id| log_id.index),
                    current.current_leader,
                    current.state,
                    replication_lags(node_id, last_log_index, matched),
                )
            };
            metrics.set_replication_lags(&lags, &mut lag_reported);
            metrics.term.set(gauge_value(term));
            metrics.last_log_index.set(gauge_value(last_log_index));
            metrics.applied_index.set(gauge_value(applied));
            metrics.is_leader.set(i64::from(state == ServerState::Leader));
            if let Some(leader) = leader
                && last_leader != Some(leader)
            {
                metrics.leader_changes.inc();
                tracing::info!(node_id, leader, term, "leader changed");
                last_leader = Some(leader);
            }
            if watch.changed().await.is_err() {
                return;
            }
        }
    })
}

#[cfg(not(madsim))]
pub(crate) use exporter::{Exporter, MetricsListener, bind};

/// The `/metrics` HTTP endpoint (real network only).
#[cfg(not(madsim))]
mod exporter {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use axum::Router;
    use axum::extract::State;
    use axum::http::header::CONTENT_TYPE as CONTENT_TYPE_HEADER;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::{CONTENT_TYPE, NodeMetrics};
    use crate::StartError;

    /// A running `/metrics` server: where it listens, and how to stop it.
    #[derive(Debug)]
    pub(crate) struct Exporter {
        pub(crate) address: SocketAddr,
        stop: oneshot::Sender<()>,
        server: JoinHandle<std::io::Result<()>>,
    }

    async fn scrape(State(metrics): State<Arc<NodeMetrics>>) -> impl IntoResponse {
        ([(CONTENT_TYPE_HEADER, CONTENT_TYPE)], metrics.encode())
    }

    /// A bound, not yet serving, `/metrics` socket and the address it really has.
    #[derive(Debug)]
    pub struct MetricsListener {
        listener: tokio::net::TcpListener,
        address: SocketAddr,
    }

    /// Binds `address` for `/metrics` (port 0 picks a free one), before the node starts, so
    /// a taken port fails the start rather than leaving a node without its endpoint.
    pub(crate) fn bind(address: SocketAddr) -> Result<MetricsListener, StartError> {
        let bind_error = |error| StartError::Bind { address, error };
        let listener = std::net::TcpListener::bind(address).map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
        Ok(MetricsListener { listener, address: local })
    }

    impl Exporter {
        /// Serves `GET /metrics` from `metrics` on `bound` until `stop`.
        pub(crate) fn serve(bound: MetricsListener, metrics: Arc<NodeMetrics>) -> Exporter {
            let MetricsListener { listener, address } = bound;
            let router = Router::new().route("/metrics", get(scrape)).with_state(metrics);
            let (stop, stopped) = oneshot::channel::<()>();
            let server = tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
            });
            Exporter { address, stop, server }
        }

        /// Stops serving and waits (at most `timeout`) for the server to end.
        pub(crate) async fn stop(self, timeout: std::time::Duration) -> Result<(), String> {
            let _ = self.stop.send(());
            match crate::runtime::timeout(timeout, self.server).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(error))) => Err(format!("metrics server: {error}")),
                Ok(Err(error)) => Err(format!("metrics server task: {error}")),
                Err(_elapsed) => Err("metrics server did not stop in time".to_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric_and_counts_what_was_recorded() {
        let metrics = NodeMetrics::new();
        metrics.record_request("CreateTransfers", tonic::Code::Ok);
        metrics.record_request("CreateTransfers", tonic::Code::Unavailable);
        metrics.record_forward("CreateTransfers");
        let text = metrics.encode();
        for name in [
            "tianping_commit_latency_seconds",
            "tianping_applied_index",
            "tianping_last_log_index",
            "tianping_term",
            "tianping_is_leader",
            "tianping_leader_changes_total",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(
            text.contains(r#"tianping_requests_total{rpc="CreateTransfers",code="OK"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tianping_requests_total{rpc="CreateTransfers",code="UNAVAILABLE"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tianping_forwarded_requests_total{rpc="CreateTransfers"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn replication_lag_is_the_leaders_last_index_minus_each_peers_match() {
        let matched =
            [(&1, Some(90)), (&2, Some(100)), (&3, None), (&4, Some(40)), (&5, Some(105))];
        // Node 1 leads: its own entry (its flushed log) is not a peer's lag.
        let lags = replication_lags(1, 100, Some(matched));
        assert_eq!(lags, BTreeMap::from([(2, 0), (3, 100), (4, 60), (5, 0)]));
        // Not leading: no replication map, no lags (not zeros).
        let none: Option<[(&NodeId, Option<u64>); 0]> = None;
        assert!(replication_lags(1, 100, none).is_empty());
    }

    #[test]
    fn lag_series_follow_the_peers_and_vanish_off_the_leader() {
        let metrics = NodeMetrics::new();
        let mut reported = BTreeSet::new();
        metrics.set_replication_lags(&BTreeMap::from([(2, 0), (3, 7)]), &mut reported);
        let text = metrics.encode();
        assert!(text.contains(r#"tianping_replication_lag_entries{peer="3"} 7"#), "{text}");
        assert!(text.contains(r#"tianping_replication_lag_entries{peer="2"} 0"#), "{text}");
        // Peer 3 removed from the membership: its series goes, peer 2's stays.
        metrics.set_replication_lags(&BTreeMap::from([(2, 1)]), &mut reported);
        let text = metrics.encode();
        assert!(!text.contains(r#"peer="3""#), "{text}");
        assert!(text.contains(r#"tianping_replication_lag_entries{peer="2"} 1"#), "{text}");
        // Leadership lost: no series at all.
        metrics.set_replication_lags(&BTreeMap::new(), &mut reported);
        assert!(!metrics.encode().contains("tianping_replication_lag_entries{"));
    }

    #[test]
    fn node_info_states_the_configured_placement() {
        let metrics = NodeMetrics::new();
        metrics.record_node_info(3, "dc-b", "cn-east");
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"tianping_node_info{node_id="3",data_center="dc-b",region="cn-east"} 1"#
            ),
            "{text}"
        );
    }
}
