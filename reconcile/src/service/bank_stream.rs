//! The bank's side of one account, as a stream: the statements of the open days, each entry
//! fed once, with an instant.
//!
//! **Which statements.** Every period the reconciler fetches one statement covering the open
//! days: today (in the banks' day, `utc_offset_seconds`) and every earlier day less than one
//! lateness past its end — yesterday, just after midnight, so entries the bank books late for
//! it are still seen. A day closes at the first fetch made a lateness after its end (that
//! fetch is the day's full statement, matched in full: the hourly matching's "closed day").
//! At start the open days begin at the day of `now − lateness`, and the ledger stream starts
//! at that day's first instant.
//!
//! **Once each.** A statement lists a day's entries in booking order, and a new fetch of the
//! same day only adds at the end; so each open day keeps how many of its entries were fed,
//! and only the entries past that position are new. The references fed within the last
//! lateness are remembered too: an entry at a new position whose reference was already fed
//! (a bank that listed one entry twice, or shuffled its statement) is not fed again, and is
//! counted. A day listing fewer entries than were fed is reported, not fed.
//!
//! **Which instant.** camt.053 gives a booking *date*; the matcher needs an instant on the
//! ledger's clock. Each new entry takes the instant it was first seen: the fetch that brought
//! it (never earlier than an instant already given, so the stream stays in time order). Why
//! that is safe: the bank booked the entry before the fetch and, entries being appended as
//! booked, after the previous fetch — at most one balance period (plus the statement's own
//! delay) earlier than the instant given. The ledger's side of the same movement is within
//! the lateness of the bank's booking (`LATENESS_NS_DEFAULT`'s reasoning), so it is within the
//! lateness plus one period of the instant given; the configuration insists the lateness is at
//! least two periods, and the matcher keeps a key open a lateness after its *latest* item, so
//! the two still meet. A date alone (midnight, or the end of the day) would put a day's
//! entries hours from their ledger movements and make a day the smallest window. At start,
//! the open days' entries are all seen at once; they are fed before any ledger movement, so
//! their keys are open when the ledger's movements of those days arrive.
//!
//! **Recent entries.** Booked entries seen within the last lateness are kept with their key
//! (and, past it, a debit of a payout the balance check found in flight, until it is final):
//! what the balance check looks at for payouts in flight and credits not booked yet.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashSet;
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{Balance, BankEntry, Statement, StatementPeriod};

use crate::keys::{MatchKey, bank_key};
use crate::movement::{BankMovement, BankRecord};

const NS_PER_MS: u64 = 1_000_000;
const MS_PER_DAY: u64 = 86_400_000;

/// A booked entry seen within the last lateness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentEntry {
    /// What the entry says (`booked_at`: the instant it was first seen).
    pub record: BankRecord,
    /// Its match key.
    pub key: MatchKey,
    /// A balance check found it settled at its cut-off (a credit booked, a payout's debit
    /// final): cut-offs only move forward, so it is not asked about again.
    pub settled: bool,
    /// A payout debit the last balance check found in flight: kept past the lateness until
    /// its payout is final (a payout in flight is explained however long it takes).
    pub held: bool,
}

/// What one statement brought.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Absorbed {
    /// The new entries, in the statement's order, with the instant they were seen.
    pub movements: Vec<BankMovement>,
    /// The statement's closing booked balance, if it had one.
    pub closing: Option<Balance>,
    /// Days closed by this fetch, with how many entries each had.
    pub closed_days: Vec<(Date, usize)>,
    /// Days that listed fewer entries than were fed before (the statement shrank).
    pub shrunk_days: Vec<Date>,
    /// Entries at new positions whose reference was fed already: not fed again.
    pub repeated: u64,
    /// Entries dated before the first open day: not fed.
    pub outside: u64,
}

/// The statement stream of one bank account.
#[derive(Debug)]
pub struct BankStream {
    bank: u32,
    offset_ms: i64,
    lateness_ns: u64,
    /// Open days, and how many of each day's entries were consumed.
    days: BTreeMap<Date, usize>,
    recent: VecDeque<RecentEntry>,
    references: FxHashSet<String>,
    observed: u64,
}

