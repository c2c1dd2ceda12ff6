//! Snapshots as a stream of bounded chunks, the same format for every store.
//!
//! A snapshot is the ledger state as canonical records (`tianping_ledger::codec`), in table
//! order (`Table::ALL`) and ascending key order within a table — the order `state_digest`
//! hashes them in. The records are cut into chunks of at most `SNAPSHOT_CHUNK_BYTES_MAX`
//! bytes; the last chunk is a trailer with the record count and the state digest. A receiver
//! checks each chunk as it arrives (bound, decoding, order) and the trailer at the end, so a
//! truncated, reordered or corrupted transfer is refused before it replaces any state.
//!
//! Every chunk starts with `format::SNAPSHOT_FORMAT_VERSION`: a chunk of an unknown format is
//! refused by name as it arrives.
//!
//! The Raft metadata (last log id, membership) travels beside the data in openraft's
//! `SnapshotMeta`; the chunks hold the ledger only.
//!
//! `SnapshotData` is what openraft hands between the state machine and the network: a sender
//! reads it chunk by chunk (`SnapshotData::reader`), a receiver rebuilds one with a
//! `SnapshotWriter` (in memory for the simulation's memory store, in a file for RocksDB).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tianping_ledger::codec::{self, CodecError};
use tianping_ledger::digest::StateDigestBuilder;
use tianping_ledger::store::{AccountTransferEntry, ExpiryKey, PayoutIndexKey};
use tianping_ledger::{
    AccountBalance, AccountControls, AuditRecord, ClaimedBatch, Collection, CollectionKey,
    ControlChange, Discrepancy, Meta, Payout, PayoutHistoryRecord, PendingTransfer, Refusal,
    StateDigest, SuspenseAssignment, Table, Transfer, WriteSet,
};

use crate::format::{SNAPSHOT_FORMAT_VERSION, decode_versioned, encode_versioned, format_error};

/// Largest chunk, in bytes (after encoding). Bounds the memory a sender or receiver holds for
/// one chunk and the size of one network message (gRPC's default limit is 4 MiB).
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 1 << 20;

/// A chunk is closed once its records reach this size, leaving room for the one record that
/// pushed it over (a record is bounded far below this: keys by `KEY_BYTES_MAX`, values are
/// small fixed records).
const SNAPSHOT_CHUNK_BYTES_TARGET: usize = SNAPSHOT_CHUNK_BYTES_MAX / 2;

/// Longest canonical key of any table: the collections table's bank (4 bytes) plus a bank
/// reference of at most `TEXT_BYTES_MAX` bytes. Every other key is at most 40 bytes.
pub const KEY_BYTES_MAX: usize = 4 + tianping_ledger::TEXT_BYTES_MAX;

/// Largest record value accepted from a snapshot. Ledger values are fixed-size records plus
/// texts bounded by `TEXT_BYTES_MAX`; this leaves a wide margin.
const VALUE_BYTES_MAX: usize = 64 * 1024;

const _: () = assert!(KEY_BYTES_MAX + VALUE_BYTES_MAX + 64 < SNAPSHOT_CHUNK_BYTES_TARGET);
const _: () = assert!(SNAPSHOT_CHUNK_BYTES_MAX <= u32::MAX as usize, "frame lengths are u32");

/// One record of the ledger state, as canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The table it belongs to.
    pub table: Table,
    /// Canonical key bytes.
    pub key: Vec<u8>,
    /// Canonical value bytes (empty for set tables).
    pub value: Vec<u8>,
}

/// One chunk on the wire or on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum SnapshotChunk {
    /// Records, continuing the order of the previous chunk.
    Records(Vec<SnapshotRecord>),
    /// The last chunk: how many records there were and the digest of the state they form.
    End {
        /// Records in all previous chunks.
        record_count: u64,
        /// `state_digest` of the state the records form.
        digest: [u8; 32],
    },
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Checks a stream of records as it goes: order, bounds, count and digest.
#[derive(Clone, Default)]
struct RecordChecker {
    last: Option<(Table, Vec<u8>)>,
    record_count: u64,
    digest: StateDigestBuilder,
    ended: bool,
}

