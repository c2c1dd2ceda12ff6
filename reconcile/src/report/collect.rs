//! One pass over the discrepancies, in any order, into a bounded [`Report`]: exact counters,
//! per-bucket counts for the plots, and at most [`ROWS_MAX`] rows per table.
//!
//! Which discrepancies a report is about — *listed* — given the period `[since, until)` and
//! each record's current state: those recorded before `until` that were open at some instant
//! of the period, i.e. recorded in it, or recorded earlier and still open or resolved at or
//! after `since`. Anything else (recorded at or after `until`, resolved before `since`) is
//! only counted as outside the period. So the caller may pass more than it must — the
//! simplest correct input is every discrepancy — but must pass each one once, and at least
//! every one recorded in the period and every one still open. For an exact plot of open
//! discrepancies over time it must also pass those recorded before `since` and resolved since
//! (the SDK's listing by recording time from 0 gives all of them).
//!
//! States are as of the caller's fetch, not as of `until`: a discrepancy recorded in the period
//! and resolved after it shows as resolved.

use std::collections::{BTreeMap, BTreeSet};

use tianping_ledger::{Account, AccountStatus, Discrepancy, DiscrepancyClass, DiscrepancyState};

use super::keep::Keep;
use super::period::{Buckets, Period};
use super::{HELD_ACCOUNTS_MAX, HOLDERS_LISTED_MAX, RECONCILERS_LISTED_MAX, ROWS_MAX, ReportError};

/// How many classes there are: the width of every per-class array.
pub const CLASSES: usize = DiscrepancyClass::ALL.len();

/// How many states there are: the width of every per-state array, indexed by the state's
/// numeric value.
pub const STATES: usize = 2;

const _: () =
    assert!(DiscrepancyState::Open as usize == 0 && DiscrepancyState::Resolved as usize == 1);

/// An account named by an open discrepancy, as the ledger holds it now: all the report needs
/// of an `Account`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// The account.
    pub id: u128,
    /// Its current status.
    pub status: AccountStatus,
}

impl From<&Account> for AccountState {
    fn from(account: &Account) -> AccountState {
        AccountState { id: account.id, status: account.status }
    }
}

/// What the report says about itself: what it covers, when it was made, for which cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportHeader {
    /// The period covered.
    pub period: Period,
    /// When the caller fetched the data (ns since the Unix epoch): the report's "now".
    pub generated_at: u64,
    /// The cluster's name as the operator knows it (may be empty).
    pub cluster: String,
    /// Reconcilers the caller knows of; the actors of the listed discrepancies are added.
    pub reconcilers: Vec<String>,
}

/// One table's rows: the first [`ROWS_MAX`] in the table's order, and how many more there are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounded<T> {
    /// The rows shown.
    pub rows: Vec<T>,
    /// Rows not shown.
    pub omitted: u64,
}

/// An account held by at least one open discrepancy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldAccount {
    /// The account.
    pub id: u128,
    /// Its current status; `None` when the caller did not pass it (not found, or not looked up).
    pub status: Option<AccountStatus>,
    /// The open discrepancies holding it, oldest first, at most [`HOLDERS_LISTED_MAX`].
    pub holders: Vec<u128>,
    /// How many open discrepancies hold it.
    pub holders_total: u64,
}

impl HeldAccount {
    /// True when the account cannot pay out now because of the discrepancies holding it.
    pub fn is_outflow_blocked(&self) -> bool {
        self.status == Some(AccountStatus::OutflowBlocked)
    }
}

/// The report's exact counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Discrepancies the report is about (see the module doc).
    pub listed: u64,
    /// Listed and recorded in the period.
    pub recorded_in_period: u64,
    /// Listed and resolved in the period.
    pub resolved_in_period: u64,
    /// Listed and open now.
    pub open_now: u64,
    /// Open just before the period started.
    pub open_at_start: u64,
    /// Passed in but outside the period (recorded at or after `until`, or resolved before
    /// `since`).
    pub outside_period: u64,
    /// Listed, by class (numeric order) and state (open, resolved).
    pub by_class_and_state: [[u64; STATES]; CLASSES],
}

