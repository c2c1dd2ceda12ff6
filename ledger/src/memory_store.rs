//! The in-memory `LedgerStore`: hash maps for point reads (never iterated to produce a
//! result), ordered sets for scans. Used by tests, benchmarks and as the reference for the
//! RocksDB store.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::account::{Account, AccountBalance};
use crate::audit::AuditRecord;
use crate::codec;
use crate::collection::{Collection, CollectionKey};
use crate::payout::Payout;
use crate::store::{
    AccountTransferEntry, ExpiryKey, HistoryFilter, LedgerStore, LedgerStoreMut, Meta,
    PayoutIndexKey, Table, WriteSet,
};
use crate::transfer::{PendingTransfer, Transfer};

/// All ledger state in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    accounts: FxHashMap<u128, Account>,
    transfers: FxHashMap<u128, Transfer>,
    pending_transfers: FxHashMap<u128, PendingTransfer>,
    expiries: BTreeSet<ExpiryKey>,
    payouts: FxHashMap<u128, Payout>,
    payout_index: BTreeSet<PayoutIndexKey>,
    collections: BTreeMap<CollectionKey, Collection>,
    /// Per account, entries in timestamp order (timestamps only grow, so appends stay sorted).
    account_transfers: FxHashMap<u128, Vec<(u64, u128)>>,
    account_balances: FxHashMap<u128, Vec<AccountBalance>>,
    audit: BTreeMap<u64, AuditRecord>,
    meta: Meta,
}

impl MemoryStore {
    /// An empty ledger.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// How many accounts exist.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// How many transfers exist.
    pub fn transfer_count(&self) -> usize {
        self.transfers.len()
    }

    /// Every account, ordered by id (for checkers and tests).
    pub fn accounts_sorted(&self) -> Vec<Account> {
        let mut accounts: Vec<Account> = self.accounts.values().copied().collect();
        accounts.sort_unstable_by_key(|account| account.id);
        accounts
    }

    /// Every transfer, ordered by timestamp (for checkers and tests).
    pub fn transfers_sorted(&self) -> Vec<Transfer> {
        let mut transfers: Vec<Transfer> = self.transfers.values().copied().collect();
        transfers.sort_unstable_by_key(|transfer| transfer.timestamp);
        transfers
    }
}

/// Entries of a timestamp-sorted list that fall in `filter`'s window, in its direction.
fn window<T: Copy>(
    entries: &[T],
    timestamp_of: impl Fn(&T) -> u64,
    filter: &HistoryFilter,
) -> Vec<T> {
    let start = entries.partition_point(|entry| timestamp_of(entry) < filter.timestamp_min);
    let end = entries.partition_point(|entry| timestamp_of(entry) <= filter.timestamp_max);
    let slice = entries.get(start..end.max(start)).unwrap_or(&[]);
    if filter.reversed {
        slice.iter().rev().take(filter.limit).copied().collect()
    } else {
        slice.iter().take(filter.limit).copied().collect()
    }
}

/// Visits `records` as canonical bytes in ascending key order.
fn visit_sorted(mut records: Vec<(Vec<u8>, Vec<u8>)>, visit: &mut dyn FnMut(&[u8], &[u8])) {
    records.sort_unstable();
    for (key, value) in &records {
        visit(key, value);
    }
}

impl LedgerStore for MemoryStore {
    fn account(&self, id: u128) -> Option<Account> {
        self.accounts.get(&id).copied()
    }

    fn transfer(&self, id: u128) -> Option<Transfer> {
        self.transfers.get(&id).copied()
    }

    fn pending_transfer(&self, id: u128) -> Option<PendingTransfer> {
        self.pending_transfers.get(&id).copied()
    }

    fn payout(&self, id: u128) -> Option<Payout> {
        self.payouts.get(&id).cloned()
    }

    fn collection(&self, key: &CollectionKey) -> Option<Collection> {
        self.collections.get(key).cloned()
    }

    fn meta(&self) -> Meta {
        self.meta
    }

    fn expiries_due(&self, now: u64, limit: usize) -> Vec<ExpiryKey> {
        let last = ExpiryKey { expires_at: now, transfer_id: u128::MAX };
        self.expiries.range(..=last).take(limit).copied().collect()
    }

    fn payout_index_range(
        &self,
        first: &PayoutIndexKey,
        last: &PayoutIndexKey,
        limit: usize,
    ) -> Vec<PayoutIndexKey> {
        if first > last {
            return Vec::new();
        }
        self.payout_index.range(*first..=*last).take(limit).copied().collect()
    }

    fn account_transfers(&self, filter: &HistoryFilter) -> Vec<AccountTransferEntry> {
        let Some(entries) = self.account_transfers.get(&filter.account_id) else {
            return Vec::new();
        };
        window(entries, |(timestamp, _)| *timestamp, filter)
            .into_iter()
            .map(|(timestamp, transfer_id)| AccountTransferEntry {
                account_id: filter.account_id,
                timestamp,
                transfer_id,
            })
            .collect()
    }

