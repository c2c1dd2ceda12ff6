//! Crash tests of the RocksDB store. A process killed at a crash point leaves its directory as
//! it is at that instant, so the crash hook copies the directory there; opening the copy is
//! restarting after the kill. (Losing unsynced writes to a power cut is the memory store's
//! model; RocksDB's own recovery keeps a prefix of its write-ahead log.) A kill loses the
//! memtables, so every applied entry not yet flushed: each test checks that the state left
//! is a replay of a prefix of the log and that re-applying the log, as openraft does at a
//! restart, reaches the state the node had.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use tempfile::TempDir;
use tianping_raft_store::{
    CrashPoint, Entry, RocksConfig, RocksLogStore, RocksStateMachine, RocksStore,
};

use crate::support::{
    append_acknowledged, append_and_apply, apply, assert_reopens_at_snapshot,
    assert_state_is_replay_of_log, log_entries, log_id, machine, reapply_log, replay_digest,
    workload, workload_entry,
};

const ENTRIES: u64 = 6;
const TRANSFERS_PER_ENTRY: u64 = 20;

fn small_config() -> RocksConfig {
    RocksConfig {
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 4 << 20,
        ..RocksConfig::default()
    }
}

fn copy_directory(source: &Path, target: &Path) {
    std::fs::create_dir_all(target).expect("create image directory");
    for item in std::fs::read_dir(source).expect("read directory") {
        let item = item.expect("directory entry");
        let destination = target.join(item.file_name());
        if item.file_type().expect("file type").is_dir() {
            copy_directory(&item.path(), &destination);
        } else {
            std::fs::copy(item.path(), &destination).expect("copy file");
        }
    }
}

/// Crash images taken at `point`, in order.
struct Images {
    directory: TempDir,
    taken: Mutex<Vec<PathBuf>>,
}

/// A config whose hook copies `root` into a new image at every `point`.
fn imaging(root: &Path, point: CrashPoint) -> (RocksConfig, Arc<Images>) {
    let images = Arc::new(Images {
        directory: TempDir::new().expect("temporary directory"),
        taken: Mutex::new(Vec::new()),
    });
    let root = root.to_owned();
    let hook_images = images.clone();
    let config = RocksConfig {
        crash_hook: Some(Arc::new(move |reached| {
            if reached == point {
                let mut taken = hook_images.taken.lock().expect("images lock");
                let image = hook_images.directory.path().join(format!("image-{}", taken.len() + 1));
                copy_directory(&root, &image);
                taken.push(image);
            }
        })),
        ..small_config()
    };
    (config, images)
}

fn taken(images: &Images) -> Vec<PathBuf> {
    images.taken.lock().expect("images lock").clone()
}

/// Appends and applies `entries` workload entries; RocksDB reports every flush.
async fn append_all(
    log_store: &mut RocksLogStore,
    state_machine: &mut RocksStateMachine,
    entries: u64,
) {
    let acknowledged =
        append_and_apply(log_store, state_machine, entries, TRANSFERS_PER_ENTRY).await;
    assert_eq!(acknowledged.len() as u64, entries, "every append flushed");
}

#[tokio::test]
async fn kill_between_append_and_flush_reopens_consistently() {
    let root = TempDir::new().expect("temporary directory");
    let (config, images) = imaging(root.path(), CrashPoint::AppendWritten);
    {
        let (mut log_store, mut state_machine) =
            RocksStore::open(root.path(), machine(), config).expect("open");
        append_all(&mut log_store, &mut state_machine, ENTRIES).await;
    }
    let images = taken(&images);
    assert_eq!(images.len() as u64, ENTRIES);
    for (position, image) in images.iter().enumerate() {
        let written = position as u64 + 1;
        let (mut log_store, mut state_machine) =
            RocksStore::open(image, machine(), small_config()).expect("image opens");
        let present: Vec<u64> =
            log_entries(&mut log_store).await.iter().map(|e| e.log_id.index).collect();
        // A killed process loses nothing it wrote: the unflushed entry is there too.
        assert_eq!(present, (1..=written).collect::<Vec<_>>(), "image {written}");
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        // Nothing was flushed (the memtables never filled): every applied entry is lost...
        assert_eq!(applied, None, "image {written}");
        assert_state_is_replay_of_log(
            &mut log_store,
            &mut state_machine,
            RocksStateMachine::state_digest,
        )
        .await;
        // ...and rebuilt from the log.
        assert_eq!(reapply_log(&mut log_store, &mut state_machine).await, Some(written));
        assert_eq!(
            state_machine.state_digest().expect("digest"),
            replay_digest(None, &workload(written, TRANSFERS_PER_ENTRY))
        );
    }
}

