//! The batch context: reads go through the overlay to the store, writes go to the overlay,
//! and linked chains roll back through savepoints.

use crate::account::{Account, AccountBalance};
use crate::audit::{AccountControls, AuditAction, AuditRecord, ControlChange};
use crate::collection::{Collection, CollectionKey, SuspenseAssignment, SuspenseKey};
use crate::discrepancy::{Discrepancy, DiscrepancyBlock};
use crate::flags::AccountFlags;
use crate::overlay::{AppendOverlay, KeyedOverlay, RecordOverlay, SetOverlay};
use crate::payout::{ClaimedBatch, Payout, PayoutHistoryRecord};
use crate::refusal::Refusal;
use crate::result::ResultCode;
use crate::store::{AccountTransferEntry, ExpiryKey, LedgerStore, Meta, PayoutIndexKey, WriteSet};
use crate::transfer::{PendingTransfer, Transfer};

/// Where every overlay stood when a linked chain started.
#[derive(Clone, Copy)]
pub(crate) struct Savepoint {
    accounts: usize,
    transfers: usize,
    pending_transfers: usize,
    expiries: usize,
    payouts: usize,
    payout_index: usize,
    collections: usize,
    account_transfers: usize,
    account_balances: usize,
    audit: usize,
    payout_history: usize,
    suspense_index: usize,
    suspense_assignments: usize,
    discrepancies: usize,
    discrepancy_index: usize,
    discrepancy_blocks: usize,
    account_controls: usize,
    control_changes: usize,
    claimed_batches: usize,
}

pub(crate) struct Context<'s, S: LedgerStore + ?Sized> {
    pub(crate) store: &'s S,
    accounts: RecordOverlay<u128, Account>,
    transfers: RecordOverlay<u128, Transfer>,
    pending_transfers: RecordOverlay<u128, PendingTransfer>,
    expiries: SetOverlay<ExpiryKey>,
    payouts: RecordOverlay<u128, Payout>,
    payout_index: SetOverlay<PayoutIndexKey>,
    collections: KeyedOverlay<CollectionKey, Collection>,
    account_transfers: AppendOverlay<AccountTransferEntry>,
    account_balances: AppendOverlay<(u128, AccountBalance)>,
    audit: AppendOverlay<AuditRecord>,
    payout_history: AppendOverlay<PayoutHistoryRecord>,
    /// Suspense index changes: the value is the entry itself, `None` for a removal.
    suspense_index: RecordOverlay<SuspenseKey, (SuspenseKey, Option<CollectionKey>)>,
    suspense_assignments: KeyedOverlay<CollectionKey, SuspenseAssignment>,
    discrepancies: RecordOverlay<u128, Discrepancy>,
    /// Discrepancy index entries: the value is the entry itself, (timestamp, id).
    discrepancy_index: RecordOverlay<u64, (u64, u128)>,
    discrepancy_blocks: SetOverlay<DiscrepancyBlock>,
    account_controls: RecordOverlay<u128, AccountControls>,
    control_changes: RecordOverlay<u128, ControlChange>,
    claimed_batches: RecordOverlay<u128, ClaimedBatch>,
    /// Refusals of this batch. Deliberately outside every savepoint: a linked chain's rollback
    /// undoes the chain's effects, not the fact that its member was refused.
    refusals: RecordOverlay<u128, Refusal>,
    /// True while a linked chain is open: writes record undo entries.
    recording: bool,
}

impl<'s, S: LedgerStore + ?Sized> Context<'s, S> {
    /// A context for a batch of `events` commands: the overlays every transfer touches are
    /// sized up front (two accounts, one transfer, two history entries per event).
    pub(crate) fn new(store: &'s S, events: usize) -> Self {
        Context {
            store,
            accounts: RecordOverlay::with_capacity(2 * events),
            transfers: RecordOverlay::with_capacity(events),
            pending_transfers: RecordOverlay::new(),
            expiries: SetOverlay::new(),
            payouts: RecordOverlay::new(),
            payout_index: SetOverlay::new(),
            collections: KeyedOverlay::new(),
            account_transfers: AppendOverlay::with_capacity(2 * events),
            account_balances: AppendOverlay::new(),
            audit: AppendOverlay::new(),
            payout_history: AppendOverlay::new(),
            suspense_index: RecordOverlay::new(),
            suspense_assignments: KeyedOverlay::new(),
            discrepancies: RecordOverlay::new(),
            discrepancy_index: RecordOverlay::new(),
            discrepancy_blocks: SetOverlay::new(),
            account_controls: RecordOverlay::new(),
            control_changes: RecordOverlay::new(),
            claimed_batches: RecordOverlay::new(),
            refusals: RecordOverlay::new(),
            recording: false,
        }
    }

