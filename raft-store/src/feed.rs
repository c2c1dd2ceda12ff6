//! The change feed's source on a node (issue 16): every committed event, in log order, read
//! from the node's own applied state — a follower serves it as well as the leader.
//!
//! What an entry's events are: its batch's commands (from the Raft log) paired with what
//! applying them answered. The answers are not part of the replicated state, so each store
//! keeps them node-locally beside it: one row per applied entry (`LedgerResponse`, keyed by
//! log index), written in the same atomic write as the entry's ledger writes and last-applied
//! log id (so a row exists for every applied entry a node still retains), trimmed when the
//! log is purged and dropped when a snapshot replaces the state. Neither the state digest nor
//! a snapshot includes them. A node therefore serves positions from the first entry it still
//! has in both its log and its answers; an older position gets `FeedError::NotRetained`.
//!
//! A position is (log index, event index within the entry's batch). Blank and membership
//! entries have no events; a batch refused whole (`BatchError`) has one event per command,
//! each carrying that refusal.

use std::io;

pub use tianping_ledger::feed::{FeedEvent, FeedPosition};

use crate::type_config::{Entry, EntryPayload, LedgerResponse};

/// A page of the feed.
#[derive(Clone, Debug, Default)]
pub struct FeedPage {
    /// Events in log order, each at or after the position asked for.
    pub events: Vec<FeedEvent>,
    /// Where the next read continues.
    pub next: FeedPosition,
    /// The node's last applied log index when the page was read (0 if none): no event past it
    /// can be read yet.
    pub last_applied: u64,
}

/// Why the feed cannot be read from a position.
#[derive(Debug)]
pub enum FeedError {
    /// The node no longer holds the entries (or their answers) from the position asked for:
    /// its log was purged past it, or a snapshot replaced its state.
    NotRetained {
        /// The position asked for.
        requested: FeedPosition,
        /// The oldest position this node can serve.
        oldest: FeedPosition,
    },
    /// A storage read failed or a stored record did not decode.
    Storage(io::Error),
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedError::NotRetained { requested, oldest } => write!(
                f,
                "feed position {requested} is no longer retained on this node; the oldest it \
                 serves is {oldest}: read the ledger state you need (it reflects an applied \
                 index A) and resume from position (A + 1).0, or try another node"
            ),
            FeedError::Storage(error) => write!(f, "reading the feed: {error}"),
        }
    }
}

impl std::error::Error for FeedError {}

impl From<io::Error> for FeedError {
    fn from(error: io::Error) -> Self {
        FeedError::Storage(error)
    }
}

/// A node's feed, readable from any task while the state machine applies (each store's
/// `feed_source` makes one).
pub trait FeedSource: Send + Sync + 'static {
    /// Reads events from `from` on: whole entries, in order, until at least `events_max`
    /// events (the last entry read may add up to one batch more) or the last applied entry.
    /// An empty page means nothing past `from` is applied yet.
    fn read(&self, from: FeedPosition, events_max: usize) -> Result<FeedPage, FeedError>;
}

/// The first log index a read from `from` starts at, or why it cannot: `floor` is the first
/// index after the purged log (0 if it never was), `first_answered` the first entry whose
/// answers the node holds, `in_log` whether the node's log holds an entry. A position below
/// `floor` is gone; one in `[floor, first_answered)` is gone too if the log still holds its
/// entry (a snapshot replaced the answers and the log is not purged yet), and otherwise never
/// existed here (a log that starts later), so the read starts at `first_answered`.
pub(crate) fn start_index(
    from: FeedPosition,
    floor: u64,
    first_answered: u64,
    in_log: impl FnOnce(u64) -> io::Result<bool>,
) -> Result<u64, FeedError> {
    let oldest = FeedPosition::entry_start(floor.max(first_answered));
    if from.log_index < floor {
        return Err(FeedError::NotRetained { requested: from, oldest });
    }
    if from.log_index < first_answered {
        if in_log(from.log_index)? {
            return Err(FeedError::NotRetained { requested: from, oldest });
        }
        return Ok(first_answered);
    }
    Ok(from.log_index)
}

/// Appends the events of entry `entry` (answered `response`) at or after `from` to `out`.
pub(crate) fn entry_events(
    entry: &Entry,
    response: &LedgerResponse,
    from: FeedPosition,
    out: &mut Vec<FeedEvent>,
) -> io::Result<()> {
    let index = entry.log_id.index;
    let EntryPayload::Normal(batch) = &entry.payload else {
        return Ok(());
    };
    if let Ok(results) = response
        && results.len() != batch.commands.len()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "feed: entry {index} has {} commands but {} stored results",
                batch.commands.len(),
                results.len()
            ),
        ));
    }
    for (event_index, command) in batch.commands.iter().enumerate() {
        let event_index = u32::try_from(event_index)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "feed: batch too large"))?;
        let position = FeedPosition { log_index: index, event_index };
        if position < from {
            continue;
        }
        let outcome = match response {
            Ok(results) => Ok(results[event_index as usize].clone()),
            Err(error) => Err(*error),
        };
        out.push(FeedEvent {
            position,
            batch_timestamp: batch.timestamp,
            command: command.clone(),
            outcome,
        });
    }
    Ok(())
}