impl BankStream {
    /// The stream of `bank`'s account, its days `utc_offset_seconds` from UTC, opened at
    /// `now_ns`.
    pub fn new(bank: u32, utc_offset_seconds: i32, lateness_ns: u64, now_ns: u64) -> BankStream {
        let mut stream = BankStream {
            bank,
            offset_ms: i64::from(utc_offset_seconds) * 1_000,
            lateness_ns,
            days: BTreeMap::new(),
            recent: VecDeque::new(),
            references: FxHashSet::default(),
            observed: 0,
        };
        let mut day = stream.day_of(now_ns.saturating_sub(lateness_ns));
        let today = stream.day_of(now_ns);
        while day <= today {
            stream.days.insert(day, 0);
            day = stream.day_after(day);
        }
        stream
    }

    /// The banks' day of instant `at` (ns).
    pub fn day_of(&self, at: u64) -> Date {
        let local_ms =
            i64::try_from(at / NS_PER_MS).unwrap_or(i64::MAX).saturating_add(self.offset_ms);
        Date::from_unix_ms(u64::try_from(local_ms).unwrap_or(0))
    }

    /// The first instant (ns) of the banks' day `day`.
    pub fn day_start_ns(&self, day: Date) -> u64 {
        let utc_ms = day.start_unix_ms().map_or(0, |ms| i64::try_from(ms).unwrap_or(i64::MAX));
        u64::try_from(utc_ms.saturating_sub(self.offset_ms)).unwrap_or(0).saturating_mul(NS_PER_MS)
    }

    fn day_after(&self, day: Date) -> Date {
        let next_ms = day.start_unix_ms().unwrap_or(0).saturating_add(MS_PER_DAY);
        Date::from_unix_ms(next_ms)
    }

    /// The first instant of the first open day: where the ledger stream starts.
    pub fn start_ns(&self) -> u64 {
        self.days.keys().next().map_or(0, |day| self.day_start_ns(*day))
    }

    /// The statement period to fetch at `now_ns`: the open days through today (opening today
    /// when the day has turned).
    pub fn period(&mut self, now_ns: u64) -> StatementPeriod {
        let today = self.day_of(now_ns);
        self.days.entry(today).or_insert(0);
        let first = self.days.keys().next().copied().unwrap_or(today);
        let last = self.days.keys().next_back().copied().unwrap_or(today).max(today);
        StatementPeriod::new(first, last).unwrap_or_else(|| {
            StatementPeriod::new(today, today).expect("a day is a period of itself")
        })
    }

    /// Takes the entries of `statement` (fetched for `period`) not fed before, seen at
    /// `observed_at`, closes the days a lateness past their end, and forgets recent entries
    /// past the lateness.
    pub fn absorb(
        &mut self,
        statement: Statement,
        period: StatementPeriod,
        observed_at: u64,
    ) -> Absorbed {
        let observed = observed_at.max(self.observed);
        self.observed = observed;
        let mut absorbed =
            Absorbed { closing: statement.closing_booked().copied(), ..Absorbed::default() };
        let first_open = self.days.keys().next().copied().unwrap_or(period.to());
        let mut listed: BTreeMap<Date, usize> = BTreeMap::new();
        for entry in statement.entries {
            // An entry without a booking date belongs to the last day asked for.
            let day = entry.booking_date.unwrap_or(period.to());
            if day < first_open {
                absorbed.outside += 1;
                continue;
            }
            let position = listed.entry(day).or_insert(0);
            *position += 1;
            let consumed = self.days.entry(day).or_insert(0);
            if *position <= *consumed {
                continue;
            }
            *consumed += 1;
            if self.references.contains(&entry.bank_reference) {
                absorbed.repeated += 1;
                continue;
            }
            absorbed.movements.push(self.take(entry, observed));
        }
        for (day, consumed) in &self.days {
            if listed.get(day).copied().unwrap_or(0) < *consumed {
                absorbed.shrunk_days.push(*day);
            }
        }
        let today = self.day_of(observed);
        let closing: Vec<Date> = self
            .days
            .keys()
            .copied()
            .filter(|day| {
                *day < today
                    && self.day_start_ns(self.day_after(*day)).saturating_add(self.lateness_ns)
                        <= observed
            })
            .collect();
        for day in closing {
            if let Some(consumed) = self.days.remove(&day) {
                absorbed.closed_days.push((day, consumed));
            }
        }
        self.forget(observed);
        absorbed
    }

