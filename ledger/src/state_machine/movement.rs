//! The checks and balance changes shared by every command that moves money: account
//! lookup, ledgers, status, limits, overflow and balance constraints, in the documented order.

use super::context::Context;
use crate::account::{Account, AccountStatus, OutflowUsage};
use crate::flags::AccountFlags;
use crate::result::ResultCode;
use crate::store::LedgerStore;
use crate::transfer::Transfer;

/// Whether a movement reserves (pending) or posts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Pending,
    Posted,
}

/// Both accounts of a movement, after the lookup and ledger checks.
pub(super) struct Accounts {
    pub(super) debit: Account,
    pub(super) credit: Account,
}

/// `debit_account_not_found`, `credit_account_not_found`, `accounts_must_have_the_same_ledger`,
/// `transfer_must_have_the_same_ledger_as_accounts`.
pub(super) fn load_accounts<S: LedgerStore + ?Sized>(
    context: &Context<'_, S>,
    debit_account_id: u128,
    credit_account_id: u128,
    ledger: u32,
) -> Result<Accounts, ResultCode> {
    let debit = context.account(debit_account_id).ok_or(ResultCode::DebitAccountNotFound)?;
    let credit = context.account(credit_account_id).ok_or(ResultCode::CreditAccountNotFound)?;
    if debit.ledger != credit.ledger {
        return Err(ResultCode::AccountsMustHaveTheSameLedger);
    }
    if ledger != debit.ledger {
        return Err(ResultCode::TransferMustHaveTheSameLedgerAsAccounts);
    }
    Ok(Accounts { debit, credit })
}

/// Status checks for money leaving `debit` and arriving at `credit`:
/// `debit_account_frozen`, `debit_account_closed`, `debit_account_outflow_blocked`,
/// `credit_account_frozen`, `credit_account_closed`.
pub(super) fn check_outflow_status(debit: &Account, credit: &Account) -> Result<(), ResultCode> {
    check_debit_status(debit, true)?;
    check_credit_status(credit)
}

/// Debit-side status: frozen and closed always refuse; outflow-blocked refuses when
/// `outflow_block_applies` (it does not for bank-reported collections).
pub(super) fn check_debit_status(
    debit: &Account,
    outflow_block_applies: bool,
) -> Result<(), ResultCode> {
    match debit.status {
        AccountStatus::Active => Ok(()),
        AccountStatus::Frozen => Err(ResultCode::DebitAccountFrozen),
        AccountStatus::Closed => Err(ResultCode::DebitAccountClosed),
        AccountStatus::OutflowBlocked if outflow_block_applies => {
            Err(ResultCode::DebitAccountOutflowBlocked)
        }
        AccountStatus::OutflowBlocked => Ok(()),
    }
}

/// Credit-side status: frozen and closed accounts take nothing.
pub(super) fn check_credit_status(credit: &Account) -> Result<(), ResultCode> {
    match credit.status {
        AccountStatus::Active | AccountStatus::OutflowBlocked => Ok(()),
        AccountStatus::Frozen => Err(ResultCode::CreditAccountFrozen),
        AccountStatus::Closed => Err(ResultCode::CreditAccountClosed),
    }
}

/// What a balancing debit may take from `debit`: posted credits plus credit line, minus all
/// debits (never negative).
pub(super) fn balancing_debit_available(debit: &Account) -> u128 {
    debit
        .credits_posted
        .saturating_add(debit.credit_line)
        .saturating_sub(debit.debits_pending.saturating_add(debit.debits_posted))
}

/// What a balancing credit may give to `credit`: posted debits minus all credits.
pub(super) fn balancing_credit_available(credit: &Account) -> u128 {
    credit
        .debits_posted
        .saturating_sub(credit.credits_pending.saturating_add(credit.credits_posted))
}

/// `exceeds_per_transfer_limit`, `exceeds_daily_amount_limit`, `exceeds_daily_count_limit`.
/// Returns the usage after counting this debit, for the caller to store.
pub(super) fn check_limits(
    debit: &Account,
    amount: u128,
    day: i64,
) -> Result<OutflowUsage, ResultCode> {
    let limits = debit.limits;
    if let Some(maximum) = limits.per_transfer_amount_max
        && amount > maximum
    {
        return Err(ResultCode::ExceedsPerTransferLimit);
    }
    let today = if debit.outflow_usage.day == day {
        debit.outflow_usage
    } else {
        OutflowUsage { day, amount: 0, count: 0 }
    };
    // An amount that overflows u128 is above any limit; without a limit the sum saturates,
    // which is harmless because it is only ever compared against a limit.
    let amount_today = today.amount.checked_add(amount);
    if let Some(maximum) = limits.per_day_amount_max
        && amount_today.is_none_or(|total| total > maximum)
    {
        return Err(ResultCode::ExceedsDailyAmountLimit);
    }
    let count_today = today.count.checked_add(1);
    if let Some(maximum) = limits.per_day_count_max
        && count_today.is_none_or(|total| total > maximum)
    {
        return Err(ResultCode::ExceedsDailyCountLimit);
    }
    Ok(OutflowUsage {
        day,
        amount: amount_today.unwrap_or(u128::MAX),
        count: count_today.unwrap_or(u32::MAX),
    })
}

