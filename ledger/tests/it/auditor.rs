//! The auditor: an independent reference model of the ledger, after TigerBeetle's
//! `auditor.zig`. It predicts every event's full result (code, timestamp, detail) and every
//! record the ledger stores; the property tests feed it the same batches as the ledger and
//! compare.
//!
//! It is written *another way* than the state machine, so that a wrong rule is not simply
//! repeated in both (issue 11, item 10). The state machine decides an event in nested
//! branches that read the store as they go; the model gathers an event's facts first, then
//! looks its answer up:
//!
//! - every command's checks are ordered tables of named rules (`rules`), code and predicate
//!   as data, in the documented order; the first that holds is the answer;
//! - balance rules are predicates on what an account would hold *after* the movement, in
//!   arithmetic that cannot wrap (`balances`): a debit is refused exactly when it would
//!   overdraw a `debits_must_not_exceed_credits` account or overflow a column;
//! - recording a payout outcome is a transition table (`payouts::OUTCOMES`) from (state,
//!   outcome, token current, leaseholder, lease live) to code and next state, checked to
//!   cover every case exactly once; claims rank payouts by a table of claimable states;
//! - a collection's beneficiary or suspense is an ordered list of named routes;
//! - which accounts a discrepancy holds is asked of the open discrepancies, not kept in a
//!   table, and whether an account's block is a discrepancy's (so a resolution may lift it)
//!   is read from the account's audit trail, not from an index (`discrepancies`);
//! - which refusals are final for their id is not a list of codes but follows from what
//!   the refusing rule judged (`Ground::State`);
//! - state lives in plain ordered maps, linked chains roll back by cloning the model.
//!
//! Mutations this model catches (each made in `ledger/src/state_machine`, run with
//! `cargo test --release -p tianping-ledger properties`, seen failing, then reverted):
//!
//! - payouts.rs, `try_record_payout_outcome`: drop `payout.fencing_token ==
//!   request.fencing_token` from `retry` (a final payout re-recorded with a stale token
//!   answers `exists`): the table answers `payout_already_final`.
//! - movement.rs, `check_debit_balance`: compare against `credits_posted + credit_line + 1`
//!   (a debit may overdraw a `debits_must_not_exceed_credits` account by 1): the model
//!   predicts `exceeds_credits` where the ledger answers `ok`.
//! - collections.rs, `beneficiary_refusal`: drop the `Frozen` arm (a collection for a frozen
//!   beneficiary is booked to it, not to suspense): the routes predict
//!   `beneficiary_frozen` and the suspense account.
//! - accounts.rs, `try_create_account`: drop the `exists_with_different_credit_line` check
//!   (the same id with another credit line answers `exists`): the model predicts
//!   `exists_with_different_credit_line`.
//! - discrepancies.rs, `same_difference`: drop the comparison of the account sets (a report
//!   of another set of accounts under a recorded id answers `exists`): the model predicts
//!   `discrepancy_exists_with_different_fields`.
//! - payouts.rs, `still_held`: drop `payout.lease_until > timestamp` (a retried claim id
//!   lists payouts whose lease ran out): the model, which judges holding from the payout
//!   history and the lease, predicts an empty `exists`.
//!
//! The safety properties checked from the ledger's *own* results, independently of the
//! model (daily limits, blocks and freezes, chain atomicity), live in the library as
//! `tianping_ledger::invariants::events`, which the simulation runs over committed logs too.

mod accounts;
mod balances;
mod collections;
mod discrepancies;
mod movement;
mod payouts;
mod rules;
mod suspense;
mod transfers;

use std::collections::{BTreeMap, BTreeSet};

use tianping_ledger::codec;
use tianping_ledger::invariants::events::chains;
use tianping_ledger::store::AccountTransferEntry;
use tianping_ledger::{
    Account, AccountBalance, AccountControls, AccountFlags, AuditAction, AuditRecord,
    BATCH_EVENTS_MAX, Batch, BatchError, ClaimedBatch, Collection, CollectionKey, Command,
    ControlChange, Detail, Discrepancy, EXPIRIES_PER_BATCH_MAX, EventResult, LedgerStore,
    MemoryStore, Payout, PayoutHistoryRecord, PendingStatus, PendingTransfer, ResultCode,
    StateMachine, SuspenseAssignment, Table, Transfer,
};

