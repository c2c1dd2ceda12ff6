//! Payout batch claims hand out only what they claimed. Every recorded batch claim is keyed
//! under its own claim id, took between one and `max` distinct payouts of its bank, and each
//! of them was claimed by it: the payout's history holds a `claimed` record at the claim's
//! time for its worker, with the token and lease end the claim lists, and no two claims list
//! the same token of a payout. Event by event (`check_answer`), an accepted claim's answer
//! lists only payouts its record lists, with the same tokens, and a retry's (`exists`) only
//! ones still claimed under them: a retry that claimed anew would hand out tokens the record
//! does not hold, and strand the first attempt's payouts.

use std::collections::BTreeSet;

use super::{StateDump, Violation};
use crate::command::{Detail, EventResult};
use crate::payout::{PayoutBatchClaim, PayoutState};
use crate::result::ResultCode;
use crate::store::LedgerStore;

fn violation(detail: String) -> Violation {
    Violation { invariant: "claimed_batches", detail }
}

/// Checks every recorded batch claim against the payouts and their history.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut tokens_listed = BTreeSet::new();
    for (key, batch) in &dump.claimed_batches {
        let claim = &batch.claim;
        if *key != claim.claim_id {
            violations.push(violation(format!("claim {} filed under {key}", claim.claim_id)));
        }
        let distinct: BTreeSet<u128> = batch.payouts.iter().map(|p| p.payout_id).collect();
        if batch.payouts.is_empty()
            || batch.payouts.len() > claim.max as usize
            || distinct.len() != batch.payouts.len()
        {
            violations.push(violation(format!(
                "claim {} lists {} payouts ({} distinct) for a max of {}",
                claim.claim_id,
                batch.payouts.len(),
                distinct.len(),
                claim.max
            )));
        }
        for claimed in &batch.payouts {
            if !tokens_listed.insert((claimed.payout_id, claimed.fencing_token)) {
                violations.push(violation(format!(
                    "payout {} token {} is listed by two claims",
                    claimed.payout_id, claimed.fencing_token
                )));
            }
            let bank = dump.payouts.get(&claimed.payout_id).map(|payout| payout.bank);
            let record = dump.payout_history.get(&(claimed.payout_id, batch.timestamp));
            let claimed_by_it = record.is_some_and(|record| {
                record.state == PayoutState::Claimed
                    && record.worker_id == claim.worker_id
                    && record.fencing_token == claimed.fencing_token
                    && record.lease_until == batch.lease_until
            });
            if bank != Some(claim.bank) || !claimed_by_it {
                violations.push(violation(format!(
                    "claim {} lists payout {} with token {}, which it did not claim (bank \
                     {bank:?}, history at {}: {record:?})",
                    claim.claim_id, claimed.payout_id, claimed.fencing_token, batch.timestamp
                )));
            }
        }
    }
    violations
}

/// Checks one answer to a batch claim against the store right after its batch: an `ok` or
/// `exists` answer hands out only payouts recorded under the claim id, at its time, with the
/// same tokens, each claimed by this worker at the end of its batch (an empty `ok` took
/// nothing and filed nothing).
pub fn check_answer<S: LedgerStore + ?Sized>(
    store: &S,
    claim: &PayoutBatchClaim,
    result: &EventResult,
) -> Result<(), String> {
    if !matches!(result.code, ResultCode::Ok | ResultCode::Exists) {
        return Ok(());
    }
    let Detail::Claims(claims) = &result.detail else {
        return Err(format!("claim {} answered without claims", claim.claim_id));
    };
    if claims.is_empty() && result.code == ResultCode::Ok {
        // Took nothing, so filed nothing (a later event may file the id).
        return Ok(());
    }
    let Some(record) = store.claimed_batch(claim.claim_id) else {
        return Err(format!(
            "claim {} answered {} but is not recorded",
            claim.claim_id, result.code
        ));
    };
    if record.claim != *claim || record.timestamp != result.timestamp {
        return Err(format!(
            "claim {} answered {} at {} but is recorded as {:?} at {}",
            claim.claim_id, result.code, result.timestamp, record.claim, record.timestamp
        ));
    }
    for handed in claims {
        let payout = &handed.payout;
        let listed = record.payouts.iter().any(|claimed| {
            claimed.payout_id == payout.id && claimed.fencing_token == payout.fencing_token
        });
        if !listed || payout.worker_id != claim.worker_id || payout.state != PayoutState::Claimed {
            return Err(format!(
                "claim {} handed out payout {} with token {} ({:?}, worker {}), which its \
                 record does not list as held",
                claim.claim_id, payout.id, payout.fencing_token, payout.state, payout.worker_id
            ));
        }
    }
    Ok(())
}