impl Figures {
    /// Listed discrepancies of `class` in `state`.
    pub const fn of(&self, class: DiscrepancyClass, state: DiscrepancyState) -> u64 {
        self.by_class_and_state[class as usize][state as usize]
    }
}

/// A report, bounded whatever the input: what the renderers draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The header, with the reconcilers seen (sorted, at most [`RECONCILERS_LISTED_MAX`]).
    pub header: ReportHeader,
    /// True when more reconciler names were seen than listed.
    pub reconcilers_truncated: bool,
    /// The plots' buckets.
    pub buckets: Buckets,
    /// Discrepancies recorded in each bucket (inside the period), per class.
    pub recorded_per_bucket: Vec<[u64; CLASSES]>,
    /// Discrepancies open at the end of each bucket (or at `until`, for the last).
    pub open_per_bucket: Vec<u64>,
    /// The exact counters.
    pub figures: Figures,
    /// Every listed discrepancy, oldest recorded first.
    pub listed: Bounded<Discrepancy>,
    /// The listed ones still open, oldest recorded first.
    pub open: Bounded<Discrepancy>,
    /// The listed ones resolved, earliest resolved first.
    pub resolved: Bounded<Discrepancy>,
    /// Accounts held by open listed discrepancies, by id.
    pub held_accounts: Bounded<HeldAccount>,
    /// Accounts followed as held (at most [`HELD_ACCOUNTS_MAX`]).
    pub held_accounts_total: u64,
    /// Of those, how many are outflow-blocked now.
    pub outflow_blocked_accounts: u64,
    /// Holds (an open discrepancy naming an account) on accounts past [`HELD_ACCOUNTS_MAX`]:
    /// when not zero, the two account figures above are lower bounds.
    pub holds_untracked: u64,
}

impl Report {
    /// The report of `discrepancies` (see the module doc for which to pass), with `accounts`
    /// giving the current status of the held ones. For pages arriving one by one, use
    /// [`ReportBuilder`].
    pub fn build<'a>(
        header: ReportHeader,
        discrepancies: impl IntoIterator<Item = &'a Discrepancy>,
        accounts: &[AccountState],
    ) -> Result<Report, ReportError> {
        let mut builder = ReportBuilder::new(header)?;
        for discrepancy in discrepancies {
            builder.add(discrepancy)?;
        }
        builder.finish(accounts)
    }
}

/// Builds a [`Report`] from discrepancies offered one at a time, in fixed memory.
#[derive(Debug)]
pub struct ReportBuilder {
    header: ReportHeader,
    buckets: Buckets,
    recorded_per_bucket: Vec<[u64; CLASSES]>,
    resolved_per_bucket: Vec<u64>,
    figures: Figures,
    listed: Keep<(u64, u128), Discrepancy>,
    open: Keep<(u64, u128), Discrepancy>,
    resolved: Keep<(u64, u128), Discrepancy>,
    held: HeldAccounts,
    reconcilers: Names,
}

impl ReportBuilder {
    /// An empty report of `header`'s period; refused when the period cannot be bucketed.
    pub fn new(header: ReportHeader) -> Result<ReportBuilder, ReportError> {
        let buckets = Buckets::for_period(header.period)?;
        let mut reconcilers = Names::default();
        for name in &header.reconcilers {
            reconcilers.add(name);
        }
        Ok(ReportBuilder {
            buckets,
            recorded_per_bucket: vec![[0; CLASSES]; buckets.count()],
            resolved_per_bucket: vec![0; buckets.count()],
            figures: Figures::default(),
            listed: Keep::new(ROWS_MAX),
            open: Keep::new(ROWS_MAX),
            resolved: Keep::new(ROWS_MAX),
            held: HeldAccounts::default(),
            reconcilers,
            header,
        })
    }

