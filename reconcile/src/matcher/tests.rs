//! The window: when keys close, what the lateness promises, what is refused, and that memory
//! follows the window rather than the stream.

use tianping_bank_adapters::gateway::{BankEntry, Direction, EndToEndId, EntryStatus};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_ledger::{DiscrepancyClass, PayoutState};

use super::*;
use crate::movement::{LedgerPayout, PayoutMovement};

const AT: u64 = 1_764_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const LATENESS: u64 = 60 * SECOND;
const CUSTOMER: u128 = 1001;

fn config() -> MatcherConfig {
    MatcherConfig {
        lateness_ns: LATENESS,
        ..MatcherConfig::new(AccountContext {
            bank: 9,
            currency: Currency::Cny,
            utc_offset_seconds: 0,
        })
    }
}

fn fresh() -> Matcher {
    Matcher::new(config()).expect("valid configuration")
}

fn payout(id: u128, at: u64) -> LedgerMovement {
    LedgerMovement::Payout(PayoutMovement {
        payout: LedgerPayout {
            payout_id: id,
            debit_account_id: CUSTOMER,
            amount: 100,
            state: PayoutState::Succeeded,
        },
        at,
    })
}

fn debit(id: u128, reference: &str, at: u64) -> BankMovement {
    BankMovement {
        entry: BankEntry {
            bank_reference: reference.into(),
            end_to_end_id: Some(EndToEndId::from_payout_id(id).expect("short id")),
            direction: Direction::Debit,
            amount: Money { minor_units: 100, currency: Currency::Cny },
            status: EntryStatus::Booked,
            reversal: false,
            booking_date: None,
            value_date: None,
            remittance: Vec::new(),
            counterparty_name: None,
        },
        booked_at: at,
    }
}

fn classes(out: &[Outcome]) -> Vec<Option<DiscrepancyClass>> {
    out.iter()
        .map(|outcome| match outcome {
            Outcome::Finding(finding) => Some(finding.class),
            Outcome::Question(_) => None,
        })
        .collect()
}

#[test]
fn partners_at_most_the_lateness_apart_meet_in_either_order() {
    for (ledger_at, bank_at) in [(AT, AT + LATENESS), (AT + LATENESS, AT), (AT, AT)] {
        let mut matcher = fresh();
        let mut out = Vec::new();
        let (first_is_ledger, later) =
            if ledger_at <= bank_at { (true, bank_at) } else { (false, ledger_at) };
        if first_is_ledger {
            matcher.push_ledger(payout(42, ledger_at), &mut out).expect("in order");
            matcher.push_bank(debit(42, "B1", bank_at), &mut out).expect("in order");
        } else {
            matcher.push_bank(debit(42, "B1", bank_at), &mut out).expect("in order");
            matcher.push_ledger(payout(42, ledger_at), &mut out).expect("in order");
        }
        assert!(out.is_empty() && later >= AT);
        let counts = matcher.finish(&mut out);
        assert_eq!((counts.matched, out.len()), (1, 0), "{ledger_at} {bank_at}");
    }
}

#[test]
fn partners_further_apart_are_findings() {
    let mut matcher = fresh();
    let mut out = Vec::new();
    matcher.push_ledger(payout(42, AT), &mut out).expect("in order");
    // The bank's stream passes the payout's deadline with nothing for it.
    matcher.push_bank(debit(7, "B7", AT + LATENESS + 1), &mut out).expect("in order");
    assert!(out.is_empty(), "the ledger's watermark is still at the payout");
    matcher.advance(Side::Ledger, AT + LATENESS + 1, &mut out).expect("forward");
    assert_eq!(classes(&out), vec![Some(DiscrepancyClass::MissingAtBank)]);
    // The late debit arrives after its payout's key closed: a question, not a match.
    matcher.push_bank(debit(42, "B1", AT + 2 * LATENESS + 2), &mut out).expect("in order");
    let counts = matcher.finish(&mut out);
    assert_eq!(classes(&out), vec![Some(DiscrepancyClass::MissingAtBank), None, None]);
    assert_eq!((counts.matched, counts.questions), (0, 2));
}

