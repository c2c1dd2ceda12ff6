//! Benchmark: transaction matching of one day — 1 000 000 ledger movements against
//! 1 000 000 statement entries — through one `Matcher`, streaming, on one thread.
//!
//! The day is generated as it is matched, never held: fact `i` (a payout paid, a collection,
//! a return, ...) happens at `DAY_START + i × day / FACTS` on the ledger's clock, and its
//! bank entry is booked with a realistic skew — seconds for most, up to a minute for some,
//! up to half an hour for a few, up to an hour for the rare payout a dead worker's lease held
//! back (all within the matcher's 65-minute lateness). Payouts and credits are booked by the
//! bank before the ledger records them; payouts in flight after. The bank's entries are put in
//! booking order through a reorder buffer that holds at most the largest skew's worth of them
//! (it counts toward the peak RSS, like a statement reader's buffer would), and the bank's
//! watermark is advanced as far as the buffer allows.
//!
//! Among the day's facts are a handful of injected differences of every movement class
//! (`INJECTED_PER_KIND` each of eight kinds); every fact is a pure function of its index, so
//! the questions about our payouts are answered from that function (the ledger's lookup). The
//! run must find exactly the injected differences — same class, key and accounts, nothing
//! else — and count every consistent fact where it belongs, or the benchmark fails.
//!
//! Prints, on standard output, exactly `bench: recon_match_entries_per_s <N>` (statement
//! entries matched per second over the whole run, generation included, so conservative) and
//! `bench: recon_peak_rss_mib <M>` (the process's `VmHWM`); notes go to standard error.
//! Run it with `cargo xtask bench recon`.

use std::collections::BTreeMap;
use std::time::Instant;

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::gateway::{BankEntry, Direction, EndToEndId, EntryStatus};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_ledger::{DiscrepancyClass, PayoutState};
use tianping_reconcile::counts::Counts;
use tianping_reconcile::judge::{AccountContext, Outcome};
use tianping_reconcile::keys::{FindingKey, MatchKey};
use tianping_reconcile::matcher::{Matcher, MatcherConfig, Side};
use tianping_reconcile::movement::{
    BankMovement, BookedCollection, BookedReturn, LedgerMovement, LedgerPayout, PayoutMovement,
};

const LEDGER_MOVEMENTS: u64 = 1_000_000;
const STATEMENT_ENTRIES: u64 = 1_000_000;
/// Differences injected per injected kind.
const INJECTED_PER_KIND: u64 = 5;
/// Consistent one-sided facts: failed payouts (ledger only), payouts claimed but not sent
/// (ledger only), returns of payouts still in flight (bank only; the worker waits).
const FAILED_UNPAID: u64 = 200;
const CLAIMED_NOT_SENT: u64 = 100;
const RETURNS_OF_IN_FLIGHT: u64 = 50;
/// Ledger items and bank entries of the injected facts (see `Kind::items`).
const INJECTED_LEDGER_ITEMS: u64 = 6 * INJECTED_PER_KIND;
const INJECTED_BANK_ENTRIES: u64 = 10 * INJECTED_PER_KIND;
/// Pending statement entries (bank only, not money yet): as many as make both streams the
/// same length.
const PENDING_ENTRIES: u64 = INJECTED_LEDGER_ITEMS + FAILED_UNPAID + CLAIMED_NOT_SENT
    - INJECTED_BANK_ENTRIES
    - RETURNS_OF_IN_FLIGHT;
/// Facts with one ledger movement and one bank entry each.
const TWO_SIDED: u64 = LEDGER_MOVEMENTS - INJECTED_LEDGER_ITEMS - FAILED_UNPAID - CLAIMED_NOT_SENT;
const SPECIALS: u64 = 8 * INJECTED_PER_KIND
    + FAILED_UNPAID
    + CLAIMED_NOT_SENT
    + RETURNS_OF_IN_FLIGHT
    + PENDING_ENTRIES;
const FACTS: u64 = TWO_SIDED + SPECIALS;

