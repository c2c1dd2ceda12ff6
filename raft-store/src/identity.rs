//! Who a store belongs to: its node id, the cluster it was admitted to, and a random id of this
//! very disk (the incarnation).
//!
//! A voter's vote and log are its promise to the cluster. A voter whose disk is wiped and that
//! comes back under the same id has forgotten that promise: with one more crash it can vote a
//! leader in that lacks an acknowledged entry. So a store remembers whom it belongs to, a node
//! takes part in a cluster's Raft traffic only once an operator's action (initializing the
//! cluster, adding the node as a learner) admitted its store to that cluster, and an empty
//! store is never admitted silently: it belongs to no cluster, and the node refuses every Raft
//! message until it is (`tianping_node`'s `identity`).
//!
//! The identity is written once when a store is first opened (node id, a fresh incarnation, no
//! cluster) and once more when the store is admitted; both writes are durable when they
//! return. Its bytes carry their own version (`IDENTITY_FORMAT_VERSION`).

use std::io;

use serde::{Deserialize, Serialize};
use tianping_ledger::format::FormatError;

use crate::format::{decode_versioned, encode_versioned, format_error};
use crate::type_config::NodeId;

/// The stored identity's format: version 1 is the postcard encoding of `StoreIdentity`.
pub const IDENTITY_FORMAT_VERSION: u8 = 1;

/// Whom a store belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreIdentity {
    /// The node the store was made for; a node started with another id refuses the store.
    pub node_id: NodeId,
    /// Drawn when the store was first opened: a new disk under an old node id shows as a new
    /// incarnation.
    pub incarnation_id: u128,
    /// The cluster the store was admitted to; none until an operator's action admits it.
    pub cluster_id: Option<u128>,
}

/// Where a store keeps its identity, for the node to read and update beside openraft (which
/// owns the log store itself).
pub trait IdentityStorage: Send + Sync + std::fmt::Debug {
    /// The stored identity; none for a store opened for the first time.
    fn read_identity(&self) -> io::Result<Option<StoreIdentity>>;

    /// Replaces the stored identity; durable when it returns.
    fn save_identity(&self, identity: &StoreIdentity) -> io::Result<()>;

    /// Whether the store holds any Raft state (a vote, log entries, a purge mark, applied
    /// entries or a snapshot): such a store has been part of a cluster.
    fn holds_raft_state(&self) -> io::Result<bool>;
}

/// A log store that keeps its node's identity beside the log (both stores do).
pub trait StoreWithIdentity {
    /// The store's identity, which the node reads and updates beside openraft (which owns
    /// the log store itself).
    fn identity_storage(&self) -> std::sync::Arc<dyn IdentityStorage>;
}

/// The identity's stored bytes (the RocksDB store's; the memory store keeps the value).
#[cfg_attr(madsim, allow(dead_code))]
pub(crate) fn encode_identity(identity: &StoreIdentity) -> io::Result<Vec<u8>> {
    encode_versioned(identity, "store identity", IDENTITY_FORMAT_VERSION)
}

/// The inverse of `encode_identity`.
#[cfg_attr(madsim, allow(dead_code))]
pub(crate) fn decode_identity(bytes: &[u8]) -> io::Result<StoreIdentity> {
    decode_versioned(bytes, "store identity", IDENTITY_FORMAT_VERSION)
        .map_err(|error: FormatError| format_error(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_survives_its_encoding_and_carries_its_version() {
        let identity =
            StoreIdentity { node_id: 7, incarnation_id: u128::MAX - 3, cluster_id: Some(42) };
        let bytes = encode_identity(&identity).expect("encodes");
        assert_eq!(bytes[0], IDENTITY_FORMAT_VERSION);
        assert_eq!(decode_identity(&bytes).expect("decodes"), identity);
        let mut newer = bytes;
        newer[0] = IDENTITY_FORMAT_VERSION + 1;
        let refused = decode_identity(&newer).expect_err("a newer format is refused");
        assert!(refused.to_string().contains("store identity"), "{refused}");
    }
}
