//! When a cluster counts as up: pure checks over the nodes' `ClusterStatus` answers.

use tianping_proto::v1::ClusterStatusResponse;

/// The leader's id when the cluster is healthy, else what is missing, in words.
///
/// Healthy: `expected` nodes answered, all know the same leader and all `expected` members,
/// the leader has applied its whole log (a new leader commits an entry of its term first, so
/// then a quorum holds that entry), and every node has applied that far.
pub fn healthy(statuses: &[ClusterStatusResponse], expected: usize) -> Result<u64, String> {
    if statuses.len() < expected {
        return Err(format!("{} of {expected} nodes answer", statuses.len()));
    }
    let Some(first) = statuses.iter().find(|status| status.has_leader) else {
        return Err("no leader elected yet".to_owned());
    };
    let leader = first.leader_id;
    if !statuses.iter().all(|status| status.has_leader && status.leader_id == leader) {
        return Err(format!("not every node knows leader {leader} yet"));
    }
    if !statuses.iter().all(|status| status.members.len() == expected) {
        return Err("not every node knows all members yet".to_owned());
    }
    let Some(leader_status) = statuses.iter().find(|status| status.node_id == leader) else {
        return Err(format!("leader {leader} did not answer"));
    };
    let committed = leader_status.applied_index;
    if committed == 0 || committed < leader_status.last_log_index {
        return Err(format!("leader {leader} has not committed an entry of its term yet"));
    }
    let caught_up = statuses.iter().filter(|status| status.applied_index >= committed).count();
    if caught_up < expected {
        return Err(format!("{caught_up} of {expected} nodes applied index {committed}"));
    }
    Ok(leader)
}

#[cfg(test)]
mod tests {
    use tianping_proto::v1::Member;

    use super::*;

    fn status(node_id: u64, leader: Option<u64>, applied: u64, last: u64) -> ClusterStatusResponse {
        ClusterStatusResponse {
            node_id,
            has_leader: leader.is_some(),
            leader_id: leader.unwrap_or_default(),
            applied_index: applied,
            last_log_index: last,
            members: (1..=3).map(|node_id| Member { node_id, ..Member::default() }).collect(),
            ..ClusterStatusResponse::default()
        }
    }

    #[test]
    fn healthy_needs_one_leader_and_everyone_applied() {
        let up = [status(1, Some(2), 5, 5), status(2, Some(2), 5, 5), status(3, Some(2), 5, 5)];
        assert_eq!(healthy(&up, 3), Ok(2));
        assert!(healthy(&up[..2], 3).expect_err("one silent").contains("2 of 3"));
        let electing = [status(1, None, 5, 5), status(2, None, 5, 5), status(3, None, 5, 5)];
        assert!(healthy(&electing, 3).is_err());
        let split = [status(1, Some(1), 5, 5), status(2, Some(2), 5, 5), status(3, Some(2), 5, 5)];
        assert!(healthy(&split, 3).expect_err("two leaders").contains("leader 1"));
        let uncommitted =
            [status(1, Some(2), 5, 6), status(2, Some(2), 5, 6), status(3, Some(2), 5, 6)];
        assert!(healthy(&uncommitted, 3).expect_err("behind").contains("not committed"));
        let lagging =
            [status(1, Some(2), 4, 5), status(2, Some(2), 5, 5), status(3, Some(2), 5, 5)];
        assert!(healthy(&lagging, 3).expect_err("one behind").contains("2 of 3"));
    }
}
