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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{PROGRESS_BATCHES_MIN, check};
    use crate::testing::{assert_one, standard};

    #[test]
    fn a_cluster_that_recovered_and_caught_up_holds() {
        assert_eq!(check(&standard().evidence()), Vec::<String>::new());
    }

    #[test]
    fn no_commit_after_the_faults_fails() {
        let mut evidence = standard().evidence();
        evidence.recovery = None;
        assert_one(&check(&evidence), "committed nothing within 15s");
        evidence.recovery = Some(Duration::from_secs(16));
        assert_one(&check(&evidence), "took 16s to commit");
    }

    #[test]
    fn a_node_that_never_caught_up_or_could_not_be_read_fails() {
        let mut evidence = standard().evidence();
        evidence.target_index = 4;
        evidence.lagging = vec![2];
        assert_one(&check(&evidence), "node 2 did not apply index 4 in time");
        evidence.lagging.clear();
        evidence.unreadable = vec!["node 3 is down".into()];
        assert_one(&check(&evidence), "node 3 is down");
    }

    #[test]
    fn answers_without_a_single_ok_fail() {
        let mut evidence = standard().evidence();
        evidence.history.batches_acked = PROGRESS_BATCHES_MIN;
        for ack in evidence.history.acks.values_mut() {
            ack.code_name = "exceeds_credits".into();
        }
        assert_one(&check(&evidence), "no progress");
    }
}