    /// Takes one discrepancy into the report.
    pub fn add(&mut self, discrepancy: &Discrepancy) -> Result<(), ReportError> {
        let period = self.header.period;
        let recorded = discrepancy.timestamp;
        // Open over `[recorded, end)`; a resolution stamped before its recording (which the
        // ledger never writes) is read as an empty interval rather than a negative one.
        let end = match discrepancy.state {
            DiscrepancyState::Open => None,
            DiscrepancyState::Resolved => Some(discrepancy.resolved_at.max(recorded)),
        };
        let listed = recorded < period.until() && end.is_none_or(|end| end >= period.since());
        if !listed {
            return bump(&mut self.figures.outside_period, "discrepancies outside the period");
        }
        let key = (recorded, discrepancy.request.id);
        let class = discrepancy.request.class as usize;
        let state = discrepancy.state as usize;
        let figures = &mut self.figures;
        bump(&mut figures.listed, "discrepancies listed")?;
        bump(&mut figures.by_class_and_state[class][state], "discrepancies by class and state")?;
        if recorded < period.since() {
            bump(&mut figures.open_at_start, "open at start")?;
        } else {
            // Listed and not before `since`: inside the period, which the buckets cover.
            let bucket = self.buckets.index_of(recorded).ok_or(ReportError::Inconsistent {
                what: "a recording in the period outside every bucket",
            })?;
            bump(&mut figures.recorded_in_period, "recorded in period")?;
            bump(&mut self.recorded_per_bucket[bucket][class], "recorded per bucket")?;
        }
        self.listed.offer(key, || discrepancy.clone())?;
        self.reconcilers.add(&discrepancy.request.actor);
        match end {
            None => {
                bump(&mut figures.open_now, "open now")?;
                self.open.offer(key, || discrepancy.clone())?;
                for &account in &discrepancy.request.account_ids {
                    self.held.add(account, key)?;
                }
            }
            Some(end) => {
                if period.contains(end) {
                    let bucket = self.buckets.index_of(end).ok_or(ReportError::Inconsistent {
                        what: "a resolution in the period outside every bucket",
                    })?;
                    bump(&mut figures.resolved_in_period, "resolved in period")?;
                    bump(&mut self.resolved_per_bucket[bucket], "resolved per bucket")?;
                }
                self.resolved.offer((end, discrepancy.request.id), || discrepancy.clone())?;
            }
        }
        Ok(())
    }

    /// The accounts held by the open discrepancies taken so far, by id: the ones whose status
    /// [`ReportBuilder::finish`] needs.
    pub fn held_account_ids(&self) -> impl Iterator<Item = u128> + '_ {
        self.held.accounts.keys().copied()
    }

    /// The report, with `accounts` giving the held accounts' current status (any others are
    /// ignored; a held account missing from it shows as unknown).
    pub fn finish(self, accounts: &[AccountState]) -> Result<Report, ReportError> {
        let open_per_bucket = self.open_series()?;
        let statuses: BTreeMap<u128, AccountStatus> =
            accounts.iter().map(|account| (account.id, account.status)).collect();
        let mut held_rows = Keep::new(ROWS_MAX);
        let mut outflow_blocked_accounts = 0;
        let held_accounts_total = count(self.held.accounts.len(), "held accounts")?;
        for (id, holders) in self.held.accounts {
            let account = HeldAccount {
                id,
                status: statuses.get(&id).copied(),
                holders: holders.oldest.iter().map(|&(_, holder)| holder).collect(),
                holders_total: holders.total,
            };
            if account.is_outflow_blocked() {
                bump(&mut outflow_blocked_accounts, "outflow-blocked accounts")?;
            }
            held_rows.offer(id, || account)?;
        }
        let mut header = self.header;
        header.reconcilers = self.reconcilers.names.into_iter().collect();
        Ok(Report {
            header,
            reconcilers_truncated: self.reconcilers.truncated,
            buckets: self.buckets,
            recorded_per_bucket: self.recorded_per_bucket,
            open_per_bucket,
            figures: self.figures,
            listed: bounded(self.listed),
            open: bounded(self.open),
            resolved: bounded(self.resolved),
            held_accounts: bounded(held_rows),
            held_accounts_total,
            outflow_blocked_accounts,
            holds_untracked: self.held.untracked,
        })
    }

    /// Open at the end of each bucket: open at the start, plus every recording, minus every
    /// resolution, up to that bucket. A resolution always follows its recording (see `add`),
    /// so the running count never goes below zero unless the arithmetic above is wrong, and
    /// then the report is refused rather than drawn.
    fn open_series(&self) -> Result<Vec<u64>, ReportError> {
        let mut open = self.figures.open_at_start;
        let mut series = Vec::with_capacity(self.buckets.count());
        for (recorded, &resolved) in self.recorded_per_bucket.iter().zip(&self.resolved_per_bucket)
        {
            for &count in recorded {
                open =
                    open.checked_add(count).ok_or(ReportError::Overflow { what: "open series" })?;
            }
            open = open.checked_sub(resolved).ok_or(ReportError::Inconsistent {
                what: "more discrepancies resolved than were open",
            })?;
            series.push(open);
        }
        Ok(series)
    }
}

