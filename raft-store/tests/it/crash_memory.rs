//! Crash tests of the memory store: a crash at any point, keeping any prefix of the unsynced
//! logged writes and of the unflushed applied entries, reopens to a state whose digest equals
//! a fresh replay of the log it kept, never loses an entry whose flush was reported, and
//! never purges an entry whose effects were not durable; re-applying the log then reaches the
//! state the node had.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use tianping_raft_store::{CrashPoint, MemoryDisk, MemoryStateMachine};

use crate::support::{
    append_acknowledged, append_and_apply, apply, assert_reopens_at_snapshot,
    assert_state_is_replay_of_log, log_entries, log_id, machine, reapply_log, replay_digest,
    workload, workload_entry,
};

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

#[tokio::test]
async fn crash_between_append_and_flush_keeps_every_acknowledged_entry() {
    for nth in 1..=ENTRIES {
        let disk = MemoryDisk::new();
        crash_at(&disk, CrashPoint::AppendWritten, nth);
        let (mut log_store, mut state_machine) = disk.open(machine());
        let acknowledged =
            append_and_apply(&mut log_store, &mut state_machine, ENTRIES, TRANSFERS_PER_ENTRY)
                .await;

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
        assert_state_is_replay_of_log(
            &mut log_store,
            &mut state_machine,
            MemoryStateMachine::state_digest,
        )
        .await;
    }
}

#[tokio::test]
async fn crash_between_apply_and_its_write_reopens_to_a_replay_of_the_log() {
    for nth in 1..=ENTRIES {
        let disk = MemoryDisk::new();
        crash_at(&disk, CrashPoint::ApplyComputed, nth);
        let (mut log_store, mut state_machine) = disk.open(machine());
        append_and_apply(&mut log_store, &mut state_machine, ENTRIES, TRANSFERS_PER_ENTRY).await;

        disk.set_crash_hook(None);
        let (mut log_store, mut state_machine) = disk.open(machine());
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        // Applied entries skip the log and nothing flushed them: all are lost...
        assert_eq!(applied, None, "crash at apply {nth}");
        assert_state_is_replay_of_log(
            &mut log_store,
            &mut state_machine,
            MemoryStateMachine::state_digest,
        )
        .await;
        // ...and rebuilt from the log, which holds entry `nth` too (appended before it was
        // applied).
        assert_eq!(reapply_log(&mut log_store, &mut state_machine).await, Some(nth));
        assert_eq!(
            state_machine.state_digest().expect("digest"),
            replay_digest(None, &workload(nth, TRANSFERS_PER_ENTRY))
        );
    }
}

/// Appends every entry (synced), then applies them all (unflushed) and saves the committed id
/// (unsynced): a crash may keep any prefix of each.
async fn unsynced_tail(disk: &MemoryDisk) {
    let (mut log_store, mut state_machine) = disk.open(machine());
    let entries = workload(ENTRIES, TRANSFERS_PER_ENTRY);
    assert!(append_acknowledged(&mut log_store, entries.clone()).await);
    for entry in entries {
        apply(&mut state_machine, vec![entry]).await.expect("apply");
    }
    log_store.save_committed(Some(log_id(1, ENTRIES))).await.expect("committed");
}

#[tokio::test]
async fn crash_keeping_any_prefixes_of_unsynced_and_unflushed_writes_reopens_consistently() {
    let probe = MemoryDisk::new();
    unsynced_tail(&probe).await;
    assert_eq!(probe.unsynced_write_count(), 1, "the committed id waits for a sync");
    assert_eq!(probe.unflushed_apply_count() as u64, ENTRIES, "every apply waits for a flush");
    for logged_kept in 0..=1 {
        for applied_kept in 0..=ENTRIES as usize {
            let disk = MemoryDisk::new();
            unsynced_tail(&disk).await;
            disk.crash_keeping(logged_kept, applied_kept);
            let (mut log_store, mut state_machine) = disk.open(machine());
            assert_eq!(
                log_entries(&mut log_store).await.len() as u64,
                ENTRIES,
                "synced log survives"
            );
            let committed = log_store.read_committed().await.expect("committed");
            assert_eq!(committed.is_some(), logged_kept == 1);
            let (applied, _) = state_machine.applied_state().await.expect("applied state");
            assert_eq!(applied.map(|id| id.index).unwrap_or(0), applied_kept as u64);
            assert_state_is_replay_of_log(
                &mut log_store,
                &mut state_machine,
                MemoryStateMachine::state_digest,
            )
            .await;
            assert_eq!(reapply_log(&mut log_store, &mut state_machine).await, Some(ENTRIES));
            assert_eq!(
                state_machine.state_digest().expect("digest"),
                replay_digest(None, &workload(ENTRIES, TRANSFERS_PER_ENTRY))
            );
        }
    }
}

