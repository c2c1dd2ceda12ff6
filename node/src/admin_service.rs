//! The cluster administration API (`tianping.v1.Admin`), served on the client address.
//!
//! - `Initialize` makes a brand-new cluster from a list of voters, admitting each one's store
//!   to it first (`admission`); `ClusterStatus` reports
//!   this node's view (members with region, data center and, on the leader, replication lag;
//!   leader, term, log indexes). `tianping dev up` uses both: it starts every node on a free
//!   port, learns the ports the nodes bound, then initializes the cluster through node 1 — the
//!   addresses are only known after the nodes are up, so a config file written beforehand
//!   could not list them.
//! - Membership changes (`AddLearner`, `Promote`, `Remove`, `TransferLeader`) run on the
//!   leader; any other member forwards them one hop (`forward`), as client writes are.
//!   openraft does the work: learners through `add_learner` (after their store is admitted;
//!   a voter's id is refused), voter changes through
//!   `change_membership` (joint consensus), leadership through `trigger().transfer_leader`.
//! - Every voter change (`Promote`, `Remove`, `ReplaceNode`) is computed as the full new voter
//!   set, checked against `membership_policy` on the leader, and handed to openraft as exactly
//!   that set (`ReplaceAllVoters`), so what was checked is what is proposed. A refusal is
//!   FAILED_PRECONDITION naming the rule; a request with `force` (and a reason) overrides it
//!   and is logged at warn (`log_forced`). `ReplaceNode` swaps a voter for a caught-up learner
//!   in one joint change, so the count never passes through an even number.
//! - `SetPreferredLeaderDataCenter` sets this node's preference, read by `preferred_leader`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use tianping_raft_store::{NodeId, NodeInfo, TypeConfig};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::LedgerRaft;
use crate::admission::AddLearnerError;
use crate::clock_guard::{ClockGuard, PeerClockView};
use crate::forward::LeaderForwarder;
use crate::headers::is_forwarded;
use crate::identity::{NodeIdentity, id_text};
use crate::membership_policy::{self, Bounds, Progress, Voter};
use crate::preferred_leader::PreferredDataCenter;
use tianping_proto::convert as pb_convert;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::admin_server::Admin;
use tianping_proto::v1::{
    AddLearnerRequest, ClusterStatusRequest, ClusterStatusResponse, InitializeRequest,
    InitializeResponse, Member, MembershipResponse, PeerClock, PromoteRequest, RemoveRequest,
    ReplaceNodeRequest, ReplicaDigestRequest, ReplicaDigestResponse,
    SetPreferredLeaderDataCenterRequest, SetPreferredLeaderDataCenterResponse,
    TransferLeaderRequest, TransferLeaderResponse,
};

/// Most entries a learner may lag the leader by and still be promoted: promoting a learner
/// far behind would make the new majority wait for it to catch up before anything commits.
pub const PROMOTE_LAG_MAX: u64 = 1_000;

/// Longest `TransferLeader` waits for the target to take over.
const TRANSFER_WAIT: Duration = Duration::from_secs(3);

/// Serves `tianping.v1.Admin` for one node.
pub(crate) struct AdminService {
    raft: LedgerRaft,
    node_id: NodeId,
    /// This node's store identity: `Initialize` and `AddLearner` admit stores to its cluster.
    identity: Arc<NodeIdentity>,
    forwarder: LeaderForwarder,
    preferred: PreferredDataCenter,
    /// How long a node being admitted has to answer `Admit`.
    admit_timeout: Duration,
    /// The peers' clocks as this node measured them (`ClusterStatus`).
    clocks: Arc<ClockGuard>,
    /// How channels to peers (`Admit`) are secured.
    channels: tianping_tls::Channels,
}

/// Where a membership change runs.
enum Route {
    /// Here: this node is the leader.
    Here,
    /// On the leader, through this client (the request is to be marked forwarded).
    Leader(AdminClient<Channel>),
}

/// The ids of a `Remove`, split: (voters, learners, ids already no members).
type Removal = (BTreeSet<NodeId>, BTreeSet<NodeId>, BTreeSet<NodeId>);

/// An operator's override of the voter rules: (reason, actor), from `ForceChange`.
type Forced = Option<(String, String)>;

impl AdminService {
    pub(crate) fn new(
        raft: LedgerRaft,
        identity: Arc<NodeIdentity>,
        forward_timeout: Duration,
        preferred: PreferredDataCenter,
        clocks: Arc<ClockGuard>,
        channels: tianping_tls::Channels,
    ) -> Self {
        let forwarder = LeaderForwarder::new(raft.clone(), forward_timeout, channels.clone());
        let node_id = identity.node_id();
        AdminService {
            raft,
            node_id,
            identity,
            forwarder,
            preferred,
            admit_timeout: forward_timeout,
            clocks,
            channels,
        }
    }