    fn account_balances(&self, filter: &HistoryFilter) -> Vec<AccountBalance> {
        let Some(entries) = self.account_balances.get(&filter.account_id) else {
            return Vec::new();
        };
        window(entries, |balance| balance.timestamp, filter)
    }

    fn audit_records(&self, timestamp_min: u64, limit: usize) -> Vec<AuditRecord> {
        self.audit.range(timestamp_min..).take(limit).map(|(_, record)| record.clone()).collect()
    }

    fn visit_table(&self, table: Table, visit: &mut dyn FnMut(&[u8], &[u8])) {
        use codec::encode_value as value;
        let records: Vec<(Vec<u8>, Vec<u8>)> = match table {
            Table::Meta => vec![(Vec::new(), value(&self.meta))],
            Table::Accounts => self
                .accounts
                .iter()
                .map(|(id, a)| (codec::id_key(*id).to_vec(), value(a)))
                .collect(),
            Table::Transfers => self
                .transfers
                .iter()
                .map(|(id, t)| (codec::id_key(*id).to_vec(), value(t)))
                .collect(),
            Table::PendingTransfers => self
                .pending_transfers
                .iter()
                .map(|(id, p)| (codec::id_key(*id).to_vec(), value(p)))
                .collect(),
            Table::Expiries => self
                .expiries
                .iter()
                .map(|key| (codec::expiry_key(key).to_vec(), Vec::new()))
                .collect(),
            Table::Payouts => {
                self.payouts.iter().map(|(id, p)| (codec::id_key(*id).to_vec(), value(p))).collect()
            }
            Table::PayoutIndex => self
                .payout_index
                .iter()
                .map(|key| (codec::payout_index_key(key).to_vec(), Vec::new()))
                .collect(),
            Table::Collections => self
                .collections
                .iter()
                .map(|(key, c)| (codec::collection_key(key), value(c)))
                .collect(),
            Table::AccountTransfers => self
                .account_transfers
                .iter()
                .flat_map(|(account_id, entries)| {
                    entries.iter().map(move |(timestamp, transfer_id)| {
                        let entry = AccountTransferEntry {
                            account_id: *account_id,
                            timestamp: *timestamp,
                            transfer_id: *transfer_id,
                        };
                        (codec::account_transfer_key(&entry).to_vec(), Vec::new())
                    })
                })
                .collect(),
            Table::AccountBalances => self
                .account_balances
                .iter()
                .flat_map(|(account_id, balances)| {
                    balances.iter().map(move |balance| {
                        let key = codec::account_balance_key(*account_id, balance.timestamp);
                        (key.to_vec(), value(balance))
                    })
                })
                .collect(),
            Table::Audit => self
                .audit
                .iter()
                .map(|(timestamp, record)| {
                    (codec::timestamp_key(*timestamp).to_vec(), value(record))
                })
                .collect(),
        };
        visit_sorted(records, visit);
    }
}

impl LedgerStoreMut for MemoryStore {
    fn commit(&mut self, writes: &WriteSet) {
        for account in &writes.accounts {
            self.accounts.insert(account.id, *account);
        }
        for transfer in &writes.transfers {
            let previous = self.transfers.insert(transfer.id, *transfer);
            assert!(previous.is_none(), "transfer {} written twice", transfer.id);
        }
        for pending in &writes.pending_transfers {
            self.pending_transfers.insert(pending.id, *pending);
        }
        for (key, present) in &writes.expiries {
            if *present {
                self.expiries.insert(*key);
            } else {
                self.expiries.remove(key);
            }
        }
        for payout in &writes.payouts {
            self.payouts.insert(payout.id, payout.clone());
        }
        for (key, present) in &writes.payout_index {
            if *present {
                self.payout_index.insert(*key);
            } else {
                self.payout_index.remove(key);
            }
        }
        for collection in &writes.collections {
            let key = CollectionKey {
                bank: collection.request.bank,
                bank_reference: collection.request.bank_reference.clone(),
            };
            self.collections.insert(key, collection.clone());
        }
        for entry in &writes.account_transfers {
            let entries = self.account_transfers.entry(entry.account_id).or_default();
            assert!(
                entries.last().is_none_or(|(timestamp, _)| *timestamp <= entry.timestamp),
                "account history must grow in time"
            );
            entries.push((entry.timestamp, entry.transfer_id));
        }
        for (account_id, balance) in &writes.account_balances {
            self.account_balances.entry(*account_id).or_default().push(*balance);
        }
        for record in &writes.audit {
            self.audit.insert(record.timestamp, record.clone());
        }
        assert!(writes.meta.last_timestamp >= self.meta.last_timestamp, "time went backwards");
        self.meta = writes.meta;
    }
}