impl RecordChecker {
    fn record(&mut self, record: &SnapshotRecord) -> io::Result<()> {
        if self.ended {
            return Err(invalid("snapshot has records after its trailer"));
        }
        if record.key.len() > KEY_BYTES_MAX || record.value.len() > VALUE_BYTES_MAX {
            return Err(invalid("snapshot record exceeds the key or value bound"));
        }
        if let Some((table, key)) = &self.last
            && (*table, key.as_slice()) >= (record.table, record.key.as_slice())
        {
            return Err(invalid("snapshot records are not in ascending (table, key) order"));
        }
        self.digest.add(record.table, &record.key, &record.value);
        self.record_count += 1;
        self.last = Some((record.table, record.key.clone()));
        Ok(())
    }

    fn end(&mut self, record_count: u64, digest: [u8; 32]) -> io::Result<StateDigest> {
        if self.ended {
            return Err(invalid("snapshot has two trailers"));
        }
        self.ended = true;
        if record_count != self.record_count {
            return Err(invalid(format!(
                "snapshot trailer counts {record_count} records, the chunks held {}",
                self.record_count
            )));
        }
        let computed = std::mem::take(&mut self.digest).finish();
        if computed.0 != digest {
            return Err(invalid("snapshot digest does not match its records"));
        }
        Ok(computed)
    }

    /// Checks one encoded chunk; `Some(digest)` once the trailer has been checked.
    fn chunk(&mut self, bytes: &[u8]) -> io::Result<Option<StateDigest>> {
        if bytes.len() > SNAPSHOT_CHUNK_BYTES_MAX {
            return Err(invalid(format!(
                "snapshot chunk of {} bytes exceeds {SNAPSHOT_CHUNK_BYTES_MAX}",
                bytes.len()
            )));
        }
        match decode_chunk(bytes)? {
            SnapshotChunk::Records(records) => {
                for record in &records {
                    self.record(record)?;
                }
                Ok(None)
            }
            SnapshotChunk::End { record_count, digest } => self.end(record_count, digest).map(Some),
        }
    }
}

/// A chunk's bytes: the snapshot format version, then the chunk (`format`).
fn decode_chunk(bytes: &[u8]) -> io::Result<SnapshotChunk> {
    decode_versioned(bytes, "snapshot chunk", SNAPSHOT_FORMAT_VERSION).map_err(format_error)
}

fn encode_chunk(chunk: &SnapshotChunk) -> io::Result<Vec<u8>> {
    encode_versioned(chunk, "snapshot chunk", SNAPSHOT_FORMAT_VERSION)
}

/// Where a snapshot's chunks live.
#[derive(Clone, Debug)]
enum Chunks {
    /// Chunks in memory (the memory store; no file system in the simulation).
    Memory(Arc<[Vec<u8>]>),
    /// A file of frames `[u32 big-endian length][chunk]`. The handle stays valid after the
    /// file is replaced by a newer snapshot, so a transfer in progress is never cut short.
    File { file: Arc<File>, length: u64 },
}

/// A complete, checked snapshot: read it chunk by chunk with `reader`.
#[derive(Clone, Debug)]
pub struct SnapshotData {
    chunks: Chunks,
    digest: StateDigest,
}

impl SnapshotData {
    /// Reads the chunks in order, one at a time.
    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader { chunks: self.chunks.clone(), position: 0 }
    }

    /// The digest of the ledger state this snapshot holds (`state_digest` of that state).
    pub fn digest(&self) -> StateDigest {
        self.digest
    }

    /// Calls `visit` with every record in order, checking the stream again on the way (the
    /// data may have sat on a disk since it was checked). Returns the state digest.
    pub fn for_each_chunk_records(
        &self,
        visit: &mut dyn FnMut(Vec<SnapshotRecord>) -> io::Result<()>,
    ) -> io::Result<StateDigest> {
        let mut checker = RecordChecker::default();
        let mut reader = self.reader();
        while let Some(bytes) = reader.next_chunk()? {
            if bytes.len() > SNAPSHOT_CHUNK_BYTES_MAX {
                return Err(invalid("stored snapshot chunk exceeds the bound"));
            }
            match decode_chunk(&bytes)? {
                SnapshotChunk::Records(records) => {
                    for record in &records {
                        checker.record(record)?;
                    }
                    visit(records)?;
                }
                SnapshotChunk::End { record_count, digest } => {
                    let digest = checker.end(record_count, digest)?;
                    if reader.next_chunk()?.is_some() {
                        return Err(invalid("snapshot has chunks after its trailer"));
                    }
                    return Ok(digest);
                }
            }
        }
        Err(invalid("snapshot ends without its trailer"))
    }

    /// Opens a snapshot file written by a `SnapshotWriter`, checking every chunk.
    pub fn open_file(path: &Path) -> io::Result<SnapshotData> {
        let file = File::open(path)?;
        let length = file.metadata()?.len();
        let unchecked = SnapshotData {
            chunks: Chunks::File { file: Arc::new(file), length },
            digest: StateDigest([0; 32]),
        };
        let digest = unchecked.for_each_chunk_records(&mut |_| Ok(()))?;
        Ok(SnapshotData { digest, ..unchecked })
    }
}

