//! Named points inside the stores' write paths where a test can stop the world and take the
//! disk as a crash would leave it: the memory store drops what was not synced, a RocksDB test
//! copies the directory. Both stores stop at the same points in the same order, so one crash
//! test reads the same against either.

use std::sync::Arc;

/// A point in a store's write path, in the order the writes happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// Log entries are written (readable) but not yet synced; their flush is not yet reported.
    AppendWritten,
    /// A log entry's results are computed but its writes are not yet stored.
    ApplyComputed,
    /// A received snapshot is stored durably and its installation is recorded, but the state
    /// machine still holds the old state (RocksDB: tables not yet cleared).
    SnapshotInstallStarted,
    /// Part of a snapshot's records are in the tables (RocksDB writes them chunk by chunk; the
    /// memory store reaches this once, with the whole state written but not synced).
    SnapshotInstallChunkWritten,
    /// A purge made the applied state durable, but the purged entries are still in the log.
    PurgeStateFlushed,
}

/// Called at every `CrashPoint`. It runs on the store's own task with no lock held, so it may
/// crash the memory disk or copy a RocksDB directory before returning.
pub type CrashHook = Arc<dyn Fn(CrashPoint) + Send + Sync>;
