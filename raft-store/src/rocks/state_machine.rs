//! The ledger state machine on RocksDB, and its snapshots.
//!
//! Applying: each entry's ledger writes, last-applied log id and membership go in one atomic
//! `WriteBatch`, outside the write-ahead log (see the module above for durability).
//!
//! Building a snapshot does not stop writes: the builder is made from a RocksDB checkpoint
//! (the state machine is flushed, then the immutable table files are hard-linked), and the
//! records are read from that checkpoint on the builder's own task while the state machine
//! keeps applying. Applying pauses only while the checkpoint is taken. Because of that flush,
//! the state on disk is never behind a snapshot this store made current.
//!
//! Installing a snapshot is atomic across crashes, without holding the whole snapshot in one
//! `WriteBatch`: the received data is first stored as a durable snapshot file, the state
//! machine is flushed (so no unlogged write is older than the installation's logged ones),
//! then an *install marker* naming it is synced; the tables are cleared and refilled chunk
//! by chunk; a final synced batch sets the last-applied log id, the membership and the
//! current snapshot and removes the marker. A store opened with the marker present redoes the
//! installation from the file, so after any crash the state machine holds either the old
//! state or the whole snapshot.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{OptionalSend, RaftSnapshotBuilder};
use rocksdb::checkpoint::Checkpoint;
use rocksdb::{DB, WaitForCompactOptions, WriteBatch};
use serde::{Deserialize, Serialize};
use tianping_ledger::{StateDigest, StateMachine, Table};

use super::feed::{RocksFeed, feed_key};
use super::ledger::RocksLedger;
use super::log_store::{decode, encode, get_value};
use super::{
    FEED_CF, MACHINE_CF, RocksConfig, Shared, column_family_names, database_options, rocks_error,
    synced, table_cf, unsynced,
};
use crate::apply::execute;
use crate::crash::CrashPoint;
use crate::snapshot::{
    KEY_BYTES_MAX, RaftSnapshot, SnapshotData, SnapshotEncoder, SnapshotWriter,
    sync_parent_directory,
};
use crate::type_config::{
    Entry, LedgerResponse, LogId, SnapshotMeta, StoredMembership, TypeConfig,
};

pub(crate) const LAST_APPLIED_KEY: &[u8] = b"last_applied";
const MEMBERSHIP_KEY: &[u8] = b"membership";
const SNAPSHOT_KEY: &[u8] = b"snapshot";
const INSTALL_KEY: &[u8] = b"install";

const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
const CHECKPOINT_PREFIX: &str = "checkpoint-";

/// A snapshot file and what it holds (the current snapshot, or one being installed).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SnapshotRecord {
    meta: SnapshotMeta,
    file_name: String,
}

/// The current snapshot, open and checked.
#[derive(Clone)]
struct CurrentSnapshot {
    record: SnapshotRecord,
    data: SnapshotData,
}

fn snapshot_file_name(sequence: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{sequence:020}{SNAPSHOT_SUFFIX}")
}

/// One more than the highest sequence number used by a file in `directory`.
pub(crate) fn first_free_sequence(directory: &Path) -> io::Result<u64> {
    let mut next = 0;
    for item in std::fs::read_dir(directory)? {
        let name = item?.file_name();
        let name = name.to_string_lossy();
        let digits = name
            .strip_prefix(SNAPSHOT_PREFIX)
            .or_else(|| name.strip_prefix(CHECKPOINT_PREFIX))
            .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>());
        if let Some(sequence) = digits.and_then(|digits| digits.parse::<u64>().ok()) {
            next = next.max(sequence + 1);
        }
    }
    Ok(next)
}

/// The ledger state machine on RocksDB.
pub struct RocksStateMachine {
    shared: Arc<Shared>,
    ledger: Arc<RocksLedger>,
    machine: StateMachine,
    current: Arc<Mutex<Option<CurrentSnapshot>>>,
}

