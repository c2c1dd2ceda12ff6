//! Replica states sampled while the faults run, not only at the end. A sampler reads each
//! running node's replica every few seconds and hands it to `StateSamples::observe`: its
//! ledger must pass the ledger invariants at that instant, and its digest at its applied index
//! must equal the digest any node had at that index at any earlier sample. The end-of-run
//! checkers (`ledger_invariants`, `digests`) see only final states, which a later snapshot
//! install or catch-up can make right again; a replica that diverged for a while and was then
//! overwritten shows up here. How often to sample and how long a read may take are the
//! sampler's business (the simulation's `sampler` task), not the check's.

use std::collections::BTreeMap;
use std::time::Duration;

use tianping_ledger::StateDigest;
use tianping_ledger::invariants::{StateDump, check_all};

use crate::cluster::Replica;

/// Violations kept: a diverged replica repeats its violation at every sample, and a run
/// samples for minutes.
pub const VIOLATIONS_MAX: usize = 20;

/// What the samples so far showed.
#[derive(Debug, Default)]
pub struct StateSamples {
    /// The first digest seen at each applied index: the digest, which node had it, and when.
    first_seen: BTreeMap<u64, (StateDigest, u64, Duration)>,
    /// At most `VIOLATIONS_MAX`, the first found.
    violations: Vec<String>,
    /// Replica samples observed: proves the property was exercised.
    samples: u64,
}

impl StateSamples {
    /// Judges `replica` as read at `at` (since the run began), against the invariants and
    /// every digest seen before at its applied index.
    pub fn observe(&mut self, at: Duration, replica: &Replica) {
        self.samples += 1;
        let (node_id, now_ms) = (replica.node_id, at.as_millis());
        let mut found: Vec<String> = check_all(&StateDump::load(&replica.ledger))
            .into_iter()
            .map(|violation| {
                format!("node {node_id} at {now_ms} ms (applied {}): {violation}", replica.applied)
            })
            .collect();
        match self.first_seen.get(&replica.applied) {
            Some((digest, first_node, first_at)) if *digest != replica.digest => {
                found.push(format!(
                    "node {node_id} at {now_ms} ms holds a different state at applied index {} than node {first_node} held at {} ms",
                    replica.applied,
                    first_at.as_millis()
                ));
            }
            Some(_) => {}
            None => {
                self.first_seen.insert(replica.applied, (replica.digest, node_id, at));
            }
        }
        let room = VIOLATIONS_MAX.saturating_sub(self.violations.len());
        self.violations.extend(found.into_iter().take(room));
    }

    /// How many replica samples were observed.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The violations found, in the order found.
    pub fn into_violations(self) -> Vec<String> {
        self.violations
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tianping_ledger::{LedgerStore, LedgerStoreMut, StateDigest, WriteSet};

    use super::{StateSamples, VIOLATIONS_MAX};
    use crate::testing::{accounts, assert_one, run, standard};

    #[test]
    fn consistent_samples_hold() {
        let mut samples = StateSamples::default();
        samples.observe(Duration::from_secs(2), &run(vec![accounts()]).replica);
        let mut same = standard().replica;
        samples.observe(Duration::from_secs(4), &same);
        same.node_id = 2;
        samples.observe(Duration::from_secs(6), &same);
        assert_eq!(samples.samples(), 3);
        assert_eq!(samples.into_violations(), Vec::<String>::new());
    }

    #[test]
    fn a_replica_that_differs_from_an_earlier_one_at_its_index_fails() {
        let mut samples = StateSamples::default();
        samples.observe(Duration::from_secs(2), &standard().replica);
        let mut diverged = standard().replica;
        diverged.node_id = 2;
        diverged.digest = StateDigest([3; 32]);
        samples.observe(Duration::from_secs(4), &diverged);
        assert_one(
            &samples.into_violations(),
            "node 2 at 4000 ms holds a different state at applied index 4 than node 1 held at 2000 ms",
        );
    }

    #[test]
    fn a_replica_breaking_an_invariant_fails_and_repeats_are_bounded() {
        let mut broken = standard().replica;
        let Some(mut account) = broken.ledger.account(1) else { panic!("account 1 exists") };
        account.debits_posted += 1;
        let writes =
            WriteSet { accounts: vec![account], meta: broken.ledger.meta(), ..WriteSet::default() };
        broken.ledger.commit(&writes);
        let mut samples = StateSamples::default();
        samples.observe(Duration::from_secs(2), &broken);
        let found = samples.into_violations();
        assert!(
            !found.is_empty()
                && found.iter().all(|v| v.starts_with("node 1 at 2000 ms (applied 4)")),
            "{found:#?}"
        );
        let mut samples = StateSamples::default();
        for second in 0..100 {
            samples.observe(Duration::from_secs(second), &broken);
        }
        assert_eq!(samples.into_violations().len(), VIOLATIONS_MAX);
    }
}
