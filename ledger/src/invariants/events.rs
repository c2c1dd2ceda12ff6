//! Invariant 6, event by event: the safety properties that a final state cannot show, checked
//! from the ledger's own results as each batch is applied, with no model of how the ledger
//! decides. An accepted event that debits an outflow-blocked, frozen or closed account, or
//! credits a frozen or closed one, or takes an account past a per-transfer or daily limit
//! that was in force, is a violation; so is a linked chain that half succeeded.
//!
//! Discrepancies, the same way: an accepted recording leaves none of the accounts it names
//! active, and an accepted resolution returns to active only accounts it named that no other
//! open discrepancy (recorded and accepted, not yet resolved) names.
//!
//! The observer follows statuses and limits only through accepted `set_account_status` /
//! `set_account_limits` events and the status changes accepted discrepancy events filed as
//! audit records (read back at the event's timestamp), and counts daily outflow only from
//! accepted debits, so it must see every batch from the first (the ledger property tests
//! feed it theirs; the simulation replays a committed Raft log through it). Voids release a reservation whatever
//! the accounts' status; payout outcomes and claims move money the bank already moved, so
//! neither is held to statuses.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::Violation;
use crate::AUDIT_RECORDS_PER_EVENT_MAX;
use crate::account::{AccountStatus, Limits};
use crate::audit::AuditAction;
use crate::command::{Command, Detail, EventResult};
use crate::flags::TransferFlags;
use crate::result::ResultCode;
use crate::state_machine::StateMachine;
use crate::store::LedgerStore;

/// The chains of a batch as index ranges: a run of linked events plus the one after, or a
/// single unlinked event. The last range is open (`true`) when the batch ends inside a chain.
pub fn chains(commands: &[Command]) -> Vec<(Range<usize>, bool)> {
    let mut chains = Vec::new();
    let mut start = 0;
    while start < commands.len() {
        let end = commands[start..]
            .iter()
            .position(|command| !command.is_linked())
            .map_or(commands.len(), |offset| start + offset);
        if end == commands.len() {
            chains.push((start..end, true));
            break;
        }
        chains.push((start..end + 1, false));
        start = end + 1;
    }
    chains
}

/// Follows statuses, limits and daily outflow through a ledger's accepted events.
#[derive(Clone, Debug)]
pub struct EventObserver {
    /// Only for `day_of`: the day boundary is configuration.
    machine: StateMachine,
    status: BTreeMap<u128, AccountStatus>,
    limits: BTreeMap<u128, Limits>,
    /// (account, day) → (amount, count) of accepted debits that count against limits.
    outflow: BTreeMap<(u128, i64), (u128, u32)>,
    /// Discrepancies accepted and not yet resolved → the accounts each names.
    open_discrepancies: BTreeMap<u128, BTreeSet<u128>>,
    /// Accepted debits held to limits so far: proves a run exercised the property.
    pub limited_debits: u64,
    /// Accepted status and limit changes so far: proves a run exercised blocks.
    pub account_changes: u64,
}

impl EventObserver {
    /// An observer for a ledger whose days follow `machine`'s configuration.
    pub fn new(machine: StateMachine) -> EventObserver {
        EventObserver {
            machine,
            status: BTreeMap::new(),
            limits: BTreeMap::new(),
            outflow: BTreeMap::new(),
            open_discrepancies: BTreeMap::new(),
            limited_debits: 0,
            account_changes: 0,
        }
    }

    /// Checks one applied batch: `results` are the ledger's answers to `commands`, `store` its
    /// state right after the batch (for the reservation a post settles).
    pub fn observe<S: LedgerStore + ?Sized>(
        &mut self,
        store: &S,
        commands: &[Command],
        results: &[EventResult],
    ) -> Vec<Violation> {
        let mut violations = chain_shape(commands, results);
        for (command, result) in commands.iter().zip(results) {
            if let Command::ClaimPayoutBatch(claim) = command
                && let Err(detail) = super::claimed_batches::check_answer(store, claim, result)
            {
                violations.push(Violation { invariant: "claimed_batches", detail });
            }
            if result.code != ResultCode::Ok {
                continue;
            }
            if let Err(detail) = self.accepted(store, command, result) {
                violations.push(Violation {
                    invariant: "events",
                    detail: format!(
                        "{} accepted at {}: {detail}",
                        command.kind(),
                        result.timestamp
                    ),
                });
            }
        }
        violations
    }