#[test]
fn a_matched_key_catches_a_duplicate_within_the_window() {
    let mut matcher = fresh();
    let mut out = Vec::new();
    matcher.push_ledger(payout(42, AT), &mut out).expect("in order");
    matcher.push_bank(debit(42, "B1", AT), &mut out).expect("in order");
    // Matched, but the key stays open: the bank books the same payout again within the lateness.
    matcher.push_bank(debit(42, "B2", AT + LATENESS), &mut out).expect("in order");
    matcher.advance(Side::Ledger, u64::MAX - 1, &mut out).expect("forward");
    matcher.advance(Side::Bank, AT + 2 * LATENESS + 1, &mut out).expect("forward");
    assert_eq!(classes(&out), vec![Some(DiscrepancyClass::DuplicateAtBank)]);
    assert_eq!(matcher.window().items(), 0);
    assert_eq!(matcher.counts().matched, 1);

    // The other way: without the second booking the key closes matched, silently.
    let mut matcher = fresh();
    let mut out = Vec::new();
    matcher.push_ledger(payout(42, AT), &mut out).expect("in order");
    matcher.push_bank(debit(42, "B1", AT), &mut out).expect("in order");
    assert_eq!((matcher.finish(&mut out).matched, out.len()), (1, 0));
}

#[test]
fn a_key_stays_open_a_lateness_after_its_latest_item() {
    // The bank lists a credit a lateness before the ledger books it and again a lateness
    // after: all three are one key, so the second listing is a duplicate, not a credit the
    // ledger never booked.
    let credit = |at: u64| {
        let mut movement = debit(1, "C1", at);
        movement.entry.direction = Direction::Credit;
        movement.entry.end_to_end_id = None;
        movement
    };
    let collection = LedgerMovement::Collection(crate::movement::BookedCollection {
        collection_id: tianping_bank_adapters::collection_id::collection_id(9, "C1"),
        bank_reference: None,
        credited_account_id: 7,
        amount: 100,
        at: AT + LATENESS,
    });
    let mut matcher = fresh();
    let mut out = Vec::new();
    matcher.push_bank(credit(AT), &mut out).expect("in order");
    matcher.push_ledger(collection, &mut out).expect("in order");
    matcher.advance(Side::Ledger, u64::MAX, &mut out).expect("forward");
    matcher.push_bank(credit(AT + 2 * LATENESS), &mut out).expect("in order");
    let counts = matcher.finish(&mut out);
    assert_eq!(classes(&out), vec![Some(DiscrepancyClass::DuplicateAtBank)]);
    assert_eq!(counts.matched, 1);
}

#[test]
fn keys_close_only_when_both_streams_have_passed() {
    let mut matcher = fresh();
    let mut out = Vec::new();
    matcher.push_ledger(payout(42, AT), &mut out).expect("in order");
    matcher.advance(Side::Ledger, AT + 10 * LATENESS, &mut out).expect("forward");
    assert_eq!(matcher.window().ledger_movements, 1, "the bank may still bring it");
    // Exactly at the deadline the bank could still book an entry at that instant.
    matcher.advance(Side::Bank, AT + LATENESS, &mut out).expect("forward");
    assert_eq!((matcher.window().keys, out.len()), (1, 0));
    matcher.advance(Side::Bank, AT + LATENESS + 1, &mut out).expect("forward");
    assert_eq!(
        (matcher.window().keys, classes(&out)),
        (0, vec![Some(DiscrepancyClass::MissingAtBank)])
    );
}

#[test]
fn streams_going_back_in_time_are_refused_and_change_nothing() {
    let mut matcher = fresh();
    let mut out = Vec::new();
    matcher.push_ledger(payout(42, AT), &mut out).expect("in order");
    assert_eq!(
        matcher.push_ledger(payout(43, AT - 1), &mut out),
        Err(MatchError::OutOfOrder { side: Side::Ledger, at: AT - 1, watermark: AT })
    );
    matcher.push_bank(debit(42, "B1", AT + 5), &mut out).expect("in order");
    assert!(matches!(
        matcher.push_bank(debit(43, "B2", AT + 4), &mut out),
        Err(MatchError::OutOfOrder { side: Side::Bank, .. })
    ));
    assert!(matcher.advance(Side::Bank, AT, &mut out).is_err());
    // Equal times are in order.
    matcher.push_ledger(payout(44, AT), &mut out).expect("same instant");
    assert_eq!(matcher.counts().ledger_movements, 2);
    assert_eq!(matcher.counts().bank_entries, 1);
    assert_eq!(matcher.window().items(), 3);
}

