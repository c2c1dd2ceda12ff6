//! Crash tests of the memory store: a crash at any point, keeping any prefix of the unsynced
//! writes, reopens to a state whose digest equals a fresh replay of the log it kept, and
//! never loses an entry whose flush was reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::RaftLogReader;
use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use tianping_raft_store::{CrashPoint, Entry, MemoryDisk, MemoryLogStore, MemoryStateMachine};

use crate::support::{append_acknowledged, apply, machine, replay_digest, workload_entry};

const ENTRIES: u64 = 8;
const TRANSFERS_PER_ENTRY: u64 = 20;

/// Crashes `disk` the `nth` time (1-based) the stores pass `point`.
fn crash_at(disk: &MemoryDisk, point: CrashPoint, nth: u64) {
    let passes = Arc::new(AtomicU64::new(0));
    let crashed = disk.clone();
    disk.set_crash_hook(Some(Arc::new(move |reached| {
        if reached == point && passes.fetch_add(1, Ordering::SeqCst) + 1 == nth {
            crashed.crash();
        }
    })));
}

async fn log_entries(log_store: &mut MemoryLogStore) -> Vec<Entry> {
    log_store.get_log_reader().await.try_get_log_entries(..).await.expect("log reads")
}

/// Checks the restarted node: its state is exactly the replay of its snapshot plus its log up
/// to its last-applied entry.
async fn assert_state_is_replay_of_log(
    log_store: &mut MemoryLogStore,
    state_machine: &mut MemoryStateMachine,
) {
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    let snapshot = state_machine.get_current_snapshot().await.expect("snapshot reads");
    let snapshot_index =
        snapshot.as_ref().and_then(|s| s.meta.last_log_id.as_ref()).map(|id| id.index);
    let applied_index = applied.map(|id| id.index);
    let replayed: Vec<Entry> = log_entries(log_store)
        .await
        .into_iter()
        .filter(|entry| {
            Some(entry.log_id.index) > snapshot_index && Some(entry.log_id.index) <= applied_index
        })
        .collect();
    if let (Some(first), Some(snapshot_index)) = (replayed.first(), snapshot_index) {
        assert_eq!(first.log_id.index, snapshot_index + 1, "log continues the snapshot");
    }
    let expected = replay_digest(snapshot.as_ref().map(|s| &s.snapshot), &replayed);
    assert_eq!(
        state_machine.state_digest().expect("digest"),
        expected,
        "state differs from a replay of the log"
    );
}

/// Appends and applies entries one by one as a follower would; returns the acknowledged ones.
async fn append_and_apply(
    log_store: &mut MemoryLogStore,
    state_machine: &mut MemoryStateMachine,
) -> Vec<u64> {
    let mut acknowledged = Vec::new();
    for index in 1..=ENTRIES {
        let entry = workload_entry(index, TRANSFERS_PER_ENTRY);
        if !append_acknowledged(log_store, vec![entry.clone()]).await {
            break;
        }
        acknowledged.push(index);
        if apply(state_machine, vec![entry]).await.is_err() {
            break;
        }
    }
    acknowledged
}

#[tokio::test]
async fn crash_between_append_and_flush_keeps_every_acknowledged_entry() {
    for nth in 1..=ENTRIES {
        let disk = MemoryDisk::new();
        crash_at(&disk, CrashPoint::AppendWritten, nth);
        let (mut log_store, mut state_machine) = disk.open(machine());
        let acknowledged = append_and_apply(&mut log_store, &mut state_machine).await;

        disk.set_crash_hook(None);
        let (mut log_store, mut state_machine) = disk.open(machine());
        let present: Vec<u64> =
            log_entries(&mut log_store).await.iter().map(|e| e.log_id.index).collect();
        for index in &acknowledged {
            assert!(
                present.contains(index),
                "crash at append {nth}: acknowledged entry {index} lost"
            );
        }
        assert_eq!(
            present,
            (1..nth).collect::<Vec<_>>(),
            "crash at append {nth}: unsynced entry survived"
        );
        assert_state_is_replay_of_log(&mut log_store, &mut state_machine).await;
    }
}

#[tokio::test]
async fn crash_between_apply_and_its_write_reopens_to_a_replay_of_the_log() {
    for nth in 1..=ENTRIES {
        let disk = MemoryDisk::new();
        crash_at(&disk, CrashPoint::ApplyComputed, nth);
        let (mut log_store, mut state_machine) = disk.open(machine());
        append_and_apply(&mut log_store, &mut state_machine).await;

        disk.set_crash_hook(None);
        let (mut log_store, mut state_machine) = disk.open(machine());
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        // Entry `nth - 1`'s writes became durable with entry `nth`'s synced append.
        assert_eq!(
            applied.map(|id| id.index),
            (nth > 1).then_some(nth - 1),
            "crash at apply {nth}"
        );
        assert_state_is_replay_of_log(&mut log_store, &mut state_machine).await;
    }
}

/// Appends every entry (synced), then applies them all and saves the committed id (unsynced):
/// a crash may keep any prefix of those unsynced writes.
async fn unsynced_tail(disk: &MemoryDisk) {
    let (mut log_store, mut state_machine) = disk.open(machine());
    let entries: Vec<Entry> =
        (1..=ENTRIES).map(|index| workload_entry(index, TRANSFERS_PER_ENTRY)).collect();
    assert!(append_acknowledged(&mut log_store, entries.clone()).await);
    for entry in entries {
        apply(&mut state_machine, vec![entry]).await.expect("apply");
    }
    log_store.save_committed(Some(crate::support::log_id(1, ENTRIES))).await.expect("committed");
}

