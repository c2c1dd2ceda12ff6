//! Tianping's client history and the checkers that judge it (issue 10): what every client
//! sent, what it was answered and what it read, held against the replicas' final states, the
//! committed log and samples taken while the run went on.
//!
//! Why a crate of its own: the verdict must not depend on how the cluster was run. The madsim
//! simulation (`tianping-simulation`) and drills on real processes (the coming `chaos/`) each
//! drive clients and faults their own way, then hand the same plain data to the same
//! checkers. So this crate depends on `tianping-ledger` alone — never on madsim, the node, the
//! Raft store, openraft, tokio or tonic — and its inputs are plain: replicas as (node, applied
//! index, digest, ledger), the committed log as (index, batch) entries, times as a `Duration`
//! since the run began, leader samples as (time, node, term). The driver converts what it
//! observed into these.
//!
//! Module map:
//! - `history`: the client history — `History` (ids sent, the answer per id as `Ack`,
//!   answered batches in order as `AckedBatch`, read-backs as `ReadBack`, balance reads as
//!   `AccountRead` with their order numbers, `Balances`).
//! - `cluster`: what a drill reads from the nodes — `Replica`, `LogEntry`.
//! - `replay`: the committed log of a replica whose log is whole, replayed through a fresh
//!   ledger state machine: every transfer id's appearances, every account's balances after
//!   each entry, the digest, what the ledger's event observer saw.
//! - `checker`: one module per property — `ledger_invariants`, `acknowledged`, `digests`,
//!   `reads`, `committed_log`, `account_controls`, `balance_reads`, `event_time`, `liveness`, `leaders`,
//!   `membership`, `state_sampler`, `bank`, `reconciliation` — and `check_all` over a run's
//!   `Evidence`.
//!
//! Every checker returns its violations as sentences naming ids and nodes (an empty list: the
//! property holds); the unit tests of each feed it a violating history and expect it to fail.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod replay;

pub use cluster::{LogEntry, Replica};
pub use history::{
    AccountRead, Ack, AckedBatch, Balances, ControlOutcome, ControlSent, History, ReadBack,
    TimedBatch,
};

#[cfg(test)]
mod testing;
