//! `record_discrepancy` and `resolve_discrepancy`: a difference reconciliation found with a
//! bank, recorded by the same event that outflow-blocks the accounts it names, and an
//! operator's resolution that lifts the blocks no other open discrepancy holds.
//!
//! Neither records its refusals (`Table::Refusals`): they move no money, and a reconciler's
//! report refused because an account did not exist yet must still be recordable once it does.

use super::accounts::check_reason_and_actor;
use super::collections::check_bank_reference;
use super::context::Context;
use super::transfers::check_id;
use crate::TEXT_BYTES_MAX;
use crate::account::AccountStatus;
use crate::audit::{AuditAction, AuditRecord};
use crate::command::EventResult;
use crate::discrepancy::{
    DISCREPANCY_ACCOUNTS_MAX, Discrepancy, DiscrepancyBlock, DiscrepancyClass, DiscrepancyState,
    EVIDENCE_BYTES_MAX, NewDiscrepancy, ResolveDiscrepancy,
};
use crate::result::ResultCode;
use crate::store::LedgerStore;

/// Order of checks: `id_must_not_be_zero` / `_int_max` (the discrepancy's id);
/// `bank_must_not_be_zero`, `bank_reference_must_not_be_empty`, `text_too_long` (the
/// reference, at most `TEXT_BYTES_MAX`); `text_too_long` (either side's evidence, at most
/// `EVIDENCE_BYTES_MAX`); `actor_must_not_be_empty`, `text_too_long` (the actor);
/// `too_many_discrepancy_accounts` (more than `DISCREPANCY_ACCOUNTS_MAX`); each account id in
/// order, `id_must_not_be_zero` / `_int_max`; `accounts_must_be_different` (an account named
/// twice). For an id already recorded, open or resolved:
/// `discrepancy_exists_with_different_fields` when its bank, class, reference or set of
/// accounts (in any order) differ, else `exists` with the original timestamp — amounts,
/// evidence, cut-off and actor are not compared: a second reconciler reports the same
/// difference at its own cut-off, in its own words, and the first report stands (a resolved
/// difference found again stays resolved: it was explained). Then `account_not_found` (the
/// first account, in order, that does not exist). An empty list of accounts is accepted: the
/// difference is recorded and blocks nothing, rather than lost.
///
/// Applied, the discrepancy is stored `Open` and filed in the index under its timestamp; it
/// holds every account it names (one `DiscrepancyBlock` each), and every one of them that is
/// active moves to outflow-blocked with an audit record (the reconciler as actor, the
/// discrepancy's id and class as reason) and is listed in `blocked_account_ids`. An account
/// already outflow-blocked, frozen or closed is left as it is, and held all the same.
pub(super) fn record_discrepancy<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewDiscrepancy,
    timestamp: u64,
) -> EventResult {
    match try_record_discrepancy(context, request, timestamp) {
        Ok(result) => result,
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_record_discrepancy<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewDiscrepancy,
    timestamp: u64,
) -> Result<EventResult, ResultCode> {
    check_report(request)?;
    if let Some(existing) = context.discrepancy(request.id) {
        if !same_difference(&existing.request, request) {
            return Err(ResultCode::DiscrepancyExistsWithDifferentFields);
        }
        return Ok(EventResult::code(ResultCode::Exists, existing.timestamp));
    }
    let mut accounts = Vec::with_capacity(request.account_ids.len());
    for &account_id in &request.account_ids {
        accounts.push(context.account(account_id).ok_or(ResultCode::AccountNotFound)?);
    }

    let reason = audit_reason(request.id, request.class, "outflow blocked");
    let mut blocked_account_ids = Vec::new();
    for mut account in accounts {
        let block = DiscrepancyBlock { account_id: account.id, discrepancy_id: request.id };
        context.set_discrepancy_block(block, true);
        if account.status != AccountStatus::Active {
            continue;
        }
        account.status = AccountStatus::OutflowBlocked;
        account.status_changed_at = timestamp;
        context.put_account(account);
        context.push_audit(AuditRecord {
            timestamp,
            account_id: account.id,
            action: AuditAction::Status {
                from: AccountStatus::Active,
                to: AccountStatus::OutflowBlocked,
            },
            reason: reason.clone(),
            actor: request.actor.clone(),
        });
        blocked_account_ids.push(account.id);
    }
    let discrepancy = Discrepancy {
        request: request.clone(),
        blocked_account_ids,
        state: DiscrepancyState::Open,
        timestamp,
        resolved_at: 0,
        resolution: String::new(),
        resolved_by: String::new(),
    };
    context.put_discrepancy(discrepancy, true);
    Ok(EventResult::code(ResultCode::Ok, timestamp))
}

/// The checks on the report alone, in the documented order.
fn check_report(request: &NewDiscrepancy) -> Result<(), ResultCode> {
    check_id(request.id)?;
    check_bank_reference(request.bank, &request.reference)?;
    if request.ledger_evidence.len() > EVIDENCE_BYTES_MAX
        || request.bank_evidence.len() > EVIDENCE_BYTES_MAX
    {
        return Err(ResultCode::TextTooLong);
    }
    if request.actor.is_empty() {
        return Err(ResultCode::ActorMustNotBeEmpty);
    }
    if request.actor.len() > TEXT_BYTES_MAX {
        return Err(ResultCode::TextTooLong);
    }
    if request.account_ids.len() > DISCREPANCY_ACCOUNTS_MAX {
        return Err(ResultCode::TooManyDiscrepancyAccounts);
    }
    for &account_id in &request.account_ids {
        check_id(account_id)?;
    }
    let mut sorted = request.account_ids.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(ResultCode::AccountsMustBeDifferent);
    }
    Ok(())
}

