//! Tianping's Raft storage: where the replicated log and the ledger state live on a node.
//!
//! - `type_config`: the one declaration of the Raft types (node ids and infos, entries that
//!   carry a ledger `Batch`, per-event responses).
//! - `rocks` (not in the simulation): the production store, one RocksDB per node with column
//!   families for the log, the Raft metadata, the state machine's bookkeeping and every ledger
//!   table. Log appends are fsynced before openraft hears they are flushed; one log entry's
//!   ledger writes, last-applied log id and membership go in one atomic `WriteBatch` that
//!   skips the write-ahead log and becomes durable when RocksDB flushes its memtables
//!   (atomically across column families; always before the log is purged).
//! - `memory`: the same behaviour on a simulated disk that loses unsynced writes and
//!   unflushed applied entries on a crash, for the madsim simulation (no threads, no clock,
//!   no file system).
//! - `feed`: the change feed's source: every applied entry's commands (from the log) with
//!   their answers (kept node-locally beside the state, trimmed with the log), by position.
//! - `snapshot`: the chunked snapshot format both stores build, send and install.
//! - `identity`: whom a store belongs to (node id, incarnation, the cluster it was admitted
//!   to), kept beside the Raft state by both stores.
//! - `format`: the version byte in front of every stored log entry and snapshot chunk, checked
//!   before decoding (an unknown version is refused by name).
//! - `planted` (feature `planted-bugs` only, off by default): known bugs the simulation plants
//!   on purpose to prove its checkers catch them (`TIANPING_PLANT` names one).
//! - `crash`: named points in the write paths where crash tests stop the world.
//! - `faults`: a hook that makes the RocksDB store's reads or applied writes fail, for tests
//!   of the fail-stop rule (a storage error stops the state machine, never reads as absent).
//! - `runtime` (only in the simulation): the project's own deterministic openraft
//!   `AsyncRuntime` on madsim, which `TypeConfig` names under `--cfg madsim`.
//!
//! Both stores pass openraft's storage conformance suite (`openraft::testing::log::Suite`).
//!
//! Errors: storage I/O failures surface as `std::io::Error`, which openraft 0.10 turns into
//! its `StorageError` (its storage traits take `io::Error` since 0.10). A broken internal
//! invariant is a programmer error and asserts.

mod apply;
pub mod crash;
pub mod faults;
pub mod feed;
pub mod format;
pub mod identity;
pub mod memory;
#[cfg(feature = "planted-bugs")]
pub mod planted;
#[cfg(not(madsim))]
pub mod rocks;
#[cfg(madsim)]
pub mod runtime;
pub mod snapshot;
pub mod type_config;

pub use crash::{CrashHook, CrashPoint};
pub use faults::{FaultHook, StorageAccess};
pub use feed::{FeedError, FeedEvent, FeedPage, FeedPosition, FeedSource};
pub use identity::{IdentityStorage, StoreIdentity, StoreWithIdentity};
pub use memory::{
    MemoryDisk, MemoryFeed, MemoryIdentity, MemoryLogReader, MemoryLogStore, MemorySnapshotBuilder,
    MemoryStateMachine,
};
#[cfg(not(madsim))]
pub use rocks::{
    RocksConfig, RocksFeed, RocksLogReader, RocksLogStore, RocksSnapshotBuilder, RocksStateMachine,
    RocksStore,
};
pub use snapshot::{
    RaftSnapshot, SNAPSHOT_CHUNK_BYTES_MAX, SnapshotData, SnapshotReader, SnapshotWriter,
};
pub use type_config::{
    CommittedLeaderId, Entry, EntryPayload, LedgerResponse, LogId, Membership, NodeId, NodeInfo,
    SnapshotMeta, StoredMembership, TypeConfig, Vote,
};
