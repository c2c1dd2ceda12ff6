//! The checkers, one module per property, run on what a run left behind (`Evidence`) or, for
//! the samplers' properties, on what was sampled while it ran. Each returns its violations as
//! sentences naming ids and nodes; an empty list means it holds. They are the properties of
//! issue 5; the simulation's drills run them after every seed, and real-process drills run the
//! same code on what they observed.
//!
//! - `ledger_invariants`: every replica's ledger passes `tianping_ledger::invariants`
//!   (conservation per ledger, balances equal their transfers, flags, limits, indexes).
//! - `acknowledged`: every acknowledged transfer is in the final state exactly as the client
//!   was told (timestamp, amount), every refused one is absent, no transfer nobody sent
//!   (scoped: a ledger another workload writes, `History::ledgers_judged_elsewhere`, is
//!   accounted for by that workload with `acknowledged::unsent_in_ledger`).
//! - `digests`: replicas at equal applied index have equal state digests.
//! - `reads`: every linearizable read-back of an acknowledged transfer found it.
//! - The committed log's replay (`crate::replay`, not a checker itself) is what the three
//!   checkers below judge against; in a run where every log was purged they are skipped, and
//!   `history_coverage` says why.
//! - `committed_log`: every acknowledged transfer is in the committed log exactly once with
//!   the result the client got (`ok` at the acknowledged index and timestamp, `exists` with
//!   one `ok` somewhere, refusals never `ok`), retries after it are `exists`, nothing
//!   unsent is `ok` (in the clients' ledgers, as above), and the replay's digest equals the
//!   replica's.
//! - `account_controls`: no accepted event in the replayed log passed a block, a freeze or
//!   a limit in force, or half-applied a linked chain (`tianping_ledger::invariants::events`).
//! - `balance_reads`: every linearizable balance read returns the balances after one log
//!   index no lower than anything acknowledged before the read started, no higher than the
//!   commit when it ended, and per client never going back.
//! - `controls_held`: every account's final status and limits are the risk desk's last
//!   acknowledged change or an unanswered one sent after it — never an older change that
//!   arrived late.
//! - `leaders`: at most one leader per term, over `LeaderSample`s taken while the faults run
//!   (the drills that partition a leader use it; its verdict joins the others').
//! - `state_sampler`: the `ledger_invariants` and `digests` properties on every replica
//!   sample taken while the run goes on (the simulation samples every 2 s simulated), and
//!   digests compared across time too (equal applied index, equal digest, whenever and
//!   wherever).
//! - `membership`: after a data-center migration, every remaining node's membership has no
//!   node of the old data center, the new ones as voters, and no joint configuration.
//! - `bank`: the bank drills' properties — each payout executed at most once at the bank
//!   (by end-to-end id and by beneficiary), bank and ledger outcomes agree, every payout final
//!   within a bound after the faults stop, every bank credit booked exactly once, each bank's
//!   books balance.
//! - `reconciliation`: the reconciliation drill's properties — nothing recorded while
//!   traffic is consistent, each injected difference recorded once with its class, amounts
//!   and account within one period, nothing else found (a balance mismatch only as some of the
//!   injected differences' effect), exactly the injected differences' accounts blocked.
//! - `event_time`: every acknowledged event's timestamp — the time its limits, expiries and
//!   leases were judged at — lies within a bound (the largest clock offset a leader may stamp
//!   with) of the true time between its batch's send and answer (`History::timed_batches`).
//! - `liveness`: once faults stop, the cluster commits within a bound and every node catches
//!   up with everything acknowledged.

pub mod account_controls;
pub mod acknowledged;
pub mod balance_reads;
pub mod bank;
pub mod committed_log;
pub mod controls_held;
pub mod digests;
pub mod event_time;
pub mod leaders;
pub mod ledger_invariants;
pub mod liveness;
pub mod membership;
pub mod reads;
pub mod reconciliation;
pub mod state_sampler;

use std::time::Duration;

use crate::cluster::Replica;
use crate::history::History;
use crate::replay::Replay;

