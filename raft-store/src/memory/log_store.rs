//! The memory store's Raft log: entries, vote, committed and purged log ids on a `MemoryDisk`.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use super::{DiskHandle, DiskWrite, Image};
use crate::crash::CrashPoint;
use crate::type_config::{Entry, LogId, TypeConfig, Vote};

/// Reads the log (openraft's replication tasks hold one each).
#[derive(Clone)]
pub struct MemoryLogReader {
    handle: DiskHandle,
}

/// The Raft log store on a `MemoryDisk`.
pub struct MemoryLogStore {
    handle: DiskHandle,
}

impl MemoryLogStore {
    pub(crate) fn new(handle: DiskHandle) -> MemoryLogStore {
        MemoryLogStore { handle }
    }
}

impl crate::identity::StoreWithIdentity for MemoryLogStore {
    fn identity_storage(&self) -> std::sync::Arc<dyn crate::identity::IdentityStorage> {
        std::sync::Arc::new(super::MemoryIdentity::new(self.handle.clone()))
    }
}

/// The entries of `range`, which must be contiguous: a hole inside the log is corruption.
pub(crate) fn entries_in<RB: RangeBounds<u64>>(image: &Image, range: RB) -> io::Result<Vec<Entry>> {
    let start = match range.start_bound() {
        Bound::Included(start) => Bound::Included(*start),
        Bound::Excluded(start) => Bound::Excluded(*start),
        Bound::Unbounded => Bound::Unbounded,
    };
    let end = match range.end_bound() {
        Bound::Included(end) => Bound::Included(*end),
        Bound::Excluded(end) => Bound::Excluded(*end),
        Bound::Unbounded => Bound::Unbounded,
    };
    if let (
        Bound::Included(start) | Bound::Excluded(start),
        Bound::Included(end) | Bound::Excluded(end),
    ) = (start, end)
        && start > end
    {
        return Ok(Vec::new());
    }
    let entries: Vec<Entry> =
        image.log.range((start, end)).map(|(_, entry)| entry.clone()).collect();
    check_contiguous(&entries)?;
    Ok(entries)
}

/// Fails if `entries` skip an index.
pub(crate) fn check_contiguous(entries: &[Entry]) -> io::Result<()> {
    for pair in entries.windows(2) {
        if pair[1].log_id.index != pair[0].log_id.index + 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "log has a hole between indexes {} and {}",
                    pair[0].log_id.index, pair[1].log_id.index
                ),
            ));
        }
    }
    Ok(())
}

impl RaftLogReader<TypeConfig> for MemoryLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.handle.read(|image| entries_in(image, range))?
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.handle.read(|image| image.vote)
    }
}

impl RaftLogStorage<TypeConfig> for MemoryLogStore {
    type LogReader = MemoryLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        self.handle.read(|image| {
            let last_purged_log_id = image.last_purged;
            let last_log_id = match image.log.last_key_value() {
                Some((_, entry)) => Some(entry.log_id),
                None => last_purged_log_id,
            };
            LogState { last_purged_log_id, last_log_id }
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        MemoryLogReader { handle: self.handle.clone() }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.handle.write(DiskWrite::SaveVote(*vote))?;
        self.handle.sync().await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not synced: a lost committed id only means re-applying less after a restart.
        self.handle.write(DiskWrite::SaveCommitted(committed))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        self.handle.read(|image| image.committed)
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
        self.handle.write(DiskWrite::Append(entries))?;
        // The entries are readable now but not durable: a crash here must lose them.
        self.handle.crash_point(CrashPoint::AppendWritten)?;
        let synced = self.handle.sync().await;
        let failure =
            synced.as_ref().err().map(|error| io::Error::new(error.kind(), error.to_string()));
        callback.io_completed(synced);
        match failure {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let last_kept = last_log_id.map(|log_id| log_id.index);
        self.handle.write(DiskWrite::TruncateAfter(last_kept))?;
        self.handle.sync().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // The applied state of the purged entries becomes durable before they are gone.
        self.handle.flush_state()?;
        self.handle.crash_point(CrashPoint::PurgeStateFlushed)?;
        self.handle.write(DiskWrite::Purge(log_id))?;
        self.handle.sync().await
    }
}
