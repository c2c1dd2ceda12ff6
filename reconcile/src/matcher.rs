//! Transaction matching (对账) as a streaming windowed join with bounded memory.
//!
//! Two streams come in, each in non-decreasing time: the ledger's movements that touch the
//! bank ([`LedgerMovement`], ledger time) and the bank's statement entries ([`BankMovement`],
//! booking instant). Each stream's **watermark** is the time of its latest item (or what the
//! caller declares with [`Matcher::advance`]): nothing earlier will come on it.
//!
//! Items wait in the **window**, grouped by key ([`MatchKey`]). A key's deadline is its latest
//! item's time plus the lateness; the key closes — and [`judge_key`] decides what its items
//! amount to — once *both* watermarks are past the deadline. So:
//! - a ledger movement and a bank entry of the same key at most `lateness_ns` apart always
//!   meet, in whatever order and interleaving the streams deliver them;
//! - a matched key stays open for the lateness after its last item, so a duplicate at the
//!   bank arriving within that time joins it and is found;
//! - an item left alone becomes a finding (or a question) one lateness after it, not at the
//!   end of the day.
//!
//! Memory is the items inside the window — O(items per lateness), never O(day) — bounded by
//! `window_items_max` ([`MatchError::WindowFull`] refuses an item past it) and observable
//! through [`Matcher::window`] and [`Matcher::peak_items`].
//!
//! Each stream's items come in time order, so their deadlines do too: one FIFO queue of
//! `(deadline, key)` per stream is already sorted, and closing takes the earlier front of the
//! two — no heap. A queue entry whose key has a later deadline (a later item extended it) or
//! is already closed is passed over; the entry of a key's latest item closes it.
//!
//! Deterministic: the queues follow the input order and the hash map is only looked up, never
//! iterated.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::counts::Counts;
use crate::judge::{AccountContext, Outcome, judge_key};
use crate::keys::{MatchKey, bank_key};
use crate::movement::{BankMovement, BankRecord, LedgerMovement};
use crate::{LATENESS_NS_DEFAULT, LATENESS_NS_MAX, WINDOW_ITEMS_MAX_DEFAULT};

/// How a matcher runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatcherConfig {
    /// The bank account reconciled.
    pub context: AccountContext,
    /// How long an item waits for its partner, and a matched key for a duplicate (ns);
    /// 1..=[`LATENESS_NS_MAX`].
    pub lateness_ns: u64,
    /// The most items the window holds (at least 1).
    pub window_items_max: usize,
}

impl MatcherConfig {
    /// The defaults for `context`: [`LATENESS_NS_DEFAULT`], [`WINDOW_ITEMS_MAX_DEFAULT`].
    pub const fn new(context: AccountContext) -> MatcherConfig {
        MatcherConfig {
            context,
            lateness_ns: LATENESS_NS_DEFAULT,
            window_items_max: WINDOW_ITEMS_MAX_DEFAULT,
        }
    }
}

/// Why a configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Zero, or longer than a day (the window would hold the day).
    #[error("lateness {lateness_ns} ns is outside 1..={LATENESS_NS_MAX}")]
    Lateness {
        /// The refused lateness.
        lateness_ns: u64,
    },
    /// A window that holds nothing cannot match anything.
    #[error("window_items_max must be at least 1")]
    WindowItems,
}

/// Which stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The ledger's movements.
    Ledger,
    /// The bank's statement entries.
    Bank,
}

/// Why an item or a watermark is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// An item (or a declared watermark) earlier than its stream's watermark: the stream is
    /// not in time order, and matching it could report differences that are not there.
    /// Nothing changed.
    #[error("{side:?} stream went back in time: {at} ns after watermark {watermark} ns")]
    OutOfOrder {
        /// The stream.
        side: Side,
        /// The refused time.
        at: u64,
        /// The stream's watermark.
        watermark: u64,
    },
    /// The window holds `window_items_max` items already: the other stream lags too far
    /// behind (advance its watermark), or the bound is too small for the traffic. The item was
    /// not taken, but its time still moved its stream's watermark (and closed what that
    /// allowed), so offering the same item again later is in order.
    #[error("the matching window is full ({items} items); the other stream lags behind")]
    WindowFull {
        /// Items in the window.
        items: usize,
    },
}