pub use balances::Wide;
use rules::Ground;
use transfers::final_refusal;

use ResultCode as R;

/// The reference model's whole state.
#[derive(Clone, Debug)]
pub struct Auditor {
    /// Only for `day_of`: the day boundary is configuration, not logic under test.
    machine: StateMachine,
    pub accounts: BTreeMap<u128, Account>,
    pub transfers: BTreeMap<u128, Transfer>,
    pub pending: BTreeMap<u128, PendingTransfer>,
    pub payouts: BTreeMap<u128, Payout>,
    pub collections: BTreeMap<CollectionKey, Collection>,
    /// Collections taken out of suspense.
    pub assignments: BTreeMap<CollectionKey, SuspenseAssignment>,
    /// Every payout's state changes: (payout, event timestamp) → record.
    pub payout_history: BTreeMap<(u128, u64), PayoutHistoryRecord>,
    /// Audit records in the order the events filed them.
    pub audit: Vec<AuditRecord>,
    /// Discrepancies recorded, open and resolved, by id.
    pub discrepancies: BTreeMap<u128, Discrepancy>,
    /// Versioned control changes answered `ok`, by change id.
    pub control_changes: BTreeMap<u128, ControlChange>,
    /// Payout batch claims that took something, by claim id.
    pub claimed_batches: BTreeMap<u128, ClaimedBatch>,
    /// Versioned changes that set what was already set: (account, timestamp).
    pub confirmations: Vec<(u128, u64)>,
    /// Outflow blocks a resolution left in place because another open discrepancy held the
    /// account (a statistic: proves the property tests reach that rule).
    pub blocks_kept: u64,
    /// Ids of create-transfer / create-payout events refused for a state-dependent reason:
    /// id → (code, timestamp). Final: the id answers `id_already_failed` from then on.
    pub refusals: BTreeMap<u128, (ResultCode, u64)>,
    /// Balance snapshots of `HISTORY` accounts: (account, snapshot).
    pub balance_history: Vec<(u128, AccountBalance)>,
    pub last_timestamp: u64,
    /// How many reservations each applied batch expired (the last batch's count).
    pub expired_last_batch: u64,
}

/// A refusal and what it judged, or the event's result.
pub type Verdict = Result<EventResult, (ResultCode, Ground)>;

fn refused(code: ResultCode, timestamp: u64) -> EventResult {
    EventResult::code(code, timestamp)
}

/// An answer that carries an amount (transfers and payouts).
fn answer(code: ResultCode, timestamp: u64, amount: u128) -> EventResult {
    EventResult { code, timestamp, detail: Detail::Amount(amount) }
}

impl Auditor {
    pub fn new(machine: StateMachine) -> Auditor {
        Auditor {
            machine,
            accounts: BTreeMap::new(),
            transfers: BTreeMap::new(),
            pending: BTreeMap::new(),
            payouts: BTreeMap::new(),
            collections: BTreeMap::new(),
            assignments: BTreeMap::new(),
            payout_history: BTreeMap::new(),
            audit: Vec::new(),
            discrepancies: BTreeMap::new(),
            control_changes: BTreeMap::new(),
            claimed_batches: BTreeMap::new(),
            confirmations: Vec::new(),
            blocks_kept: 0,
            refusals: BTreeMap::new(),
            balance_history: Vec::new(),
            last_timestamp: 0,
            expired_last_batch: 0,
        }
    }

    /// The batch's base timestamp if it were applied now.
    pub fn base_of(&self, batch_timestamp: u64) -> u64 {
        batch_timestamp.max(self.last_timestamp.saturating_add(1))
    }

