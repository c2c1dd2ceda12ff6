//! Balance reads are linearizable against the Raft total order. Each answered
//! `history::AccountRead` must return, for all its accounts at once, the balances after one
//! log index `i` of the replayed committed log (`crate::replay`) with
//! - `i` ≥ the highest log index of any batch acknowledged, to any client, before the read
//!   started (`History::acked_batches`, ordered with the reads by `History::sequence`),
//!   and ≥ the applied index the answer claims to reflect;
//! - `i` ≤ the highest index any running node knew committed when the answer arrived
//!   (`AccountRead::committed_bound`); when the answering node was down by then, or the
//!   bound is past the replay, the replay's last index bounds it instead, and a read that
//!   matches nothing up to there but could match past it is counted, not judged;
//! - per client, `i` never goes back from one read to the next (each read takes the
//!   smallest `i` that fits, which leaves the most room to the next).
//!
//! A stale read (served from a replica behind the commit) breaks the first bound; a read of
//! a state no prefix of the committed log produces (an entry applied twice, lost or out of
//! order) matches no `i` at all.
//!
//! Cost: acknowledgements are sorted once with a running maximum (a binary search per read);
//! each read walks only its accounts' changes inside its window.

use std::collections::BTreeMap;

use crate::history::{AccountRead, Balances, History};
use crate::replay::Replay;

/// A closed range of log indexes.
type Span = (u64, u64);

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Reads that match no index in their window.
    pub violations: Vec<String>,
    /// Reads held to a log index.
    pub checked: usize,
    /// Reads that matched nothing up to the replay's end but whose window goes past it.
    pub beyond_replay: usize,
}

/// The spans of `[low, high]` in which the account with change points `changes` (ascending
/// index, balances after it) has balances `expected` (`None`: does not exist yet).
fn spans_equal(
    changes: &[(u64, Balances)],
    expected: Option<Balances>,
    low: u64,
    high: u64,
) -> Vec<Span> {
    let mut spans = Vec::new();
    // The changes at or before `low`: the last one is the state at `low`.
    let mut next = changes.partition_point(|(index, _)| *index <= low);
    let mut state = next.checked_sub(1).and_then(|at| changes.get(at)).map(|(_, b)| *b);
    let mut start = low;
    loop {
        let change = changes.get(next).filter(|(index, _)| *index <= high);
        let end = change.map_or(high, |(index, _)| index.saturating_sub(1));
        if state == expected && start <= end {
            spans.push((start, end));
        }
        let Some((index, balances)) = change else { break };
        start = *index;
        state = Some(*balances);
        next += 1;
    }
    spans
}

/// The spans in both `a` and `b` (each ascending and disjoint).
fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        let (low, high) = (x.0.max(y.0), x.1.min(y.1));
        if low <= high {
            out.push((low, high));
        }
        if x.1 < y.1 { i += 1 } else { j += 1 }
    }
    out
}

/// The spans of `[low, high]` at which every account of `read` has the balances the read
/// returned.
fn matches(replay: &Replay, read: &AccountRead, low: u64, high: u64) -> Vec<Span> {
    let mut spans = if low <= high { vec![(low, high)] } else { Vec::new() };
    for (id, expected) in &read.accounts {
        if spans.is_empty() {
            break;
        }
        let changes = replay.balances.get(id).map(Vec::as_slice).unwrap_or_default();
        spans = intersect(&spans, &spans_equal(changes, *expected, low, high));
    }
    spans
}

/// How a read reads in a violation.
fn describe(read: &AccountRead) -> String {
    let accounts: Vec<String> = read
        .accounts
        .iter()
        .map(|(id, balances)| match balances {
            Some(balances) => format!("{id}: {balances}"),
            None => format!("{id}: absent"),
        })
        .collect();
    format!(
        "client {} read on node {} (started at {:.3}s, took {:?}; the answer claims applied index {}): {}",
        read.client,
        read.node_id,
        read.started.as_secs_f64(),
        read.ended.saturating_sub(read.started),
        read.applied_index,
        accounts.join(", ")
    )
}

