//! Discrepancies hold their accounts, and only they lift what they hold. The index and the
//! block table agree with the records (every discrepancy is filed under its recording time;
//! an open discrepancy holds exactly the accounts it names, a resolved one none); each
//! recording's audit records are exactly the accounts it moved to outflow-blocked, each
//! resolution's exactly accounts it named and returned to active while no other open
//! discrepancy held them; an account a discrepancy holds is never active unless an operator
//! made it so after the last of its holders was recorded; and an account outflow-blocked by
//! a recording stays held until that block is lifted. A break is money leaving an account a
//! reconciler stopped, or an account stopped for good by a discrepancy nobody can resolve.
//!
//! Proved by local mutations, each making `cargo test --release -p tianping-ledger` fail:
//! `resolve_discrepancy` lifting a block without asking whether another open discrepancy
//! holds the account fails `discrepancies: resolution of … returned account … to active
//! while discrepancy … still held it` (the two-holders scenario and the property tests);
//! `record_discrepancy` not filing its blocks fails `… holds account … with no block entry`.

use std::collections::{BTreeMap, BTreeSet};

use super::{StateDump, Violation};
use crate::DISCREPANCY_ACCOUNTS_MAX;
use crate::account::AccountStatus;
use crate::audit::{AuditAction, AuditRecord};
use crate::discrepancy::{Discrepancy, DiscrepancyBlock};

/// Checks the discrepancy records, the index, the block table, their audit records and the
/// statuses of the accounts they hold.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut violation =
        |detail: String| violations.push(Violation { invariant: "discrepancies", detail });
    for (id, discrepancy) in &dump.discrepancies {
        if let Some(problem) = record_problem(*id, discrepancy, dump) {
            violation(problem);
        }
    }
    for problem in index_problems(dump) {
        violation(problem);
    }
    for problem in block_problems(dump) {
        violation(problem);
    }
    for problem in audit_problems(dump) {
        violation(problem);
    }
    for problem in held_account_problems(dump) {
        violation(problem);
    }
    violations
}

/// What is wrong with one record on its own, if anything.
fn record_problem(id: u128, discrepancy: &Discrepancy, dump: &StateDump) -> Option<String> {
    let request = &discrepancy.request;
    if request.id != id {
        return Some(format!("discrepancy {:#x} is filed under {id:#x}", request.id));
    }
    let named: BTreeSet<u128> = request.account_ids.iter().copied().collect();
    if named.len() != request.account_ids.len() || named.len() > DISCREPANCY_ACCOUNTS_MAX {
        return Some(format!("discrepancy {id:#x} names accounts {:?}", request.account_ids));
    }
    if let Some(missing) = named.iter().find(|account| !dump.accounts.contains_key(account)) {
        return Some(format!("discrepancy {id:#x} names missing account {missing}"));
    }
    let moved: BTreeSet<u128> = discrepancy.blocked_account_ids.iter().copied().collect();
    if moved.len() != discrepancy.blocked_account_ids.len() || !moved.is_subset(&named) {
        return Some(format!(
            "discrepancy {id:#x} moved {:?} but names {:?}",
            discrepancy.blocked_account_ids, request.account_ids
        ));
    }
    let resolution_written = discrepancy.resolved_at != 0
        || !discrepancy.resolution.is_empty()
        || !discrepancy.resolved_by.is_empty();
    let resolution_complete = discrepancy.resolved_at > discrepancy.timestamp
        && !discrepancy.resolution.is_empty()
        && !discrepancy.resolved_by.is_empty();
    let consistent = if discrepancy.is_open() { !resolution_written } else { resolution_complete };
    if !consistent {
        return Some(format!(
            "discrepancy {id:#x} is {:?} recorded at {} with resolution ({}, {:?}, {:?})",
            discrepancy.state,
            discrepancy.timestamp,
            discrepancy.resolved_at,
            discrepancy.resolution,
            discrepancy.resolved_by
        ));
    }
    None
}

/// The index and the records, one to one.
fn index_problems(dump: &StateDump) -> Vec<String> {
    let mut problems = Vec::new();
    for (timestamp, id) in &dump.discrepancy_index {
        let recorded = dump.discrepancies.get(id).map(|discrepancy| discrepancy.timestamp);
        if recorded != Some(*timestamp) {
            problems.push(format!(
                "index at {timestamp} names discrepancy {id:#x}, recorded at {recorded:?}"
            ));
        }
    }
    for (id, discrepancy) in &dump.discrepancies {
        if dump.discrepancy_index.get(&discrepancy.timestamp) != Some(id) {
            problems.push(format!(
                "discrepancy {id:#x} recorded at {} is not indexed there",
                discrepancy.timestamp
            ));
        }
    }
    problems
}