    /// Runs here when this node leads, else names the leader to forward to (one hop only).
    async fn route(&self, forwarded: bool) -> Result<Route, Status> {
        match self.raft.current_leader().await {
            None => Err(Status::unavailable("no leader is known yet; retry")),
            Some(leader) if leader == self.node_id => Ok(Route::Here),
            Some(leader) => {
                let node = self.forwarder.leader_node(leader, forwarded)?;
                Ok(Route::Leader(AdminClient::new(self.forwarder.channel(&node)?)))
            }
        }
    }

    /// The current membership as wire members (with lag when this node leads).
    fn members(&self) -> (Vec<Member>, bool) {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last_log_index = metrics.last_log_index.unwrap_or_default();
        let members = membership
            .nodes()
            .map(|(node_id, info)| {
                let mut member = crate::members::member(*node_id, info, voters.contains(node_id));
                if metrics.replication.is_some() {
                    // The leader holds the whole log (its own replication-map entry is only
                    // what it has flushed).
                    let matched = if *node_id == self.node_id {
                        Some(last_log_index)
                    } else {
                        matched_index(&metrics, node_id)
                    };
                    if let Some(matched) = matched {
                        member.lag_known = true;
                        member.matched_index = matched;
                        member.lag = last_log_index.saturating_sub(matched);
                    }
                }
                member
            })
            .collect();
        (members, membership.get_joint_config().len() > 1)
    }

