//! Each side's evidence as short text: what an operator reads first in a discrepancy, one
//! line per item, amounts in the currency's decimals and instants in UTC.
//!
//! Built only for findings, never for matched items: a million matches format nothing.

use tianping_bank_adapters::calendar::utc_date_time_text;
use tianping_bank_adapters::gateway::Direction;
use tianping_bank_adapters::money::{Currency, Money};

use crate::keys::MatchKey;
use crate::movement::{BankRecord, LedgerMovement, LedgerPayout};

/// Separates items when one side has several (a duplicate's original and its copy).
pub const ITEM_SEPARATOR: &str = "; ";

const NS_PER_MS: u64 = 1_000_000;

/// An instant (ns since the Unix epoch) as UTC text with milliseconds.
pub fn instant_text(at: u64) -> String {
    utc_date_time_text(at / NS_PER_MS)
}

/// Minor units of `currency` as decimal text with the code (`100.00 CNY`).
pub fn amount_text(minor_units: u128, currency: Currency) -> String {
    Money { minor_units, currency }.to_string()
}

/// A payout's facts (`payout 42 succeeded, 100.00 CNY from account 1001`).
pub fn payout_text(payout: &LedgerPayout, currency: Currency) -> String {
    format!(
        "payout {} {}, {} from account {}",
        payout.payout_id,
        payout.state.name(),
        amount_text(payout.amount, currency),
        payout.debit_account_id
    )
}

/// One ledger movement, with its time.
pub fn ledger_text(movement: &LedgerMovement, currency: Currency) -> String {
    match movement {
        LedgerMovement::Payout(payout) => {
            format!("{} at {}", payout_text(&payout.payout, currency), instant_text(payout.at))
        }
        LedgerMovement::Collection(collection) => format!(
            "collection {} booked, {} to account {} at {}",
            booking_text(collection.bank_reference.as_deref(), collection.collection_id),
            amount_text(collection.amount, currency),
            collection.credited_account_id,
            instant_text(collection.at)
        ),
        LedgerMovement::Return(booked) => format!(
            "return {} of payout {} booked, {} to account {} at {}",
            booking_text(booked.bank_reference.as_deref(), booked.collection_id),
            booked.payout_id,
            amount_text(booked.amount, currency),
            booked.credited_account_id,
            instant_text(booked.at)
        ),
    }
}

/// A booking by the bank's reference when the record at hand has it, else by its transfer id
/// (`CAMT-1`, `id 4711`).
fn booking_text(bank_reference: Option<&str>, collection_id: u128) -> String {
    match bank_reference {
        Some(reference) => reference.to_owned(),
        None => format!("id {collection_id}"),
    }
}

/// One bank entry (`REF1 DBIT 100.00 CNY booked 2025-11-24T16:00:03.000Z value 2025-11-24`).
pub fn bank_text(record: &BankRecord) -> String {
    let direction = match record.direction {
        Direction::Credit => "CRDT",
        Direction::Debit => "DBIT",
    };
    let reversal = if record.reversal { " reversal" } else { "" };
    let value = match record.value_date {
        Some(date) => format!(" value {date}"),
        None => String::new(),
    };
    format!(
        "{} {direction}{reversal} {} booked {}{value}",
        record.bank_reference,
        record.amount,
        instant_text(record.booked_at)
    )
}

/// Several bank entries, in the order given.
pub fn bank_texts<'a>(records: impl IntoIterator<Item = &'a BankRecord>) -> String {
    records.into_iter().map(bank_text).collect::<Vec<_>>().join(ITEM_SEPARATOR)
}

/// The text of a side that has nothing for `key` within the window.
pub fn absent_text(key: &MatchKey, side: &str) -> String {
    format!("no {side} movement for {key} within the matching window")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tianping_bank_adapters::calendar::Date;
    use tianping_ledger::PayoutState;

    use crate::movement::PayoutMovement;

    /// 2025-11-24T16:00:00Z in ns.
    const AT: u64 = 1_764_000_000_000_000_000;

    #[test]
    fn evidence_reads_like_the_statement() {
        let payout = LedgerPayout {
            payout_id: 42,
            debit_account_id: 1001,
            amount: 12_345,
            state: PayoutState::Succeeded,
        };
        assert_eq!(
            ledger_text(&LedgerMovement::Payout(PayoutMovement { payout, at: AT }), Currency::Cny),
            "payout 42 succeeded, 123.45 CNY from account 1001 at 2025-11-24T16:00:00.000Z"
        );
        let record = BankRecord {
            bank_reference: "B1".into(),
            direction: Direction::Credit,
            amount: Money { minor_units: 5, currency: Currency::Jpy },
            reversal: true,
            value_date: Date::new(2025, 11, 25),
            booked_at: AT + 3_000_000_000,
        };
        assert_eq!(
            bank_text(&record),
            "B1 CRDT reversal 5 JPY booked 2025-11-24T16:00:03.000Z value 2025-11-25"
        );
        assert_eq!(bank_texts([&record, &record]).matches(ITEM_SEPARATOR).count(), 1);
        // A collection read off a transfer has no bank reference: its id stands in.
        let booked = |bank_reference: Option<&str>| {
            LedgerMovement::Collection(crate::movement::BookedCollection {
                collection_id: 4711,
                bank_reference: bank_reference.map(str::to_owned),
                credited_account_id: 1001,
                amount: 100,
                at: AT,
            })
        };
        assert_eq!(
            ledger_text(&booked(Some("CAMT-1")), Currency::Cny),
            "collection CAMT-1 booked, 1.00 CNY to account 1001 at 2025-11-24T16:00:00.000Z"
        );
        assert!(ledger_text(&booked(None), Currency::Cny).starts_with("collection id 4711 booked"));
        assert_eq!(
            absent_text(&MatchKey::Payout(42), "bank"),
            "no bank movement for payout 42 within the matching window"
        );
    }
}
