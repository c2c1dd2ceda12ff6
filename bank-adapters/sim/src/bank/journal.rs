//! The bank's journal, the notification feed over it, and statements computed from it.
//!
//! The journal is every booked entry in booking order; the feed is what the bank *delivers*
//! as notifications — normally each entry once, in order, but a fault may drop an entry,
//! deliver it twice, or hold it back until after the next one (released after
//! [`REORDER_HOLD_MS`] at the latest). A cursor is a position in the feed, in decimal.
//! Statements read the journal, never the feed: a lost notification still shows there.

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{
    Balance, BalanceType, Direction, Statement, StatementPeriod,
};
use tianping_bank_adapters::money::Money;

use crate::bank::BankError;
use crate::bank::records::{Account, EntryFaults, JournalEntry};

/// The longest a reordered entry is held back when no later entry comes to overtake it.
pub const REORDER_HOLD_MS: u64 = 5_000;

/// The journal and the notification feed over it.
#[derive(Debug, Default)]
pub struct Feed {
    journal: Vec<JournalEntry>,
    /// Journal indexes, in delivery order.
    delivered: Vec<usize>,
    /// Journal indexes held back for reordering.
    held: Vec<usize>,
}

impl Feed {
    /// Every booked entry.
    pub fn journal(&self) -> &[JournalEntry] {
        &self.journal
    }

    /// Books `entry` and delivers it as `faults` say.
    pub fn book(&mut self, entry: JournalEntry, faults: EntryFaults) {
        let index = self.journal.len();
        self.journal.push(entry);
        if faults.lose {
            return;
        }
        let copies = if faults.duplicate { 2 } else { 1 };
        if faults.reorder {
            self.held.extend(std::iter::repeat_n(index, copies));
            return;
        }
        self.delivered.extend(std::iter::repeat_n(index, copies));
        self.delivered.append(&mut self.held);
    }

    /// Delivers held entries booked more than [`REORDER_HOLD_MS`] before `now_ms`.
    pub fn release_held(&mut self, now_ms: u64) {
        let journal = &self.journal;
        let (due, keep): (Vec<usize>, Vec<usize>) = self.held.iter().partition(|index| {
            journal
                .get(**index)
                .is_some_and(|entry| entry.booked_at_ms.saturating_add(REORDER_HOLD_MS) <= now_ms)
        });
        self.delivered.extend(due);
        self.held = keep;
    }

    /// Up to `limit` delivered entries after `cursor`, and the next cursor.
    pub fn page(
        &self,
        cursor: &str,
        limit: usize,
    ) -> Result<(Vec<JournalEntry>, String), BankError> {
        let start = if cursor.is_empty() {
            0
        } else {
            let position: usize =
                cursor.parse().map_err(|_| BankError::BadCursor(cursor.to_owned()))?;
            if position > self.delivered.len() || position.to_string() != cursor {
                return Err(BankError::BadCursor(cursor.to_owned()));
            }
            position
        };
        let end = start.saturating_add(limit).min(self.delivered.len());
        let entries = self.delivered[start..end]
            .iter()
            .filter_map(|index| self.journal.get(*index).cloned())
            .collect();
        Ok((entries, end.to_string()))
    }
}

fn balance(
    signed: i128,
    currency: tianping_bank_adapters::money::Currency,
    date: Date,
) -> Result<Balance, BankError> {
    let direction = if signed < 0 { Direction::Debit } else { Direction::Credit };
    Ok(Balance { amount: Money { minor_units: signed.unsigned_abs(), currency }, direction, date })
}

/// The statement of `account` over `period`: the opening booked balance is the account's
/// opening balance plus every entry booked before the first day; the closing one adds the
/// period's entries, which the statement lists.
pub fn statement(
    account: &Account,
    journal: &[JournalEntry],
    period: StatementPeriod,
    statement_id: String,
) -> Result<Statement, BankError> {
    let mut opening =
        i128::try_from(account.opening_balance).map_err(|_| BankError::Overflow("balance"))?;
    let mut closing_delta: i128 = 0;
    let mut entries = Vec::new();
    for entry in journal.iter().filter(|entry| entry.account == account.number) {
        let day = Date::from_unix_ms(entry.booked_at_ms);
        let signed = entry.signed_amount().ok_or(BankError::Overflow("entry"))?;
        if day < period.from() {
            opening = opening.checked_add(signed).ok_or(BankError::Overflow("opening balance"))?;
        } else if day <= period.to() {
            closing_delta =
                closing_delta.checked_add(signed).ok_or(BankError::Overflow("closing balance"))?;
            entries.push(entry.to_bank_entry());
        }
    }
    let closing =
        opening.checked_add(closing_delta).ok_or(BankError::Overflow("closing balance"))?;
    Ok(Statement {
        statement_id,
        account: account.number.clone(),
        balances: vec![
            (BalanceType::OpeningBooked, balance(opening, account.currency, period.from())?),
            (BalanceType::ClosingBooked, balance(closing, account.currency, period.to())?),
        ],
        entries,
    })
}
