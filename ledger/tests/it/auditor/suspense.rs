//! The suspense desk: which collections wait there is not a stored index in the model but a
//! question asked of its collections and assignments (`desk`); assigning one is decided by
//! ordered rule tables over facts gathered first.

use std::collections::BTreeMap;

use tianping_ledger::{
    Account, AccountStatus, AssignSuspense, AuditAction, AuditRecord, Collection, CollectionKey,
    Detail, EventResult, NewTransfer, ResultCode as R, SuspenseAssignment, SuspenseKey,
    TEXT_BYTES_MAX, TransferFlags,
};

use super::balances::overdrawn_by_debit;
use super::balances::{column_overflows, credits_with, debits_with, overcredited_by_credit};
use super::rules::{Ground::Identity, Ground::Request, Ground::State, Rule, first, rule};
use super::{Auditor, Verdict};

/// What an assignment is judged on.
pub struct Facts {
    request: AssignSuspense,
    /// The collection under the request's bank and reference.
    collection: Option<Collection>,
    /// Its assignment, if it was assigned.
    assigned: Option<SuspenseAssignment>,
    /// A transfer (or payout, or collection) holds the id.
    id_taken: bool,
    /// The id was refused before as a transfer or payout.
    refused_before: bool,
    /// The account that took the collection (suspense).
    suspense: Option<Account>,
    /// The account named.
    target: Option<Account>,
}

impl Facts {
    fn collection(&self) -> &Collection {
        self.collection.as_ref().expect("`collection_not_found` comes first")
    }

    fn amount(&self) -> u128 {
        self.collection().request.amount
    }

    fn target(&self) -> &Account {
        self.target.as_ref().expect("`credit_account_not_found` comes first")
    }

    fn suspense(&self) -> &Account {
        self.suspense.as_ref().expect("a collection's credited account exists")
    }

    fn assigned_differs<T: PartialEq>(
        &self,
        field: fn(&SuspenseAssignment) -> T,
        asked: T,
    ) -> bool {
        self.assigned.as_ref().is_some_and(|assigned| field(assigned) != asked)
    }
}

const SHAPE: &[Rule<Facts>] = &[
    rule(R::IdMustNotBeZero, Request, |f| f.request.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |f| f.request.id == u128::MAX),
    rule(R::BankMustNotBeZero, Request, |f| f.request.bank == 0),
    rule(R::BankReferenceMustNotBeEmpty, Request, |f| f.request.bank_reference.is_empty()),
    rule(R::TextTooLong, Request, |f| f.request.bank_reference.len() > TEXT_BYTES_MAX),
    rule(R::ReasonMustNotBeEmpty, Request, |f| f.request.reason.is_empty()),
    rule(R::ActorMustNotBeEmpty, Request, |f| f.request.actor.is_empty()),
    rule(R::TextTooLong, Request, |f| {
        f.request.reason.len().max(f.request.actor.len()) > TEXT_BYTES_MAX
    }),
    rule(R::CreditAccountIdMustNotBeZero, Request, |f| f.request.account_id == 0),
    rule(R::CreditAccountIdMustNotBeIntMax, Request, |f| f.request.account_id == u128::MAX),
];

/// Only a booked collection that went to suspense can be assigned.
const COLLECTION: &[Rule<Facts>] = &[
    rule(R::CollectionNotFound, State, |f| f.collection.is_none()),
    rule(R::CollectionNotInSuspense, State, |f| f.collection().suspense.is_none()),
];

/// Once per collection; the id is the assignment's and its transfer's.
const IDENTITY: &[Rule<Facts>] = &[
    rule(R::SuspenseAlreadyAssigned, Identity, |f| f.assigned_differs(|a| a.id, f.request.id)),
    rule(R::ExistsWithDifferentCreditAccountId, Identity, |f| {
        f.assigned_differs(|a| a.account_id, f.request.account_id)
    }),
    rule(R::Exists, Identity, |f| f.assigned.is_some()),
    rule(R::IdAlreadyUsed, Identity, |f| f.id_taken),
    rule(R::IdAlreadyFailed, Identity, |f| f.refused_before),
];

