//! The Raft log on RocksDB: entries in `log` by big-endian index (byte order = index order),
//! each in the versioned log entry format (`format`); vote / committed / last purged in
//! `raft`.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use rocksdb::{ReadOptions, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{FEED_CF, LOG_CF, RAFT_CF, Shared, rocks_error, synced, unsynced};
use crate::crash::CrashPoint;
use crate::format::{decode_log_entry, encode_log_entry, format_error};
use crate::identity::{
    IdentityStorage, StoreIdentity, StoreWithIdentity, decode_identity, encode_identity,
};
use crate::memory::check_contiguous;
use crate::type_config::{Entry, LogId, TypeConfig, Vote};

const VOTE_KEY: &[u8] = b"vote";
const COMMITTED_KEY: &[u8] = b"committed";
pub(crate) const LAST_PURGED_KEY: &[u8] = b"last_purged";
/// The store's identity (`identity`), in its own versioned format.
const IDENTITY_KEY: &[u8] = b"identity";

pub(crate) fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(crate) fn encode<T: Serialize>(value: &T, what: &str) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|error| {
        io::Error::new(io::ErrorKind::InvalidData, format!("encoding {what}: {error}"))
    })
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("stored {what} does not decode: {error}"),
        )
    })
}

/// Reads a postcard value from a column family.
pub(crate) fn get_value<T: DeserializeOwned>(
    shared: &Shared,
    cf: &str,
    key: &[u8],
) -> io::Result<Option<T>> {
    let family = shared.cf(cf)?;
    match shared.db.get_pinned_cf(family, key).map_err(rocks_error)? {
        Some(bytes) => decode(&bytes, cf).map(Some),
        None => Ok(None),
    }
}

/// Most bytes of encoded entries one `limited_get_log_entries` call returns (at least one
/// entry is always returned): replication to a far-behind follower then proceeds in bounded
/// steps instead of loading a whole log range into memory.
pub const LOG_READ_BYTES_MAX: usize = 16 << 20;

/// Reads entries in `range` from one consistent view of the log, stopping once `bytes_max`
/// encoded bytes were read (never before the first entry).
pub(crate) fn read_entries<RB: RangeBounds<u64>>(
    shared: &Shared,
    range: RB,
    bytes_max: usize,
) -> io::Result<Vec<Entry>> {
    let start = match range.start_bound() {
        Bound::Included(start) => *start,
        Bound::Excluded(start) => match start.checked_add(1) {
            Some(start) => start,
            None => return Ok(Vec::new()),
        },
        Bound::Unbounded => 0,
    };
    // Exclusive end; `None` reads to the end of the log.
    let end = match range.end_bound() {
        Bound::Included(end) => end.checked_add(1),
        Bound::Excluded(end) => Some(*end),
        Bound::Unbounded => None,
    };
    if end.is_some_and(|end| end <= start) {
        return Ok(Vec::new());
    }
    let mut options = ReadOptions::default();
    if let Some(end) = end {
        options.set_iterate_upper_bound(index_key(end).to_vec());
    }
    let mut iterator = shared.db.raw_iterator_cf_opt(shared.cf(LOG_CF)?, options);
    iterator.seek(index_key(start));
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    while let Some(value) = iterator.value() {
        if !entries.is_empty() && bytes.saturating_add(value.len()) > bytes_max {
            break;
        }
        bytes = bytes.saturating_add(value.len());
        entries.push(decode_log_entry(value).map_err(format_error)?);
        iterator.next();
    }
    iterator.status().map_err(rocks_error)?;
    check_contiguous(&entries)?;
    Ok(entries)
}

/// Reads the log (openraft's replication tasks hold one each).
#[derive(Clone)]
pub struct RocksLogReader {
    shared: Arc<Shared>,
}

impl RaftLogReader<TypeConfig> for RocksLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        read_entries(&self.shared, range, usize::MAX)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        read_entries(&self.shared, start..end, LOG_READ_BYTES_MAX)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        get_value(&self.shared, RAFT_CF, VOTE_KEY)
    }
}

/// The Raft log store on RocksDB.
pub struct RocksLogStore {
    shared: Arc<Shared>,
}

impl RocksLogStore {
    pub(crate) fn new(shared: Arc<Shared>) -> RocksLogStore {
        RocksLogStore { shared }
    }

    /// How many times the write-ahead log was fsynced since the store opened (needs
    /// `RocksConfig::statistics`; 0 without it).
    pub fn wal_sync_count(&self) -> u64 {
        self.shared.options.get_ticker_count(rocksdb::statistics::Ticker::WalFileSynced)
    }

    fn last_entry_log_id(&self) -> io::Result<Option<LogId>> {
        let mut iterator = self.shared.db.raw_iterator_cf(self.shared.cf(LOG_CF)?);
        iterator.seek_to_last();
        let last = match iterator.value() {
            Some(value) => Some(decode_log_entry(value).map_err(format_error)?.log_id),
            None => None,
        };
        iterator.status().map_err(rocks_error)?;
        Ok(last)
    }

