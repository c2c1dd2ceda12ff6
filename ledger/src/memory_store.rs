//! The in-memory `LedgerStore`: hash maps for point reads (never iterated to produce a
//! result), ordered sets for scans. Used by tests, benchmarks and as the reference for the
//! RocksDB store.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::account::{Account, AccountBalance};
use crate::audit::{AccountControls, AuditRecord, ControlChange};
use crate::codec;
use crate::collection::{Collection, CollectionKey, SuspenseAssignment, SuspenseKey};
use crate::discrepancy::{Discrepancy, DiscrepancyBlock};
use crate::payout::{ClaimedBatch, Payout, PayoutHistoryRecord};
use crate::refusal::Refusal;
use crate::store::{
    AccountTransferEntry, ExpiryKey, HistoryFilter, LedgerStore, LedgerStoreMut, Meta,
    PayoutIndexKey, Table, WriteSet,
};
use crate::transfer::{PendingTransfer, Transfer};

/// The end of an account's history chain.
const NO_SLOT: usize = usize::MAX;
/// A side of a transfer not (yet) filed in its account's history.
const UNLINKED: usize = usize::MAX - 1;

/// An account and the slot of its newest transfer: the head of its history chain.
#[derive(Clone, Debug)]
struct AccountRecord {
    account: Account,
    last_slot: usize,
}

/// A transfer and, for each of its two accounts, the slot of that account's previous transfer.
/// Each account's history is a chain through the transfer log, so recording a transfer in
/// both histories writes two slots instead of growing two per-account lists (which cost two
/// cache misses and an occasional reallocation per transfer on the apply path).
#[derive(Clone, Copy, Debug)]
struct StoredTransfer {
    transfer: Transfer,
    debit_previous: usize,
    credit_previous: usize,
}

impl StoredTransfer {
    fn previous_for(&self, account_id: u128) -> usize {
        if self.transfer.debit_account_id == account_id {
            self.debit_previous
        } else {
            self.credit_previous
        }
    }
}