    /// Follows one accepted event; what is wrong with it, if anything.
    fn accepted<S: LedgerStore + ?Sized>(
        &mut self,
        store: &S,
        command: &Command,
        result: &EventResult,
    ) -> Result<(), String> {
        match command {
            Command::CreateAccount(request) => {
                self.status.insert(request.id, AccountStatus::Active);
                self.limits.insert(request.id, Limits::NONE);
            }
            Command::SetAccountStatus(request) => {
                self.account_changes += 1;
                self.status.insert(request.account_id, request.status);
            }
            Command::SetAccountLimits(request) => {
                self.account_changes += 1;
                self.limits.insert(request.account_id, request.limits);
            }
            Command::ChangeAccountStatus(request) => {
                self.account_changes += 1;
                self.status.insert(request.account_id, request.status);
            }
            Command::ChangeAccountLimits(request) => {
                self.account_changes += 1;
                self.limits.insert(request.account_id, request.limits);
            }
            Command::CreateTransfer(request) => {
                let Detail::Amount(amount) = result.detail else {
                    return Err(format!("transfer {} answered without an amount", request.id));
                };
                if request.flags.contains(TransferFlags::POST_PENDING) {
                    let reservation = store.transfer(request.pending_id).ok_or_else(|| {
                        format!("posted reservation {} is missing", request.pending_id)
                    })?;
                    self.movement_allowed(
                        reservation.debit_account_id,
                        reservation.credit_account_id,
                    )?;
                } else if !request.flags.contains(TransferFlags::VOID_PENDING) {
                    self.limited_debit(
                        request.debit_account_id,
                        request.credit_account_id,
                        amount,
                        result.timestamp,
                    )?;
                }
            }
            Command::CreatePayout(request) => {
                self.limited_debit(
                    request.debit_account_id,
                    request.credit_account_id,
                    request.amount,
                    result.timestamp,
                )?;
            }
            Command::BookCollection(request) => {
                let Detail::Collection { credited_account_id, .. } = result.detail else {
                    return Err("collection answered without its credited account".to_owned());
                };
                let settlement = self.status_of(request.settlement_account_id);
                let credited = self.status_of(credited_account_id);
                if is_shut(settlement) || is_shut(credited) {
                    return Err(format!(
                        "settlement account {settlement:?}, credited account {credited:?}"
                    ));
                }
            }
            Command::AssignSuspense(request) => {
                // Like a collection: the suspense account's outflow block does not stop it,
                // a frozen or closed account on either side does.
                let transfer = store
                    .transfer(request.id)
                    .ok_or_else(|| format!("assignment {} left no transfer", request.id))?;
                let suspense = self.status_of(transfer.debit_account_id);
                let credited = self.status_of(request.account_id);
                if is_shut(suspense) || is_shut(credited) {
                    return Err(format!(
                        "assignment {}: suspense account {suspense:?}, credited account {credited:?}",
                        request.id
                    ));
                }
            }
            Command::RecordDiscrepancy(request) => {
                self.account_changes += 1;
                self.follow_audited_statuses(store, result.timestamp);
                let named: BTreeSet<u128> = request.account_ids.iter().copied().collect();
                if let Some(active) =
                    named.iter().find(|id| self.status_of(**id) == AccountStatus::Active)
                {
                    return Err(format!(
                        "discrepancy {:#x} left account {active} active",
                        request.id
                    ));
                }
                self.open_discrepancies.insert(request.id, named);
            }
            Command::ResolveDiscrepancy(request) => {
                self.account_changes += 1;
                let named = self.open_discrepancies.remove(&request.id).unwrap_or_default();
                let lifted = self.follow_audited_statuses(store, result.timestamp);
                for account_id in lifted {
                    let held_by = self
                        .open_discrepancies
                        .iter()
                        .find(|(_, accounts)| accounts.contains(&account_id))
                        .map(|(id, _)| *id);
                    if !named.contains(&account_id) || held_by.is_some() {
                        return Err(format!(
                            "resolving {:#x} activated account {account_id} (named: {}, \
                             still held by {held_by:?})",
                            request.id,
                            named.contains(&account_id)
                        ));
                    }
                }
            }
            Command::ClaimPayouts(_)
            | Command::ClaimPayoutBatch(_)
            | Command::RecordPayoutOutcome(_) => {}
        }
        Ok(())
    }

    /// Follows the status changes an accepted event filed as audit records at `timestamp`;
    /// returns the accounts it made active.
    fn follow_audited_statuses<S: LedgerStore + ?Sized>(
        &mut self,
        store: &S,
        timestamp: u64,
    ) -> Vec<u128> {
        let mut activated = Vec::new();
        for record in store.audit_records(timestamp, AUDIT_RECORDS_PER_EVENT_MAX) {
            if record.timestamp != timestamp {
                break;
            }
            if let AuditAction::Status { to, .. } = record.action {
                self.status.insert(record.account_id, to);
                if to == AccountStatus::Active {
                    activated.push(record.account_id);
                }
            }
        }
        activated
    }

