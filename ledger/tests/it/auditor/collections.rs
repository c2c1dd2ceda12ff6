//! Collections: money the bank reports as arrived. Ordered rules decide whether it is booked;
//! an ordered list of named routes decides whether the beneficiary or suspense takes it.

use tianping_ledger::{
    Account, AccountStatus, Collection, CollectionKey, Detail, EventResult, NewCollection,
    NewTransfer, ResultCode as R, SuspenseReason, TEXT_BYTES_MAX, TransferFlags,
};

use super::balances::{column_overflows, debits_with, overdrawn_by_debit, refuses_posted_credit};
use super::balances::{credits_with, overcredited_by_credit};
use super::rules::{Ground::Identity, Ground::Request, Ground::State, Rule, first, rule};
use super::{Auditor, Verdict};

/// What a collection is judged on.
pub struct Facts {
    request: NewCollection,
    /// The collection already booked under the bank's reference.
    booked: Option<Collection>,
    /// A transfer or payout holds the id.
    id_taken: bool,
    /// The id was refused before (as a transfer or payout).
    refused_before: bool,
    /// The settlement account, when it exists on the request's ledger.
    settlement: Option<Account>,
    /// The suspense account, when it exists on the request's ledger.
    suspense: Option<Account>,
    /// The beneficiary, wherever it is.
    beneficiary: Option<Account>,
    /// Why suspense takes the money, or `None` when the beneficiary does.
    route: Option<SuspenseReason>,
}

impl Facts {
    fn settlement(&self) -> &Account {
        self.settlement.as_ref().expect("`settlement_account_not_found` comes first")
    }

    fn suspense(&self) -> &Account {
        self.suspense.as_ref().expect("`suspense_account_not_found` comes first")
    }

    fn booked_differs<T: PartialEq>(&self, field: fn(&NewCollection) -> T) -> bool {
        self.booked.as_ref().is_some_and(|booked| field(&booked.request) != field(&self.request))
    }

    /// Suspense takes the money and fails `refuses`.
    fn suspense_refuses(&self, refuses: fn(&Account, u128) -> bool) -> bool {
        self.route.is_some() && refuses(self.suspense(), self.request.amount)
    }
}

const SHAPE: &[Rule<Facts>] = &[
    rule(R::IdMustNotBeZero, Request, |f| f.request.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |f| f.request.id == u128::MAX),
    rule(R::BankMustNotBeZero, Request, |f| f.request.bank == 0),
    rule(R::BankReferenceMustNotBeEmpty, Request, |f| f.request.bank_reference.is_empty()),
    rule(R::TextTooLong, Request, |f| f.request.bank_reference.len() > TEXT_BYTES_MAX),
    rule(R::LedgerMustNotBeZero, Request, |f| f.request.ledger == 0),
    rule(R::CodeMustNotBeZero, Request, |f| f.request.code == 0),
    rule(R::AmountMustNotBeZero, Request, |f| f.request.amount == 0),
];

/// One booking per bank reference, with the same body; ids are never reused.
const IDENTITY: &[Rule<Facts>] = &[
    rule(R::CollectionExistsWithDifferentId, Identity, |f| f.booked_differs(|c| c.id)),
    rule(R::CollectionExistsWithDifferentAmount, Identity, |f| f.booked_differs(|c| c.amount)),
    rule(R::CollectionExistsWithDifferentBeneficiary, Identity, |f| {
        f.booked_differs(|c| c.beneficiary_account_id)
    }),
    rule(R::CollectionExistsWithDifferentAccounts, Identity, |f| f.booked_differs(|c| c.clone())),
    rule(R::Exists, Identity, |f| f.booked.is_some()),
    rule(R::IdAlreadyUsed, Identity, |f| f.id_taken),
    rule(R::IdAlreadyFailed, Identity, |f| f.refused_before),
];

/// The bank's money leaves settlement: both accounts exist and differ, settlement is neither
/// frozen nor closed (an outflow block does not stop money already received) and can take
/// the debit.
const SETTLEMENT: &[Rule<Facts>] = &[
    rule(R::SettlementAccountNotFound, State, |f| f.settlement.is_none()),
    rule(R::SuspenseAccountNotFound, State, |f| f.suspense.is_none()),
    rule(R::AccountsMustBeDifferent, State, |f| f.settlement().id == f.suspense().id),
    rule(R::DebitAccountFrozen, State, |f| f.settlement().status == AccountStatus::Frozen),
    rule(R::DebitAccountClosed, State, |f| f.settlement().status == AccountStatus::Closed),
    rule(R::OverflowsDebitsPosted, State, |f| {
        column_overflows(f.settlement().debits_posted, f.request.amount)
    }),
    rule(R::OverflowsDebits, State, |f| !debits_with(f.settlement(), f.request.amount).fits()),
    rule(R::ExceedsCredits, State, |f| overdrawn_by_debit(f.settlement(), f.request.amount)),
];

