//! What the history checkers (`tianping_history`) read from the world besides the replicas: a
//! node's Raft log as its disk holds it, converted to the plain `LogEntry`s
//! `tianping_history::replay` replays, and how far the cluster's commit has gone (the upper
//! bound `tianping_history::checker::balance_reads` holds a read to). Kept apart from the
//! machinery of the world so that file stays about machines, disks and links.

use openraft::async_runtime::watch::WatchReceiver;
use tianping_history::LogEntry;
use tianping_raft_store::EntryPayload;

use super::{World, lock};

impl World {
    /// Every entry of node `node_id`'s live log, in index order, as (index, batch) (empty when
    /// the node is unknown). Read from its disk, which outlives the node: entries at or below
    /// its applied index are committed, so no later truncation changes them. Blank and
    /// membership entries keep their index and carry no batch: the replay needs the index to
    /// see the log has no hole.
    pub fn log_entries(&self, node_id: u64) -> Vec<LogEntry> {
        let entries = self.node(node_id).map(|node| node.disk.log_entries()).unwrap_or_default();
        entries
            .into_iter()
            .map(|entry| LogEntry {
                index: entry.log_id.index,
                batch: match entry.payload {
                    EntryPayload::Normal(batch) => Some(batch),
                    EntryPayload::Blank | EntryPayload::Membership(_) => None,
                },
            })
            .collect()
    }

    /// The highest log index any running node knows to be committed (or has applied) now.
    /// Whatever a running node has applied is at most this; a read answered by a node that
    /// is still running when the answer arrives therefore reflects no entry above it.
    pub fn highest_committed(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|node| !lock(&self.down).contains(&node.id))
            .filter_map(|node| {
                let metrics = self.raft(node.id)?.metrics().borrow_watched().clone();
                let committed = metrics.local_committed.map_or(0, |id| id.index);
                let applied = metrics.last_applied.map_or(0, |id| id.index);
                Some(committed.max(applied))
            })
            .max()
            .unwrap_or(0)
    }
}
