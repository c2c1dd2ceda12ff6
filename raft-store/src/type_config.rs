//! The one place that declares Tianping's Raft types: who the nodes are, what a log entry
//! carries and what applying it answers. Every other crate names these aliases, so changing a
//! type here changes it everywhere at once.

use serde::{Deserialize, Serialize};
use tianping_ledger::{Batch, BatchError, EventResult};

/// Where a node is and how to reach it. The region and data center let placement rules (and
/// operators) reason about which failures a membership survives (DESIGN §4: 2 + 2 + 1 voters
/// across three data centers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The region, e.g. `cn-east`.
    pub region: String,
    /// The data center (zone) within the region, e.g. `dc-a`.
    pub data_center: String,
    /// `host:port` of the Raft-internal RPC service.
    pub raft_address: String,
    /// `host:port` of the client API.
    pub api_address: String,
}

impl std::fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} raft={} api={}",
            self.region, self.data_center, self.raft_address, self.api_address
        )
    }
}

/// What applying one log entry answers: one result per command of its batch, in order, or the
/// reason the whole batch was refused. Blank and membership entries answer `Ok(vec![])`.
pub type LedgerResponse = Result<Vec<EventResult>, BatchError>;

/// The openraft runtime outside the simulation.
#[cfg(not(madsim))]
pub type Runtime = openraft_rt_tokio::TokioRuntime;

/// The openraft runtime inside the simulation: the project's own deterministic one
/// (`crate::runtime`, DESIGN "Facts from a feasibility check"); this crate then builds only
/// its memory store.
#[cfg(madsim)]
pub type Runtime = crate::runtime::SimRuntime;

openraft::declare_raft_types!(
    /// Tianping's Raft type configuration: `u64` node ids, `NodeInfo` nodes, and entries that
    /// carry one ledger `Batch` with its leader-assigned timestamp.
    pub TypeConfig:
        D = Batch,
        R = LedgerResponse,
        NodeId = u64,
        Node = NodeInfo,
        // Standard Raft: at most one leader per term, an invariant the simulation's `leaders`
        // checker can hold the cluster to (openraft's default allows several per term).
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
        AsyncRuntime = Runtime,
);

/// A node id.
pub type NodeId = u64;
/// A log id (leader and index).
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// A vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// A log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// A log entry's payload.
pub type EntryPayload = openraft::alias::EntryPayloadOf<TypeConfig>;
/// A membership with the log id that introduced it.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
/// A snapshot's metadata.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// A membership configuration.
pub type Membership = openraft::Membership<NodeId, NodeInfo>;
/// The committed-leader part of a log id.
pub type CommittedLeaderId = openraft::alias::CommittedLeaderIdOf<TypeConfig>;