const _: () = assert!(
    TWO_SIDED + INJECTED_BANK_ENTRIES + RETURNS_OF_IN_FLIGHT + PENDING_ENTRIES == STATEMENT_ENTRIES
);

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;
/// 2025-11-24 00:00 in UTC+8, in ns since the Unix epoch.
const DAY_START: u64 = 1_763_913_600 * SECOND;
const DAY: u64 = 86_400 * SECOND;
/// The largest skew either way (the dead worker's payout); the reorder buffer's horizon.
const SKEW_MAX: u64 = 60 * MINUTE;
/// The reorder buffer's bucket: one second of booking time.
const REORDER_BUCKET: u64 = SECOND;
const SEED: u64 = 0x7469_616e_7069_6e67; // "tianping"
const BANK: u32 = 1;
const CURRENCY: Currency = Currency::Cny;
const UTC_OFFSET_SECONDS: i32 = 8 * 3600;

/// Payout ids of fact `i`, of payouts sent before the day (their returns come today), and of
/// payouts the ledger never had.
const PAYOUT_ID_BASE: u128 = 1 << 40;
const EARLIER_PAYOUT_ID_BASE: u128 = 2 << 40;
const UNKNOWN_PAYOUT_ID_BASE: u128 = 3 << 40;
const CUSTOMER_BASE: u128 = 1 << 20;
const BENEFICIARY_BASE: u128 = 2 << 20;

const _: () = assert!(SKEW_MAX < tianping_reconcile::LATENESS_NS_DEFAULT);

/// What happens to one fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Paid,
    Collection,
    InFlightExecuted,
    BookedReturn,
    FailedUnpaid,
    ClaimedNotSent,
    ReturnOfInFlight,
    PendingEntry,
    MissingAtBank,
    MissingInLedgerCredit,
    MissingInLedgerDebit,
    FailedButPaid,
    AmountMismatch,
    DuplicateAtBank,
    ReversedAtBank,
    DuplicateCredit,
}

impl Kind {
    const INJECTED: [Kind; 8] = [
        Kind::MissingAtBank,
        Kind::MissingInLedgerCredit,
        Kind::MissingInLedgerDebit,
        Kind::FailedButPaid,
        Kind::AmountMismatch,
        Kind::DuplicateAtBank,
        Kind::ReversedAtBank,
        Kind::DuplicateCredit,
    ];

    /// (ledger movements, bank entries) the kind produces.
    const fn items(self) -> (u64, u64) {
        match self {
            Kind::Paid
            | Kind::Collection
            | Kind::InFlightExecuted
            | Kind::BookedReturn
            | Kind::FailedButPaid
            | Kind::AmountMismatch => (1, 1),
            Kind::FailedUnpaid | Kind::ClaimedNotSent | Kind::MissingAtBank => (1, 0),
            Kind::ReturnOfInFlight
            | Kind::PendingEntry
            | Kind::MissingInLedgerCredit
            | Kind::MissingInLedgerDebit => (0, 1),
            Kind::DuplicateAtBank | Kind::ReversedAtBank | Kind::DuplicateCredit => (1, 2),
        }
    }
}

/// splitmix64's finaliser: a well-mixed 64-bit value of `value`.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The day's plan: which facts are special, and everything else as a function of the index.
struct Day {
    specials: BTreeMap<u64, Kind>,
}

impl Day {
    /// Spreads the specials over the day, one per stretch of `FACTS / SPECIALS` facts at a
    /// random place within it, in a shuffled order of kinds.
    fn plan() -> Day {
        let mut kinds = Vec::new();
        for kind in Kind::INJECTED {
            kinds.extend((0..INJECTED_PER_KIND).map(|_| kind));
        }
        kinds.extend((0..FAILED_UNPAID).map(|_| Kind::FailedUnpaid));
        kinds.extend((0..CLAIMED_NOT_SENT).map(|_| Kind::ClaimedNotSent));
        kinds.extend((0..RETURNS_OF_IN_FLIGHT).map(|_| Kind::ReturnOfInFlight));
        kinds.extend((0..PENDING_ENTRIES).map(|_| Kind::PendingEntry));
        for index in (1..kinds.len()).rev() {
            let other = (mix(SEED ^ index as u64) % (index as u64 + 1)) as usize;
            kinds.swap(index, other);
        }
        let stretch = FACTS / SPECIALS;
        let specials = kinds
            .into_iter()
            .enumerate()
            .map(|(slot, kind)| {
                let slot = slot as u64;
                (slot * stretch + mix(SEED.rotate_left(7) ^ slot) % stretch, kind)
            })
            .collect();
        Day { specials }
    }

