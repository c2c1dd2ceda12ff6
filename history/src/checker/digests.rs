//! Replicas that applied the same log prefix hold the same state: equal applied index means
//! equal state digest (`tianping_ledger::state_digest`). A node that applied an entry
//! differently, twice, or lost one without re-applying it breaks this.

use std::collections::BTreeMap;

use crate::cluster::Replica;

/// Violations: each applied index at which replicas disagree.
pub fn check(replicas: &[Replica]) -> Vec<String> {
    let mut by_index: BTreeMap<u64, Vec<&Replica>> = BTreeMap::new();
    for replica in replicas {
        by_index.entry(replica.applied).or_default().push(replica);
    }
    by_index
        .into_iter()
        .filter_map(|(index, group)| {
            let first = group.first()?;
            let disagree = group.iter().any(|replica| replica.digest != first.digest);
            disagree.then(|| {
                let digests: Vec<String> = group
                    .iter()
                    .map(|replica| {
                        format!("node {}: {:02x?}", replica.node_id, &replica.digest.0[..6])
                    })
                    .collect();
                format!("replicas at applied index {index} differ: {}", digests.join(", "))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use tianping_ledger::StateDigest;

    use super::check;
    use crate::testing::{accounts, assert_one, run, standard};

    #[test]
    fn replicas_at_different_indexes_may_differ() {
        let behind = run(vec![accounts()]).replica;
        let mut ahead = standard().replica;
        ahead.node_id = 2;
        assert_eq!(check(&[behind, ahead]), Vec::<String>::new());
    }

    #[test]
    fn replicas_at_one_index_with_different_states_fail() {
        let first = standard().replica;
        let mut second = first.clone();
        second.node_id = 2;
        assert_eq!(check(&[first.clone(), second.clone()]), Vec::<String>::new());
        second.digest = StateDigest([1; 32]);
        assert_one(&check(&[first, second]), "replicas at applied index 4 differ");
    }
}
