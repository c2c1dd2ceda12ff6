//! Liveness: once the faults stop (partitions healed, crashed nodes restarted), a write
//! commits within `Evidence::recovery_bound`, and every node applies everything acknowledged
//! within the drill's catch-up bound; and every node can be read.

use super::Evidence;

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
    violations
}
