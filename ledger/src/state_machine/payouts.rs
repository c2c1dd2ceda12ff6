//! The payout outbox: `create_payout`, `claim_payouts` (and `claim_payout_batch`, the same
//! under a claim id), `record_payout_outcome`.

use super::context::Context;
use super::movement::{self, Phase};
use super::transfers::{check_account_ids, check_id, check_ledger_code_amount, move_funds};
use crate::command::{Detail, EventResult};
use crate::flags::TransferFlags;
use crate::payout::{
    ClaimPayouts, ClaimedBatch, ClaimedPayout, NewPayout, Payout, PayoutBatchClaim, PayoutClaim,
    PayoutOutcome, PayoutState, RecordPayoutOutcome,
};
use crate::result::ResultCode;
use crate::store::{LedgerStore, PayoutIndexKey};
use crate::transfer::{PendingStatus, Transfer};
use crate::{PAYOUT_CLAIM_MAX, PAYOUT_LEASE_MS_MAX, PAYOUT_LEASE_MS_MIN, TEXT_BYTES_MAX};

/// Order of checks: `reserved_flag` (only `linked` is allowed), the transfer id and account
/// id checks, `ledger_must_not_be_zero`, `code_must_not_be_zero`, `amount_must_not_be_zero`,
/// `bank_must_not_be_zero`, `beneficiary_must_not_be_empty`, `text_too_long`; for an
/// existing payout `exists_with_different_debit_account_id` / `_credit_account_id` /
/// `_amount` / `_user_data` / `_ledger` / `_code` / `_bank` / `_beneficiary`, else `exists`;
/// `id_already_used` when a transfer (not a payout) has the id; `id_already_failed` when the
/// id (transfer or payout: one id space) was refused before for a state-dependent reason;
/// then the reservation's checks exactly as for a pending transfer (create_transfer steps 5,
/// 6, 8, 9). A transient refusal is recorded, as for transfers.
///
/// Reserving at creation is what makes the stuck-payout incident impossible: the money is
/// held before the bank is asked, so booking the bank's success can never fail for funds.
pub(super) fn create_payout<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewPayout,
    timestamp: u64,
    day: i64,
) -> EventResult {
    match try_create_payout(context, request, timestamp, day) {
        Ok(result) => result,
        Err(code) => {
            context.record_refusal(request.id, code, timestamp);
            EventResult::code(code, timestamp)
        }
    }
}

fn try_create_payout<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewPayout,
    timestamp: u64,
    day: i64,
) -> Result<EventResult, ResultCode> {
    if request.flags.without(TransferFlags::LINKED) != TransferFlags::NONE {
        return Err(ResultCode::ReservedFlag);
    }
    check_id(request.id)?;
    check_account_ids(request.debit_account_id, request.credit_account_id)?;
    check_ledger_code_amount(request.ledger, request.code, request.amount)?;
    if request.bank == 0 {
        return Err(ResultCode::BankMustNotBeZero);
    }
    if request.beneficiary.is_empty() {
        return Err(ResultCode::BeneficiaryMustNotBeEmpty);
    }
    if request.beneficiary.len() > TEXT_BYTES_MAX {
        return Err(ResultCode::TextTooLong);
    }
    if let Some(existing) = context.payout(request.id) {
        return compare_existing(&existing, request);
    }
    if context.transfer(request.id).is_some() {
        return Err(ResultCode::IdAlreadyUsed);
    }
    context.check_not_refused(request.id)?;

    let mut accounts = movement::load_accounts(
        context,
        request.debit_account_id,
        request.credit_account_id,
        request.ledger,
    )?;
    movement::check_outflow_status(&accounts.debit, &accounts.credit)?;
    let reservation = Transfer {
        id: request.id,
        debit_account_id: request.debit_account_id,
        credit_account_id: request.credit_account_id,
        amount: request.amount,
        amount_requested: request.amount,
        pending_id: 0,
        user_data: request.user_data,
        timeout: 0,
        ledger: request.ledger,
        code: request.code,
        flags: TransferFlags::PENDING,
        timestamp,
    };
    move_funds(context, &mut accounts, &reservation, Phase::Pending, day, None, true)?;
    let payout = Payout {
        id: request.id,
        debit_account_id: request.debit_account_id,
        credit_account_id: request.credit_account_id,
        amount: request.amount,
        user_data: request.user_data,
        ledger: request.ledger,
        code: request.code,
        bank: request.bank,
        beneficiary: request.beneficiary.clone(),
        state: PayoutState::Reserved,
        fencing_token: 0,
        worker_id: 0,
        lease_until: 0,
        created_at: timestamp,
        updated_at: timestamp,
    };
    context.put_payout(payout, None);
    Ok(EventResult { code: ResultCode::Ok, timestamp, detail: Detail::Amount(request.amount) })
}

