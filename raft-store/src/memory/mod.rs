//! The memory store: the RocksDB store's behaviour, including what a crash loses, without a
//! file system, a thread or a clock — so the madsim simulation can run whole clusters on it.
//!
//! A `MemoryDisk` stands for one node's disk and outlives the node: the test or simulation
//! creates it, opens a log store and a state machine on it, and after a crash opens them again
//! on the same disk. The disk keeps two images of the node's data: the *live* image, which
//! every write changes at once (what a running RocksDB serves), and the *durable* image, which
//! survives a power cut. Writes reach the durable image by one of two roads, as in the
//! RocksDB store:
//! - *logged* writes (the log, the vote, the committed id, snapshots) wait in a queue, in
//!   order, like RocksDB's write-ahead log, until a *sync* makes them durable;
//! - *applied entries* skip that log and wait in their own queue, like RocksDB's memtables,
//!   until a *state flush* makes them durable (RocksDB's atomic flush of the state machine).
//!
//! A crash keeps a prefix of each queue (by default none of either), rebuilds the live image
//! from the durable one and fences off the crashed node's handles.
//!
//! The store syncs exactly where the RocksDB store does (see `rocks`): after appending log
//! entries and before reporting them flushed; on saving a vote, truncating or purging the
//! log; after building or installing a snapshot. It flushes the state machine where the
//! RocksDB store does too: before purging the log, when a snapshot builder is made and
//! before installing a snapshot. Applying an entry and saving the committed log id make
//! nothing durable: a crash may take them back — which Raft tolerates, since the log they
//! came from is durable and is purged only after a state flush. (Unlike RocksDB, dropping
//! the stores does not flush: a node the simulation stops and then crashes loses its
//! unflushed entries, the harshest outcome a real crash could have.)
//!
//! A disk can be made slow (`MemoryDisk::set_sync_delay`): every sync then first waits that
//! long on openraft's runtime clock (madsim's in the simulation, tokio's otherwise), as a
//! saturated or failing disk's fsync does, and only then makes durable every logged write made
//! so far (those made while it waited included, as a real fsync may). A crash while it waits
//! loses them all. The delay belongs to the disk, not to the node: it survives a crash and a
//! restart until it is set back to zero.

mod feed;
mod log_store;
mod state_machine;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::rt::AsyncRuntime;
use tianping_ledger::{LedgerStoreMut, MemoryStore, StateMachine, WriteSet};

// The RocksDB log store shares the check (there is no RocksDB in the simulation).
pub use feed::MemoryFeed;
#[cfg(not(madsim))]
pub(crate) use log_store::check_contiguous;
pub use log_store::{MemoryLogReader, MemoryLogStore};
pub use state_machine::{MemorySnapshotBuilder, MemoryStateMachine};

use crate::crash::{CrashHook, CrashPoint};
use crate::identity::{IdentityStorage, StoreIdentity};
use crate::snapshot::SnapshotData;
use crate::type_config::{
    Entry, LedgerResponse, LogId, Runtime, SnapshotMeta, StoredMembership, Vote,
};

/// A snapshot a store keeps as its current one.
#[derive(Clone, Debug)]
pub(crate) struct StoredSnapshot {
    pub(crate) meta: SnapshotMeta,
    pub(crate) data: SnapshotData,
}

/// Everything a node keeps on its disk.
#[derive(Clone, Debug, Default)]
pub(crate) struct Image {
    pub(crate) log: BTreeMap<u64, Entry>,
    pub(crate) vote: Option<Vote>,
    pub(crate) committed: Option<LogId>,
    pub(crate) last_purged: Option<LogId>,
    pub(crate) ledger: MemoryStore,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
    pub(crate) snapshot: Option<StoredSnapshot>,
    /// The change feed's answers, one per applied entry by log index (`crate::feed`):
    /// node-local, trimmed with the log, cleared by a snapshot installation.
    pub(crate) feed: BTreeMap<u64, LedgerResponse>,
    /// Whom the disk belongs to (`identity`); written durably at once, outside the queues.
    pub(crate) identity: Option<StoreIdentity>,
}

