//! The bank's journal, the notification feeds over it, and statements computed from it.
//!
//! The journal is every booked entry in booking order. Each account has its own notification
//! feed, as real banks notify per account (camt.054 `Ntfctn/Acct`, a direct-connect
//! subscription per account): what the bank *delivers* about that account's entries —
//! normally each once, in order, but a fault may drop an entry, deliver it twice, or hold it
//! back until after the account's next entry (released after [`REORDER_HOLD_MS`] at the
//! latest). Nobody reads another account's entries through a feed: the bank holds other
//! customers' accounts (a merchant our payouts pay), and their credits are not our money.
//!
//! A cursor is `{ordinal}.{position}`: the account's ordinal among the bank's accounts (fixed
//! when the bank is built) and a position in its feed, both canonical decimals; the empty
//! cursor is the start of any feed. A cursor handed out by one account's feed is refused on
//! another's ([`BankError::BadCursor`]), so a caller that mixes up its cursors gets an error,
//! never a page that silently skips entries.
//!
//! Statements read the journal, never the feeds: a lost notification still shows there.

use std::collections::BTreeMap;

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{
    Balance, BalanceType, Direction, Statement, StatementPeriod,
};
use tianping_bank_adapters::money::Money;

use crate::bank::BankError;
use crate::bank::records::{Account, EntryFaults, JournalEntry};

/// The longest a reordered entry is held back when no later entry comes to overtake it.
pub const REORDER_HOLD_MS: u64 = 5_000;

/// What separates a cursor's account ordinal from its position.
const CURSOR_SEPARATOR: char = '.';

/// One account's notification feed.
#[derive(Debug, Default)]
struct AccountFeed {
    /// The account's ordinal among the bank's accounts: the first part of its cursors.
    ordinal: usize,
    /// Journal indexes of the account's entries, in delivery order.
    delivered: Vec<usize>,
    /// Journal indexes of the account's entries held back for reordering.
    held: Vec<usize>,
}

/// The journal and the per-account notification feeds over it.
#[derive(Debug)]
pub struct Feed {
    journal: Vec<JournalEntry>,
    /// Every account's feed, by account number.
    feeds: BTreeMap<String, AccountFeed>,
}

impl Feed {
    /// An empty journal and one empty feed per account of `accounts`, numbered in that order.
    pub fn new<'a>(accounts: impl IntoIterator<Item = &'a str>) -> Feed {
        let feeds = accounts
            .into_iter()
            .enumerate()
            .map(|(ordinal, account)| {
                (account.to_owned(), AccountFeed { ordinal, ..AccountFeed::default() })
            })
            .collect();
        Feed { journal: Vec::new(), feeds }
    }

    /// Every booked entry.
    pub fn journal(&self) -> &[JournalEntry] {
        &self.journal
    }

    /// Books `entry` and delivers it on its account's feed as `faults` say. An account the
    /// feed does not know is refused before anything is booked.
    pub fn book(&mut self, entry: JournalEntry, faults: EntryFaults) -> Result<(), BankError> {
        let index = self.journal.len();
        let feed = self
            .feeds
            .get_mut(&entry.account)
            .ok_or_else(|| BankError::UnknownAccount(entry.account.clone()))?;
        self.journal.push(entry);
        if faults.lose {
            return Ok(());
        }
        let copies = if faults.duplicate { 2 } else { 1 };
        if faults.reorder {
            feed.held.extend(std::iter::repeat_n(index, copies));
            return Ok(());
        }
        feed.delivered.extend(std::iter::repeat_n(index, copies));
        feed.delivered.append(&mut feed.held);
        Ok(())
    }

    /// Delivers held entries booked more than [`REORDER_HOLD_MS`] before `now_ms`.
    pub fn release_held(&mut self, now_ms: u64) {
        let journal = &self.journal;
        for feed in self.feeds.values_mut() {
            let (due, keep): (Vec<usize>, Vec<usize>) = feed.held.iter().partition(|index| {
                journal.get(**index).is_some_and(|entry| {
                    entry.booked_at_ms.saturating_add(REORDER_HOLD_MS) <= now_ms
                })
            });
            feed.delivered.extend(due);
            feed.held = keep;
        }
    }

    /// Up to `limit` entries delivered on `account`'s feed after `cursor`, and the next
    /// cursor. An account without a feed is [`BankError::UnknownAccount`]; a cursor that is
    /// not one this account's feed handed out (another account's, one past its end, not
    /// canonical) is [`BankError::BadCursor`].
    pub fn page(
        &self,
        account: &str,
        cursor: &str,
        limit: usize,
    ) -> Result<(Vec<JournalEntry>, String), BankError> {
        let feed =
            self.feeds.get(account).ok_or_else(|| BankError::UnknownAccount(account.to_owned()))?;
        let start = if cursor.is_empty() { 0 } else { cursor_position(feed, cursor)? };
        let end = start.saturating_add(limit).min(feed.delivered.len());
        let entries = feed.delivered[start..end]
            .iter()
            .filter_map(|index| self.journal.get(*index).cloned())
            .collect();
        Ok((entries, format!("{}{CURSOR_SEPARATOR}{end}", feed.ordinal)))
    }
}

