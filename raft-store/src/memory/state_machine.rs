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
}

impl MemoryStateMachine {
    pub(crate) fn new(handle: DiskHandle, machine: StateMachine) -> MemoryStateMachine {
        MemoryStateMachine { handle, machine }
    }

    /// Runs `read` on the current ledger state (queries, checkers).
    pub fn with_ledger<T>(&self, read: impl FnOnce(&MemoryStore) -> T) -> io::Result<T> {
        self.handle.read(|image| read(&image.ledger))
    }

    /// The digest of the current ledger state.
    pub fn state_digest(&self) -> io::Result<StateDigest> {
        self.with_ledger(tianping_ledger::state_digest)
    }

    fn apply_one(&mut self, entry: &Entry) -> io::Result<LedgerResponse> {
        let machine = self.machine;
        let outcome = self.handle.read(|image| execute(&machine, &image.ledger, entry))?;
        self.handle.crash_point(CrashPoint::ApplyComputed)?;
        self.handle.write_unlogged(DiskWrite::Apply {
            writes: outcome.writes,
            last_applied: outcome.log_id,
            membership: outcome.membership,
        })?;
        Ok(outcome.response)
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
            self.handle.sync()?;
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
        self.handle.sync()
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
