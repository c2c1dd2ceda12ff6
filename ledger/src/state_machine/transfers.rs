//! `create_transfer`: single-phase, pending, post-pending and void-pending transfers.
//!
//! Order of checks (the first failing one is the result):
//! 1. `reserved_flag`, `id_must_not_be_zero`, `id_must_not_be_int_max`,
//!    `flags_are_mutually_exclusive` (at most one of pending / post / void; balancing with
//!    neither post nor void).
//! 2. Post/void continue in `create_post_or_void`. Otherwise: `debit_account_id_must_not_be_zero`,
//!    `debit_account_id_must_not_be_int_max`, the same for the credit account,
//!    `accounts_must_be_different`, `pending_id_must_be_zero`,
//!    `timeout_reserved_for_pending_transfer`, `ledger_must_not_be_zero`,
//!    `code_must_not_be_zero`, `amount_must_not_be_zero`.
//! 3. An existing transfer with this id: `transfer_exists_with_different_flags`,
//!    `exists_with_different_pending_id`, `exists_with_different_timeout`,
//!    `exists_with_different_debit_account_id`, `exists_with_different_credit_account_id`,
//!    `exists_with_different_amount`, `exists_with_different_user_data`,
//!    `exists_with_different_ledger`, `exists_with_different_code`, else `exists`.
//! 4. `id_already_failed`: the id was refused before for a state-dependent reason (see
//!    `ResultCode::is_transient`). It comes after the request's own validation (a malformed
//!    request is told what is wrong with it) and after the existing-transfer comparison (an
//!    id that succeeded stays `exists`), and before every check that reads the state.
//! 5. `debit_account_not_found`, `credit_account_not_found`,
//!    `accounts_must_have_the_same_ledger`, `transfer_must_have_the_same_ledger_as_accounts`.
//! 6. Status: `debit_account_frozen`, `debit_account_closed`, `debit_account_outflow_blocked`,
//!    `credit_account_frozen`, `credit_account_closed`.
//! 7. Balancing transfers clamp the amount to what the account(s) allow.
//! 8. Limits on the debit account: `exceeds_per_transfer_limit`, `exceeds_daily_amount_limit`,
//!    `exceeds_daily_count_limit`.
//! 9. Debit side: `overflows_debits_pending` (pending) or `overflows_debits_posted`,
//!    `overflows_debits`, `exceeds_credits`; credit side likewise (`exceeds_debits`);
//!    then `overflows_timeout` for a pending transfer with a timeout.
//!
//! A refusal from step 5 on (and any transient one of a post or void) is recorded under the
//! id (`Table::Refusals`), so every later event with this id gets `id_already_failed`.

use super::context::Context;
use super::movement::{self, Accounts, Phase};
use crate::command::{Detail, EventResult};
use crate::flags::TransferFlags;
use crate::result::ResultCode;
use crate::store::{ExpiryKey, LedgerStore};
use crate::transfer::{NewTransfer, PendingStatus, PendingTransfer, Transfer};

pub(super) fn create_transfer<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewTransfer,
    timestamp: u64,
    day: i64,
) -> EventResult {
    match try_create_transfer(context, request, timestamp, day) {
        Ok(result) => result,
        Err(code) => {
            context.record_refusal(request.id, code, timestamp);
            EventResult::code(code, timestamp)
        }
    }
}

