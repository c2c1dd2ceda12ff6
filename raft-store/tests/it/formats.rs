//! Golden bytes of the formats this crate writes — a stored log entry of each payload kind and
//! the chunks of a fixed snapshot — and the refusal, by name, of a version this build does not
//! know, including through the RocksDB log store and a snapshot receiver. If a golden test
//! fails, the encoding changed: make it deliberate (a new version and a reader for the old
//! one, ARCHITECTURE.md "Formats and rolling upgrades"), then update the hex.

use std::collections::{BTreeMap, BTreeSet};

use openraft::RaftLogReader;
use openraft::storage::RaftLogStorage;
use tianping_ledger::format::FormatError;
use tianping_ledger::{
    AccountFlags, Batch, Command, LedgerStoreMut, MemoryStore, NewAccount, NewTransfer,
};
use tianping_raft_store::format::{
    LOG_ENTRY_FORMAT_VERSION, SNAPSHOT_FORMAT_VERSION, decode_log_entry, encode_log_entry,
};
use tianping_raft_store::snapshot::encode_ledger;
use tianping_raft_store::{
    Entry, EntryPayload, Membership, NodeInfo, RocksConfig, RocksStore, SnapshotWriter,
};

use crate::support::{append_acknowledged, log_id, machine, normal};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn batch() -> Batch {
    Batch {
        timestamp: 1_764_000_000_123_456_789,
        commands: vec![
            Command::CreateAccount(NewAccount {
                id: 1,
                ledger: 156,
                code: 1,
                flags: AccountFlags::HISTORY,
                ..NewAccount::default()
            }),
            Command::CreateAccount(NewAccount {
                id: 2,
                ledger: 156,
                code: 1,
                ..NewAccount::default()
            }),
            Command::CreateTransfer(NewTransfer {
                id: 10,
                debit_account_id: 1,
                credit_account_id: 2,
                amount: 12_345,
                ledger: 156,
                code: 1,
                ..NewTransfer::default()
            }),
        ],
    }
}

fn membership_entry() -> Entry {
    let node = |data_center: &str, port: u16| NodeInfo {
        region: "cn-east".to_owned(),
        data_center: data_center.to_owned(),
        raft_address: format!("10.0.0.1:{port}"),
        api_address: format!("10.0.0.1:{}", port + 1),
    };
    let nodes = BTreeMap::from([(1, node("dc-a", 7000)), (2, node("dc-b", 7010))]);
    let membership = Membership::new(vec![BTreeSet::from([1, 2])], nodes).expect("valid");
    Entry { log_id: log_id(3, 5), payload: EntryPayload::Membership(membership) }
}

/// A normal entry (the batch above at term 2, index 7, in batch format 2: the fifth byte), a
/// blank one and a membership one.
const GOLDEN_NORMAL_ENTRY_HEX: &str =
    "0102070102959a97f9f694bfbd180300019c010108000000029c0101000000010a0102b9600000009c010100";
const GOLDEN_BLANK_ENTRY_HEX: &str = "01020600";
const GOLDEN_MEMBERSHIP_ENTRY_HEX: &str = concat!(
    "0103050201020102020107636e2d656173740464632d610d31302e302e302e313a373030300d",
    "31302e302e302e313a373030310207636e2d656173740464632d620d31302e302e302e313a37",
    "3031300d31302e302e302e313a37303131",
);

#[test]
fn log_entries_are_pinned_by_golden_bytes() {
    let cases = [
        (normal(2, 7, batch()), GOLDEN_NORMAL_ENTRY_HEX),
        (Entry { log_id: log_id(2, 6), payload: EntryPayload::Blank }, GOLDEN_BLANK_ENTRY_HEX),
        (membership_entry(), GOLDEN_MEMBERSHIP_ENTRY_HEX),
    ];
    for (entry, golden) in cases {
        let encoded = encode_log_entry(&entry).expect("encodes");
        assert_eq!(hex(&encoded), golden, "the log entry encoding changed (see module doc)");
        assert_eq!(encoded[0], LOG_ENTRY_FORMAT_VERSION);
        assert_eq!(decode_log_entry(&encoded).expect("decodes"), entry);
    }
}

#[test]
fn a_log_entry_of_an_unknown_version_is_refused_by_name() {
    let mut encoded = encode_log_entry(&normal(2, 7, batch())).expect("encodes");
    encoded[0] = LOG_ENTRY_FORMAT_VERSION + 1;
    let error = decode_log_entry(&encoded).expect_err("a newer version must not decode");
    assert_eq!(
        error,
        FormatError::UnknownVersion {
            format: "log entry",
            found: LOG_ENTRY_FORMAT_VERSION + 1,
            newest_known: LOG_ENTRY_FORMAT_VERSION,
        }
    );
    // A known envelope around a batch of an unknown version is refused too (not misread).
    let mut encoded = encode_log_entry(&normal(2, 7, batch())).expect("encodes");
    let batch_version_at = encoded.len() - tianping_ledger::format::encode_batch(&batch()).len();
    encoded[batch_version_at] += 1;
    assert!(matches!(decode_log_entry(&encoded), Err(FormatError::Undecodable { .. })));
}