fn compare_existing(existing: &Payout, request: &NewPayout) -> Result<EventResult, ResultCode> {
    let checks = [
        (
            existing.debit_account_id == request.debit_account_id,
            ResultCode::ExistsWithDifferentDebitAccountId,
        ),
        (
            existing.credit_account_id == request.credit_account_id,
            ResultCode::ExistsWithDifferentCreditAccountId,
        ),
        (existing.amount == request.amount, ResultCode::ExistsWithDifferentAmount),
        (existing.user_data == request.user_data, ResultCode::ExistsWithDifferentUserData),
        (existing.ledger == request.ledger, ResultCode::ExistsWithDifferentLedger),
        (existing.code == request.code, ResultCode::ExistsWithDifferentCode),
        (existing.bank == request.bank, ResultCode::ExistsWithDifferentBank),
        (existing.beneficiary == request.beneficiary, ResultCode::ExistsWithDifferentBeneficiary),
    ];
    if let Some((_, code)) = checks.iter().find(|(same, _)| !same) {
        return Err(*code);
    }
    Ok(EventResult {
        code: ResultCode::Exists,
        timestamp: existing.created_at,
        detail: Detail::Amount(existing.amount),
    })
}

/// Order of checks: `worker_id_must_not_be_zero`, `bank_must_not_be_zero`,
/// `claim_max_out_of_range`, `lease_out_of_range`, `overflows_timeout` (lease end). Then up
/// to `max` payouts of the bank are claimed: first those whose lease has run out (in
/// `claimed`, `sent`, `unknown` order, oldest lease first), then `reserved` ones oldest
/// first. Each gets the next fencing token. `ok` with an empty list means nothing to do.
pub(super) fn claim_payouts<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &ClaimPayouts,
    timestamp: u64,
) -> EventResult {
    match try_claim_payouts(context, request, timestamp) {
        Ok(claims) => {
            EventResult { code: ResultCode::Ok, timestamp, detail: Detail::Claims(claims) }
        }
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_claim_payouts<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &ClaimPayouts,
    timestamp: u64,
) -> Result<Vec<PayoutClaim>, ResultCode> {
    let lease_until = check_claim(request, timestamp)?;
    Ok(claim_candidates(context, request, lease_until, timestamp))
}

/// `claim_payouts`' checks, in their order; the lease end on success.
fn check_claim(request: &ClaimPayouts, timestamp: u64) -> Result<u64, ResultCode> {
    if request.worker_id == 0 {
        return Err(ResultCode::WorkerIdMustNotBeZero);
    }
    if request.bank == 0 {
        return Err(ResultCode::BankMustNotBeZero);
    }
    if request.max == 0 || request.max > PAYOUT_CLAIM_MAX {
        return Err(ResultCode::ClaimMaxOutOfRange);
    }
    if !(PAYOUT_LEASE_MS_MIN..=PAYOUT_LEASE_MS_MAX).contains(&request.lease_ms) {
        return Err(ResultCode::LeaseOutOfRange);
    }
    super::millis_to_nanos(request.lease_ms)
        .and_then(|lease| timestamp.checked_add(lease))
        .ok_or(ResultCode::OverflowsTimeout)
}

/// Claims up to `request.max` payouts of the bank (see `claim_payouts` for the order).
fn claim_candidates<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &ClaimPayouts,
    lease_until: u64,
    timestamp: u64,
) -> Vec<PayoutClaim> {
    let max = request.max as usize;
    let mut candidates = Vec::with_capacity(max);
    let ranges = [
        (PayoutState::Claimed, timestamp),
        (PayoutState::Sent, timestamp),
        (PayoutState::Unknown, timestamp),
        (PayoutState::Reserved, u64::MAX),
    ];
    for (state, order_max) in ranges {
        if candidates.len() == max {
            break;
        }
        let first = PayoutIndexKey { state, bank: request.bank, order: 0, payout_id: 0 };
        let last =
            PayoutIndexKey { state, bank: request.bank, order: order_max, payout_id: u128::MAX };
        candidates.extend(context.payout_index_range(&first, &last, max - candidates.len()));
    }

    let mut claims = Vec::with_capacity(candidates.len());
    for key in candidates {
        let Some(mut payout) = context.payout(key.payout_id) else {
            panic!("payout index names missing payout {}", key.payout_id);
        };
        assert_eq!(PayoutIndexKey::of(&payout), key, "payout index disagrees with payout");
        let must_inquire_first = payout.fencing_token > 0;
        payout.fencing_token = payout.fencing_token.checked_add(1).expect("fencing token space");
        payout.state = PayoutState::Claimed;
        payout.worker_id = request.worker_id;
        payout.lease_until = lease_until;
        payout.updated_at = timestamp;
        context.put_payout(payout.clone(), Some(key));
        claims.push(PayoutClaim { payout, must_inquire_first });
    }
    claims
}

