//! The storage boundary: typed point reads and range scans, and one `WriteSet` per batch that
//! a store applies atomically. The ledger never performs I/O itself; `raft-store` implements
//! this trait on RocksDB, `MemoryStore` in memory.
//!
//! A store whose medium fails during a read must stop the process (fail-stop): answering a
//! guess would make this replica's state diverge from the others'.

use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountBalance};
use crate::audit::{AccountControls, AuditRecord, ControlChange};
use crate::collection::{Collection, CollectionKey, SuspenseAssignment, SuspenseKey};
use crate::discrepancy::{Discrepancy, DiscrepancyBlock};
use crate::payout::{ClaimedBatch, Payout, PayoutHistoryRecord, PayoutState};
use crate::refusal::Refusal;
use crate::transfer::{PendingTransfer, Transfer};

/// A pending transfer with a timeout, ordered by when it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExpiryKey {
    /// When the reservation expires (ns).
    pub expires_at: u64,
    /// The pending transfer.
    pub transfer_id: u128,
}

/// The payout index orders payouts by state, bank and a per-state time: creation time for
/// `Reserved` (FIFO claiming), lease end for leased states (expired leases are a range), and
/// resolution time for final states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PayoutIndexKey {
    /// The payout's state.
    pub state: PayoutState,
    /// The payout's bank.
    pub bank: u32,
    /// The per-state time (see the type's doc).
    pub order: u64,
    /// The payout.
    pub payout_id: u128,
}

impl PayoutIndexKey {
    /// The index key under which `payout` is filed now.
    pub fn of(payout: &Payout) -> PayoutIndexKey {
        let order = match payout.state {
            PayoutState::Reserved => payout.created_at,
            PayoutState::Claimed | PayoutState::Sent | PayoutState::Unknown => payout.lease_until,
            PayoutState::Succeeded | PayoutState::Failed => payout.updated_at,
        };
        PayoutIndexKey { state: payout.state, bank: payout.bank, order, payout_id: payout.id }
    }
}

/// One entry of an account's transfer history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountTransferEntry {
    /// The account.
    pub account_id: u128,
    /// The transfer's timestamp.
    pub timestamp: u64,
    /// The transfer.
    pub transfer_id: u128,
}

/// Ledger-wide bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Meta {
    /// The last timestamp handed to an event or an expiry; the next one is greater.
    pub last_timestamp: u64,
}

/// A time-ordered slice of an account's history: inclusive bounds, newest first when
/// `reversed`, at most `limit` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HistoryFilter {
    /// The account.
    pub account_id: u128,
    /// Earliest timestamp included.
    pub timestamp_min: u64,
    /// Latest timestamp included.
    pub timestamp_max: u64,
    /// At most this many entries.
    pub limit: usize,
    /// Newest first.
    pub reversed: bool,
}

/// The tables of the ledger state, in digest order. Every store keeps all of them; the
/// digest and snapshots walk them in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Table {
    /// `Meta` (one record, empty key).
    Meta = 0,
    /// Accounts by id.
    Accounts = 1,
    /// Transfers by id.
    Transfers = 2,
    /// Pending-transfer resolution state by id.
    PendingTransfers = 3,
    /// `ExpiryKey` set.
    Expiries = 4,
    /// Payouts by id.
    Payouts = 5,
    /// `PayoutIndexKey` set.
    PayoutIndex = 6,
    /// Collections by `CollectionKey`.
    Collections = 7,
    /// `AccountTransferEntry` set.
    AccountTransfers = 8,
    /// Balance snapshots by (account, timestamp).
    AccountBalances = 9,
    /// Audit records by (timestamp, account): one per account an event changed (most events
    /// change one; a discrepancy's recording or resolution up to `DISCREPANCY_ACCOUNTS_MAX`).
    Audit = 10,
    /// `Refusal`s by id: ids refused for a state-dependent reason, final forever. Appended
    /// last, so the digest order of the older tables is unchanged.
    Refusals = 11,
    /// `PayoutHistoryRecord`s by (payout id, timestamp): every state change of every payout.
    PayoutHistory = 12,
    /// The suspense desk: `SuspenseKey` → `CollectionKey` of every collection waiting in
    /// suspense, unassigned.
    SuspenseIndex = 13,
    /// `SuspenseAssignment`s by `CollectionKey`: collections taken out of suspense.
    SuspenseAssignments = 14,
    /// `Discrepancy` records by id, open and resolved.
    Discrepancies = 15,
    /// Recording timestamp → discrepancy id: every discrepancy in the order it was found.
    DiscrepancyIndex = 16,
    /// `DiscrepancyBlock` set: which open discrepancies hold which accounts.
    DiscrepancyBlocks = 17,
    /// `AccountControls` by account id: how many times each account's status and limits
    /// changed (accounts never changed have none).
    AccountControls = 18,
    /// `ControlChange`s by change id: the idempotency record of every account status or
    /// limits change sent with an id.
    ControlChanges = 19,
    /// `ClaimedBatch`es by claim id: the idempotency record of every payout batch claim that
    /// took at least one payout.
    ClaimedBatches = 20,
}