    fn kind(&self, index: u64) -> Kind {
        if let Some(kind) = self.specials.get(&index) {
            return *kind;
        }
        match mix(SEED ^ index) % 1_000 {
            0..620 => Kind::Paid,
            620..920 => Kind::Collection,
            920..960 => Kind::InFlightExecuted,
            _ => Kind::BookedReturn,
        }
    }

    /// The payout of fact `index`, if the fact is one.
    fn payout(&self, index: u64) -> Option<LedgerPayout> {
        let state = match self.kind(index) {
            Kind::Paid
            | Kind::MissingAtBank
            | Kind::AmountMismatch
            | Kind::DuplicateAtBank
            | Kind::ReversedAtBank => PayoutState::Succeeded,
            Kind::InFlightExecuted => PayoutState::Sent,
            Kind::ClaimedNotSent => PayoutState::Claimed,
            Kind::FailedUnpaid | Kind::FailedButPaid => PayoutState::Failed,
            _ => return None,
        };
        Some(LedgerPayout {
            payout_id: PAYOUT_ID_BASE + u128::from(index),
            debit_account_id: customer(index),
            amount: amount(index),
            state,
        })
    }

    /// The ledger's answer to "payout `payout_id`?": what a point read would return.
    fn lookup(&self, payout_id: u128) -> Option<LedgerPayout> {
        if (PAYOUT_ID_BASE..EARLIER_PAYOUT_ID_BASE).contains(&payout_id) {
            let index = u64::try_from(payout_id - PAYOUT_ID_BASE).ok()?;
            return self.payout(index);
        }
        if (EARLIER_PAYOUT_ID_BASE..UNKNOWN_PAYOUT_ID_BASE).contains(&payout_id) {
            let index = u64::try_from(payout_id - EARLIER_PAYOUT_ID_BASE).ok()?;
            return Some(LedgerPayout {
                payout_id,
                debit_account_id: customer(index),
                amount: amount(index),
                state: PayoutState::Sent,
            });
        }
        None
    }
}

fn amount(index: u64) -> u128 {
    u128::from(mix(index.rotate_left(17) ^ SEED) % 1_000_000 + 1)
}

fn customer(index: u64) -> u128 {
    CUSTOMER_BASE + u128::from(index % 100_000)
}

/// How long the bank's booking is from the ledger's record, realistically: seconds for 90 %,
/// up to a minute for 9 %, up to half an hour for 0.99 %, up to an hour for 0.01 %.
fn skew(index: u64) -> u64 {
    let draw = mix(index ^ SEED.rotate_left(31));
    let within = |low: u64, high: u64| low + (draw >> 16) % (high - low);
    match draw % 10_000 {
        0..9_000 => within(0, 5 * SECOND),
        9_000..9_900 => within(5 * SECOND, MINUTE),
        9_900..9_999 => within(MINUTE, 30 * MINUTE),
        _ => within(30 * MINUTE, SKEW_MAX),
    }
}

/// One fact's items and the finding it must produce.
struct Fact {
    ledger: Option<LedgerMovement>,
    bank: Vec<BankMovement>,
    expected: Option<(DiscrepancyClass, FindingKey, Vec<u128>)>,
}

fn entry(
    reference: String,
    payout_id: Option<u128>,
    direction: Direction,
    reversal: bool,
    minor_units: u128,
    booked_at: u64,
) -> BankMovement {
    let local_ms = booked_at / 1_000_000 + UTC_OFFSET_SECONDS as u64 * 1_000;
    let date = Date::from_unix_ms(local_ms);
    BankMovement {
        entry: BankEntry {
            bank_reference: reference,
            end_to_end_id: payout_id
                .map(|id| EndToEndId::from_payout_id(id).expect("ids stay below 10^35")),
            direction,
            amount: Money { minor_units, currency: CURRENCY },
            status: EntryStatus::Booked,
            reversal,
            booking_date: Some(date),
            value_date: Some(date),
            remittance: Vec::new(),
            counterparty_name: None,
        },
        booked_at,
    }
}

