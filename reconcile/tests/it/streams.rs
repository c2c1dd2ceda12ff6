//! Facts → both streams, the findings they must produce, and the ledger's payouts.
//!
//! A fact is one thing that happened to one movement, with its own payout id, accounts and
//! bank references (so facts never share a key). The expected findings are written per fact
//! kind as a table, not computed the way the matcher computes them.

use std::collections::BTreeMap;

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::gateway::{BankEntry, Direction, EndToEndId, EntryStatus};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_ledger::{DiscrepancyClass, PayoutState};
use tianping_reconcile::keys::{FindingKey, MatchKey};
use tianping_reconcile::movement::{
    BankMovement, BookedCollection, BookedReturn, LedgerMovement, LedgerPayout, PayoutMovement,
};

/// The matcher's lateness in these tests: one millisecond.
pub const LATENESS: u64 = 1_000_000;
/// The first instant (2025-11-24T16:00:00Z).
pub const START: u64 = 1_764_000_000_000_000_000;
/// The currency of the account.
pub const CURRENCY: Currency = Currency::Cny;
/// The bank whose account is reconciled.
pub const BANK: u32 = 9;

/// What happened to one movement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A payout paid and recorded `succeeded`: matched.
    Paid,
    /// A payout the bank refused, recorded `failed`, not at the bank.
    Failed,
    /// A payout `sent` that the bank executed: in flight.
    InFlightExecuted,
    /// A payout `claimed` the bank has not seen: in flight.
    InFlightNotSent,
    /// A collection booked once: matched.
    Collection,
    /// A payout's return, booked: matched.
    BookedReturn,
    /// A return of a payout the ledger still holds as `sent`: in flight (the worker waits).
    ReturnOfPayoutInFlight,
    /// Injected: a payout recorded paid the bank never executed.
    MissingAtBank,
    /// Injected: a credit nobody booked.
    MissingInLedgerCredit,
    /// Injected: a debit by the end-to-end id of a payout the ledger does not have.
    MissingInLedgerDebit,
    /// Injected: a payout recorded failed that the bank executed.
    FailedButPaid,
    /// Injected: the bank paid one minor unit more.
    AmountMismatch,
    /// Injected: the bank executed the payout twice.
    DuplicateAtBank,
    /// Injected: the bank returned a paid payout and the ledger did not book the return.
    ReversedAtBank,
    /// Injected: the bank lists a booked collection's credit twice.
    DuplicateCredit,
}

impl Kind {
    /// Facts that leave the two sides in agreement.
    pub const CONSISTENT: [Kind; 7] = [
        Kind::Paid,
        Kind::Failed,
        Kind::InFlightExecuted,
        Kind::InFlightNotSent,
        Kind::Collection,
        Kind::BookedReturn,
        Kind::ReturnOfPayoutInFlight,
    ];

    /// Facts with one difference each.
    pub const INJECTED: [Kind; 8] = [
        Kind::MissingAtBank,
        Kind::MissingInLedgerCredit,
        Kind::MissingInLedgerDebit,
        Kind::FailedButPaid,
        Kind::AmountMismatch,
        Kind::DuplicateAtBank,
        Kind::ReversedAtBank,
        Kind::DuplicateCredit,
    ];
}

/// One fact, with its times.
#[derive(Clone, Copy, Debug)]
pub struct Fact {
    /// What happened.
    pub kind: Kind,
    /// The amount, in minor units.
    pub amount: u128,
    /// The ledger's time, after `START` (ns).
    pub at: u64,
    /// The bank's booking relative to the ledger's time, within ±`LATENESS`.
    pub skew: i64,
    /// A second bank entry's booking (a duplicate, a return), within ±`LATENESS`.
    pub second_skew: i64,
}

/// A finding as the tests compare it.
pub type Expected = (DiscrepancyClass, FindingKey, Vec<u128>);

/// Both streams of a list of facts, and what matching them must give.
#[derive(Debug, Default)]
pub struct Streams {
    /// The ledger's movements, in time order.
    pub ledger: Vec<LedgerMovement>,
    /// The bank's entries, in booking order.
    pub bank: Vec<BankMovement>,
    /// Every payout the ledger has, for answering questions.
    pub payouts: BTreeMap<u128, LedgerPayout>,
    /// The findings, sorted.
    pub findings: Vec<Expected>,
    /// Movements that must match.
    pub matched: u64,
    /// Payouts (and returns) in flight.
    pub in_flight: u64,
    /// Failed payouts the bank does not show.
    pub failed_unpaid: u64,
}

/// The payout id of fact `index` (never `u128::MAX`, short enough for an end-to-end id).
pub fn payout_id(index: usize) -> u128 {
    1_000 + index as u128
}

/// The customer account of fact `index`'s payout.
pub fn customer(index: usize) -> u128 {
    10_000 + index as u128
}

fn beneficiary(index: usize) -> u128 {
    20_000 + index as u128
}

/// `base` moved by `skew` (the streams start far from 0, so it never underflows).
fn shifted(base: u64, skew: i64) -> u64 {
    base.checked_add_signed(skew).unwrap_or(base)
}

fn entry(
    reference: String,
    end_to_end: Option<u128>,
    direction: Direction,
    reversal: bool,
    amount: u128,
    booked_at: u64,
) -> BankMovement {
    BankMovement {
        entry: BankEntry {
            bank_reference: reference,
            end_to_end_id: end_to_end.map(|id| EndToEndId::from_payout_id(id).expect("short")),
            direction,
            amount: Money { minor_units: amount, currency: CURRENCY },
            status: EntryStatus::Booked,
            reversal,
            booking_date: Some(Date::from_unix_ms(booked_at / 1_000_000)),
            value_date: Some(Date::from_unix_ms(booked_at / 1_000_000)),
            remittance: Vec::new(),
            counterparty_name: None,
        },
        booked_at,
    }
}