#[tokio::test]
async fn kill_between_apply_and_its_write_reopens_to_a_replay_of_the_log() {
    let root = TempDir::new().expect("temporary directory");
    let (config, images) = imaging(root.path(), CrashPoint::ApplyComputed);
    {
        let (mut log_store, mut state_machine) =
            RocksStore::open(root.path(), machine(), config).expect("open");
        append_all(&mut log_store, &mut state_machine, ENTRIES).await;
    }
    for (position, image) in taken(&images).iter().enumerate() {
        let computing = position as u64 + 1;
        let (mut log_store, mut state_machine) =
            RocksStore::open(image, machine(), small_config()).expect("image opens");
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        assert_eq!(applied, None, "image {computing}: nothing was flushed");
        assert_state_is_replay_of_log(
            &mut log_store,
            &mut state_machine,
            RocksStateMachine::state_digest,
        )
        .await;
        // The restarted node finishes the job: re-applying the log, then applying the rest,
        // reaches the same state.
        assert_eq!(reapply_log(&mut log_store, &mut state_machine).await, Some(computing));
        let rest: Vec<Entry> = (computing + 1..=ENTRIES)
            .map(|index| workload_entry(index, TRANSFERS_PER_ENTRY))
            .collect();
        apply(&mut state_machine, rest).await.expect("apply the rest");
        assert_eq!(
            state_machine.state_digest().expect("digest"),
            replay_digest(None, &workload(ENTRIES, TRANSFERS_PER_ENTRY))
        );
    }
}

#[tokio::test]
async fn dropping_the_store_without_a_sync_reopens_consistently() {
    let root = TempDir::new().expect("temporary directory");
    {
        let (mut log_store, mut state_machine) =
            RocksStore::open(root.path(), machine(), small_config()).expect("open");
        append_all(&mut log_store, &mut state_machine, ENTRIES).await;
        // Dropped here with the applied entries unflushed: closing the store flushes them.
    }
    let (mut log_store, mut state_machine) =
        RocksStore::open(root.path(), machine(), small_config()).expect("reopen");
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    assert_eq!(applied.map(|id| id.index), Some(ENTRIES));
    assert_state_is_replay_of_log(
        &mut log_store,
        &mut state_machine,
        RocksStateMachine::state_digest,
    )
    .await;
}

/// Entries enough for a snapshot of several chunks.
const SNAPSHOT_ENTRIES: u64 = 12;
const SNAPSHOT_TRANSFERS_PER_ENTRY: u64 = 1_000;