/// What a run left for the checkers: plain data the driver gathered once the faults stopped.
pub struct Evidence {
    /// What the clients sent and were told.
    pub history: History,
    /// Every node's replica, read after the run.
    pub replicas: Vec<Replica>,
    /// Nodes that could not be read (down or failing), with why.
    pub unreadable: Vec<String>,
    /// How long after the faults stopped the first write committed (`None`: never, within
    /// the bound), as the driver's clock measured it.
    pub recovery: Option<Duration>,
    /// The bound on `recovery`.
    pub recovery_bound: Duration,
    /// The log index every node had to reach, and the nodes that did not in time.
    pub target_index: u64,
    /// Nodes that did not apply `target_index` in time.
    pub lagging: Vec<u64>,
    /// The committed log replayed (`replay`), or why no replica's log could be.
    pub replay: Result<Replay, String>,
}

/// Runs every checker that judges `Evidence` (the samplers' and the drills' own checks —
/// `leaders`, `state_sampler`, `membership` — are run by whoever took the samples).
pub fn check_all(evidence: &Evidence) -> Vec<String> {
    let mut violations = Vec::new();
    violations.extend(evidence.history.anomalies.iter().map(|a| format!("client: {a}")));
    violations.extend(liveness::check(evidence));
    violations.extend(ledger_invariants::check(&evidence.replicas));
    violations.extend(digests::check(&evidence.replicas));
    violations.extend(acknowledged::check(&evidence.history, &evidence.replicas));
    violations.extend(reads::check(&evidence.history));
    violations.extend(controls_held::check(&evidence.history.controls, &evidence.replicas));
    if let Ok(replay) = &evidence.replay {
        violations.extend(committed_log::check(&evidence.history, replay));
        violations.extend(account_controls::check(replay));
        violations.extend(controls_held::check_order(&evidence.history.controls, replay));
        violations.extend(balance_reads::check(&evidence.history, replay).violations);
    }
    violations
}

/// The words `history_coverage` starts with when the committed log was replayed.
pub const REPLAYED: &str = "committed log replayed from node";

/// What the history checkers covered, for the run's report: whether the committed log was
/// replayed (and from which node), and how many balance reads were held to it. A run whose
/// log was purged passes the history checkers vacuously; this says so.
pub fn history_coverage(evidence: &Evidence) -> String {
    let reads = evidence.history.account_reads.len();
    match &evidence.replay {
        Ok(replay) => {
            let verdict = balance_reads::check(&evidence.history, replay);
            format!(
                "{REPLAYED} {} ({} entries, {} batches, to index {}, {} limited debits and {} account changes observed); {reads} balance reads ({} held to an index, {} past the replay)",
                replay.node_id,
                replay.entries,
                replay.batches,
                replay.last_index,
                replay.limited_debits,
                replay.account_changes,
                verdict.checked,
                verdict.beyond_replay
            )
        }
        Err(reason) => {
            format!("committed log not replayed ({reason}); {reads} balance reads not checked")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{REPLAYED, check_all, history_coverage};
    use crate::testing::{assert_one, posted, read, standard};

    #[test]
    fn a_truthful_run_passes_every_checker() {
        let mut run = standard();
        run.history.account_reads.push(read(0, 4, vec![(1, Some(posted(100, 25)))]));
        let evidence = run.evidence();
        assert_eq!(check_all(&evidence), Vec::<String>::new());
        let coverage = history_coverage(&evidence);
        assert!(
            coverage.starts_with(REPLAYED) && coverage.contains("(1 held to an index"),
            "{coverage}"
        );
    }

    #[test]
    fn every_finding_is_reported_and_a_purged_log_is_said() {
        let mut run = standard();
        run.history.anomalies.push("batch of 2 answered with 1 results".into());
        run.log.remove(1);
        let evidence = run.evidence();
        assert_one(&check_all(&evidence), "client: batch of 2 answered with 1 results");
        let coverage = history_coverage(&evidence);
        assert!(coverage.starts_with("committed log not replayed (log has a hole"), "{coverage}");
    }
}