/// The account named must be one a collection could have credited directly.
const TARGET: &[Rule<Facts>] = &[
    rule(R::CreditAccountNotFound, State, |f| f.target.is_none()),
    rule(R::AccountsMustHaveTheSameLedger, State, |f| {
        f.target().ledger != f.collection().request.ledger
    }),
    rule(R::AccountsMustBeDifferent, State, |f| {
        [f.suspense().id, f.collection().request.settlement_account_id].contains(&f.target().id)
    }),
    rule(R::CreditAccountFrozen, State, |f| f.target().status == AccountStatus::Frozen),
    rule(R::CreditAccountClosed, State, |f| f.target().status == AccountStatus::Closed),
];

/// Suspense gives the money back up (an outflow block does not hold it) and the account
/// takes it.
const BALANCES: &[Rule<Facts>] = &[
    rule(R::DebitAccountFrozen, State, |f| f.suspense().status == AccountStatus::Frozen),
    rule(R::DebitAccountClosed, State, |f| f.suspense().status == AccountStatus::Closed),
    rule(R::OverflowsDebitsPosted, State, |f| {
        column_overflows(f.suspense().debits_posted, f.amount())
    }),
    rule(R::OverflowsDebits, State, |f| !debits_with(f.suspense(), f.amount()).fits()),
    rule(R::ExceedsCredits, State, |f| overdrawn_by_debit(f.suspense(), f.amount())),
    rule(R::OverflowsCreditsPosted, State, |f| {
        column_overflows(f.target().credits_posted, f.amount())
    }),
    rule(R::OverflowsCredits, State, |f| !credits_with(f.target(), f.amount()).fits()),
    rule(R::ExceedsDebits, State, |f| overcredited_by_credit(f.target(), f.amount())),
];

impl Auditor {
    /// The suspense desk as it should stand: every collection booked to suspense and not
    /// assigned, under (bank, booking time).
    pub fn desk(&self) -> BTreeMap<SuspenseKey, CollectionKey> {
        self.collections
            .iter()
            .filter(|(key, c)| c.suspense.is_some() && !self.assignments.contains_key(*key))
            .map(|(key, c)| (SuspenseKey { bank: key.bank, timestamp: c.timestamp }, key.clone()))
            .collect()
    }

    /// Predicts an assignment out of suspense.
    pub(super) fn assign_suspense(&mut self, request: &AssignSuspense, timestamp: u64) -> Verdict {
        let key =
            CollectionKey { bank: request.bank, bank_reference: request.bank_reference.clone() };
        let collection = self.collections.get(&key).cloned();
        let facts = Facts {
            request: request.clone(),
            suspense: collection
                .as_ref()
                .and_then(|c| self.accounts.get(&c.credited_account_id).copied()),
            collection,
            assigned: self.assignments.get(&key).cloned(),
            id_taken: self.transfers.contains_key(&request.id),
            refused_before: self.refusals.contains_key(&request.id),
            target: self.accounts.get(&request.account_id).copied(),
        };
        match (first(&[SHAPE, COLLECTION, IDENTITY, TARGET, BALANCES], &facts), &facts.assigned) {
            (Some((R::Exists, _)), Some(assigned)) => {
                let detail = Detail::Amount(assigned.amount);
                return Ok(EventResult { code: R::Exists, timestamp: assigned.timestamp, detail });
            }
            (Some(refusal), _) => return Err(refusal),
            (None, _) => {}
        }
        let booked = facts.collection().request.clone();
        let amount = booked.amount;
        let mut suspense = *facts.suspense();
        let mut target = *facts.target();
        suspense.debits_posted += amount;
        target.credits_posted += amount;
        self.store_moved(suspense, timestamp);
        self.store_moved(target, timestamp);
        // Filed as the posted transfer suspense → account it amounts to.
        let as_filed = NewTransfer {
            id: request.id,
            debit_account_id: suspense.id,
            credit_account_id: target.id,
            amount,
            user_data: booked.user_data,
            ledger: booked.ledger,
            code: booked.code,
            flags: TransferFlags::NONE,
            ..NewTransfer::default()
        };
        self.file_transfer(&as_filed, amount, timestamp);
        let assignment = SuspenseAssignment {
            id: request.id,
            collection: key.clone(),
            suspense_account_id: suspense.id,
            account_id: target.id,
            amount,
            timestamp,
        };
        self.assignments.insert(key.clone(), assignment);
        self.audit.push(AuditRecord {
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
        Ok(EventResult { code: R::Ok, timestamp, detail: Detail::Amount(amount) })
    }
}
