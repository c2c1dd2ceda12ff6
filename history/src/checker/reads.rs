//! Reads are linearizable: every read-back of a transfer the client had been acknowledged
//! before the read started (`history::ReadBack`) found it, whichever node answered. A node
//! that answers from a replica behind the commit — a lagging follower without ReadIndex, or
//! a deposed leader — misses it.

use crate::history::History;

/// Violations: read-backs that did not find their acknowledged transfer.
pub fn check(history: &History) -> Vec<String> {
    history
        .reads
        .iter()
        .filter(|read| !read.found)
        .map(|read| {
            format!(
                "stale read: transfer {} acknowledged at log index {} was missing from a linearizable read on node {} (answered at applied index {})",
                read.transfer_id, read.acked_index, read.node_id, read.applied_index
            )
        })
        .collect()
}