/// One write, as the write-ahead log would hold it.
#[derive(Clone, Debug)]
pub(crate) enum DiskWrite {
    Append(Vec<Entry>),
    /// Remove entries with an index above this (all of them for `None`).
    TruncateAfter(Option<u64>),
    Purge(LogId),
    SaveVote(Vote),
    SaveCommitted(Option<LogId>),
    Apply {
        writes: Option<WriteSet>,
        last_applied: LogId,
        membership: Option<StoredMembership>,
        response: LedgerResponse,
    },
    SaveSnapshot(StoredSnapshot),
    InstallSnapshot {
        ledger: MemoryStore,
        snapshot: StoredSnapshot,
    },
}

impl Image {
    fn write(&mut self, write: &DiskWrite) {
        match write {
            DiskWrite::Append(entries) => {
                for entry in entries {
                    self.log.insert(entry.log_id.index, entry.clone());
                }
            }
            DiskWrite::TruncateAfter(last_kept) => match last_kept {
                None => self.log.clear(),
                Some(index) => {
                    if let Some(first_removed) = index.checked_add(1) {
                        drop(self.log.split_off(&first_removed))
                    }
                }
            },
            DiskWrite::Purge(log_id) => {
                match log_id.index.checked_add(1) {
                    Some(first_kept) => {
                        self.log = self.log.split_off(&first_kept);
                        self.feed = self.feed.split_off(&first_kept);
                    }
                    None => {
                        self.log.clear();
                        self.feed.clear();
                    }
                }
                self.last_purged = Some(*log_id);
            }
            DiskWrite::SaveVote(vote) => self.vote = Some(*vote),
            DiskWrite::SaveCommitted(committed) => self.committed = *committed,
            DiskWrite::Apply { writes, last_applied, membership, response } => {
                if let Some(writes) = writes {
                    self.ledger.commit(writes);
                }
                self.feed.insert(last_applied.index, response.clone());
                self.last_applied = Some(*last_applied);
                if let Some(membership) = membership {
                    self.membership = membership.clone();
                }
            }
            DiskWrite::SaveSnapshot(snapshot) => self.snapshot = Some(snapshot.clone()),
            DiskWrite::InstallSnapshot { ledger, snapshot } => {
                self.ledger = ledger.clone();
                self.feed.clear();
                self.last_applied = snapshot.meta.last_log_id;
                self.membership = snapshot.meta.last_membership.clone();
                self.snapshot = Some(snapshot.clone());
            }
        }
    }
}

/// The disk's state behind its lock.
struct Disk {
    /// Bumped by every crash and every open: a handle from an older generation belongs to a
    /// node that no longer runs, and its writes go nowhere.
    generation: u64,
    live: Image,
    durable: Image,
    /// Logged writes not yet synced, oldest first.
    unsynced: Vec<DiskWrite>,
    /// Applied entries (`DiskWrite::Apply`) not yet flushed, oldest first.
    unflushed: Vec<DiskWrite>,
    hook: Option<CrashHook>,
    syncs: u64,
    flushes: u64,
    /// How long every sync waits before it makes anything durable (zero: a fast disk).
    sync_delay: Duration,
}

/// One node's disk; clones share it. See the module documentation.
#[derive(Clone)]
pub struct MemoryDisk {
    disk: Arc<Mutex<Disk>>,
}

impl Default for MemoryDisk {
    fn default() -> Self {
        MemoryDisk::new()
    }
}

impl std::fmt::Debug for MemoryDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let disk = self.lock();
        f.debug_struct("MemoryDisk")
            .field("generation", &disk.generation)
            .field("unsynced_writes", &disk.unsynced.len())
            .field("unflushed_applies", &disk.unflushed.len())
            .field("syncs", &disk.syncs)
            .field("flushes", &disk.flushes)
            .field("sync_delay", &disk.sync_delay)
            .finish()
    }
}

