//! The production store: one RocksDB per node holding the Raft log, the Raft metadata and the
//! ledger state machine, plus a directory of snapshot files.
//!
//! Layout of `<root>`:
//! - `db/`: RocksDB with column families `log` (entries by big-endian index), `raft` (vote,
//!   committed log id, last purged log id), `machine` (last applied log id, membership,
//!   current snapshot, snapshot-install marker) and one per ledger `Table`, keyed by the
//!   ledger's canonical key bytes (`tianping_ledger::codec`).
//! - `snapshots/`: `snapshot-<sequence>.snap` files in the chunked format of `snapshot`.
//!
//! Durability: the log and the state machine reach the disk by different roads.
//! - The log (`log`, `raft`) goes through RocksDB's write-ahead log (WAL). The log store
//!   fsyncs the WAL before it reports appended entries flushed, and on every vote, truncation
//!   and purge.
//! - Applying an entry is one atomic `WriteBatch` (ledger writes, last-applied log id,
//!   membership) written *without* the WAL: it lives in the memtables until they are flushed
//!   to table files. The database uses `atomic_flush`, so every flush (whenever a memtable
//!   fills, or when asked) persists all column families up to one sequence number: the
//!   state machine on disk is always the state after some prefix of the applied entries,
//!   with the last-applied log id of that prefix. A crash loses the applied entries since the
//!   last flush; openraft re-applies them from the durable log at restart.
//! - That is sound only while the log still holds every entry whose effects are not yet in
//!   table files, so anything that needs the applied state durable flushes it first
//!   (`Shared::flush_state_machine`): purging the log (the state built from the purged
//!   entries must not be lost with them), building a snapshot (a checkpoint of the flushed
//!   state; the snapshot never gets ahead of the durable state), installing a snapshot (the
//!   state flushed before the installation's own WAL writes begin) and closing the store.
//!
//! The rest of the state machine's bookkeeping (the current snapshot, the install marker)
//! and a snapshot's installation are written through the WAL and synced, as before.

mod feed;
mod ledger;
mod log_store;
mod state_machine;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    DBRecoveryMode, FlushOptions, Options, WriteOptions,
};
use tianping_ledger::{StateMachine, Table};

pub use feed::RocksFeed;
pub use ledger::RocksLedger;
pub use log_store::{LOG_READ_BYTES_MAX, RocksLogReader, RocksLogStore};
pub use state_machine::{RocksSnapshotBuilder, RocksStateMachine};

use crate::crash::{CrashHook, CrashPoint};
use crate::faults::{FaultHook, StorageAccess};

/// Column family of log entries.
const LOG_CF: &str = "log";
/// Column family of Raft metadata: vote, committed, last purged.
const RAFT_CF: &str = "raft";
/// Column family of the state machine's bookkeeping.
const MACHINE_CF: &str = "machine";
/// Column family of the change feed's answers: one `LedgerResponse` per applied entry, by
/// big-endian log index (`feed`). Node-local: in no snapshot and no digest, written with the
/// entry's apply, trimmed with the log, cleared by a snapshot installation.
const FEED_CF: &str = "feed";

/// Level-0 files (one per flush) that start a compaction (RocksDB's default is 4; writes slow
/// down at 20).
const LEVEL_ZERO_FILES_BEFORE_COMPACTION: i32 = 8;

/// Column families read by key while applying (the rest are read by range or not at all).
const POINT_READ_COLUMN_FAMILIES: [&str; 7] = [
    "accounts",
    "transfers",
    "pending_transfers",
    "payouts",
    "collections",
    "refusals",
    "discrepancies",
];

/// The column family holding a ledger table.
pub(crate) fn table_cf(table: Table) -> &'static str {
    match table {
        Table::Meta => "ledger_meta",
        Table::Accounts => "accounts",
        Table::Transfers => "transfers",
        Table::PendingTransfers => "pending_transfers",
        Table::Expiries => "expiries",
        Table::Payouts => "payouts",
        Table::PayoutIndex => "payout_index",
        Table::Collections => "collections",
        Table::AccountTransfers => "account_transfers",
        Table::AccountBalances => "account_balances",
        Table::Audit => "audit",
        Table::Refusals => "refusals",
        Table::PayoutHistory => "payout_history",
        Table::SuspenseIndex => "suspense_index",
        Table::SuspenseAssignments => "suspense_assignments",
        Table::Discrepancies => "discrepancies",
        Table::DiscrepancyIndex => "discrepancy_index",
        Table::DiscrepancyBlocks => "discrepancy_blocks",
        Table::AccountControls => "account_controls",
        Table::ControlChanges => "control_changes",
        Table::ClaimedBatches => "claimed_batches",
    }
}