/// The position `cursor` names in `feed`, if `feed` could have handed it out.
fn cursor_position(feed: &AccountFeed, cursor: &str) -> Result<usize, BankError> {
    let refused = || BankError::BadCursor(cursor.to_owned());
    let (ordinal, position) = cursor.split_once(CURSOR_SEPARATOR).ok_or_else(refused)?;
    let canonical =
        |text: &str| text.parse::<usize>().ok().filter(|number| number.to_string() == text);
    let ordinal = canonical(ordinal).ok_or_else(refused)?;
    let position = canonical(position).ok_or_else(refused)?;
    if ordinal != feed.ordinal || position > feed.delivered.len() {
        return Err(refused());
    }
    Ok(position)
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

#[cfg(test)]
mod tests {
    use tianping_bank_adapters::money::Currency;

    use super::*;

    const OURS: &str = "1001";
    const THEIRS: &str = "2002";

    fn entry(account: &str, reference: &str) -> JournalEntry {
        JournalEntry {
            bank_reference: reference.to_owned(),
            account: account.to_owned(),
            direction: Direction::Credit,
            amount: Money { minor_units: 5, currency: Currency::Cny },
            reversal: false,
            booked_at_ms: 1_000,
            end_to_end_id: None,
            remittance: Vec::new(),
            counterparty_name: None,
        }
    }

    fn references(page: &[JournalEntry]) -> Vec<&str> {
        page.iter().map(|entry| entry.bank_reference.as_str()).collect()
    }

    /// Two accounts, entries booked alternately: each feed pages only its own.
    fn feed() -> Feed {
        let mut feed = Feed::new([OURS, THEIRS]);
        for (account, reference) in [(OURS, "A1"), (THEIRS, "B1"), (OURS, "A2"), (THEIRS, "B2")] {
            feed.book(entry(account, reference), EntryFaults::default()).expect("books");
        }
        feed
    }

    #[test]
    fn each_account_pages_only_its_own_entries() {
        let feed = feed();
        let (page, next) = feed.page(OURS, "", 1).expect("page");
        assert_eq!((references(&page), next.as_str()), (vec!["A1"], "0.1"));
        let (page, next) = feed.page(OURS, &next, 10).expect("page");
        assert_eq!((references(&page), next.as_str()), (vec!["A2"], "0.2"));
        let (page, again) = feed.page(OURS, &next, 10).expect("page");
        assert!(page.is_empty() && again == next, "the end: the same cursor");
        let (page, next) = feed.page(THEIRS, "", 10).expect("page");
        assert_eq!((references(&page), next.as_str()), (vec!["B1", "B2"], "1.2"));
        assert_eq!(feed.journal().len(), 4, "one journal for the bank");
    }

    #[test]
    fn a_cursor_only_works_on_the_feed_that_handed_it_out() {
        let feed = feed();
        let (_, ours) = feed.page(OURS, "", 1).expect("page");
        // Position 1 exists on their feed too: refused all the same, never a page that
        // skips their first entry.
        assert_eq!(feed.page(THEIRS, &ours, 10), Err(BankError::BadCursor(ours.clone())));
        for bad in ["0.3", "1", "0.01", "00.1", "x.1", "0.1.2", ".1", "0.", "-1.0"] {
            assert_eq!(
                feed.page(OURS, bad, 10),
                Err(BankError::BadCursor(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(feed.page("3003", "", 10), Err(BankError::UnknownAccount("3003".to_owned())));
    }

    #[test]
    fn an_entry_of_an_unknown_account_is_refused_before_it_is_booked() {
        let mut feed = feed();
        let refused = feed.book(entry("3003", "C1"), EntryFaults::default());
        assert_eq!(refused, Err(BankError::UnknownAccount("3003".to_owned())));
        assert_eq!(feed.journal().len(), 4);
    }

    #[test]
    fn a_reordered_entry_is_overtaken_by_its_own_accounts_next_entry() {
        let mut feed = Feed::new([OURS, THEIRS]);
        let reorder = EntryFaults { reorder: true, ..EntryFaults::default() };
        feed.book(entry(OURS, "A1"), reorder).expect("books");
        feed.book(entry(THEIRS, "B1"), EntryFaults::default()).expect("books");
        assert!(feed.page(OURS, "", 10).expect("page").0.is_empty(), "still held");
        feed.book(entry(OURS, "A2"), EntryFaults::default()).expect("books");
        assert_eq!(references(&feed.page(OURS, "", 10).expect("page").0), ["A2", "A1"]);
        assert_eq!(references(&feed.page(THEIRS, "", 10).expect("page").0), ["B1"]);
    }
}