/// Debit side: `overflows_debits_pending` / `overflows_debits_posted`, `overflows_debits`,
/// `exceeds_credits` (debits, pending included, above posted credits plus credit line).
pub(super) fn check_debit_balance(
    debit: &Account,
    amount: u128,
    phase: Phase,
) -> Result<(), ResultCode> {
    match phase {
        Phase::Pending => {
            debit.debits_pending.checked_add(amount).ok_or(ResultCode::OverflowsDebitsPending)?
        }
        Phase::Posted => {
            debit.debits_posted.checked_add(amount).ok_or(ResultCode::OverflowsDebitsPosted)?
        }
    };
    let debits = debit
        .debits_pending
        .checked_add(debit.debits_posted)
        .and_then(|total| total.checked_add(amount))
        .ok_or(ResultCode::OverflowsDebits)?;
    if debit.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && debits > debit.credits_posted.saturating_add(debit.credit_line)
    {
        return Err(ResultCode::ExceedsCredits);
    }
    Ok(())
}

/// Credit side: `overflows_credits_pending` / `overflows_credits_posted`, `overflows_credits`,
/// `exceeds_debits` (credits, pending included, above posted debits).
pub(super) fn check_credit_balance(
    credit: &Account,
    amount: u128,
    phase: Phase,
) -> Result<(), ResultCode> {
    match phase {
        Phase::Pending => {
            credit.credits_pending.checked_add(amount).ok_or(ResultCode::OverflowsCreditsPending)?
        }
        Phase::Posted => {
            credit.credits_posted.checked_add(amount).ok_or(ResultCode::OverflowsCreditsPosted)?
        }
    };
    let credits = credit
        .credits_pending
        .checked_add(credit.credits_posted)
        .and_then(|total| total.checked_add(amount))
        .ok_or(ResultCode::OverflowsCredits)?;
    if credit.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        && credits > credit.debits_posted
    {
        return Err(ResultCode::ExceedsDebits);
    }
    Ok(())
}

/// Adds `amount` to both sides after every check passed. The checks proved these additions
/// cannot overflow, so an overflow here is a programmer error and stops the process.
pub(super) fn apply_movement(accounts: &mut Accounts, amount: u128, phase: Phase) {
    let (debit, credit) = (&mut accounts.debit, &mut accounts.credit);
    let (debit_side, credit_side) = match phase {
        Phase::Pending => (&mut debit.debits_pending, &mut credit.credits_pending),
        Phase::Posted => (&mut debit.debits_posted, &mut credit.credits_posted),
    };
    *debit_side = debit_side.checked_add(amount).expect("checked debit cannot overflow");
    *credit_side = credit_side.checked_add(amount).expect("checked credit cannot overflow");
}

/// Releases a reservation (void or expiry): both pending balances drop by its amount.
pub(super) fn release_reservation<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    pending: &Transfer,
    timestamp: u64,
) {
    resolve_reservation(context, pending, 0, timestamp);
}

/// Resolves a reservation: pending balances drop by the reserved amount and `amount_posted`
/// (at most the reserved amount) is posted.
pub(super) fn resolve_reservation<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    pending: &Transfer,
    amount_posted: u128,
    timestamp: u64,
) {
    assert!(amount_posted <= pending.amount, "posting more than was reserved");
    let (Some(mut debit), Some(mut credit)) =
        (context.account(pending.debit_account_id), context.account(pending.credit_account_id))
    else {
        panic!("pending transfer {} names a missing account", pending.id);
    };
    debit.debits_pending =
        debit.debits_pending.checked_sub(pending.amount).expect("reservation is in debits_pending");
    credit.credits_pending = credit
        .credits_pending
        .checked_sub(pending.amount)
        .expect("reservation is in credits_pending");
    debit.debits_posted = debit
        .debits_posted
        .checked_add(amount_posted)
        .expect("posting a reservation cannot overflow");
    credit.credits_posted = credit
        .credits_posted
        .checked_add(amount_posted)
        .expect("posting a reservation cannot overflow");
    context.put_account_moved(debit, timestamp);
    context.put_account_moved(credit, timestamp);
}