    /// One new entry: the movement fed to the matcher, remembered if it is booked money.
    fn take(&mut self, entry: BankEntry, observed: u64) -> BankMovement {
        if let Some(key) = bank_key(self.bank, &entry) {
            let record = BankRecord {
                bank_reference: entry.bank_reference.clone(),
                direction: entry.direction,
                amount: entry.amount,
                reversal: entry.reversal,
                value_date: entry.value_date,
                booked_at: observed,
            };
            self.references.insert(entry.bank_reference.clone());
            self.recent.push_back(RecentEntry { record, key, settled: false, held: false });
        }
        BankMovement { entry, booked_at: observed }
    }

    /// Forgets recent entries seen more than a lateness before `now`, but those held.
    fn forget(&mut self, now: u64) {
        let oldest = now.saturating_sub(self.lateness_ns);
        let references = &mut self.references;
        self.recent.retain(|entry| {
            let keep = entry.held || entry.record.booked_at >= oldest;
            if !keep {
                references.remove(&entry.record.bank_reference);
            }
            keep
        });
    }

    /// The recent entries, oldest first, for the balance check to read and mark.
    pub fn recent_mut(&mut self) -> impl Iterator<Item = &mut RecentEntry> {
        self.recent.iter_mut()
    }

    /// How many recent entries are kept.
    pub fn recent_len(&self) -> usize {
        self.recent.len()
    }

    /// The latest instant an entry was given.
    pub const fn observed(&self) -> u64 {
        self.observed
    }
}

#[cfg(test)]
mod tests {
    use tianping_bank_adapters::gateway::{BalanceType, Direction, EntryStatus};
    use tianping_bank_adapters::money::{Currency, Money};

    use super::*;

    const SECOND: u64 = 1_000_000_000;
    const HOUR: u64 = 3_600 * SECOND;
    const LATENESS: u64 = 65 * 60 * SECOND;
    /// 2025-11-24T16:00:00Z.
    const NOW: u64 = 1_764_000_000 * SECOND;

    fn date(text: &str) -> Date {
        Date::parse(text).expect("a date")
    }

    fn entry(reference: &str, day: &str) -> BankEntry {
        BankEntry {
            bank_reference: reference.into(),
            end_to_end_id: None,
            direction: Direction::Credit,
            amount: Money { minor_units: 100, currency: Currency::Cny },
            status: EntryStatus::Booked,
            reversal: false,
            booking_date: Some(date(day)),
            value_date: None,
            remittance: Vec::new(),
            counterparty_name: None,
        }
    }

    fn statement(entries: Vec<BankEntry>) -> Statement {
        let closing = Balance {
            amount: Money { minor_units: 1_000, currency: Currency::Cny },
            direction: Direction::Credit,
            date: date("2025-11-24"),
        };
        Statement {
            statement_id: "S1".into(),
            account: "A".into(),
            balances: vec![(BalanceType::ClosingBooked, closing)],
            entries,
        }
    }

    fn references(absorbed: &Absorbed) -> Vec<&str> {
        absorbed.movements.iter().map(|m| m.entry.bank_reference.as_str()).collect()
    }

    #[test]
    fn each_entry_is_fed_once_at_the_instant_it_was_first_seen() {
        let mut stream = BankStream::new(1, 0, LATENESS, NOW);
        assert_eq!(stream.start_ns(), 1_763_942_400 * SECOND); // 2025-11-24T00:00Z
        let period = stream.period(NOW);
        assert_eq!((period.from(), period.to()), (date("2025-11-24"), date("2025-11-24")));
        let first = stream.absorb(statement(vec![entry("E1", "2025-11-24")]), period, NOW);
        assert_eq!(references(&first), ["E1"]);
        assert_eq!(first.movements[0].booked_at, NOW);
        assert!(first.closing.is_some());
        // The next fetch lists E1 again and E2 after it: only E2 is new, seen now.
        let later = NOW + 60 * SECOND;
        let period = stream.period(later);
        let next = stream.absorb(
            statement(vec![entry("E1", "2025-11-24"), entry("E2", "2025-11-24")]),
            period,
            later,
        );
        assert_eq!(references(&next), ["E2"]);
        assert_eq!(next.movements[0].booked_at, later);
        // An instant earlier than one given already is not given: time order holds.
        let early = stream.absorb(
            statement(vec![
                entry("E1", "2025-11-24"),
                entry("E2", "2025-11-24"),
                entry("E3", "2025-11-24"),
            ]),
            period,
            NOW,
        );
        assert_eq!(early.movements[0].booked_at, later);
    }