    fn status_of(&self, account_id: u128) -> AccountStatus {
        self.status.get(&account_id).copied().unwrap_or(AccountStatus::Active)
    }

    /// Outflow-blocked, frozen and closed accounts are never debited; frozen and closed
    /// accounts are never credited.
    fn movement_allowed(&self, debit: u128, credit: u128) -> Result<(), String> {
        let debit_status = self.status_of(debit);
        if debit_status != AccountStatus::Active {
            return Err(format!("debited account {debit} is {debit_status:?}"));
        }
        let credit_status = self.status_of(credit);
        if is_shut(credit_status) {
            return Err(format!("credited account {credit} is {credit_status:?}"));
        }
        Ok(())
    }

    /// A debit that counts against limits: status, per-transfer and daily limits.
    fn limited_debit(
        &mut self,
        debit: u128,
        credit: u128,
        amount: u128,
        timestamp: u64,
    ) -> Result<(), String> {
        self.movement_allowed(debit, credit)?;
        self.limited_debits += 1;
        let limits = self.limits.get(&debit).copied().unwrap_or(Limits::NONE);
        let day = self.machine.day_of(timestamp);
        let used = self.outflow.entry((debit, day)).or_default();
        used.0 = used.0.saturating_add(amount);
        used.1 = used.1.saturating_add(1);
        if limits.per_transfer_amount_max.is_some_and(|max| amount > max) {
            return Err(format!("amount {amount} above the per-transfer limit of {limits:?}"));
        }
        if limits.per_day_amount_max.is_some_and(|max| used.0 > max) {
            return Err(format!("account {debit} sent {} on day {day}, {limits:?}", used.0));
        }
        if limits.per_day_count_max.is_some_and(|max| used.1 > max) {
            return Err(format!("account {debit} made {} debits on day {day}, {limits:?}", used.1));
        }
        Ok(())
    }
}

/// Frozen and closed accounts take nothing in.
fn is_shut(status: AccountStatus) -> bool {
    matches!(status, AccountStatus::Frozen | AccountStatus::Closed)
}