/// Tuning and test seams of a RocksDB store.
#[derive(Clone)]
pub struct RocksConfig {
    /// Most accounts kept in the in-memory account cache. The cache is exact (every write goes
    /// through it), so it only trades memory for reads; about 200 bytes per account.
    pub account_cache_entries_max: usize,
    /// RocksDB block cache, shared by all column families.
    pub block_cache_bytes: usize,
    /// Memtable size per column family before it is flushed to disk (with `atomic_flush`, the
    /// first column family to fill flushes them all). Smaller is faster to apply into, up to
    /// a point: inserting into a memtable is a skip-list search whose cache misses grow with
    /// its size, while each flush costs background work (measured on the apply benchmark:
    /// 64 MiB → 16 MiB cut the apply thread's time per 8 190-transfer entry by about a
    /// fifth; 8 MiB saved a little more there but spent more than that again flushing and
    /// compacting).
    pub write_buffer_bytes: usize,
    /// Called at every `CrashPoint` (tests copy the directory there to take a crash image).
    pub crash_hook: Option<CrashHook>,
    /// Asked before every ledger read and applied write; an answered error replaces the
    /// medium's answer (tests of the fail-stop rule; `None` in production).
    pub fault_hook: Option<FaultHook>,
    /// Keep RocksDB statistics, so `RocksLogStore::wal_sync_count` can show that appends are
    /// fsynced (a few percent of write throughput; off in production).
    pub statistics: bool,
}

impl Default for RocksConfig {
    fn default() -> Self {
        RocksConfig {
            account_cache_entries_max: 1 << 18,
            block_cache_bytes: 256 << 20,
            write_buffer_bytes: 16 << 20,
            crash_hook: None,
            fault_hook: None,
            statistics: false,
        }
    }
}

impl fmt::Debug for RocksConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksConfig")
            .field("account_cache_entries_max", &self.account_cache_entries_max)
            .field("block_cache_bytes", &self.block_cache_bytes)
            .field("write_buffer_bytes", &self.write_buffer_bytes)
            .field("crash_hook", &self.crash_hook.is_some())
            .field("fault_hook", &self.fault_hook.is_some())
            .field("statistics", &self.statistics)
            .finish()
    }
}

/// Maps a RocksDB error to the `io::Error` openraft's storage traits carry.
pub(crate) fn rocks_error(error: rocksdb::Error) -> io::Error {
    io::Error::other(format!("rocksdb: {error}"))
}

/// State shared by a node's log store and state machine.
pub(crate) struct Shared {
    pub(crate) db: DB,
    /// The options the database was opened with (they hold its statistics).
    pub(crate) options: Options,
    pub(crate) snapshot_directory: PathBuf,
    crash_hook: Option<CrashHook>,
    fault_hook: Option<FaultHook>,
    /// Numbers snapshot files and checkpoints, so names never repeat.
    sequence: AtomicU64,
    /// Serialises changes of the current snapshot (builds finish on their own task).
    pub(crate) snapshot_lock: Mutex<()>,
}

impl Shared {
    pub(crate) fn cf(&self, name: &str) -> io::Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| io::Error::other(format!("column family {name} missing")))
    }

    pub(crate) fn crash_point(&self, point: CrashPoint) {
        if let Some(hook) = &self.crash_hook {
            hook(point);
        }
    }

    /// The error the fault hook injects into `access`, if any (tests only).
    pub(crate) fn injected_fault(&self, access: StorageAccess) -> io::Result<()> {
        match self.fault_hook.as_ref().and_then(|hook| hook(access)) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    pub(crate) fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn lock_snapshots(&self) -> MutexGuard<'_, ()> {
        self.snapshot_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes every state-machine write so far durable: flushes the memtables of the state
    /// machine's column families to table files in one atomic flush (one consistent cut, as
    /// every flush of this database is). Waits for the flush to finish.
    pub(crate) fn flush_state_machine(&self) -> io::Result<()> {
        let families = state_machine_column_family_names()
            .into_iter()
            .map(|name| self.cf(name))
            .collect::<io::Result<Vec<&ColumnFamily>>>()?;
        let mut options = FlushOptions::default();
        options.set_wait(true);
        self.db.flush_cfs_opt(&families, &options).map_err(rocks_error)
    }
}

impl Drop for Shared {
    /// Closing the store flushes the state machine, so a clean restart re-applies nothing.
    /// (RocksDB would flush unlogged writes on close too; this says so where it matters.) A
    /// failure here loses nothing durable: the entries are re-applied from the log.
    fn drop(&mut self) {
        let _ignored = self.flush_state_machine();
    }
}

/// Write options for writes that must be durable before the call returns.
pub(crate) fn synced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

/// Write options for writes that become durable with the next synced write.
pub(crate) fn unsynced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(false);
    options
}

