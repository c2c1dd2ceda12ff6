//! `assign_suspense`: an operator takes a collection out of suspense and credits the account
//! it belongs to — once, audited.

use super::accounts::check_reason_and_actor;
use super::collections::check_bank_reference;
use super::context::Context;
use super::movement::{self, Phase};
use super::transfers::check_id;
use crate::audit::{AuditAction, AuditRecord};
use crate::collection::{AssignSuspense, CollectionKey, SuspenseAssignment, SuspenseKey};
use crate::command::{Detail, EventResult};
use crate::flags::TransferFlags;
use crate::result::ResultCode;
use crate::store::LedgerStore;
use crate::transfer::Transfer;

/// Order of checks: `id_must_not_be_zero` / `_int_max` (the assignment id),
/// `bank_must_not_be_zero`, `bank_reference_must_not_be_empty`, `text_too_long` (the
/// reference), `reason_must_not_be_empty`, `actor_must_not_be_empty`, `text_too_long`,
/// `credit_account_id_must_not_be_zero` / `_int_max`; `collection_not_found`,
/// `collection_not_in_suspense`; for an assigned collection `exists` when the same id
/// assigned it to the same account (reason and actor are not compared: they describe the
/// operator's act, not the money), `exists_with_different_credit_account_id` for the same id
/// and another account, `suspense_already_assigned` for another id; `id_already_used` (a
/// transfer holds the id); `id_already_failed`. Then the target account must be able to
/// take the money, by the rules that send a collection to suspense: `credit_account_not_found`,
/// `accounts_must_have_the_same_ledger` (not the collection's ledger),
/// `accounts_must_be_different` (the suspense or the settlement account itself),
/// `credit_account_frozen`, `credit_account_closed`; the suspense account's debit
/// (`debit_account_frozen`, `debit_account_closed` — an outflow block does not stop it, as it
/// does not stop the collection — and its balance checks); the target's balance checks
/// (`overflows_credits_posted`, `overflows_credits`, `exceeds_debits`).
///
/// Applied, it posts a transfer suspense → account of the collection's amount under the
/// assignment's id (ledger, code and user data of the collection), records the
/// `SuspenseAssignment`, removes the collection from the suspense index and files an audit
/// record for the target account. Refusals are not recorded (`Table::Refusals`): as for a
/// collection, the operator's request stays valid once the accounts are in order.
pub(super) fn assign_suspense<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &AssignSuspense,
    timestamp: u64,
) -> EventResult {
    match try_assign_suspense(context, request, timestamp) {
        Ok(result) => result,
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_assign_suspense<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &AssignSuspense,
    timestamp: u64,
) -> Result<EventResult, ResultCode> {
    check_id(request.id)?;
    check_bank_reference(request.bank, &request.bank_reference)?;
    check_reason_and_actor(&request.reason, &request.actor)?;
    if request.account_id == 0 {
        return Err(ResultCode::CreditAccountIdMustNotBeZero);
    }
    if request.account_id == u128::MAX {
        return Err(ResultCode::CreditAccountIdMustNotBeIntMax);
    }
    let key = CollectionKey { bank: request.bank, bank_reference: request.bank_reference.clone() };
    let collection = context.collection(&key).ok_or(ResultCode::CollectionNotFound)?;
    if collection.suspense.is_none() {
        return Err(ResultCode::CollectionNotInSuspense);
    }
    if let Some(assignment) = context.suspense_assignment(&key) {
        if assignment.id != request.id {
            return Err(ResultCode::SuspenseAlreadyAssigned);
        }
        if assignment.account_id != request.account_id {
            return Err(ResultCode::ExistsWithDifferentCreditAccountId);
        }
        return Ok(EventResult {
            code: ResultCode::Exists,
            timestamp: assignment.timestamp,
            detail: Detail::Amount(assignment.amount),
        });
    }
    if context.transfer(request.id).is_some() {
        return Err(ResultCode::IdAlreadyUsed);
    }
    context.check_not_refused(request.id)?;

    let booked = &collection.request;
    let amount = booked.amount;
    let Some(mut suspense) = context.account(collection.credited_account_id) else {
        panic!("collection {key:?} names missing suspense account");
    };
    let mut target =
        context.account(request.account_id).ok_or(ResultCode::CreditAccountNotFound)?;
    if target.ledger != booked.ledger {
        return Err(ResultCode::AccountsMustHaveTheSameLedger);
    }
    if target.id == suspense.id || target.id == booked.settlement_account_id {
        return Err(ResultCode::AccountsMustBeDifferent);
    }
    movement::check_credit_status(&target)?;
    movement::check_debit_status(&suspense, false)?;
    movement::check_debit_balance(&suspense, amount, Phase::Posted)?;
    movement::check_credit_balance(&target, amount, Phase::Posted)?;

    suspense.debits_posted =
        suspense.debits_posted.checked_add(amount).expect("checked debit cannot overflow");
    target.credits_posted =
        target.credits_posted.checked_add(amount).expect("checked credit cannot overflow");
    context.put_account_moved(suspense, timestamp);
    context.put_account_moved(target, timestamp);
    context.insert_transfer(Transfer {
        id: request.id,
        debit_account_id: suspense.id,
        credit_account_id: target.id,
        amount,
        amount_requested: amount,
        pending_id: 0,
        user_data: booked.user_data,
        timeout: 0,
        ledger: booked.ledger,
        code: booked.code,
        flags: TransferFlags::NONE,
        timestamp,
    });
    let index = SuspenseKey { bank: key.bank, timestamp: collection.timestamp };
    context.insert_suspense_assignment(
        SuspenseAssignment {
            id: request.id,
            collection: key.clone(),
            suspense_account_id: suspense.id,
            account_id: target.id,
            amount,
            timestamp,
        },
        index,
    );
    context.push_audit(AuditRecord {
        timestamp,
        account_id: target.id,
        action: AuditAction::SuspenseAssigned {
            assignment_id: request.id,
            collection: key,
            suspense_account_id: suspense.id,
            amount,
        },
        reason: request.reason.clone(),
        actor: request.actor.clone(),
    });
    Ok(EventResult { code: ResultCode::Ok, timestamp, detail: Detail::Amount(amount) })
}