/// Reads a snapshot's chunks in order.
#[derive(Debug)]
pub struct SnapshotReader {
    chunks: Chunks,
    position: u64,
}

impl SnapshotReader {
    /// The next encoded chunk (at most `SNAPSHOT_CHUNK_BYTES_MAX` bytes), `None` after the
    /// last one.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        match &self.chunks {
            Chunks::Memory(chunks) => {
                let chunk = usize::try_from(self.position).ok().and_then(|i| chunks.get(i));
                self.position += 1;
                Ok(chunk.cloned())
            }
            Chunks::File { file, length } => {
                if self.position >= *length {
                    return Ok(None);
                }
                let mut header = [0u8; 4];
                file.read_exact_at(&mut header, self.position)?;
                let size = u32::from_be_bytes(header) as usize;
                if size > SNAPSHOT_CHUNK_BYTES_MAX {
                    return Err(invalid("snapshot file frame exceeds the chunk bound"));
                }
                let mut chunk = vec![0u8; size];
                file.read_exact_at(&mut chunk, self.position + 4)?;
                self.position += 4 + size as u64;
                Ok(Some(chunk))
            }
        }
    }
}

enum Sink {
    Memory(Vec<Vec<u8>>),
    File { file: File, temporary: PathBuf, path: PathBuf },
}

/// Assembles a snapshot from encoded chunks (from a builder or from the network), checking
/// each one as it arrives. Nothing is visible until `finish` has checked the trailer.
pub struct SnapshotWriter {
    sink: Sink,
    checker: RecordChecker,
    digest: Option<StateDigest>,
}

impl SnapshotWriter {
    /// A writer that keeps the chunks in memory.
    pub fn in_memory() -> SnapshotWriter {
        SnapshotWriter {
            sink: Sink::Memory(Vec::new()),
            checker: RecordChecker::default(),
            digest: None,
        }
    }

    /// A writer into `path`: chunks go to `path` + `.partial`, which `finish` syncs and
    /// renames to `path` (then syncs the directory), so `path` only ever names a complete,
    /// durable snapshot.
    pub fn to_file(path: &Path) -> io::Result<SnapshotWriter> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".partial");
        let temporary = PathBuf::from(temporary);
        let file = File::create(&temporary)?;
        Ok(SnapshotWriter {
            sink: Sink::File { file, temporary, path: path.to_owned() },
            checker: RecordChecker::default(),
            digest: None,
        })
    }

    /// Adds the next encoded chunk, refusing one that is too large, does not decode, breaks
    /// the record order or comes after the trailer.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.digest.is_some() {
            return Err(invalid("snapshot chunk after the trailer"));
        }
        self.digest = self.checker.chunk(chunk)?;
        match &mut self.sink {
            Sink::Memory(chunks) => chunks.push(chunk.to_vec()),
            Sink::File { file, .. } => {
                // Bounded by `SNAPSHOT_CHUNK_BYTES_MAX`, checked in `chunk` above.
                let size = chunk.len() as u32;
                file.write_all(&size.to_be_bytes())?;
                file.write_all(chunk)?;
            }
        }
        Ok(())
    }

    /// The complete snapshot; an error if the trailer never came.
    pub fn finish(self) -> io::Result<SnapshotData> {
        let Some(digest) = self.digest else {
            return Err(invalid("snapshot ended before its trailer"));
        };
        let chunks = match self.sink {
            Sink::Memory(chunks) => Chunks::Memory(chunks.into()),
            Sink::File { file, temporary, path } => {
                file.sync_all()?;
                drop(file);
                std::fs::rename(&temporary, &path)?;
                sync_parent_directory(&path)?;
                let file = File::open(&path)?;
                let length = file.metadata()?.len();
                Chunks::File { file: Arc::new(file), length }
            }
        };
        Ok(SnapshotData { chunks, digest })
    }
}