/// Builds the streams of `facts`.
pub fn build(facts: &[Fact]) -> Streams {
    let mut streams = Streams::default();
    for (index, fact) in facts.iter().enumerate() {
        add(&mut streams, index, fact);
    }
    streams.ledger.sort_by_key(LedgerMovement::at);
    streams.bank.sort_by_key(|movement| movement.booked_at);
    streams.findings.sort();
    streams
}

fn add(streams: &mut Streams, index: usize, fact: &Fact) {
    let id = payout_id(index);
    let at = START + fact.at;
    let bank_at = shifted(at, fact.skew);
    let second_at = shifted(at, fact.second_skew);
    let mut payout = |state: PayoutState| {
        let payout = LedgerPayout {
            payout_id: id,
            debit_account_id: customer(index),
            amount: fact.amount,
            state,
        };
        streams.payouts.insert(id, payout);
        streams.ledger.push(LedgerMovement::Payout(PayoutMovement { payout, at }));
    };
    let debit = |reference: String, amount: u128, booked_at: u64| {
        entry(reference, Some(id), Direction::Debit, false, amount, booked_at)
    };
    let paid = || debit(format!("B{index}"), fact.amount, bank_at);
    let credit =
        || entry(format!("C{index}"), None, Direction::Credit, false, fact.amount, bank_at);
    let returned = |booked_at| {
        entry(format!("R{index}"), Some(id), Direction::Credit, true, fact.amount, booked_at)
    };
    let payout_key = FindingKey::Match(MatchKey::Payout(id));
    let mut bank = Vec::new();
    let mut expect = Vec::new();
    match fact.kind {
        Kind::Paid => {
            payout(PayoutState::Succeeded);
            bank.push(paid());
            streams.matched += 1;
        }
        Kind::Failed => {
            payout(PayoutState::Failed);
            streams.failed_unpaid += 1;
        }
        Kind::InFlightExecuted => {
            payout(PayoutState::Sent);
            bank.push(paid());
            streams.in_flight += 1;
        }
        Kind::InFlightNotSent => {
            payout(PayoutState::Claimed);
            streams.in_flight += 1;
        }
        Kind::Collection | Kind::DuplicateCredit => {
            streams.ledger.push(LedgerMovement::Collection(BookedCollection {
                collection_id: collection_id(BANK, &format!("C{index}")),
                bank_reference: None,
                credited_account_id: beneficiary(index),
                amount: fact.amount,
                at,
            }));
            bank.push(credit());
            streams.matched += 1;
            if fact.kind == Kind::DuplicateCredit {
                // The same entry again, later or earlier: money in, nothing to block.
                let mut again = credit();
                again.booked_at = second_at;
                bank.push(again);
                let key = FindingKey::Match(MatchKey::Collection(collection_id(
                    BANK,
                    &format!("C{index}"),
                )));
                expect.push((DiscrepancyClass::DuplicateAtBank, key, vec![]));
            }
        }
        Kind::BookedReturn => {
            streams.ledger.push(LedgerMovement::Return(BookedReturn {
                payout_id: id,
                collection_id: collection_id(BANK, &format!("R{index}")),
                bank_reference: None,
                credited_account_id: customer(index),
                amount: fact.amount,
                at,
            }));
            bank.push(returned(bank_at));
            streams.matched += 1;
        }
        Kind::ReturnOfPayoutInFlight => {
            // The payout itself was sent long before this window: only the ledger has it.
            streams.payouts.insert(
                id,
                LedgerPayout {
                    payout_id: id,
                    debit_account_id: customer(index),
                    amount: fact.amount,
                    state: PayoutState::Sent,
                },
            );
            bank.push(returned(bank_at));
            streams.in_flight += 1;
        }
        Kind::MissingAtBank => {
            payout(PayoutState::Succeeded);
            expect.push((DiscrepancyClass::MissingAtBank, payout_key, vec![customer(index)]));
        }
        Kind::MissingInLedgerCredit => {
            bank.push(credit());
            let key =
                FindingKey::Match(MatchKey::Collection(collection_id(BANK, &format!("C{index}"))));
            expect.push((DiscrepancyClass::MissingInLedger, key, vec![]));
        }
        Kind::MissingInLedgerDebit => {
            bank.push(paid());
            expect.push((DiscrepancyClass::MissingInLedger, payout_key, vec![]));
        }
        Kind::FailedButPaid => {
            payout(PayoutState::Failed);
            bank.push(paid());
            expect.push((DiscrepancyClass::MissingInLedger, payout_key, vec![customer(index)]));
        }
        Kind::AmountMismatch => {
            payout(PayoutState::Succeeded);
            bank.push(debit(format!("B{index}"), fact.amount + 1, bank_at));
            expect.push((DiscrepancyClass::AmountMismatch, payout_key, vec![customer(index)]));
        }
        Kind::DuplicateAtBank => {
            payout(PayoutState::Succeeded);
            bank.push(paid());
            bank.push(debit(format!("D{index}"), fact.amount, second_at));
            streams.matched += 1;
            expect.push((DiscrepancyClass::DuplicateAtBank, payout_key, vec![customer(index)]));
        }
        Kind::ReversedAtBank => {
            payout(PayoutState::Succeeded);
            bank.push(paid());
            bank.push(returned(second_at));
            streams.matched += 1;
            let key = FindingKey::Match(MatchKey::Return(id));
            expect.push((DiscrepancyClass::ReversedAtBank, key, vec![customer(index)]));
        }
    }
    streams.bank.extend(bank);
    streams.findings.extend(expect);
}