/// Write options for applying entries: no write-ahead log, durable once the memtables are
/// flushed (see the module documentation for why that is enough).
pub(crate) fn unlogged() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(false);
    options.disable_wal(true);
    options
}

/// Every column family name, in a fixed order.
pub(crate) fn column_family_names() -> Vec<&'static str> {
    let mut names = vec![LOG_CF, RAFT_CF];
    names.extend(state_machine_column_family_names());
    names
}

/// The state machine's column families: its bookkeeping, the feed's answers (written with
/// each applied entry, so flushed with it) and every ledger table.
pub(crate) fn state_machine_column_family_names() -> Vec<&'static str> {
    let mut names = vec![MACHINE_CF, FEED_CF];
    names.extend(Table::ALL.iter().map(|table| table_cf(*table)));
    names
}

/// Database-wide options (shared by the read-only opening of checkpoints).
pub(crate) fn database_options(config: &RocksConfig) -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    // A torn tail of the write-ahead log (a crash mid-write) is dropped; everything before it
    // is recovered. Synced records are never torn, so nothing acknowledged is lost.
    options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    // Applied entries skip the write-ahead log: every flush must persist all column families
    // at one sequence number, or a crash could keep one table's half of an entry.
    options.set_atomic_flush(true);
    options.set_max_background_jobs(2);
    options.set_write_buffer_size(config.write_buffer_bytes);
    if config.statistics {
        options.enable_statistics();
    }
    options
}

fn column_family_options(name: &str, cache: &Cache, config: &RocksConfig) -> Options {
    let mut options = Options::default();
    options.set_write_buffer_size(config.write_buffer_bytes);
    options.set_compression_type(DBCompressionType::Lz4);
    // Flushes write level 0 uncompressed: those files are rewritten by the next compaction
    // soon, and compressing them costs CPU at the busiest moment. Deeper levels as before.
    let mut per_level = [DBCompressionType::Lz4; 7];
    per_level[0] = DBCompressionType::None;
    options.set_compression_per_level(&per_level);
    options.set_bottommost_compression_type(DBCompressionType::Zstd);
    // Every level-0 file of the accounts and history tables spans the whole key range, so a
    // compaction out of level 0 rewrites all of the next level: wait for more files, and do
    // it half as often (about 13% of the apply benchmark's CPU time per entry, for a few
    // more Bloom filter probes per lookup).
    options.set_level_zero_file_num_compaction_trigger(LEVEL_ZERO_FILES_BEFORE_COMPACTION);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    if POINT_READ_COLUMN_FAMILIES.contains(&name) {
        // Point reads that miss (a new transfer id, a new payout) are the hot path of
        // applying: whole-key Bloom filters, in the table files and in the memtable, answer
        // most of them without touching a block or walking the skip list. Tables read by
        // range, or (accounts) through the account cache, skip the memtable filter: its cost
        // is paid on every insert.
        table.set_bloom_filter(10.0, false);
        if name != table_cf(Table::Accounts) {
            options.set_memtable_prefix_bloom_ratio(0.1);
            options.set_memtable_whole_key_filtering(true);
        }
    }
    options.set_block_based_table_factory(&table);
    options
}

/// Opens (creating if needed) a node's store under `root`.
pub struct RocksStore;

impl RocksStore {
    /// Opens the store and finishes any snapshot installation a crash interrupted. Returns the
    /// log store and the state machine, which share the database.
    pub fn open(
        root: &Path,
        machine: StateMachine,
        config: RocksConfig,
    ) -> io::Result<(RocksLogStore, RocksStateMachine)> {
        let database_directory = root.join("db");
        let snapshot_directory = root.join("snapshots");
        std::fs::create_dir_all(&database_directory)?;
        std::fs::create_dir_all(&snapshot_directory)?;
        let cache = Cache::new_lru_cache(config.block_cache_bytes);
        let descriptors: Vec<ColumnFamilyDescriptor> = column_family_names()
            .into_iter()
            .map(|name| {
                ColumnFamilyDescriptor::new(name, column_family_options(name, &cache, &config))
            })
            .collect();
        let options = database_options(&config);
        let db = DB::open_cf_descriptors(&options, &database_directory, descriptors)
            .map_err(rocks_error)?;
        let sequence = state_machine::first_free_sequence(&snapshot_directory)?;
        let shared = Arc::new(Shared {
            db,
            options,
            snapshot_directory,
            crash_hook: config.crash_hook.clone(),
            fault_hook: config.fault_hook.clone(),
            sequence: AtomicU64::new(sequence),
            snapshot_lock: Mutex::new(()),
        });
        let state_machine = RocksStateMachine::open(shared.clone(), machine, &config)?;
        Ok((RocksLogStore::new(shared), state_machine))
    }
}
