//! Liveness: once the faults stop (partitions healed, crashed nodes restarted), a write
//! commits within `Evidence::recovery_bound`, and every node applies everything acknowledged
//! within the drill's catch-up bound; and every node can be read. And the load made
//! progress: a cluster that answers every batch but commits no transfer `ok` (accounts lost,
//! every write refused) is not available, however promptly it answers.

use super::Evidence;

/// Answered batches after which at least one transfer must have been committed `ok`: the
/// clients' valid transfers between active accounts succeed unless the cluster is broken.
const PROGRESS_BATCHES_MIN: u64 = 20;

/// Violations: no recovery in time, nodes that did not catch up, nodes unreadable.
pub fn check(evidence: &Evidence) -> Vec<String> {
    let mut violations = Vec::new();
    match evidence.recovery {
        Some(recovery) if recovery <= evidence.recovery_bound => {}
        Some(recovery) => violations.push(format!(
            "the cluster took {recovery:?} to commit after the faults stopped (bound {:?})",
            evidence.recovery_bound
        )),
        None => violations.push(format!(
            "the cluster committed nothing within {:?} after the faults stopped",
            evidence.recovery_bound
        )),
    }
    for node_id in &evidence.lagging {
        violations
            .push(format!("node {node_id} did not apply index {} in time", evidence.target_index));
    }
    violations.extend(evidence.unreadable.iter().cloned());
    let history = &evidence.history;
    let committed_ok = history.acks.values().filter(|ack| ack.code_name == "ok").count();
    if history.batches_acked >= PROGRESS_BATCHES_MIN && committed_ok == 0 {
        violations.push(format!(
            "no progress: {} batches ({} transfers) were answered and not one transfer was committed `ok`",
            history.batches_acked,
            history.acks.len()
        ));
    }
    violations
}