/// Order of checks: `id_must_not_be_zero` / `_int_max` (the claim id), then `claim_payouts`'
/// checks; for a claim id used before, `exists_with_different_claim` unless every field is the
/// same, else `exists`, listing the payouts that claim still holds (still `claimed` with the
/// token it gave them, lease not run out at this event's time; the detail's payouts as they
/// stand now, the timestamp the original claim's) — nothing is claimed anew, so the worker
/// that lost the first answer drives exactly what it was given. A new claim id claims as
/// `claim_payouts` does and records the claim when it took at least one payout (a claim that
/// took nothing strands nothing: its id stays free, see `ClaimedBatch`).
pub(super) fn claim_payout_batch<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &PayoutBatchClaim,
    timestamp: u64,
) -> EventResult {
    match try_claim_payout_batch(context, request, timestamp) {
        Ok(result) => result,
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_claim_payout_batch<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &PayoutBatchClaim,
    timestamp: u64,
) -> Result<EventResult, ResultCode> {
    check_id(request.claim_id)?;
    let claim = ClaimPayouts {
        worker_id: request.worker_id,
        bank: request.bank,
        max: request.max,
        lease_ms: request.lease_ms,
    };
    let lease_until = check_claim(&claim, timestamp)?;
    if let Some(existing) = context.claimed_batch(request.claim_id) {
        if existing.claim != *request {
            return Err(ResultCode::ExistsWithDifferentClaim);
        }
        let held = still_held(context, &existing, timestamp);
        return Ok(EventResult {
            code: ResultCode::Exists,
            timestamp: existing.timestamp,
            detail: Detail::Claims(held),
        });
    }
    let claims = claim_candidates(context, &claim, lease_until, timestamp);
    if !claims.is_empty() {
        let payouts = claims
            .iter()
            .map(|claim| ClaimedPayout {
                payout_id: claim.payout.id,
                fencing_token: claim.payout.fencing_token,
            })
            .collect();
        context.insert_claimed_batch(ClaimedBatch {
            claim: *request,
            timestamp,
            lease_until,
            payouts,
        });
    }
    Ok(EventResult { code: ResultCode::Ok, timestamp, detail: Detail::Claims(claims) })
}

/// The payouts of a recorded batch claim that it still holds at `timestamp`, in claim order.
fn still_held<S: LedgerStore + ?Sized>(
    context: &Context<'_, S>,
    batch: &ClaimedBatch,
    timestamp: u64,
) -> Vec<PayoutClaim> {
    batch
        .payouts
        .iter()
        .filter_map(|claimed| {
            let payout = context.payout(claimed.payout_id)?;
            let held = payout.state == PayoutState::Claimed
                && payout.fencing_token == claimed.fencing_token
                && payout.worker_id == batch.claim.worker_id
                && payout.lease_until > timestamp;
            // The claim that gave token 1 was the payout's first: nothing to ask the bank.
            let must_inquire_first = claimed.fencing_token > 1;
            held.then_some(PayoutClaim { payout, must_inquire_first })
        })
        .collect()
}

/// Order of checks: `id_must_not_be_zero` / `_int_max` (payout id),
/// `worker_id_must_not_be_zero`, `payout_not_found`; a final payout answers `exists` when the
/// same worker records the same outcome with the same token (a retry), else
/// `payout_already_final`; then `payout_not_claimed`, `fencing_token_stale` (any token but the
/// current one), `payout_claimed_by_another_worker`, `payout_lease_expired`. Recording the
/// current non-final state again is `ok` and changes nothing.
///
/// `succeeded` posts the reservation and `failed` voids it regardless of the accounts'
/// status since the reservation was made: the bank's action is a fact the ledger must book.
pub(super) fn record_payout_outcome<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &RecordPayoutOutcome,
    timestamp: u64,
) -> EventResult {
    match try_record_payout_outcome(context, request, timestamp) {
        Ok(result) => result,
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_record_payout_outcome<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &RecordPayoutOutcome,
    timestamp: u64,
) -> Result<EventResult, ResultCode> {
    check_id(request.payout_id)?;
    if request.worker_id == 0 {
        return Err(ResultCode::WorkerIdMustNotBeZero);
    }
    let mut payout = context.payout(request.payout_id).ok_or(ResultCode::PayoutNotFound)?;
    let target = request.outcome.state();
    if payout.state.is_final() {
        let retry = payout.state == target
            && payout.fencing_token == request.fencing_token
            && payout.worker_id == request.worker_id;
        if retry {
            return Ok(EventResult::code(ResultCode::Exists, payout.updated_at));
        }
        return Err(ResultCode::PayoutAlreadyFinal);
    }
    if payout.state == PayoutState::Reserved {
        return Err(ResultCode::PayoutNotClaimed);
    }
    if request.fencing_token != payout.fencing_token {
        return Err(ResultCode::FencingTokenStale);
    }
    if request.worker_id != payout.worker_id {
        return Err(ResultCode::PayoutClaimedByAnotherWorker);
    }
    if payout.lease_until <= timestamp {
        return Err(ResultCode::PayoutLeaseExpired);
    }
    if payout.state == target {
        return Ok(EventResult::code(ResultCode::Ok, timestamp));
    }

    let previous = PayoutIndexKey::of(&payout);
    if target.is_final() {
        resolve_reservation(context, &payout, request.outcome, timestamp);
    }
    payout.state = target;
    payout.updated_at = timestamp;
    context.put_payout(payout, Some(previous));
    Ok(EventResult::code(ResultCode::Ok, timestamp))
}

/// Posts (`succeeded`) or voids (`failed`) the payout's reservation.
fn resolve_reservation<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    payout: &Payout,
    outcome: PayoutOutcome,
    timestamp: u64,
) {
    let Some(reservation) = context.transfer(payout.id) else {
        panic!("payout {} has no reservation transfer", payout.id);
    };
    let Some(mut pending) = context.pending_transfer(payout.id) else {
        panic!("payout {} has no pending state", payout.id);
    };
    assert_eq!(
        pending.status,
        PendingStatus::Pending,
        "unresolved payout's reservation is resolved"
    );
    assert!(pending.payout, "payout reservation not marked as such");
    let posted = if outcome == PayoutOutcome::Succeeded { reservation.amount } else { 0 };
    movement::resolve_reservation(context, &reservation, posted, timestamp);
    pending.status = if outcome == PayoutOutcome::Succeeded {
        PendingStatus::Posted
    } else {
        PendingStatus::Voided
    };
    pending.amount_posted = posted;
    pending.resolved_by = payout.id;
    pending.resolved_at = timestamp;
    context.put_pending_transfer(pending);
}
