//! Request ids: one per client request, carried from the client to the apply on the leader.
//!
//! `Observed` wraps the client API's service. For every request it takes the id from the
//! `x-request-id` metadata when the client sent a valid one (`RequestId::parse`: short and
//! printable), otherwise makes one (`RequestIds`: node id, node start time and a counter —
//! no randomness, so simulation runs stay deterministic). The handler then runs inside a
//! `tracing` span `request{request_id, rpc, node_id}` and a task-local `RequestContext`, so:
//!
//! - a follower forwarding to the leader puts the same id on the forwarded request
//!   (`on_forward`, called where `LedgerService` builds it), and the leader's span carries it;
//! - the leader logs, at debug, the proposal and the log index it was applied at
//!   (`Proposal`), and records the commit latency and per-event results in `metrics`;
//! - the answer (response or error status) carries the id back in `x-request-id`, and
//!   `tianping_requests_total{rpc,code}` counts it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tianping_ledger::{Command, EventResult};
use tianping_raft_store::NodeId;
use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::clock::Clock;
use crate::headers::{FORWARDED_HEADER, REQUEST_ID_HEADER};
use crate::metrics::{NodeMetrics, command_kind};
use tianping_proto::v1::admin_server::Admin;
use tianping_proto::v1::ledger_server::Ledger;
use tianping_proto::v1::payouts_server::Payouts;
use tianping_proto::v1::reconciliation_server::Reconciliation;
use tianping_proto::v1::{
    AccountTransfersRequest, AccountTransfersResponse, AssignSuspenseRequest, AuditRecordsRequest,
    AuditRecordsResponse, BookCollectionsRequest, BookCollectionsResponse, ClaimPayoutsRequest,
    ClaimPayoutsResponse, CreateAccountsRequest, CreateEventsResponse, CreatePayoutsRequest,
    CreateTransfersRequest, ListPayoutsRequest, ListPayoutsResponse, ListSuspenseRequest,
    ListSuspenseResponse, LookupAccountsResponse, LookupPayoutsResponse, LookupRequest,
    LookupTransfersResponse, PayoutHistoryRequest, PayoutHistoryResponse,
    RecordPayoutOutcomesRequest, SetAccountLimitsRequest, SetAccountStatusRequest,
};
use tianping_proto::v1::{
    AddLearnerRequest, ClusterStatusRequest, ClusterStatusResponse, InitializeRequest,
    InitializeResponse, MembershipResponse, PromoteRequest, RemoveRequest, ReplaceNodeRequest,
    ReplicaDigestRequest, ReplicaDigestResponse, SetPreferredLeaderDataCenterRequest,
    SetPreferredLeaderDataCenterResponse, TransferLeaderRequest, TransferLeaderResponse,
};
use tianping_proto::v1::{
    ListDiscrepanciesRequest, ListDiscrepanciesResponse, LookupDiscrepanciesResponse,
    RecordDiscrepanciesRequest, ResolveDiscrepanciesRequest,
};

