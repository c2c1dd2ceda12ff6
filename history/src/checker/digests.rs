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