fn try_create_transfer<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewTransfer,
    timestamp: u64,
    day: i64,
) -> Result<EventResult, ResultCode> {
    let flags = request.flags;
    if flags.has_reserved_bits() {
        return Err(ResultCode::ReservedFlag);
    }
    check_id(request.id)?;
    let pending = flags.contains(TransferFlags::PENDING);
    let post = flags.contains(TransferFlags::POST_PENDING);
    let void = flags.contains(TransferFlags::VOID_PENDING);
    let balancing_debit = flags.contains(TransferFlags::BALANCING_DEBIT);
    let balancing_credit = flags.contains(TransferFlags::BALANCING_CREDIT);
    if u8::from(pending) + u8::from(post) + u8::from(void) > 1
        || ((balancing_debit || balancing_credit) && (post || void))
    {
        return Err(ResultCode::FlagsAreMutuallyExclusive);
    }
    if post || void {
        return create_post_or_void(context, request, timestamp, post);
    }

    check_account_ids(request.debit_account_id, request.credit_account_id)?;
    if request.pending_id != 0 {
        return Err(ResultCode::PendingIdMustBeZero);
    }
    if request.timeout != 0 && !pending {
        return Err(ResultCode::TimeoutReservedForPendingTransfer);
    }
    check_ledger_code_amount(request.ledger, request.code, request.amount)?;
    if let Some(existing) = context.transfer(request.id) {
        return compare_existing(&existing, request);
    }
    context.check_not_refused(request.id)?;

    let mut accounts = movement::load_accounts(
        context,
        request.debit_account_id,
        request.credit_account_id,
        request.ledger,
    )?;
    movement::check_outflow_status(&accounts.debit, &accounts.credit)?;
    let mut amount = request.amount;
    if balancing_debit {
        amount = amount.min(movement::balancing_debit_available(&accounts.debit));
    }
    if balancing_credit {
        amount = amount.min(movement::balancing_credit_available(&accounts.credit));
    }
    let phase = if pending { Phase::Pending } else { Phase::Posted };
    let expires_at = if pending && request.timeout != 0 {
        Some(
            super::seconds_to_nanos(u64::from(request.timeout))
                .and_then(|timeout| timestamp.checked_add(timeout)),
        )
    } else {
        None
    };
    let transfer = Transfer {
        id: request.id,
        debit_account_id: request.debit_account_id,
        credit_account_id: request.credit_account_id,
        amount,
        amount_requested: request.amount,
        pending_id: 0,
        user_data: request.user_data,
        timeout: request.timeout,
        ledger: request.ledger,
        code: request.code,
        flags: flags.without(TransferFlags::LINKED),
        timestamp,
    };
    move_funds(context, &mut accounts, &transfer, phase, day, expires_at, false)?;
    Ok(EventResult { code: ResultCode::Ok, timestamp, detail: Detail::Amount(amount) })
}

/// The common tail of every money movement created by a client (transfers, payout
/// reservations): limits, balance checks, timeout, then the writes. `expires_at` is
/// `Some(None)` when the timeout overflowed.
pub(super) fn move_funds<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    accounts: &mut Accounts,
    transfer: &Transfer,
    phase: Phase,
    day: i64,
    expires_at: Option<Option<u64>>,
    payout: bool,
) -> Result<(), ResultCode> {
    let usage = movement::check_limits(&accounts.debit, transfer.amount, day)?;
    movement::check_debit_balance(&accounts.debit, transfer.amount, phase)?;
    movement::check_credit_balance(&accounts.credit, transfer.amount, phase)?;
    let expires_at = match expires_at {
        Some(Some(expires_at)) => expires_at,
        Some(None) => return Err(ResultCode::OverflowsTimeout),
        None => 0,
    };

    movement::apply_movement(accounts, transfer.amount, phase);
    accounts.debit.outflow_usage = usage;
    context.put_account_moved(accounts.debit, transfer.timestamp);
    context.put_account_moved(accounts.credit, transfer.timestamp);
    context.insert_transfer(*transfer);
    if phase == Phase::Pending {
        context.put_pending_transfer(PendingTransfer {
            id: transfer.id,
            status: PendingStatus::Pending,
            expires_at,
            payout,
            amount_posted: 0,
            resolved_by: 0,
            resolved_at: 0,
        });
        if expires_at != 0 {
            context.set_expiry(ExpiryKey { expires_at, transfer_id: transfer.id }, true);
        }
    }
    Ok(())
}