    /// True when a batch applied now at `batch_timestamp` would expire a reservation.
    pub fn expiry_due(&self, batch_timestamp: u64) -> bool {
        let now = self.base_of(batch_timestamp);
        self.pending
            .values()
            .any(|p| p.status == PendingStatus::Pending && p.expires_at != 0 && p.expires_at <= now)
    }

    /// Predicts `StateMachine::apply` and updates the model.
    pub fn apply(&mut self, batch: &Batch) -> Result<Vec<EventResult>, BatchError> {
        let count = batch.commands.len();
        if count > BATCH_EVENTS_MAX {
            return Err(BatchError::TooManyEvents { count });
        }
        let base = self.base_of(batch.timestamp);
        if base.checked_add((EXPIRIES_PER_BATCH_MAX + count) as u64).is_none() {
            return Err(BatchError::TimestampOverflow);
        }
        let expired = self.expire(base);
        self.expired_last_batch = expired;
        let results = self.events(&batch.commands, base + expired);
        let used = expired + count as u64;
        self.last_timestamp = if used == 0 { base } else { base + used - 1 };
        Ok(results)
    }

    fn expire(&mut self, now: u64) -> u64 {
        let mut due: Vec<(u64, u128)> = self
            .pending
            .values()
            .filter(|p| {
                p.status == PendingStatus::Pending && p.expires_at != 0 && p.expires_at <= now
            })
            .map(|p| (p.expires_at, p.id))
            .collect();
        due.sort_unstable();
        due.truncate(EXPIRIES_PER_BATCH_MAX);
        for (offset, (_, id)) in due.iter().enumerate() {
            let timestamp = now + offset as u64;
            let reservation = self.transfers[id];
            self.settle(&reservation, 0, timestamp);
            self.finish_reservation(*id, PendingStatus::Expired, 0, 0, timestamp);
        }
        due.len() as u64
    }

    fn events(&mut self, commands: &[Command], first: u64) -> Vec<EventResult> {
        let mut results = Vec::with_capacity(commands.len());
        for (range, open) in chains(commands) {
            let timestamp_of = |index: usize| first + index as u64;
            if open {
                for index in range.clone() {
                    let code = if index + 1 == range.end {
                        R::LinkedEventChainOpen
                    } else {
                        R::LinkedEventFailed
                    };
                    results.push(refused(code, timestamp_of(index)));
                }
                continue;
            }
            let snapshot = (range.len() > 1).then(|| self.clone());
            let mut chain_results = Vec::with_capacity(range.len());
            let mut failure = None;
            for index in range.clone() {
                let result = self.event(&commands[index], timestamp_of(index));
                if !result.code.is_success() && snapshot.is_some() {
                    failure = Some((index, result));
                    break;
                }
                chain_results.push(result);
            }
            match (failure, snapshot) {
                (Some((failed, result)), Some(snapshot)) => {
                    // The rollback undoes the chain, not the fact that its member was refused.
                    let refusals = std::mem::take(&mut self.refusals);
                    *self = snapshot;
                    self.refusals = refusals;
                    for index in range {
                        if index == failed {
                            results.push(result.clone());
                        } else {
                            results.push(refused(R::LinkedEventFailed, timestamp_of(index)));
                        }
                    }
                }
                _ => results.extend(chain_results),
            }
        }
        results
    }

