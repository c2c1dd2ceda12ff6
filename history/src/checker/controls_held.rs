//! Every account's final status and limits are what the risk desk last got acknowledged, or
//! what a change sent after that and never answered set: a change the desk sent earlier
//! (a late copy held by a paused node, delivered after a newer change) must never win. The
//! desk sends one change at a time, each decided on the controls version it read just before
//! (`tianping_ledger::AccountStatusChange`), so "after" is the order it sent them in. Only the
//! desk changes these accounts' controls in the drills that run it.
//!
//! The final state shows a late copy only while no later change covers it, so `check_order`
//! also holds the committed log to the desk's order: per account, the changes applied appear
//! in the log in the order the desk sent them (the desk had given up on or heard back from
//! each before sending the next, so one applied after a later one arrived late).

use std::collections::BTreeMap;

use tianping_ledger::{AccountStatus, ControlTarget, LedgerStore, Limits};

use crate::cluster::Replica;
use crate::history::{ControlOutcome, ControlSent};
use crate::replay::Replay;

/// What one account's status (or limits) may be at the end: the last acknowledged value
/// (`initial` while none was), or any value a later unanswered change set.
fn allowed<T: Copy + PartialEq>(initial: T, sent: &[(T, &ControlOutcome)]) -> Vec<T> {
    let last_applied = sent.iter().rposition(|(_, outcome)| **outcome == ControlOutcome::Applied);
    let (base, after) = match last_applied {
        Some(at) => (sent[at].0, &sent[at + 1..]),
        None => (initial, sent),
    };
    let mut values = vec![base];
    values.extend(
        after.iter().filter(|(_, outcome)| **outcome == ControlOutcome::Unknown).map(|(v, _)| *v),
    );
    values
}

/// Violations: accounts whose final status or limits no acknowledged-last or unanswered-later
/// change explains.
pub fn check(controls: &[ControlSent], replicas: &[Replica]) -> Vec<String> {
    let mut statuses: BTreeMap<u128, Vec<(AccountStatus, &ControlOutcome)>> = BTreeMap::new();
    let mut limits: BTreeMap<u128, Vec<(Limits, &ControlOutcome)>> = BTreeMap::new();
    for change in controls {
        match change.target {
            ControlTarget::Status(status) => {
                statuses.entry(change.account_id).or_default().push((status, &change.outcome));
            }
            ControlTarget::Limits(to) => {
                limits.entry(change.account_id).or_default().push((to, &change.outcome));
            }
        }
    }
    let mut violations = Vec::new();
    for replica in replicas {
        for (account_id, sent) in &statuses {
            let Some(account) = replica.ledger.account(*account_id) else { continue };
            let allowed = allowed(AccountStatus::Active, sent);
            if !allowed.contains(&account.status) {
                violations.push(format!(
                    "node {}: account {account_id} ends {}, but the risk desk's last acknowledged \
                     status change and the unanswered ones after it set {}",
                    replica.node_id,
                    account.status.name(),
                    allowed.iter().map(|status| status.name()).collect::<Vec<_>>().join(" or ")
                ));
            }
        }
        for (account_id, sent) in &limits {
            let Some(account) = replica.ledger.account(*account_id) else { continue };
            let allowed = allowed(Limits::NONE, sent);
            if !allowed.contains(&account.limits) {
                violations.push(format!(
                    "node {}: account {account_id} ends with limits {:?}, but the risk desk's \
                     last acknowledged limits change and the unanswered ones after it set {allowed:?}",
                    replica.node_id, account.limits
                ));
            }
        }
    }
    violations
}

/// Violations: a desk change applied after a change to the same account the desk sent later.
pub fn check_order(controls: &[ControlSent], replay: &Replay) -> Vec<String> {
    let sent: BTreeMap<u128, usize> =
        controls.iter().enumerate().map(|(order, change)| (change.change_id, order)).collect();
    let mut latest: BTreeMap<u128, (usize, u128, u64)> = BTreeMap::new();
    let mut violations = Vec::new();
    for (change_id, account_id, index) in &replay.control_changes {
        let Some(order) = sent.get(change_id).copied() else { continue };
        if let Some((later, later_id, later_index)) = latest.get(account_id).copied()
            && later > order
        {
            violations.push(format!(
                "node {}'s committed log, log index {index}: the risk desk's change {change_id} \
                 to account {account_id} (sent as the desk's change #{order}) applied after its \
                 change {later_id} (sent as #{later}, applied at log index {later_index}): a late \
                 copy won",
                replay.node_id
            ));
            continue;
        }
        latest.insert(*account_id, (order, *change_id, *index));
    }
    violations
}

