//! `create_account`, `set_account_status`, `set_account_limits`.

use super::context::Context;
use super::transfers::check_id;
use crate::TEXT_BYTES_MAX;
use crate::account::{Account, AccountStatus, Limits, NewAccount, OutflowUsage};
use crate::audit::{
    AccountLimitsChange, AccountStatusChange, AuditAction, AuditRecord, ControlChange,
    ControlTarget, SetAccountLimits, SetAccountStatus,
};
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
    let account = context.account(request.account_id).ok_or(ResultCode::AccountNotFound)?;
    apply_status(context, account, request.status, &request.reason, &request.actor, timestamp)
}

/// Sets `status` on `account` (found): the same status again changes nothing; then
/// `account_closed`, `close_requires_zero_balance`; an applied change leaves an audit record
/// (which moves the controls version).
fn apply_status<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    mut account: Account,
    status: AccountStatus,
    reason: &str,
    actor: &str,
    timestamp: u64,
) -> Result<(), ResultCode> {
    if account.status == status {
        return Ok(());
    }
    if account.status == AccountStatus::Closed {
        return Err(ResultCode::AccountClosed);
    }
    if status == AccountStatus::Closed
        && (account.debits_pending != 0
            || account.credits_pending != 0
            || account.debits_posted != account.credits_posted)
    {
        return Err(ResultCode::CloseRequiresZeroBalance);
    }
    let from = account.status;
    account.status = status;
    account.status_changed_at = timestamp;
    context.put_account(account);
    context.push_audit(AuditRecord {
        timestamp,
        account_id: account.id,
        action: AuditAction::Status { from, to: status },
        reason: reason.to_owned(),
        actor: actor.to_owned(),
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
    let account = context.account(request.account_id).ok_or(ResultCode::AccountNotFound)?;
    let change = LimitsChange { limits: request.limits, day, timestamp };
    apply_limits(context, account, change, &request.reason, &request.actor)
}

/// New limits and when they are set.
struct LimitsChange {
    limits: Limits,
    day: i64,
    timestamp: u64,
}

/// Sets limits on `account` (found): the same limits again change nothing; then
/// `account_closed`; an applied change leaves an audit record (which moves the controls
/// version).
fn apply_limits<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    mut account: Account,
    change: LimitsChange,
    reason: &str,
    actor: &str,
) -> Result<(), ResultCode> {
    if account.limits == change.limits {
        return Ok(());
    }
    if account.status == AccountStatus::Closed {
        return Err(ResultCode::AccountClosed);
    }
    let from = account.limits;
    account.limits = change.limits;
    account.limits_day = change.day;
    context.put_account(account);
    context.push_audit(AuditRecord {
        timestamp: change.timestamp,
        account_id: account.id,
        action: AuditAction::Limits { from, to: change.limits },
        reason: reason.to_owned(),
        actor: actor.to_owned(),
    });
    Ok(())
}

/// What a control change names, for the checks both kinds share.
struct ControlRequest<'r> {
    id: u128,
    account_id: u128,
    expected_controls_version: u64,
    target: ControlTarget,
    reason: &'r str,
    actor: &'r str,
}

/// Order of checks for `change_account_status` and `change_account_limits`:
/// `id_must_not_be_zero`, `id_must_not_be_int_max` (the change id), reason and actor checks;
/// then an id already applied is `exists` when it named the same account and the same status
/// or limits, else `exists_with_different_change` (a retry is answered before its expected
/// version is compared, which the change itself moved); then `account_not_found`,
/// `controls_version_stale` (the account's controls version is not the expected one); then
/// the kind's own checks (see `apply_status`, `apply_limits`). The change is recorded under
/// its id when it is `ok`, even when it set what was already set.
fn check_control_change<S: LedgerStore + ?Sized>(
    context: &Context<'_, S>,
    request: &ControlRequest<'_>,
) -> Result<Checked, ResultCode> {
    check_id(request.id)?;
    check_reason_and_actor(request.reason, request.actor)?;
    if let Some(applied) = context.control_change(request.id) {
        if applied.account_id == request.account_id && applied.target == request.target {
            return Ok(Checked::Retry { applied_at: applied.timestamp });
        }
        return Err(ResultCode::ExistsWithDifferentChange);
    }
    let account = context.account(request.account_id).ok_or(ResultCode::AccountNotFound)?;
    if context.account_controls(request.account_id).version != request.expected_controls_version {
        return Err(ResultCode::ControlsVersionStale);
    }
    Ok(Checked::Apply(account))
}

