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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{LeaderSample, check};
    use crate::testing::assert_one;

    fn led(at_ms: u64, node_id: u64, term: u64) -> LeaderSample {
        LeaderSample { at: Duration::from_millis(at_ms), node_id, term }
    }

    #[test]
    fn one_leader_per_term_holds() {
        let samples = [led(0, 1, 1), led(20, 1, 1), led(900, 3, 2), led(2_000, 1, 3)];
        assert_eq!(check(&samples), Vec::<String>::new());
    }

    #[test]
    fn two_leaders_in_one_term_fail() {
        let samples = [led(0, 1, 2), led(40, 1, 2), led(1_500, 4, 2), led(3_000, 4, 3)];
        assert_one(
            &check(&samples),
            "term 2 had more than one leader: nodes [1, 4] (first seen at 0.000s, 1.500s)",
        );
    }
}
