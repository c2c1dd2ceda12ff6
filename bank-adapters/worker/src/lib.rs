//! Tianping's bank worker (issue 12): the process between the ledger's payout outbox and the
//! banks.

pub mod collections;
pub mod config;
pub mod decision;
pub mod low_balance;
pub mod metrics;
