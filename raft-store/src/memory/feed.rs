//! The change feed on a `MemoryDisk` (`crate::feed`): commands from the live log, answers
//! from the live image's feed map, read under the disk's lock (one consistent view).

use std::io;

use super::DiskHandle;
use crate::feed::{FeedError, FeedPage, FeedPosition, FeedSource, entry_events, start_index};

/// Most entries one read looks at (as the RocksDB store's).
const ENTRIES_PER_READ_MAX: u64 = 4096;

/// A node's change feed on its memory store (`MemoryStateMachine::feed_source`).
#[derive(Clone)]
pub struct MemoryFeed {
    handle: DiskHandle,
}

impl MemoryFeed {
    pub(crate) fn new(handle: DiskHandle) -> MemoryFeed {
        MemoryFeed { handle }
    }
}

impl FeedSource for MemoryFeed {
    fn read(&self, from: FeedPosition, events_max: usize) -> Result<FeedPage, FeedError> {
        self.handle.read(|image| {
            let Some(last_applied) = image.last_applied.map(|log_id| log_id.index) else {
                return Ok(FeedPage { events: Vec::new(), next: from, last_applied: 0 });
            };
            let first_answered = match image.feed.keys().next() {
                Some(first) => *first,
                None => last_applied.saturating_add(1),
            };
            let floor = image.last_purged.map_or(0, |id| id.index.saturating_add(1));
            let start = start_index(from, floor, first_answered, |index| {
                Ok(image.log.contains_key(&index))
            })?;
            let mut page = FeedPage { events: Vec::new(), next: from, last_applied };
            if start > last_applied {
                return Ok(page);
            }
            let end = last_applied.min(start.saturating_add(ENTRIES_PER_READ_MAX - 1));
            for index in start..=end {
                let (Some(entry), Some(response)) = (image.log.get(&index), image.feed.get(&index))
                else {
                    return Err(FeedError::Storage(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "feed: entry {index} is applied but its log entry or answers are missing"
                        ),
                    )));
                };
                entry_events(entry, response, page.next, &mut page.events)?;
                page.next = FeedPosition::entry_start(index.saturating_add(1));
                if page.events.len() >= events_max {
                    break;
                }
            }
            Ok(page)
        })?
    }
}
