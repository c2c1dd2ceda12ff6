//! The change feed on RocksDB (`crate::feed`): commands from the `log` column family, their
//! answers from `feed`, both read from one RocksDB snapshot so a concurrent purge or apply
//! is seen entirely or not at all.

use std::io;
use std::sync::Arc;

use rocksdb::ReadOptions;

use super::log_store::{LAST_PURGED_KEY, decode, index_key};
use super::state_machine::LAST_APPLIED_KEY;
use super::{FEED_CF, LOG_CF, MACHINE_CF, RAFT_CF, Shared, rocks_error};
use crate::feed::{FeedError, FeedPage, FeedPosition, FeedSource, entry_events, start_index};
use crate::format::{decode_log_entry, format_error};
use crate::type_config::{LedgerResponse, LogId};

/// Most entries one read looks at (blank and membership entries have no events, so a page
/// of them could otherwise scan far).
const ENTRIES_PER_READ_MAX: u64 = 4096;

/// The key of an entry's answers in the `feed` column family (as the log's).
pub(crate) fn feed_key(index: u64) -> [u8; 8] {
    index_key(index)
}

fn key_index(key: &[u8]) -> io::Result<u64> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "feed: malformed index key"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// A node's change feed on its RocksDB store (`RocksStateMachine::feed_source`).
#[derive(Clone)]
pub struct RocksFeed {
    shared: Arc<Shared>,
}

impl RocksFeed {
    pub(crate) fn new(shared: Arc<Shared>) -> RocksFeed {
        RocksFeed { shared }
    }
}

impl FeedSource for RocksFeed {
    fn read(&self, from: FeedPosition, events_max: usize) -> Result<FeedPage, FeedError> {
        let db = &self.shared.db;
        let snapshot = db.snapshot();
        let options = || {
            let mut options = ReadOptions::default();
            options.set_snapshot(&snapshot);
            options
        };
        let last_applied: Option<LogId> = match snapshot
            .get_pinned_cf_opt(self.shared.cf(MACHINE_CF)?, LAST_APPLIED_KEY, options())
            .map_err(rocks_error)?
        {
            Some(bytes) => decode::<Option<LogId>>(&bytes, "last applied")?,
            None => None,
        };
        let Some(last_applied) = last_applied.map(|log_id| log_id.index) else {
            return Ok(FeedPage { events: Vec::new(), next: from, last_applied: 0 });
        };
        let mut answers = db.raw_iterator_cf_opt(self.shared.cf(FEED_CF)?, options());
        answers.seek_to_first();
        let first_answered = match answers.key() {
            Some(key) => key_index(key)?,
            None => last_applied.saturating_add(1),
        };
        answers.status().map_err(rocks_error)?;
        let floor = match snapshot
            .get_pinned_cf_opt(self.shared.cf(RAFT_CF)?, LAST_PURGED_KEY, options())
            .map_err(rocks_error)?
        {
            Some(bytes) => decode::<LogId>(&bytes, "last purged")?.index.saturating_add(1),
            None => 0,
        };
        let log_family = self.shared.cf(LOG_CF)?;
        let start = start_index(from, floor, first_answered, |index| {
            let entry = snapshot
                .get_pinned_cf_opt(log_family, index_key(index), options())
                .map_err(rocks_error)?;
            Ok(entry.is_some())
        })?;
        let mut page = FeedPage { events: Vec::new(), next: from, last_applied };
        if start > last_applied {
            return Ok(page);
        }
        let end = last_applied.min(start.saturating_add(ENTRIES_PER_READ_MAX - 1));
        let mut log = db.raw_iterator_cf_opt(log_family, options());
        log.seek(index_key(start));
        answers.seek(feed_key(start));
        let mut index = start;
        loop {
            let (Some(entry_bytes), Some(answer_bytes)) = (log.value(), answers.value()) else {
                log.status().map_err(rocks_error)?;
                answers.status().map_err(rocks_error)?;
                return Err(FeedError::Storage(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "feed: entry {index} is applied but its log entry or answers are missing"
                    ),
                )));
            };
            let entry = decode_log_entry(entry_bytes).map_err(format_error)?;
            let answer_index = answers.key().map(key_index).transpose()?;
            if entry.log_id.index != index || answer_index != Some(index) {
                return Err(FeedError::Storage(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "feed: entry {index} is applied but its log entry or answers are missing"
                    ),
                )));
            }
            let response: LedgerResponse = decode(answer_bytes, "feed answers")?;
            entry_events(&entry, &response, page.next, &mut page.events)?;
            page.next = FeedPosition::entry_start(index.saturating_add(1));
            if index >= end || page.events.len() >= events_max {
                break;
            }
            index += 1;
            log.next();
            answers.next();
        }
        Ok(page)
    }
}