/// What `check_control_change` decided. Lives on the stack for one event; boxing the
/// account would cost an allocation per change for nothing.
#[allow(clippy::large_enum_variant)]
enum Checked {
    /// A new change, current: apply it to the account.
    Apply(Account),
    /// A retry of a change applied at `applied_at`.
    Retry { applied_at: u64 },
}

/// Records an applied (`ok`) control change under its id.
fn record_control_change<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &ControlRequest<'_>,
    timestamp: u64,
) {
    let version = context.account_controls(request.account_id).version;
    context.insert_control_change(ControlChange {
        id: request.id,
        account_id: request.account_id,
        target: request.target,
        version,
        timestamp,
    });
}

/// See `check_control_change` for the order of checks, then `apply_status`'s.
pub(super) fn change_account_status<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &AccountStatusChange,
    timestamp: u64,
) -> EventResult {
    let control = ControlRequest {
        id: request.id,
        account_id: request.account_id,
        expected_controls_version: request.expected_controls_version,
        target: ControlTarget::Status(request.status),
        reason: &request.reason,
        actor: &request.actor,
    };
    change_controls(context, &control, timestamp, |context, account| {
        apply_status(context, account, request.status, &request.reason, &request.actor, timestamp)
    })
}

/// See `check_control_change` for the order of checks, then `apply_limits`'s.
pub(super) fn change_account_limits<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &AccountLimitsChange,
    timestamp: u64,
    day: i64,
) -> EventResult {
    let control = ControlRequest {
        id: request.id,
        account_id: request.account_id,
        expected_controls_version: request.expected_controls_version,
        target: ControlTarget::Limits(request.limits),
        reason: &request.reason,
        actor: &request.actor,
    };
    change_controls(context, &control, timestamp, |context, account| {
        let change = LimitsChange { limits: request.limits, day, timestamp };
        apply_limits(context, account, change, &request.reason, &request.actor)
    })
}

/// The shape both control changes share: the common checks, then `apply` (the kind's own
/// checks and writes) for a new current change, then the result and the record.
fn change_controls<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    control: &ControlRequest<'_>,
    timestamp: u64,
    apply: impl FnOnce(&mut Context<'_, S>, Account) -> Result<(), ResultCode>,
) -> EventResult {
    let result = check_control_change(context, control).and_then(|checked| match checked {
        Checked::Retry { applied_at } => Ok(Some(applied_at)),
        Checked::Apply(account) => apply(context, account).map(|()| None),
    });
    control_result(context, control, result, timestamp)
}

/// The event's result: `exists` at the original's time for a retry, `ok` (recorded under the
/// change id) for an applied change, the code of a refusal.
fn control_result<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    control: &ControlRequest<'_>,
    result: Result<Option<u64>, ResultCode>,
    timestamp: u64,
) -> EventResult {
    match result {
        Ok(Some(applied_at)) => EventResult::code(ResultCode::Exists, applied_at),
        Ok(None) => {
            // A change that set what was already set filed no audit record; it is still a
            // decision newer than any in flight, so the version moves all the same.
            if context.account_controls(control.account_id).version
                == control.expected_controls_version
            {
                context.move_controls_version(control.account_id, timestamp);
            }
            record_control_change(context, control, timestamp);
            EventResult::code(ResultCode::Ok, timestamp)
        }
        Err(code) => EventResult::code(code, timestamp),
    }
}
