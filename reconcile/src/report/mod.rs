//! Reconciliation reports an operator can read (issue 13, item 3): what the reconcilers found
//! in a period, what is still open, which accounts are outflow-blocked because of it, and who
//! resolved what and why — as a terminal table, as JSON, and as one self-contained HTML page
//! with plots.
//!
//! Pure renderers: no clock, no I/O. The caller (the `tianping reconcile report` command)
//! fetches the discrepancies and the held accounts through the SDK, passes "now" in the
//! [`ReportHeader`], and prints or writes what comes back.
//!
//! Two steps, so a day with a flood of discrepancies never sits in memory at once:
//! 1. [`ReportBuilder`] takes the discrepancies one at a time, in any order (the SDK's pages as
//!    they arrive), and keeps only counters, a fixed number of time buckets and at most
//!    [`ROWS_MAX`] rows per table; [`ReportBuilder::held_account_ids`] then names the accounts
//!    to look up, and [`ReportBuilder::finish`] takes their current status.
//! 2. [`render_table`], [`report_json`] and [`render_html`] turn the bounded [`Report`] into
//!    text; each table shows at most [`ROWS_MAX`] rows and says how many more there are.
//!
//! Text that came from the ledger (references, evidence, actors, reasons) is
//! attacker-influenced — a bank statement's remittance text ends up in the evidence — so every
//! renderer passes it through [`escape`]: control and bidirectional-override characters are
//! shown as `\u{…}` (a terminal never receives an escape sequence), and HTML gets entities for
//! markup characters (a `<script>` in evidence is text, never a tag).
//!
//! Module map:
//! - [`period`] — the period, and the minute / hour / day buckets of the plots.
//! - [`keep`] — the bounded "first N by key" selection every table uses.
//! - [`collect`] — [`ReportBuilder`] and the [`Report`] it produces.
//! - [`escape`] — ledger text made safe for a terminal and for HTML.
//! - [`amount`] — amounts in minor units or as decimals, and the signed difference.
//! - [`table`] — the terminal table and its summary.
//! - [`json`] — the same data as JSON, for `--json`.
//! - [`svg`] — the two plots, as inline SVG.
//! - [`html`] — the self-contained HTML page.

pub mod amount;
pub mod collect;
pub mod escape;
pub mod html;
pub mod json;
pub mod keep;
pub mod period;
pub mod svg;
pub mod table;

#[cfg(test)]
mod tests;

pub use amount::AmountStyle;
pub use collect::{AccountState, Bounded, HeldAccount, Report, ReportBuilder, ReportHeader};
pub use html::render_html;
pub use json::report_json;
pub use period::{BucketUnit, Buckets, Period};
pub use table::{TableOptions, Width, render_table};

/// Most rows any one table shows (discrepancies listed, open, resolved; held accounts). Past
/// it a table ends with "… and M more": a flood of a million discrepancies still gives a page
/// a browser opens and a terminal an operator can scroll, and the counters above the tables
/// stay exact.
pub const ROWS_MAX: usize = 1_000;

/// Most time buckets a plot has: a leap year of days. The bucket unit is the finest of minute,
/// hour and day that covers the period in at most this many buckets (six hours and six minutes
/// of minutes, fifteen days and six hours of hours); a longer period is refused
/// ([`ReportError::PeriodTooLong`]) rather than drawn as bars too thin to read.
pub const BUCKETS_MAX: u64 = 366;

/// Most distinct accounts the report follows as held by open discrepancies: the ones with the
/// smallest ids are kept whatever the input order, and holds on the others are counted
/// ([`Report::holds_untracked`]). The bound keeps the builder's memory fixed; it is far above
/// the [`ROWS_MAX`] rows the blocked-accounts table shows.
pub const HELD_ACCOUNTS_MAX: usize = 100_000;

/// Most open discrepancies listed beside one held account (the oldest first); the total is
/// always shown. Equal to the most accounts one discrepancy names, for symmetry, not need.
pub const HOLDERS_LISTED_MAX: usize = tianping_ledger::DISCREPANCY_ACCOUNTS_MAX;

/// Most reconciler names the header lists (sorted); more are counted.
pub const RECONCILERS_LISTED_MAX: usize = 32;

const _: () = assert!(ROWS_MAX >= 1);
const _: () = assert!(HELD_ACCOUNTS_MAX >= ROWS_MAX, "the table must be able to fill");
const _: () = assert!(BUCKETS_MAX >= 24, "a day must fit in hours");

/// Why a report cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The period ends at or before it starts.
    #[error("the report period must end after it starts (since {since} ns, until {until} ns)")]
    EmptyPeriod {
        /// Start (ns since the Unix epoch, included).
        since: u64,
        /// End (ns since the Unix epoch, excluded).
        until: u64,
    },
    /// Even day buckets would be more than [`BUCKETS_MAX`].
    #[error(
        "the report period from {since} ns to {until} ns is longer than {BUCKETS_MAX} days; ask for a shorter one"
    )]
    PeriodTooLong {
        /// Start (ns since the Unix epoch, included).
        since: u64,
        /// End (ns since the Unix epoch, excluded).
        until: u64,
    },
    /// A counter would overflow: only a broken input (more than `u64::MAX` discrepancies) or a
    /// bug gets here, and the report refuses rather than show a wrong figure.
    #[error("report counter overflow: {what}")]
    Overflow {
        /// Which counter.
        what: &'static str,
    },
    /// The report's own arithmetic disagrees with itself (a bucket missing for an instant of
    /// the period, more resolutions than open discrepancies): a bug, refused rather than drawn.
    #[error("report inconsistent: {what}")]
    Inconsistent {
        /// What disagreed.
        what: &'static str,
    },
}