    pub(crate) fn account(&self, id: u128) -> Option<Account> {
        match self.accounts.get(&id) {
            Some(account) => Some(*account),
            None => self.store.account(id),
        }
    }

    pub(crate) fn transfer(&self, id: u128) -> Option<Transfer> {
        match self.transfers.get(&id) {
            Some(transfer) => Some(*transfer),
            None => self.store.transfer(id),
        }
    }

    pub(crate) fn pending_transfer(&self, id: u128) -> Option<PendingTransfer> {
        match self.pending_transfers.get(&id) {
            Some(pending) => Some(*pending),
            None => self.store.pending_transfer(id),
        }
    }

    pub(crate) fn payout(&self, id: u128) -> Option<Payout> {
        match self.payouts.get(&id) {
            Some(payout) => Some(payout.clone()),
            None => self.store.payout(id),
        }
    }

    /// The recorded state-dependent refusal of `id`, this batch's included.
    pub(crate) fn refusal(&self, id: u128) -> Option<Refusal> {
        match self.refusals.get(&id) {
            Some(refusal) => Some(*refusal),
            None => self.store.refusal(id),
        }
    }

    /// `id_already_failed` when `id` was refused before for a state-dependent reason.
    pub(crate) fn check_not_refused(&self, id: u128) -> Result<(), ResultCode> {
        match self.refusal(id) {
            Some(_) => Err(ResultCode::IdAlreadyFailed),
            None => Ok(()),
        }
    }

    /// Makes a create-transfer or create-payout refusal final when its code is transient
    /// (`ResultCode::is_transient`); other codes need no record. Survives chain rollback.
    /// An id already refused is answered `id_already_failed` (not transient) before any
    /// state-dependent check, so it never reaches here with a transient code twice.
    pub(crate) fn record_refusal(&mut self, id: u128, code: ResultCode, timestamp: u64) {
        if !code.is_transient() {
            return;
        }
        self.refusals.put(id, Refusal { id, code, timestamp }, false);
    }

    pub(crate) fn collection(&self, key: &CollectionKey) -> Option<Collection> {
        match self.collections.get(key) {
            Some(collection) => Some(collection.clone()),
            None => self.store.collection(key),
        }
    }

    /// The assignment of a collection taken out of suspense, this batch's included.
    pub(crate) fn suspense_assignment(&self, key: &CollectionKey) -> Option<SuspenseAssignment> {
        match self.suspense_assignments.get(key) {
            Some(assignment) => Some(assignment.clone()),
            None => self.store.suspense_assignment(key),
        }
    }

    /// A discrepancy by id, this batch's included.
    pub(crate) fn discrepancy(&self, id: u128) -> Option<Discrepancy> {
        match self.discrepancies.get(&id) {
            Some(discrepancy) => Some(discrepancy.clone()),
            None => self.store.discrepancy(id),
        }
    }

    /// The discrepancy recorded at exactly `timestamp`, this batch's included: whether the
    /// event at that time was a discrepancy's recording.
    pub(crate) fn discrepancy_recorded_at(&self, timestamp: u64) -> Option<u128> {
        match self.discrepancy_index.get(&timestamp) {
            Some((_, id)) => Some(*id),
            None => {
                self.store.discrepancy_index_range(timestamp, timestamp, 1).first().map(|e| e.1)
            }
        }
    }

    /// An account's controls version record, this batch's changes included; version 0 for an
    /// account whose controls never changed.
    pub(crate) fn account_controls(&self, account_id: u128) -> AccountControls {
        match self.account_controls.get(&account_id) {
            Some(controls) => *controls,
            None => self.store.account_controls(account_id).unwrap_or(AccountControls {
                account_id,
                version: 0,
                changed_at: 0,
            }),
        }
    }

    /// The control change applied under `id`, this batch's included.
    pub(crate) fn control_change(&self, id: u128) -> Option<ControlChange> {
        match self.control_changes.get(&id) {
            Some(change) => Some(*change),
            None => self.store.control_change(id),
        }
    }

    /// Records a control change under its id (insert-only: callers look the id up first).
    pub(crate) fn insert_control_change(&mut self, change: ControlChange) {
        self.control_changes.put(change.id, change, self.recording);
    }

    /// The payout batch claim recorded under `claim_id`, this batch's included.
    pub(crate) fn claimed_batch(&self, claim_id: u128) -> Option<ClaimedBatch> {
        match self.claimed_batches.get(&claim_id) {
            Some(batch) => Some(batch.clone()),
            None => self.store.claimed_batch(claim_id),
        }
    }

    /// Records a batch claim under its claim id (insert-only: callers look the id up first).
    pub(crate) fn insert_claimed_batch(&mut self, batch: ClaimedBatch) {
        self.claimed_batches.put(batch.claim.claim_id, batch, self.recording);
    }

