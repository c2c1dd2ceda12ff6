//! Invariant checkers over a whole ledger state, one module per property (DESIGN §3). They
//! read any `LedgerStore` through its canonical records, so unit tests, the property tests,
//! the simulation and the chaos drills all run the same code. Each returns every violation
//! it finds; an empty list means the property holds. `events` is the one that watches
//! batches as they are applied rather than a state.

pub mod balance_flags;
pub mod balances_match_transfers;
pub mod claimed_batches;
pub mod conservation;
pub mod controls;
pub mod discrepancies;
pub mod events;
pub mod indexes;
pub mod limits;
pub mod payout_history;
pub mod payouts;
pub mod refusals;
pub mod suspense;

use std::collections::BTreeMap;

use crate::account::Account;
use crate::audit::{AccountControls, AuditRecord, ControlChange};
use crate::codec;
use crate::collection::{Collection, CollectionKey, SuspenseAssignment, SuspenseKey};
use crate::discrepancy::{Discrepancy, DiscrepancyBlock};
use crate::payout::{ClaimedBatch, Payout, PayoutHistoryRecord};
use crate::refusal::Refusal;
use crate::store::{ExpiryKey, LedgerStore, PayoutIndexKey, Table};
use crate::transfer::{PendingTransfer, Transfer};

/// One broken invariant, in words an engineer can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property's name (the module's).
    pub invariant: &'static str,
    /// What is wrong, naming ids and amounts.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// The records the checkers need, decoded from a store, ordered by key.
#[derive(Clone, Debug, Default)]
pub struct StateDump {
    /// Accounts by id.
    pub accounts: BTreeMap<u128, Account>,
    /// Transfers by id.
    pub transfers: BTreeMap<u128, Transfer>,
    /// Pending-transfer states by id.
    pub pending_transfers: BTreeMap<u128, PendingTransfer>,
    /// The expiry index.
    pub expiries: Vec<ExpiryKey>,
    /// Payouts by id.
    pub payouts: BTreeMap<u128, Payout>,
    /// The payout index.
    pub payout_index: Vec<PayoutIndexKey>,
    /// State-dependent refusals by id.
    pub refusals: BTreeMap<u128, Refusal>,
    /// Collections by bank reference.
    pub collections: BTreeMap<CollectionKey, Collection>,
    /// Payout history records by (payout id, timestamp).
    pub payout_history: BTreeMap<(u128, u64), PayoutHistoryRecord>,
    /// The suspense index.
    pub suspense_index: BTreeMap<SuspenseKey, CollectionKey>,
    /// Suspense assignments by collection.
    pub suspense_assignments: BTreeMap<CollectionKey, SuspenseAssignment>,
    /// Audit records by (timestamp, account), as keyed.
    pub audit: BTreeMap<(u64, u128), AuditRecord>,
    /// Discrepancies by id, as keyed.
    pub discrepancies: BTreeMap<u128, Discrepancy>,
    /// The discrepancy index: recording timestamp → id.
    pub discrepancy_index: BTreeMap<u64, u128>,
    /// The discrepancy blocks.
    pub discrepancy_blocks: Vec<DiscrepancyBlock>,
    /// Accounts' controls versions, by the account id they are keyed under.
    pub account_controls: BTreeMap<u128, AccountControls>,
    /// Applied control changes, by the change id they are keyed under.
    pub control_changes: BTreeMap<u128, ControlChange>,
    /// Payout batch claims, by the claim id they are keyed under.
    pub claimed_batches: BTreeMap<u128, ClaimedBatch>,
    /// Records that failed to decode (each is itself a violation).
    pub undecodable: Vec<String>,
}

