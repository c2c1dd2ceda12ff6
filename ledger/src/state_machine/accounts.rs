//! `create_account`, `set_account_status`, `set_account_limits`.

use super::context::Context;
use super::transfers::check_id;
use crate::TEXT_BYTES_MAX;
use crate::account::{Account, AccountStatus, Limits, NewAccount, OutflowUsage};
use crate::audit::{AuditAction, AuditRecord, SetAccountLimits, SetAccountStatus};
use crate::command::EventResult;
use crate::flags::AccountFlags;
use crate::result::ResultCode;
use crate::store::LedgerStore;

/// Order of checks: `reserved_flag`, `id_must_not_be_zero`, `id_must_not_be_int_max`,
/// `flags_are_mutually_exclusive` (both balance constraints),
/// `credit_line_requires_debits_must_not_exceed_credits`, `ledger_must_not_be_zero`,
/// `code_must_not_be_zero`; then for an existing id: `exists_with_different_flags`,
/// `exists_with_different_credit_line`, `exists_with_different_user_data`,
/// `exists_with_different_ledger`, `exists_with_different_code`, else `exists`.
pub(super) fn create_account<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewAccount,
    timestamp: u64,
) -> EventResult {
    match try_create_account(context, request, timestamp) {
        Ok(result) => result,
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_create_account<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewAccount,
    timestamp: u64,
) -> Result<EventResult, ResultCode> {
    let flags = request.flags;
    if flags.has_reserved_bits() {
        return Err(ResultCode::ReservedFlag);
    }
    check_id(request.id)?;
    let debits_constrained = flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
    if debits_constrained && flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
        return Err(ResultCode::FlagsAreMutuallyExclusive);
    }
    if request.credit_line != 0 && !debits_constrained {
        return Err(ResultCode::CreditLineRequiresDebitsMustNotExceedCredits);
    }
    if request.ledger == 0 {
        return Err(ResultCode::LedgerMustNotBeZero);
    }
    if request.code == 0 {
        return Err(ResultCode::CodeMustNotBeZero);
    }
    let flags = flags.without(AccountFlags::LINKED);
    if let Some(existing) = context.account(request.id) {
        if existing.flags != flags {
            return Err(ResultCode::ExistsWithDifferentFlags);
        }
        if existing.credit_line != request.credit_line {
            return Err(ResultCode::ExistsWithDifferentCreditLine);
        }
        if existing.user_data != request.user_data {
            return Err(ResultCode::ExistsWithDifferentUserData);
        }
        if existing.ledger != request.ledger {
            return Err(ResultCode::ExistsWithDifferentLedger);
        }
        if existing.code != request.code {
            return Err(ResultCode::ExistsWithDifferentCode);
        }
        return Ok(EventResult::code(ResultCode::Exists, existing.timestamp));
    }
    context.put_account(Account {
        id: request.id,
        ledger: request.ledger,
        code: request.code,
        flags,
        credit_line: request.credit_line,
        user_data: request.user_data,
        debits_pending: 0,
        debits_posted: 0,
        credits_pending: 0,
        credits_posted: 0,
        status: AccountStatus::Active,
        status_changed_at: 0,
        limits: Limits::NONE,
        limits_day: 0,
        outflow_usage: OutflowUsage::default(),
        timestamp,
    });
    Ok(EventResult::code(ResultCode::Ok, timestamp))
}

/// `reason_must_not_be_empty`, `actor_must_not_be_empty`, `text_too_long` (either).
pub(super) fn check_reason_and_actor(reason: &str, actor: &str) -> Result<(), ResultCode> {
    if reason.is_empty() {
        return Err(ResultCode::ReasonMustNotBeEmpty);
    }
    if actor.is_empty() {
        return Err(ResultCode::ActorMustNotBeEmpty);
    }
    if reason.len() > TEXT_BYTES_MAX || actor.len() > TEXT_BYTES_MAX {
        return Err(ResultCode::TextTooLong);
    }
    Ok(())
}

/// Order of checks: `id_must_not_be_zero`, `id_must_not_be_int_max` (the account id), reason
/// and actor checks, `account_not_found`; the same status again is `ok` and changes nothing
/// (retries are safe); then `account_closed`, `close_requires_zero_balance` (nothing pending,
/// posted debits equal posted credits). Applied changes leave an audit record.
pub(super) fn set_account_status<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &SetAccountStatus,
    timestamp: u64,
) -> EventResult {
    let code = match try_set_account_status(context, request, timestamp) {
        Ok(()) => ResultCode::Ok,
        Err(code) => code,
    };
    EventResult::code(code, timestamp)
}

fn try_set_account_status<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &SetAccountStatus,
    timestamp: u64,
) -> Result<(), ResultCode> {
    check_id(request.account_id)?;
    check_reason_and_actor(&request.reason, &request.actor)?;
    let mut account = context.account(request.account_id).ok_or(ResultCode::AccountNotFound)?;
    if account.status == request.status {
        return Ok(());
    }
    if account.status == AccountStatus::Closed {
        return Err(ResultCode::AccountClosed);
    }
    if request.status == AccountStatus::Closed
        && (account.debits_pending != 0
            || account.credits_pending != 0
            || account.debits_posted != account.credits_posted)
    {
        return Err(ResultCode::CloseRequiresZeroBalance);
    }
    let from = account.status;
    account.status = request.status;
    account.status_changed_at = timestamp;
    context.put_account(account);
    context.push_audit(AuditRecord {
        timestamp,
        account_id: account.id,
        action: AuditAction::Status { from, to: request.status },
        reason: request.reason.clone(),
        actor: request.actor.clone(),
    });
    Ok(())
}

/// Order of checks: account id, reason and actor, `account_not_found`; the same limits again
/// are `ok` and change nothing; `account_closed`. Applied changes leave an audit record.
pub(super) fn set_account_limits<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &SetAccountLimits,
    timestamp: u64,
    day: i64,
) -> EventResult {
    let code = match try_set_account_limits(context, request, timestamp, day) {
        Ok(()) => ResultCode::Ok,
        Err(code) => code,
    };
    EventResult::code(code, timestamp)
}

fn try_set_account_limits<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &SetAccountLimits,
    timestamp: u64,
    day: i64,
) -> Result<(), ResultCode> {
    check_id(request.account_id)?;
    check_reason_and_actor(&request.reason, &request.actor)?;
    let mut account = context.account(request.account_id).ok_or(ResultCode::AccountNotFound)?;
    if account.limits == request.limits {
        return Ok(());
    }
    if account.status == AccountStatus::Closed {
        return Err(ResultCode::AccountClosed);
    }
    let from = account.limits;
    account.limits = request.limits;
    account.limits_day = day;
    context.put_account(account);
    context.push_audit(AuditRecord {
        timestamp,
        account_id: account.id,
        action: AuditAction::Limits { from, to: request.limits },
        reason: request.reason.clone(),
        actor: request.actor.clone(),
    });
    Ok(())
}
