//! What a movement is matched by, on both sides.
//!
//! - A payout is matched by its end-to-end id, which is its payout id
//!   (`EndToEndId::from_payout_id`): the bank's debit carries it.
//! - A returned payout is matched by the same end-to-end id, as a return: the bank's credit
//!   carries the reversal flag and the payout's end-to-end id, and the bank worker books it as
//!   a collection with the reversal code and `user_data` = the payout id.
//! - Every other credit (and any debit that names none of our payouts) is matched by the
//!   bank's own reference (`AcctSvcrRef`), which the worker books each collection once by.
//!
//! These are the same rules the bank worker books by (`tianping-bank-worker`'s
//! `collections::classify`), so a movement the worker booked and the entry it booked it from
//! always meet under one key.

use std::fmt;

use tianping_bank_adapters::gateway::{BankEntry, Direction, EntryStatus};

/// The key a ledger movement and a bank entry meet under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchKey {
    /// A payout, by its end-to-end id (the payout id): the bank's debit.
    Payout(u128),
    /// The return of a payout, by the payout's end-to-end id: the bank's reversal credit.
    Return(u128),
    /// A credit (or a debit of no payout of ours), by the bank's reference.
    BankReference(String),
}

impl MatchKey {
    /// A one-byte tag per kind, so the discrepancy id of a payout's key never equals that of a
    /// bank reference spelled like the payout id.
    pub const fn tag(&self) -> u8 {
        match self {
            MatchKey::Payout(_) => 1,
            MatchKey::Return(_) => 2,
            MatchKey::BankReference(_) => 3,
        }
    }

    /// The reference a discrepancy shows: the end-to-end id for a payout or a return, the
    /// bank reference otherwise.
    pub fn reference(&self) -> String {
        match self {
            MatchKey::Payout(payout_id) | MatchKey::Return(payout_id) => payout_id.to_string(),
            MatchKey::BankReference(reference) => reference.clone(),
        }
    }

    /// The payout the key names, for a payout or a return.
    pub const fn payout_id(&self) -> Option<u128> {
        match self {
            MatchKey::Payout(payout_id) | MatchKey::Return(payout_id) => Some(*payout_id),
            MatchKey::BankReference(_) => None,
        }
    }

    /// The direction the bank's entry has when it is this movement: a payout leaves (debit),
    /// a return and a collection arrive (credit). `None` for a bank reference, which a debit
    /// of no payout of ours is keyed by too.
    pub const fn bank_direction(&self) -> Option<Direction> {
        match self {
            MatchKey::Payout(_) => Some(Direction::Debit),
            MatchKey::Return(_) => Some(Direction::Credit),
            MatchKey::BankReference(_) => None,
        }
    }
}

impl fmt::Display for MatchKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchKey::Payout(payout_id) => write!(formatter, "payout {payout_id}"),
            MatchKey::Return(payout_id) => write!(formatter, "return of payout {payout_id}"),
            MatchKey::BankReference(reference) => write!(formatter, "bank reference {reference}"),
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

    /// The reference a discrepancy shows (`NewDiscrepancy::reference`).
    pub fn reference(&self) -> String {
        match self {
            FindingKey::Match(key) => key.reference(),
            FindingKey::BankAccount(account) => account.clone(),
        }
    }
}

/// The key of a bank entry, or `None` when the entry is not money on the account yet
/// (pending or information only): such entries may still change or disappear and are
/// counted, not matched.
pub fn bank_key(entry: &BankEntry) -> Option<MatchKey> {
    if entry.status != EntryStatus::Booked {
        return None;
    }
    let payout_id = entry.end_to_end_id.as_ref().and_then(|id| id.payout_id());
    Some(match (entry.direction, entry.reversal, payout_id) {
        (Direction::Debit, false, Some(payout_id)) => MatchKey::Payout(payout_id),
        (Direction::Credit, true, Some(payout_id)) => MatchKey::Return(payout_id),
        // Credits are keyed by the bank's reference whatever end-to-end id the payer chose
        // (it may be digits without being ours); so are reversed debits and debits that name
        // no payout of ours, which the ledger never books and an operator must see.
        _ => MatchKey::BankReference(entry.bank_reference.clone()),
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

    #[test]
    fn keys_follow_the_workers_booking_rules() {
        let reference = || Some(MatchKey::BankReference("REF1".into()));
        assert_eq!(
            bank_key(&entry(Direction::Debit, false, Some("42"))),
            Some(MatchKey::Payout(42))
        );
        assert_eq!(
            bank_key(&entry(Direction::Credit, true, Some("42"))),
            Some(MatchKey::Return(42))
        );
        // A payer's numeric end-to-end id on a credit is not one of our payouts.
        assert_eq!(bank_key(&entry(Direction::Credit, false, Some("42"))), reference());
        // "0042" is a reference, not payout 42.
        assert_eq!(bank_key(&entry(Direction::Debit, false, Some("0042"))), reference());
        assert_eq!(bank_key(&entry(Direction::Debit, true, Some("42"))), reference());
        assert_eq!(bank_key(&entry(Direction::Debit, false, None)), reference());
        assert_eq!(bank_key(&entry(Direction::Credit, true, None)), reference());
        for status in [EntryStatus::Pending, EntryStatus::Information] {
            let pending = BankEntry { status, ..entry(Direction::Debit, false, Some("42")) };
            assert_eq!(bank_key(&pending), None);
        }
    }

    #[test]
    fn kinds_never_share_a_tag() {
        let keys = [
            FindingKey::Match(MatchKey::Payout(1)),
            FindingKey::Match(MatchKey::Return(1)),
            FindingKey::Match(MatchKey::BankReference("1".into())),
            FindingKey::BankAccount("1".into()),
        ];
        let mut tags: Vec<u8> = keys.iter().map(FindingKey::tag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), keys.len());
        assert!(keys.iter().all(|key| key.reference() == "1"));
    }
}