/// How much the window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowSize {
    /// Open keys.
    pub keys: usize,
    /// Ledger movements waiting.
    pub ledger_movements: usize,
    /// Bank entries waiting.
    pub bank_entries: usize,
}

impl WindowSize {
    /// Items of both streams.
    pub const fn items(&self) -> usize {
        self.ledger_movements + self.bank_entries
    }
}

/// One open key: its items and when it may close.
#[derive(Debug, Default)]
struct Slot {
    ledger: Vec<LedgerMovement>,
    bank: Vec<BankRecord>,
    /// The latest item's time plus the lateness (saturating: a time near `u64::MAX` closes only
    /// at [`Matcher::finish`]).
    deadline: u64,
}

/// The streaming matcher of one bank account.
#[derive(Debug)]
pub struct Matcher {
    config: MatcherConfig,
    slots: FxHashMap<MatchKey, Slot>,
    /// One entry per ledger movement taken in, `(its deadline, its key)`, in stream order and
    /// so in deadline order.
    ledger_deadlines: VecDeque<(u64, MatchKey)>,
    /// The same for bank entries.
    bank_deadlines: VecDeque<(u64, MatchKey)>,
    ledger_watermark: u64,
    bank_watermark: u64,
    ledger_items: usize,
    bank_items: usize,
    peak_items: usize,
    counts: Counts,
}

impl Matcher {
    /// A matcher with nothing seen; both watermarks at 0.
    pub fn new(config: MatcherConfig) -> Result<Matcher, ConfigError> {
        if config.lateness_ns == 0 || config.lateness_ns > LATENESS_NS_MAX {
            return Err(ConfigError::Lateness { lateness_ns: config.lateness_ns });
        }
        if config.window_items_max == 0 {
            return Err(ConfigError::WindowItems);
        }
        Ok(Matcher {
            config,
            slots: FxHashMap::default(),
            ledger_deadlines: VecDeque::new(),
            bank_deadlines: VecDeque::new(),
            ledger_watermark: 0,
            bank_watermark: 0,
            ledger_items: 0,
            bank_items: 0,
            peak_items: 0,
            counts: Counts::default(),
        })
    }

    /// Takes the next ledger movement; keys that close on the way push their outcomes to
    /// `out`.
    pub fn push_ledger(
        &mut self,
        movement: LedgerMovement,
        out: &mut Vec<Outcome>,
    ) -> Result<(), MatchError> {
        let at = movement.at();
        self.advance(Side::Ledger, at, out)?;
        self.check_room()?;
        self.counts.ledger_movements += 1;
        self.ledger_items += 1;
        let key = movement.key();
        push_compact(&mut self.slot(Side::Ledger, key, at).ledger, movement);
        self.note_peak();
        Ok(())
    }

    /// Takes the next bank statement entry (pending and information entries only move the
    /// watermark and are counted); keys that close on the way push their outcomes to `out`.
    pub fn push_bank(
        &mut self,
        movement: BankMovement,
        out: &mut Vec<Outcome>,
    ) -> Result<(), MatchError> {
        let at = movement.booked_at;
        self.advance(Side::Bank, at, out)?;
        let Some(key) = bank_key(self.config.context.bank, &movement.entry) else {
            self.counts.bank_entries_not_booked += 1;
            return Ok(());
        };
        self.check_room()?;
        self.counts.bank_entries += 1;
        self.bank_items += 1;
        push_compact(&mut self.slot(Side::Bank, key, at).bank, BankRecord::of(movement));
        self.note_peak();
        Ok(())
    }

    /// Declares that nothing earlier than `watermark` will come on `side` (a quiet stream
    /// still moves on: a statement fetched up to its cut-off, a ledger read up to its own),
    /// and closes the keys that can close.
    pub fn advance(
        &mut self,
        side: Side,
        watermark: u64,
        out: &mut Vec<Outcome>,
    ) -> Result<(), MatchError> {
        let current = match side {
            Side::Ledger => &mut self.ledger_watermark,
            Side::Bank => &mut self.bank_watermark,
        };
        if watermark < *current {
            return Err(MatchError::OutOfOrder { side, at: watermark, watermark: *current });
        }
        *current = watermark;
        self.close_before(self.ledger_watermark.min(self.bank_watermark), out);
        Ok(())
    }

