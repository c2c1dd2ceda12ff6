//! Account controls hold through every fault: no event the cluster committed as accepted
//! debited an outflow-blocked, frozen or closed account, credited a frozen or closed one,
//! passed a per-transfer or daily limit in force, or half-applied a linked chain. Judged by
//! `tianping_ledger::invariants::events` over the replayed committed log (`crate::replay`),
//! batch by batch — the order the blocks and the transfers were committed in, which a final
//! state cannot show. The simulation's risk desk (`risk`) blocks, freezes and limits the
//! clients' accounts mid-load, so the property is exercised, not vacuous.

use crate::replay::Replay;

/// Violations the observer found in the replayed log.
pub fn check(replay: &Replay) -> Vec<String> {
    replay
        .event_violations
        .iter()
        .map(|violation| format!("node {}'s committed log, {violation}", replay.node_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use tianping_ledger::{AccountStatus, Command, SetAccountStatus};

    use super::check;
    use crate::testing::{accounts, assert_one, batch, run, transfer};

    /// Account 1 blocked at index 2, then a debit from it at index 3 (refused by the ledger).
    fn blocked_then_debited() -> crate::testing::Run {
        let block = SetAccountStatus {
            account_id: 1,
            status: AccountStatus::OutflowBlocked,
            reason: "reconciliation".into(),
            actor: "risk desk".into(),
        };
        run(vec![
            accounts(),
            batch(2_000, vec![Command::SetAccountStatus(block)]),
            batch(3_000, vec![transfer(10, 1, 2, 5), transfer(11, 2, 1, 5)]),
        ])
    }

    #[test]
    fn a_log_the_ledger_produced_holds_and_is_observed() {
        let replay = blocked_then_debited().replay();
        assert_eq!(check(&replay), Vec::<String>::new());
        assert_eq!(replay.account_changes, 1, "the block was followed");
    }

    #[test]
    fn an_accepted_debit_through_a_block_fails() {
        // The real ledger refuses the debit, so the observer has nothing to report on a
        // replay; what it would report for a node that accepted it is judged here.
        let mut replay = blocked_then_debited().replay();
        replay
            .event_violations
            .push("log index 3: transfer 10 debited outflow-blocked account 1".into());
        assert_one(&check(&replay), "node 1's committed log, log index 3: transfer 10 debited");
    }
}