    fn event(&mut self, command: &Command, timestamp: u64) -> EventResult {
        let day = self.machine.day_of(timestamp);
        let touches_payouts = matches!(
            command,
            Command::CreatePayout(_)
                | Command::ClaimPayouts(_)
                | Command::ClaimPayoutBatch(_)
                | Command::RecordPayoutOutcome(_)
        );
        let payouts_before = touches_payouts.then(|| self.payouts.clone());
        let outcome = match command {
            Command::CreateAccount(request) => self.create_account(request, timestamp),
            Command::CreateTransfer(request) => self.create_transfer(request, timestamp, day),
            Command::SetAccountStatus(request) => self.set_status(request, timestamp),
            Command::SetAccountLimits(request) => self.set_limits(request, timestamp, day),
            Command::CreatePayout(request) => self.create_payout(request, timestamp, day),
            Command::ClaimPayouts(request) => self.claim(request, timestamp),
            Command::RecordPayoutOutcome(request) => self.record_outcome(request, timestamp),
            Command::BookCollection(request) => self.book_collection(request, timestamp),
            Command::AssignSuspense(request) => self.assign_suspense(request, timestamp),
            Command::RecordDiscrepancy(request) => self.record_discrepancy(request, timestamp),
            Command::ResolveDiscrepancy(request) => self.resolve_discrepancy(request, timestamp),
            Command::ChangeAccountStatus(request) => self.change_status(request, timestamp),
            Command::ChangeAccountLimits(request) => self.change_limits(request, timestamp, day),
            Command::ClaimPayoutBatch(request) => self.claim_batch(request, timestamp),
        };
        if let Some(before) = payouts_before {
            self.note_payout_changes(&before, timestamp);
        }
        let id = match command {
            Command::CreateTransfer(request) => Some(request.id),
            Command::CreatePayout(request) => Some(request.id),
            _ => None,
        };
        if let (Err((code, ground)), Some(id)) = (&outcome, id)
            && final_refusal(*ground)
        {
            let previous = self.refusals.insert(id, (*code, timestamp));
            assert!(previous.is_none(), "model refused id {id} twice");
        }
        outcome.unwrap_or_else(|(code, _)| refused(code, timestamp))
    }

    /// Files a history record for every payout this event created or moved to another state
    /// or claim, found by comparing the payouts before and after the event: the history is
    /// what changed, whichever rule changed it.
    fn note_payout_changes(&mut self, before: &BTreeMap<u128, Payout>, timestamp: u64) {
        let stance = |p: &Payout| (p.state, p.fencing_token, p.worker_id, p.lease_until);
        for payout in self.payouts.values() {
            if before.get(&payout.id).map(stance) == Some(stance(payout)) {
                continue;
            }
            let record = PayoutHistoryRecord {
                payout_id: payout.id,
                timestamp,
                state: payout.state,
                worker_id: payout.worker_id,
                fencing_token: payout.fencing_token,
                lease_until: payout.lease_until,
            };
            let previous = self.payout_history.insert((payout.id, timestamp), record);
            assert!(previous.is_none(), "model changed payout {} twice at once", payout.id);
        }
    }

    /// Releases `reservation` and posts `posted` of it.
    fn settle(&mut self, reservation: &Transfer, posted: u128, timestamp: u64) {
        let mut debit = self.accounts[&reservation.debit_account_id];
        debit.debits_pending -= reservation.amount;
        debit.debits_posted += posted;
        let mut credit = self.accounts[&reservation.credit_account_id];
        credit.credits_pending -= reservation.amount;
        credit.credits_posted += posted;
        self.store_moved(debit, timestamp);
        self.store_moved(credit, timestamp);
    }

    /// Stores an account whose balances changed, with a snapshot for `HISTORY` accounts.
    fn store_moved(&mut self, account: Account, timestamp: u64) {
        if account.flags.0 & AccountFlags::HISTORY.0 != 0 {
            self.balance_history.push((
                account.id,
                AccountBalance {
                    timestamp,
                    debits_pending: account.debits_pending,
                    debits_posted: account.debits_posted,
                    credits_pending: account.credits_pending,
                    credits_posted: account.credits_posted,
                },
            ));
        }
        self.accounts.insert(account.id, account);
    }

    /// Marks a reservation resolved: by a post or void (`resolved_by` its id), by the bank's
    /// answer to a payout (the payout's id), or by expiry (0).
    fn finish_reservation(
        &mut self,
        id: u128,
        status: PendingStatus,
        amount_posted: u128,
        resolved_by: u128,
        resolved_at: u64,
    ) {
        let state = self.pending.get_mut(&id).expect("a resolved reservation has pending state");
        *state = PendingTransfer { status, amount_posted, resolved_by, resolved_at, ..*state };
    }

