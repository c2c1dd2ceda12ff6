//! Tianping's ledger: a pure, deterministic double-entry state machine.
//!
//! Every money movement the cluster accepts is a [`Command`] in a [`Batch`] that
//! [`StateMachine::apply`] applies to a [`LedgerStore`], identically on every replica. The
//! crate performs no I/O, reads no clock and draws no random numbers: time comes from the
//! batch (the Raft entry), state from the store, and the same log in gives the same state
//! and the same results out, byte for byte ([`state_digest`]).
//!
//! Bad input is an *operating error* and gets a [`ResultCode`]; a broken internal invariant
//! is a *programmer error* and stops the process (`assert!`, on in release) before wrong
//! money can be written.
//!
//! ```
//! use tianping_ledger::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let machine = StateMachine::new(LedgerConfig::default())?; // daily limits reset at 00:00 +08:00
//! let mut store = MemoryStore::new();
//! let batch = Batch {
//!     timestamp: 1_764_000_000_000_000_000, // from the Raft entry, in ns
//!     commands: vec![
//!         Command::CreateAccount(NewAccount { id: 1, ledger: 156, code: 1, ..Default::default() }),
//!         Command::CreateAccount(NewAccount { id: 2, ledger: 156, code: 1, ..Default::default() }),
//!         Command::CreateTransfer(NewTransfer {
//!             id: 10, debit_account_id: 1, credit_account_id: 2, amount: 12_345, // minor units
//!             ledger: 156, code: 1, ..Default::default()
//!         }),
//!     ],
//! };
//! let (results, writes) = machine.apply(&store, &batch)?; // one EventResult per command
//! store.commit(&writes); // atomically
//! assert!(results.iter().all(|r| r.code == ResultCode::Ok));
//! assert_eq!(store.account(2).map(|a| a.credits_posted), Some(12_345));
//! # Ok(())
//! # }
//! ```

pub mod account;
pub mod audit;
pub mod codec;
pub mod collection;
pub mod command;
pub mod digest;
pub mod discrepancy;
pub mod feed;
pub mod flags;
pub mod format;
pub mod invariants;
pub mod memory_store;
mod overlay;
pub mod payout;
pub mod query;
pub mod refusal;
pub mod result;
pub mod state_machine;
pub mod store;
pub mod transfer;

pub use account::{Account, AccountBalance, AccountStatus, Limits, NewAccount, OutflowUsage};
pub use audit::{
    AccountControls, AccountLimitsChange, AccountStatusChange, AuditAction, AuditRecord,
    ControlChange, ControlTarget, SetAccountLimits, SetAccountStatus,
};
pub use collection::{
    AssignSuspense, Collection, CollectionKey, NewCollection, SuspenseAssignment, SuspenseKey,
    SuspenseReason,
};
pub use command::{Batch, BatchError, Command, Detail, EventResult};
pub use digest::{StateDigest, state_digest};
pub use discrepancy::{
    DISCREPANCY_ACCOUNTS_MAX, Discrepancy, DiscrepancyBlock, DiscrepancyClass, DiscrepancyState,
    EVIDENCE_BYTES_MAX, NewDiscrepancy, ResolveDiscrepancy,
};
pub use flags::{AccountFlags, TransferFlags};
pub use memory_store::MemoryStore;
pub use payout::{
    ClaimPayouts, ClaimedBatch, ClaimedPayout, NewPayout, Payout, PayoutBatchClaim, PayoutClaim,
    PayoutHistoryRecord, PayoutOutcome, PayoutState, RecordPayoutOutcome,
};
pub use refusal::Refusal;
pub use result::ResultCode;
pub use state_machine::{ConfigError, LedgerConfig, StateMachine};
pub use store::{HistoryFilter, LedgerStore, LedgerStoreMut, Meta, Table, WriteSet};
pub use transfer::{NewTransfer, PendingStatus, PendingTransfer, Transfer};

/// Most events in one batch. TigerBeetle's figure: one 1 MiB message of 128-byte events,
/// less the header. Larger client requests are split by the node before they reach the log.
pub const BATCH_EVENTS_MAX: usize = 8_190;

/// Most pending-transfer expiries processed at the start of one batch; the rest wait for the
/// next batches so a mass expiry cannot stall the log.
pub const EXPIRIES_PER_BATCH_MAX: usize = 8_190;

/// Most payouts one claim hands to a worker.
pub const PAYOUT_CLAIM_MAX: u32 = 256;

/// Shortest payout lease: shorter than a bank round trip is no lease at all.
pub const PAYOUT_LEASE_MS_MIN: u64 = 1_000;

/// Longest payout lease: a crashed worker delays its payouts at most this long.
pub const PAYOUT_LEASE_MS_MAX: u64 = 3_600_000;

/// Longest reason, actor, beneficiary or bank reference, in bytes.
pub const TEXT_BYTES_MAX: usize = 256;

/// Most records one query returns; larger results page.
pub const QUERY_LIMIT_MAX: usize = 8_190;

/// Most audit records one event files: one per account it changes. Only a discrepancy's
/// recording or resolution changes more than one (at most `DISCREPANCY_ACCOUNTS_MAX`); audit
/// pages never split an event's records, so a page runs past its limit by less than this.
pub const AUDIT_RECORDS_PER_EVENT_MAX: usize = discrepancy::DISCREPANCY_ACCOUNTS_MAX;

const _: () = assert!(PAYOUT_LEASE_MS_MIN <= PAYOUT_LEASE_MS_MAX);
const _: () = assert!(AUDIT_RECORDS_PER_EVENT_MAX >= 1);
// Evidence is a line or two of a statement or a payout record, longer than the short texts.
const _: () = assert!(discrepancy::EVIDENCE_BYTES_MAX >= TEXT_BYTES_MAX);
const _: () = assert!(PAYOUT_CLAIM_MAX as usize <= BATCH_EVENTS_MAX);
// Event and expiry timestamps of one batch are consecutive nanoseconds: a batch never needs
// more than a millisecond of timestamp space, so a leader's clock stays the source of time.
const _: () = assert!(BATCH_EVENTS_MAX + EXPIRIES_PER_BATCH_MAX < 1_000_000);
