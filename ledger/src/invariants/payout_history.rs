//! Payout history: every payout's recorded changes tell its life as the outbox allows it. The
//! first record is the reservation at creation; each later one is a claim (the next fencing
//! token, from any non-final state) or an outcome recorded under the current claim (same
//! worker, token and lease, a different state); nothing follows a final state; the last
//! record is the payout as it stands. A history that disagrees with the payout would tell an
//! operator a story the money did not follow.
//!
//! Proved by a local mutation: `Context::put_payout` filing history only at creation makes
//! `cargo test --release -p tianping-ledger properties` fail with `payout_history: payout 1
//! stands as … Claimed … but its history ends with … Reserved`.

use super::{StateDump, Violation};
use crate::payout::{PayoutHistoryRecord, PayoutState};

/// Checks every payout's history against the payout and the outbox's transitions.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut violation =
        |detail: String| violations.push(Violation { invariant: "payout_history", detail });
    let mut histories: std::collections::BTreeMap<u128, Vec<&PayoutHistoryRecord>> =
        std::collections::BTreeMap::new();
    for ((payout_id, timestamp), record) in &dump.payout_history {
        if record.payout_id != *payout_id || record.timestamp != *timestamp {
            violation(format!(
                "history record {record:?} is filed under ({payout_id}, {timestamp})"
            ));
        }
        histories.entry(*payout_id).or_default().push(record);
    }
    for payout_id in histories.keys() {
        if !dump.payouts.contains_key(payout_id) {
            violation(format!("payout {payout_id} has a history but no payout"));
        }
    }
    for payout in dump.payouts.values() {
        let Some(history) = histories.get(&payout.id) else {
            violation(format!("payout {} has no history", payout.id));
            continue;
        };
        let first = history[0];
        let created = PayoutHistoryRecord {
            payout_id: payout.id,
            timestamp: payout.created_at,
            state: PayoutState::Reserved,
            worker_id: 0,
            fencing_token: 0,
            lease_until: 0,
        };
        if *first != created {
            violation(format!("payout {}'s history starts with {first:?}", payout.id));
        }
        for pair in history.windows(2) {
            if let Some(problem) = transition_problem(pair[0], pair[1]) {
                violation(format!("payout {}: {problem}", payout.id));
            }
        }
        let now = PayoutHistoryRecord::of(payout);
        if history.last().copied() != Some(&now) {
            violation(format!(
                "payout {} stands as {now:?} but its history ends with {:?}",
                payout.id,
                history.last()
            ));
        }
    }
    violations
}

/// What is wrong with `next` following `previous`, if anything.
fn transition_problem(
    previous: &PayoutHistoryRecord,
    next: &PayoutHistoryRecord,
) -> Option<String> {
    if previous.state.is_final() {
        return Some(format!("{next:?} follows the final {previous:?}"));
    }
    if next.state == PayoutState::Reserved {
        return Some(format!("{next:?} returns to reserved"));
    }
    if next.state == PayoutState::Claimed {
        if previous.fencing_token.checked_add(1) != Some(next.fencing_token) {
            return Some(format!("claim {next:?} does not take the next token after {previous:?}"));
        }
        if previous.state.is_leased() && next.timestamp < previous.lease_until {
            return Some(format!("claim {next:?} taken while {previous:?} still held the lease"));
        }
        return None;
    }
    let same_claim = next.fencing_token == previous.fencing_token
        && next.worker_id == previous.worker_id
        && next.lease_until == previous.lease_until;
    if previous.state == PayoutState::Reserved || !same_claim || next.state == previous.state {
        return Some(format!("outcome {next:?} is not a change under the claim of {previous:?}"));
    }
    if next.timestamp >= next.lease_until {
        return Some(format!("outcome {next:?} recorded after its lease ran out"));
    }
    None
}