#[tokio::test]
async fn kill_during_snapshot_install_reopens_to_the_whole_snapshot() {
    let leader_root = TempDir::new().expect("temporary directory");
    let (mut leader_log, mut leader) =
        RocksStore::open(leader_root.path(), machine(), small_config()).expect("open");
    for index in 1..=SNAPSHOT_ENTRIES {
        let entry = workload_entry(index, SNAPSHOT_TRANSFERS_PER_ENTRY);
        assert!(append_acknowledged(&mut leader_log, vec![entry.clone()]).await);
        apply(&mut leader, vec![entry]).await.expect("apply");
    }
    let snapshot =
        leader.get_snapshot_builder().await.build_snapshot().await.expect("snapshot builds");
    assert_eq!(snapshot.snapshot.digest(), leader.state_digest().expect("digest"));

    let mut images = Vec::new();
    // The image directories live until the end of the test.
    let mut image_directories = Vec::new();
    for point in [CrashPoint::SnapshotInstallStarted, CrashPoint::SnapshotInstallChunkWritten] {
        let root = TempDir::new().expect("temporary directory");
        let (config, taken_images) = imaging(root.path(), point);
        let (mut log_store, mut state_machine) =
            RocksStore::open(root.path(), machine(), config).expect("open");
        append_all(&mut log_store, &mut state_machine, 2).await;
        state_machine
            .install_snapshot(&snapshot.meta, snapshot.snapshot.clone())
            .await
            .expect("install");
        assert_eq!(state_machine.state_digest().expect("digest"), snapshot.snapshot.digest());
        images.extend(taken(&taken_images));
        image_directories.push(taken_images);
    }
    assert!(
        images.len() >= 3,
        "a multi-chunk snapshot gives several crash images, got {}",
        images.len()
    );
    for image in &images {
        let (mut log_store, mut state_machine) =
            RocksStore::open(image, machine(), small_config()).expect("image opens");
        let (applied, membership) = state_machine.applied_state().await.expect("applied state");
        assert_eq!(applied, snapshot.meta.last_log_id, "{}", image.display());
        assert_eq!(membership, snapshot.meta.last_membership);
        assert_eq!(
            state_machine.state_digest().expect("digest"),
            snapshot.snapshot.digest(),
            "{}",
            image.display()
        );
        let current =
            state_machine.get_current_snapshot().await.expect("reads").expect("a current snapshot");
        assert_eq!(current.meta, snapshot.meta);
        assert_state_is_replay_of_log(
            &mut log_store,
            &mut state_machine,
            RocksStateMachine::state_digest,
        )
        .await;
    }
}