impl RocksStateMachine {
    pub(crate) fn open(
        shared: Arc<Shared>,
        machine: StateMachine,
        config: &RocksConfig,
    ) -> io::Result<Self> {
        let ledger = Arc::new(RocksLedger::new(shared.clone(), config.account_cache_entries_max));
        let state_machine =
            RocksStateMachine { shared, ledger, machine, current: Arc::new(Mutex::new(None)) };
        if let Some(marker) =
            get_value::<SnapshotRecord>(&state_machine.shared, MACHINE_CF, INSTALL_KEY)?
        {
            // A crash interrupted an installation: its file is durable, finish it.
            let data = SnapshotData::open_file(&state_machine.snapshot_path(&marker.file_name))?;
            state_machine.install_from_file(&marker, &data)?;
        }
        let current =
            match get_value::<SnapshotRecord>(&state_machine.shared, MACHINE_CF, SNAPSHOT_KEY)? {
                Some(record) => {
                    let data =
                        SnapshotData::open_file(&state_machine.snapshot_path(&record.file_name))?;
                    Some(CurrentSnapshot { record, data })
                }
                None => None,
            };
        state_machine.remove_stray_files(
            current.as_ref().map(|current| current.record.file_name.as_str()),
        )?;
        *state_machine.lock_current() = current;
        Ok(state_machine)
    }

    /// Runs `read` on the current ledger state (queries, checkers) and answers its value, or
    /// the storage error of any read it made: a failed read is never seen as an absent
    /// record. Reads see every applied entry.
    pub fn with_ledger<T>(&self, read: impl FnOnce(&RocksLedger) -> T) -> io::Result<T> {
        self.ledger.session(read)
    }

    /// Waits until RocksDB has no flush or compaction running or scheduled (it starts none).
    /// Crash tests copy the directory only at such quiet moments: a copy taken while a
    /// background job replaces files is not an image any crash could leave.
    pub fn wait_for_background_work(&self) -> io::Result<()> {
        self.shared.db.wait_for_compact(&WaitForCompactOptions::default()).map_err(rocks_error)
    }

    /// The change feed of this store, readable from any task while entries are applied.
    pub fn feed_source(&self) -> RocksFeed {
        RocksFeed::new(self.shared.clone())
    }

    /// The digest of the current ledger state (reads the whole state).
    pub fn state_digest(&self) -> io::Result<StateDigest> {
        self.with_ledger(tianping_ledger::state_digest)
    }

    fn snapshot_path(&self, file_name: &str) -> PathBuf {
        self.shared.snapshot_directory.join(file_name)
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<CurrentSnapshot>> {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Removes partial files, leftover checkpoints and snapshots other than the current one
    /// (only at open, when no builder runs).
    fn remove_stray_files(&self, current: Option<&str>) -> io::Result<()> {
        for item in std::fs::read_dir(&self.shared.snapshot_directory)? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            if Some(name.as_str()) == current {
                continue;
            }
            if name.starts_with(CHECKPOINT_PREFIX) {
                std::fs::remove_dir_all(item.path())?;
            } else if name.starts_with(SNAPSHOT_PREFIX) {
                std::fs::remove_file(item.path())?;
            }
        }
        Ok(())
    }

    /// Applies one entry. A storage error — a failed read while computing it, or the failed
    /// write of its outcome — is returned before anything is stored, and openraft stops the
    /// node on it (fail-stop); the entry stays unapplied, to be applied again at restart.
    fn apply_one(&self, entry: &Entry) -> io::Result<LedgerResponse> {
        let outcome = self.ledger.session(|ledger| execute(&self.machine, ledger, entry))?;
        self.shared.crash_point(CrashPoint::ApplyComputed);
        let machine_family = self.shared.cf(MACHINE_CF)?;
        let feed_family = self.shared.cf(FEED_CF)?;
        self.ledger.commit_with(outcome.writes.as_ref(), |batch| {
            batch.put_cf(
                feed_family,
                feed_key(outcome.log_id.index),
                encode(&outcome.response, "feed answers")?,
            );
            batch.put_cf(
                machine_family,
                LAST_APPLIED_KEY,
                encode(&Some(outcome.log_id), "last applied")?,
            );
            if let Some(membership) = &outcome.membership {
                batch.put_cf(machine_family, MEMBERSHIP_KEY, encode(membership, "membership")?);
            }
            Ok(())
        })?;
        Ok(outcome.response)
    }

    /// Replaces the tables with the snapshot in `data` (already durable in the file `marker`
    /// names) and makes it current. Idempotent, so a crash anywhere inside is finished by
    /// running it again at open.
    fn install_from_file(&self, marker: &SnapshotRecord, data: &SnapshotData) -> io::Result<()> {
        self.ledger.clear_cache();
        let mut clear = WriteBatch::default();
        let key_end = vec![0xff; KEY_BYTES_MAX + 1];
        for table in Table::ALL {
            clear.delete_range_cf(self.shared.cf(table_cf(table))?, Vec::new(), key_end.clone());
        }
        // The feed's answers belong to the replaced state: the feed restarts after the
        // snapshot (older positions are `NotRetained` here; another node may still have them).
        clear.delete_range_cf(self.shared.cf(FEED_CF)?, Vec::new(), key_end.clone());
        self.shared.db.write_opt(clear, &unsynced()).map_err(rocks_error)?;
        let digest = data.for_each_chunk_records(&mut |records| {
            let mut batch = WriteBatch::default();
            for record in &records {
                batch.put_cf(self.shared.cf(table_cf(record.table))?, &record.key, &record.value);
            }
            self.shared.db.write_opt(batch, &unsynced()).map_err(rocks_error)?;
            self.shared.crash_point(CrashPoint::SnapshotInstallChunkWritten);
            Ok(())
        })?;
        if digest != data.digest() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot file changed while it was installed",
            ));
        }
        self.ledger.clear_cache();
        let family = self.shared.cf(MACHINE_CF)?;
        let mut finish = WriteBatch::default();
        finish.put_cf(family, LAST_APPLIED_KEY, encode(&marker.meta.last_log_id, "last applied")?);
        finish.put_cf(family, MEMBERSHIP_KEY, encode(&marker.meta.last_membership, "membership")?);
        finish.put_cf(family, SNAPSHOT_KEY, encode(marker, "snapshot record")?);
        finish.delete_cf(family, INSTALL_KEY);
        self.shared.db.write_opt(finish, &synced()).map_err(rocks_error)?;
        let previous = self
            .lock_current()
            .replace(CurrentSnapshot { record: marker.clone(), data: data.clone() });
        if let Some(previous) = previous
            && previous.record.file_name != marker.file_name
        {
            remove_file_if_present(&self.snapshot_path(&previous.record.file_name))?;
        }
        Ok(())
    }
}