fn bump(counter: &mut u64, what: &'static str) -> Result<(), ReportError> {
    *counter = counter.checked_add(1).ok_or(ReportError::Overflow { what })?;
    Ok(())
}

fn count(length: usize, what: &'static str) -> Result<u64, ReportError> {
    u64::try_from(length).map_err(|_| ReportError::Overflow { what })
}

fn bounded<K: Ord, T>(keep: Keep<K, T>) -> Bounded<T> {
    let (rows, omitted) = keep.into_sorted();
    Bounded { rows, omitted }
}

/// The open discrepancies holding one account: how many, and the oldest few.
#[derive(Debug, Default)]
struct Holders {
    /// (recorded, id), ascending, at most `HOLDERS_LISTED_MAX`.
    oldest: Vec<(u64, u128)>,
    total: u64,
}

impl Holders {
    fn add(&mut self, holder: (u64, u128)) -> Result<(), ReportError> {
        bump(&mut self.total, "holders of an account")?;
        let at = self.oldest.partition_point(|&kept| kept < holder);
        if at < HOLDERS_LISTED_MAX {
            self.oldest.insert(at, holder);
            self.oldest.truncate(HOLDERS_LISTED_MAX);
        }
        Ok(())
    }
}

/// The accounts held by open discrepancies, the [`HELD_ACCOUNTS_MAX`] smallest ids whatever
/// the order they arrive in; holds on the others are counted.
#[derive(Debug, Default)]
struct HeldAccounts {
    accounts: BTreeMap<u128, Holders>,
    untracked: u64,
}

impl HeldAccounts {
    fn add(&mut self, account: u128, holder: (u64, u128)) -> Result<(), ReportError> {
        if let Some(holders) = self.accounts.get_mut(&account) {
            return holders.add(holder);
        }
        if self.accounts.len() >= HELD_ACCOUNTS_MAX {
            let largest = self.accounts.last_key_value().map(|(&id, _)| id);
            if largest.is_none_or(|largest| account > largest) {
                return bump(&mut self.untracked, "untracked holds");
            }
            if let Some((_, evicted)) = self.accounts.pop_last() {
                self.untracked = self
                    .untracked
                    .checked_add(evicted.total)
                    .ok_or(ReportError::Overflow { what: "untracked holds" })?;
            }
        }
        let mut holders = Holders::default();
        holders.add(holder)?;
        self.accounts.insert(account, holders);
        Ok(())
    }
}

/// Reconciler names seen, the [`RECONCILERS_LISTED_MAX`] first in sort order.
#[derive(Debug, Default)]
struct Names {
    names: BTreeSet<String>,
    truncated: bool,
}

impl Names {
    fn add(&mut self, name: &str) {
        if name.is_empty() || self.names.contains(name) {
            return;
        }
        if self.names.len() >= RECONCILERS_LISTED_MAX {
            self.truncated = true;
            match self.names.last() {
                Some(largest) if name < largest.as_str() => {
                    self.names.pop_last();
                }
                _ => return,
            }
        }
        self.names.insert(name.to_owned());
    }
}