/// The store refuses, naming the format, an entry a newer build wrote: openraft gets the
/// error (and stops) instead of a misread entry.
#[test]
fn the_rocks_log_store_refuses_an_entry_of_an_unknown_version() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        let (mut log, _machine) =
            RocksStore::open(directory.path(), machine(), RocksConfig::default()).expect("opens");
        assert!(append_acknowledged(&mut log, vec![normal(1, 1, batch())]).await);
        drop((log, _machine));
        // A newer build wrote entry 2: same layout, next version.
        let mut newer = encode_log_entry(&normal(1, 2, batch())).expect("encodes");
        newer[0] = LOG_ENTRY_FORMAT_VERSION + 1;
        let path = directory.path().join("db");
        let names = rocksdb::DB::list_cf(&rocksdb::Options::default(), &path).expect("families");
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, names).expect("opens");
        let family = db.cf_handle("log").expect("log family");
        db.put_cf(family, 2u64.to_be_bytes(), newer).expect("writes");
        drop(db);
        let (mut log, _machine) =
            RocksStore::open(directory.path(), machine(), RocksConfig::default()).expect("opens");
        let error = log.get_log_state().await.expect_err("the last entry is of a newer format");
        assert!(
            error.to_string().contains("log entry format version 2 is unknown to this node"),
            "{error}"
        );
        let mut reader = log.get_log_reader().await;
        assert_eq!(reader.try_get_log_entries(1..2).await.expect("entry 1 reads").len(), 1);
        let error = reader.try_get_log_entries(1..3).await.expect_err("entry 2 does not");
        assert!(error.to_string().contains("reads versions 1 to 1"), "{error}");
    });
}

/// The snapshot of a fixed small state: one chunk of records, then the trailer.
const GOLDEN_SNAPSHOT_CHUNKS_HEX: [&str; 2] = [
    concat!(
        "020007000009979a97f9f694bfbd1801100000000000000000000000000000000121019c0101",
        "08000000b960000000000000000082bf02b96001959a97f9f694bfbd18011000000000000000",
        "0000000000000000021e029c0101000000000000b960000000000000000000969a97f9f694bf",
        "bd1802100000000000000000000000000000000a170a0102b960b9600000009c010100979a97",
        "f9f694bfbd18082800000000000000000000000000000001187afca76f25cd17000000000000",
        "0000000000000000000a00082800000000000000000000000000000002187afca76f25cd1700",
        "00000000000000000000000000000a00091800000000000000000000000000000001187afca7",
        "6f25cd170e979a97f9f694bfbd1800b9600000",
    ),
    "020107a7e75a87d51b0db97223608f06d204f5e43938e1ae919b227706a71c3a56481e",
];

fn snapshot_chunks() -> Vec<Vec<u8>> {
    let mut store = MemoryStore::new();
    let (_, writes) = machine().apply(&store, &batch()).expect("applies");
    store.commit(&writes);
    let data = encode_ledger(&store, SnapshotWriter::in_memory()).expect("encodes");
    let mut reader = data.reader();
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk().expect("reads") {
        chunks.push(chunk);
    }
    chunks
}

#[test]
fn snapshot_chunks_are_pinned_by_golden_bytes() {
    let chunks = snapshot_chunks();
    let hexes: Vec<String> = chunks.iter().map(|chunk| hex(chunk)).collect();
    assert_eq!(hexes, GOLDEN_SNAPSHOT_CHUNKS_HEX, "the snapshot encoding changed (module doc)");
    assert!(chunks.iter().all(|chunk| chunk[0] == SNAPSHOT_FORMAT_VERSION));
}

/// Format 2 only appended tables (account controls, control changes, claimed batches), so a state holding
/// none of them is the same records under either version: the version-1 snapshot of the fixed
/// state is format 2's golden chunks with the version byte set to 1. Should format 2's golden
/// bytes ever change, the old ones become this test's own literal.
#[test]
fn a_version_1_snapshot_still_installs() {
    let mut writer = SnapshotWriter::in_memory();
    for chunk in GOLDEN_SNAPSHOT_CHUNKS_HEX {
        let mut bytes: Vec<u8> = (0..chunk.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&chunk[at..at + 2], 16).expect("hex"))
            .collect();
        bytes[0] = 1;
        writer.write_chunk(&bytes).expect("a version-1 chunk is read");
    }
    writer.finish().expect("and the snapshot completes");
}

/// A receiver refuses a chunk of an unknown version as it arrives, naming the format.
#[test]
fn a_snapshot_chunk_of_an_unknown_version_is_refused_by_name() {
    let mut chunks = snapshot_chunks();
    chunks[0][0] = SNAPSHOT_FORMAT_VERSION + 1;
    let mut writer = SnapshotWriter::in_memory();
    let error = writer.write_chunk(&chunks[0]).expect_err("a newer chunk format");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(
        error.to_string(),
        "snapshot chunk format version 3 is unknown to this node, which reads versions 1 to 2: \
         it was written by a newer node (upgrade this one) or is not a snapshot chunk"
    );
}