    #[test]
    fn a_repeated_reference_and_a_shrunk_day_are_reported_not_fed() {
        let mut stream = BankStream::new(1, 0, LATENESS, NOW);
        let period = stream.period(NOW);
        stream.absorb(statement(vec![entry("E1", "2025-11-24")]), period, NOW);
        let again = stream.absorb(
            statement(vec![entry("E1", "2025-11-24"), entry("E1", "2025-11-24")]),
            period,
            NOW,
        );
        assert!(again.movements.is_empty());
        assert_eq!(again.repeated, 1);
        let shrunk = stream.absorb(statement(vec![]), period, NOW);
        assert_eq!(shrunk.shrunk_days, [date("2025-11-24")]);
        assert!(shrunk.movements.is_empty());
    }

    #[test]
    fn yesterday_stays_open_a_lateness_past_midnight() {
        // 00:30 on the 25th: the 24th is open (its end is less than a lateness ago).
        let just_after = 1_764_030_600 * SECOND;
        let mut stream = BankStream::new(1, 0, LATENESS, just_after);
        assert_eq!(stream.start_ns(), 1_763_942_400 * SECOND);
        let period = stream.period(just_after);
        assert_eq!((period.from(), period.to()), (date("2025-11-24"), date("2025-11-25")));
        let absorbed = stream.absorb(
            statement(vec![entry("Y1", "2025-11-24"), entry("T1", "2025-11-25")]),
            period,
            just_after,
        );
        assert_eq!(references(&absorbed), ["Y1", "T1"]);
        assert!(absorbed.closed_days.is_empty());
        // 01:10: a lateness past midnight, the 24th closes with its one entry.
        let closing_time = just_after + 40 * 60 * SECOND;
        let period = stream.period(closing_time);
        let absorbed = stream.absorb(
            statement(vec![
                entry("Y1", "2025-11-24"),
                entry("Y2", "2025-11-24"),
                entry("T1", "2025-11-25"),
            ]),
            period,
            closing_time,
        );
        assert_eq!(references(&absorbed), ["Y2"]);
        assert_eq!(absorbed.closed_days, [(date("2025-11-24"), 2)]);
        let period = stream.period(closing_time + HOUR);
        assert_eq!(period.from(), date("2025-11-25"));
        // An entry of a closed day listed later is outside, not fed.
        let absorbed =
            stream.absorb(statement(vec![entry("Y3", "2025-11-24")]), period, closing_time + HOUR);
        assert_eq!(absorbed.outside, 1);
    }

    #[test]
    fn the_day_follows_the_offset() {
        // 16:00Z is midnight in UTC+8: the banks' day is already the 25th.
        let stream = BankStream::new(1, 8 * 3600, LATENESS, NOW);
        assert_eq!(stream.day_of(NOW), date("2025-11-25"));
        assert_eq!(stream.day_start_ns(date("2025-11-25")), NOW);
    }

    #[test]
    fn recent_entries_are_forgotten_after_the_lateness_unless_held() {
        let mut stream = BankStream::new(1, 0, LATENESS, NOW);
        let period = stream.period(NOW);
        stream.absorb(
            statement(vec![entry("E1", "2025-11-24"), entry("E2", "2025-11-24")]),
            period,
            NOW,
        );
        assert_eq!(stream.recent_len(), 2);
        if let Some(first) = stream.recent_mut().next() {
            first.held = true;
        }
        let later = NOW + LATENESS + SECOND;
        let period = stream.period(later);
        stream.absorb(
            statement(vec![entry("E1", "2025-11-24"), entry("E2", "2025-11-24")]),
            period,
            later,
        );
        let kept: Vec<String> =
            stream.recent_mut().map(|e| e.record.bank_reference.clone()).collect();
        assert_eq!(kept, ["E1"]);
    }
}
