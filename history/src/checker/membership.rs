//! After a data-center migration: the final membership, as every remaining node sees it, has
//! no node of the data center moved out of, has every new node as a voter, and is not a joint
//! configuration (no change left in flight).

/// One node's view: its voters, learners and whether the configuration is joint (`None`: the
/// node could not be read).
pub type View = (u64, Option<(Vec<u64>, Vec<u64>, bool)>);

/// Violations over every view.
pub fn check(views: &[View], removed: &[u64], added: &[u64]) -> Vec<String> {
    let mut violations = Vec::new();
    for (node_id, view) in views {
        let Some((voters, learners, joint)) = view else {
            violations.push(format!("node {node_id}: membership unreadable (node down)"));
            continue;
        };
        for id in removed {
            if voters.contains(id) || learners.contains(id) {
                violations.push(format!(
                    "node {node_id}: removed node {id} is still a member (voters {voters:?}, learners {learners:?})"
                ));
            }
        }
        for id in added {
            if !voters.contains(id) {
                violations.push(format!(
                    "node {node_id}: new node {id} is not a voter (voters {voters:?}, learners {learners:?})"
                ));
            }
        }
        if *joint {
            violations.push(format!("node {node_id}: the membership is still joint"));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::{View, check};
    use crate::testing::assert_one;

    /// Nodes 5 and 6 replaced by 7 and 8.
    fn check_one(view: View) -> Vec<String> {
        check(&[view], &[5, 6], &[7, 8])
    }

    #[test]
    fn a_finished_migration_holds() {
        assert_eq!(check_one((1, Some((vec![1, 2, 7, 8], vec![], false)))), Vec::<String>::new());
    }

    #[test]
    fn an_unfinished_migration_fails() {
        assert_one(
            &check_one((1, Some((vec![1, 2, 7, 8], vec![5], false)))),
            "removed node 5 is still a member",
        );
        assert_one(
            &check_one((1, Some((vec![1, 2, 7], vec![8], false)))),
            "new node 8 is not a voter",
        );
        assert_one(&check_one((1, Some((vec![1, 2, 7, 8], vec![], true)))), "still joint");
        assert_one(&check_one((2, None)), "node 2: membership unreadable");
    }
}