#[test]
fn a_full_window_refuses_the_next_item() {
    let mut matcher =
        Matcher::new(MatcherConfig { window_items_max: 2, ..config() }).expect("valid");
    let mut out = Vec::new();
    matcher.push_ledger(payout(1, AT), &mut out).expect("room");
    matcher.push_ledger(payout(2, AT), &mut out).expect("room");
    assert_eq!(
        matcher.push_ledger(payout(3, AT), &mut out),
        Err(MatchError::WindowFull { items: 2 })
    );
    assert!(matches!(
        matcher.push_bank(debit(3, "B3", AT), &mut out),
        Err(MatchError::WindowFull { .. })
    ));
    // Once the bank's stream moves past them, the two close and make room.
    matcher.advance(Side::Ledger, AT + LATENESS + 1, &mut out).expect("forward");
    matcher.push_bank(debit(3, "B3", AT + LATENESS + 1), &mut out).expect("room again");
    assert_eq!(classes(&out).len(), 2);
    assert_eq!(matcher.peak_items(), 2);
}

#[test]
fn entries_not_booked_move_the_watermark_and_wait_nowhere() {
    let mut matcher = fresh();
    let mut out = Vec::new();
    let mut pending = debit(42, "B1", AT);
    pending.entry.status = EntryStatus::Pending;
    matcher.push_bank(pending, &mut out).expect("in order");
    assert_eq!(matcher.window().items(), 0);
    assert_eq!(matcher.counts().bank_entries_not_booked, 1);
    assert!(matcher.push_bank(debit(43, "B2", AT - 1), &mut out).is_err());
}

#[test]
fn memory_follows_the_window_not_the_stream() {
    // 20 000 payouts one second apart, each matched by a debit two seconds later: the window
    // never holds more than a lateness (60 s) of both streams.
    let mut matcher = fresh();
    let mut out = Vec::new();
    let count = 20_000u64;
    for index in 0..count {
        let at = AT + index * SECOND;
        matcher.push_ledger(payout(u128::from(index) + 1, at), &mut out).expect("in order");
        if index >= 2 {
            let id = u128::from(index) - 1;
            matcher.push_bank(debit(id, &format!("B{id}"), at), &mut out).expect("in order");
        }
    }
    let per_lateness = (LATENESS / SECOND) as usize;
    assert!(matcher.peak_items() <= 2 * (per_lateness + 8), "peak {}", matcher.peak_items());
    let counts = matcher.finish(&mut out);
    assert_eq!(counts.matched, count - 2);
    assert_eq!(classes(&out), vec![Some(DiscrepancyClass::MissingAtBank); 2]);
}

#[test]
fn configurations_are_checked() {
    let refused = |config: MatcherConfig| Matcher::new(config).err();
    assert_eq!(
        refused(MatcherConfig { lateness_ns: 0, ..config() }),
        Some(ConfigError::Lateness { lateness_ns: 0 })
    );
    assert!(
        refused(MatcherConfig { lateness_ns: crate::LATENESS_NS_MAX + 1, ..config() }).is_some()
    );
    assert!(refused(MatcherConfig { lateness_ns: crate::LATENESS_NS_MAX, ..config() }).is_none());
    assert_eq!(
        refused(MatcherConfig { window_items_max: 0, ..config() }),
        Some(ConfigError::WindowItems)
    );
    let defaults = MatcherConfig::new(config().context);
    assert_eq!(defaults.lateness_ns, crate::LATENESS_NS_DEFAULT);
    assert!(refused(defaults).is_none());
}

#[test]
fn times_near_the_end_of_the_clock_close_at_finish() {
    let mut matcher = fresh();
    let mut out = Vec::new();
    matcher.push_ledger(payout(42, u64::MAX - 1), &mut out).expect("in order");
    matcher.push_bank(debit(42, "B1", u64::MAX), &mut out).expect("in order");
    assert!(out.is_empty());
    assert_eq!(matcher.finish(&mut out).matched, 1);
}