fn remove_file_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Builds a snapshot from a checkpoint taken when it was made.
pub struct RocksSnapshotBuilder {
    shared: Arc<Shared>,
    current: Arc<Mutex<Option<CurrentSnapshot>>>,
    /// The checkpoint directory, or why it could not be taken.
    checkpoint: Result<PathBuf, String>,
}

impl RocksSnapshotBuilder {
    fn build(&self, checkpoint: &Path) -> io::Result<RaftSnapshot> {
        let names = column_family_names();
        let db = DB::open_cf_for_read_only(
            &database_options(&RocksConfig::default()),
            checkpoint,
            &names,
            false,
        )
        .map_err(rocks_error)?;
        let family = |name: &str| {
            db.cf_handle(name).ok_or_else(|| {
                io::Error::other(format!("column family {name} missing in checkpoint"))
            })
        };
        let read = |key: &[u8]| -> io::Result<Option<Vec<u8>>> {
            db.get_cf(family(MACHINE_CF)?, key).map_err(rocks_error)
        };
        let last_log_id: Option<LogId> = match read(LAST_APPLIED_KEY)? {
            Some(bytes) => decode(&bytes, "last applied")?,
            None => None,
        };
        let last_membership: StoredMembership = match read(MEMBERSHIP_KEY)? {
            Some(bytes) => decode(&bytes, "membership")?,
            None => StoredMembership::default(),
        };
        let meta = SnapshotMeta { last_log_id, last_membership };
        let file_name = snapshot_file_name(self.shared.next_sequence());
        let path = self.shared.snapshot_directory.join(&file_name);
        let mut encoder = SnapshotEncoder::new(SnapshotWriter::to_file(&path)?);
        let mut failure = None;
        for table in Table::ALL {
            RocksLedger::visit_database_table(
                &db,
                family(table_cf(table))?,
                table,
                &mut |key, value| {
                    if failure.is_none()
                        && let Err(error) = encoder.add(table, key, value)
                    {
                        failure = Some(error);
                    }
                },
            )?;
            if let Some(error) = failure.take() {
                return Err(error);
            }
        }
        let data = encoder.finish()?;
        drop(db);
        self.make_current(SnapshotRecord { meta: meta.clone(), file_name }, data.clone())?;
        Ok(RaftSnapshot { meta, snapshot: data })
    }

