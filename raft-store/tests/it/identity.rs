//! Both stores keep a node's identity the same way: absent on a new store, durable once saved
//! (a crash or a reopen keeps it), and beside — not instead of — the Raft state, which
//! `holds_raft_state` reports once a vote or an entry is stored.

use openraft::storage::RaftLogStorage;
use tianping_raft_store::{
    MemoryDisk, RocksConfig, RocksStore, StoreIdentity, StoreWithIdentity, Vote,
};

use crate::support::machine;

fn identity(cluster_id: Option<u128>) -> StoreIdentity {
    StoreIdentity { node_id: 4, incarnation_id: u128::MAX - 1, cluster_id }
}

#[tokio::test]
async fn the_memory_store_keeps_its_identity_through_a_crash() {
    let disk = MemoryDisk::new();
    let (mut log_store, _machine) = disk.open(machine());
    let storage = log_store.identity_storage();
    assert_eq!(storage.read_identity().expect("reads"), None);
    assert!(!storage.holds_raft_state().expect("reads"));
    storage.save_identity(&identity(None)).expect("saves");
    storage.save_identity(&identity(Some(9))).expect("saves");
    assert!(!storage.holds_raft_state().expect("reads"), "an identity is no Raft state");
    log_store.save_vote(&Vote::new(2, 4)).await.expect("a vote");
    assert!(storage.holds_raft_state().expect("reads"));

    disk.crash();
    let (log_store, _machine) = disk.open(machine());
    let storage = log_store.identity_storage();
    assert_eq!(storage.read_identity().expect("reads"), Some(identity(Some(9))));
    assert!(storage.holds_raft_state().expect("reads"), "the vote was synced");

    disk.release();
    let (log_store, _machine) = disk.open(machine());
    assert_eq!(log_store.identity_storage().read_identity().expect("reads"), None);
}

#[tokio::test]
async fn the_rocksdb_store_keeps_its_identity_through_a_reopen() {
    let root = tempfile::tempdir().expect("temporary directory");
    {
        let (mut log_store, _machine) =
            RocksStore::open(root.path(), machine(), RocksConfig::default()).expect("open");
        let storage = log_store.identity_storage();
        assert_eq!(storage.read_identity().expect("reads"), None);
        assert!(!storage.holds_raft_state().expect("reads"));
        storage.save_identity(&identity(Some(9))).expect("saves");
        assert!(!storage.holds_raft_state().expect("reads"), "an identity is no Raft state");
        log_store.save_vote(&Vote::new(2, 4)).await.expect("a vote");
        assert!(storage.holds_raft_state().expect("reads"));
    }
    let (log_store, _machine) =
        RocksStore::open(root.path(), machine(), RocksConfig::default()).expect("reopen");
    let storage = log_store.identity_storage();
    assert_eq!(storage.read_identity().expect("reads"), Some(identity(Some(9))));
    assert!(storage.holds_raft_state().expect("reads"));
}
