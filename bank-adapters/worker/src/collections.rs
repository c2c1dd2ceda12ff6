//! Collections, pure: which bank entries become which `BookCollections` requests, and what a
//! booking's result means for the feed's cursor. The poller (`collections_poller`)
//! fetches and books; everything it decides is here, so it is tested without a bank.
//!
//! The rules:
//! - A booked credit (`BOOK`, `CRDT`, not a reversal) is booked once per bank reference: the
//!   collection id is a pure function of `(bank, bank_reference)` ([`collection_id`], which
//!   the reconciler matches by, from `tianping-bank-adapters`), so a replayed or duplicated
//!   notification books the identical request and the ledger answers `exists`. Its beneficiary is the account named in the remittance line `TP<account id>`
//!   ([`beneficiary_from_remittance`]); without one the beneficiary is 0, which the ledger
//!   sends to the suspense account for an operator.
//! - A booked credit with the reversal flag and the end-to-end id of one of our payouts is
//!   the bank returning that payout: once the payout is `succeeded` it is booked back to the
//!   payout's debit account (code [`CollectionAccounts::reversal_code`], `user_data` = the
//!   payout id, bank reference = the return's). While the payout is not final the entry waits
//!   (its page is fetched again later); a return of a `failed` or unknown payout, or of more
//!   than was paid, goes to suspense.
//! - Debits are our own payouts leaving (their outcomes come from queries by end-to-end id),
//!   pending and information entries are not money yet, and a reversed debit (a credit taken
//!   back) needs an operator: all are skipped, and counted.

use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::gateway::{BankEntry, Direction, EntryStatus};
use tianping_bank_adapters::money::Currency;
use tianping_ledger::{
    Detail, EventResult, NewCollection, Payout, PayoutState, ResultCode, SuspenseReason,
    TEXT_BYTES_MAX,
};

/// The remittance line a payer writes to name the Tianping account a credit is for:
/// `TP` followed by the account id in decimal (`TP1001`).
pub const BENEFICIARY_REFERENCE_PREFIX: &str = "TP";

/// The ledger accounts and codes one bank's collections are booked with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionAccounts {
    /// The bank.
    pub bank: u32,
    /// The ledger (currency) of every account below.
    pub ledger: u32,
    /// The currency of our account at the bank: entries in another are not booked.
    pub currency: Currency,
    /// The bank-settlement account every collection debits.
    pub settlement_account_id: u128,
    /// Where credits nobody can take go.
    pub suspense_account_id: u128,
    /// Transfer code of a collection.
    pub collection_code: u16,
    /// Transfer code of a returned payout booked back.
    pub reversal_code: u16,
}

/// The account a payer named: the first remittance line that is exactly `TP` and the
/// canonical decimal of a non-zero id (surrounding blanks ignored, `tp` accepted).
pub fn beneficiary_from_remittance(lines: &[String]) -> Option<u128> {
    lines.iter().find_map(|line| {
        let line = line.trim();
        let prefix = line.get(..BENEFICIARY_REFERENCE_PREFIX.len())?;
        if !prefix.eq_ignore_ascii_case(BENEFICIARY_REFERENCE_PREFIX) {
            return None;
        }
        let digits = &line[BENEFICIARY_REFERENCE_PREFIX.len()..];
        let id: u128 = digits.parse().ok()?;
        (id != 0 && id.to_string() == digits).then_some(id)
    })
}

/// Why an entry is not booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Pending or information only: not money on the account yet.
    NotBooked,
    /// Money out: our own payouts, settled through queries by end-to-end id.
    Debit,
    /// A reversed debit: a credit the bank took back. An operator books it.
    ReversedCredit,
    /// In a currency other than our account's.
    OtherCurrency,
    /// A bank reference the ledger cannot key on (empty, or over `TEXT_BYTES_MAX` bytes).
    UnusableReference,
}

impl SkipReason {
    /// The metric label.
    pub const fn label(self) -> &'static str {
        match self {
            SkipReason::NotBooked => "not_booked",
            SkipReason::Debit => "debit",
            SkipReason::ReversedCredit => "reversed_credit",
            SkipReason::OtherCurrency => "other_currency",
            SkipReason::UnusableReference => "unusable_reference",
        }
    }
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Money in for a customer (beneficiary 0: none named).
    Credit {
        /// The account named in the remittance, or 0.
        beneficiary_account_id: u128,
    },
    /// One of our payouts coming back (`None`: the end-to-end id is none of ours).
    Return {
        /// The payout, if the end-to-end id is a payout id.
        payout_id: Option<u128>,
    },
    /// Not booked.
    Skip(SkipReason),
}