impl Table {
    /// Every table, in digest order.
    pub const ALL: [Table; 21] = [
        Table::Meta,
        Table::Accounts,
        Table::Transfers,
        Table::PendingTransfers,
        Table::Expiries,
        Table::Payouts,
        Table::PayoutIndex,
        Table::Collections,
        Table::AccountTransfers,
        Table::AccountBalances,
        Table::Audit,
        Table::Refusals,
        Table::PayoutHistory,
        Table::SuspenseIndex,
        Table::SuspenseAssignments,
        Table::Discrepancies,
        Table::DiscrepancyIndex,
        Table::DiscrepancyBlocks,
        Table::AccountControls,
        Table::ControlChanges,
        Table::ClaimedBatches,
    ];
}

/// Everything one batch changes, applied by the store in one atomic write. Upserts carry the
/// final value of each record; every list is in a deterministic order (first touch).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSet {
    /// Accounts created or changed.
    pub accounts: Vec<Account>,
    /// Transfers created (transfers never change).
    pub transfers: Vec<Transfer>,
    /// Pending-transfer states created or changed.
    pub pending_transfers: Vec<PendingTransfer>,
    /// Expiry index: `true` inserts, `false` deletes.
    pub expiries: Vec<(ExpiryKey, bool)>,
    /// Payouts created or changed.
    pub payouts: Vec<Payout>,
    /// Payout index: `true` inserts, `false` deletes.
    pub payout_index: Vec<(PayoutIndexKey, bool)>,
    /// Collections booked.
    pub collections: Vec<Collection>,
    /// Account history entries added.
    pub account_transfers: Vec<AccountTransferEntry>,
    /// Balance snapshots added (`HISTORY` accounts).
    pub account_balances: Vec<(u128, AccountBalance)>,
    /// Audit records added.
    pub audit: Vec<AuditRecord>,
    /// Refusals recorded (insert-only: an id is refused at most once).
    pub refusals: Vec<Refusal>,
    /// Payout history records added (insert-only, one per payout state change).
    pub payout_history: Vec<PayoutHistoryRecord>,
    /// Suspense index: `Some` files a collection under the key, `None` removes the key.
    pub suspense_index: Vec<(SuspenseKey, Option<CollectionKey>)>,
    /// Suspense assignments made (insert-only: a collection is assigned at most once).
    pub suspense_assignments: Vec<SuspenseAssignment>,
    /// Discrepancies recorded or resolved (upserts, keyed by `request.id`).
    pub discrepancies: Vec<Discrepancy>,
    /// Discrepancy index entries added, (recording timestamp, id) (insert-only: a
    /// discrepancy is recorded once and stays listed after it is resolved).
    pub discrepancy_index: Vec<(u64, u128)>,
    /// Discrepancy blocks: `true` inserts, `false` deletes.
    pub discrepancy_blocks: Vec<(DiscrepancyBlock, bool)>,
    /// Accounts' controls versions changed (upserts, keyed by account id).
    pub account_controls: Vec<AccountControls>,
    /// Control changes applied (insert-only: a change id is recorded once).
    pub control_changes: Vec<ControlChange>,
    /// Payout batch claims applied (insert-only: a claim id is recorded once).
    pub claimed_batches: Vec<ClaimedBatch>,
    /// The new bookkeeping record.
    pub meta: Meta,
}