/// The items of fact `index`.
fn fact(day: &Day, index: u64) -> Fact {
    let kind = day.kind(index);
    let at = DAY_START
        + u64::try_from(u128::from(index) * u128::from(DAY) / u128::from(FACTS))
            .expect("within the day");
    let before = at - skew(index);
    let after = at + skew(index);
    let amount = amount(index);
    let id = PAYOUT_ID_BASE + u128::from(index);
    let payout_key = FindingKey::Match(MatchKey::Payout(id));
    let debit = |reference: &str, minor_units: u128, booked_at: u64| {
        entry(
            format!("{reference}{index}"),
            Some(id),
            Direction::Debit,
            false,
            minor_units,
            booked_at,
        )
    };
    let credit = |booked_at: u64| {
        entry(format!("C{index}"), None, Direction::Credit, false, amount, booked_at)
    };
    let returned = |payout_id: u128, booked_at: u64| {
        entry(format!("R{index}"), Some(payout_id), Direction::Credit, true, amount, booked_at)
    };
    let payout =
        day.payout(index).map(|payout| LedgerMovement::Payout(PayoutMovement { payout, at }));
    let collection = || {
        LedgerMovement::Collection(BookedCollection {
            collection_id: collection_id(BANK, &format!("C{index}")),
            bank_reference: None,
            credited_account_id: BENEFICIARY_BASE + u128::from(index % 100_000),
            amount,
            at,
        })
    };
    let customer = vec![customer(index)];
    let (ledger, bank, expected) = match kind {
        Kind::Paid => (payout, vec![debit("B", amount, before)], None),
        Kind::Collection => (Some(collection()), vec![credit(before)], None),
        Kind::InFlightExecuted => (payout, vec![debit("B", amount, after)], None),
        Kind::BookedReturn => {
            let booked = LedgerMovement::Return(BookedReturn {
                payout_id: id,
                collection_id: collection_id(BANK, &format!("R{index}")),
                bank_reference: None,
                credited_account_id: customer[0],
                amount,
                at,
            });
            (Some(booked), vec![returned(id, before)], None)
        }
        Kind::FailedUnpaid | Kind::ClaimedNotSent => (payout, vec![], None),
        Kind::ReturnOfInFlight => {
            (None, vec![returned(EARLIER_PAYOUT_ID_BASE + u128::from(index), before)], None)
        }
        Kind::PendingEntry => {
            let mut pending = credit(before);
            pending.entry.status = EntryStatus::Pending;
            (None, vec![pending], None)
        }
        Kind::MissingAtBank => {
            (payout, vec![], Some((DiscrepancyClass::MissingAtBank, payout_key, customer)))
        }
        Kind::MissingInLedgerCredit => {
            let key =
                FindingKey::Match(MatchKey::Collection(collection_id(BANK, &format!("C{index}"))));
            (None, vec![credit(before)], Some((DiscrepancyClass::MissingInLedger, key, vec![])))
        }
        Kind::MissingInLedgerDebit => {
            let unknown = UNKNOWN_PAYOUT_ID_BASE + u128::from(index);
            let stray =
                entry(format!("B{index}"), Some(unknown), Direction::Debit, false, amount, before);
            let key = FindingKey::Match(MatchKey::Payout(unknown));
            (None, vec![stray], Some((DiscrepancyClass::MissingInLedger, key, vec![])))
        }
        Kind::FailedButPaid => (
            payout,
            vec![debit("B", amount, before)],
            Some((DiscrepancyClass::MissingInLedger, payout_key, customer)),
        ),
        Kind::AmountMismatch => (
            payout,
            vec![debit("B", amount + 1, before)],
            Some((DiscrepancyClass::AmountMismatch, payout_key, customer)),
        ),
        Kind::DuplicateAtBank => (
            payout,
            vec![debit("B", amount, before), debit("D", amount, after)],
            Some((DiscrepancyClass::DuplicateAtBank, payout_key, customer)),
        ),
        Kind::ReversedAtBank => {
            let key = FindingKey::Match(MatchKey::Return(id));
            (
                payout,
                vec![debit("B", amount, before), returned(id, after)],
                Some((DiscrepancyClass::ReversedAtBank, key, customer)),
            )
        }
        Kind::DuplicateCredit => {
            let key =
                FindingKey::Match(MatchKey::Collection(collection_id(BANK, &format!("C{index}"))));
            (
                Some(collection()),
                vec![credit(before), credit(after)],
                Some((DiscrepancyClass::DuplicateAtBank, key, vec![])),
            )
        }
    };
    Fact { ledger, bank, expected }
}