#[cfg(test)]
mod tests {
    use tianping_ledger::{AccountStatus, ControlTarget, Limits};

    use super::check;
    use crate::history::{ControlOutcome, ControlSent};
    use crate::testing::{accounts, assert_one, batch, run};

    fn sent(change_id: u128, status: AccountStatus, outcome: ControlOutcome) -> ControlSent {
        ControlSent { change_id, account_id: 1, target: ControlTarget::Status(status), outcome }
    }

    /// A run whose account 1 was frozen (by the ledger, as a desk's change would be).
    fn frozen() -> crate::testing::Run {
        let freeze =
            tianping_ledger::Command::ChangeAccountStatus(tianping_ledger::AccountStatusChange {
                id: 9,
                account_id: 1,
                expected_controls_version: 0,
                status: AccountStatus::Frozen,
                reason: "incident".into(),
                actor: "risk desk".into(),
            });
        run(vec![accounts(), batch(2_000, vec![freeze])])
    }

    #[test]
    fn the_last_acknowledged_change_holds() {
        let controls = [
            sent(1, AccountStatus::OutflowBlocked, ControlOutcome::Applied),
            sent(
                2,
                AccountStatus::Active,
                ControlOutcome::Refused("controls_version_stale".into()),
            ),
            sent(3, AccountStatus::Frozen, ControlOutcome::Applied),
        ];
        assert_eq!(check(&controls, &[frozen().replica]), Vec::<String>::new());
    }

    #[test]
    fn an_unanswered_later_change_may_have_won() {
        let controls = [
            sent(1, AccountStatus::Active, ControlOutcome::Applied),
            sent(2, AccountStatus::Frozen, ControlOutcome::Unknown),
        ];
        assert_eq!(check(&controls, &[frozen().replica]), Vec::<String>::new());
    }

    #[test]
    fn an_earlier_change_applied_late_fails() {
        // The freeze was sent first and left unanswered; the unblock after it was
        // acknowledged. A final freeze means the old change overtook the newer one.
        let controls = [
            sent(1, AccountStatus::Frozen, ControlOutcome::Unknown),
            sent(2, AccountStatus::Active, ControlOutcome::Applied),
        ];
        assert_one(
            &check(&controls, &[frozen().replica]),
            "node 1: account 1 ends frozen, but the risk desk's last acknowledged status change",
        );
    }

    fn change(id: u128, expected: u64, status: AccountStatus) -> tianping_ledger::Command {
        tianping_ledger::Command::ChangeAccountStatus(tianping_ledger::AccountStatusChange {
            id,
            account_id: 1,
            expected_controls_version: expected,
            status,
            reason: "incident".into(),
            actor: "risk desk".into(),
        })
    }

    #[test]
    fn the_log_holds_the_desks_order() {
        // Changes 7 then 8, applied in that order; then 8 then 7 (7 late, on a ledger that
        // took it: the unversioned world this check guards against).
        let in_order = run(vec![
            accounts(),
            batch(2_000, vec![change(7, 0, AccountStatus::Frozen)]),
            batch(3_000, vec![change(8, 1, AccountStatus::Active)]),
        ]);
        let controls = [
            sent(7, AccountStatus::Frozen, ControlOutcome::Unknown),
            sent(8, AccountStatus::Active, ControlOutcome::Applied),
        ];
        assert_eq!(super::check_order(&controls, &in_order.replay()), Vec::<String>::new());
        let late = run(vec![
            accounts(),
            batch(2_000, vec![change(8, 0, AccountStatus::Active)]),
            batch(3_000, vec![change(7, 0, AccountStatus::Frozen)]),
        ]);
        // The real ledger refuses the late copy (stale version): nothing to report.
        assert_eq!(super::check_order(&controls, &late.replay()), Vec::<String>::new());
        let mut replay = late.replay();
        let (index_8, index_7) = (2, 3);
        replay.control_changes = vec![(8, 1, index_8), (7, 1, index_7)];
        assert_one(
            &super::check_order(&controls, &replay),
            "node 1's committed log, log index 3: the risk desk's change 7 to account 1 (sent as the desk's change #0) applied after its change 8",
        );
    }

    #[test]
    fn limits_are_held_the_same_way() {
        let tight = Limits { per_transfer_amount_max: Some(5), ..Limits::NONE };
        let controls = [ControlSent {
            change_id: 4,
            account_id: 1,
            target: ControlTarget::Limits(tight),
            outcome: ControlOutcome::Applied,
        }];
        assert_one(&check(&controls, &[frozen().replica]), "node 1: account 1 ends with limits");
    }
}