    /// Every changed account's controls version, as the audit trail and the confirmations
    /// count it.
    fn controls_versions(&self) -> BTreeMap<u128, AccountControls> {
        let mut versions: BTreeMap<u128, AccountControls> = BTreeMap::new();
        let audited = self.audit.iter().filter_map(|record| {
            matches!(record.action, AuditAction::Status { .. } | AuditAction::Limits { .. })
                .then_some((record.account_id, record.timestamp))
        });
        for (account_id, timestamp) in audited.chain(self.confirmations.iter().copied()) {
            let entry = versions.entry(account_id).or_insert(AccountControls {
                account_id,
                version: 0,
                changed_at: 0,
            });
            entry.version += 1;
            entry.changed_at = entry.changed_at.max(timestamp);
        }
        versions
    }

    /// Compares every record of the model with `store`; the first difference is an error.
    pub fn compare(&self, store: &MemoryStore) -> Result<(), String> {
        let dump = tianping_ledger::invariants::StateDump::load(store);
        if store.meta().last_timestamp != self.last_timestamp {
            return Err(format!(
                "last_timestamp: model {} store {}",
                self.last_timestamp,
                store.meta().last_timestamp
            ));
        }
        compare_map("account", &self.accounts, &dump.accounts)?;
        compare_map("transfer", &self.transfers, &dump.transfers)?;
        compare_map("pending transfer", &self.pending, &dump.pending_transfers)?;
        compare_map("payout", &self.payouts, &dump.payouts)?;
        let mut stored_collections = 0;
        store.visit_table(tianping_ledger::Table::Collections, &mut |_, _| {
            stored_collections += 1;
        });
        if stored_collections != self.collections.len() {
            return Err(format!(
                "collections: model has {}, store has {stored_collections}",
                self.collections.len()
            ));
        }
        for (key, expected) in &self.collections {
            let actual = store.collection(key);
            if actual.as_ref() != Some(expected) {
                return Err(format!("collection {key:?}: model {expected:?}, store {actual:?}"));
            }
        }
        self.compare_history(store)?;
        if dump.payout_history != self.payout_history {
            let extra: Vec<_> = dump
                .payout_history
                .iter()
                .filter(|(k, v)| self.payout_history.get(k) != Some(v))
                .collect();
            let missing: Vec<_> = self
                .payout_history
                .iter()
                .filter(|(k, v)| dump.payout_history.get(k) != Some(v))
                .collect();
            return Err(format!("payout history: extra {extra:?}, missing {missing:?}"));
        }
        if dump.suspense_assignments != self.assignments {
            return Err(format!(
                "suspense assignments: model {:?}, store {:?}",
                self.assignments, dump.suspense_assignments
            ));
        }
        let desk = self.desk();
        if dump.suspense_index != desk {
            return Err(format!("suspense desk: model {desk:?}, store {:?}", dump.suspense_index));
        }
        let stored_refusals: BTreeMap<u128, (ResultCode, u64)> =
            dump.refusals.values().map(|r| (r.id, (r.code, r.timestamp))).collect();
        compare_map("refusal", &self.refusals, &stored_refusals)?;
        // The store files an event's records by account; the model in the order it made them.
        let mut expected = self.audit.clone();
        expected.sort_by_key(|record| (record.timestamp, record.account_id));
        let audit: Vec<AuditRecord> = dump.audit.values().cloned().collect();
        if audit != expected {
            return Err(format!("audit records: model {expected:?}, store {audit:?}"));
        }
        compare_map("discrepancy", &self.discrepancies, &dump.discrepancies)?;
        let index = self.discrepancy_index();
        if dump.discrepancy_index != index {
            return Err(format!(
                "discrepancy index: model {index:?}, store {:?}",
                dump.discrepancy_index
            ));
        }
        if dump.control_changes != self.control_changes {
            return Err(format!(
                "control changes: model {:?}, store {:?}",
                self.control_changes, dump.control_changes
            ));
        }
        if dump.claimed_batches != self.claimed_batches {
            return Err(format!(
                "claimed batches: model {:?}, store {:?}",
                self.claimed_batches, dump.claimed_batches
            ));
        }
        let versions = self.controls_versions();
        if dump.account_controls != versions {
            return Err(format!(
                "controls versions: model {versions:?}, store {:?}",
                dump.account_controls
            ));
        }
        let holds: Vec<_> = self.holds().into_iter().collect();
        if dump.discrepancy_blocks != holds {
            return Err(format!(
                "discrepancy blocks: model {holds:?}, store {:?}",
                dump.discrepancy_blocks
            ));
        }
        Ok(())
    }