#[tokio::test]
async fn crash_keeping_any_prefix_of_unsynced_writes_reopens_consistently() {
    let probe = MemoryDisk::new();
    unsynced_tail(&probe).await;
    let unsynced = probe.unsynced_write_count();
    assert_eq!(unsynced as u64, ENTRIES + 1, "one write per applied entry plus the committed id");
    for kept in 0..=unsynced {
        let disk = MemoryDisk::new();
        unsynced_tail(&disk).await;
        disk.crash_keeping(kept);
        let (mut log_store, mut state_machine) = disk.open(machine());
        assert_eq!(log_entries(&mut log_store).await.len() as u64, ENTRIES, "synced log survives");
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        assert_eq!(applied.map(|id| id.index).unwrap_or(0), (kept as u64).min(ENTRIES));
        assert_state_is_replay_of_log(&mut log_store, &mut state_machine).await;
    }
}

/// A leader with every entry applied and a snapshot of it.
async fn leader_snapshot() -> tianping_raft_store::RaftSnapshot {
    let (mut log_store, mut state_machine) = MemoryDisk::new().open(machine());
    append_and_apply(&mut log_store, &mut state_machine).await;
    let mut builder = state_machine.get_snapshot_builder().await;
    builder.build_snapshot().await.expect("snapshot builds")
}

#[tokio::test]
async fn crash_during_snapshot_install_leaves_the_old_state_and_a_finished_install_survives() {
    let snapshot = leader_snapshot().await;
    let disk = MemoryDisk::new();
    {
        let (mut log_store, mut state_machine) = disk.open(machine());
        for index in 1..=3 {
            let entry = workload_entry(index, TRANSFERS_PER_ENTRY);
            assert!(append_acknowledged(&mut log_store, vec![entry.clone()]).await);
            apply(&mut state_machine, vec![entry]).await.expect("apply");
        }
        crash_at(&disk, CrashPoint::SnapshotInstallChunkWritten, 1);
        let installed =
            state_machine.install_snapshot(&snapshot.meta, snapshot.snapshot.clone()).await;
        assert!(installed.is_err(), "the crash interrupts the installation");
    }
    disk.set_crash_hook(None);
    let (mut log_store, mut state_machine) = disk.open(machine());
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    // Entry 3's apply was never synced; entries 1 and 2 were, by the appends after them.
    assert_eq!(applied.map(|id| id.index), Some(2), "old state kept");
    assert!(state_machine.get_current_snapshot().await.expect("reads").is_none());
    assert_state_is_replay_of_log(&mut log_store, &mut state_machine).await;

    state_machine
        .install_snapshot(&snapshot.meta, snapshot.snapshot.clone())
        .await
        .expect("install");
    disk.crash();
    let (mut log_store, mut state_machine) = disk.open(machine());
    let (applied, membership) = state_machine.applied_state().await.expect("applied state");
    assert_eq!(applied, snapshot.meta.last_log_id);
    assert_eq!(membership, snapshot.meta.last_membership);
    assert_eq!(state_machine.state_digest().expect("digest"), snapshot.snapshot.digest());
    log_store.purge(crate::support::log_id(1, 3)).await.expect("purge");
    assert_state_is_replay_of_log(&mut log_store, &mut state_machine).await;
}

#[tokio::test]
async fn purged_log_and_crash_replay_from_the_snapshot() {
    let disk = MemoryDisk::new();
    let (mut log_store, mut state_machine) = disk.open(machine());
    append_and_apply(&mut log_store, &mut state_machine).await;
    let mut builder = state_machine.get_snapshot_builder().await;
    let snapshot = builder.build_snapshot().await.expect("snapshot builds");
    let purged = snapshot.meta.last_log_id.expect("snapshot covers entries");
    log_store.purge(purged).await.expect("purge");
    // More entries after the snapshot, applied but not synced by any later append.
    let extra = workload_entry(ENTRIES + 1, TRANSFERS_PER_ENTRY);
    assert!(append_acknowledged(&mut log_store, vec![extra.clone()]).await);
    apply(&mut state_machine, vec![extra]).await.expect("apply");
    disk.crash();

    let (mut log_store, mut state_machine) = disk.open(machine());
    let state = log_store.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(ENTRIES));
    assert_eq!(state.last_log_id.map(|id| id.index), Some(ENTRIES + 1));
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    assert_eq!(applied.map(|id| id.index), Some(ENTRIES), "the unsynced apply was lost");
    assert_state_is_replay_of_log(&mut log_store, &mut state_machine).await;
}

#[tokio::test]
async fn a_crashed_node_can_no_longer_write() {
    let disk = MemoryDisk::new();
    let (mut log_store, _state_machine) = disk.open(machine());
    disk.crash();
    let acknowledged = append_acknowledged(&mut log_store, vec![workload_entry(1, 1)]).await;
    assert!(!acknowledged, "a crashed node's append must not be reported flushed");
    let (mut log_store, _state_machine) = disk.open(machine());
    assert!(log_entries(&mut log_store).await.is_empty());
}