    /// Both streams ended: closes every key, in deadline order, and returns the counts.
    pub fn finish(mut self, out: &mut Vec<Outcome>) -> Counts {
        self.close_before(u64::MAX, out);
        // Keys whose deadline saturated at `u64::MAX` close only here.
        for (_, key) in std::mem::take(&mut self.ledger_deadlines)
            .into_iter()
            .chain(std::mem::take(&mut self.bank_deadlines))
        {
            self.close(&key, out);
        }
        self.counts
    }

    /// The counters so far.
    pub const fn counts(&self) -> &Counts {
        &self.counts
    }

    /// What the window holds now: the matcher's memory, for the benchmark and a metric.
    pub fn window(&self) -> WindowSize {
        WindowSize {
            keys: self.slots.len(),
            ledger_movements: self.ledger_items,
            bank_entries: self.bank_items,
        }
    }

    /// How far `side` has come: nothing earlier will be taken on it. A caller whose stream may
    /// deliver an item a little late (the reconciler reading several ledger listings one after
    /// another) compares with it before pushing.
    pub const fn watermark(&self, side: Side) -> u64 {
        match side {
            Side::Ledger => self.ledger_watermark,
            Side::Bank => self.bank_watermark,
        }
    }

    /// The most items the window has held at once.
    pub const fn peak_items(&self) -> usize {
        self.peak_items
    }

    /// The configuration.
    pub const fn config(&self) -> &MatcherConfig {
        &self.config
    }

    /// Refuses an item the window has no room for.
    fn check_room(&self) -> Result<(), MatchError> {
        let items = self.ledger_items + self.bank_items;
        if items >= self.config.window_items_max {
            return Err(MatchError::WindowFull { items });
        }
        Ok(())
    }

    /// The open slot of `key`, its deadline moved to cover an item at `at` on `side`.
    fn slot(&mut self, side: Side, key: MatchKey, at: u64) -> &mut Slot {
        let deadline = at.saturating_add(self.config.lateness_ns);
        let queue = match side {
            Side::Ledger => &mut self.ledger_deadlines,
            Side::Bank => &mut self.bank_deadlines,
        };
        queue.push_back((deadline, key.clone()));
        let slot = self.slots.entry(key).or_default();
        slot.deadline = slot.deadline.max(deadline);
        slot
    }

    /// Closes every key whose deadline is before `horizon`.
    fn close_before(&mut self, horizon: u64, out: &mut Vec<Outcome>) {
        loop {
            let ledger_front = self.ledger_deadlines.front().map(|(deadline, _)| *deadline);
            let bank_front = self.bank_deadlines.front().map(|(deadline, _)| *deadline);
            let queue = match (ledger_front, bank_front) {
                (Some(ledger), Some(bank)) if bank < ledger => &mut self.bank_deadlines,
                (Some(_), _) => &mut self.ledger_deadlines,
                (None, Some(_)) => &mut self.bank_deadlines,
                (None, None) => break,
            };
            if queue.front().is_none_or(|(deadline, _)| *deadline >= horizon) {
                break;
            }
            let Some((deadline, key)) = queue.pop_front() else { break };
            // Only the entry of the key's latest item closes it: an earlier item's entry finds
            // a later deadline, and an entry of a key already closed finds none (or a new
            // key's, which is later still).
            if self.slots.get(&key).is_some_and(|slot| slot.deadline == deadline) {
                self.close(&key, out);
            }
        }
    }

    /// Judges and forgets one key.
    fn close(&mut self, key: &MatchKey, out: &mut Vec<Outcome>) {
        let Some(slot) = self.slots.remove(key) else { return };
        self.ledger_items -= slot.ledger.len();
        self.bank_items -= slot.bank.len();
        judge_key(self.config.context, key, slot.ledger, slot.bank, &mut self.counts, out);
    }

    fn note_peak(&mut self) {
        self.peak_items = self.peak_items.max(self.ledger_items + self.bank_items);
    }
}

/// Pushes `item`, allocating room for exactly one when `items` is empty: almost every key
/// holds one item per side, and a vector's first push would make room for four — most of the
/// window's memory.
fn push_compact<T>(items: &mut Vec<T>, item: T) {
    if items.capacity() == 0 {
        items.reserve_exact(1);
    }
    items.push(item);
}

#[cfg(test)]
mod tests;
