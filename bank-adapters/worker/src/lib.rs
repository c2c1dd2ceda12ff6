//! Tianping's bank worker (issue 12): the process between the ledger's payout outbox and the
//! banks. It claims payouts through the SDK and sends them through a
//! [`tianping_bank_adapters::gateway::BankGateway`], books bank credits as collections, and
//! watches internal accounts for low balances; direct-connect banks' pushed callbacks are
//! received and booked through the same paths; the binary serves its metrics.
//!
//! Architecture Invariant: every rule about money is in a pure module with no I/O and no
//! clock ([`decision`], [`collections`], [`low_balance`]); the loops only perform the steps
//! they are told and feed the answers back.
//!
//! Module map:
//! - [`decision`] — the decision core for one payout claim.
//! - [`collections`] — bank entries to collections, and booking results.
//! - [`low_balance`] — available balance and threshold crossings.
//! - [`payout_worker`] — the claim/drive loop of one bank, the instruction it sends.
//! - `collections_poller` — the loop over one bank's notification feed of our custody
//!   account, and its cursor.
//! - `booking` — bank entries booked into the ledger: one path for the poller's pages and the
//!   callback desk's pushed entries.
//! - [`callbacks`] — pushed bank callbacks: the desk that verifies each and hands it to the
//!   claim that holds its payout or to `booking`, and the answer the bank gets;
//!   `callback_server` — its HTTP listener (real network only).
//! - `ledger` — the ledger calls the loops make, as traits the SDK's client implements.
//! - [`runner`] — [`run`]: all loops until shutdown, plus the census and the watch.
//! - `planted` — known bugs the simulation plants (feature `planted-bugs` only).
//! - [`config`], [`metrics`] — the TOML configuration and the Prometheus metrics.
//!
//! Where each bank is (`[banks.connection]`) and the HTTP gateway built from it are
//! `tianping_bank_adapters::connection`'s, shared with the reconciler.

mod booking;
#[cfg(not(madsim))]
pub mod callback_server;
pub mod callbacks;
mod clock;
pub mod collections;
mod collections_poller;
pub mod config;
pub mod decision;
mod ledger;
pub mod low_balance;
pub mod metrics;
pub mod payout_worker;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod runner;
// What the tests share, against the simulator's HTTP server (not compiled under madsim).
#[cfg(all(test, not(madsim)))]
mod testing;

pub use collections_poller::{NOTIFICATIONS_PAGE_MAX, NOTIFICATIONS_POLL_INTERVAL};
pub use config::WorkerConfig;
pub use metrics::WorkerMetrics;
pub use runner::{RunError, run};