/// A leader with every entry applied and a snapshot of it.
async fn leader_snapshot() -> tianping_raft_store::RaftSnapshot {
    let (mut log_store, mut state_machine) = MemoryDisk::new().open(machine());
    append_and_apply(&mut log_store, &mut state_machine, ENTRIES, TRANSFERS_PER_ENTRY).await;
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
    // The installation flushed the applied entries before it began.
    assert_eq!(applied.map(|id| id.index), Some(3), "old state kept");
    assert!(state_machine.get_current_snapshot().await.expect("reads").is_none());
    assert_state_is_replay_of_log(
        &mut log_store,
        &mut state_machine,
        MemoryStateMachine::state_digest,
    )
    .await;

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
    assert_state_is_replay_of_log(
        &mut log_store,
        &mut state_machine,
        MemoryStateMachine::state_digest,
    )
    .await;
}

#[tokio::test]
async fn purged_log_and_crash_replay_from_the_snapshot() {
    let disk = MemoryDisk::new();
    let (mut log_store, mut state_machine) = disk.open(machine());
    append_and_apply(&mut log_store, &mut state_machine, ENTRIES, TRANSFERS_PER_ENTRY).await;
    let mut builder = state_machine.get_snapshot_builder().await;
    let snapshot = builder.build_snapshot().await.expect("snapshot builds");
    let purged = snapshot.meta.last_log_id.expect("snapshot covers entries");
    log_store.purge(purged).await.expect("purge");
    // More entries after the snapshot, applied but not flushed.
    let extra = workload_entry(ENTRIES + 1, TRANSFERS_PER_ENTRY);
    assert!(append_acknowledged(&mut log_store, vec![extra.clone()]).await);
    apply(&mut state_machine, vec![extra]).await.expect("apply");
    disk.crash();

    let (mut log_store, mut state_machine) = disk.open(machine());
    let state = log_store.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(ENTRIES));
    assert_eq!(state.last_log_id.map(|id| id.index), Some(ENTRIES + 1));
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    assert_eq!(applied.map(|id| id.index), Some(ENTRIES), "the unflushed apply was lost");
    assert_state_is_replay_of_log(
        &mut log_store,
        &mut state_machine,
        MemoryStateMachine::state_digest,
    )
    .await;
    assert_eq!(reapply_log(&mut log_store, &mut state_machine).await, Some(ENTRIES + 1));
    assert_eq!(
        state_machine.state_digest().expect("digest"),
        replay_digest(None, &workload(ENTRIES + 1, TRANSFERS_PER_ENTRY))
    );
}

/// A snapshot builder is made from flushed state: crashed after building a snapshot and
/// applying more, the node reopens at the snapshot, never behind a snapshot it made current.
#[tokio::test]
async fn crash_after_a_snapshot_reopens_at_the_snapshot() {
    let disk = MemoryDisk::new();
    let (mut log_store, mut state_machine) = disk.open(machine());
    append_and_apply(&mut log_store, &mut state_machine, ENTRIES, TRANSFERS_PER_ENTRY).await;
    let snapshot =
        state_machine.get_snapshot_builder().await.build_snapshot().await.expect("snapshot builds");
    let extra = workload_entry(ENTRIES + 1, TRANSFERS_PER_ENTRY);
    assert!(append_acknowledged(&mut log_store, vec![extra.clone()]).await);
    apply(&mut state_machine, vec![extra]).await.expect("apply");
    disk.crash();

    let (mut log_store, mut state_machine) = disk.open(machine());
    assert_reopens_at_snapshot(
        &mut log_store,
        &mut state_machine,
        &snapshot.meta,
        ENTRIES + 1,
        TRANSFERS_PER_ENTRY,
        MemoryStateMachine::state_digest,
    )
    .await;
}

