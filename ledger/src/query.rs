//! Read-only queries clients ask of a replica's state. Every list has a bound
//! (`QUERY_LIMIT_MAX`) and a cursor so large results page instead of growing without limit.

use crate::account::{Account, AccountBalance};
use crate::audit::AuditRecord;
use crate::collection::{Collection, SuspenseKey};
use crate::discrepancy::{Discrepancy, DiscrepancyBlock, DiscrepancyState};
use crate::payout::{Payout, PayoutHistoryRecord, PayoutState};
use crate::store::{HistoryFilter, LedgerStore, PayoutIndexKey};
use crate::transfer::Transfer;
use crate::{AUDIT_RECORDS_PER_EVENT_MAX, QUERY_LIMIT_MAX};

/// Accounts by id, in request order (`None` for unknown ids).
pub fn lookup_accounts<S: LedgerStore + ?Sized>(store: &S, ids: &[u128]) -> Vec<Option<Account>> {
    ids.iter().take(QUERY_LIMIT_MAX).map(|id| store.account(*id)).collect()
}

/// Accounts' controls versions by id, in request order (0 for accounts never changed and for
/// unknown ids): what a status or limits change names as expected.
pub fn controls_versions<S: LedgerStore + ?Sized>(store: &S, ids: &[u128]) -> Vec<u64> {
    let version = |id: &u128| store.account_controls(*id).map_or(0, |controls| controls.version);
    ids.iter().take(QUERY_LIMIT_MAX).map(version).collect()
}

/// Transfers by id, in request order (`None` for unknown ids).
pub fn lookup_transfers<S: LedgerStore + ?Sized>(store: &S, ids: &[u128]) -> Vec<Option<Transfer>> {
    ids.iter().take(QUERY_LIMIT_MAX).map(|id| store.transfer(*id)).collect()
}

/// An account's transfers in time order (newest first when `reversed`). To page, repeat
/// with `timestamp_min` (or `timestamp_max` when reversed) just past the last one returned.
pub fn account_transfers<S: LedgerStore + ?Sized>(
    store: &S,
    filter: &HistoryFilter,
) -> Vec<Transfer> {
    let filter = HistoryFilter { limit: filter.limit.min(QUERY_LIMIT_MAX), ..*filter };
    store
        .account_transfers(&filter)
        .into_iter()
        .map(|entry| match store.transfer(entry.transfer_id) {
            Some(transfer) => transfer,
            None => panic!("account history names missing transfer {}", entry.transfer_id),
        })
        .collect()
}

/// Balance snapshots of a `HISTORY` account, paged like `account_transfers`.
pub fn account_balances<S: LedgerStore + ?Sized>(
    store: &S,
    filter: &HistoryFilter,
) -> Vec<AccountBalance> {
    let filter = HistoryFilter { limit: filter.limit.min(QUERY_LIMIT_MAX), ..*filter };
    store.account_balances(&filter)
}

/// Payouts in `state` (optionally of one bank), in index order, after `cursor` (the last
/// key of the previous page). Returns the page and the cursor for the next one.
pub fn payouts_by_state<S: LedgerStore + ?Sized>(
    store: &S,
    state: PayoutState,
    bank: Option<u32>,
    cursor: Option<PayoutIndexKey>,
    limit: usize,
) -> (Vec<Payout>, Option<PayoutIndexKey>) {
    let limit = limit.min(QUERY_LIMIT_MAX);
    let (bank_first, bank_last) = match bank {
        Some(bank) => (bank, bank),
        None => (0, u32::MAX),
    };
    let mut first = PayoutIndexKey { state, bank: bank_first, order: 0, payout_id: 0 };
    let last = PayoutIndexKey { state, bank: bank_last, order: u64::MAX, payout_id: u128::MAX };
    if let Some(cursor) = cursor {
        if cursor >= last {
            return (Vec::new(), None);
        }
        first = next_key(cursor).max(first);
    }
    let keys = store.payout_index_range(&first, &last, limit);
    let next_cursor = if keys.len() == limit { keys.last().copied() } else { None };
    let payouts = keys
        .iter()
        .map(|key| match store.payout(key.payout_id) {
            Some(payout) => payout,
            None => panic!("payout index names missing payout {}", key.payout_id),
        })
        .collect();
    (payouts, next_cursor)
}

