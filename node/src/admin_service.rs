//! The cluster administration API (`tianping.v1.Admin`), served on the client address:
//! `Initialize` makes a brand-new cluster from a list of voters, `ClusterStatus` reports this
//! node's view (members, leader, term, log indexes). `tianping dev up` uses both: it starts
//! every node on a free port, learns the ports the nodes bound, then initializes the cluster
//! through node 1 — the addresses are only known after the nodes are up, so a config file
//! written beforehand could not list them.

use openraft::async_runtime::watch::WatchReceiver;
use tonic::{Request, Response, Status};

use crate::pb::v1::admin_server::Admin;
use crate::pb::v1::{
    ClusterStatusRequest, ClusterStatusResponse, InitializeRequest, InitializeResponse,
};
use crate::{LedgerRaft, pb_convert};

/// Serves `tianping.v1.Admin` for one node.
pub(crate) struct AdminService {
    raft: LedgerRaft,
    node_id: u64,
}

impl AdminService {
    pub(crate) fn new(raft: LedgerRaft, node_id: u64) -> Self {
        AdminService { raft, node_id }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn initialize(
        &self,
        request: Request<InitializeRequest>,
    ) -> Result<Response<InitializeResponse>, Status> {
        let members = pb_convert::initial_members(request.get_ref())?;
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
        let membership = metrics.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(node_id, info)| pb_convert::member(*node_id, info, voters.contains(node_id)))
            .collect();
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
        }))
    }
}
