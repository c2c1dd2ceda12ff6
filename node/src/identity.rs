//! Node identity: which cluster a node's store belongs to, checked on every Raft message.
//!
//! A voter whose disk was wiped and that restarts under its old id has lost its vote and its
//! log; if it took part again it could, with one more crash, elect a leader that lacks an
//! acknowledged entry. So (raft-store's `identity`):
//! - every store has an identity: its node id, an incarnation drawn when the store was first
//!   opened, and the cluster it was admitted to — none for a new or wiped store;
//! - a store is admitted to a cluster only by an operator's action: `Initialize` admits every
//!   initial member (this node, then each peer through its `Admit` RPC) before openraft
//!   initializes, and `AddLearner` admits the learner before the leader adds it. `Admit`
//!   accepts a store that holds no Raft state, or one already admitted to the same cluster
//!   (a retry); nothing else;
//! - every Raft message names the sender's cluster and the node it is for (`CLUSTER_ID_HEADER`,
//!   `TARGET_NODE_HEADER`); a node refuses a message for another node, from another cluster,
//!   or any message at all while its store belongs to no cluster. A wiped voter therefore
//!   never votes or accepts entries again under its old id: the operator replaces it
//!   (`tianping cluster replace-node`), a new id on the new disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tianping_raft_store::{IdentityStorage, NodeId, StoreIdentity};

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Status};

/// The metadata header naming the sender's cluster id (32 hex digits) on every Raft message.
pub const CLUSTER_ID_HEADER: &str = "tianping-cluster-id";

/// The metadata header naming the node id a Raft message is for.
pub const TARGET_NODE_HEADER: &str = "tianping-target-node";

/// How the cluster and incarnation ids are spelled in headers, the `Admit` RPC and cluster
/// status: 32 lowercase hex digits, as a UUID is without its dashes.
pub fn id_text(id: u128) -> String {
    format!("{id:032x}")
}

/// The inverse of `id_text`, naming `field` when the text is not an id.
pub fn parse_id(field: &str, text: &str) -> Result<u128, Status> {
    if text.len() != 32 {
        return Err(Status::invalid_argument(format!(
            "{field} must be 32 hex digits, got {text:?}"
        )));
    }
    u128::from_str_radix(text, 16).map_err(|_| {
        Status::invalid_argument(format!("{field} must be 32 hex digits, got {text:?}"))
    })
}

/// Why a node did not start with its store.
#[derive(Debug)]
pub enum IdentityError {
    /// The store could not be read or written.
    Storage(std::io::Error),
    /// The store was made for another node id.
    OtherNode {
        /// The id the node was started with.
        configured: NodeId,
        /// The id the store belongs to.
        stored: NodeId,
    },
    /// The store holds Raft state but no identity: written by a build before identities.
    Unidentified,
}

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityError::Storage(error) => write!(f, "reading the store's identity: {error}"),
            IdentityError::OtherNode { configured, stored } => write!(
                f,
                "the store belongs to node {stored}, not to node {configured}: a data directory \
                 is never shared or renamed between node ids"
            ),
            IdentityError::Unidentified => write!(
                f,
                "the store holds Raft state but no identity (it was written by an older \
                 build): restore it into a new cluster from a backup"
            ),
        }
    }
}

impl std::error::Error for IdentityError {}

/// A node's identity, shared by the Raft transport (both sides), the admin service and status.
#[derive(Debug)]
pub struct NodeIdentity {
    node_id: NodeId,
    storage: Arc<dyn IdentityStorage>,
    current: Mutex<StoreIdentity>,
    /// Raft messages refused because this store belongs to no cluster; the first is logged.
    refused_unadmitted: AtomicU64,
    /// Where a new cluster's id is drawn (`admission::initialize`).
    random_ids: RandomIds,
}

