//! The cluster administration API (`tianping.v1.Admin`), served on the client address.
//!
//! - `Initialize` makes a brand-new cluster from a list of voters; `ClusterStatus` reports
//!   this node's view (members with region, data center and, on the leader, replication lag;
//!   leader, term, log indexes). `tianping dev up` uses both: it starts every node on a free
//!   port, learns the ports the nodes bound, then initializes the cluster through node 1 — the
//!   addresses are only known after the nodes are up, so a config file written beforehand
//!   could not list them.
//! - Membership changes (`AddLearner`, `Promote`, `Remove`, `TransferLeader`) run on the
//!   leader; any other member forwards them one hop (`forward`), as client writes are.
//!   openraft does the work: learners through `add_learner`, voter changes through
//!   `change_membership` (joint consensus), leadership through `trigger().transfer_leader`.
//! - `SetPreferredLeaderDataCenter` sets this node's preference, read by `preferred_leader`.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use tianping_raft_store::{NodeId, NodeInfo, TypeConfig};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::LedgerRaft;
use crate::forward::LeaderForwarder;
use crate::headers::is_forwarded;
use crate::preferred_leader::PreferredDataCenter;
use tianping_proto::convert as pb_convert;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::admin_server::Admin;
use tianping_proto::v1::{
    AddLearnerRequest, ClusterStatusRequest, ClusterStatusResponse, InitializeRequest,
    InitializeResponse, Member, MembershipResponse, PromoteRequest, RemoveRequest,
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
    forwarder: LeaderForwarder,
    preferred: PreferredDataCenter,
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

impl AdminService {
    pub(crate) fn new(
        raft: LedgerRaft,
        node_id: NodeId,
        forward_timeout: Duration,
        preferred: PreferredDataCenter,
    ) -> Self {
        let forwarder = LeaderForwarder::new(raft.clone(), forward_timeout);
        AdminService { raft, node_id, forwarder, preferred }
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
                if let Some(replication) = &metrics.replication {
                    // The leader itself is not in its replication map: it holds the whole log.
                    let matched = if *node_id == self.node_id {
                        Some(last_log_index)
                    } else {
                        replication.get(node_id).map(|log_id| log_id.map_or(0, |id| id.index))
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
            let matched = metrics.replication.as_ref().and_then(|replication| {
                replication.get(id).map(|log_id| log_id.map_or(0, |log_id| log_id.index))
            });
            match matched {
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
        match self.raft.initialize(members).await {
            Ok(()) => Ok(Response::new(InitializeResponse {})),
            Err(error) => match error.api_error() {
                Some(refused) => Err(Status::failed_precondition(refused.to_string())),
                None => Err(Status::unavailable(format!("raft node stopped: {error}"))),
            },
        }
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
                self.membership_response(self.raft.add_learner(node_id, info, false).await)
            }
        }
    }

    async fn promote(
        &self,
        request: Request<PromoteRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let ids = pb_convert::node_ids(&request.get_ref().node_ids)?;
        match self.route(is_forwarded(&request)).await? {
            Route::Leader(mut client) => {
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(client.promote(forwarded)).await
            }
            Route::Here => {
                self.check_promotable(&ids)?;
                let change = ChangeMembers::<NodeId, NodeInfo>::AddVoterIds(ids);
                self.membership_response(self.raft.change_membership(change, false).await)
            }
        }
    }

    async fn remove(
        &self,
        request: Request<RemoveRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let ids = pb_convert::node_ids(&request.get_ref().node_ids)?;
        match self.route(is_forwarded(&request)).await? {
            Route::Leader(mut client) => {
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(client.remove(forwarded)).await
            }
            Route::Here => {
                let (voters, learners, absent) = self.removable(&ids)?;
                let mut outcome = None;
                if !voters.is_empty() {
                    // `retain = false`: a removed voter leaves the membership, not just the vote.
                    let change = ChangeMembers::<NodeId, NodeInfo>::RemoveVoters(voters);
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
                    None => {
                        let metrics = self.raft.metrics().borrow_watched().clone();
                        Response::new(MembershipResponse {
                            leader_id: self.node_id,
                            log_index: metrics
                                .membership_config
                                .log_id()
                                .as_ref()
                                .map_or(0, |id| id.index),
                            members: self.members().0,
                            already_absent: Vec::new(),
                        })
                    }
                };
                response.get_mut().already_absent = absent.into_iter().collect();
                Ok(response)
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
