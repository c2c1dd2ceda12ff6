//! The ledger's `LedgerStore` on RocksDB: one column family per `Table`, keyed and valued by
//! the ledger's canonical bytes, with an exact in-memory account cache in front.
//!
//! The cache holds at most `RocksConfig::account_cache_entries_max` accounts. It is exact
//! because every change of the tables goes through `RocksLedger` under the cache's lock: a
//! commit writes RocksDB and then the cache before anyone can read again, a miss reads
//! RocksDB and fills the cache under the same lock, and installing a snapshot empties it.
//!
//! Reads fail stop without a check anyone could forget. The ledger's `LedgerStore` is
//! infallible (the pure state machine has no error path for I/O), so this store is never
//! handed out bare: every read happens inside a *read session* (`RocksLedger::session`,
//! reached as `RocksStateMachine::with_ledger` and by applying an entry), and a session
//! answers `io::Result<T>`. A failed or undecodable read inside it is answered as "absent" to
//! the computation (which cannot see I/O) and turns the whole session's answer into the
//! error, so whatever was computed from it — results, a `Refusal`, writes — is dropped
//! unseen. Applying returns that error to openraft before anything is written, and openraft
//! stops the node; a client read answers it as an error. One session runs at a time, so a
//! failure is never charged to another session's answer.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use rocksdb::{ColumnFamily, DBRawIterator, WriteBatch};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tianping_ledger::codec::{self, encode_value};
use tianping_ledger::store::{AccountTransferEntry, ExpiryKey, PayoutIndexKey};
use tianping_ledger::{
    Account, AccountBalance, AccountControls, AuditRecord, ClaimedBatch, Collection, CollectionKey,
    ControlChange, Discrepancy, DiscrepancyBlock, HistoryFilter, LedgerStore, LedgerStoreMut, Meta,
    Payout, PayoutHistoryRecord, PendingTransfer, Refusal, SuspenseAssignment, SuspenseKey, Table,
    Transfer, WriteSet,
};

use super::{Shared, rocks_error, table_cf, unlogged};
use crate::faults::StorageAccess;
use crate::snapshot::KEY_BYTES_MAX;

struct AccountCache {
    accounts: FxHashMap<u128, Account>,
    capacity: usize,
    /// The ledger's `Meta` record, read once per batch.
    meta: Option<Meta>,
}

impl AccountCache {
    fn remember(&mut self, account: Account) {
        // One probe for the usual case (a cached account changed): the map is far larger than
        // the CPU caches, so every probe is a cache miss.
        if let Some(cached) = self.accounts.get_mut(&account.id) {
            *cached = account;
        } else if self.accounts.len() < self.capacity {
            self.accounts.insert(account.id, account);
        }
    }
}

/// Encodes `value` into `buffer` (replacing its contents) exactly as `codec::encode_value`
/// does — postcard — but reusing the buffer's allocation: one entry writes tens of thousands
/// of records, and a fresh `Vec` grows through several reallocations for each.
fn encode_into<T: Serialize>(value: &T, buffer: &mut Vec<u8>) {
    let mut reused = std::mem::take(buffer);
    reused.clear();
    *buffer =
        postcard::to_extend(value, reused).expect("postcard serialises ledger records into a Vec");
}

/// The ledger state in a node's RocksDB, readable only inside a read session
/// (`RocksStateMachine::with_ledger`).
pub struct RocksLedger {
    shared: Arc<Shared>,
    cache: Mutex<AccountCache>,
    /// Transfers read ahead for the entry being computed (`prefetch_transfers`), present or
    /// absent; empty otherwise.
    prefetched: Mutex<FxHashMap<u128, Option<Transfer>>>,
    /// The first failed read of the running session (see the module doc).
    session_failure: Mutex<Option<io::Error>>,
    /// Held for the whole of a read session: one at a time.
    sessions: Mutex<()>,
}