/// Reads the state machine needs while applying, and the queries clients ask.
pub trait LedgerStore {
    /// An account by id.
    fn account(&self, id: u128) -> Option<Account>;
    /// A transfer by id.
    fn transfer(&self, id: u128) -> Option<Transfer>;
    /// A pending transfer's resolution state by id.
    fn pending_transfer(&self, id: u128) -> Option<PendingTransfer>;
    /// A payout by id.
    fn payout(&self, id: u128) -> Option<Payout>;
    /// The recorded state-dependent refusal of a transfer or payout id, if any.
    fn refusal(&self, id: u128) -> Option<Refusal>;
    /// A collection by its bank reference.
    fn collection(&self, key: &CollectionKey) -> Option<Collection>;
    /// Ledger-wide bookkeeping (default when empty).
    fn meta(&self) -> Meta;
    /// Up to `limit` expiry keys with `expires_at <= now`, ascending.
    fn expiries_due(&self, now: u64, limit: usize) -> Vec<ExpiryKey>;
    /// Up to `limit` payout index keys in `[first, last]`, ascending.
    fn payout_index_range(
        &self,
        first: &PayoutIndexKey,
        last: &PayoutIndexKey,
        limit: usize,
    ) -> Vec<PayoutIndexKey>;
    /// An account's transfer history entries matching `filter`.
    fn account_transfers(&self, filter: &HistoryFilter) -> Vec<AccountTransferEntry>;
    /// An account's balance snapshots matching `filter`.
    fn account_balances(&self, filter: &HistoryFilter) -> Vec<AccountBalance>;
    /// Up to `limit` audit records with `timestamp >= timestamp_min`, ascending by
    /// (timestamp, account).
    fn audit_records(&self, timestamp_min: u64, limit: usize) -> Vec<AuditRecord>;
    /// Up to `limit` of one payout's history records with `timestamp >= timestamp_min`,
    /// oldest first.
    fn payout_history(
        &self,
        payout_id: u128,
        timestamp_min: u64,
        limit: usize,
    ) -> Vec<PayoutHistoryRecord>;
    /// Up to `limit` suspense index entries in `[first, last]`, ascending.
    fn suspense_range(
        &self,
        first: &SuspenseKey,
        last: &SuspenseKey,
        limit: usize,
    ) -> Vec<(SuspenseKey, CollectionKey)>;
    /// The assignment of a collection taken out of suspense, if any.
    fn suspense_assignment(&self, key: &CollectionKey) -> Option<SuspenseAssignment>;
    /// A discrepancy by id.
    fn discrepancy(&self, id: u128) -> Option<Discrepancy>;
    /// An account's controls version record; `None` while its controls never changed.
    fn account_controls(&self, account_id: u128) -> Option<AccountControls>;
    /// The control change applied under this change id, if any.
    fn control_change(&self, id: u128) -> Option<ControlChange>;
    /// The payout batch claim recorded under this claim id, if any.
    fn claimed_batch(&self, claim_id: u128) -> Option<ClaimedBatch>;
    /// Up to `limit` discrepancy index entries (recording timestamp, id) with a timestamp in
    /// `[timestamp_first, timestamp_last]`, ascending.
    fn discrepancy_index_range(
        &self,
        timestamp_first: u64,
        timestamp_last: u64,
        limit: usize,
    ) -> Vec<(u64, u128)>;
    /// Up to `limit` discrepancy blocks in `[first, last]`, ascending.
    fn discrepancy_block_range(
        &self,
        first: &DiscrepancyBlock,
        last: &DiscrepancyBlock,
        limit: usize,
    ) -> Vec<DiscrepancyBlock>;
    /// Read-ahead: `StateMachine::apply` names, before it starts, every transfer id the batch
    /// will look up (sorted, without duplicates). A store whose point reads are slow (RocksDB)
    /// fetches them in one batched read; the default does nothing. Results must not depend on
    /// it: a store that ignores the hint answers the same lookups, only slower.
    fn prefetch_transfers(&self, ids: &[u128]) {
        let _ = ids;
    }
    /// Visits every record of `table` as canonical `(key, value)` bytes (see `codec`), in
    /// ascending key order. The state digest and snapshots are built from this.
    fn visit_table(&self, table: Table, visit: &mut dyn FnMut(&[u8], &[u8]));
}

/// A store the state machine's results can be written to.
pub trait LedgerStoreMut: LedgerStore {
    /// Applies one batch's writes atomically: afterwards every read sees all of them.
    fn commit(&mut self, writes: &WriteSet);
}