/// Block entries are exactly the open discrepancies' named accounts.
fn block_problems(dump: &StateDump) -> Vec<String> {
    let mut problems = Vec::new();
    let blocks: BTreeSet<DiscrepancyBlock> = dump.discrepancy_blocks.iter().copied().collect();
    for block in &blocks {
        let holds = dump.discrepancies.get(&block.discrepancy_id).is_some_and(|discrepancy| {
            discrepancy.is_open() && discrepancy.request.account_ids.contains(&block.account_id)
        });
        if !holds {
            problems.push(format!(
                "block entry {block:?} has no open discrepancy naming the account: {:?}",
                dump.discrepancies.get(&block.discrepancy_id)
            ));
        }
    }
    for (id, discrepancy) in dump.discrepancies.iter().filter(|(_, d)| d.is_open()) {
        for &account_id in &discrepancy.request.account_ids {
            if !blocks.contains(&DiscrepancyBlock { account_id, discrepancy_id: *id }) {
                problems.push(format!(
                    "open discrepancy {id:#x} holds account {account_id} with no block entry"
                ));
            }
        }
    }
    problems
}

/// The audit records filed at a time: account → record.
fn audited_at(dump: &StateDump, timestamp: u64) -> BTreeMap<u128, &AuditRecord> {
    dump.audit
        .range((timestamp, 0)..=(timestamp, u128::MAX))
        .map(|((_, account_id), record)| (*account_id, record))
        .collect()
}

/// Whether `holder` was open and held `account_id` at `timestamp` (recorded before it, not
/// resolved by then).
fn held_at(holder: &Discrepancy, account_id: u128, timestamp: u64) -> bool {
    holder.timestamp < timestamp
        && (holder.is_open() || holder.resolved_at > timestamp)
        && holder.request.account_ids.contains(&account_id)
}

/// A recording audits exactly the accounts it moved; a resolution only accounts it named and
/// returned to active while no other open discrepancy held them.
fn audit_problems(dump: &StateDump) -> Vec<String> {
    let mut problems = Vec::new();
    let blocking =
        AuditAction::Status { from: AccountStatus::Active, to: AccountStatus::OutflowBlocked };
    let lifting =
        AuditAction::Status { from: AccountStatus::OutflowBlocked, to: AccountStatus::Active };
    for (id, discrepancy) in &dump.discrepancies {
        let recorded = audited_at(dump, discrepancy.timestamp);
        let moved: BTreeSet<u128> = discrepancy.blocked_account_ids.iter().copied().collect();
        let audited: BTreeSet<u128> = recorded.keys().copied().collect();
        let faithful = recorded
            .values()
            .all(|record| record.action == blocking && record.actor == discrepancy.request.actor);
        if audited != moved || !faithful {
            problems.push(format!(
                "recording of {id:#x} moved {moved:?} but audited {:?}",
                recorded.values().collect::<Vec<_>>()
            ));
        }
        if discrepancy.is_open() {
            continue;
        }
        for (account_id, record) in audited_at(dump, discrepancy.resolved_at) {
            if record.action != lifting
                || record.actor != discrepancy.resolved_by
                || !discrepancy.request.account_ids.contains(&account_id)
            {
                problems.push(format!("resolution of {id:#x} audited {record:?}"));
            }
            let still_held = dump.discrepancies.iter().find(|(other, holder)| {
                *other != id && held_at(holder, account_id, discrepancy.resolved_at)
            });
            if let Some((other, _)) = still_held {
                problems.push(format!(
                    "resolution of {id:#x} returned account {account_id} to active while \
                     discrepancy {other:#x} still held it"
                ));
            }
        }
    }
    problems
}