impl RocksLedger {
    pub(crate) fn new(shared: Arc<Shared>, account_cache_entries_max: usize) -> RocksLedger {
        RocksLedger {
            shared,
            cache: Mutex::new(AccountCache {
                accounts: FxHashMap::default(),
                capacity: account_cache_entries_max,
                meta: None,
            }),
            prefetched: Mutex::new(FxHashMap::default()),
            session_failure: Mutex::new(None),
            sessions: Mutex::new(()),
        }
    }

    fn lock_prefetched(&self) -> MutexGuard<'_, FxHashMap<u128, Option<Transfer>>> {
        self.prefetched.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the transfers `ids` in one sorted batched lookup, so that computing the entry
    /// finds them in memory: one `MultiGet` costs far less than thousands of single lookups
    /// (it saved about 3 ms of the ~30 ms the apply benchmark spends on an 8 190-transfer
    /// entry). The answers stay exact while the entry is computed, since nothing writes the
    /// tables then; `forget_prefetched` drops them before the entry's writes are committed.
    /// Transfers the ledger reads that are not here are read one by one as before.
    fn read_ahead_transfers(&self, ids: &[u128]) {
        let Some(family) = self.family(Table::Transfers) else { return };
        let keys: Vec<[u8; 16]> = ids.iter().map(|id| codec::id_key(*id)).collect();
        let values = self.shared.db.batched_multi_get_cf(family, keys.iter(), true);
        let mut prefetched = self.lock_prefetched();
        prefetched.clear();
        for (&id, value) in ids.iter().zip(values) {
            match value {
                Ok(Some(bytes)) => {
                    if let Some(transfer) = self.decode_record::<Transfer>(&bytes, "transfer") {
                        prefetched.insert(id, Some(transfer));
                    }
                }
                Ok(None) => {
                    prefetched.insert(id, None);
                }
                Err(error) => self.record_error(rocks_error(error)),
            }
        }
    }

    /// Drops what `prefetch_transfers` read (the entry is computed).
    pub(crate) fn forget_prefetched(&self) {
        self.lock_prefetched().clear();
    }

