//! What the history checkers read from the world besides the replicas: a node's Raft log as
//! its disk holds it (`checker::replay` replays it), and how far the cluster's commit has
//! gone (the upper bound `checker::balance_reads` holds a read to). Kept apart from the
//! machinery of the world so that file stays about machines, disks and links.

use openraft::async_runtime::watch::WatchReceiver;
use tianping_raft_store::Entry;

use super::{World, lock};

impl World {
    /// Every entry of node `node_id`'s live log, in index order (empty when the node is
    /// unknown). Read from its disk, which outlives the node: entries at or below its applied
    /// index are committed, so no later truncation changes them.
    pub fn log_entries(&self, node_id: u64) -> Vec<Entry> {
        self.node(node_id).map(|node| node.disk.log_entries()).unwrap_or_default()
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