impl MemoryDisk {
    /// An empty disk.
    pub fn new() -> MemoryDisk {
        MemoryDisk {
            disk: Arc::new(Mutex::new(Disk {
                generation: 0,
                live: Image::default(),
                durable: Image::default(),
                unsynced: Vec::new(),
                unflushed: Vec::new(),
                hook: None,
                syncs: 0,
                flushes: 0,
                sync_delay: Duration::ZERO,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // A panic while holding the lock happened inside a test assertion or a ledger
        // invariant; the disk's state is still the last one written, so keep serving it.
        self.disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a node on this disk: a log store and a state machine that see the live image.
    /// Handles of any earlier node on this disk stop working.
    pub fn open(&self, machine: StateMachine) -> (MemoryLogStore, MemoryStateMachine) {
        let generation = {
            let mut disk = self.lock();
            disk.generation += 1;
            disk.generation
        };
        let handle = DiskHandle { disk: self.clone(), generation };
        (MemoryLogStore::new(handle.clone()), MemoryStateMachine::new(handle, machine))
    }

    /// A power cut: every logged write not yet synced and every applied entry not yet flushed
    /// is lost; the running node's handles stop working. Open the stores again to restart the
    /// node.
    pub fn crash(&self) {
        self.crash_keeping(0, 0);
    }

    /// Empties the disk — its live and durable images, both write queues — as if it were
    /// replaced by a blank one, for every handle at once. The simulation calls it when a seed
    /// ends: tasks of the finished simulation that the simulator never dropped (a future that
    /// holds its own waker) keep a handle to their node's disk, and without this every seed's
    /// whole log and ledger would stay in memory until the process ends.
    pub fn release(&self) {
        let mut disk = self.lock();
        disk.live = Image::default();
        disk.durable = Image::default();
        disk.unsynced = Vec::new();
        disk.unflushed = Vec::new();
        disk.hook = None;
        disk.generation += 1;
    }

    /// A crash that leaves more than the synced and flushed writes on the disk: the first
    /// `logged_kept` logged writes waiting for a sync (they reached the platter before the
    /// power went, as a write-ahead log's recovery keeps a prefix) and the first
    /// `applied_kept` applied entries waiting for a flush (RocksDB flushed them on its own
    /// when a memtable filled).
    pub fn crash_keeping(&self, logged_kept: usize, applied_kept: usize) {
        let mut disk = self.lock();
        let unsynced = std::mem::take(&mut disk.unsynced);
        let unflushed = std::mem::take(&mut disk.unflushed);
        // The two prefixes touch different parts of the image (a snapshot installation, the
        // one logged write that replaces the ledger, follows a flush), so their order does
        // not matter.
        for write in unsynced.iter().take(logged_kept).chain(unflushed.iter().take(applied_kept)) {
            disk.durable.write(write);
        }
        disk.live = disk.durable.clone();
        disk.generation += 1;
    }

    /// Every entry of the live log, in index order (purged entries are gone): what a running
    /// node would serve from it. The simulation's committed-log checker replays the entries
    /// up to the node's applied index, which are committed and so never truncated.
    pub fn log_entries(&self) -> Vec<Entry> {
        self.lock().live.log.values().cloned().collect()
    }

    /// How many logged writes are waiting for a sync.
    pub fn unsynced_write_count(&self) -> usize {
        self.lock().unsynced.len()
    }

    /// How many applied entries are waiting for a state flush.
    pub fn unflushed_apply_count(&self) -> usize {
        self.lock().unflushed.len()
    }

    /// How many syncs the disk has performed (tests check that the stores sync where they
    /// should).
    pub fn sync_count(&self) -> u64 {
        self.lock().syncs
    }

    /// How many state flushes the disk has performed.
    pub fn flush_count(&self) -> u64 {
        self.lock().flushes
    }

    /// Makes every later sync wait `delay` before it makes anything durable: a slow fsync,
    /// for the simulation's slow-disk fault. `Duration::ZERO` makes the disk fast again. The
    /// delay is the disk's, so it outlasts crashes and restarts of the node on it; a sync
    /// already waiting keeps the delay it started with.
    pub fn set_sync_delay(&self, delay: Duration) {
        self.lock().sync_delay = delay;
    }

    /// How long every sync currently waits (see `set_sync_delay`).
    pub fn sync_delay(&self) -> Duration {
        self.lock().sync_delay
    }

    /// Sets (or clears) the hook called at every `CrashPoint`.
    pub fn set_crash_hook(&self, hook: Option<CrashHook>) {
        self.lock().hook = hook;
    }
}

/// A node's access to its disk, fenced by generation.
#[derive(Clone)]
pub(crate) struct DiskHandle {
    disk: MemoryDisk,
    generation: u64,
}

fn crashed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "memory disk: this store belongs to a node that crashed or was reopened",
    )
}

impl DiskHandle {
    /// Runs `read` on the live image.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Image) -> T) -> io::Result<T> {
        let disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        Ok(read(&disk.live))
    }

    /// A logged write: changes the live image and waits for the next sync.
    pub(crate) fn write(&self, write: DiskWrite) -> io::Result<()> {
        assert!(
            !matches!(write, DiskWrite::Apply { .. }),
            "applied entries skip the log: use `write_unlogged`"
        );
        let mut disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        if matches!(write, DiskWrite::InstallSnapshot { .. }) {
            // Replacing the ledger by a logged write while older applied entries still wait
            // for a flush would let a later flush apply them on top of the snapshot.
            assert!(disk.unflushed.is_empty(), "a snapshot installation must follow a state flush");
        }
        disk.live.write(&write);
        disk.unsynced.push(write);
        Ok(())
    }

    /// An applied entry (`DiskWrite::Apply`): changes the live image and waits for the next
    /// state flush, outside the log.
    pub(crate) fn write_unlogged(&self, write: DiskWrite) -> io::Result<()> {
        assert!(matches!(write, DiskWrite::Apply { .. }), "only applied entries skip the log");
        let mut disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        disk.live.write(&write);
        disk.unflushed.push(write);
        Ok(())
    }

    /// Makes every applied entry durable (RocksDB's atomic flush of the state machine).
    pub(crate) fn flush_state(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        let unflushed = std::mem::take(&mut disk.unflushed);
        for write in &unflushed {
            disk.durable.write(write);
        }
        disk.flushes += 1;
        Ok(())
    }

    /// Makes every logged write durable (fsync), after the disk's sync delay, if any.
    pub(crate) async fn sync(&self) -> io::Result<()> {
        let delay = self.disk.lock().sync_delay;
        if !delay.is_zero() {
            Runtime::sleep(delay).await;
        }
        let mut disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        // PLANTED BUG `skip-fsync`: the fsync does nothing and reports success, so a crash
        // loses every logged write (entries that counted towards a commit, votes, snapshots).
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active(crate::planted::PlantedBug::SkipFsync) {
            disk.syncs += 1;
            return Ok(());
        }
        let unsynced = std::mem::take(&mut disk.unsynced);
        for write in &unsynced {
            disk.durable.write(write);
        }
        disk.syncs += 1;
        Ok(())
    }

    /// Writes the disk's identity to the live and the durable image at once: a small synced
    /// write (the slow-disk delay is not modelled for it).
    fn save_identity(&self, identity: StoreIdentity) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        disk.live.identity = Some(identity);
        disk.durable.identity = Some(identity);
        disk.syncs += 1;
        Ok(())
    }

    /// Calls the crash hook, if any, with no lock held; then fails if it crashed the disk.
    pub(crate) fn crash_point(&self, point: CrashPoint) -> io::Result<()> {
        let hook = self.disk.lock().hook.clone();
        if let Some(hook) = hook {
            hook(point);
        }
        if self.disk.lock().generation != self.generation {
            return Err(crashed());
        }
        Ok(())
    }
}

/// A node's identity on its `MemoryDisk`, fenced like its stores: after a crash or a reopen
/// it reads and writes nothing.
#[derive(Clone)]
pub struct MemoryIdentity {
    handle: DiskHandle,
}

impl std::fmt::Debug for MemoryIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryIdentity").field("generation", &self.handle.generation).finish()
    }
}

impl MemoryIdentity {
    pub(crate) fn new(handle: DiskHandle) -> MemoryIdentity {
        MemoryIdentity { handle }
    }
}

impl IdentityStorage for MemoryIdentity {
    fn read_identity(&self) -> io::Result<Option<StoreIdentity>> {
        self.handle.read(|image| image.identity)
    }

    fn save_identity(&self, identity: &StoreIdentity) -> io::Result<()> {
        self.handle.save_identity(*identity)
    }

    fn holds_raft_state(&self) -> io::Result<bool> {
        self.handle.read(|image| {
            image.vote.is_some()
                || !image.log.is_empty()
                || image.last_purged.is_some()
                || image.last_applied.is_some()
                || image.snapshot.is_some()
        })
    }
}
