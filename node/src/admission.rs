//! The two operator actions that admit a store to a cluster (`identity`): initializing a new
//! cluster, and adding a learner. Nothing else makes a node with an empty store a member.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use tianping_proto::raft::raft_client::RaftClient;
use tianping_proto::raft::{AdmitRequest, AdmitResponse};
use tianping_raft_store::{NodeId, NodeInfo, TypeConfig};
use tianping_tls::Channels;
use tonic::Status;

use crate::LedgerRaft;
use crate::identity::{NodeIdentity, id_text};

/// Makes a new cluster of `members`: admits this node's store (to the cluster it was admitted
/// to already by an earlier attempt, else to a new one), then every other member's through its
/// `Admit`, then initializes openraft. A node that holds Raft state refuses as openraft does,
/// before any peer is asked; a member that cannot be admitted fails the whole call before
/// openraft initializes, and a retry reuses this node's cluster id.
pub(crate) async fn initialize(
    raft: &LedgerRaft,
    identity: &NodeIdentity,
    members: BTreeMap<NodeId, NodeInfo>,
    admit_timeout: Duration,
    channels: &Channels,
) -> Result<(), Status> {
    if !identity.holds_raft_state()? {
        let cluster_id = match identity.cluster_id() {
            Some(admitted) => admitted,
            None => {
                identity.new_cluster_id().map_err(|error| Status::internal(error.to_string()))?
            }
        };
        identity.admit(cluster_id)?;
        for (node_id, info) in &members {
            if *node_id != identity.node_id() {
                admit_remote(&info.raft_address, *node_id, cluster_id, admit_timeout, channels)
                    .await?;
            }
        }
    }
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(error) => match error.api_error() {
            Some(refused) => Err(Status::failed_precondition(refused.to_string())),
            None => Err(Status::unavailable(format!("raft node stopped: {error}"))),
        },
    }
}

/// On the leader: admits the learner's store to this cluster, then adds it (not waiting for it
/// to catch up). A voter's id is refused: a voter is never added again as a learner, since the
/// one way that would be needed — its disk was replaced — is the case identities exist to stop.
pub(crate) async fn add_learner(
    raft: &LedgerRaft,
    identity: &NodeIdentity,
    node_id: NodeId,
    info: NodeInfo,
    admit_timeout: Duration,
    channels: &Channels,
) -> Result<openraft::raft::ClientWriteResponse<TypeConfig>, AddLearnerError> {
    let voter = {
        let metrics = raft.metrics().borrow_watched().clone();
        metrics.membership_config.membership().voter_ids().any(|id| id == node_id)
    };
    if voter {
        return Err(AddLearnerError::Refused(Status::failed_precondition(format!(
            "node {node_id} is a voter; a voter is never added again as a learner. If its disk \
             was replaced, start it under a new id, add that id as a learner and run `tianping \
             cluster replace-node --old {node_id} --new <NEW_ID>`"
        ))));
    }
    let cluster_id = identity.cluster_id().ok_or_else(|| {
        AddLearnerError::Refused(Status::failed_precondition(
            "this node's store belongs to no cluster; it cannot add learners",
        ))
    })?;
    let admitted = admit_remote(&info.raft_address, node_id, cluster_id, admit_timeout, channels)
        .await
        .map_err(AddLearnerError::Refused)?;
    tracing::info!(
        node_id,
        incarnation_id = %admitted.incarnation_id,
        "learner's store admitted; adding it"
    );
    raft.add_learner(node_id, info, false).await.map_err(AddLearnerError::Raft)
}

/// Why `add_learner` did not add the learner.
pub(crate) enum AddLearnerError {
    /// Refused before openraft was asked (a voter's id, an Admit that failed).
    Refused(Status),
    /// openraft's own refusal or failure.
    Raft(RaftError<TypeConfig, ClientWriteError<TypeConfig>>),
}

/// Asks the node at `raft_address` (node `node_id`) to admit its store to `cluster_id`.
pub(crate) async fn admit_remote(
    raft_address: &str,
    node_id: NodeId,
    cluster_id: u128,
    timeout: Duration,
    channels: &Channels,
) -> Result<AdmitResponse, Status> {
    let channel = crate::network::lazy_channel(channels, raft_address).map_err(|error| {
        Status::invalid_argument(format!("node {node_id}'s raft address {raft_address:?}: {error}"))
    })?;
    let request = AdmitRequest { cluster_id: id_text(cluster_id), node_id };
    let mut client = RaftClient::new(channel);
    let call = client.admit(request);
    match crate::runtime::timeout(timeout, call).await {
        Err(_elapsed) => Err(Status::unavailable(format!(
            "node {node_id} at {raft_address} did not answer Admit within {timeout:?}; is it \
             running?"
        ))),
        Ok(Err(status)) => Err(Status::new(
            status.code(),
            format!("node {node_id} at {raft_address} refused Admit: {}", status.message()),
        )),
        Ok(Ok(response)) => Ok(response.into_inner()),
    }
}