    fn write_synced(&self, batch: WriteBatch) -> io::Result<()> {
        self.shared.db.write_opt(batch, &synced()).map_err(rocks_error)
    }

    fn append_entries(&self, entries: Vec<Entry>) -> io::Result<()> {
        let family = self.shared.cf(LOG_CF)?;
        let mut batch = WriteBatch::default();
        for entry in &entries {
            batch.put_cf(family, index_key(entry.log_id.index), encode_log_entry(entry)?);
        }
        // Written (readable at once, as openraft requires) but not yet durable...
        self.shared.db.write_opt(batch, &unsynced()).map_err(rocks_error)?;
        self.shared.crash_point(CrashPoint::AppendWritten);
        // ...until the write-ahead log is fsynced, which also covers every earlier write.
        self.shared.db.flush_wal(true).map_err(rocks_error)
    }
}

impl StoreWithIdentity for RocksLogStore {
    fn identity_storage(&self) -> Arc<dyn IdentityStorage> {
        Arc::new(RocksIdentity { shared: self.shared.clone() })
    }
}

/// A node's identity in its RocksDB store (`raft` column family).
struct RocksIdentity {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RocksIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksIdentity").finish_non_exhaustive()
    }
}

impl IdentityStorage for RocksIdentity {
    fn read_identity(&self) -> io::Result<Option<StoreIdentity>> {
        let family = self.shared.cf(RAFT_CF)?;
        match self.shared.db.get_pinned_cf(family, IDENTITY_KEY).map_err(rocks_error)? {
            Some(bytes) => decode_identity(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn save_identity(&self, identity: &StoreIdentity) -> io::Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.shared.cf(RAFT_CF)?, IDENTITY_KEY, encode_identity(identity)?);
        self.shared.db.write_opt(batch, &synced()).map_err(rocks_error)
    }

    fn holds_raft_state(&self) -> io::Result<bool> {
        let raft = self.shared.cf(RAFT_CF)?;
        for key in [VOTE_KEY, LAST_PURGED_KEY] {
            if self.shared.db.get_pinned_cf(raft, key).map_err(rocks_error)?.is_some() {
                return Ok(true);
            }
        }
        let mut iterator = self.shared.db.raw_iterator_cf(self.shared.cf(LOG_CF)?);
        iterator.seek_to_first();
        let has_entries = iterator.valid();
        iterator.status().map_err(rocks_error)?;
        Ok(has_entries || super::state_machine::has_applied(&self.shared)?)
    }
}

impl RaftLogStorage<TypeConfig> for RocksLogStore {
    type LogReader = RocksLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogId> = get_value(&self.shared, RAFT_CF, LAST_PURGED_KEY)?;
        let last_log_id = match self.last_entry_log_id()? {
            Some(last) => Some(last),
            None => last_purged_log_id,
        };
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        RocksLogReader { shared: self.shared.clone() }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.shared.cf(RAFT_CF)?, VOTE_KEY, encode(vote, "vote")?);
        self.write_synced(batch)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not synced: a lost committed id only means re-applying less after a restart, and it
        // is never durable without the entries it names (they are earlier in the same WAL).
        let mut batch = WriteBatch::default();
        batch.put_cf(self.shared.cf(RAFT_CF)?, COMMITTED_KEY, encode(&committed, "committed")?);
        self.shared.db.write_opt(batch, &unsynced()).map_err(rocks_error)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(get_value::<Option<LogId>>(&self.shared, RAFT_CF, COMMITTED_KEY)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        match self.append_entries(entries) {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.io_completed(Err(io::Error::new(error.kind(), error.to_string())));
                Err(error)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let first_removed = match last_log_id {
            None => 0,
            Some(log_id) => match log_id.index.checked_add(1) {
                Some(first_removed) => first_removed,
                None => return Ok(()),
            },
        };
        let family = self.shared.cf(LOG_CF)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(family, index_key(first_removed), index_key(u64::MAX));
        batch.delete_cf(family, index_key(u64::MAX));
        self.write_synced(batch)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // The state built from the purged entries (openraft purges only applied entries) is
        // in the memtables, outside the WAL: make it durable before the entries are gone, or
        // a crash after the purge could leave state that the log can no longer rebuild.
        self.shared.flush_state_machine()?;
        self.shared.crash_point(CrashPoint::PurgeStateFlushed);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.shared.cf(RAFT_CF)?, LAST_PURGED_KEY, encode(&log_id, "last purged")?);
        // The feed's answers go with the entries they answer (their commands are in the log).
        for family in [self.shared.cf(LOG_CF)?, self.shared.cf(FEED_CF)?] {
            match log_id.index.checked_add(1) {
                Some(first_kept) => {
                    batch.delete_range_cf(family, index_key(0), index_key(first_kept))
                }
                None => {
                    batch.delete_range_cf(family, index_key(0), index_key(u64::MAX));
                    batch.delete_cf(family, index_key(u64::MAX));
                }
            }
        }
        self.write_synced(batch)
    }
}
