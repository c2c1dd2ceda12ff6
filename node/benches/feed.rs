//! Benchmark of the change feed: one consumer reading a million-transfer log.
//!
//! Setup (not measured): a RocksDB store on this machine's disk gets 100 000 accounts and then
//! `ENTRIES` entries of 8 190 single-phase transfers (1 007 370), each appended to the log
//! (fsynced) and applied, as a node does. Measured: everything a node and the SDK do per
//! event except the socket — the node reads pages from its feed source (the logged commands
//! with their stored answers), converts them to the wire and encodes each message as gRPC
//! would; the consumer side decodes each message and parses every event back to the ledger's
//! types, as `Client::subscribe` does.
//!
//! Prints exactly `bench: feed_events_per_s <N>` on standard output; notes go to standard
//! error.

use std::time::Instant;

use futures_util::stream;
use openraft::RaftTypeConfig;
use openraft::storage::{IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use prost::Message;
use tianping_ledger::feed::FeedPosition;
use tianping_ledger::{
    BATCH_EVENTS_MAX, Batch, Command, LedgerConfig, NewAccount, NewTransfer, StateMachine,
};
use tianping_proto::convert as wire;
use tianping_proto::v1::SubscribeResponse;
use tianping_raft_store::{
    Entry, EntryPayload, FeedSource, LogId, RocksConfig, RocksLogStore, RocksStateMachine,
    RocksStore, TypeConfig,
};

const ACCOUNT_COUNT: u64 = 100_000;
/// Entries of `BATCH_EVENTS_MAX` transfers: 123 × 8 190 = 1 007 370 transfers.
const ENTRIES: u64 = 123;
/// Events per streamed message, as the node's feed service reads them.
const PAGE_EVENTS: usize = 1024;
const SEED: u64 = 0x6665_6564; // "feed"
const TIMESTAMP_FIRST: u64 = 1_764_000_000_000_000_000;

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => panic!("tokio runtime: {error}"),
    };
    runtime.block_on(run());
}

/// splitmix64: deterministic draws of accounts and amounts.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn entry(index: u64, commands: Vec<Command>) -> Entry {
    let log_id = LogId::new(<TypeConfig as RaftTypeConfig>::LeaderId::new_committed(1, 0), index);
    let timestamp = TIMESTAMP_FIRST + index * 1_000_000;
    Entry { log_id, payload: EntryPayload::Normal(Batch { timestamp, commands }) }
}

async fn append_and_apply(
    log_store: &mut RocksLogStore,
    state_machine: &mut RocksStateMachine,
    entry: Entry,
) {
    let (sender, receiver) = TypeConfig::oneshot();
    if let Err(error) = log_store.append(vec![entry.clone()], IOFlushed::signal(sender)).await {
        panic!("append failed: {error}");
    }
    if !matches!(receiver.await, Ok(Ok(()))) {
        panic!("append not flushed");
    }
    if let Err(error) = state_machine.apply(stream::iter([Ok((entry, None))])).await {
        panic!("apply failed: {error}");
    }
}

async fn run() {
    let directory = match tempfile::TempDir::new() {
        Ok(directory) => directory,
        Err(error) => panic!("temporary directory: {error}"),
    };
    let machine = match StateMachine::new(LedgerConfig::default()) {
        Ok(machine) => machine,
        Err(error) => panic!("ledger configuration: {error}"),
    };
    let (mut log_store, mut state_machine) =
        match RocksStore::open(directory.path(), machine, RocksConfig::default()) {
            Ok(stores) => stores,
            Err(error) => panic!("opening RocksDB: {error}"),
        };
    let mut index = 1;
    let ids: Vec<u64> = (1..=ACCOUNT_COUNT).collect();
    for chunk in ids.chunks(BATCH_EVENTS_MAX) {
        let commands = chunk
            .iter()
            .map(|&id| {
                Command::CreateAccount(NewAccount {
                    id: u128::from(id),
                    ledger: 1,
                    code: 1,
                    ..NewAccount::default()
                })
            })
            .collect();
        append_and_apply(&mut log_store, &mut state_machine, entry(index, commands)).await;
        index += 1;
    }
    let mut random = SEED;
    let mut next_id: u128 = 1 << 64;
    let setup = Instant::now();
    for _ in 0..ENTRIES {
        let commands = (0..BATCH_EVENTS_MAX)
            .map(|_| {
                let debit = splitmix(&mut random) % ACCOUNT_COUNT;
                let credit =
                    (debit + 1 + splitmix(&mut random) % (ACCOUNT_COUNT - 1)) % ACCOUNT_COUNT;
                next_id += 1;
                Command::CreateTransfer(NewTransfer {
                    id: next_id,
                    debit_account_id: u128::from(debit + 1),
                    credit_account_id: u128::from(credit + 1),
                    amount: u128::from(1 + splitmix(&mut random) % 1_000),
                    ledger: 1,
                    code: 1,
                    ..NewTransfer::default()
                })
            })
            .collect();
        append_and_apply(&mut log_store, &mut state_machine, entry(index, commands)).await;
        index += 1;
    }
    let transfers = ENTRIES * BATCH_EVENTS_MAX as u64;
    eprintln!(
        "note: feed: {ACCOUNT_COUNT} accounts and {transfers} transfers logged and applied in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let feed = state_machine.feed_source();
    let start = Instant::now();
    let mut from = FeedPosition::default();
    let mut events = 0u64;
    let mut transfer_events = 0u64;
    let mut wire_bytes = 0usize;
    loop {
        let page = match feed.read(from, PAGE_EVENTS) {
            Ok(page) => page,
            Err(error) => panic!("the feed reads: {error}"),
        };
        if page.events.is_empty() && page.next.log_index > page.last_applied {
            break;
        }
        from = page.next;
        // The node's side: to the wire, encoded.
        let message = SubscribeResponse {
            events: page.events.iter().map(wire::feed_event).collect(),
            last_applied: page.last_applied,
        };
        let bytes = message.encode_to_vec();
        wire_bytes += bytes.len();
        // The consumer's side: decoded and parsed back to the ledger's types.
        let received = match SubscribeResponse::decode(bytes.as_slice()) {
            Ok(received) => received,
            Err(error) => panic!("decoding: {error}"),
        };
        for (position, event) in received.events.iter().enumerate() {
            let event = match wire::parse_feed_event(&format!("events[{position}]"), event) {
                Ok(event) => event,
                Err(error) => panic!("parsing: {error}"),
            };
            events += 1;
            if matches!(event.command, Command::CreateTransfer(_)) {
                transfer_events += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(transfer_events, transfers, "every transfer read once");
    eprintln!(
        "note: feed: {events} events ({transfer_events} transfers) in {elapsed:.2} s, {:.0} MiB on the wire",
        wire_bytes as f64 / f64::from(1 << 20)
    );
    println!("bench: feed_events_per_s {:.0}", events as f64 / elapsed);
}