/// The smallest key after `key` (callers ensure `key` is below the range's last key).
fn next_key(key: PayoutIndexKey) -> PayoutIndexKey {
    if let Some(payout_id) = key.payout_id.checked_add(1) {
        return PayoutIndexKey { payout_id, ..key };
    }
    if let Some(order) = key.order.checked_add(1) {
        return PayoutIndexKey { order, payout_id: 0, ..key };
    }
    PayoutIndexKey { bank: key.bank.saturating_add(1), order: 0, payout_id: 0, ..key }
}

/// Audit records from `timestamp_min` on, by (timestamp, account). A page never splits the
/// records of one event (a discrepancy's recording or resolution files one per account it
/// changed): it runs past `limit` by less than `AUDIT_RECORDS_PER_EVENT_MAX` to finish the
/// last event, so the next page may start just after the last timestamp returned.
pub fn audit_records<S: LedgerStore + ?Sized>(
    store: &S,
    timestamp_min: u64,
    limit: usize,
) -> Vec<AuditRecord> {
    let limit = limit.min(QUERY_LIMIT_MAX);
    if limit == 0 {
        return Vec::new();
    }
    let mut records = store.audit_records(timestamp_min, limit + AUDIT_RECORDS_PER_EVENT_MAX - 1);
    if records.len() > limit {
        let last = records[limit - 1].timestamp;
        let end = limit + records[limit..].iter().take_while(|r| r.timestamp == last).count();
        records.truncate(end);
    }
    records
}

/// One payout's state changes, oldest first, after `cursor` (the timestamp of the previous
/// page's last record). Returns the page and the cursor for the next one (`None` when this
/// page was not full). An unknown payout has an empty history.
pub fn payout_history<S: LedgerStore + ?Sized>(
    store: &S,
    payout_id: u128,
    cursor: Option<u64>,
    limit: usize,
) -> (Vec<PayoutHistoryRecord>, Option<u64>) {
    let limit = limit.min(QUERY_LIMIT_MAX);
    let timestamp_min = match cursor {
        None => 0,
        Some(cursor) => match cursor.checked_add(1) {
            Some(next) => next,
            None => return (Vec::new(), None),
        },
    };
    let records = store.payout_history(payout_id, timestamp_min, limit);
    let next_cursor = if limit > 0 && records.len() == limit {
        records.last().map(|record| record.timestamp)
    } else {
        None
    };
    (records, next_cursor)
}

/// Collections waiting in suspense, unassigned (optionally of one bank), by bank and then
/// oldest first, after `cursor` (the previous page's last key). Returns the page and the
/// cursor for the next one.
pub fn suspense_collections<S: LedgerStore + ?Sized>(
    store: &S,
    bank: Option<u32>,
    cursor: Option<SuspenseKey>,
    limit: usize,
) -> (Vec<Collection>, Option<SuspenseKey>) {
    let limit = limit.min(QUERY_LIMIT_MAX);
    let (bank_first, bank_last) = match bank {
        Some(bank) => (bank, bank),
        None => (0, u32::MAX),
    };
    let mut first = SuspenseKey { bank: bank_first, timestamp: 0 };
    let last = SuspenseKey { bank: bank_last, timestamp: u64::MAX };
    if let Some(cursor) = cursor {
        if cursor >= last {
            return (Vec::new(), None);
        }
        let next = match cursor.timestamp.checked_add(1) {
            Some(timestamp) => SuspenseKey { timestamp, ..cursor },
            None => SuspenseKey { bank: cursor.bank.saturating_add(1), timestamp: 0 },
        };
        first = next.max(first);
    }
    let entries = store.suspense_range(&first, &last, limit);
    let next_cursor = if limit > 0 && entries.len() == limit {
        entries.last().map(|(key, _)| *key)
    } else {
        None
    };
    let collections = entries
        .iter()
        .map(|(key, collection_key)| match store.collection(collection_key) {
            Some(collection) => collection,
            None => panic!("suspense index {key:?} names missing collection {collection_key:?}"),
        })
        .collect();
    (collections, next_cursor)
}