/// A linked chain succeeds entirely or fails entirely: one member names the failure, every
/// other member says `linked_event_failed` (an open chain ends in `linked_event_chain_open`).
fn chain_shape(commands: &[Command], results: &[EventResult]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (range, open) in chains(commands) {
        let Some(answered) = results.get(range.clone()) else {
            violations.push(Violation {
                invariant: "events",
                detail: format!("{} results for {} events", results.len(), commands.len()),
            });
            break;
        };
        let codes: Vec<ResultCode> = answered.iter().map(|result| result.code).collect();
        let whole = if open {
            codes.split_last().is_some_and(|(last, rest)| {
                *last == ResultCode::LinkedEventChainOpen
                    && rest.iter().all(|code| *code == ResultCode::LinkedEventFailed)
            })
        } else if range.len() == 1 || codes.iter().all(|code| code.is_success()) {
            true
        } else {
            let own: Vec<&ResultCode> =
                codes.iter().filter(|code| **code != ResultCode::LinkedEventFailed).collect();
            own.len() == 1 && !own[0].is_success()
        };
        if !whole {
            let shape = if open { "open" } else { "failed" };
            violations.push(Violation {
                invariant: "events",
                detail: format!("{shape} chain {range:?} answered {codes:?}"),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::{EventObserver, chains};
    use crate::account::{AccountStatus, NewAccount};
    use crate::audit::SetAccountStatus;
    use crate::command::{Command, EventResult};
    use crate::flags::TransferFlags;
    use crate::memory_store::MemoryStore;
    use crate::result::ResultCode;
    use crate::state_machine::{LedgerConfig, StateMachine};
    use crate::transfer::NewTransfer;

    fn transfer(id: u128, linked: bool) -> Command {
        let flags = if linked { TransferFlags::LINKED } else { TransferFlags::NONE };
        Command::CreateTransfer(NewTransfer {
            id,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: 5,
            ledger: 1,
            code: 1,
            flags,
            ..NewTransfer::default()
        })
    }

    fn machine() -> StateMachine {
        StateMachine::new(LedgerConfig::default()).expect("the default configuration is valid")
    }

    #[test]
    fn chains_split_a_batch_at_unlinked_events() {
        let batch = [transfer(1, true), transfer(2, false), transfer(3, false), transfer(4, true)];
        assert_eq!(chains(&batch), vec![(0..2, false), (2..3, false), (3..4, true)]);
        assert!(chains(&[]).is_empty());
    }

    #[test]
    fn a_debit_from_a_blocked_account_is_a_violation() {
        let store = MemoryStore::default();
        let mut observer = EventObserver::new(machine());
        let open = |id| {
            Command::CreateAccount(NewAccount { id, ledger: 1, code: 1, ..NewAccount::default() })
        };
        let ok = |timestamp| EventResult::code(ResultCode::Ok, timestamp);
        let block = Command::SetAccountStatus(SetAccountStatus {
            account_id: 1,
            status: AccountStatus::OutflowBlocked,
            reason: "investigation".into(),
            actor: "risk".into(),
        });
        let setup = [open(1), open(2), block];
        assert!(observer.observe(&store, &setup, &[ok(1), ok(2), ok(3)]).is_empty());
        let mut accepted = ok(4);
        accepted.detail = crate::command::Detail::Amount(5);
        let violations = observer.observe(&store, &[transfer(9, false)], &[accepted.clone()]);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0].detail.contains("debited account 1 is OutflowBlocked"),
            "{violations:?}"
        );
        // The same debit refused by the ledger is what should happen: no violation.
        let refused = EventResult::code(ResultCode::DebitAccountOutflowBlocked, 5);
        assert!(observer.observe(&store, &[transfer(9, false)], &[refused]).is_empty());
    }

    #[test]
    fn discrepancy_blocks_are_followed_and_a_held_account_lifted_is_a_violation() {
        use crate::discrepancy::{NewDiscrepancy, ResolveDiscrepancy};
        use crate::store::LedgerStoreMut;
        let report = |id, account_ids: Vec<u128>| {
            Command::RecordDiscrepancy(NewDiscrepancy {
                id,
                bank: 7,
                reference: format!("E2E-{id}"),
                account_ids,
                actor: "reconciler".into(),
                ..NewDiscrepancy::default()
            })
        };
        let resolve = |id| {
            Command::ResolveDiscrepancy(ResolveDiscrepancy {
                id,
                reason: "explained".into(),
                actor: "ops".into(),
            })
        };
        let open = |id| {
            Command::CreateAccount(NewAccount { id, ledger: 1, code: 1, ..NewAccount::default() })
        };
        // The real ledger: accounts 1 and 2, discrepancy 10 blocks 1, then is resolved.
        let machine = machine();
        let mut store = MemoryStore::default();
        let mut observer = EventObserver::new(machine);
        let mut step = |commands: Vec<Command>| {
            let batch = crate::command::Batch { timestamp: 1, commands };
            let (results, writes) = machine.apply(&store, &batch).expect("applies");
            store.commit(&writes);
            (batch.commands, results)
        };
        let (accounts, opened) = step(vec![open(1), open(2)]);
        let (recorded, recording) = step(vec![report(10, vec![1])]);
        let (resolved, resolution) = step(vec![resolve(10)]);
        assert!(observer.observe(&store, &accounts, &opened).is_empty());
        assert!(observer.observe(&store, &recorded, &recording).is_empty());
        // A transfer from the blocked account, accepted, is a violation: the block was followed.
        let mut accepted = EventResult::code(ResultCode::Ok, recording[0].timestamp);
        accepted.detail = crate::command::Detail::Amount(5);
        let violations = observer.observe(&store, &[transfer(9, false)], &[accepted]);
        assert!(
            violations.iter().any(|v| v.detail.contains("is OutflowBlocked")),
            "{violations:?}"
        );
        // Suppose a discrepancy 11 naming account 1 had been accepted (it filed no status
        // change: 1 was blocked already), and one naming 2 that left it active.
        let unaudited = EventResult::code(ResultCode::Ok, opened[0].timestamp);
        let violations = observer.observe(
            &store,
            &[report(11, vec![1]), report(12, vec![2])],
            &[unaudited.clone(), unaudited],
        );
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("left account 2 active"), "{violations:?}");
        // Then resolving 10 lifted account 1 while 11 still held it.
        let violations = observer.observe(&store, &resolved, &resolution);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("still held by Some(11)"), "{violations:?}");
    }

    #[test]
    fn a_half_applied_chain_is_a_violation() {
        let store = MemoryStore::default();
        let mut observer = EventObserver::new(machine());
        let batch = [transfer(1, true), transfer(2, false)];
        let half = [
            EventResult::code(ResultCode::LinkedEventFailed, 1),
            EventResult::code(ResultCode::LinkedEventFailed, 2),
        ];
        let violations = observer.observe(&store, &batch, &half);
        assert!(violations.iter().any(|v| v.detail.contains("failed chain")), "{violations:?}");
    }
}
