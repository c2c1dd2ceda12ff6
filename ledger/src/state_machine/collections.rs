//! `book_collection`: money the bank reports as arrived, booked once per bank reference.

use super::context::Context;
use super::movement::{self, Phase};
use super::transfers::{check_id, check_ledger_code_amount};
use crate::TEXT_BYTES_MAX;
use crate::account::{Account, AccountStatus};
use crate::collection::{Collection, CollectionKey, NewCollection, SuspenseReason};
use crate::command::{Detail, EventResult};
use crate::flags::TransferFlags;
use crate::result::ResultCode;
use crate::store::LedgerStore;
use crate::transfer::Transfer;

/// Order of checks: `id_must_not_be_zero` / `_int_max`, `bank_must_not_be_zero`,
/// `bank_reference_must_not_be_empty`, `text_too_long`, `ledger_must_not_be_zero`,
/// `code_must_not_be_zero`, `amount_must_not_be_zero`; for a booked reference
/// `collection_exists_with_different_id` / `_amount` / `_beneficiary` / `_accounts`
/// (settlement, suspense, ledger, code, user_data), else `exists`; `id_already_used`;
/// `id_already_failed` (the id was refused as a transfer or payout: it must never move money
/// later; a collection's own refusals are not recorded — the bank's report stays bookable
/// once the accounts are in order);
/// `settlement_account_not_found`, `suspense_account_not_found` (missing or another ledger),
/// `accounts_must_be_different` (settlement = suspense); settlement status
/// (`debit_account_frozen`, `debit_account_closed`; an outflow block does not stop money the
/// bank already received); the settlement side's balance checks. Then the beneficiary is
/// chosen: it takes the credit unless it is missing, on another ledger, frozen, closed, the
/// settlement account itself, or cannot take it (balance flag, overflow) — then the suspense
/// account does, whose own status and balance checks (`credit_account_*`,
/// `overflows_credits*`, `exceeds_debits`) must pass.
pub(super) fn book_collection<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewCollection,
    timestamp: u64,
) -> EventResult {
    match try_book_collection(context, request, timestamp) {
        Ok(result) => result,
        Err(code) => EventResult::code(code, timestamp),
    }
}

fn try_book_collection<S: LedgerStore + ?Sized>(
    context: &mut Context<'_, S>,
    request: &NewCollection,
    timestamp: u64,
) -> Result<EventResult, ResultCode> {
    check_id(request.id)?;
    check_bank_reference(request.bank, &request.bank_reference)?;
    check_ledger_code_amount(request.ledger, request.code, request.amount)?;
    let key = CollectionKey { bank: request.bank, bank_reference: request.bank_reference.clone() };
    if let Some(existing) = context.collection(&key) {
        return compare_existing(&existing, request);
    }
    if context.transfer(request.id).is_some() {
        return Err(ResultCode::IdAlreadyUsed);
    }
    context.check_not_refused(request.id)?;

    let on_ledger = |account: Option<Account>| account.filter(|a| a.ledger == request.ledger);
    let mut settlement = on_ledger(context.account(request.settlement_account_id))
        .ok_or(ResultCode::SettlementAccountNotFound)?;
    let suspense = on_ledger(context.account(request.suspense_account_id))
        .ok_or(ResultCode::SuspenseAccountNotFound)?;
    if settlement.id == suspense.id {
        return Err(ResultCode::AccountsMustBeDifferent);
    }
    movement::check_debit_status(&settlement, false)?;
    movement::check_debit_balance(&settlement, request.amount, Phase::Posted)?;

    let beneficiary = context.account(request.beneficiary_account_id);
    let (mut credited, suspense_reason) =
        match beneficiary_refusal(beneficiary.as_ref(), &settlement, request) {
            None => (beneficiary.expect("no refusal means the beneficiary exists"), None),
            Some(reason) => {
                movement::check_credit_status(&suspense)?;
                movement::check_credit_balance(&suspense, request.amount, Phase::Posted)?;
                (suspense, Some(reason))
            }
        };

    settlement.debits_posted = settlement
        .debits_posted
        .checked_add(request.amount)
        .expect("checked debit cannot overflow");
    credited.credits_posted = credited
        .credits_posted
        .checked_add(request.amount)
        .expect("checked credit cannot overflow");
    context.put_account_moved(settlement, timestamp);
    context.put_account_moved(credited, timestamp);
    context.insert_transfer(Transfer {
        id: request.id,
        debit_account_id: settlement.id,
        credit_account_id: credited.id,
        amount: request.amount,
        amount_requested: request.amount,
        pending_id: 0,
        user_data: request.user_data,
        timeout: 0,
        ledger: request.ledger,
        code: request.code,
        flags: TransferFlags::NONE,
        timestamp,
    });
    context.insert_collection(Collection {
        request: request.clone(),
        credited_account_id: credited.id,
        suspense: suspense_reason,
        timestamp,
    });
    Ok(EventResult {
        code: ResultCode::Ok,
        timestamp,
        detail: Detail::Collection { credited_account_id: credited.id, suspense: suspense_reason },
    })
}

/// Why the beneficiary cannot take this credit, or `None` when it can.
fn beneficiary_refusal(
    beneficiary: Option<&Account>,
    settlement: &Account,
    request: &NewCollection,
) -> Option<SuspenseReason> {
    let Some(beneficiary) = beneficiary else {
        return Some(SuspenseReason::BeneficiaryNotFound);
    };
    if beneficiary.ledger != request.ledger {
        return Some(SuspenseReason::BeneficiaryOnAnotherLedger);
    }
    match beneficiary.status {
        AccountStatus::Frozen => return Some(SuspenseReason::BeneficiaryFrozen),
        AccountStatus::Closed => return Some(SuspenseReason::BeneficiaryClosed),
        AccountStatus::Active | AccountStatus::OutflowBlocked => {}
    }
    if beneficiary.id == settlement.id
        || movement::check_credit_balance(beneficiary, request.amount, Phase::Posted).is_err()
    {
        return Some(SuspenseReason::BeneficiaryCannotTakeCredit);
    }
    None
}

fn compare_existing(
    existing: &Collection,
    request: &NewCollection,
) -> Result<EventResult, ResultCode> {
    let booked = &existing.request;
    if booked.id != request.id {
        return Err(ResultCode::CollectionExistsWithDifferentId);
    }
    if booked.amount != request.amount {
        return Err(ResultCode::CollectionExistsWithDifferentAmount);
    }
    if booked.beneficiary_account_id != request.beneficiary_account_id {
        return Err(ResultCode::CollectionExistsWithDifferentBeneficiary);
    }
    if booked != request {
        return Err(ResultCode::CollectionExistsWithDifferentAccounts);
    }
    Ok(EventResult {
        code: ResultCode::Exists,
        timestamp: existing.timestamp,
        detail: Detail::Collection {
            credited_account_id: existing.credited_account_id,
            suspense: existing.suspense,
        },
    })
}

/// The checks every request naming a bank's record shares, in order: a bank, and a bank
/// reference that is neither empty nor longer than `TEXT_BYTES_MAX`.
pub(super) fn check_bank_reference(bank: u32, bank_reference: &str) -> Result<(), ResultCode> {
    if bank == 0 {
        return Err(ResultCode::BankMustNotBeZero);
    }
    if bank_reference.is_empty() {
        return Err(ResultCode::BankReferenceMustNotBeEmpty);
    }
    if bank_reference.len() > TEXT_BYTES_MAX {
        return Err(ResultCode::TextTooLong);
    }
    Ok(())
}