/// All ledger state in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    accounts: FxHashMap<u128, AccountRecord>,
    /// Transfers in commit order (timestamp order, except after loading a snapshot, which
    /// comes in id order); transfers never change, so this only grows.
    transfers: Vec<StoredTransfer>,
    /// Position of each transfer in `transfers`: growing this index moves 32-byte entries,
    /// not whole transfers.
    transfer_slots: FxHashMap<u128, usize>,
    pending_transfers: FxHashMap<u128, PendingTransfer>,
    expiries: BTreeSet<ExpiryKey>,
    payouts: FxHashMap<u128, Payout>,
    payout_index: BTreeSet<PayoutIndexKey>,
    collections: BTreeMap<CollectionKey, Collection>,
    /// Per account, snapshots in timestamp order (timestamps only grow, so appends stay sorted).
    account_balances: FxHashMap<u128, Vec<AccountBalance>>,
    /// By (timestamp, account).
    audit: BTreeMap<(u64, u128), AuditRecord>,
    refusals: FxHashMap<u128, Refusal>,
    payout_history: BTreeMap<(u128, u64), PayoutHistoryRecord>,
    suspense_index: BTreeMap<SuspenseKey, CollectionKey>,
    suspense_assignments: BTreeMap<CollectionKey, SuspenseAssignment>,
    discrepancies: BTreeMap<u128, Discrepancy>,
    discrepancy_index: BTreeMap<u64, u128>,
    discrepancy_blocks: BTreeSet<DiscrepancyBlock>,
    account_controls: BTreeMap<u128, AccountControls>,
    control_changes: BTreeMap<u128, ControlChange>,
    claimed_batches: BTreeMap<u128, ClaimedBatch>,
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
        let mut accounts: Vec<Account> = self.accounts.values().map(|r| r.account).collect();
        accounts.sort_unstable_by_key(|account| account.id);
        accounts
    }

    /// Every transfer, ordered by timestamp (for checkers and tests).
    pub fn transfers_sorted(&self) -> Vec<Transfer> {
        let mut transfers: Vec<Transfer> =
            self.transfers.iter().map(|stored| stored.transfer).collect();
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
        self.accounts.get(&id).map(|record| record.account)
    }

    fn transfer(&self, id: u128) -> Option<Transfer> {
        self.transfer_slots.get(&id).map(|&slot| self.transfers[slot].transfer)
    }

    fn pending_transfer(&self, id: u128) -> Option<PendingTransfer> {
        self.pending_transfers.get(&id).copied()
    }

    fn payout(&self, id: u128) -> Option<Payout> {
        self.payouts.get(&id).cloned()
    }

    fn refusal(&self, id: u128) -> Option<Refusal> {
        self.refusals.get(&id).copied()
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
        let Some(record) = self.accounts.get(&filter.account_id) else {
            return Vec::new();
        };
        if filter.limit == 0 {
            return Vec::new();
        }
        // Walk the chain newest to oldest; forward queries turn the window round at the end.
        let mut entries = Vec::new();
        let mut slot = record.last_slot;
        while slot != NO_SLOT {
            let stored = &self.transfers[slot];
            let timestamp = stored.transfer.timestamp;
            if timestamp < filter.timestamp_min {
                break;
            }
            if timestamp <= filter.timestamp_max {
                entries.push(AccountTransferEntry {
                    account_id: filter.account_id,
                    timestamp,
                    transfer_id: stored.transfer.id,
                });
                if filter.reversed && entries.len() == filter.limit {
                    break;
                }
            }
            slot = stored.previous_for(filter.account_id);
        }
        if !filter.reversed {
            entries.reverse();
            entries.truncate(filter.limit);
        }
        entries
    }

    fn account_balances(&self, filter: &HistoryFilter) -> Vec<AccountBalance> {
        let Some(entries) = self.account_balances.get(&filter.account_id) else {
            return Vec::new();
        };
        window(entries, |balance| balance.timestamp, filter)
    }

    fn audit_records(&self, timestamp_min: u64, limit: usize) -> Vec<AuditRecord> {
        self.audit
            .range((timestamp_min, 0)..)
            .take(limit)
            .map(|(_, record)| record.clone())
            .collect()
    }

    fn payout_history(
        &self,
        payout_id: u128,
        timestamp_min: u64,
        limit: usize,
    ) -> Vec<PayoutHistoryRecord> {
        self.payout_history
            .range((payout_id, timestamp_min)..=(payout_id, u64::MAX))
            .take(limit)
            .map(|(_, record)| *record)
            .collect()
    }

    fn suspense_range(
        &self,
        first: &SuspenseKey,
        last: &SuspenseKey,
        limit: usize,
    ) -> Vec<(SuspenseKey, CollectionKey)> {
        if first > last {
            return Vec::new();
        }
        self.suspense_index
            .range(*first..=*last)
            .take(limit)
            .map(|(key, collection)| (*key, collection.clone()))
            .collect()
    }

    fn suspense_assignment(&self, key: &CollectionKey) -> Option<SuspenseAssignment> {
        self.suspense_assignments.get(key).cloned()
    }

    fn discrepancy(&self, id: u128) -> Option<Discrepancy> {
        self.discrepancies.get(&id).cloned()
    }

    fn account_controls(&self, account_id: u128) -> Option<AccountControls> {
        self.account_controls.get(&account_id).copied()
    }

    fn control_change(&self, id: u128) -> Option<ControlChange> {
        self.control_changes.get(&id).copied()
    }

    fn claimed_batch(&self, claim_id: u128) -> Option<ClaimedBatch> {
        self.claimed_batches.get(&claim_id).cloned()
    }

    fn discrepancy_index_range(
        &self,
        timestamp_first: u64,
        timestamp_last: u64,
        limit: usize,
    ) -> Vec<(u64, u128)> {
        if timestamp_first > timestamp_last {
            return Vec::new();
        }
        self.discrepancy_index
            .range(timestamp_first..=timestamp_last)
            .take(limit)
            .map(|(timestamp, id)| (*timestamp, *id))
            .collect()
    }

    fn discrepancy_block_range(
        &self,
        first: &DiscrepancyBlock,
        last: &DiscrepancyBlock,
        limit: usize,
    ) -> Vec<DiscrepancyBlock> {
        if first > last {
            return Vec::new();
        }
        self.discrepancy_blocks.range(*first..=*last).take(limit).copied().collect()
    }

    fn visit_table(&self, table: Table, visit: &mut dyn FnMut(&[u8], &[u8])) {
        use codec::encode_value as value;
        let records: Vec<(Vec<u8>, Vec<u8>)> = match table {
            Table::Meta => vec![(Vec::new(), value(&self.meta))],
            Table::Accounts => self
                .accounts
                .iter()
                .map(|(id, r)| (codec::id_key(*id).to_vec(), value(&r.account)))
                .collect(),
            Table::Transfers => self
                .transfers
                .iter()
                .map(|stored| (codec::id_key(stored.transfer.id).to_vec(), value(&stored.transfer)))
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
                .transfers
                .iter()
                .flat_map(|stored| {
                    let transfer = stored.transfer;
                    [
                        (transfer.debit_account_id, stored.debit_previous),
                        (transfer.credit_account_id, stored.credit_previous),
                    ]
                    .into_iter()
                    .filter(|(_, previous)| *previous != UNLINKED)
                    .map(move |(account_id, _)| {
                        let entry = AccountTransferEntry {
                            account_id,
                            timestamp: transfer.timestamp,
                            transfer_id: transfer.id,
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
                .map(|((timestamp, account_id), record)| {
                    (codec::audit_key(*timestamp, *account_id).to_vec(), value(record))
                })
                .collect(),
            Table::Refusals => self
                .refusals
                .iter()
                .map(|(id, refusal)| (codec::id_key(*id).to_vec(), value(refusal)))
                .collect(),
            Table::PayoutHistory => self
                .payout_history
                .iter()
                .map(|((id, timestamp), record)| {
                    (codec::payout_history_key(*id, *timestamp).to_vec(), value(record))
                })
                .collect(),
            Table::SuspenseIndex => self
                .suspense_index
                .iter()
                .map(|(key, collection)| (codec::suspense_key(key).to_vec(), value(collection)))
                .collect(),
            Table::SuspenseAssignments => self
                .suspense_assignments
                .iter()
                .map(|(key, assignment)| (codec::collection_key(key), value(assignment)))
                .collect(),
            Table::Discrepancies => self
                .discrepancies
                .iter()
                .map(|(id, discrepancy)| (codec::id_key(*id).to_vec(), value(discrepancy)))
                .collect(),
            Table::DiscrepancyIndex => self
                .discrepancy_index
                .iter()
                .map(|(timestamp, id)| (codec::timestamp_key(*timestamp).to_vec(), value(id)))
                .collect(),
            Table::DiscrepancyBlocks => self
                .discrepancy_blocks
                .iter()
                .map(|block| (codec::discrepancy_block_key(block).to_vec(), Vec::new()))
                .collect(),
            Table::AccountControls => self
                .account_controls
                .iter()
                .map(|(id, controls)| (codec::id_key(*id).to_vec(), value(controls)))
                .collect(),
            Table::ControlChanges => self
                .control_changes
                .iter()
                .map(|(id, change)| (codec::id_key(*id).to_vec(), value(change)))
                .collect(),
            Table::ClaimedBatches => self
                .claimed_batches
                .iter()
                .map(|(id, batch)| (codec::id_key(*id).to_vec(), value(batch)))
                .collect(),
        };
        visit_sorted(records, visit);
    }
}

impl MemoryStore {
    /// Puts a new transfer at the head of one of its accounts' history chains.
    fn link_history(&mut self, entry: &AccountTransferEntry) {
        let Some(&slot) = self.transfer_slots.get(&entry.transfer_id) else {
            panic!("history entry names unknown transfer {}", entry.transfer_id);
        };
        let Some(record) = self.accounts.get_mut(&entry.account_id) else {
            panic!("history entry names unknown account {}", entry.account_id);
        };
        // Entries arrive in time order per account (batches in log order, snapshots in key
        // order), whatever order the transfers themselves were stored in.
        let head_timestamp = (record.last_slot != NO_SLOT)
            .then(|| self.transfers[record.last_slot].transfer.timestamp);
        let stored = &mut self.transfers[slot];
        assert_eq!(stored.transfer.timestamp, entry.timestamp, "history entry's time");
        assert!(head_timestamp.is_none_or(|head| head < entry.timestamp), "history grows in time");
        if stored.transfer.debit_account_id == entry.account_id {
            assert_eq!(stored.debit_previous, UNLINKED, "debit side filed twice");
            stored.debit_previous = record.last_slot;
        } else {
            assert_eq!(stored.transfer.credit_account_id, entry.account_id, "entry's account");
            assert_eq!(stored.credit_previous, UNLINKED, "credit side filed twice");
            stored.credit_previous = record.last_slot;
        }
        record.last_slot = slot;
    }
}

impl LedgerStoreMut for MemoryStore {
    fn commit(&mut self, writes: &WriteSet) {
        for account in &writes.accounts {
            self.accounts
                .entry(account.id)
                .and_modify(|record| record.account = *account)
                .or_insert_with(|| AccountRecord { account: *account, last_slot: NO_SLOT });
        }
        for transfer in &writes.transfers {
            let previous = self.transfer_slots.insert(transfer.id, self.transfers.len());
            assert!(previous.is_none(), "transfer {} written twice", transfer.id);
            self.transfers.push(StoredTransfer {
                transfer: *transfer,
                debit_previous: UNLINKED,
                credit_previous: UNLINKED,
            });
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
            self.link_history(entry);
        }
        for (account_id, balance) in &writes.account_balances {
            self.account_balances.entry(*account_id).or_default().push(*balance);
        }
        for record in &writes.audit {
            let previous = self.audit.insert((record.timestamp, record.account_id), record.clone());
            assert!(previous.is_none(), "account {} audited twice at one time", record.account_id);
        }
        for refusal in &writes.refusals {
            let previous = self.refusals.insert(refusal.id, *refusal);
            assert!(previous.is_none(), "id {} refused twice", refusal.id);
        }
        for record in &writes.payout_history {
            let previous =
                self.payout_history.insert((record.payout_id, record.timestamp), *record);
            assert!(previous.is_none(), "payout {} changed twice at one time", record.payout_id);
        }
        for (key, collection) in &writes.suspense_index {
            match collection {
                Some(collection) => self.suspense_index.insert(*key, collection.clone()),
                None => self.suspense_index.remove(key),
            };
        }
        for assignment in &writes.suspense_assignments {
            let previous =
                self.suspense_assignments.insert(assignment.collection.clone(), assignment.clone());
            assert!(previous.is_none(), "collection {:?} assigned twice", assignment.collection);
        }
        for discrepancy in &writes.discrepancies {
            self.discrepancies.insert(discrepancy.request.id, discrepancy.clone());
        }
        for (timestamp, id) in &writes.discrepancy_index {
            let previous = self.discrepancy_index.insert(*timestamp, *id);
            assert!(previous.is_none(), "two discrepancies recorded at {timestamp}");
        }
        for (block, present) in &writes.discrepancy_blocks {
            if *present {
                self.discrepancy_blocks.insert(*block);
            } else {
                self.discrepancy_blocks.remove(block);
            }
        }
        for controls in &writes.account_controls {
            self.account_controls.insert(controls.account_id, *controls);
        }
        for change in &writes.control_changes {
            let previous = self.control_changes.insert(change.id, *change);
            assert!(previous.is_none(), "control change {} recorded twice", change.id);
        }
        for batch in &writes.claimed_batches {
            let previous = self.claimed_batches.insert(batch.claim.claim_id, batch.clone());
            assert!(previous.is_none(), "claim {} recorded twice", batch.claim.claim_id);
        }
        assert!(writes.meta.last_timestamp >= self.meta.last_timestamp, "time went backwards");
        self.meta = writes.meta;
    }
}