/// A held account is active only by an operator's change after its last holder was
/// recorded; an account blocked by a recording is held until the block is lifted.
fn held_account_problems(dump: &StateDump) -> Vec<String> {
    let mut problems = Vec::new();
    let mut last_holder: BTreeMap<u128, u64> = BTreeMap::new();
    for block in &dump.discrepancy_blocks {
        let recorded = dump.discrepancies.get(&block.discrepancy_id).map_or(0, |d| d.timestamp);
        let last = last_holder.entry(block.account_id).or_default();
        *last = (*last).max(recorded);
    }
    let resolved_at: BTreeSet<u64> = dump
        .discrepancies
        .values()
        .filter(|discrepancy| !discrepancy.is_open())
        .map(|discrepancy| discrepancy.resolved_at)
        .collect();
    for (account_id, last_recorded) in &last_holder {
        let Some(account) = dump.accounts.get(account_id) else {
            problems.push(format!("a discrepancy holds missing account {account_id}"));
            continue;
        };
        if account.status != AccountStatus::Active {
            continue;
        }
        let changed_at = account.status_changed_at;
        let by_operator = changed_at > *last_recorded
            && !resolved_at.contains(&changed_at)
            && !dump.discrepancy_index.contains_key(&changed_at)
            && dump.audit.get(&(changed_at, *account_id)).is_some_and(|record| {
                matches!(record.action, AuditAction::Status { to: AccountStatus::Active, .. })
            });
        if !by_operator {
            problems.push(format!(
                "account {account_id} is active at {changed_at} though a discrepancy recorded \
                 at {last_recorded} holds it and no operator unblocked it since"
            ));
        }
    }
    for account in dump.accounts.values() {
        let blocked_by_recording = account.status == AccountStatus::OutflowBlocked
            && dump.discrepancy_index.contains_key(&account.status_changed_at);
        if blocked_by_recording && !last_holder.contains_key(&account.id) {
            problems.push(format!(
                "account {} is outflow-blocked by the discrepancy recorded at {} but no open \
                 discrepancy holds it: nothing can lift the block",
                account.id, account.status_changed_at
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::account::{AccountStatus, NewAccount};
    use crate::command::{Batch, Command};
    use crate::discrepancy::{DiscrepancyBlock, NewDiscrepancy, ResolveDiscrepancy};
    use crate::invariants::StateDump;
    use crate::memory_store::MemoryStore;
    use crate::state_machine::{LedgerConfig, StateMachine};
    use crate::store::LedgerStoreMut;

    fn report(id: u128, account_ids: Vec<u128>) -> Command {
        Command::RecordDiscrepancy(NewDiscrepancy {
            id,
            bank: 7,
            reference: format!("E2E-{id}"),
            account_ids,
            actor: "reconciler".into(),
            ..NewDiscrepancy::default()
        })
    }

    /// Accounts 1 and 2; discrepancy 10 holds both, 11 holds 1; 11 is resolved, so 1 stays
    /// blocked by 10 and 2 too.
    fn dump() -> StateDump {
        let machine = StateMachine::new(LedgerConfig::default()).expect("valid");
        let mut store = MemoryStore::new();
        let open = |id| {
            Command::CreateAccount(NewAccount { id, ledger: 1, code: 1, ..NewAccount::default() })
        };
        let resolve = Command::ResolveDiscrepancy(ResolveDiscrepancy {
            id: 11,
            reason: "explained".into(),
            actor: "ops".into(),
        });
        let batches = [
            vec![open(1), open(2)],
            vec![report(10, vec![1, 2]), report(11, vec![1])],
            vec![resolve],
        ];
        for (timestamp, commands) in (1..).zip(batches) {
            let (results, writes) =
                machine.apply(&store, &Batch { timestamp, commands }).expect("applies");
            assert!(results.iter().all(|r| r.code.is_success()), "{results:?}");
            store.commit(&writes);
        }
        StateDump::load(&store)
    }

    fn violations(dump: &StateDump) -> Vec<String> {
        check(dump).into_iter().map(|violation| violation.detail).collect()
    }

    #[test]
    fn a_ledgers_own_state_holds() {
        let dump = dump();
        assert_eq!(dump.discrepancy_blocks.len(), 2);
        assert_eq!(violations(&dump), Vec::<String>::new());
    }

    #[test]
    fn a_missing_block_entry_is_a_violation() {
        let mut dump = dump();
        dump.discrepancy_blocks.retain(|block| block.account_id != 2);
        let found = violations(&dump);
        assert!(
            found.iter().any(|v| v.contains("holds account 2 with no block entry")),
            "{found:?}"
        );
        // Account 2 is now blocked by a recording with no holder left to lift it.
        assert!(found.iter().any(|v| v.contains("nothing can lift the block")), "{found:?}");
    }

    #[test]
    fn a_resolved_discrepancys_block_entry_is_a_violation() {
        let mut dump = dump();
        dump.discrepancy_blocks.push(DiscrepancyBlock { account_id: 1, discrepancy_id: 11 });
        let found = violations(&dump);
        assert!(found.iter().any(|v| v.contains("no open discrepancy naming")), "{found:?}");
    }

    #[test]
    fn a_held_account_made_active_by_no_operator_is_a_violation() {
        let mut dump = dump();
        let resolved_at = dump.discrepancies[&11].resolved_at;
        let account = dump.accounts.get_mut(&1).expect("account 1");
        account.status = AccountStatus::Active;
        account.status_changed_at = resolved_at;
        let found = violations(&dump);
        assert!(found.iter().any(|v| v.contains("account 1 is active")), "{found:?}");
    }

    #[test]
    fn an_unindexed_discrepancy_is_a_violation() {
        let mut dump = dump();
        let recorded_at = dump.discrepancies[&10].timestamp;
        dump.discrepancy_index.remove(&recorded_at);
        let found = violations(&dump);
        assert!(found.iter().any(|v| v.contains("is not indexed there")), "{found:?}");
    }
}