/// A validated request id: 1 to `REQUEST_ID_BYTES_MAX` printable ASCII characters, no spaces
/// (the rule is `tianping_proto::request_id`'s, which the SDK checks too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The id in `text`, if it is acceptable; `None` for empty, overlong or non-printable text
    /// (which could forge log lines or bloat every log record).
    pub fn parse(text: &str) -> Option<RequestId> {
        tianping_proto::request_id::is_valid_request_id(text).then(|| RequestId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a metadata value (always valid: printable ASCII only).
    fn metadata_value(&self) -> Option<MetadataValue<tonic::metadata::Ascii>> {
        MetadataValue::try_from(self.0.as_str()).ok()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes ids for requests that came without one: `<node>-<start>-<n>`, where `start` is the
/// node's start time in milliseconds (hex) so ids differ across restarts, and `n` counts
/// requests. Deterministic under the simulation, whose clock it reads.
#[derive(Debug)]
pub(crate) struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    pub(crate) fn new(node_id: NodeId, clock: &Clock) -> RequestIds {
        let started_ms = clock.now_ns() / 1_000_000;
        RequestIds { prefix: format!("{node_id}-{started_ms:x}"), next: AtomicU64::new(1) }
    }

    /// A new id, unique on this node.
    pub(crate) fn generate(&self) -> RequestId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        RequestId(format!("{}-{n}", self.prefix))
    }

    /// The client's id when it sent a valid one, else a new one.
    fn for_request<T>(&self, request: &Request<T>) -> RequestId {
        let sent = request.metadata().get(REQUEST_ID_HEADER);
        match sent.map(|value| value.to_str().ok().and_then(RequestId::parse)) {
            Some(Some(id)) => id,
            Some(None) => {
                let id = self.generate();
                tracing::debug!(request_id = %id, "client's x-request-id refused; made a new one");
                id
            }
            None => self.generate(),
        }
    }
}

/// What the handler of the current request can find out about it (task-local).
#[derive(Clone, Debug)]
struct RequestContext {
    id: RequestId,
    rpc: &'static str,
    metrics: Arc<NodeMetrics>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Marks `request`, about to be forwarded to the leader, with the current request's id and
/// counts the forward. Outside a client request it does nothing.
pub(crate) fn on_forward<T>(request: &mut Request<T>) {
    let _ = CURRENT.try_with(|context| {
        if let Some(value) = context.id.metadata_value() {
            request.metadata_mut().insert(REQUEST_ID_HEADER, value);
        }
        context.metrics.record_forward(context.rpc);
        tracing::debug!("forwarding to the leader");
    });
}

/// A batch this node proposed as leader, from proposal to apply. Made just before the
/// proposal (it logs it); `applied` logs the log index and records latency and results.
#[derive(Debug)]
pub(crate) struct Proposal {
    started: Instant,
    kinds: Vec<&'static str>,
}

impl Proposal {
    /// Logs (at debug) that `commands` are being proposed, and starts the commit clock.
    pub(crate) fn start(commands: &[Command]) -> Proposal {
        tracing::debug!(events = commands.len(), "proposing");
        Proposal { started: Instant::now(), kinds: commands.iter().map(command_kind).collect() }
    }

    /// The batch was applied at `log_index` with `results`: logs it (at debug) and records
    /// the commit latency and each event's result in the node's metrics.
    pub(crate) fn applied(self, log_index: u64, results: &[EventResult]) {
        let latency = self.started.elapsed();
        tracing::debug!(log_index, latency_us = latency.as_micros(), "applied");
        let _ = CURRENT.try_with(|context| {
            context.metrics.record_applied(latency, &self.kinds, results);
        });
    }
}

/// The client API service `S`, observed: every request gets an id, a span, a count and its
/// id in the answer.
pub(crate) struct Observed<S> {
    inner: S,
    node_id: NodeId,
    ids: RequestIds,
    metrics: Arc<NodeMetrics>,
}

impl<S> Observed<S> {
    pub(crate) fn new(
        inner: S,
        node_id: NodeId,
        metrics: Arc<NodeMetrics>,
        clock: &Clock,
    ) -> Observed<S> {
        Observed { inner, node_id, ids: RequestIds::new(node_id, clock), metrics }
    }

    /// Runs `call` (the inner handler) on `request` with its id, span and context; counts
    /// the outcome and puts the id in the answer.
    async fn observe<T, U, Fut>(
        &self,
        rpc: &'static str,
        mut request: Request<T>,
        call: impl FnOnce(Request<T>) -> Fut,
    ) -> Result<Response<U>, Status>
    where
        Fut: Future<Output = Result<Response<U>, Status>>,
    {
        let id = self.ids.for_request(&request);
        let value = id.metadata_value();
        if let Some(value) = value.clone() {
            request.metadata_mut().insert(REQUEST_ID_HEADER, value);
        }
        let forwarded = request.metadata().contains_key(FORWARDED_HEADER);
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            rpc,
            node_id = self.node_id,
            forwarded
        );
        let context = RequestContext { id, rpc, metrics: Arc::clone(&self.metrics) };
        let outcome = CURRENT.scope(context, call(request)).instrument(span.clone()).await;
        let code = match &outcome {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        self.metrics.record_request(rpc, code);
        span.in_scope(|| match &outcome {
            Ok(_) => tracing::debug!("answered"),
            Err(status) => {
                tracing::debug!(code = ?status.code(), message = status.message(), "refused")
            }
        });
        match (outcome, value) {
            (Ok(mut response), Some(value)) => {
                response.metadata_mut().insert(REQUEST_ID_HEADER, value);
                Ok(response)
            }
            (Err(mut status), Some(value)) => {
                status.metadata_mut().insert(REQUEST_ID_HEADER, value);
                Err(status)
            }
            (outcome, None) => outcome,
        }
    }
}

#[tonic::async_trait]
impl<S: Ledger> Ledger for Observed<S> {
    async fn create_accounts(
        &self,
        request: Request<CreateAccountsRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("CreateAccounts", request, |request| self.inner.create_accounts(request)).await
    }

    async fn create_transfers(
        &self,
        request: Request<CreateTransfersRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("CreateTransfers", request, |request| self.inner.create_transfers(request))
            .await
    }

    async fn lookup_accounts(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupAccountsResponse>, Status> {
        self.observe("LookupAccounts", request, |request| self.inner.lookup_accounts(request)).await
    }

    async fn lookup_transfers(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupTransfersResponse>, Status> {
        self.observe("LookupTransfers", request, |request| self.inner.lookup_transfers(request))
            .await
    }

    async fn get_account_transfers(
        &self,
        request: Request<AccountTransfersRequest>,
    ) -> Result<Response<AccountTransfersResponse>, Status> {
        self.observe("GetAccountTransfers", request, |request| {
            self.inner.get_account_transfers(request)
        })
        .await
    }

    async fn set_account_status(
        &self,
        request: Request<SetAccountStatusRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("SetAccountStatus", request, |request| self.inner.set_account_status(request))
            .await
    }

    async fn set_account_limits(
        &self,
        request: Request<SetAccountLimitsRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("SetAccountLimits", request, |request| self.inner.set_account_limits(request))
            .await
    }

    async fn list_audit_records(
        &self,
        request: Request<AuditRecordsRequest>,
    ) -> Result<Response<AuditRecordsResponse>, Status> {
        self.observe("ListAuditRecords", request, |request| self.inner.list_audit_records(request))
            .await
    }
}

#[tonic::async_trait]
impl<S: Reconciliation> Reconciliation for Observed<S> {
    async fn record_discrepancies(
        &self,
        request: Request<RecordDiscrepanciesRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("RecordDiscrepancies", request, |request| {
            self.inner.record_discrepancies(request)
        })
        .await
    }

    async fn resolve_discrepancies(
        &self,
        request: Request<ResolveDiscrepanciesRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("ResolveDiscrepancies", request, |request| {
            self.inner.resolve_discrepancies(request)
        })
        .await
    }

    async fn lookup_discrepancies(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupDiscrepanciesResponse>, Status> {
        self.observe("LookupDiscrepancies", request, |request| {
            self.inner.lookup_discrepancies(request)
        })
        .await
    }

    async fn list_discrepancies(
        &self,
        request: Request<ListDiscrepanciesRequest>,
    ) -> Result<Response<ListDiscrepanciesResponse>, Status> {
        self.observe("ListDiscrepancies", request, |request| self.inner.list_discrepancies(request))
            .await
    }
}

#[tonic::async_trait]
impl<S: Payouts> Payouts for Observed<S> {
    async fn create_payouts(
        &self,
        request: Request<CreatePayoutsRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("CreatePayouts", request, |request| self.inner.create_payouts(request)).await
    }

    async fn claim_payouts(
        &self,
        request: Request<ClaimPayoutsRequest>,
    ) -> Result<Response<ClaimPayoutsResponse>, Status> {
        self.observe("ClaimPayouts", request, |request| self.inner.claim_payouts(request)).await
    }

    async fn record_payout_outcomes(
        &self,
        request: Request<RecordPayoutOutcomesRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("RecordPayoutOutcomes", request, |request| {
            self.inner.record_payout_outcomes(request)
        })
        .await
    }

    async fn book_collections(
        &self,
        request: Request<BookCollectionsRequest>,
    ) -> Result<Response<BookCollectionsResponse>, Status> {
        self.observe("BookCollections", request, |request| self.inner.book_collections(request))
            .await
    }

    async fn lookup_payouts(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupPayoutsResponse>, Status> {
        self.observe("LookupPayouts", request, |request| self.inner.lookup_payouts(request)).await
    }

    async fn list_payouts(
        &self,
        request: Request<ListPayoutsRequest>,
    ) -> Result<Response<ListPayoutsResponse>, Status> {
        self.observe("ListPayouts", request, |request| self.inner.list_payouts(request)).await
    }

    async fn get_payout_history(
        &self,
        request: Request<PayoutHistoryRequest>,
    ) -> Result<Response<PayoutHistoryResponse>, Status> {
        self.observe("GetPayoutHistory", request, |request| self.inner.get_payout_history(request))
            .await
    }

    async fn list_suspense(
        &self,
        request: Request<ListSuspenseRequest>,
    ) -> Result<Response<ListSuspenseResponse>, Status> {
        self.observe("ListSuspense", request, |request| self.inner.list_suspense(request)).await
    }

    async fn assign_suspense(
        &self,
        request: Request<AssignSuspenseRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        self.observe("AssignSuspense", request, |request| self.inner.assign_suspense(request)).await
    }
}

/// Operators' calls get the same id, span, count and answer header as clients': a
/// membership change forwarded to the leader is traced there under the operator's id.
#[tonic::async_trait]
impl<S: Admin> Admin for Observed<S> {
    async fn initialize(
        &self,
        request: Request<InitializeRequest>,
    ) -> Result<Response<InitializeResponse>, Status> {
        self.observe("Initialize", request, |request| self.inner.initialize(request)).await
    }

    async fn cluster_status(
        &self,
        request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        self.observe("ClusterStatus", request, |request| self.inner.cluster_status(request)).await
    }

    async fn add_learner(
        &self,
        request: Request<AddLearnerRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        self.observe("AddLearner", request, |request| self.inner.add_learner(request)).await
    }

    async fn promote(
        &self,
        request: Request<PromoteRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        self.observe("Promote", request, |request| self.inner.promote(request)).await
    }

    async fn remove(
        &self,
        request: Request<RemoveRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        self.observe("Remove", request, |request| self.inner.remove(request)).await
    }

    async fn replace_node(
        &self,
        request: Request<ReplaceNodeRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        self.observe("ReplaceNode", request, |request| self.inner.replace_node(request)).await
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        self.observe("TransferLeader", request, |request| self.inner.transfer_leader(request)).await
    }

    async fn set_preferred_leader_data_center(
        &self,
        request: Request<SetPreferredLeaderDataCenterRequest>,
    ) -> Result<Response<SetPreferredLeaderDataCenterResponse>, Status> {
        self.observe("SetPreferredLeaderDataCenter", request, |request| {
            self.inner.set_preferred_leader_data_center(request)
        })
        .await
    }

    async fn replica_digest(
        &self,
        request: Request<ReplicaDigestRequest>,
    ) -> Result<Response<ReplicaDigestResponse>, Status> {
        self.observe("ReplicaDigest", request, |request| self.inner.replica_digest(request)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::REQUEST_ID_BYTES_MAX;

    #[test]
    fn ids_are_short_printable_and_non_empty() {
        assert_eq!(RequestId::parse("abc-123").map(|id| id.0), Some("abc-123".to_owned()));
        assert!(RequestId::parse(&"x".repeat(REQUEST_ID_BYTES_MAX)).is_some());
        assert!(RequestId::parse(&"x".repeat(REQUEST_ID_BYTES_MAX + 1)).is_none());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("line\nbreak").is_none());
        assert!(RequestId::parse("ünïcode").is_none());
    }

    #[test]
    fn generated_ids_are_distinct_and_valid() {
        let ids = RequestIds::new(7, &Clock::system());
        let first = ids.generate();
        let second = ids.generate();
        assert_ne!(first, second);
        assert!(first.as_str().starts_with("7-"));
        assert_eq!(RequestId::parse(first.as_str()), Some(first));
    }

    #[test]
    fn a_valid_client_id_is_kept_and_an_invalid_one_replaced() {
        let ids = RequestIds::new(3, &Clock::system());
        let mut request = Request::new(());
        request.metadata_mut().insert(REQUEST_ID_HEADER, MetadataValue::from_static("client-42"));
        assert_eq!(ids.for_request(&request).as_str(), "client-42");
        let mut request = Request::new(());
        let long = "y".repeat(REQUEST_ID_BYTES_MAX + 1);
        let value = MetadataValue::try_from(long.as_str()).expect("ascii");
        request.metadata_mut().insert(REQUEST_ID_HEADER, value);
        assert!(ids.for_request(&request).as_str().starts_with("3-"));
    }
}