/// The applied state of every purged entry is durable before the entries are gone: a kill
/// inside the purge (state flushed, entries not yet deleted), right after it, or after more
/// entries were applied, reopens to the state of every entry applied before the purge, and
/// re-applying the rest of the log completes it. (Without the purge's flush the images would
/// hold no applied state and a log without its first entries.)
#[tokio::test]
async fn kill_during_or_after_a_purge_keeps_the_state_of_every_purged_entry() {
    const PURGED: u64 = ENTRIES - 2;
    let root = TempDir::new().expect("temporary directory");
    let (config, inside) = imaging(root.path(), CrashPoint::PurgeStateFlushed);
    let after = TempDir::new().expect("temporary directory");
    // (image, entries in the log, purged)
    let mut images = Vec::new();
    {
        let (mut log_store, mut state_machine) =
            RocksStore::open(root.path(), machine(), config).expect("open");
        append_all(&mut log_store, &mut state_machine, ENTRIES).await;
        log_store.purge(log_id(1, PURGED)).await.expect("purge");
        copy_directory(root.path(), &after.path().join("after-purge"));
        images.push((after.path().join("after-purge"), ENTRIES, true));
        let entry = workload_entry(ENTRIES + 1, TRANSFERS_PER_ENTRY);
        assert!(append_acknowledged(&mut log_store, vec![entry.clone()]).await);
        apply(&mut state_machine, vec![entry]).await.expect("apply");
        copy_directory(root.path(), &after.path().join("after-more"));
        images.push((after.path().join("after-more"), ENTRIES + 1, true));
    }
    let inside = taken(&inside);
    assert_eq!(inside.len(), 1);
    images.push((inside[0].clone(), ENTRIES, false));
    for (image, last, purged) in images {
        let (mut log_store, mut state_machine) =
            RocksStore::open(&image, machine(), small_config()).expect("image opens");
        let state = log_store.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id.map(|id| id.index), purged.then_some(PURGED));
        assert_eq!(state.last_log_id.map(|id| id.index), Some(last));
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        assert_eq!(applied.map(|id| id.index), Some(ENTRIES), "{}", image.display());
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

/// A snapshot is made from flushed state: killed after building one and applying more, the
/// node reopens at least at the snapshot, never behind a snapshot it made current.
#[tokio::test]
async fn kill_after_a_snapshot_reopens_at_or_past_the_snapshot() {
    let root = TempDir::new().expect("temporary directory");
    let image = TempDir::new().expect("temporary directory");
    let snapshot = {
        let (mut log_store, mut state_machine) =
            RocksStore::open(root.path(), machine(), small_config()).expect("open");
        append_all(&mut log_store, &mut state_machine, ENTRIES).await;
        let snapshot = state_machine
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("snapshot builds");
        let entry = workload_entry(ENTRIES + 1, TRANSFERS_PER_ENTRY);
        assert!(append_acknowledged(&mut log_store, vec![entry.clone()]).await);
        apply(&mut state_machine, vec![entry]).await.expect("apply");
        state_machine.wait_for_background_work().expect("background work");
        copy_directory(root.path(), image.path());
        snapshot
    };
    let (mut log_store, mut state_machine) =
        RocksStore::open(image.path(), machine(), small_config()).expect("image opens");
    assert_reopens_at_snapshot(
        &mut log_store,
        &mut state_machine,
        &snapshot.meta,
        ENTRIES + 1,
        TRANSFERS_PER_ENTRY,
        RocksStateMachine::state_digest,
    )
    .await;
}

/// Memtables small enough to fill every few entries: RocksDB flushes on its own, and with
/// `atomic_flush` every such flush persists all column families at one point. A kill at any
/// moment leaves the state after a prefix of the applied entries — no table ahead of
/// another, the last-applied log id naming that prefix. (With independent flushes the images
/// would hold one table's share of an entry without the rest, and differ from any replay.)
#[tokio::test]
async fn kills_between_automatic_flushes_reopen_to_a_prefix_of_the_log() {
    const FLUSHING_ENTRIES: u64 = 16;
    const FLUSHING_TRANSFERS_PER_ENTRY: u64 = 200;
    let config = RocksConfig { write_buffer_bytes: 128 << 10, ..small_config() };
    let root = TempDir::new().expect("temporary directory");
    let images = TempDir::new().expect("temporary directory");
    {
        let (mut log_store, mut state_machine) =
            RocksStore::open(root.path(), machine(), config).expect("open");
        for index in 1..=FLUSHING_ENTRIES {
            let entry = workload_entry(index, FLUSHING_TRANSFERS_PER_ENTRY);
            assert!(append_acknowledged(&mut log_store, vec![entry.clone()]).await);
            apply(&mut state_machine, vec![entry]).await.expect("apply");
            state_machine.wait_for_background_work().expect("background work");
            copy_directory(root.path(), &images.path().join(format!("image-{index}")));
        }
        // Not dropped before the images are read: closing would flush everything.
    }
    let mut applied_between = 0;
    for written in 1..=FLUSHING_ENTRIES {
        let image = images.path().join(format!("image-{written}"));
        let (mut log_store, mut state_machine) =
            RocksStore::open(&image, machine(), small_config()).expect("image opens");
        let (applied, _) = state_machine.applied_state().await.expect("applied state");
        let applied = applied.map_or(0, |id| id.index);
        assert!(applied <= written, "image {written}");
        if 0 < applied && applied < written {
            applied_between += 1;
        }
        assert_state_is_replay_of_log(
            &mut log_store,
            &mut state_machine,
            RocksStateMachine::state_digest,
        )
        .await;
        assert_eq!(reapply_log(&mut log_store, &mut state_machine).await, Some(written));
        assert_eq!(
            state_machine.state_digest().expect("digest"),
            replay_digest(None, &workload(written, FLUSHING_TRANSFERS_PER_ENTRY))
        );
    }
    assert!(
        applied_between >= FLUSHING_ENTRIES / 2,
        "memtables filled and were flushed mid-run in most images, got {applied_between}"
    );
}

/// A crash image cannot show a missing fsync (the copy reads the page cache), so count them:
/// every append is fsynced before its flush is reported.
#[tokio::test]
async fn every_append_is_fsynced_before_it_is_reported_flushed() {
    let root = TempDir::new().expect("temporary directory");
    let config = RocksConfig { statistics: true, ..small_config() };
    let (mut log_store, _state_machine) =
        RocksStore::open(root.path(), machine(), config).expect("open");
    for index in 1..=ENTRIES {
        let before = log_store.wal_sync_count();
        let entry = workload_entry(index, TRANSFERS_PER_ENTRY);
        assert!(append_acknowledged(&mut log_store, vec![entry]).await);
        assert!(
            log_store.wal_sync_count() > before,
            "append {index} reported flushed without an fsync"
        );
    }
}
