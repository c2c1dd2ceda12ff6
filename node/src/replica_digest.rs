//! `Admin/ReplicaDigest`: this node's applied index and the state digest of its ledger at
//! exactly that index, for drills on real processes (issue 14) to check that the replicas
//! agree once converged. Both are read inside the state machine's task, between two entries,
//! so the digest belongs to the index it is answered with. Read-only and never forwarded: it
//! is a question about this replica, not the cluster.

use openraft::storage::RaftStateMachine;
use tianping_proto::v1::ReplicaDigestResponse;
use tonic::Status;

use crate::{LedgerRaft, StateMachineStore};

/// Reads this node's applied index and the digest of its ledger at that index (the whole
/// state is read: costly on a large ledger).
pub(crate) async fn replica_digest(
    raft: &LedgerRaft,
    node_id: u64,
) -> Result<ReplicaDigestResponse, Status> {
    let outcome = raft
        .with_state_machine(move |machine: &mut StateMachineStore| {
            Box::pin(async move {
                let (applied, _membership) = machine.applied_state().await?;
                let digest = machine.state_digest()?;
                Ok::<_, std::io::Error>((applied.map_or(0, |log_id| log_id.index), digest))
            })
        })
        .await
        .map_err(|error| Status::unavailable(format!("raft node stopped: {error}")))?;
    let (applied_index, digest) =
        outcome.map_err(|error| Status::internal(format!("reading the replica: {error}")))?;
    Ok(ReplicaDigestResponse { node_id, applied_index, state_digest: digest.0.to_vec() })
}