    /// Records the new snapshot as current unless a newer one (installed meanwhile) is.
    fn make_current(&self, record: SnapshotRecord, data: SnapshotData) -> io::Result<()> {
        let _serialised = self.shared.lock_snapshots();
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let newer_exists = current
            .as_ref()
            .is_some_and(|current| current.record.meta.last_log_id > record.meta.last_log_id);
        if newer_exists {
            // Still returned to openraft, which asked for it; just not kept.
            return remove_file_if_present(&self.shared.snapshot_directory.join(&record.file_name));
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.shared.cf(MACHINE_CF)?,
            SNAPSHOT_KEY,
            encode(&record, "snapshot record")?,
        );
        self.shared.db.write_opt(batch, &synced()).map_err(rocks_error)?;
        let previous = current.replace(CurrentSnapshot { record, data });
        if let Some(previous) = previous {
            remove_file_if_present(
                &self.shared.snapshot_directory.join(&previous.record.file_name),
            )?;
        }
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for RocksSnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<RaftSnapshot, io::Error> {
        let checkpoint = self.checkpoint.clone().map_err(io::Error::other)?;
        let built = self.build(&checkpoint);
        let removed = std::fs::remove_dir_all(&checkpoint);
        let snapshot = built?;
        removed?;
        Ok(snapshot)
    }
}

/// Whether the state machine has applied any entry (or installed a snapshot).
pub(crate) fn has_applied(shared: &Shared) -> io::Result<bool> {
    Ok(get_value::<Option<LogId>>(shared, MACHINE_CF, LAST_APPLIED_KEY)?.flatten().is_some())
}

impl RaftStateMachine<TypeConfig> for RocksStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = RocksSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let last_applied =
            get_value::<Option<LogId>>(&self.shared, MACHINE_CF, LAST_APPLIED_KEY)?.flatten();
        let membership = get_value::<StoredMembership>(&self.shared, MACHINE_CF, MEMBERSHIP_KEY)?
            .unwrap_or_default();
        Ok((last_applied, membership))
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
        let path = self
            .shared
            .snapshot_directory
            .join(format!("{CHECKPOINT_PREFIX}{:020}", self.shared.next_sequence()));
        // The checkpoint would flush too; flushing first states the rule (see `rocks`): the
        // snapshot is never ahead of the durable state, whatever RocksDB's default.
        let checkpoint = self
            .shared
            .flush_state_machine()
            .map_err(|error| format!("flushing the state machine for a snapshot: {error}"))
            .and_then(|()| {
                Checkpoint::new(&self.shared.db)
                    .and_then(|checkpoint| checkpoint.create_checkpoint(&path))
                    .map(|()| path)
                    .map_err(|error| format!("taking a RocksDB checkpoint for a snapshot: {error}"))
            });
        RocksSnapshotBuilder {
            shared: self.shared.clone(),
            current: self.current.clone(),
            checkpoint,
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let file_name = snapshot_file_name(self.shared.next_sequence());
        let path = self.snapshot_path(&file_name);
        // Store the received snapshot durably (checking it again on the way) before touching
        // any state: from the marker on, the file is what a restart finishes installing.
        let mut writer = SnapshotWriter::to_file(&path)?;
        let mut reader = snapshot.reader();
        while let Some(chunk) = reader.next_chunk()? {
            writer.write_chunk(&chunk)?;
        }
        let data = writer.finish()?;
        sync_parent_directory(&path)?;
        let marker = SnapshotRecord { meta: meta.clone(), file_name };
        let _serialised = self.shared.lock_snapshots();
        self.shared.flush_state_machine()?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.shared.cf(MACHINE_CF)?, INSTALL_KEY, encode(&marker, "install marker")?);
        self.shared.db.write_opt(batch, &synced()).map_err(rocks_error)?;
        self.shared.crash_point(CrashPoint::SnapshotInstallStarted);
        self.install_from_file(&marker, &data)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<RaftSnapshot>, io::Error> {
        Ok(self.lock_current().as_ref().map(|current| RaftSnapshot {
            meta: current.record.meta.clone(),
            snapshot: current.data.clone(),
        }))
    }
}
