//! The reconciler service (issue 13 items 1 and 2): the pure core of this crate run against
//! the cluster and the banks, one per data center, every balance period.
//!
//! Per configured bank account, each period ([`BankReconciler::period`]):
//! - the ledger's movements of the bank are read on from where the last period stopped
//!   (final payouts, the settlement and in-transit accounts' transfers: [`ledger_stream`]) and
//!   the open statement days are fetched ([`bank_stream`]); both are fed to the streaming
//!   matcher (对账), whose findings are differences of single movements;
//! - the balance check (账证核对) compares the bank's closing balance with the ledger's mirror
//!   read at a cut-off placed within the ledger stream ([`mirror`]), payouts in flight and
//!   credits not yet booked accounted for;
//! - every finding is recorded in the ledger as a discrepancy, which outflow-blocks the
//!   accounts it names in the same event ([`report`]), with a `warn` log line and metrics
//!   ([`metrics`]).
//!
//! **Safe to run twice at once.** Nothing here is a lock or a lease: two reconcilers (two data
//! centers, or one restarted beside its old self) read the same ledger and the same bank,
//! find the same differences, derive the same discrepancy ids (`ids`), and the ledger records
//! the second report as `exists`. Their only state is in memory and rebuilt from the ledger
//! and the bank at start.
//!
//! **Never a finding from a partial read.** A period whose ledger or bank read fails stops
//! there (logged, counted, retried next period); the matcher closes a key only once both
//! streams are complete past it; a balance check whose cut-off cannot be placed is skipped.
//!
//! **What the simulation shares.** The I/O is two small traits, [`LedgerSide`] (over the SDK)
//! and [`BankSide`] (over any `BankGateway`), and the clock is `bank_api::Clock`; the
//! simulation runs [`serve_with`] over its own gateways and madsim's clock. Only [`serve`] and
//! [`run_once`], which build HTTP gateways, are left out of `--cfg madsim`, as the worker's
//! `connect` is.
//!
//! Module map: [`config`] (TOML), [`ledger_side`] and [`bank_side`] (the I/O traits),
//! [`ledger_stream`] and [`bank_stream`] (the two streams), [`mirror`] (the balance check's
//! cut-off), [`reconciler`] (one bank's period), [`report`] (recording discrepancies),
//! [`metrics`], [`summary`] (what a pass found), and the entry points in `runner`.

pub mod bank_side;
pub mod bank_stream;
pub mod config;
pub mod ledger_side;
pub mod ledger_stream;
pub mod metrics;
pub mod mirror;
pub mod reconciler;
pub mod report;
mod runner;
pub mod summary;

#[cfg(test)]
mod tests;

pub use bank_side::{BankSide, GatewayBank};
pub use config::{BankConfig, Config, ConfigError};
pub use ledger_side::{LedgerSide, PayoutPosition};
pub use metrics::ReconcileMetrics;
pub use reconciler::{BankReconciler, PeriodError};
pub use runner::{ServiceError, client, run_once_with, serve_with};
#[cfg(not(madsim))]
pub use runner::{run_once, serve};
pub use summary::{BalanceOutcome, BalanceSkip, BankSummary, Summary};
pub use tianping_bank_adapters::bank_api::{Clock, SystemClock};
