//! The change feed's source on both stores: every applied entry's commands with exactly the
//! answers applying gave, by position, resumable mid-entry; trimmed with the log (an older
//! position is `NotRetained`, naming the oldest served); never past the applied entries.

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use tianping_ledger::feed::FeedPosition;
use tianping_raft_store::{
    EntryPayload, FeedError, FeedEvent, FeedSource, MemoryDisk, RocksConfig, RocksStore, TypeConfig,
};

use crate::support::{append_acknowledged, log_id, machine, workload_entry};

const ENTRIES: u64 = 12;
const TRANSFERS_PER_ENTRY: u64 = 30;

/// Appends and applies the workload, then checks the feed against a fresh replay of it (the
/// state machine is deterministic: the answers a replica gave are the replay's).
async fn check_feed<LS, SM>(log_store: &mut LS, state_machine: &mut SM, feed: &dyn FeedSource)
where
    LS: RaftLogStorage<TypeConfig>,
    SM: RaftStateMachine<TypeConfig>,
{
    // Nothing applied: nothing to read, from anywhere.
    let empty = feed.read(FeedPosition::default(), 100).expect("reads");
    assert!(empty.events.is_empty());
    for index in 1..=ENTRIES {
        let entry = workload_entry(index, TRANSFERS_PER_ENTRY);
        assert!(append_acknowledged(log_store, vec![entry.clone()]).await);
        crate::support::apply(state_machine, vec![entry]).await.expect("applies");
    }
    // Everything from the start, read in small pages, resuming mid-entry.
    let mut events = Vec::new();
    let mut from = FeedPosition::default();
    loop {
        let page = feed.read(from, 7).expect("reads");
        assert_eq!(page.last_applied, ENTRIES);
        if page.events.is_empty() && page.next.log_index > page.last_applied {
            break;
        }
        if let Some(first) = page.events.first() {
            assert!(first.position >= from, "a page starts at or after its position");
        }
        if page.events.is_empty() {
            from = page.next;
            continue;
        }
        // Resume in the middle of what the page returned, as a consumer stopped there would.
        let keep = page.events.len().div_ceil(2);
        from = page.events[keep - 1].position.next();
        events.extend(page.events.into_iter().take(keep));
    }
    let replay = replay_events(ENTRIES);
    assert_eq!(events.len(), replay.len(), "every event once");
    assert_eq!(events, replay, "the commands as logged with the answers applying gave");

    // Purging the log trims the feed with it.
    log_store.purge(log_id(1, 5)).await.expect("purges");
    match feed.read(FeedPosition { log_index: 3, event_index: 2 }, 10) {
        Err(FeedError::NotRetained { requested, oldest }) => {
            assert_eq!(requested, FeedPosition { log_index: 3, event_index: 2 });
            assert_eq!(oldest, FeedPosition { log_index: 6, event_index: 0 });
        }
        other => panic!("a purged position must be NotRetained, got {other:?}"),
    }
    let page = feed.read(FeedPosition::entry_start(6), usize::MAX).expect("reads after the purge");
    let after: Vec<&FeedEvent> = replay.iter().filter(|e| e.position.log_index >= 6).collect();
    assert_eq!(page.events.iter().collect::<Vec<_>>(), after);
    // Past the applied entries: an empty page, not an error.
    let beyond = feed.read(FeedPosition::entry_start(ENTRIES + 5), 10).expect("reads");
    assert!(beyond.events.is_empty());
}

/// The events of workload entries `1..=last` as a fresh replay answers them.
fn replay_events(last: u64) -> Vec<FeedEvent> {
    use tianping_ledger::{LedgerStoreMut, MemoryStore};
    let machine = machine();
    let mut store = MemoryStore::new();
    let mut events = Vec::new();
    for index in 1..=last {
        let entry = workload_entry(index, TRANSFERS_PER_ENTRY);
        let EntryPayload::Normal(batch) = &entry.payload else { unreachable!() };
        let (results, writes) = machine.apply(&store, batch).expect("the workload applies");
        store.commit(&writes);
        for (event_index, (command, result)) in batch.commands.iter().zip(results).enumerate() {
            events.push(FeedEvent {
                position: FeedPosition {
                    log_index: index,
                    event_index: u32::try_from(event_index).expect("small"),
                },
                batch_timestamp: batch.timestamp,
                command: command.clone(),
                outcome: Ok(result),
            });
        }
    }
    events
}

#[tokio::test]
async fn the_rocksdb_store_serves_the_feed_and_trims_it_with_the_log() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let (mut log_store, mut state_machine) =
        RocksStore::open(directory.path(), machine(), RocksConfig::default()).expect("opens");
    let feed = state_machine.feed_source();
    check_feed(&mut log_store, &mut state_machine, &feed).await;
}

#[tokio::test]
async fn the_memory_store_serves_the_feed_and_trims_it_with_the_log() {
    let disk = MemoryDisk::new();
    let (mut log_store, mut state_machine) = disk.open(machine());
    let feed = state_machine.feed_source();
    check_feed(&mut log_store, &mut state_machine, &feed).await;
}