/// One discrepancy by id, open or resolved.
pub fn discrepancy<S: LedgerStore + ?Sized>(store: &S, id: u128) -> Option<Discrepancy> {
    store.discrepancy(id)
}

/// Which discrepancies `list_discrepancies` returns: `None` matches every value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DiscrepancyFilter {
    /// Only discrepancies in this state.
    pub state: Option<DiscrepancyState>,
    /// Only discrepancies of this bank.
    pub bank: Option<u32>,
}

impl DiscrepancyFilter {
    /// Whether `discrepancy` passes the filter.
    pub fn matches(&self, discrepancy: &Discrepancy) -> bool {
        self.state.is_none_or(|state| state == discrepancy.state)
            && self.bank.is_none_or(|bank| bank == discrepancy.request.bank)
    }
}

/// Discrepancies in the order they were recorded, oldest first, after `cursor` (the
/// recording timestamp of the previous page's last discrepancy scanned), passing `filter`.
/// Each page scans at most `limit` recorded discrepancies, so a filtered page may hold fewer
/// than `limit` (even none) while more follow: page on while the returned cursor is `Some`.
pub fn list_discrepancies<S: LedgerStore + ?Sized>(
    store: &S,
    filter: &DiscrepancyFilter,
    cursor: Option<u64>,
    limit: usize,
) -> (Vec<Discrepancy>, Option<u64>) {
    let limit = limit.min(QUERY_LIMIT_MAX);
    let timestamp_first = match cursor {
        None => 0,
        Some(cursor) => match cursor.checked_add(1) {
            Some(next) => next,
            None => return (Vec::new(), None),
        },
    };
    let entries = store.discrepancy_index_range(timestamp_first, u64::MAX, limit);
    let next_cursor = if limit > 0 && entries.len() == limit {
        entries.last().map(|(timestamp, _)| *timestamp)
    } else {
        None
    };
    let discrepancies = entries
        .iter()
        .map(|(timestamp, id)| match store.discrepancy(*id) {
            Some(discrepancy) => discrepancy,
            None => panic!("discrepancy index at {timestamp} names missing discrepancy {id:#x}"),
        })
        .filter(|discrepancy| filter.matches(discrepancy))
        .collect();
    (discrepancies, next_cursor)
}

/// The open discrepancies holding `account_id` outflow-blocked, by id, after `cursor` (the
/// previous page's last id). Returns the page and the cursor for the next one. Empty for an
/// account no open discrepancy names.
pub fn account_discrepancies<S: LedgerStore + ?Sized>(
    store: &S,
    account_id: u128,
    cursor: Option<u128>,
    limit: usize,
) -> (Vec<Discrepancy>, Option<u128>) {
    let limit = limit.min(QUERY_LIMIT_MAX);
    let discrepancy_first = match cursor {
        None => 0,
        Some(cursor) => match cursor.checked_add(1) {
            Some(next) => next,
            None => return (Vec::new(), None),
        },
    };
    let first = DiscrepancyBlock { account_id, discrepancy_id: discrepancy_first };
    let last = DiscrepancyBlock { account_id, discrepancy_id: u128::MAX };
    let blocks = store.discrepancy_block_range(&first, &last, limit);
    let next_cursor = if limit > 0 && blocks.len() == limit {
        blocks.last().map(|block| block.discrepancy_id)
    } else {
        None
    };
    let discrepancies = blocks
        .iter()
        .map(|block| match store.discrepancy(block.discrepancy_id) {
            Some(discrepancy) => discrepancy,
            None => panic!("block {block:?} names missing discrepancy"),
        })
        .collect();
    (discrepancies, next_cursor)
}
