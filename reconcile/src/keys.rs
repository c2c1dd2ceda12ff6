//! What a movement is matched by, on both sides.
//!
//! - A payout is matched by its end-to-end id, which is its payout id
//!   (`EndToEndId::from_payout_id`): the bank's debit carries it.
//! - A returned payout is matched by the same end-to-end id, as a return: the bank's credit
//!   carries the reversal flag and the payout's end-to-end id, and the bank worker books it as
//!   a collection with the reversal code and `user_data` = the payout id.
//! - Every other credit (and any debit that names none of our payouts) is matched by the
//!   transfer id its booking has in the ledger, `collection_id(bank, bank_reference)`
//!   (`tianping_bank_adapters::collection_id`): the worker books each collection once under
//!   exactly that id, and the ledger's transfer does not carry the bank's reference back, so
//!   the bank side computes the id from the entry's reference (`AcctSvcrRef`) and the ledger
//!   side reads it off the transfer. The reference itself stays in the evidence.
//!
//! These are the same rules the bank worker books by (`tianping-bank-worker`'s
//! `collections::classify` and `collections::plan`), so a movement the worker booked and the
//! entry it booked it from always meet under one key. A credit booked by anyone else under
//! another id (an operator's manual booking) meets nothing, and shows as a pair of findings —
//! `missing_in_ledger` for the bank's credit, `missing_at_bank` for the ledger's booking. That
//! is a real signal, not noise: the ledger holds a booking the bank's entry does not account
//! for, and the worker, which books by the entry's id, would book the same money again.

use std::fmt;

use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::gateway::{BankEntry, Direction, EntryStatus};

/// The key a ledger movement and a bank entry meet under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchKey {
    /// A payout, by its end-to-end id (the payout id): the bank's debit.
    Payout(u128),
    /// The return of a payout, by the payout's end-to-end id: the bank's reversal credit.
    Return(u128),
    /// A credit (or a debit of no payout of ours), by the id its booking has in the ledger:
    /// `collection_id(bank, bank_reference)`.
    Collection(u128),
}

impl MatchKey {
    /// A one-byte tag per kind, so the discrepancy id of a payout's key never equals that of a
    /// collection whose id is the same number.
    pub const fn tag(&self) -> u8 {
        match self {
            MatchKey::Payout(_) => 1,
            MatchKey::Return(_) => 2,
            MatchKey::Collection(_) => 3,
        }
    }

    /// The number the key holds: the payout id, or the collection id.
    pub const fn id(&self) -> u128 {
        match self {
            MatchKey::Payout(id) | MatchKey::Return(id) | MatchKey::Collection(id) => *id,
        }
    }

    /// The payout the key names, for a payout or a return.
    pub const fn payout_id(&self) -> Option<u128> {
        match self {
            MatchKey::Payout(payout_id) | MatchKey::Return(payout_id) => Some(*payout_id),
            MatchKey::Collection(_) => None,
        }
    }

    /// The direction the bank's entry has when it is this movement: a payout leaves (debit),
    /// a return and a collection arrive (credit). `None` for a collection's key, which a debit
    /// of no payout of ours is keyed by too.
    pub const fn bank_direction(&self) -> Option<Direction> {
        match self {
            MatchKey::Payout(_) => Some(Direction::Debit),
            MatchKey::Return(_) => Some(Direction::Credit),
            MatchKey::Collection(_) => None,
        }
    }
}

impl fmt::Display for MatchKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchKey::Payout(payout_id) => write!(formatter, "payout {payout_id}"),
            MatchKey::Return(payout_id) => write!(formatter, "return of payout {payout_id}"),
            MatchKey::Collection(collection_id) => write!(formatter, "collection {collection_id}"),
        }
    }
}

/// What a finding is about: a matched key, or for a balance mismatch the bank account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKey {
    /// A movement, by its match key.
    Match(MatchKey),
    /// A bank account's balance, by its account number at the bank.
    BankAccount(String),
}

impl FindingKey {
    /// The tag that separates kinds in the discrepancy id (the match key's, or 4).
    pub const fn tag(&self) -> u8 {
        match self {
            FindingKey::Match(key) => key.tag(),
            FindingKey::BankAccount(_) => 4,
        }
    }