    /// The answer when nothing needed changing: the membership as it is, at the index of the
    /// entry that made it.
    fn unchanged_response(&self) -> Response<MembershipResponse> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        Response::new(MembershipResponse {
            leader_id: self.node_id,
            log_index: metrics.membership_config.log_id().as_ref().map_or(0, |id| id.index),
            members: self.members().0,
            already_absent: Vec::new(),
        })
    }

    /// The answer to a membership change openraft made here.
    fn membership_response(
        &self,
        written: Result<
            ClientWriteResponse<TypeConfig>,
            RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
        >,
    ) -> Result<Response<MembershipResponse>, Status> {
        let written = written.map_err(|error| match error.api_error() {
            Some(ClientWriteError::ForwardToLeader(forward)) => Status::unavailable(format!(
                "leadership changed during the membership change ({forward}); retry"
            )),
            Some(refused) => Status::failed_precondition(refused.to_string()),
            None => Status::unavailable(format!("raft node stopped: {error}")),
        })?;
        let members = match &written.membership {
            Some(membership) => {
                let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
                membership
                    .nodes()
                    .map(|(id, info)| crate::members::member(*id, info, voters.contains(id)))
                    .collect()
            }
            None => self.members().0,
        };
        Ok(Response::new(MembershipResponse {
            leader_id: self.node_id,
            log_index: written.log_id.index,
            members,
            already_absent: Vec::new(),
        }))
    }

    /// Refuses to promote an id that is not a learner, or one lagging by more than
    /// `PROMOTE_LAG_MAX` (or whose progress the leader does not know yet).
    fn check_promotable(&self, ids: &BTreeSet<NodeId>) -> Result<(), Status> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let last_log_index = metrics.last_log_index.unwrap_or_default();
        for id in ids {
            if membership.get_node(id).is_none() {
                return Err(Status::not_found(format!(
                    "node {id} is not a member; add it as a learner first"
                )));
            }
            if membership.voter_ids().any(|voter| voter == *id) {
                continue; // Already a voter: promoting again changes nothing.
            }
            match matched_index(&metrics, id) {
                Some(matched) if last_log_index.saturating_sub(matched) <= PROMOTE_LAG_MAX => {}
                Some(matched) => {
                    return Err(Status::failed_precondition(format!(
                        "learner {id} is {} entries behind (at most {PROMOTE_LAG_MAX} allowed); \
                         wait until `tianping cluster status` shows it caught up",
                        last_log_index.saturating_sub(matched)
                    )));
                }
                None => {
                    return Err(Status::failed_precondition(format!(
                        "the leader does not know learner {id}'s progress yet; retry shortly"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The voters openraft is moving to (the last config while joint): a change is computed
    /// from it, as openraft computes one.
    fn target_voters(&self) -> BTreeSet<NodeId> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let joint = metrics.membership_config.membership().get_joint_config();
        joint.last().cloned().unwrap_or_default()
    }

    /// Checks the voters a change would leave (`proposed`) against `membership_policy`, as
    /// this leader sees them now. Refused: FAILED_PRECONDITION naming the rule, unless
    /// `forced`; a forced change is logged (`log_forced`) whether or not a rule was broken.
    fn check_voters(
        &self,
        rpc: &str,
        proposed: &BTreeSet<NodeId>,
        forced: &Forced,
    ) -> Result<(), Status> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let last_log_index = metrics.last_log_index.unwrap_or_default();
        let voters = proposed
            .iter()
            .map(|id| {
                let data_center = membership
                    .get_node(id)
                    .map(|info| info.data_center.clone())
                    .unwrap_or_default();
                let progress = if *id == self.node_id {
                    Progress::Leader
                } else {
                    let matched = matched_index(&metrics, id);
                    let acked = metrics
                        .heartbeat
                        .as_ref()
                        .and_then(|heartbeat| heartbeat.get(id).copied().flatten());
                    match (matched, acked) {
                        (Some(matched), Some(acked)) => {
                            // The trait's method, named: the runtime's own `Instant`
                            // may or may not have one of the same name.
                            let ack_age = openraft::Instant::elapsed(&*acked);
                            Progress::Replicating { matched, ack_age }
                        }
                        _ => Progress::Unknown,
                    }
                };
                (*id, Voter { data_center, progress })
            })
            .collect();
        // Reachable: acknowledged within one election timeout, in which a live follower
        // answers several heartbeats.
        let config = self.raft.config();
        let bounds = Bounds {
            lag_max: PROMOTE_LAG_MAX,
            ack_age_max: Duration::from_millis(config.election_timeout_max),
        };
        let refused = membership_policy::check(&voters, last_log_index, bounds).err();
        let current = self.target_voters();
        match (forced, refused) {
            (None, None) => Ok(()),
            (None, Some(refusal)) => Err(Status::failed_precondition(format!(
                "refused: {refusal} (voters {current:?} -> {proposed:?}; `--force --reason TEXT` \
                 overrides)"
            ))),
            (Some((reason, actor)), refusal) => {
                log_forced(rpc, actor, reason, &current, proposed, refusal.as_ref());
                Ok(())
            }
        }
    }

    /// Splits the ids of a `Remove` into `Removal`'s three sets. An id that is
    /// no member is taken as removed already (a retry whose first attempt committed), but only
    /// once the leader's membership is committed and not joint: before that, "absent" could
    /// be a change still in flight, and the caller must retry.
    fn removable(&self, ids: &BTreeSet<NodeId>) -> Result<Removal, Status> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let stored = &metrics.membership_config;
        let membership = stored.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let mut split = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for id in ids {
            if voters.contains(id) {
                split.0.insert(*id);
            } else if membership.get_node(id).is_some() {
                split.1.insert(*id);
            } else {
                split.2.insert(*id);
            }
        }
        let applied = metrics.last_applied.as_ref().map_or(0, |id| id.index);
        let changed_at = stored.log_id().as_ref().map_or(0, |id| id.index);
        let settled = applied >= changed_at && membership.get_joint_config().len() == 1;
        if !split.2.is_empty() && !settled {
            return Err(Status::failed_precondition(format!(
                "nodes {:?} are no members of the membership at log index {changed_at}, which is \
                 not committed yet; retry shortly",
                split.2
            )));
        }
        Ok(split)
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn initialize(
        &self,
        request: Request<InitializeRequest>,
    ) -> Result<Response<InitializeResponse>, Status> {
        let members = crate::members::initial_members(request.get_ref())?;
        crate::admission::initialize(
            &self.raft,
            &self.identity,
            members,
            self.admit_timeout,
            &self.channels,
        )
        .await?;
        Ok(Response::new(InitializeResponse {}))
    }

    async fn replica_digest(
        &self,
        _request: Request<ReplicaDigestRequest>,
    ) -> Result<Response<ReplicaDigestResponse>, Status> {
        Ok(Response::new(crate::replica_digest::replica_digest(&self.raft, self.node_id).await?))
    }

    async fn cluster_status(
        &self,
        _request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let (members, joint) = self.members();
        Ok(Response::new(ClusterStatusResponse {
            node_id: self.node_id,
            has_leader: metrics.current_leader.is_some(),
            leader_id: metrics.current_leader.unwrap_or_default(),
            term: metrics.current_term,
            last_log_index: metrics.last_log_index.unwrap_or_default(),
            applied_index: metrics.last_applied.map_or(0, |log_id| log_id.index),
            members,
            snapshot_index: metrics.snapshot.map_or(0, |log_id| log_id.index),
            purged_index: metrics.purged.map_or(0, |log_id| log_id.index),
            preferred_leader_data_center: self.preferred.get(),
            joint,
            cluster_id: self.identity.cluster_id().map(id_text).unwrap_or_default(),
            incarnation_id: id_text(self.identity.incarnation_id()),
            peer_clocks: self.clocks.peer_clocks().into_iter().map(peer_clock).collect(),
        }))
    }

    async fn add_learner(
        &self,
        request: Request<AddLearnerRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let (node_id, info) = crate::members::learner(request.get_ref())?;
        match self.route(is_forwarded(&request)).await? {
            Route::Leader(mut client) => {
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(client.add_learner(forwarded)).await
            }
            // Not blocking: the learner catches up in the background (see admin.proto).
            Route::Here => {
                let added = crate::admission::add_learner(
                    &self.raft,
                    &self.identity,
                    node_id,
                    info,
                    self.admit_timeout,
                    &self.channels,
                )
                .await;
                match added {
                    Ok(written) => self.membership_response(Ok(written)),
                    Err(AddLearnerError::Raft(error)) => self.membership_response(Err(error)),
                    Err(AddLearnerError::Refused(status)) => Err(status),
                }
            }
        }
    }

    async fn promote(
        &self,
        request: Request<PromoteRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let ids = pb_convert::node_ids(&request.get_ref().node_ids)?;
        let forced = pb_convert::force_change(request.get_ref().force.as_ref())?;
        match self.route(is_forwarded(&request)).await? {
            Route::Leader(mut client) => {
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(client.promote(forwarded)).await
            }
            Route::Here => {
                self.check_promotable(&ids)?;
                let mut proposed = self.target_voters();
                proposed.extend(ids);
                self.check_voters("Promote", &proposed, &forced)?;
                let change = ChangeMembers::<NodeId, NodeInfo>::ReplaceAllVoters(proposed);
                self.membership_response(self.raft.change_membership(change, false).await)
            }
        }
    }

    async fn remove(
        &self,
        request: Request<RemoveRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let ids = pb_convert::node_ids(&request.get_ref().node_ids)?;
        let forced = pb_convert::force_change(request.get_ref().force.as_ref())?;
        match self.route(is_forwarded(&request)).await? {
            Route::Leader(mut client) => {
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(client.remove(forwarded)).await
            }
            Route::Here => {
                let (voters, learners, absent) = self.removable(&ids)?;
                let mut outcome = None;
                if !voters.is_empty() {
                    let mut proposed = self.target_voters();
                    proposed.retain(|id| !voters.contains(id));
                    self.check_voters("Remove", &proposed, &forced)?;
                    // `retain = false`: a removed voter leaves the membership, not just the vote.
                    let change = ChangeMembers::<NodeId, NodeInfo>::ReplaceAllVoters(proposed);
                    outcome = Some(
                        self.membership_response(self.raft.change_membership(change, false).await)?,
                    );
                }
                if !learners.is_empty() {
                    let change = ChangeMembers::<NodeId, NodeInfo>::RemoveNodes(learners);
                    outcome = Some(
                        self.membership_response(self.raft.change_membership(change, false).await)?,
                    );
                }
                let mut response = match outcome {
                    Some(response) => response,
                    None if absent.is_empty() => {
                        return Err(Status::invalid_argument("no node ids"));
                    }
                    // Every id is gone already: nothing to change, the membership as it is.
                    None => self.unchanged_response(),
                };
                response.get_mut().already_absent = absent.into_iter().collect();
                Ok(response)
            }
        }
    }

    async fn replace_node(
        &self,
        request: Request<ReplaceNodeRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let (old, new) = (request.get_ref().old_node_id, request.get_ref().new_node_id);
        if old == 0 || new == 0 || old == new {
            return Err(Status::invalid_argument(
                "old_node_id and new_node_id must be two different non-zero ids",
            ));
        }
        let forced = pb_convert::force_change(request.get_ref().force.as_ref())?;
        match self.route(is_forwarded(&request)).await? {
            Route::Leader(mut client) => {
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(client.replace_node(forwarded)).await
            }
            Route::Here => {
                let voters = self.target_voters();
                if voters.contains(&new) && !voters.contains(&old) {
                    // Done already (a retry whose first answer was lost), once settled.
                    let (_, _, absent) = self.removable(&BTreeSet::from([old]))?;
                    if absent.contains(&old) {
                        let mut response = self.unchanged_response();
                        response.get_mut().already_absent = vec![old];
                        return Ok(response);
                    }
                }
                if !voters.contains(&old) {
                    return Err(Status::failed_precondition(format!(
                        "node {old} is not a voter; `tianping cluster remove` takes learners"
                    )));
                }
                if voters.contains(&new) {
                    return Err(Status::failed_precondition(format!(
                        "node {new} is a voter already; replace a voter with a learner"
                    )));
                }
                self.check_promotable(&BTreeSet::from([new]))?;
                let mut proposed = voters;
                proposed.remove(&old);
                proposed.insert(new);
                self.check_voters("ReplaceNode", &proposed, &forced)?;
                // One joint change: old and new voters both commit it; `retain = false` takes
                // the old node out of the membership too.
                let change = ChangeMembers::<NodeId, NodeInfo>::ReplaceAllVoters(proposed);
                self.membership_response(self.raft.change_membership(change, false).await)
            }
        }
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        let to = request.get_ref().to_node_id;
        // Only the leader's membership is current: a follower that has not applied a recent
        // promotion would refuse a valid target, so the checks run after routing.
        match self.route(is_forwarded(&request)).await? {
            Route::Leader(mut client) => {
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(client.transfer_leader(forwarded)).await
            }
            Route::Here => {
                let metrics = self.raft.metrics().borrow_watched().clone();
                if !metrics.membership_config.membership().voter_ids().any(|voter| voter == to) {
                    return Err(Status::invalid_argument(format!(
                        "invalid to_node_id: node {to} is not a voter"
                    )));
                }
                if metrics.current_leader == Some(to) {
                    return Ok(Response::new(TransferLeaderResponse {
                        leader_id: to,
                        term: metrics.current_term,
                    }));
                }
                self.raft
                    .trigger()
                    .transfer_leader(to)
                    .await
                    .map_err(|error| Status::unavailable(format!("raft node stopped: {error}")))?;
                let now = self
                    .raft
                    .wait(Some(TRANSFER_WAIT))
                    .current_leader(to, "leadership transferred")
                    .await
                    .map_err(|error| {
                        Status::deadline_exceeded(format!(
                            "node {to} did not take over within {} ms ({error}); check \
                             `tianping cluster status`",
                            TRANSFER_WAIT.as_millis()
                        ))
                    })?;
                Ok(Response::new(TransferLeaderResponse { leader_id: to, term: now.current_term }))
            }
        }
    }

    async fn set_preferred_leader_data_center(
        &self,
        request: Request<SetPreferredLeaderDataCenterRequest>,
    ) -> Result<Response<SetPreferredLeaderDataCenterResponse>, Status> {
        self.preferred.set(request.into_inner().data_center);
        Ok(Response::new(SetPreferredLeaderDataCenterResponse { node_id: self.node_id }))
    }
}

/// Logs a forced voter change at warn: who (`actor`, and the request's span), why (`reason`),
/// what (the voters before and after) and which rule it overrode, if any. Only this node's
/// log keeps it: the replicated audit trail of admin calls is issue 15's.
fn log_forced(
    rpc: &str,
    actor: &str,
    reason: &str,
    current: &BTreeSet<NodeId>,
    proposed: &BTreeSet<NodeId>,
    refusal: Option<&membership_policy::Refusal>,
) {
    let overridden = refusal.map_or("none", membership_policy::Refusal::rule);
    let refusal = refusal.map(ToString::to_string).unwrap_or_default();
    tracing::warn!(
        rpc,
        actor = if actor.is_empty() { "unknown" } else { actor },
        reason,
        from = ?current,
        to = ?proposed,
        overridden,
        refusal,
        "membership change forced past the voter rules"
    );
}

/// The last log index the leader knows `id` holds (0 before its first match), from its
/// replication metrics; `None` where this node does not replicate to it (not the leader, or
/// not a member it tracks yet).
fn matched_index(metrics: &openraft::RaftMetrics<TypeConfig>, id: &NodeId) -> Option<u64> {
    let replication = metrics.replication.as_ref()?;
    replication.get(id).map(|log_id| log_id.map_or(0, |log_id| log_id.index))
}

/// One peer's clock on the wire, in whole milliseconds (saturating: an offset beyond `i64`
/// milliseconds is no less wrong for being rounded).
fn peer_clock(view: PeerClockView) -> PeerClock {
    const NS_PER_MS: i128 = 1_000_000;
    PeerClock {
        node_id: view.node_id,
        offset_ms: i64::try_from(view.offset_ns / NS_PER_MS).unwrap_or(if view.offset_ns < 0 {
            i64::MIN
        } else {
            i64::MAX
        }),
        uncertainty_ms: view.uncertainty_ns / 1_000_000,
        age_ms: u64::try_from(view.age.as_millis()).unwrap_or(u64::MAX),
        fresh: view.fresh,
    }
}