/// The bank's entries of the next hour, put in booking order: one bucket per second of
/// booking time, each sorted (stably, so ties keep their arrival order) when it is released.
/// Cheaper than a heap of every entry, and it holds the same entries.
#[derive(Default)]
struct ReorderBuffer {
    buckets: BTreeMap<u64, Vec<BankMovement>>,
    len: usize,
}

impl ReorderBuffer {
    fn push(&mut self, movement: BankMovement) {
        self.buckets.entry(movement.booked_at / REORDER_BUCKET).or_default().push(movement);
        self.len += 1;
    }

    /// Hands out, in booking order, every entry of the seconds wholly before `safe`, and
    /// returns where that stops: nothing earlier is left.
    fn release_before(&mut self, safe: u64, mut take: impl FnMut(BankMovement)) -> u64 {
        let boundary = safe / REORDER_BUCKET * REORDER_BUCKET;
        while let Some(entry) = self.buckets.first_entry() {
            if (*entry.key() + 1) * REORDER_BUCKET > boundary {
                break;
            }
            let mut bucket = entry.remove();
            bucket.sort_by_key(|movement| movement.booked_at);
            self.len -= bucket.len();
            bucket.into_iter().for_each(&mut take);
        }
        boundary
    }
}

/// What one run came to.
struct Run {
    counts: Counts,
    findings: Vec<(DiscrepancyClass, FindingKey, Vec<u128>)>,
    expected: Vec<(DiscrepancyClass, FindingKey, Vec<u128>)>,
    expected_counts: BTreeMap<Kind, u64>,
    peak_items: usize,
    peak_reorder: usize,
}

/// Generates the day and, with `match_it`, matches it; without, only generates (to measure
/// the generator's share).
fn run(day: &Day, match_it: bool) -> Run {
    let context =
        AccountContext { bank: BANK, currency: CURRENCY, utc_offset_seconds: UTC_OFFSET_SECONDS };
    let mut matcher = Matcher::new(MatcherConfig::new(context)).expect("default configuration");
    let mut out = Vec::new();
    let mut reorder = ReorderBuffer::default();
    let mut run = Run {
        counts: Counts::default(),
        findings: Vec::new(),
        expected: Vec::new(),
        expected_counts: BTreeMap::new(),
        peak_items: 0,
        peak_reorder: 0,
    };
    for index in 0..FACTS {
        let fact = fact(day, index);
        *run.expected_counts.entry(day.kind(index)).or_default() += 1;
        run.expected.extend(fact.expected);
        for movement in fact.bank {
            reorder.push(movement);
        }
        run.peak_reorder = run.peak_reorder.max(reorder.len);
        // Every later fact's bank entries are booked at or after this.
        let next_at = DAY_START + (index + 1) * (DAY / FACTS);
        let safe = next_at.saturating_sub(SKEW_MAX);
        let released = reorder.release_before(safe, |movement| {
            if match_it {
                matcher.push_bank(movement, &mut out).expect("booking order");
            }
        });
        if match_it {
            matcher.advance(Side::Bank, released, &mut out).expect("forward");
            if let Some(movement) = fact.ledger {
                matcher.push_ledger(movement, &mut out).expect("ledger order");
            }
            drain(day, &mut out, &mut run);
        }
    }
    reorder.release_before(u64::MAX, |movement| {
        if match_it {
            matcher.push_bank(movement, &mut out).expect("booking order");
        }
    });
    run.peak_items = matcher.peak_items();
    let counts = matcher.finish(&mut out);
    run.counts.ledger_movements = counts.ledger_movements;
    run.counts.bank_entries = counts.bank_entries;
    run.counts.bank_entries_not_booked = counts.bank_entries_not_booked;
    run.counts.matched = counts.matched;
    run.counts.in_flight += counts.in_flight;
    run.counts.failed_unpaid = counts.failed_unpaid;
    run.counts.questions = counts.questions;
    drain(day, &mut out, &mut run);
    run.findings.sort();
    run.expected.sort();
    run
}

