//! Tianping's bank simulator: the banks a demo, the tests and the deterministic simulation
//! run against (issue 12, item 2). One [`simulator::BankSimulator`] hosts several banks, each
//! with its own id, protocol (ISO 20022 or signed direct-connect), keys, accounts with integer
//! balances per currency, and behaviour.
//!
//! Layers, each usable alone:
//! - [`bank`] — the pure, deterministic core: one bank's accounts, instruction records
//!   (deduplicated by end-to-end id like a real bank), journal, notification feed and
//!   statements. Time and the seed are passed in; nothing reads a clock or the OS's
//!   randomness.
//! - [`faults`] — what a bank does wrong, as data (TOML/JSON): per request (a header or an
//!   admin directive keyed by end-to-end id) or by probability; both what a correct worker
//!   survives and the booking faults reconciliation must catch (told and booked disagree).
//! - [`protocol`] and [`simulator`] — the request handler both the HTTP server and the
//!   simulation use: `(bank, request, now) → answer, and how to deliver it`, speaking exactly
//!   the bank API of [`tianping_bank_adapters::bank_api`]. [`admin`] is the JSON admin
//!   interface beside it, and [`admin::client`] a program's way to call it. [`hosted`] holds
//!   what the simulator and its handlers share (a hosted bank, an answer and its delivery).
//! - [`config`] — the TOML file (`bank-adapters/sim/bank-sim.example.toml`) and throwaway
//!   dev keys.
//! - `server` — the axum HTTP server and [`server::serve`], the entry point of
//!   `tianping bank-sim` (real network only: not compiled under `--cfg madsim`).
//!
//! This crate depends on the bank adapters only; never on the ledger node, openraft or
//! RocksDB.

pub mod admin;
pub mod bank;
pub mod config;
pub mod faults;
pub mod hosted;
pub mod protocol;
#[cfg(not(madsim))]
pub mod server;
pub mod simulator;