    /// Up to `limit` open discrepancies holding `account_id`, overlay included, ascending.
    pub(crate) fn discrepancies_holding(&self, account_id: u128, limit: usize) -> Vec<u128> {
        let first = DiscrepancyBlock { account_id, discrepancy_id: 0 };
        let last = DiscrepancyBlock { account_id, discrepancy_id: u128::MAX };
        let fetch = limit.saturating_add(self.discrepancy_blocks.len_in(&first, &last));
        let stored = self.store.discrepancy_block_range(&first, &last, fetch);
        let merged = self.discrepancy_blocks.merge_range(stored, &first, &last, limit);
        merged.into_iter().map(|block| block.discrepancy_id).collect()
    }

    /// Payout index keys in `[first, last]`, overlay included, up to `limit`.
    pub(crate) fn payout_index_range(
        &self,
        first: &PayoutIndexKey,
        last: &PayoutIndexKey,
        limit: usize,
    ) -> Vec<PayoutIndexKey> {
        let fetch = limit.saturating_add(self.payout_index.len_in(first, last));
        let stored = self.store.payout_index_range(first, last, fetch);
        self.payout_index.merge_range(stored, first, last, limit)
    }

    /// Stores an account after its balances changed, with a snapshot for `HISTORY` accounts.
    pub(crate) fn put_account_moved(&mut self, account: Account, timestamp: u64) {
        if account.flags.contains(AccountFlags::HISTORY) {
            self.account_balances.push((account.id, account.balance_at(timestamp)));
        }
        self.put_account(account);
    }

    pub(crate) fn put_account(&mut self, account: Account) {
        self.accounts.put(account.id, account, self.recording);
    }

    /// Stores a new transfer and files it in both accounts' histories.
    pub(crate) fn insert_transfer(&mut self, transfer: Transfer) {
        for account_id in [transfer.debit_account_id, transfer.credit_account_id] {
            self.account_transfers.push(AccountTransferEntry {
                account_id,
                timestamp: transfer.timestamp,
                transfer_id: transfer.id,
            });
        }
        self.transfers.put(transfer.id, transfer, self.recording);
    }

    pub(crate) fn put_pending_transfer(&mut self, pending: PendingTransfer) {
        self.pending_transfers.put(pending.id, pending, self.recording);
    }

    pub(crate) fn set_expiry(&mut self, key: ExpiryKey, present: bool) {
        self.expiries.set(key, present, self.recording);
    }

    /// Stores a payout that just changed state (or was created), moves its index entry from
    /// `previous` (if any) to where it is now and files the change in its history. Every
    /// caller changes the state or the claim, so each call is one transition.
    pub(crate) fn put_payout(&mut self, payout: Payout, previous: Option<PayoutIndexKey>) {
        self.payout_history.push(PayoutHistoryRecord::of(&payout));
        if let Some(previous) = previous {
            self.payout_index.set(previous, false, self.recording);
        }
        self.payout_index.set(PayoutIndexKey::of(&payout), true, self.recording);
        self.payouts.put(payout.id, payout, self.recording);
    }

    pub(crate) fn insert_collection(&mut self, collection: Collection) {
        let key = CollectionKey {
            bank: collection.request.bank,
            bank_reference: collection.request.bank_reference.clone(),
        };
        if collection.suspense.is_some() {
            let index = SuspenseKey { bank: key.bank, timestamp: collection.timestamp };
            self.suspense_index.put(index, (index, Some(key.clone())), self.recording);
        }
        self.collections.insert(key, collection);
    }

    /// Records an assignment and takes the collection off the suspense desk.
    pub(crate) fn insert_suspense_assignment(
        &mut self,
        assignment: SuspenseAssignment,
        index: SuspenseKey,
    ) {
        self.suspense_index.put(index, (index, None), self.recording);
        self.suspense_assignments.insert(assignment.collection.clone(), assignment);
    }

    /// Stores a discrepancy, newly recorded (filed in the index at its recording time) or
    /// changed.
    pub(crate) fn put_discrepancy(&mut self, discrepancy: Discrepancy, recorded: bool) {
        if recorded {
            let entry = (discrepancy.timestamp, discrepancy.request.id);
            self.discrepancy_index.put(entry.0, entry, self.recording);
        }
        self.discrepancies.put(discrepancy.request.id, discrepancy, self.recording);
    }

    /// Files (`true`) or removes (`false`) one discrepancy's hold on one account.
    pub(crate) fn set_discrepancy_block(&mut self, block: DiscrepancyBlock, present: bool) {
        self.discrepancy_blocks.set(block, present, self.recording);
    }

    /// Files an audit record; a status or limits change also moves the account's controls
    /// version, so every path that changes controls (operator, risk desk, reconciler) makes
    /// older changes stale by the same rule.
    pub(crate) fn push_audit(&mut self, record: AuditRecord) {
        if matches!(record.action, AuditAction::Status { .. } | AuditAction::Limits { .. }) {
            self.move_controls_version(record.account_id, record.timestamp);
        }
        self.audit.push(record);
    }