/// Holds every balance read of `history` to the replayed log's order.
pub fn check(history: &History, replay: &Replay) -> Verdict {
    let mut verdict = Verdict::default();
    // The highest acknowledged index among the first k acknowledgements, for every k.
    let mut acked: Vec<(u64, u64)> =
        history.acked_batches.iter().map(|batch| (batch.sequence, batch.log_index)).collect();
    acked.sort_unstable();
    let mut highest = 0;
    for (_, index) in &mut acked {
        highest = highest.max(*index);
        *index = highest;
    }
    let mut reads: Vec<&AccountRead> = history.account_reads.iter().collect();
    reads.sort_by_key(|read| read.sequence);
    let mut last_by_client: BTreeMap<u32, u64> = BTreeMap::new();
    for read in reads {
        let before = acked.partition_point(|(sequence, _)| *sequence < read.sequence);
        let acked_before = before.checked_sub(1).and_then(|k| acked.get(k)).map_or(0, |a| a.1);
        let previous = last_by_client.get(&read.client).copied().unwrap_or(0);
        let low = acked_before.max(read.applied_index).max(previous);
        let bound = read.committed_bound.unwrap_or(replay.last_index);
        let high = bound.min(replay.last_index);
        if let Some(&(index, _)) = matches(replay, read, low, high).first() {
            verdict.checked += 1;
            last_by_client.insert(read.client, index);
            continue;
        }
        if bound > replay.last_index {
            verdict.beyond_replay += 1;
            continue;
        }
        // Say which bound failed: the latest index the balances match at all, if any.
        let latest = matches(replay, read, 0, high).last().map(|span| span.1);
        verdict.violations.push(format!(
            "non-linearizable balance read: {} — needs a log index in [{low}, {high}] (acknowledged before it: {acked_before}; this client's previous read: {previous}; committed bound: {}), but {}",
            describe(read),
            read.committed_bound.map_or("none".to_owned(), |b| b.to_string()),
            match latest {
                Some(index) => format!("the balances match the committed log only up to index {index}"),
                None => format!("the balances match the committed log at no index up to {high}"),
            }
        ));
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::{intersect, spans_equal};
    use crate::history::Balances;

    fn credits(posted: u128) -> Balances {
        Balances { credits_posted: posted, ..Balances::default() }
    }

    #[test]
    fn spans_follow_the_changes() {
        let changes = [(3, credits(0)), (5, credits(10)), (9, credits(20))];
        assert_eq!(spans_equal(&changes, None, 0, 20), vec![(0, 2)]);
        assert_eq!(spans_equal(&changes, Some(credits(10)), 0, 20), vec![(5, 8)]);
        assert_eq!(spans_equal(&changes, Some(credits(10)), 6, 7), vec![(6, 7)]);
        assert_eq!(spans_equal(&changes, Some(credits(20)), 0, 20), vec![(9, 20)]);
        assert_eq!(spans_equal(&changes, Some(credits(20)), 0, 8), vec![]);
        assert_eq!(intersect(&[(0, 4), (6, 9)], &[(3, 7)]), vec![(3, 4), (6, 7)]);
    }
}

/// The standard run's account 1: created at index 1, debited 100 at index 2, credited 25 at
/// index 4; every batch acknowledged (sequences 0..=3) before the reads below (sequence 4 on).
#[cfg(test)]
mod verdicts {
    use super::check;
    use crate::history::AckedBatch;
    use crate::testing::{assert_one, posted, read, standard};

    #[test]
    fn a_read_of_the_latest_state_holds() {
        let mut run = standard();
        run.history.account_reads.push(read(0, 4, vec![(1, Some(posted(100, 25))), (99, None)]));
        let verdict = check(&run.history, &run.replay());
        assert_eq!((verdict.violations, verdict.checked), (Vec::<String>::new(), 1));
    }

    #[test]
    fn a_stale_read_fails() {
        // Index 4 was acknowledged before the read started; the balances are index 2's.
        let mut run = standard();
        run.history.account_reads.push(read(0, 4, vec![(1, Some(posted(100, 0)))]));
        let verdict = check(&run.history, &run.replay());
        assert_one(&verdict.violations, "match the committed log only up to index 3");
    }

    #[test]
    fn a_read_that_fits_no_log_index_fails() {
        // Each account's balances occur in the log (account 1's at index 4 only, account 2's
        // at index 2 only), but never at the same index.
        let mut run = standard();
        let accounts = vec![(1, Some(posted(100, 25))), (2, Some(posted(0, 100)))];
        run.history.account_reads.push(read(0, 4, accounts));
        run.history.acked_batches.truncate(1);
        let verdict = check(&run.history, &run.replay());
        assert_one(&verdict.violations, "at no index up to 4");
    }

    #[test]
    fn a_client_whose_reads_go_back_in_the_log_fails() {
        // Only the accounts were acknowledged before either read: the first read fits index 4
        // only, the second fits 2..=3, after the same client's first.
        let mut run = standard();
        run.history.acked_batches = vec![AckedBatch { sequence: 0, log_index: 1 }];
        run.history.account_reads.push(read(0, 1, vec![(1, Some(posted(100, 25)))]));
        run.history.account_reads.push(read(0, 2, vec![(1, Some(posted(100, 0)))]));
        let verdict = check(&run.history, &run.replay());
        assert_one(&verdict.violations, "this client's previous read: 4");
        // Another client may see the older state: each client's order is its own.
        if let Some(second) = run.history.account_reads.last_mut() {
            second.client = 1;
        }
        let verdict = check(&run.history, &run.replay());
        assert_eq!((verdict.violations, verdict.checked), (Vec::<String>::new(), 2));
    }

    #[test]
    fn a_read_past_the_replay_is_counted_not_judged() {
        let mut run = standard();
        let mut past = read(0, 4, vec![(1, Some(posted(100, 30)))]);
        past.committed_bound = Some(9);
        run.history.account_reads.push(past);
        let verdict = check(&run.history, &run.replay());
        assert_eq!((verdict.violations.len(), verdict.beyond_replay), (0, 1));
    }
}
