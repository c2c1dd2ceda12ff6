//! What a drill reads from the cluster's nodes, as plain data: a replica's state at one
//! applied index, and the entries of a node's Raft log. The simulation reads them from its
//! madsim nodes and `MemoryDisk`s; a real-process drill would read them from a node's state
//! and log. Neither openraft's nor a store's types appear here, so the checkers judge both
//! alike.

use tianping_ledger::{Batch, MemoryStore, StateDigest};

/// A node's replica as read at one instant: its applied index, its digest and its ledger,
/// read together so the three belong to the same state.
#[derive(Clone, Debug)]
pub struct Replica {
    /// The node.
    pub node_id: u64,
    /// Last applied log index (0 when nothing applied).
    pub applied: u64,
    /// The ledger state digest (`tianping_ledger::state_digest` of `ledger`): what replicas at
    /// one applied index must share, and what the replay must reproduce.
    pub digest: StateDigest,
    /// A copy of the ledger: the invariants and the acknowledgements are checked on it.
    pub ledger: MemoryStore,
}

/// One entry of a node's Raft log, as far as the ledger is concerned: its index and, for a
/// normal entry, the batch it carries (`None`: a blank or membership entry, which changes no
/// ledger state). The committed log is a run of these from index 0 or 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's log index.
    pub index: u64,
    /// The batch a normal entry carries (with its leader-assigned timestamp).
    pub batch: Option<Batch>,
}