    /// Moves an account's controls version by one: every audited status or limits change
    /// does, and so does a versioned change that confirmed what was already set (a newer
    /// decision, so an older one still in flight must find its version stale).
    pub(crate) fn move_controls_version(&mut self, account_id: u128, timestamp: u64) {
        let mut controls = self.account_controls(account_id);
        // One change per log event: the version cannot outgrow u64 before the log index.
        controls.version = controls.version.saturating_add(1);
        controls.changed_at = timestamp;
        self.account_controls.put(account_id, controls, self.recording);
    }

    pub(crate) fn begin_chain(&mut self) -> Savepoint {
        self.recording = true;
        Savepoint {
            accounts: self.accounts.savepoint(),
            transfers: self.transfers.savepoint(),
            pending_transfers: self.pending_transfers.savepoint(),
            expiries: self.expiries.savepoint(),
            payouts: self.payouts.savepoint(),
            payout_index: self.payout_index.savepoint(),
            collections: self.collections.savepoint(),
            account_transfers: self.account_transfers.savepoint(),
            account_balances: self.account_balances.savepoint(),
            audit: self.audit.savepoint(),
            payout_history: self.payout_history.savepoint(),
            suspense_index: self.suspense_index.savepoint(),
            suspense_assignments: self.suspense_assignments.savepoint(),
            discrepancies: self.discrepancies.savepoint(),
            discrepancy_index: self.discrepancy_index.savepoint(),
            discrepancy_blocks: self.discrepancy_blocks.savepoint(),
            account_controls: self.account_controls.savepoint(),
            control_changes: self.control_changes.savepoint(),
            claimed_batches: self.claimed_batches.savepoint(),
        }
    }

    pub(crate) fn rollback_chain(&mut self, savepoint: Savepoint) {
        self.accounts.rollback(savepoint.accounts);
        self.transfers.rollback(savepoint.transfers);
        self.pending_transfers.rollback(savepoint.pending_transfers);
        self.expiries.rollback(savepoint.expiries);
        self.payouts.rollback(savepoint.payouts);
        self.payout_index.rollback(savepoint.payout_index);
        self.collections.rollback(savepoint.collections);
        self.account_transfers.rollback(savepoint.account_transfers);
        self.account_balances.rollback(savepoint.account_balances);
        self.audit.rollback(savepoint.audit);
        self.payout_history.rollback(savepoint.payout_history);
        self.suspense_index.rollback(savepoint.suspense_index);
        self.suspense_assignments.rollback(savepoint.suspense_assignments);
        self.discrepancies.rollback(savepoint.discrepancies);
        self.discrepancy_index.rollback(savepoint.discrepancy_index);
        self.discrepancy_blocks.rollback(savepoint.discrepancy_blocks);
        self.account_controls.rollback(savepoint.account_controls);
        self.control_changes.rollback(savepoint.control_changes);
        self.claimed_batches.rollback(savepoint.claimed_batches);
        self.end_chain();
    }

    pub(crate) fn end_chain(&mut self) {
        self.recording = false;
        self.accounts.clear_undo();
        self.transfers.clear_undo();
        self.pending_transfers.clear_undo();
        self.expiries.clear_undo();
        self.payouts.clear_undo();
        self.payout_index.clear_undo();
        self.suspense_index.clear_undo();
        self.discrepancies.clear_undo();
        self.discrepancy_index.clear_undo();
        self.discrepancy_blocks.clear_undo();
        self.account_controls.clear_undo();
        self.control_changes.clear_undo();
        self.claimed_batches.clear_undo();
    }

    pub(crate) fn into_write_set(self, meta: Meta) -> WriteSet {
        WriteSet {
            accounts: self.accounts.into_values(),
            transfers: self.transfers.into_values(),
            pending_transfers: self.pending_transfers.into_values(),
            expiries: self.expiries.into_changes(),
            payouts: self.payouts.into_values(),
            payout_index: self.payout_index.into_changes(),
            collections: self.collections.into_values(),
            account_transfers: self.account_transfers.into_vec(),
            account_balances: self.account_balances.into_vec(),
            audit: self.audit.into_vec(),
            refusals: self.refusals.into_values(),
            payout_history: self.payout_history.into_vec(),
            suspense_index: self.suspense_index.into_values(),
            suspense_assignments: self.suspense_assignments.into_values(),
            discrepancies: self.discrepancies.into_values(),
            discrepancy_index: self.discrepancy_index.into_values(),
            discrepancy_blocks: self.discrepancy_blocks.into_changes(),
            account_controls: self.account_controls.into_values(),
            control_changes: self.control_changes.into_values(),
            claimed_batches: self.claimed_batches.into_values(),
            meta,
        }
    }
}
