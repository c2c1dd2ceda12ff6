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

#[cfg(test)]
mod tests {
    use super::check;
    use crate::history::{History, ReadBack};
    use crate::testing::assert_one;

    #[test]
    fn a_read_back_that_missed_its_acknowledged_transfer_fails() {
        let read = |found| ReadBack {
            transfer_id: 10,
            acked_index: 7,
            node_id: 3,
            applied_index: 6,
            found,
        };
        let mut history = History { reads: vec![read(true)], ..History::default() };
        assert_eq!(check(&history), Vec::<String>::new());
        history.reads.push(read(false));
        assert_one(
            &check(&history),
            "transfer 10 acknowledged at log index 7 was missing from a linearizable read on node 3",
        );
    }
}
