//! The memory store's state machine: the ledger in a `MemoryStore` on a `MemoryDisk`.

use std::io;

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{OptionalSend, RaftSnapshotBuilder};
use tianping_ledger::{
    LedgerStore, LedgerStoreMut, MemoryStore, StateDigest, StateMachine, WriteSet,
};

use super::{DiskHandle, DiskWrite, StoredSnapshot};
use crate::apply::execute;
use crate::crash::CrashPoint;
use crate::snapshot::{
    RaftSnapshot, SnapshotData, SnapshotWriter, add_record_to_write_set, encode_ledger,
};
use crate::type_config::{
    Entry, LedgerResponse, LogId, SnapshotMeta, StoredMembership, TypeConfig,
};

/// The ledger state machine on a `MemoryDisk`.
pub struct MemoryStateMachine {
    handle: DiskHandle,
    machine: StateMachine,
    /// Planted bug `apply-twice`: set while a restarted state machine has not yet applied a
    /// normal entry.
    #[cfg(feature = "planted-bugs")]
    replay_pending: bool,
}

impl MemoryStateMachine {
    pub(crate) fn new(handle: DiskHandle, machine: StateMachine) -> MemoryStateMachine {
        #[cfg(feature = "planted-bugs")]
        let replay_pending = handle.read(|image| image.last_applied.is_some()).unwrap_or(false);
        MemoryStateMachine {
            handle,
            machine,
            #[cfg(feature = "planted-bugs")]
            replay_pending,
        }
    }

    /// Runs `read` on the current ledger state (queries, checkers).
    pub fn with_ledger<T>(&self, read: impl FnOnce(&MemoryStore) -> T) -> io::Result<T> {
        self.handle.read(|image| read(&image.ledger))
    }

    /// The change feed of this store (fenced like the store: it stops reading once the node
    /// crashes or is reopened).
    pub fn feed_source(&self) -> super::MemoryFeed {
        super::MemoryFeed::new(self.handle.clone())
    }

    /// The digest of the current ledger state.
    pub fn state_digest(&self) -> io::Result<StateDigest> {
        self.with_ledger(tianping_ledger::state_digest)
    }

    fn apply_one(&mut self, entry: &Entry) -> io::Result<LedgerResponse> {
        let machine = self.machine;
        #[cfg_attr(not(feature = "planted-bugs"), allow(unused_mut))]
        let mut outcome = self.handle.read(|image| execute(&machine, &image.ledger, entry))?;
        // PLANTED BUG `apply-twice`: the first normal entry a restarted state machine applies
        // is replayed without the idempotency check: the transfers are recorded once (same
        // keys) but every balance they moved moves a second time.
        #[cfg(feature = "planted-bugs")]
        if self.replay_pending
            && crate::planted::active(crate::planted::PlantedBug::ApplyTwice)
            && let Some(writes) = outcome.writes.as_mut()
            && !writes.transfers.is_empty()
        {
            self.replay_pending = false;
            self.handle.read(|image| apply_balances_again(&image.ledger, writes))?;
        }
        self.handle.crash_point(CrashPoint::ApplyComputed)?;
        self.handle.write_unlogged(DiskWrite::Apply {
            writes: outcome.writes,
            last_applied: outcome.log_id,
            membership: outcome.membership,
            response: outcome.response.clone(),
        })?;
        Ok(outcome.response)
    }
}

/// Planted bug `apply-twice`: each changed account in `writes` moves again by what it moved
/// from its state in `before` (`after + (after - before)`, per balance).
#[cfg(feature = "planted-bugs")]
fn apply_balances_again(before: &MemoryStore, writes: &mut WriteSet) {
    let twice = |old: u128, new: u128| new.checked_sub(old).and_then(|d| new.checked_add(d));
    for account in &mut writes.accounts {
        let Some(old) = before.account(account.id) else { continue };
        if let Some(posted) = twice(old.debits_posted, account.debits_posted) {
            account.debits_posted = posted;
        }
        if let Some(posted) = twice(old.credits_posted, account.credits_posted) {
            account.credits_posted = posted;
        }
    }
}

/// Builds a snapshot of the state as it was when the builder was made.
pub struct MemorySnapshotBuilder {
    handle: DiskHandle,
    ledger: MemoryStore,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for MemorySnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<RaftSnapshot, io::Error> {
        let data = encode_ledger(&self.ledger, SnapshotWriter::in_memory())?;
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
        };
        let snapshot = StoredSnapshot { meta: meta.clone(), data: data.clone() };
        // A snapshot installed meanwhile may be newer than this one: keep the newest.
        let newer_exists = self.handle.read(|image| {
            image
                .snapshot
                .as_ref()
                .is_some_and(|current| current.meta.last_log_id > meta.last_log_id)
        })?;
        if !newer_exists {
            self.handle.write(DiskWrite::SaveSnapshot(snapshot))?;
            self.handle.sync().await?;
        }
        Ok(RaftSnapshot { meta, snapshot: data })
    }
}

/// Loads a snapshot's records into a fresh ledger, checking the stream on the way.
fn load_ledger(data: &SnapshotData) -> io::Result<MemoryStore> {
    let mut ledger = MemoryStore::new();
    data.for_each_chunk_records(&mut |records| {
        // Later chunks carry no meta record: keep the one already loaded.
        let mut writes = WriteSet { meta: ledger.meta(), ..WriteSet::default() };
        for record in &records {
            add_record_to_write_set(record, &mut writes)?;
        }
        ledger.commit(&writes);
        Ok(())
    })?;
    Ok(ledger)
}

impl RaftStateMachine<TypeConfig> for MemoryStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = MemorySnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        self.handle.read(|image| (image.last_applied, image.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let response = self.apply_one(&entry)?;
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // As RocksDB's checkpoint: the state a snapshot is built from is flushed first, so
        // the durable state is never behind a snapshot made current. openraft's signature has
        // no error path here; a crashed handle yields a builder of an empty state whose build
        // fails at its first disk write.
        let state = self.handle.flush_state().and_then(|()| {
            self.handle
                .read(|image| (image.ledger.clone(), image.last_applied, image.membership.clone()))
        });
        let (ledger, last_applied, membership) = state.unwrap_or_default();
        MemorySnapshotBuilder { handle: self.handle.clone(), ledger, last_applied, membership }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let ledger = load_ledger(&snapshot)?;
        let stored = StoredSnapshot { meta: meta.clone(), data: snapshot };
        self.handle.flush_state()?;
        self.handle.write(DiskWrite::InstallSnapshot { ledger, snapshot: stored })?;
        self.handle.crash_point(CrashPoint::SnapshotInstallChunkWritten)?;
        self.handle.sync().await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<RaftSnapshot>, io::Error> {
        self.handle.read(|image| {
            image.snapshot.as_ref().map(|stored| RaftSnapshot {
                meta: stored.meta.clone(),
                snapshot: stored.data.clone(),
            })
        })
    }
}