    fn lock_cache(&self) -> MutexGuard<'_, AccountCache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `read` as one read session: its value if every read it made succeeded, else the
    /// first read's error (the value, computed from "absent" answers, is dropped). The only
    /// way to read this store; sessions run one at a time.
    pub(crate) fn session<T>(&self, read: impl FnOnce(&RocksLedger) -> T) -> io::Result<T> {
        let _one_at_a_time = self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Every read runs in a session and every session takes its failure: none is left over.
        assert!(self.take_failure().is_none(), "a ledger read failed outside a read session");
        let value = read(self);
        // Read-ahead belongs to the session that asked for it.
        self.forget_prefetched();
        match self.take_failure() {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    fn take_failure(&self) -> Option<io::Error> {
        self.session_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }

    fn record_error(&self, error: io::Error) {
        let mut slot = self.session_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    /// The column family of `table`, for one read (every read of a table starts here, so the
    /// fault hook sees each one).
    fn family(&self, table: Table) -> Option<&ColumnFamily> {
        if let Err(error) = self.shared.injected_fault(StorageAccess::Read(table)) {
            self.record_error(error);
            return None;
        }
        match self.shared.cf(table_cf(table)) {
            Ok(family) => Some(family),
            Err(error) => {
                self.record_error(error);
                None
            }
        }
    }

    fn get<T: DeserializeOwned>(&self, table: Table, key: &[u8], what: &'static str) -> Option<T> {
        let family = self.family(table)?;
        match self.shared.db.get_pinned_cf(family, key) {
            Ok(Some(bytes)) => match codec::decode_value(&bytes, what) {
                Ok(value) => Some(value),
                Err(error) => {
                    self.record_error(io::Error::new(
                        io::ErrorKind::InvalidData,
                        error.to_string(),
                    ));
                    None
                }
            },
            Ok(None) => None,
            Err(error) => {
                self.record_error(rocks_error(error));
                None
            }
        }
    }

    fn iterator(&self, table: Table) -> Option<DBRawIterator<'_>> {
        Some(self.shared.db.raw_iterator_cf(self.family(table)?))
    }

    /// Walks `table` from `start` (forward) or from `start` backwards (`reversed`, seeking the
    /// last key at or before `start`), calling `visit` until it returns false.
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        reversed: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) {
        let Some(mut iterator) = self.iterator(table) else { return };
        if reversed {
            iterator.seek_for_prev(start);
        } else {
            iterator.seek(start);
        }
        while let Some((key, value)) = iterator.item() {
            if !visit(key, value) {
                break;
            }
            if reversed {
                iterator.prev();
            } else {
                iterator.next();
            }
        }
        if let Err(error) = iterator.status() {
            self.record_error(rocks_error(error));
        }
    }

    fn decode_key<T>(&self, decoded: Result<T, codec::CodecError>) -> Option<T> {
        match decoded {
            Ok(value) => Some(value),
            Err(error) => {
                self.record_error(io::Error::new(io::ErrorKind::InvalidData, error.to_string()));
                None
            }
        }
    }

    fn decode_record<T: DeserializeOwned>(&self, bytes: &[u8], what: &'static str) -> Option<T> {
        self.decode_key(codec::decode_value(bytes, what))
    }

    /// Adds `writes` to `batch` as canonical records, each table's records in ascending key
    /// order: RocksDB's memtable skip list reuses its last insert position for a key just
    /// above the previous one, so sorted inserts cost a fraction of random ones (the apply
    /// benchmark spends most of its time there otherwise). Within a table a `WriteSet` names
    /// each key once, except index sets whose insert/delete order is kept by a stable sort.
    pub(crate) fn add_write_set(
        &self,
        writes: &WriteSet,
        batch: &mut WriteBatch,
    ) -> io::Result<()> {
        let family = |table| self.shared.cf(table_cf(table));
        let mut value = Vec::with_capacity(512);
        let mut accounts: Vec<&Account> = writes.accounts.iter().collect();
        accounts.sort_by_key(|account| account.id);
        let accounts_family = family(Table::Accounts)?;
        for account in accounts {
            encode_into(account, &mut value);
            batch.put_cf(accounts_family, codec::id_key(account.id), &value);
        }
        let mut transfers: Vec<&Transfer> = writes.transfers.iter().collect();
        transfers.sort_by_key(|transfer| transfer.id);
        let transfers_family = family(Table::Transfers)?;
        for transfer in transfers {
            encode_into(transfer, &mut value);
            batch.put_cf(transfers_family, codec::id_key(transfer.id), &value);
        }
        let mut pending: Vec<&PendingTransfer> = writes.pending_transfers.iter().collect();
        pending.sort_by_key(|pending_transfer| pending_transfer.id);
        let pending_family = family(Table::PendingTransfers)?;
        for pending_transfer in pending {
            encode_into(pending_transfer, &mut value);
            batch.put_cf(pending_family, codec::id_key(pending_transfer.id), &value);
        }
        let mut expiries: Vec<&(ExpiryKey, bool)> = writes.expiries.iter().collect();
        expiries.sort_by_key(|(key, _)| *key);
        let expiries_family = family(Table::Expiries)?;
        for (key, present) in expiries {
            set_member(batch, expiries_family, &codec::expiry_key(key), *present);
        }
        let payouts_family = family(Table::Payouts)?;
        for payout in &writes.payouts {
            encode_into(payout, &mut value);
            batch.put_cf(payouts_family, codec::id_key(payout.id), &value);
        }
        let payout_index_family = family(Table::PayoutIndex)?;
        for (key, present) in &writes.payout_index {
            set_member(batch, payout_index_family, &codec::payout_index_key(key), *present);
        }
        let collections_family = family(Table::Collections)?;
        for collection in &writes.collections {
            let key = codec::collection_key(&CollectionKey {
                bank: collection.request.bank,
                bank_reference: collection.request.bank_reference.clone(),
            });
            // Snapshot installation clears tables with a range that ends above this bound.
            assert!(key.len() <= KEY_BYTES_MAX, "collection key longer than KEY_BYTES_MAX");
            encode_into(collection, &mut value);
            batch.put_cf(collections_family, key, &value);
        }
        let mut history: Vec<&AccountTransferEntry> = writes.account_transfers.iter().collect();
        history.sort();
        let history_family = family(Table::AccountTransfers)?;
        for entry in history {
            batch.put_cf(history_family, codec::account_transfer_key(entry), []);
        }
        let mut balances: Vec<&(u128, AccountBalance)> = writes.account_balances.iter().collect();
        balances.sort_by_key(|(account_id, balance)| (*account_id, balance.timestamp));
        let balances_family = family(Table::AccountBalances)?;
        for (account_id, balance) in balances {
            let key = codec::account_balance_key(*account_id, balance.timestamp);
            encode_into(balance, &mut value);
            batch.put_cf(balances_family, key, &value);
        }
        let mut audit: Vec<&AuditRecord> = writes.audit.iter().collect();
        audit.sort_by_key(|record| (record.timestamp, record.account_id));
        let audit_family = family(Table::Audit)?;
        for record in audit {
            encode_into(record, &mut value);
            batch.put_cf(
                audit_family,
                codec::audit_key(record.timestamp, record.account_id),
                &value,
            );
        }
        let refusals_family = family(Table::Refusals)?;
        for refusal in &writes.refusals {
            encode_into(refusal, &mut value);
            batch.put_cf(refusals_family, codec::id_key(refusal.id), &value);
        }
        let mut history: Vec<&PayoutHistoryRecord> = writes.payout_history.iter().collect();
        history.sort_by_key(|record| (record.payout_id, record.timestamp));
        let payout_history_family = family(Table::PayoutHistory)?;
        for record in history {
            encode_into(record, &mut value);
            let key = codec::payout_history_key(record.payout_id, record.timestamp);
            batch.put_cf(payout_history_family, key, &value);
        }
        let suspense_index_family = family(Table::SuspenseIndex)?;
        for (key, collection) in &writes.suspense_index {
            match collection {
                Some(collection) => {
                    encode_into(collection, &mut value);
                    batch.put_cf(suspense_index_family, codec::suspense_key(key), &value);
                }
                None => batch.delete_cf(suspense_index_family, codec::suspense_key(key)),
            }
        }
        let assignments_family = family(Table::SuspenseAssignments)?;
        for assignment in &writes.suspense_assignments {
            let key = codec::collection_key(&assignment.collection);
            assert!(key.len() <= KEY_BYTES_MAX, "collection key longer than KEY_BYTES_MAX");
            encode_into(assignment, &mut value);
            batch.put_cf(assignments_family, key, &value);
        }
        let mut discrepancies: Vec<&Discrepancy> = writes.discrepancies.iter().collect();
        discrepancies.sort_by_key(|discrepancy| discrepancy.request.id);
        let discrepancies_family = family(Table::Discrepancies)?;
        for discrepancy in discrepancies {
            encode_into(discrepancy, &mut value);
            batch.put_cf(discrepancies_family, codec::id_key(discrepancy.request.id), &value);
        }
        let discrepancy_index_family = family(Table::DiscrepancyIndex)?;
        for (timestamp, id) in &writes.discrepancy_index {
            encode_into(id, &mut value);
            batch.put_cf(discrepancy_index_family, codec::timestamp_key(*timestamp), &value);
        }
        // Insertions and deletions in the order the batch made them: one block may be filed
        // and lifted within the same batch.
        let discrepancy_blocks_family = family(Table::DiscrepancyBlocks)?;
        for (block, present) in &writes.discrepancy_blocks {
            let key = codec::discrepancy_block_key(block);
            set_member(batch, discrepancy_blocks_family, &key, *present);
        }
        let controls_family = family(Table::AccountControls)?;
        for controls in &writes.account_controls {
            encode_into(controls, &mut value);
            batch.put_cf(controls_family, codec::id_key(controls.account_id), &value);
        }
        let changes_family = family(Table::ControlChanges)?;
        for change in &writes.control_changes {
            encode_into(change, &mut value);
            batch.put_cf(changes_family, codec::id_key(change.id), &value);
        }
        let claimed_family = family(Table::ClaimedBatches)?;
        for claimed in &writes.claimed_batches {
            encode_into(claimed, &mut value);
            batch.put_cf(claimed_family, codec::id_key(claimed.claim.claim_id), &value);
        }
        encode_into(&writes.meta, &mut value);
        batch.put_cf(family(Table::Meta)?, [], &value);
        Ok(())
    }

    /// Writes `writes` (if any) plus whatever `extra` adds, in one atomic batch outside the
    /// write-ahead log (durable at the next flush, see `rocks`), and brings the cache up to
    /// date before anyone reads again.
    pub(crate) fn commit_with(
        &self,
        writes: Option<&WriteSet>,
        extra: impl FnOnce(&mut WriteBatch) -> io::Result<()>,
    ) -> io::Result<()> {
        // Roughly 300 bytes per transfer once encoded; one allocation instead of a dozen.
        let capacity = writes.map_or(0, |writes| writes.transfers.len() * 320);
        let mut batch = WriteBatch::with_capacity_bytes(capacity);
        if let Some(writes) = writes {
            self.add_write_set(writes, &mut batch)?;
        }
        extra(&mut batch)?;
        self.shared.injected_fault(StorageAccess::ApplyWrite)?;
        let mut cache = self.lock_cache();
        if let (Some(writes), Some(meta)) = (writes, cache.meta) {
            // Checked before the write: time that went backwards would corrupt every index.
            assert!(writes.meta.last_timestamp >= meta.last_timestamp, "time went backwards");
        }
        self.shared.db.write_opt(batch, &unlogged()).map_err(rocks_error)?;
        if let Some(writes) = writes {
            for account in &writes.accounts {
                cache.remember(*account);
            }
            cache.meta = Some(writes.meta);
        }
        Ok(())
    }

    /// Forgets every cached record (the tables are being replaced).
    pub(crate) fn clear_cache(&self) {
        let mut cache = self.lock_cache();
        cache.accounts.clear();
        cache.meta = None;
        self.forget_prefetched();
    }

    /// Visits `table` as it is in the database (`Meta` yields its default when absent, as in
    /// every other store, so digests agree).
    pub(crate) fn visit_database_table(
        db: &rocksdb::DB,
        family: &ColumnFamily,
        table: Table,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> io::Result<()> {
        let mut iterator = db.raw_iterator_cf(family);
        iterator.seek_to_first();
        let mut any = false;
        while let Some((key, value)) = iterator.item() {
            visit(key, value);
            any = true;
            iterator.next();
        }
        iterator.status().map_err(rocks_error)?;
        if table == Table::Meta && !any {
            visit(&[], &encode_value(&Meta::default()));
        }
        Ok(())
    }
}

fn set_member(batch: &mut WriteBatch, family: &ColumnFamily, key: &[u8], present: bool) {
    if present {
        batch.put_cf(family, key, []);
    } else {
        batch.delete_cf(family, key);
    }
}

impl LedgerStore for RocksLedger {
    fn account(&self, id: u128) -> Option<Account> {
        let mut cache = self.lock_cache();
        if let Some(account) = cache.accounts.get(&id) {
            return Some(*account);
        }
        let account: Account = self.get(Table::Accounts, &codec::id_key(id), "account")?;
        cache.remember(account);
        Some(account)
    }

    fn transfer(&self, id: u128) -> Option<Transfer> {
        if let Some(prefetched) = self.lock_prefetched().get(&id) {
            return *prefetched;
        }
        self.get(Table::Transfers, &codec::id_key(id), "transfer")
    }

    fn pending_transfer(&self, id: u128) -> Option<PendingTransfer> {
        self.get(Table::PendingTransfers, &codec::id_key(id), "pending transfer")
    }

    fn payout(&self, id: u128) -> Option<Payout> {
        self.get(Table::Payouts, &codec::id_key(id), "payout")
    }

    fn refusal(&self, id: u128) -> Option<Refusal> {
        self.get(Table::Refusals, &codec::id_key(id), "refusal")
    }

    fn collection(&self, key: &CollectionKey) -> Option<Collection> {
        self.get(Table::Collections, &codec::collection_key(key), "collection")
    }

    fn meta(&self) -> Meta {
        let mut cache = self.lock_cache();
        if let Some(meta) = cache.meta {
            return meta;
        }
        match self.get::<Meta>(Table::Meta, &[], "meta") {
            Some(meta) => {
                cache.meta = Some(meta);
                meta
            }
            // Absent (a new ledger) or unreadable (recorded; the result is discarded).
            None => Meta::default(),
        }
    }

    fn expiries_due(&self, now: u64, limit: usize) -> Vec<ExpiryKey> {
        let mut due = Vec::new();
        self.scan(Table::Expiries, &[], false, &mut |key, _| {
            let Some(expiry) = self.decode_key(codec::decode_expiry_key(key)) else { return false };
            if expiry.expires_at > now || due.len() >= limit {
                return false;
            }
            due.push(expiry);
            due.len() < limit
        });
        due
    }

    fn payout_index_range(
        &self,
        first: &PayoutIndexKey,
        last: &PayoutIndexKey,
        limit: usize,
    ) -> Vec<PayoutIndexKey> {
        let mut keys = Vec::new();
        if first > last || limit == 0 {
            return keys;
        }
        self.scan(Table::PayoutIndex, &codec::payout_index_key(first), false, &mut |key, _| {
            let Some(index) = self.decode_key(codec::decode_payout_index_key(key)) else {
                return false;
            };
            if &index > last {
                return false;
            }
            keys.push(index);
            keys.len() < limit
        });
        keys
    }

    fn account_transfers(&self, filter: &HistoryFilter) -> Vec<AccountTransferEntry> {
        let mut entries = Vec::new();
        if filter.timestamp_min > filter.timestamp_max || filter.limit == 0 {
            return entries;
        }
        let first = AccountTransferEntry {
            account_id: filter.account_id,
            timestamp: filter.timestamp_min,
            transfer_id: 0,
        };
        let last = AccountTransferEntry {
            account_id: filter.account_id,
            timestamp: filter.timestamp_max,
            transfer_id: u128::MAX,
        };
        let start = if filter.reversed { &last } else { &first };
        self.scan(
            Table::AccountTransfers,
            &codec::account_transfer_key(start),
            filter.reversed,
            &mut |key, _| {
                let Some(entry) = self.decode_key(codec::decode_account_transfer_key(key)) else {
                    return false;
                };
                if entry < first || entry > last {
                    return false;
                }
                entries.push(entry);
                entries.len() < filter.limit
            },
        );
        entries
    }

    fn account_balances(&self, filter: &HistoryFilter) -> Vec<AccountBalance> {
        let mut balances = Vec::new();
        if filter.timestamp_min > filter.timestamp_max || filter.limit == 0 {
            return balances;
        }
        let first = (filter.account_id, filter.timestamp_min);
        let last = (filter.account_id, filter.timestamp_max);
        let start = if filter.reversed { last } else { first };
        let start = codec::account_balance_key(start.0, start.1);
        self.scan(Table::AccountBalances, &start, filter.reversed, &mut |key, value| {
            let Some(position) = self.decode_key(codec::decode_account_balance_key(key)) else {
                return false;
            };
            if position < first || position > last {
                return false;
            }
            let Some(balance) = self.decode_record::<AccountBalance>(value, "account balance")
            else {
                return false;
            };
            balances.push(balance);
            balances.len() < filter.limit
        });
        balances
    }

    fn audit_records(&self, timestamp_min: u64, limit: usize) -> Vec<AuditRecord> {
        let mut records = Vec::new();
        if limit == 0 {
            return records;
        }
        self.scan(Table::Audit, &codec::audit_key(timestamp_min, 0), false, &mut |_, value| {
            let Some(record) = self.decode_record::<AuditRecord>(value, "audit record") else {
                return false;
            };
            records.push(record);
            records.len() < limit
        });
        records
    }

    fn payout_history(
        &self,
        payout_id: u128,
        timestamp_min: u64,
        limit: usize,
    ) -> Vec<PayoutHistoryRecord> {
        let mut records = Vec::new();
        if limit == 0 {
            return records;
        }
        let start = codec::payout_history_key(payout_id, timestamp_min);
        self.scan(Table::PayoutHistory, &start, false, &mut |key, value| {
            let Some((id, _)) = self.decode_key(codec::decode_payout_history_key(key)) else {
                return false;
            };
            if id != payout_id {
                return false;
            }
            let Some(record) = self.decode_record(value, "payout history record") else {
                return false;
            };
            records.push(record);
            records.len() < limit
        });
        records
    }

    fn suspense_range(
        &self,
        first: &SuspenseKey,
        last: &SuspenseKey,
        limit: usize,
    ) -> Vec<(SuspenseKey, CollectionKey)> {
        let mut entries = Vec::new();
        if first > last || limit == 0 {
            return entries;
        }
        self.scan(Table::SuspenseIndex, &codec::suspense_key(first), false, &mut |key, value| {
            let Some(index) = self.decode_key(codec::decode_suspense_key(key)) else {
                return false;
            };
            if &index > last {
                return false;
            }
            let Some(collection) = self.decode_record(value, "suspense index entry") else {
                return false;
            };
            entries.push((index, collection));
            entries.len() < limit
        });
        entries
    }

    fn suspense_assignment(&self, key: &CollectionKey) -> Option<SuspenseAssignment> {
        self.get(Table::SuspenseAssignments, &codec::collection_key(key), "suspense assignment")
    }

    fn discrepancy(&self, id: u128) -> Option<Discrepancy> {
        self.get(Table::Discrepancies, &codec::id_key(id), "discrepancy")
    }

    fn account_controls(&self, account_id: u128) -> Option<AccountControls> {
        self.get(Table::AccountControls, &codec::id_key(account_id), "account controls")
    }

    fn control_change(&self, id: u128) -> Option<ControlChange> {
        self.get(Table::ControlChanges, &codec::id_key(id), "control change")
    }

    fn claimed_batch(&self, claim_id: u128) -> Option<ClaimedBatch> {
        self.get(Table::ClaimedBatches, &codec::id_key(claim_id), "claimed batch")
    }

    fn discrepancy_index_range(
        &self,
        timestamp_first: u64,
        timestamp_last: u64,
        limit: usize,
    ) -> Vec<(u64, u128)> {
        let mut entries = Vec::new();
        if timestamp_first > timestamp_last || limit == 0 {
            return entries;
        }
        let start = codec::timestamp_key(timestamp_first);
        self.scan(Table::DiscrepancyIndex, &start, false, &mut |key, value| {
            let Some(timestamp) = self.decode_key(codec::decode_timestamp_key(key)) else {
                return false;
            };
            if timestamp > timestamp_last {
                return false;
            }
            let Some(id) = self.decode_record::<u128>(value, "discrepancy index entry") else {
                return false;
            };
            entries.push((timestamp, id));
            entries.len() < limit
        });
        entries
    }

    fn discrepancy_block_range(
        &self,
        first: &DiscrepancyBlock,
        last: &DiscrepancyBlock,
        limit: usize,
    ) -> Vec<DiscrepancyBlock> {
        let mut blocks = Vec::new();
        if first > last || limit == 0 {
            return blocks;
        }
        let start = codec::discrepancy_block_key(first);
        self.scan(Table::DiscrepancyBlocks, &start, false, &mut |key, _| {
            let Some(block) = self.decode_key(codec::decode_discrepancy_block_key(key)) else {
                return false;
            };
            if &block > last {
                return false;
            }
            blocks.push(block);
            blocks.len() < limit
        });
        blocks
    }

    fn prefetch_transfers(&self, ids: &[u128]) {
        self.read_ahead_transfers(ids);
    }

    fn visit_table(&self, table: Table, visit: &mut dyn FnMut(&[u8], &[u8])) {
        let Some(family) = self.family(table) else { return };
        if let Err(error) = RocksLedger::visit_database_table(&self.shared.db, family, table, visit)
        {
            self.record_error(error);
        }
    }
}

impl LedgerStoreMut for RocksLedger {
    /// Fail-stop, as the ledger's storage contract asks: a write that cannot be stored stops
    /// the process rather than let this replica's state silently diverge. (The Raft apply path
    /// does not use this; it writes through `commit_with` and reports errors to openraft.)
    fn commit(&mut self, writes: &WriteSet) {
        if let Err(error) = self.commit_with(Some(writes), |_| Ok(())) {
            panic!("RocksDB ledger commit failed: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use tianping_ledger::codec::encode_value;
    use tianping_ledger::{
        AccountFlags, Batch, Command, LedgerConfig, MemoryStore, NewAccount, NewTransfer,
        StateMachine, TransferFlags,
    };

    use super::encode_into;

    /// `encode_into` writes the ledger's canonical bytes, whatever the buffer held before.
    #[test]
    fn encode_into_writes_the_canonical_bytes() {
        let machine = StateMachine::new(LedgerConfig::default()).expect("configuration");
        let account = |id| {
            Command::CreateAccount(NewAccount {
                id,
                ledger: 1,
                code: 1,
                flags: AccountFlags::HISTORY,
                ..NewAccount::default()
            })
        };
        let transfer = |id, flags| {
            Command::CreateTransfer(NewTransfer {
                id,
                debit_account_id: 1,
                credit_account_id: 2,
                amount: u128::from(u64::MAX) + 3,
                ledger: 1,
                code: 1,
                flags,
                timeout: 60,
                ..NewTransfer::default()
            })
        };
        let batch = Batch {
            timestamp: 1_764_000_000_000_000_000,
            commands: vec![
                account(1),
                account(2),
                transfer(10, TransferFlags::default()),
                transfer(11, TransferFlags::PENDING),
            ],
        };
        let (_, writes) = machine.apply(&MemoryStore::new(), &batch).expect("batch applies");
        assert!(!writes.accounts.is_empty() && !writes.transfers.is_empty());
        assert!(!writes.pending_transfers.is_empty() && !writes.account_balances.is_empty());
        let mut buffer = vec![0xAB; 700];
        let mut check = |encoded: Vec<u8>, encode: &dyn Fn(&mut Vec<u8>)| {
            encode(&mut buffer);
            assert_eq!(buffer, encoded);
        };
        for account in &writes.accounts {
            check(encode_value(account), &|buffer| encode_into(account, buffer));
        }
        for transfer in &writes.transfers {
            check(encode_value(transfer), &|buffer| encode_into(transfer, buffer));
        }
        for pending in &writes.pending_transfers {
            check(encode_value(pending), &|buffer| encode_into(pending, buffer));
        }
        for (_, balance) in &writes.account_balances {
            check(encode_value(balance), &|buffer| encode_into(balance, buffer));
        }
        check(encode_value(&writes.meta), &|buffer| encode_into(&writes.meta, buffer));
    }
}
