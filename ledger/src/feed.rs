//! The change feed's vocabulary (issue 16), shared by the node that serves the feed and the
//! SDK that reads it: where an event is (`FeedPosition`) and what it is (`FeedEvent`: the
//! command as logged and what applying it answered). Plain data; the ledger never produces a
//! feed itself (nodes do, from their log and their stored answers).

use serde::{Deserialize, Serialize};

use crate::command::{BatchError, Command, EventResult};

/// Where an event is in the feed: the log index of its entry and its index in the entry's
/// batch. Ordered as the log is: a consumer stores the last one it handled and resumes from
/// its `next`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct FeedPosition {
    /// The Raft log index of the entry.
    pub log_index: u64,
    /// The event's index in the entry's batch.
    pub event_index: u32,
}

impl FeedPosition {
    /// The position right after this one (the next event of the same entry, or the start of
    /// the next entry if there is none: readers skip past an entry's end).
    pub fn next(self) -> FeedPosition {
        match self.event_index.checked_add(1) {
            Some(event_index) => FeedPosition { log_index: self.log_index, event_index },
            None => FeedPosition { log_index: self.log_index.saturating_add(1), event_index: 0 },
        }
    }

    /// The first position of entry `log_index`.
    pub fn entry_start(log_index: u64) -> FeedPosition {
        FeedPosition { log_index, event_index: 0 }
    }
}

impl std::fmt::Display for FeedPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.log_index, self.event_index)
    }
}

/// One committed event: the command as it was logged and what applying it answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEvent {
    /// Where it is in the feed.
    pub position: FeedPosition,
    /// The entry's batch timestamp (leader-assigned, nanoseconds since the Unix epoch).
    pub batch_timestamp: u64,
    /// The command.
    pub command: Command,
    /// Its result, or the refusal of its whole batch.
    pub outcome: Result<EventResult, BatchError>,
}