/// When suspense takes the money it must be able to.
const SUSPENSE: &[Rule<Facts>] = &[
    rule(R::CreditAccountFrozen, State, |f| {
        f.suspense_refuses(|a, _| a.status == AccountStatus::Frozen)
    }),
    rule(R::CreditAccountClosed, State, |f| {
        f.suspense_refuses(|a, _| a.status == AccountStatus::Closed)
    }),
    rule(R::OverflowsCreditsPosted, State, |f| {
        f.suspense_refuses(|a, amount| column_overflows(a.credits_posted, amount))
    }),
    rule(R::OverflowsCredits, State, |f| {
        f.suspense_refuses(|a, amount| !credits_with(a, amount).fits())
    }),
    rule(R::ExceedsDebits, State, |f| f.suspense_refuses(overcredited_by_credit)),
];

/// Whether a beneficiary (if it exists) cannot take a collection.
type Refuses = fn(Option<&Account>, &NewCollection) -> bool;

/// Why the beneficiary cannot take the money, in order: the first that holds sends it to
/// suspense.
const ROUTES: [(SuspenseReason, Refuses); 5] = [
    (SuspenseReason::BeneficiaryNotFound, |b, _| b.is_none()),
    (SuspenseReason::BeneficiaryOnAnotherLedger, |b, c| b.is_some_and(|b| b.ledger != c.ledger)),
    (SuspenseReason::BeneficiaryFrozen, |b, _| {
        b.is_some_and(|b| b.status == AccountStatus::Frozen)
    }),
    (SuspenseReason::BeneficiaryClosed, |b, _| {
        b.is_some_and(|b| b.status == AccountStatus::Closed)
    }),
    (SuspenseReason::BeneficiaryCannotTakeCredit, |b, c| {
        b.is_some_and(|b| b.id == c.settlement_account_id || refuses_posted_credit(b, c.amount))
    }),
];

impl Auditor {
    fn collection_facts(&self, request: &NewCollection) -> Facts {
        let key =
            CollectionKey { bank: request.bank, bank_reference: request.bank_reference.clone() };
        let on_ledger =
            |id: u128| self.accounts.get(&id).copied().filter(|a| a.ledger == request.ledger);
        let beneficiary = self.accounts.get(&request.beneficiary_account_id).copied();
        let route = ROUTES
            .iter()
            .find(|(_, holds)| holds(beneficiary.as_ref(), request))
            .map(|(reason, _)| *reason);
        Facts {
            request: request.clone(),
            booked: self.collections.get(&key).cloned(),
            id_taken: self.transfers.contains_key(&request.id),
            refused_before: self.refusals.contains_key(&request.id),
            settlement: on_ledger(request.settlement_account_id),
            suspense: on_ledger(request.suspense_account_id),
            beneficiary,
            route,
        }
    }

    /// Predicts a booked collection.
    pub(super) fn book_collection(&mut self, request: &NewCollection, timestamp: u64) -> Verdict {
        let facts = self.collection_facts(request);
        let booking = |credited_account_id: u128, suspense: Option<SuspenseReason>| {
            Detail::Collection { credited_account_id, suspense }
        };
        match (first(&[SHAPE, IDENTITY, SETTLEMENT, SUSPENSE], &facts), &facts.booked) {
            (Some((R::Exists, _)), Some(booked)) => {
                let detail = booking(booked.credited_account_id, booked.suspense);
                return Ok(EventResult { code: R::Exists, timestamp: booked.timestamp, detail });
            }
            (Some(refusal), _) => return Err(refusal),
            (None, _) => {}
        }
        let amount = request.amount;
        let mut settlement = *facts.settlement();
        let mut credited = match facts.route {
            None => facts.beneficiary.expect("no route to suspense: the beneficiary exists"),
            Some(_) => *facts.suspense(),
        };
        settlement.debits_posted += amount;
        credited.credits_posted += amount;
        self.store_moved(settlement, timestamp);
        self.store_moved(credited, timestamp);
        let NewCollection { id, user_data, ledger, code, .. } = *request;
        let (debit_account_id, credit_account_id) = (settlement.id, credited.id);
        // Filed as the posted transfer settlement → credited account it amounts to.
        let flags = TransferFlags::NONE;
        let as_filed = NewTransfer {
            id,
            debit_account_id,
            credit_account_id,
            amount,
            user_data,
            ledger,
            code,
            flags,
            ..NewTransfer::default()
        };
        self.file_transfer(&as_filed, amount, timestamp);
        let key =
            CollectionKey { bank: request.bank, bank_reference: request.bank_reference.clone() };
        let (credited_account_id, suspense) = (credited.id, facts.route);
        let collection =
            Collection { request: request.clone(), credited_account_id, suspense, timestamp };
        self.collections.insert(key, collection);
        Ok(EventResult { code: R::Ok, timestamp, detail: booking(credited_account_id, suspense) })
    }
}
