//! Tianping's reconciliation (issue 13): what differs between the ledger and a bank.
//!
//! The core is pure and deterministic — no clock (every instant is passed in), no I/O, no
//! randomness, no hash-map iteration feeding a result. The service that reads the ledger and
//! the banks, reports discrepancies through the cluster and exports metrics is [`service`],
//! built on the core and kept out of it: its I/O is behind two traits, so the simulation runs
//! it unchanged.
//!
//! Two checks, one vocabulary (`tianping_ledger::discrepancy`):
//! - **Transaction matching (对账)** — [`matcher::Matcher`], a streaming windowed join of the
//!   ledger's movements that touch a bank with the bank's statement entries. Unmatched items
//!   wait only until the other stream's watermark passes them by the configured lateness
//!   ([`LATENESS_NS_DEFAULT`]); memory is bounded by the items inside that window, never by a
//!   day ([`WINDOW_ITEMS_MAX_DEFAULT`]).
//! - **Balance check (账证核对)** — [`balance::check_balance`]: one bank account's reported
//!   balance at one cut-off against the ledger's mirror, with payouts in flight and credits
//!   not yet booked accounted for; exact, checked integer arithmetic.
//!
//! Every difference is a [`finding::Finding`] whose discrepancy id ([`ids`]) is a pure
//! function of what was found, so two reconcilers that find the same difference report the
//! same discrepancy and the ledger keeps one record.
//!
//! Module map:
//! - [`keys`] — what a movement is matched by: the end-to-end id for payouts and their
//!   returns, the id its booking has in the ledger (`collection_id` of the bank reference) for
//!   credits.
//! - [`movement`] — the two streams' items: [`movement::LedgerMovement`] (payouts, booked
//!   collections, booked returns) and [`movement::BankMovement`] (a statement entry with its
//!   booking instant).
//! - [`evidence`] — each side's evidence as short text.
//! - [`counts`] — what a matcher saw and concluded, as counters.
//! - [`judge`] — what the items of one key amount to once its window closes (matched, in
//!   flight, or findings), and the answer to a [`judge::PayoutQuestion`].
//! - [`matcher`] — the windowed join: watermarks, the window, closing, counts.
//! - [`balance`] — the balance check.
//! - [`finding`] — [`finding::Finding`] and its conversion to a `NewDiscrepancy`.
//! - [`ids`] — discrepancy ids from SHA-256.
//! - [`report`] — what an operator reads: the terminal table, JSON and the HTML report.
//! - [`service`] — the reconciler service: configuration, the two streams, the period, the
//!   balance check's cut-off, reports and metrics; `run_once` and `serve`.

pub mod balance;
pub mod counts;
pub mod evidence;
pub mod finding;
pub mod ids;
pub mod judge;
pub mod keys;
pub mod matcher;
pub mod movement;
pub mod report;
pub mod service;

/// Nanoseconds in a minute, for the bounds below.
const NS_PER_MINUTE: u64 = 60_000_000_000;

/// How long an unmatched item waits for its partner on the other stream, and how long a
/// matched key still catches a duplicate at the bank: 65 minutes.
///
/// Why this long: a payout's ledger time is when its outcome was recorded, and the bank booked
/// it before that. Normally the gap is seconds (the worker's status queries every 5 s, backoff
/// capped at 30 s, a ledger call capped at 30 s), but a worker that dies after the bank
/// executed leaves the payout leased until the lease runs out — at most
/// `PAYOUT_LEASE_MS_MAX` (one hour) — before the next worker queries the bank and records
/// `succeeded`. A shorter window would call that payout missing at the bank. Five minutes on
/// top cover the next worker's queries and the statement's own delivery. Collections are
/// booked within seconds of the bank's notification, well inside.
///
/// Why not longer: the window is the matcher's memory. At a million movements a day per side
/// it holds about 45 000 items per side; a day's window would hold the whole day.
pub const LATENESS_NS_DEFAULT: u64 =
    tianping_ledger::PAYOUT_LEASE_MS_MAX * 1_000_000 + 5 * NS_PER_MINUTE;

/// The longest lateness a matcher accepts: one day. A longer window would hold more than a
/// day of movements, which is exactly the memory a streaming matcher exists not to need.
pub const LATENESS_NS_MAX: u64 = 24 * 60 * NS_PER_MINUTE;

/// The most items (ledger movements plus bank entries) a matcher holds in its window by
/// default: about ten times a 65-minute window at a million movements a day per side
/// (≈ 90 000 items), room for a bank stream that lags an hour behind the ledger's. Past it
/// the matcher refuses the next item (`MatchError::WindowFull`) rather than grow without
/// bound or close items early and report differences that are not there.
pub const WINDOW_ITEMS_MAX_DEFAULT: usize = 1_000_000;

/// How many days a bank's value date may differ from the ledger's business date of the same
/// movement and still agree: a payment after the bank's daily cut-off takes value the next
/// business day, and the ledger's day boundary is its own configured time zone's.
pub const VALUE_DATE_TOLERANCE_DAYS: u64 = 1;

const _: () = assert!(LATENESS_NS_DEFAULT <= LATENESS_NS_MAX);
const _: () = assert!(
    LATENESS_NS_DEFAULT > tianping_ledger::PAYOUT_LEASE_MS_MAX * 1_000_000,
    "a payout re-claimed after a dead worker's lease must still match"
);
