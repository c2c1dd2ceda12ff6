//! The memory store: the RocksDB store's behaviour, including what a crash loses, without a
//! file system, a thread or a clock — so the madsim simulation can run whole clusters on it.
//!
//! A `MemoryDisk` stands for one node's disk and outlives the node: the test or simulation
//! creates it, opens a log store and a state machine on it, and after a crash opens them again
//! on the same disk. The disk keeps two images of the node's data: the *live* image, which
//! every write changes at once (what a running RocksDB serves), and the *durable* image, which
//! only a sync brings up to date (what survives a power cut). Writes between two syncs wait in
//! a queue, in order, like RocksDB's write-ahead log — log and state machine share it, as they
//! share one RocksDB. A crash keeps a prefix of that queue (by default none of it), rebuilds
//! the live image from the durable one and fences off the crashed node's handles.
//!
//! The store syncs exactly where the RocksDB store does (see `rocks`): after appending log
//! entries and before reporting them flushed; on saving a vote, truncating or purging the
//! log; after building or installing a snapshot. Applying an entry and saving the committed
//! log id are not synced: they become durable with the next sync, and until then a crash may
//! take them back — which Raft tolerates, since the log they came from is durable.

mod log_store;
mod state_machine;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tianping_ledger::{LedgerStoreMut, MemoryStore, StateMachine, WriteSet};

// The RocksDB log store shares the check (there is no RocksDB in the simulation).
#[cfg(not(madsim))]
pub(crate) use log_store::check_contiguous;
pub use log_store::{MemoryLogReader, MemoryLogStore};
pub use state_machine::{MemorySnapshotBuilder, MemoryStateMachine};

use crate::crash::{CrashHook, CrashPoint};
use crate::snapshot::SnapshotData;
use crate::type_config::{Entry, LogId, SnapshotMeta, StoredMembership, Vote};

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
                    Some(first_kept) => self.log = self.log.split_off(&first_kept),
                    None => self.log.clear(),
                }
                self.last_purged = Some(*log_id);
            }
            DiskWrite::SaveVote(vote) => self.vote = Some(*vote),
            DiskWrite::SaveCommitted(committed) => self.committed = *committed,
            DiskWrite::Apply { writes, last_applied, membership } => {
                if let Some(writes) = writes {
                    self.ledger.commit(writes);
                }
                self.last_applied = Some(*last_applied);
                if let Some(membership) = membership {
                    self.membership = membership.clone();
                }
            }
            DiskWrite::SaveSnapshot(snapshot) => self.snapshot = Some(snapshot.clone()),
            DiskWrite::InstallSnapshot { ledger, snapshot } => {
                self.ledger = ledger.clone();
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
    /// Written but not yet synced, oldest first.
    unsynced: Vec<DiskWrite>,
    hook: Option<CrashHook>,
    syncs: u64,
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
            .field("syncs", &disk.syncs)
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
                hook: None,
                syncs: 0,
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

    /// A power cut: every write not yet synced is lost; the running node's handles stop
    /// working. Open the stores again to restart the node.
    pub fn crash(&self) {
        self.crash_keeping(0);
    }

    /// A crash that leaves the first `kept` unsynced writes on the disk (they reached the
    /// platter before the power went), as a write-ahead log's recovery keeps a prefix.
    pub fn crash_keeping(&self, kept: usize) {
        let mut disk = self.lock();
        let unsynced = std::mem::take(&mut disk.unsynced);
        for write in unsynced.iter().take(kept) {
            disk.durable.write(write);
        }
        disk.live = disk.durable.clone();
        disk.generation += 1;
    }

    /// How many writes are waiting for a sync.
    pub fn unsynced_write_count(&self) -> usize {
        self.lock().unsynced.len()
    }

    /// How many syncs the disk has performed (tests check that the stores sync where they
    /// should).
    pub fn sync_count(&self) -> u64 {
        self.lock().syncs
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

    /// Writes to the live image and queues the write for the next sync.
    pub(crate) fn write(&self, write: DiskWrite) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        disk.live.write(&write);
        disk.unsynced.push(write);
        Ok(())
    }

    /// Makes every queued write durable (fsync).
    pub(crate) fn sync(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if disk.generation != self.generation {
            return Err(crashed());
        }
        let unsynced = std::mem::take(&mut disk.unsynced);
        for write in &unsynced {
            disk.durable.write(write);
        }
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