/// Takes the outcomes so far: findings as they are, questions answered by the ledger.
fn drain(day: &Day, out: &mut Vec<Outcome>, run: &mut Run) {
    for outcome in out.drain(..) {
        let findings = match outcome {
            Outcome::Finding(finding) => vec![finding],
            Outcome::Question(question) => {
                let answer = question.answer(day.lookup(question.payout_id()).as_ref());
                run.counts.in_flight += answer.in_flight;
                answer.findings
            }
        };
        for finding in findings {
            run.counts.add_finding(finding.class);
            run.findings.push((finding.class, finding.key, finding.account_ids));
        }
    }
}

/// Checks the run found exactly what was injected and counted everything else.
fn verify(run: &Run) {
    let kinds = |kinds: &[Kind]| -> u64 {
        kinds.iter().map(|kind| run.expected_counts.get(kind).copied().unwrap_or(0)).sum()
    };
    // The generator's own plan adds up to the day it promises.
    let planned = run.expected_counts.iter().fold((0, 0), |(ledger, bank), (kind, count)| {
        let (ledger_items, bank_items) = kind.items();
        (ledger + ledger_items * count, bank + bank_items * count)
    });
    assert_eq!(planned, (LEDGER_MOVEMENTS, STATEMENT_ENTRIES), "the plan");
    assert_eq!(run.counts.ledger_movements, LEDGER_MOVEMENTS);
    assert_eq!(run.counts.bank_entries + run.counts.bank_entries_not_booked, STATEMENT_ENTRIES);
    assert_eq!(run.counts.bank_entries_not_booked, PENDING_ENTRIES);
    assert_eq!(run.expected.len() as u64, 8 * INJECTED_PER_KIND);
    if run.findings != run.expected {
        let extra: Vec<_> =
            run.findings.iter().filter(|f| !run.expected.contains(f)).take(10).collect();
        let missed: Vec<_> =
            run.expected.iter().filter(|f| !run.findings.contains(f)).take(10).collect();
        panic!("findings differ from the injected ones: extra {extra:?}, missed {missed:?}");
    }
    let matched = kinds(&[
        Kind::Paid,
        Kind::Collection,
        Kind::BookedReturn,
        Kind::DuplicateAtBank,
        Kind::ReversedAtBank,
        Kind::DuplicateCredit,
    ]);
    assert_eq!(run.counts.matched, matched, "matched");
    let in_flight = kinds(&[Kind::InFlightExecuted, Kind::ClaimedNotSent, Kind::ReturnOfInFlight]);
    assert_eq!(run.counts.in_flight, in_flight, "in flight");
    assert_eq!(run.counts.failed_unpaid, FAILED_UNPAID, "failed and unpaid");
}

/// The process's peak resident set (`VmHWM`), in MiB rounded up.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line");
    kib.div_ceil(1024)
}

fn main() {
    let day = Day::plan();
    eprintln!(
        "note: one day of {FACTS} facts: {LEDGER_MOVEMENTS} ledger movements, \
         {STATEMENT_ENTRIES} statement entries ({PENDING_ENTRIES} pending), \
         {INJECTED_PER_KIND} injected differences of each of {} kinds",
        Kind::INJECTED.len()
    );
    let started = Instant::now();
    let generated = run(&day, false);
    let generation_s = started.elapsed().as_secs_f64();
    eprintln!(
        "note: generating alone took {generation_s:.3} s (reorder buffer peak {} entries)",
        generated.peak_reorder
    );

    let started = Instant::now();
    let matched = run(&day, true);
    let elapsed_s = started.elapsed().as_secs_f64();
    verify(&matched);
    eprintln!(
        "note: matched in {elapsed_s:.3} s, generation included: {} matched, {} in flight, \
         {} failed and unpaid, {} questions answered, {} findings (exactly the injected ones), \
         window peak {} items",
        matched.counts.matched,
        matched.counts.in_flight,
        matched.counts.failed_unpaid,
        matched.counts.questions,
        matched.counts.findings_total(),
        matched.peak_items
    );
    let per_s = (STATEMENT_ENTRIES as f64 / elapsed_s) as u64;
    println!("bench: recon_match_entries_per_s {per_s}");
    println!("bench: recon_peak_rss_mib {}", peak_rss_mib());
}