/// Post or void a pending transfer. After the shared flag checks:
/// `pending_id_must_not_be_zero`, `pending_id_must_not_be_int_max`,
/// `pending_id_must_be_different`, `timeout_reserved_for_pending_transfer`, the account-id
/// checks for non-zero ids (`*_must_not_be_int_max`, `accounts_must_be_different`); the
/// existing-transfer comparison (zero fields match anything); `id_already_failed`; then
/// `pending_transfer_not_found`, `pending_transfer_not_pending`,
/// `pending_transfer_has_different_debit_account_id` / `_credit_account_id` / `_ledger` /
/// `_code` (for non-zero fields), `pending_transfer_belongs_to_payout`,
/// `pending_transfer_already_posted`, `pending_transfer_already_voided`,
/// `pending_transfer_expired`, `exceeds_pending_transfer_amount` (post) or
/// `pending_transfer_has_different_amount` (void); for a post the status checks of step 5
/// and `overflows_debits_posted`, `overflows_credits_posted`. Voids release a reservation
/// whatever the accounts' status: they move no posted money.
fn create_post_or_void<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewTransfer,
    timestamp: u64,
    post: bool,
) -> Result<EventResult, ResultCode> {
    match request.pending_id {
        0 => return Err(ResultCode::PendingIdMustNotBeZero),
        u128::MAX => return Err(ResultCode::PendingIdMustNotBeIntMax),
        id if id == request.id => return Err(ResultCode::PendingIdMustBeDifferent),
        _ => {}
    }
    if request.timeout != 0 {
        return Err(ResultCode::TimeoutReservedForPendingTransfer);
    }
    if request.debit_account_id == u128::MAX {
        return Err(ResultCode::DebitAccountIdMustNotBeIntMax);
    }
    if request.credit_account_id == u128::MAX {
        return Err(ResultCode::CreditAccountIdMustNotBeIntMax);
    }
    if request.debit_account_id != 0 && request.debit_account_id == request.credit_account_id {
        return Err(ResultCode::AccountsMustBeDifferent);
    }
    if let Some(existing) = context.transfer(request.id) {
        return compare_existing(&existing, request);
    }
    context.check_not_refused(request.id)?;

    let pending_transfer =
        context.transfer(request.pending_id).ok_or(ResultCode::PendingTransferNotFound)?;
    if !pending_transfer.flags.contains(TransferFlags::PENDING) {
        return Err(ResultCode::PendingTransferNotPending);
    }
    let differs = |requested: u128, actual: u128| requested != 0 && requested != actual;
    if differs(request.debit_account_id, pending_transfer.debit_account_id) {
        return Err(ResultCode::PendingTransferHasDifferentDebitAccountId);
    }
    if differs(request.credit_account_id, pending_transfer.credit_account_id) {
        return Err(ResultCode::PendingTransferHasDifferentCreditAccountId);
    }
    if differs(u128::from(request.ledger), u128::from(pending_transfer.ledger)) {
        return Err(ResultCode::PendingTransferHasDifferentLedger);
    }
    if differs(u128::from(request.code), u128::from(pending_transfer.code)) {
        return Err(ResultCode::PendingTransferHasDifferentCode);
    }
    let Some(mut pending) = context.pending_transfer(request.pending_id) else {
        panic!("pending transfer {} has no pending state", request.pending_id);
    };
    if pending.payout {
        return Err(ResultCode::PendingTransferBelongsToPayout);
    }
    match pending.status {
        PendingStatus::Pending => {}
        PendingStatus::Posted => return Err(ResultCode::PendingTransferAlreadyPosted),
        PendingStatus::Voided => return Err(ResultCode::PendingTransferAlreadyVoided),
        PendingStatus::Expired => return Err(ResultCode::PendingTransferExpired),
    }
    if pending.expires_at != 0 && pending.expires_at <= timestamp {
        return Err(ResultCode::PendingTransferExpired);
    }
    let amount = if post {
        match request.amount {
            0 => pending_transfer.amount,
            amount if amount > pending_transfer.amount => {
                return Err(ResultCode::ExceedsPendingTransferAmount);
            }
            amount => amount,
        }
    } else {
        if request.amount != 0 && request.amount != pending_transfer.amount {
            return Err(ResultCode::PendingTransferHasDifferentAmount);
        }
        pending_transfer.amount
    };
    if post {
        let accounts = movement::load_accounts(
            context,
            pending_transfer.debit_account_id,
            pending_transfer.credit_account_id,
            pending_transfer.ledger,
        )
        .unwrap_or_else(|code| panic!("pending transfer's accounts fail lookup: {code}"));
        movement::check_outflow_status(&accounts.debit, &accounts.credit)?;
        accounts
            .debit
            .debits_posted
            .checked_add(amount)
            .ok_or(ResultCode::OverflowsDebitsPosted)?;
        accounts
            .credit
            .credits_posted
            .checked_add(amount)
            .ok_or(ResultCode::OverflowsCreditsPosted)?;
    }

    let posted = if post { amount } else { 0 };
    movement::resolve_reservation(context, &pending_transfer, posted, timestamp);
    pending.status = if post { PendingStatus::Posted } else { PendingStatus::Voided };
    pending.amount_posted = posted;
    pending.resolved_by = request.id;
    pending.resolved_at = timestamp;
    context.put_pending_transfer(pending);
    if pending.expires_at != 0 {
        context.set_expiry(
            ExpiryKey { expires_at: pending.expires_at, transfer_id: pending.id },
            false,
        );
    }
    context.insert_transfer(Transfer {
        id: request.id,
        debit_account_id: pending_transfer.debit_account_id,
        credit_account_id: pending_transfer.credit_account_id,
        amount,
        amount_requested: request.amount,
        pending_id: request.pending_id,
        user_data: request.user_data,
        timeout: 0,
        ledger: pending_transfer.ledger,
        code: pending_transfer.code,
        flags: request.flags.without(TransferFlags::LINKED),
        timestamp,
    });
    Ok(EventResult { code: ResultCode::Ok, timestamp, detail: Detail::Amount(amount) })
}