/// Whether two reports under one id describe the same difference: bank, class, reference and
/// the set of accounts.
fn same_difference(recorded: &NewDiscrepancy, request: &NewDiscrepancy) -> bool {
    let sorted = |ids: &[u128]| {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids
    };
    recorded.bank == request.bank
        && recorded.class == request.class
        && recorded.reference == request.reference
        && sorted(&recorded.account_ids) == sorted(&request.account_ids)
}

/// The reason of a discrepancy's audit records: its id (hex, as reconcilers print it) and
/// class, well within `TEXT_BYTES_MAX` (the operator's own words stay on the discrepancy).
fn audit_reason(id: u128, class: DiscrepancyClass, what: &str) -> String {
    format!("discrepancy {id:#034x} ({}): {what}", class.name())
}

/// Order of checks: `id_must_not_be_zero` / `_int_max`, `reason_must_not_be_empty`,
/// `actor_must_not_be_empty`, `text_too_long`; `discrepancy_not_found`; for a resolved
/// discrepancy `exists` (with the resolution's timestamp) when the reason and the actor are
/// the resolution's — a retry of the same resolution is safe — else
/// `discrepancy_already_resolved` (another operator's or another explanation is not silently
/// dropped: it is told the discrepancy is already closed).
///
/// Applied, the discrepancy is `Resolved` (time, reason, operator) and stops holding its
/// accounts. Each account it named that no other open discrepancy holds returns to active,
/// with an audit record (the operator as actor), when it is still outflow-blocked by a
/// discrepancy: its last status change was a discrepancy's recording (the index holds that
/// time). Any other status stands — an operator's own block set since, a freeze, a close, or
/// an operator's unblock. Resolving is the one way a discrepancy's block ends by itself; an
/// operator who unblocks a held account directly (`SetAccountStatus`) overrides the block but
/// resolves nothing, and the discrepancy keeps holding the account until it is resolved.
/// (Setting a status already in force changes nothing, so an operator who wants an account
/// kept blocked after the resolution blocks it again afterwards.)
pub(super) fn resolve_discrepancy<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &ResolveDiscrepancy,
    timestamp: u64,
) -> EventResult {
    match try_resolve_discrepancy(context, request, timestamp) {
        Ok(result) => result,
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_resolve_discrepancy<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &ResolveDiscrepancy,
    timestamp: u64,
) -> Result<EventResult, ResultCode> {
    check_id(request.id)?;
    check_reason_and_actor(&request.reason, &request.actor)?;
    let mut discrepancy = context.discrepancy(request.id).ok_or(ResultCode::DiscrepancyNotFound)?;
    if !discrepancy.is_open() {
        if discrepancy.resolution == request.reason && discrepancy.resolved_by == request.actor {
            return Ok(EventResult::code(ResultCode::Exists, discrepancy.resolved_at));
        }
        return Err(ResultCode::DiscrepancyAlreadyResolved);
    }

    let reason = audit_reason(request.id, discrepancy.request.class, "resolved");
    for &account_id in &discrepancy.request.account_ids {
        let block = DiscrepancyBlock { account_id, discrepancy_id: request.id };
        context.set_discrepancy_block(block, false);
        if !context.discrepancies_holding(account_id, 1).is_empty() {
            continue;
        }
        let Some(mut account) = context.account(account_id) else {
            panic!("discrepancy {:#x} holds missing account {account_id}", request.id);
        };
        let blocked_by_discrepancy = account.status == AccountStatus::OutflowBlocked
            && context.discrepancy_recorded_at(account.status_changed_at).is_some();
        if !blocked_by_discrepancy {
            continue;
        }
        account.status = AccountStatus::Active;
        account.status_changed_at = timestamp;
        context.put_account(account);
        context.push_audit(AuditRecord {
            timestamp,
            account_id,
            action: AuditAction::Status {
                from: AccountStatus::OutflowBlocked,
                to: AccountStatus::Active,
            },
            reason: reason.clone(),
            actor: request.actor.clone(),
        });
    }
    discrepancy.state = DiscrepancyState::Resolved;
    discrepancy.resolved_at = timestamp;
    discrepancy.resolution = request.reason.clone();
    discrepancy.resolved_by = request.actor.clone();
    context.put_discrepancy(discrepancy, false);
    Ok(EventResult::code(ResultCode::Ok, timestamp))
}