    /// Every transfer is in both accounts' histories and nothing else is; every balance
    /// change of a `HISTORY` account left its snapshot.
    fn compare_history(&self, store: &MemoryStore) -> Result<(), String> {
        let mut entries = BTreeSet::new();
        store.visit_table(Table::AccountTransfers, &mut |key, _| {
            entries.insert(codec::decode_account_transfer_key(key).map_err(|e| e.to_string()));
        });
        let expected: BTreeSet<Result<AccountTransferEntry, String>> = self
            .transfers
            .values()
            .flat_map(|t| {
                [t.debit_account_id, t.credit_account_id].map(|account_id| {
                    Ok(AccountTransferEntry {
                        account_id,
                        timestamp: t.timestamp,
                        transfer_id: t.id,
                    })
                })
            })
            .collect();
        if entries != expected {
            let extra: Vec<_> = entries.difference(&expected).collect();
            let missing: Vec<_> = expected.difference(&entries).collect();
            return Err(format!("account history: extra {extra:?}, missing {missing:?}"));
        }
        let as_tuple = |account_id: u128, b: &AccountBalance| {
            let balances = (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted);
            (account_id, b.timestamp, balances)
        };
        let mut snapshots = BTreeSet::new();
        let mut undecodable = 0;
        store.visit_table(Table::AccountBalances, &mut |key, value| match (
            codec::decode_account_balance_key(key),
            codec::decode_value::<AccountBalance>(value, "balance"),
        ) {
            (Ok((account_id, _)), Ok(balance)) => {
                snapshots.insert(as_tuple(account_id, &balance));
            }
            _ => undecodable += 1,
        });
        let expected: BTreeSet<_> =
            self.balance_history.iter().map(|(id, balance)| as_tuple(*id, balance)).collect();
        if undecodable != 0 || snapshots != expected || expected.len() != self.balance_history.len()
        {
            let extra: Vec<_> = snapshots.difference(&expected).collect();
            let missing: Vec<_> = expected.difference(&snapshots).collect();
            return Err(format!("balance snapshots: extra {extra:?}, missing {missing:?}"));
        }
        Ok(())
    }

    /// Per ledger: (debits pending, credits pending, debits posted, credits posted), summed
    /// without overflow as (carries, low) pairs.
    pub fn ledger_sums(accounts: impl Iterator<Item = Account>) -> BTreeMap<u32, [Wide; 4]> {
        let mut sums: BTreeMap<u32, [Wide; 4]> = BTreeMap::new();
        for account in accounts {
            let entry = sums.entry(account.ledger).or_default();
            entry[0].add(account.debits_pending);
            entry[1].add(account.credits_pending);
            entry[2].add(account.debits_posted);
            entry[3].add(account.credits_posted);
        }
        sums
    }
}

fn compare_map<V: PartialEq + std::fmt::Debug>(
    what: &str,
    model: &BTreeMap<u128, V>,
    store: &BTreeMap<u128, V>,
) -> Result<(), String> {
    for (id, expected) in model {
        match store.get(id) {
            Some(actual) if actual == expected => {}
            actual => return Err(format!("{what} {id}: model {expected:?}, store {actual:?}")),
        }
    }
    if let Some(extra) = store.keys().find(|id| !model.contains_key(id)) {
        return Err(format!("{what} {extra} is stored but the model has none: {:?}", store[extra]));
    }
    Ok(())
}