impl NodeIdentity {
    /// Reads the store's identity, or gives a store opened for the first time one (with
    /// `new_incarnation`'s id and no cluster).
    pub fn open(
        node_id: NodeId,
        storage: Arc<dyn IdentityStorage>,
        random_ids: RandomIds,
    ) -> Result<Arc<NodeIdentity>, IdentityError> {
        let identity = match storage.read_identity().map_err(IdentityError::Storage)? {
            Some(stored) if stored.node_id != node_id => {
                return Err(IdentityError::OtherNode {
                    configured: node_id,
                    stored: stored.node_id,
                });
            }
            Some(stored) => stored,
            None => {
                if storage.holds_raft_state().map_err(IdentityError::Storage)? {
                    return Err(IdentityError::Unidentified);
                }
                let incarnation_id = new_random_id(random_ids).map_err(IdentityError::Storage)?;
                let fresh = StoreIdentity { node_id, incarnation_id, cluster_id: None };
                storage.save_identity(&fresh).map_err(IdentityError::Storage)?;
                tracing::info!(
                    node_id,
                    incarnation_id = %id_text(fresh.incarnation_id),
                    "new store: it belongs to no cluster until an Initialize or AddLearner admits it"
                );
                fresh
            }
        };
        Ok(Arc::new(NodeIdentity {
            node_id,
            storage,
            current: Mutex::new(identity),
            refused_unadmitted: AtomicU64::new(0),
            random_ids,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, StoreIdentity> {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The cluster this node's store was admitted to, if any.
    pub fn cluster_id(&self) -> Option<u128> {
        self.lock().cluster_id
    }

    /// A new random id for a cluster this node initializes.
    pub(crate) fn new_cluster_id(&self) -> std::io::Result<u128> {
        new_random_id(self.random_ids)
    }

    /// Whether this node's store holds Raft state (it has been part of a cluster).
    pub fn holds_raft_state(&self) -> Result<bool, Status> {
        self.storage.holds_raft_state().map_err(storage_status)
    }

    /// This store's incarnation.
    pub fn incarnation_id(&self) -> u128 {
        self.lock().incarnation_id
    }

    /// Admits this node's store to `cluster_id`: a store holding no Raft state (a new one) or
    /// one admitted to the same cluster already (a retry). Durable before it answers.
    pub fn admit(&self, cluster_id: u128) -> Result<StoreIdentity, Status> {
        let mut current = self.lock();
        if current.cluster_id == Some(cluster_id) {
            return Ok(*current);
        }
        if self.storage.holds_raft_state().map_err(storage_status)? {
            let belongs = current.cluster_id.map_or("an unknown cluster".to_owned(), |admitted| {
                format!("cluster {}", id_text(admitted))
            });
            return Err(Status::failed_precondition(format!(
                "node {} holds the Raft state of {belongs}; it cannot join cluster {}",
                self.node_id,
                id_text(cluster_id)
            )));
        }
        let admitted = StoreIdentity { cluster_id: Some(cluster_id), ..*current };
        self.storage.save_identity(&admitted).map_err(storage_status)?;
        *current = admitted;
        tracing::info!(
            node_id = self.node_id,
            cluster_id = %id_text(cluster_id),
            incarnation_id = %id_text(admitted.incarnation_id),
            "store admitted to the cluster"
        );
        Ok(admitted)
    }

    /// Puts this node's cluster id and the target's node id on an outgoing Raft message.
    pub(crate) fn stamp<T>(&self, target: NodeId, request: &mut Request<T>) {
        let metadata = request.metadata_mut();
        if let Some(cluster_id) = self.cluster_id()
            && let Ok(value) = MetadataValue::try_from(id_text(cluster_id))
        {
            metadata.insert(CLUSTER_ID_HEADER, value);
        }
        metadata.insert(TARGET_NODE_HEADER, MetadataValue::from(target));
    }

    /// Refuses an incoming Raft message unless it is for this node and from this node's
    /// cluster, and this node's store was admitted to one.
    pub(crate) fn check(&self, metadata: &MetadataMap) -> Result<(), Status> {
        // PLANTED BUG `forget-identity`: every message is taken, whichever cluster it names
        // and whatever this store is — a voter back on a blank disk votes again.
        #[cfg(feature = "planted-bugs")]
        if tianping_raft_store::planted::active(
            tianping_raft_store::planted::PlantedBug::ForgetIdentity,
        ) {
            return Ok(());
        }
        let target = header(metadata, TARGET_NODE_HEADER)?;
        if target.parse::<NodeId>().ok() != Some(self.node_id) {
            return Err(Status::failed_precondition(format!(
                "this Raft message is for node {target}, but this is node {}: the sender's \
                 membership names a stale address",
                self.node_id
            )));
        }
        let theirs = parse_id(CLUSTER_ID_HEADER, header(metadata, CLUSTER_ID_HEADER)?)?;
        match self.cluster_id() {
            Some(ours) if ours == theirs => Ok(()),
            Some(ours) => Err(Status::failed_precondition(format!(
                "node {} belongs to cluster {}, not to cluster {}",
                self.node_id,
                id_text(ours),
                id_text(theirs)
            ))),
            None => {
                let message = format!(
                    "node {} has a store that belongs to no cluster, yet cluster {} addresses it \
                     as a member: its disk was wiped or replaced. A node never rejoins under its \
                     old id with an empty store; start it under a new id and run `tianping \
                     cluster replace-node --old {} --new <NEW_ID>` (after `tianping cluster \
                     add-learner` of the new id)",
                    self.node_id,
                    id_text(theirs),
                    self.node_id
                );
                if self.refused_unadmitted.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::error!(node_id = self.node_id, "{message}");
                }
                Err(Status::failed_precondition(message))
            }
        }
    }
}

fn header<'a>(metadata: &'a MetadataMap, name: &str) -> Result<&'a str, Status> {
    metadata.get(name).and_then(|value| value.to_str().ok()).ok_or_else(|| {
        Status::failed_precondition(format!(
            "a Raft message without the {name} header: the sender is not a node of this build"
        ))
    })
}

fn storage_status(error: std::io::Error) -> Status {
    Status::internal(format!("the store's identity: {error}"))
}

/// A source of random 128-bit ids (may be 0; `new_random_id` draws again then), given by the
/// node's environment: the operating system natively, the simulator's seed under madsim.
pub type RandomIds = fn() -> std::io::Result<u128>;

/// A random 128-bit id for an incarnation or a cluster, never 0, from `source`.
pub(crate) fn new_random_id(source: RandomIds) -> std::io::Result<u128> {
    loop {
        let id = source()?;
        if id != 0 {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use tianping_ledger::{LedgerConfig, StateMachine};
    use tianping_raft_store::{MemoryDisk, StoreWithIdentity};
    use tonic::Code;

    use super::*;

    /// The incarnation the next store opened in this test thread draws.
    fn next_incarnation() -> std::io::Result<u128> {
        Ok(NEXT_INCARNATION.with(std::cell::Cell::get))
    }

    thread_local! {
        static NEXT_INCARNATION: std::cell::Cell<u128> = const { std::cell::Cell::new(1) };
    }

    fn open_on(disk: &MemoryDisk, node_id: NodeId, incarnation: u128) -> Arc<NodeIdentity> {
        NEXT_INCARNATION.with(|next| next.set(incarnation));
        let machine = StateMachine::new(LedgerConfig::default()).expect("default config");
        let (log_store, _state_machine) = disk.open(machine);
        NodeIdentity::open(node_id, log_store.identity_storage(), next_incarnation)
            .expect("the store opens")
    }

    fn message(cluster_id: Option<u128>, target: NodeId) -> Request<()> {
        let mut request = Request::new(());
        if let Some(cluster_id) = cluster_id {
            let value = MetadataValue::try_from(id_text(cluster_id)).expect("ascii");
            request.metadata_mut().insert(CLUSTER_ID_HEADER, value);
        }
        request.metadata_mut().insert(TARGET_NODE_HEADER, MetadataValue::from(target));
        request
    }

    #[test]
    fn a_new_store_belongs_to_no_cluster_and_refuses_raft_messages_until_admitted() {
        let disk = MemoryDisk::new();
        let identity = open_on(&disk, 3, 77);
        assert_eq!((identity.cluster_id(), identity.incarnation_id()), (None, 77));
        let refused = identity.check(message(Some(5), 3).metadata()).expect_err("not admitted");
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert!(refused.message().contains("replace-node"), "{}", refused.message());

        identity.admit(5).expect("a blank store is admitted");
        identity.check(message(Some(5), 3).metadata()).expect("its cluster's message");
        let other = identity.check(message(Some(6), 3).metadata()).expect_err("another cluster");
        assert!(other.message().contains("belongs to cluster"), "{}", other.message());
        let misrouted = identity.check(message(Some(5), 4).metadata()).expect_err("node 4's");
        assert!(misrouted.message().contains("for node 4"), "{}", misrouted.message());
        let unnamed = identity.check(message(None, 3).metadata()).expect_err("no cluster id");
        assert!(unnamed.message().contains(CLUSTER_ID_HEADER), "{}", unnamed.message());

        // What it was admitted to survives a crash and a reopen; its incarnation too.
        disk.crash();
        let reopened = open_on(&disk, 3, 99);
        assert_eq!((reopened.cluster_id(), reopened.incarnation_id()), (Some(5), 77));
        assert_eq!(reopened.admit(5).expect("a retry").cluster_id, Some(5));
    }

    #[test]
    fn a_wiped_disk_is_a_new_incarnation_of_no_cluster() {
        let disk = MemoryDisk::new();
        open_on(&disk, 2, 10).admit(8).expect("admitted");
        disk.crash();
        disk.release();
        let blank = open_on(&disk, 2, 11);
        assert_eq!((blank.cluster_id(), blank.incarnation_id()), (None, 11));
        assert!(blank.check(message(Some(8), 2).metadata()).is_err());
    }

    #[test]
    fn a_store_is_never_taken_by_another_node_id() {
        let disk = MemoryDisk::new();
        open_on(&disk, 2, 10);
        let machine = StateMachine::new(LedgerConfig::default()).expect("default config");
        let (log_store, _state_machine) = disk.open(machine);
        let refused = NodeIdentity::open(5, log_store.identity_storage(), next_incarnation)
            .expect_err("node 2's store");
        assert!(matches!(refused, IdentityError::OtherNode { configured: 5, stored: 2 }));
    }

    /// A store that took part in a cluster (here: it saved a vote) is never admitted to
    /// another, and one with Raft state but no identity (an older build's) does not open.
    #[cfg(not(madsim))]
    #[tokio::test]
    async fn a_store_with_raft_state_keeps_its_cluster() {
        use openraft::storage::RaftLogStorage;
        use tianping_raft_store::Vote;

        let disk = MemoryDisk::new();
        let identity = open_on(&disk, 1, 10);
        identity.admit(8).expect("admitted");
        let machine = StateMachine::new(LedgerConfig::default()).expect("default config");
        let (mut log_store, _state_machine) = disk.open(machine);
        log_store.save_vote(&Vote::new(3, 1)).await.expect("a vote");
        let identity = open_on(&disk, 1, 11);
        let refused = identity.admit(9).expect_err("it holds cluster 8's state");
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert!(refused.message().contains("cannot join"), "{}", refused.message());

        let older = MemoryDisk::new();
        let machine = StateMachine::new(LedgerConfig::default()).expect("default config");
        let (mut log_store, _state_machine) = older.open(machine);
        log_store.save_vote(&Vote::new(3, 1)).await.expect("a vote");
        let refused = NodeIdentity::open(1, log_store.identity_storage(), next_incarnation)
            .expect_err("state but no identity");
        assert!(matches!(refused, IdentityError::Unidentified), "{refused}");
    }

    #[test]
    fn ids_are_spelled_as_32_hex_digits_and_read_back() {
        let id = 0x0123_4567_89ab_cdef_0011_2233_4455_6677_u128;
        assert_eq!(id_text(id), "0123456789abcdef0011223344556677");
        assert_eq!(parse_id("cluster_id", &id_text(id)).expect("parses"), id);
        assert!(parse_id("cluster_id", "12").is_err());
        assert!(parse_id("cluster_id", &"g".repeat(32)).is_err());
    }
}