/// Classifies an entry of one bank's feed.
pub fn classify(entry: &BankEntry, accounts: &CollectionAccounts) -> EntryKind {
    if entry.status != EntryStatus::Booked {
        return EntryKind::Skip(SkipReason::NotBooked);
    }
    if entry.amount.currency != accounts.currency {
        return EntryKind::Skip(SkipReason::OtherCurrency);
    }
    if entry.bank_reference.is_empty() || entry.bank_reference.len() > TEXT_BYTES_MAX {
        return EntryKind::Skip(SkipReason::UnusableReference);
    }
    match (entry.direction, entry.reversal) {
        (Direction::Debit, false) => EntryKind::Skip(SkipReason::Debit),
        (Direction::Debit, true) => EntryKind::Skip(SkipReason::ReversedCredit),
        (Direction::Credit, true) => EntryKind::Return {
            payout_id: entry.end_to_end_id.as_ref().and_then(|id| id.payout_id()),
        },
        (Direction::Credit, false) => EntryKind::Credit {
            beneficiary_account_id: beneficiary_from_remittance(&entry.remittance).unwrap_or(0),
        },
    }
}

/// What to do with an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Book this collection.
    Book(NewCollection),
    /// A return of a payout that is not final yet: book it once the payout is.
    Defer {
        /// The payout.
        payout_id: u128,
    },
    /// Not booked.
    Skip(SkipReason),
}

/// The plan for an entry of kind `kind`; `payout` is the payout a return names, as the ledger
/// has it (`None`: not found, or the entry is no return).
pub fn plan(
    entry: &BankEntry,
    kind: EntryKind,
    accounts: &CollectionAccounts,
    payout: Option<&Payout>,
) -> Plan {
    let collection = |beneficiary_account_id: u128, code: u16, user_data: u128| {
        Plan::Book(NewCollection {
            id: collection_id(accounts.bank, &entry.bank_reference),
            bank: accounts.bank,
            bank_reference: entry.bank_reference.clone(),
            beneficiary_account_id,
            settlement_account_id: accounts.settlement_account_id,
            suspense_account_id: accounts.suspense_account_id,
            amount: entry.amount.minor_units,
            user_data,
            ledger: accounts.ledger,
            code,
        })
    };
    match kind {
        EntryKind::Skip(reason) => Plan::Skip(reason),
        EntryKind::Credit { beneficiary_account_id } => {
            collection(beneficiary_account_id, accounts.collection_code, 0)
        }
        EntryKind::Return { payout_id: None } => collection(0, accounts.reversal_code, 0),
        EntryKind::Return { payout_id: Some(payout_id) } => {
            let Some(payout) = payout.filter(|payout| payout.id == payout_id) else {
                return collection(0, accounts.reversal_code, payout_id);
            };
            match payout.state {
                PayoutState::Succeeded
                    if payout.ledger == accounts.ledger
                        && entry.amount.minor_units <= payout.amount =>
                {
                    collection(payout.debit_account_id, accounts.reversal_code, payout_id)
                }
                // Returned more than was paid, on another ledger, or a payout the ledger
                // voided: the facts disagree, an operator decides (suspense).
                PayoutState::Succeeded | PayoutState::Failed => {
                    collection(0, accounts.reversal_code, payout_id)
                }
                PayoutState::Reserved
                | PayoutState::Claimed
                | PayoutState::Sent
                | PayoutState::Unknown => Plan::Defer { payout_id },
            }
        }
    }
}

/// What booking one collection came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Booking {
    /// Booked now, to the beneficiary.
    Booked,
    /// Booked now, to suspense.
    Suspense(SuspenseReason),
    /// Booked before (a replayed or duplicate notification): nothing changed.
    Duplicate,
    /// This bank reference was booked before with a different request (the configuration
    /// changed, or the bank reused a reference): nothing changed; an operator looks.
    Conflict(ResultCode),
    /// Refused (an account missing or frozen): not booked; the page is fetched again.
    Refused(ResultCode),
}

impl Booking {
    /// Reads the ledger's result for one collection.
    pub fn of(result: &EventResult) -> Booking {
        match result.code {
            ResultCode::Ok => match result.detail {
                Detail::Collection { suspense: Some(reason), .. } => Booking::Suspense(reason),
                _ => Booking::Booked,
            },
            ResultCode::Exists => Booking::Duplicate,
            ResultCode::CollectionExistsWithDifferentId
            | ResultCode::CollectionExistsWithDifferentAmount
            | ResultCode::CollectionExistsWithDifferentBeneficiary
            | ResultCode::CollectionExistsWithDifferentAccounts => Booking::Conflict(result.code),
            other => Booking::Refused(other),
        }
    }

    /// The metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Booking::Booked => "booked",
            Booking::Suspense(_) => "suspense",
            Booking::Duplicate => "duplicate",
            Booking::Conflict(_) => "conflict",
            Booking::Refused(_) => "refused",
        }
    }

    /// Whether the entry is done with: everything but a refusal (which may pass once the
    /// accounts are in order, so the page is fetched again).
    pub const fn settled(self) -> bool {
        !matches!(self, Booking::Refused(_))
    }
}

#[cfg(test)]
mod tests;