impl StateDump {
    /// Reads every record the checkers need from `store`.
    pub fn load<S: LedgerStore + ?Sized>(store: &S) -> StateDump {
        let mut dump = StateDump::default();
        let mut undecodable = Vec::new();
        store.visit_table(Table::Accounts, &mut |_, value| match codec::decode_value::<Account>(
            value, "account",
        ) {
            Ok(account) => {
                dump.accounts.insert(account.id, account);
            }
            Err(error) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::Transfers, &mut |_, value| match codec::decode_value::<Transfer>(
            value, "transfer",
        ) {
            Ok(transfer) => {
                dump.transfers.insert(transfer.id, transfer);
            }
            Err(error) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::PendingTransfers, &mut |_, value| match codec::decode_value::<
            PendingTransfer,
        >(
            value, "pending transfer"
        ) {
            Ok(pending) => {
                dump.pending_transfers.insert(pending.id, pending);
            }
            Err(error) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::Expiries, &mut |key, _| match codec::decode_expiry_key(key) {
            Ok(key) => dump.expiries.push(key),
            Err(error) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::Payouts, &mut |_, value| match codec::decode_value::<Payout>(
            value, "payout",
        ) {
            Ok(payout) => {
                dump.payouts.insert(payout.id, payout);
            }
            Err(error) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::PayoutIndex, &mut |key, _| match codec::decode_payout_index_key(
            key,
        ) {
            Ok(key) => dump.payout_index.push(key),
            Err(error) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::Refusals, &mut |_, value| match codec::decode_value::<Refusal>(
            value, "refusal",
        ) {
            Ok(refusal) => {
                dump.refusals.insert(refusal.id, refusal);
            }
            Err(error) => undecodable.push(error.to_string()),
        });
        store.visit_table(
            Table::Collections,
            &mut |_, value| match codec::decode_value::<Collection>(value, "collection") {
                Ok(collection) => {
                    let key = CollectionKey {
                        bank: collection.request.bank,
                        bank_reference: collection.request.bank_reference.clone(),
                    };
                    dump.collections.insert(key, collection);
                }
                Err(error) => undecodable.push(error.to_string()),
            },
        );
        store.visit_table(Table::PayoutHistory, &mut |key, value| match (
            codec::decode_payout_history_key(key),
            codec::decode_value::<PayoutHistoryRecord>(value, "payout history record"),
        ) {
            (Ok(key), Ok(record)) => {
                dump.payout_history.insert(key, record);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::SuspenseIndex, &mut |key, value| match (
            codec::decode_suspense_key(key),
            codec::decode_value::<CollectionKey>(value, "suspense index entry"),
        ) {
            (Ok(key), Ok(collection)) => {
                dump.suspense_index.insert(key, collection);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::SuspenseAssignments, &mut |_, value| match codec::decode_value::<
            SuspenseAssignment,
        >(
            value,
            "suspense assignment",
        ) {
            Ok(assignment) => {
                dump.suspense_assignments.insert(assignment.collection.clone(), assignment);
            }
            Err(error) => undecodable.push(error.to_string()),
        });
        dump.load_discrepancies(store, &mut undecodable);
        dump.load_controls(store, &mut undecodable);
        dump.undecodable = undecodable;
        dump
    }

    /// Reads the controls versions, the control changes and the payout batch claims, keys
    /// included.
    fn load_controls<S: LedgerStore + ?Sized>(&mut self, store: &S, undecodable: &mut Vec<String>) {
        store.visit_table(Table::AccountControls, &mut |key, value| match (
            codec::decode_id_key(key),
            codec::decode_value::<AccountControls>(value, "account controls"),
        ) {
            (Ok(id), Ok(controls)) => {
                self.account_controls.insert(id, controls);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::ControlChanges, &mut |key, value| match (
            codec::decode_id_key(key),
            codec::decode_value::<ControlChange>(value, "control change"),
        ) {
            (Ok(id), Ok(change)) => {
                self.control_changes.insert(id, change);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::ClaimedBatches, &mut |key, value| match (
            codec::decode_id_key(key),
            codec::decode_value::<ClaimedBatch>(value, "claimed batch"),
        ) {
            (Ok(id), Ok(batch)) => {
                self.claimed_batches.insert(id, batch);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
    }

    /// Reads the audit records and the three discrepancy tables, keys included (the checkers
    /// compare each record with the key it is filed under).
    fn load_discrepancies<S: LedgerStore + ?Sized>(
        &mut self,
        store: &S,
        undecodable: &mut Vec<String>,
    ) {
        store.visit_table(Table::Audit, &mut |key, value| match (
            codec::decode_audit_key(key),
            codec::decode_value::<AuditRecord>(value, "audit record"),
        ) {
            (Ok(key), Ok(record)) => {
                self.audit.insert(key, record);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::Discrepancies, &mut |key, value| match (
            codec::decode_id_key(key),
            codec::decode_value::<Discrepancy>(value, "discrepancy"),
        ) {
            (Ok(id), Ok(discrepancy)) => {
                self.discrepancies.insert(id, discrepancy);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::DiscrepancyIndex, &mut |key, value| match (
            codec::decode_timestamp_key(key),
            codec::decode_value::<u128>(value, "discrepancy index entry"),
        ) {
            (Ok(timestamp), Ok(id)) => {
                self.discrepancy_index.insert(timestamp, id);
            }
            (Err(error), _) | (_, Err(error)) => undecodable.push(error.to_string()),
        });
        store.visit_table(Table::DiscrepancyBlocks, &mut |key, _| {
            match codec::decode_discrepancy_block_key(key) {
                Ok(block) => self.discrepancy_blocks.push(block),
                Err(error) => undecodable.push(error.to_string()),
            }
        });
    }
}

/// Runs every checker; returns all violations found.
pub fn check_all(dump: &StateDump) -> Vec<Violation> {
    let mut violations: Vec<Violation> = dump
        .undecodable
        .iter()
        .map(|detail| Violation { invariant: "decodable", detail: detail.clone() })
        .collect();
    violations.extend(conservation::check(dump));
    violations.extend(balance_flags::check(dump));
    violations.extend(balances_match_transfers::check(dump));
    violations.extend(limits::check(dump));
    violations.extend(payouts::check(dump));
    violations.extend(indexes::check(dump));
    violations.extend(refusals::check(dump));
    violations.extend(payout_history::check(dump));
    violations.extend(suspense::check(dump));
    violations.extend(discrepancies::check(dump));
    violations.extend(controls::check(dump));
    violations.extend(claimed_batches::check(dump));
    violations
}

/// A sum of `u128` values that cannot overflow (up to 2^64 carries).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct WideSum {
    carries: u64,
    low: u128,
}

impl WideSum {
    /// Adds `value`.
    pub fn add(&mut self, value: u128) {
        let (low, carried) = self.low.overflowing_add(value);
        self.low = low;
        self.carries += u64::from(carried);
    }
}

impl std::fmt::Display for WideSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.carries == 0 {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}·2^128 + {}", self.carries, self.low)
        }
    }
}
