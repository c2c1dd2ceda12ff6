//! Election safety: at most one leader per term. A sampler records, every few milliseconds
//! while the faults run, which running node believes it leads and in which term
//! (`LeaderSample`); two different nodes leading in one term is a split brain. Sampling can
//! miss a short-lived leader, never invent one, so a violation here is always real.

use std::collections::BTreeMap;
use std::time::Duration;

/// One running node seen believing it leads, in a term: what the sampler reads from the
/// nodes. A sampler may keep only the first sample of each (term, node) pair — the check needs
/// no more — which bounds its memory by the number of elections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderSample {
    /// When, since the run began: says in a violation when the second leader appeared.
    pub at: Duration,
    /// The node that declared itself leader.
    pub node_id: u64,
    /// Its term.
    pub term: u64,
}

/// Violations: every term in which more than one node led. `samples` in the order they were
/// taken.
pub fn check(samples: &[LeaderSample]) -> Vec<String> {
    let mut by_term: BTreeMap<u64, Vec<&LeaderSample>> = BTreeMap::new();
    for sample in samples {
        let leaders = by_term.entry(sample.term).or_default();
        if !leaders.iter().any(|seen| seen.node_id == sample.node_id) {
            leaders.push(sample);
        }
    }
    by_term
        .into_iter()
        .filter(|(_, leaders)| leaders.len() > 1)
        .map(|(term, leaders)| {
            let nodes: Vec<u64> = leaders.iter().map(|sample| sample.node_id).collect();
            let seen: Vec<String> =
                leaders.iter().map(|sample| format!("{:.3}s", sample.at.as_secs_f64())).collect();
            format!(
                "term {term} had more than one leader: nodes {nodes:?} (first seen at {})",
                seen.join(", ")
            )
        })
        .collect()
}