    /// The reference a discrepancy shows (`NewDiscrepancy::reference`): the end-to-end id of
    /// a payout or a return; for a collection the bank's reference when the finding has one
    /// (`bank_reference`: a bank entry is part of it), else the collection id; the account
    /// number for a balance.
    pub fn reference(&self, bank_reference: Option<&str>) -> String {
        match (self, bank_reference) {
            (FindingKey::Match(MatchKey::Collection(_)), Some(reference)) => reference.to_owned(),
            (FindingKey::Match(key), _) => key.id().to_string(),
            (FindingKey::BankAccount(account), _) => account.clone(),
        }
    }
}

/// The key of an entry on `bank`'s statement, or `None` when the entry is not money on the
/// account yet (pending or information only): such entries may still change or disappear and
/// are counted, not matched.
pub fn bank_key(bank: u32, entry: &BankEntry) -> Option<MatchKey> {
    if entry.status != EntryStatus::Booked {
        return None;
    }
    let payout_id = entry.end_to_end_id.as_ref().and_then(|id| id.payout_id());
    Some(match (entry.direction, entry.reversal, payout_id) {
        (Direction::Debit, false, Some(payout_id)) => MatchKey::Payout(payout_id),
        (Direction::Credit, true, Some(payout_id)) => MatchKey::Return(payout_id),
        // Credits are keyed by their booking's id whatever end-to-end id the payer chose (it
        // may be digits without being ours); so are reversed debits and debits that name no
        // payout of ours, which the ledger never books and an operator must see.
        _ => MatchKey::Collection(collection_id(bank, &entry.bank_reference)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tianping_bank_adapters::gateway::EndToEndId;
    use tianping_bank_adapters::money::{Currency, Money};

    fn entry(direction: Direction, reversal: bool, end_to_end: Option<&str>) -> BankEntry {
        BankEntry {
            bank_reference: "REF1".into(),
            end_to_end_id: end_to_end.map(|text| EndToEndId::parse(text).expect("valid")),
            direction,
            amount: Money { minor_units: 100, currency: Currency::Cny },
            status: EntryStatus::Booked,
            reversal,
            booking_date: None,
            value_date: None,
            remittance: Vec::new(),
            counterparty_name: None,
        }
    }

    const BANK: u32 = 3;

    #[test]
    fn keys_follow_the_workers_booking_rules() {
        // The id the worker books this entry's collection under.
        let booking = || Some(MatchKey::Collection(collection_id(BANK, "REF1")));
        let key = |entry: &BankEntry| bank_key(BANK, entry);
        assert_eq!(key(&entry(Direction::Debit, false, Some("42"))), Some(MatchKey::Payout(42)));
        assert_eq!(key(&entry(Direction::Credit, true, Some("42"))), Some(MatchKey::Return(42)));
        // A payer's numeric end-to-end id on a credit is not one of our payouts.
        assert_eq!(key(&entry(Direction::Credit, false, Some("42"))), booking());
        // "0042" is a reference, not payout 42.
        assert_eq!(key(&entry(Direction::Debit, false, Some("0042"))), booking());
        assert_eq!(key(&entry(Direction::Debit, true, Some("42"))), booking());
        assert_eq!(key(&entry(Direction::Debit, false, None)), booking());
        assert_eq!(key(&entry(Direction::Credit, true, None)), booking());
        // Another bank's booking of the same reference is another collection.
        assert_ne!(bank_key(BANK + 1, &entry(Direction::Credit, false, None)), booking());
        for status in [EntryStatus::Pending, EntryStatus::Information] {
            let pending = BankEntry { status, ..entry(Direction::Debit, false, Some("42")) };
            assert_eq!(key(&pending), None);
        }
    }

    #[test]
    fn kinds_never_share_a_tag() {
        let keys = [
            FindingKey::Match(MatchKey::Payout(1)),
            FindingKey::Match(MatchKey::Return(1)),
            FindingKey::Match(MatchKey::Collection(1)),
            FindingKey::BankAccount("1".into()),
        ];
        let mut tags: Vec<u8> = keys.iter().map(FindingKey::tag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), keys.len());
        assert!(keys.iter().all(|key| key.reference(None) == "1"));
    }

    #[test]
    fn a_collection_shows_the_banks_reference_when_it_has_one() {
        let key = FindingKey::Match(MatchKey::Collection(9));
        assert_eq!(key.reference(Some("CAMT-1")), "CAMT-1");
        assert_eq!(key.reference(None), "9");
        // A payout shows its end-to-end id whatever entry the finding is about.
        assert_eq!(FindingKey::Match(MatchKey::Payout(42)).reference(Some("B7")), "42");
    }
}