/// Makes a rename or a new file in `path`'s directory durable.
pub(crate) fn sync_parent_directory(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(directory) => File::open(directory)?.sync_all(),
        None => Ok(()),
    }
}

/// Cuts records, fed in order, into chunks and feeds them to a `SnapshotWriter`.
pub struct SnapshotEncoder {
    writer: SnapshotWriter,
    records: Vec<SnapshotRecord>,
    records_bytes: usize,
    record_count: u64,
    digest: StateDigestBuilder,
}

impl SnapshotEncoder {
    /// Encodes into `writer`.
    pub fn new(writer: SnapshotWriter) -> SnapshotEncoder {
        SnapshotEncoder {
            writer,
            records: Vec::new(),
            records_bytes: 0,
            record_count: 0,
            digest: StateDigestBuilder::new(),
        }
    }

    /// Adds the next record (tables in `Table::ALL` order, keys ascending within a table).
    pub fn add(&mut self, table: Table, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.digest.add(table, key, value);
        self.record_count += 1;
        // Postcard adds a few length bytes per record; 16 over-counts them safely.
        self.records_bytes += key.len() + value.len() + 16;
        self.records.push(SnapshotRecord { table, key: key.to_vec(), value: value.to_vec() });
        if self.records_bytes >= SNAPSHOT_CHUNK_BYTES_TARGET {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.records.is_empty() {
            return Ok(());
        }
        let chunk = SnapshotChunk::Records(std::mem::take(&mut self.records));
        self.records_bytes = 0;
        self.writer.write_chunk(&encode_chunk(&chunk)?)
    }

    /// Writes the trailer and returns the finished snapshot.
    pub fn finish(mut self) -> io::Result<SnapshotData> {
        self.flush()?;
        let digest = std::mem::take(&mut self.digest).finish();
        let trailer = SnapshotChunk::End { record_count: self.record_count, digest: digest.0 };
        self.writer.write_chunk(&encode_chunk(&trailer)?)?;
        self.writer.finish()
    }
}

/// Encodes the whole state of `store` (in memory, or into whatever `writer` targets).
pub fn encode_ledger<S: tianping_ledger::LedgerStore + ?Sized>(
    store: &S,
    writer: SnapshotWriter,
) -> io::Result<SnapshotData> {
    let mut encoder = SnapshotEncoder::new(writer);
    let mut failure = None;
    for table in Table::ALL {
        store.visit_table(table, &mut |key, value| {
            if failure.is_none()
                && let Err(error) = encoder.add(table, key, value)
            {
                failure = Some(error);
            }
        });
    }
    if let Some(error) = failure {
        return Err(error);
    }
    encoder.finish()
}

fn codec_error(error: CodecError) -> io::Error {
    invalid(error.to_string())
}

/// Adds one canonical record to `writes` as the typed value it encodes, so a store that only
/// accepts `WriteSet`s (the memory store) can load a snapshot. Records must come in snapshot
/// order; the `Meta` record replaces `writes.meta`.
pub fn add_record_to_write_set(record: &SnapshotRecord, writes: &mut WriteSet) -> io::Result<()> {
    let key = record.key.as_slice();
    let value = record.value.as_slice();
    match record.table {
        Table::Meta => writes.meta = decode::<Meta>(value, "meta")?,
        Table::Accounts => writes.accounts.push(decode(value, "account")?),
        Table::Transfers => writes.transfers.push(decode::<Transfer>(value, "transfer")?),
        Table::PendingTransfers => {
            writes.pending_transfers.push(decode::<PendingTransfer>(value, "pending transfer")?)
        }
        Table::Expiries => {
            let expiry: ExpiryKey = codec::decode_expiry_key(key).map_err(codec_error)?;
            writes.expiries.push((expiry, true));
        }
        Table::Payouts => writes.payouts.push(decode::<Payout>(value, "payout")?),
        Table::PayoutIndex => {
            let index: PayoutIndexKey = codec::decode_payout_index_key(key).map_err(codec_error)?;
            writes.payout_index.push((index, true));
        }
        Table::Collections => writes.collections.push(decode::<Collection>(value, "collection")?),
        Table::AccountTransfers => {
            let entry: AccountTransferEntry =
                codec::decode_account_transfer_key(key).map_err(codec_error)?;
            writes.account_transfers.push(entry);
        }
        Table::AccountBalances => {
            let (account_id, _) = codec::decode_account_balance_key(key).map_err(codec_error)?;
            let balance: AccountBalance = decode(value, "account balance")?;
            writes.account_balances.push((account_id, balance));
        }
        Table::Audit => writes.audit.push(decode::<AuditRecord>(value, "audit record")?),
        Table::Refusals => writes.refusals.push(decode::<Refusal>(value, "refusal")?),
        Table::PayoutHistory => writes
            .payout_history
            .push(decode::<PayoutHistoryRecord>(value, "payout history record")?),
        Table::SuspenseIndex => {
            let index = codec::decode_suspense_key(key).map_err(codec_error)?;
            let collection: CollectionKey = decode(value, "suspense index entry")?;
            writes.suspense_index.push((index, Some(collection)));
        }
        Table::SuspenseAssignments => writes
            .suspense_assignments
            .push(decode::<SuspenseAssignment>(value, "suspense assignment")?),
        Table::Discrepancies => {
            writes.discrepancies.push(decode::<Discrepancy>(value, "discrepancy")?);
        }
        Table::DiscrepancyIndex => {
            let timestamp = codec::decode_timestamp_key(key).map_err(codec_error)?;
            let id = decode::<u128>(value, "discrepancy index entry")?;
            writes.discrepancy_index.push((timestamp, id));
        }
        Table::DiscrepancyBlocks => {
            let block = codec::decode_discrepancy_block_key(key).map_err(codec_error)?;
            writes.discrepancy_blocks.push((block, true));
        }
        Table::AccountControls => {
            writes.account_controls.push(decode::<AccountControls>(value, "account controls")?);
        }
        Table::ControlChanges => {
            writes.control_changes.push(decode::<ControlChange>(value, "control change")?);
        }
        Table::ClaimedBatches => {
            writes.claimed_batches.push(decode::<ClaimedBatch>(value, "claimed batch")?);
        }
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> io::Result<T> {
    codec::decode_value(bytes, what).map_err(codec_error)
}

/// A snapshot as openraft passes it: metadata plus data.
pub type RaftSnapshot = openraft::alias::SnapshotOf<crate::type_config::TypeConfig, SnapshotData>;

#[cfg(test)]
mod tests {
    use tianping_ledger::{
        Batch, Command, LedgerConfig, LedgerStore, LedgerStoreMut, MemoryStore, NewAccount,
        NewPayout, PayoutBatchClaim, StateMachine, state_digest,
    };

    use super::*;

    /// A snapshot carries the claimed batches (format 2's third table) and a receiver loads
    /// them back: the claim id still answers for its payouts after a snapshot install.
    #[test]
    fn claimed_batches_travel_in_a_snapshot() {
        let machine = StateMachine::new(LedgerConfig::default()).expect("configuration");
        let mut store = MemoryStore::new();
        let account = |id| {
            Command::CreateAccount(NewAccount { id, ledger: 1, code: 1, ..NewAccount::default() })
        };
        let commands = vec![
            account(1),
            account(2),
            Command::CreatePayout(NewPayout {
                id: 30,
                debit_account_id: 1,
                credit_account_id: 2,
                amount: 5,
                ledger: 1,
                code: 1,
                bank: 7,
                beneficiary: "6222020200001234567".to_owned(),
                ..NewPayout::default()
            }),
            Command::ClaimPayoutBatch(PayoutBatchClaim {
                claim_id: 900,
                worker_id: 1,
                bank: 7,
                max: 4,
                lease_ms: 60_000,
            }),
        ];
        let batch = Batch { timestamp: 1_764_000_000_000_000_000, commands };
        let (_, writes) = machine.apply(&store, &batch).expect("applies");
        store.commit(&writes);
        assert!(store.claimed_batch(900).is_some(), "the claim was filed");

        let data = encode_ledger(&store, SnapshotWriter::in_memory()).expect("encodes");
        let mut loaded = MemoryStore::new();
        let digest = data
            .for_each_chunk_records(&mut |records| {
                let mut writes = WriteSet { meta: loaded.meta(), ..WriteSet::default() };
                for record in &records {
                    add_record_to_write_set(record, &mut writes)?;
                }
                loaded.commit(&writes);
                Ok(())
            })
            .expect("loads");
        assert_eq!(digest, state_digest(&store));
        assert_eq!(state_digest(&loaded), state_digest(&store));
        assert_eq!(loaded.claimed_batch(900), store.claimed_batch(900));
    }
}