/// Idempotency: the same id with the same body is `exists` with the original outcome; a
/// different body names the first field that differs. For post/void, zero account ids,
/// ledger and code in the request match the resolved values.
fn compare_existing(existing: &Transfer, request: &NewTransfer) -> Result<EventResult, ResultCode> {
    let resolving = request.flags.contains(TransferFlags::POST_PENDING)
        || request.flags.contains(TransferFlags::VOID_PENDING);
    let differs = |requested: u128, stored: u128| {
        if resolving && requested == 0 { false } else { requested != stored }
    };
    if request.flags.without(TransferFlags::LINKED) != existing.flags {
        return Err(ResultCode::TransferExistsWithDifferentFlags);
    }
    if request.pending_id != existing.pending_id {
        return Err(ResultCode::ExistsWithDifferentPendingId);
    }
    if request.timeout != existing.timeout {
        return Err(ResultCode::ExistsWithDifferentTimeout);
    }
    if differs(request.debit_account_id, existing.debit_account_id) {
        return Err(ResultCode::ExistsWithDifferentDebitAccountId);
    }
    if differs(request.credit_account_id, existing.credit_account_id) {
        return Err(ResultCode::ExistsWithDifferentCreditAccountId);
    }
    if request.amount != existing.amount_requested {
        return Err(ResultCode::ExistsWithDifferentAmount);
    }
    if request.user_data != existing.user_data {
        return Err(ResultCode::ExistsWithDifferentUserData);
    }
    if differs(u128::from(request.ledger), u128::from(existing.ledger)) {
        return Err(ResultCode::ExistsWithDifferentLedger);
    }
    if differs(u128::from(request.code), u128::from(existing.code)) {
        return Err(ResultCode::ExistsWithDifferentCode);
    }
    Ok(EventResult {
        code: ResultCode::Exists,
        timestamp: existing.timestamp,
        detail: Detail::Amount(existing.amount),
    })
}

/// `id_must_not_be_zero`, `id_must_not_be_int_max`.
pub(super) fn check_id(id: u128) -> Result<(), ResultCode> {
    match id {
        0 => Err(ResultCode::IdMustNotBeZero),
        u128::MAX => Err(ResultCode::IdMustNotBeIntMax),
        _ => Ok(()),
    }
}

/// The four account-id checks and `accounts_must_be_different`.
pub(super) fn check_account_ids(
    debit_account_id: u128,
    credit_account_id: u128,
) -> Result<(), ResultCode> {
    match debit_account_id {
        0 => return Err(ResultCode::DebitAccountIdMustNotBeZero),
        u128::MAX => return Err(ResultCode::DebitAccountIdMustNotBeIntMax),
        _ => {}
    }
    match credit_account_id {
        0 => return Err(ResultCode::CreditAccountIdMustNotBeZero),
        u128::MAX => return Err(ResultCode::CreditAccountIdMustNotBeIntMax),
        _ => {}
    }
    if debit_account_id == credit_account_id {
        return Err(ResultCode::AccountsMustBeDifferent);
    }
    Ok(())
}

/// `ledger_must_not_be_zero`, `code_must_not_be_zero`, `amount_must_not_be_zero`.
pub(super) fn check_ledger_code_amount(
    ledger: u32,
    code: u16,
    amount: u128,
) -> Result<(), ResultCode> {
    if ledger == 0 {
        return Err(ResultCode::LedgerMustNotBeZero);
    }
    if code == 0 {
        return Err(ResultCode::CodeMustNotBeZero);
    }
    if amount == 0 {
        return Err(ResultCode::AmountMustNotBeZero);
    }
    Ok(())
}