/// The applied state of every purged entry is durable before the entries are gone: a crash
/// inside the purge, right after it, or after more entries were applied, reopens to a state
/// at or past the purged entry that re-applying the rest of the log completes.
#[tokio::test]
async fn crash_during_or_after_a_purge_keeps_the_state_of_every_purged_entry() {
    const PURGED: u64 = ENTRIES - 2;
    // (crash inside the purge, entries applied after the purge)
    for (inside, applied_after) in [(true, 0), (false, 0), (false, 1)] {
        let disk = MemoryDisk::new();
        let (mut log_store, mut state_machine) = disk.open(machine());
        append_and_apply(&mut log_store, &mut state_machine, ENTRIES, TRANSFERS_PER_ENTRY).await;
        if inside {
            crash_at(&disk, CrashPoint::PurgeStateFlushed, 1);
        }
        let purged = log_store.purge(log_id(1, PURGED)).await;
        assert_eq!(purged.is_err(), inside, "a crash inside the purge stops it");
        for index in ENTRIES + 1..=ENTRIES + applied_after {
            let entry = workload_entry(index, TRANSFERS_PER_ENTRY);
            assert!(append_acknowledged(&mut log_store, vec![entry.clone()]).await);
            apply(&mut state_machine, vec![entry]).await.expect("apply");
        }
        disk.crash();

        disk.set_crash_hook(None);
        let (mut log_store, mut state_machine) = disk.open(machine());
        let last = ENTRIES + applied_after;
        let state = log_store.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id.map(|id| id.index), (!inside).then_some(PURGED));
        assert_eq!(state.last_log_id.map(|id| id.index), Some(last));
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        // The purge flushed every entry applied before it; later applies were lost.
        assert_eq!(applied.map(|id| id.index), Some(ENTRIES), "inside {inside}");
        assert_eq!(
            state_machine.state_digest().expect("digest"),
            replay_digest(None, &workload(ENTRIES, TRANSFERS_PER_ENTRY))
        );
        assert_eq!(reapply_log(&mut log_store, &mut state_machine).await, Some(last));
        assert_eq!(
            state_machine.state_digest().expect("digest"),
            replay_digest(None, &workload(last, TRANSFERS_PER_ENTRY))
        );
    }
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

/// A slow disk (`set_sync_delay`, the simulation's slow-fsync fault): a flush is reported no
/// sooner than the delay, the delay outlives a crash and a reopen, and a crash while a sync
/// waits loses the write it was waiting to make durable.
#[tokio::test]
async fn a_slow_disk_reports_flushes_late_and_a_crash_while_it_waits_loses_the_write() {
    const DELAY: std::time::Duration = std::time::Duration::from_millis(150);
    let disk = MemoryDisk::new();
    disk.set_sync_delay(DELAY);
    let (mut log_store, _state_machine) = disk.open(machine());
    let started = std::time::Instant::now();
    assert!(append_acknowledged(&mut log_store, vec![workload_entry(1, 1)]).await);
    assert!(started.elapsed() >= DELAY, "flush reported after {:?}", started.elapsed());

    disk.crash();
    let (mut log_store, _state_machine) = disk.open(machine());
    assert_eq!(disk.sync_delay(), DELAY, "the delay belongs to the disk, not to the node");
    assert_eq!(log_entries(&mut log_store).await.len(), 1, "the synced entry survived");
    let waiting = tokio::spawn(async move {
        append_acknowledged(&mut log_store, vec![workload_entry(2, 1)]).await
    });
    tokio::time::sleep(DELAY / 3).await;
    disk.crash();
    assert!(!waiting.await.expect("append task"), "a flush cut off by a crash was reported");
    disk.set_sync_delay(std::time::Duration::ZERO);
    let (mut log_store, _state_machine) = disk.open(machine());
    let kept: Vec<u64> = log_entries(&mut log_store).await.iter().map(|e| e.log_id.index).collect();
    assert_eq!(kept, vec![1], "the entry whose sync the crash interrupted is gone");
}
