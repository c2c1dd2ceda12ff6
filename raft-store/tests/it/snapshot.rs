//! Snapshots stream in bounded chunks between stores of either kind, and a receiver refuses a
//! stream that was cut short, reordered or corrupted before it touches any state.

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use tempfile::TempDir;
use tianping_raft_store::{
    MemoryDisk, RaftSnapshot, RocksConfig, RocksStore, SNAPSHOT_CHUNK_BYTES_MAX, SnapshotData,
    SnapshotWriter,
};

use crate::support::{apply, machine, replay_digest, workload_entry};

const ENTRIES: u64 = 12;
const TRANSFERS_PER_ENTRY: u64 = 1_000;

fn small_config() -> RocksConfig {
    RocksConfig {
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 4 << 20,
        ..RocksConfig::default()
    }
}

fn chunks_of(data: &SnapshotData) -> Vec<Vec<u8>> {
    let mut reader = data.reader();
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk().expect("chunk reads") {
        chunks.push(chunk);
    }
    chunks
}

/// Sends `chunks` through a receiver the way a network would, one at a time.
fn receive(chunks: &[Vec<u8>]) -> std::io::Result<SnapshotData> {
    let mut writer = SnapshotWriter::in_memory();
    for chunk in chunks {
        writer.write_chunk(chunk)?;
    }
    writer.finish()
}

async fn rocks_leader_snapshot(root: &TempDir) -> (RaftSnapshot, tianping_ledger::StateDigest) {
    let (_log_store, mut state_machine) =
        RocksStore::open(root.path(), machine(), small_config()).expect("open");
    let entries: Vec<_> =
        (1..=ENTRIES).map(|index| workload_entry(index, TRANSFERS_PER_ENTRY)).collect();
    apply(&mut state_machine, entries.clone()).await.expect("apply");
    let mut builder = state_machine.get_snapshot_builder().await;
    // Writes go on while the builder works from its checkpoint.
    let later = workload_entry(ENTRIES + 1, TRANSFERS_PER_ENTRY);
    apply(&mut state_machine, vec![later]).await.expect("apply after the checkpoint");
    let snapshot = builder.build_snapshot().await.expect("snapshot builds");
    assert_eq!(
        snapshot.meta.last_log_id.as_ref().map(|id| id.index),
        Some(ENTRIES),
        "snapshot is of the checkpoint"
    );
    (snapshot, replay_digest(None, &entries))
}

#[tokio::test]
async fn rocks_snapshot_streams_in_bounded_chunks_to_both_stores() {
    let root = TempDir::new().expect("temporary directory");
    let (snapshot, expected) = rocks_leader_snapshot(&root).await;
    assert_eq!(snapshot.snapshot.digest(), expected);
    let chunks = chunks_of(&snapshot.snapshot);
    assert!(chunks.len() >= 3, "several chunks, got {}", chunks.len());
    assert!(chunks.iter().all(|chunk| chunk.len() <= SNAPSHOT_CHUNK_BYTES_MAX));
    let received = receive(&chunks).expect("a complete stream is accepted");

    let (_log_store, mut memory) = MemoryDisk::new().open(machine());
    memory.install_snapshot(&snapshot.meta, received.clone()).await.expect("memory install");
    assert_eq!(memory.state_digest().expect("digest"), expected);
    assert_eq!(memory.applied_state().await.expect("state").0, snapshot.meta.last_log_id);

    let follower_root = TempDir::new().expect("temporary directory");
    let (_log_store, mut rocks) =
        RocksStore::open(follower_root.path(), machine(), small_config()).expect("open");
    rocks.install_snapshot(&snapshot.meta, received).await.expect("rocks install");
    assert_eq!(rocks.state_digest().expect("digest"), expected);

    // And back: the memory store's snapshot of that state has the same digest and installs
    // on RocksDB.
    let memory_snapshot =
        memory.get_snapshot_builder().await.build_snapshot().await.expect("builds");
    assert_eq!(memory_snapshot.snapshot.digest(), expected);
    let other_root = TempDir::new().expect("temporary directory");
    let (_log_store, mut other) =
        RocksStore::open(other_root.path(), machine(), small_config()).expect("open");
    other.install_snapshot(&memory_snapshot.meta, memory_snapshot.snapshot).await.expect("install");
    assert_eq!(other.state_digest().expect("digest"), expected);
}

#[tokio::test]
async fn a_damaged_snapshot_stream_is_refused() {
    let root = TempDir::new().expect("temporary directory");
    let (snapshot, _) = rocks_leader_snapshot(&root).await;
    let chunks = chunks_of(&snapshot.snapshot);

    let cut_short = &chunks[..chunks.len() - 1];
    assert!(receive(cut_short).is_err(), "missing trailer");

    let mut missing_middle = chunks.clone();
    missing_middle.remove(1);
    assert!(receive(&missing_middle).is_err(), "missing chunk");

    let mut reordered = chunks.clone();
    reordered.swap(0, 1);
    assert!(receive(&reordered).is_err(), "reordered chunks");

    let mut corrupted = chunks.clone();
    let middle = corrupted[1].len() / 2;
    corrupted[1][middle] ^= 0x01;
    assert!(receive(&corrupted).is_err(), "flipped bit");

    let oversized = vec![vec![0u8; SNAPSHOT_CHUNK_BYTES_MAX + 1]];
    assert!(receive(&oversized).is_err(), "chunk over the bound");
}
