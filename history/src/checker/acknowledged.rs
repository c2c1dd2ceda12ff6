//! Every acknowledged command is in the final state exactly as the client was told:
//! - a transfer answered `ok` or `exists` is present, with the timestamp (and amount) of
//!   the answer — so it was committed, and committed once: ids are keys, and a second
//!   application would have answered `exists` with the first's timestamp, or broken the
//!   balances `ledger_invariants` checks;
//! - a transfer answered with a refusal is absent (retries reuse ids and the ledger checks
//!   an id's existence before anything that could change between attempts, so an earlier
//!   attempt that committed makes a retry answer `exists`, never a refusal; and a refusal
//!   that depended on the state is final for the id — `id_already_failed` is a refusal too —
//!   so a later attempt, such as a copy a paused node forwards late, cannot commit it);
//! - every transfer in the state was sent by a client (nothing invented);
//! - every account whose creation was acknowledged `ok` or `exists` is present.
//!
//! The reference state is the replica with the highest applied index (the others must equal
//! it or a prefix of it: `digests`).
//!
//! Scope of "nothing invented": a run may hold a second workload beside the clients, writing
//! ledgers of its own (`History::ledgers_judged_elsewhere`; the simulation's bank workload,
//! ledger 3). Its transfers were not sent by the clients, so `check` leaves those ledgers'
//! transfers out of "nothing invented" — and only that: an acknowledged or refused transfer
//! is judged whatever its ledger, and a transfer the clients never sent in any other ledger is
//! still a violation. The other workload accounts for its own ledger with `unsent_in_ledger`,
//! on the same reference state, against the ids it knows it caused.

use std::collections::BTreeSet;

use tianping_ledger::invariants::StateDump;

use crate::cluster::Replica;
use crate::history::History;

/// The replica every check of this module judges: the most advanced one.
fn reference(replicas: &[Replica]) -> Option<&Replica> {
    replicas.iter().max_by_key(|replica| replica.applied)
}

/// Violations against the most advanced replica.
pub fn check(history: &History, replicas: &[Replica]) -> Vec<String> {
    let Some(reference) = reference(replicas) else {
        return vec!["no replica to check acknowledgements against".to_owned()];
    };
    let state = StateDump::load(&reference.ledger);
    let node = reference.node_id;
    let mut violations = Vec::new();
    for (id, (code_name, log_index)) in &history.accounts_acked {
        if matches!(code_name.as_str(), "ok" | "exists") && !state.accounts.contains_key(id) {
            violations.push(format!(
                "account {id} acknowledged `{code_name}` at log index {log_index} is missing on node {node}"
            ));
        }
    }
    for (id, ack) in &history.acks {
        let found = state.transfers.get(id);
        let succeeded = matches!(ack.code_name.as_str(), "ok" | "exists");
        match (succeeded, found) {
            (true, None) => violations.push(format!(
                "transfer {id} acknowledged `{}` at log index {} is missing on node {node}",
                ack.code_name, ack.log_index
            )),
            (true, Some(transfer)) => {
                if transfer.timestamp != ack.timestamp {
                    violations.push(format!(
                        "transfer {id}: acknowledged timestamp {} but node {node} has {}",
                        ack.timestamp, transfer.timestamp
                    ));
                }
                if !ack.amount.is_empty() && transfer.amount.to_string() != ack.amount {
                    violations.push(format!(
                        "transfer {id}: acknowledged amount {} but node {node} has {}",
                        ack.amount, transfer.amount
                    ));
                }
            }
            (false, Some(transfer)) => violations.push(format!(
                "transfer {id} was refused (`{}`, answer at log index {}, timestamp {}) but node {node} has it (timestamp {}{})",
                ack.code_name,
                ack.log_index,
                ack.timestamp,
                transfer.timestamp,
                if transfer.timestamp > ack.timestamp {
                    ": committed after the refusal, by an attempt the network delivered late"
                } else {
                    ""
                }
            )),
            (false, None) => {}
        }
    }
    for (id, transfer) in &state.transfers {
        if !history.sent.contains(id)
            && !history.ledgers_judged_elsewhere.contains(&transfer.ledger)
        {
            violations.push(format!("node {node} has transfer {id}, which no client sent"));
        }
    }
    violations
}

/// Violations of "nothing invented" in `ledger`, a ledger another workload than the clients
/// writes (`History::ledgers_judged_elsewhere`): every transfer of `ledger` in the most
/// advanced replica must be one of `accounted`, the ids that workload knows it caused (for
/// the bank workload: the funding it sent, its payouts' reservations, the bookings of the
/// credits the bank made). `workload` names it in the violations.
pub fn unsent_in_ledger(
    replicas: &[Replica],
    ledger: u32,
    accounted: &BTreeSet<u128>,
    workload: &str,
) -> Vec<String> {
    let Some(reference) = reference(replicas) else {
        return vec![format!("no replica to check the {workload}'s ledger {ledger} against")];
    };
    let state = StateDump::load(&reference.ledger);
    state
        .transfers
        .iter()
        .filter(|(id, transfer)| transfer.ledger == ledger && !accounted.contains(id))
        .map(|(id, transfer)| {
            format!(
                "node {} has transfer {id} in ledger {ledger} ({} → {}, amount {}, code {}), which the {workload} never caused",
                reference.node_id,
                transfer.debit_account_id,
                transfer.credit_account_id,
                transfer.amount,
                transfer.code
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{check, unsent_in_ledger};
    use crate::history::Ack;
    use crate::testing::{assert_one, standard};

    #[test]
    fn a_truthful_history_holds() {
        let run = standard();
        assert_eq!(check(&run.history, &[run.replica]), Vec::<String>::new());
    }

    #[test]
    fn an_acknowledged_transfer_missing_from_the_final_state_fails() {
        let mut run = standard();
        run.history.sent.insert(99);
        let ack =
            Ack { code_name: "ok".into(), timestamp: 5_000, amount: "7".into(), log_index: 4 };
        run.history.acks.insert(99, ack);
        assert_one(
            &check(&run.history, &[run.replica]),
            "transfer 99 acknowledged `ok` at log index 4 is missing",
        );
    }

    #[test]
    fn a_refused_transfer_in_the_final_state_fails() {
        let mut run = standard();
        if let Some(ack) = run.history.acks.get_mut(&13) {
            ack.code_name = "exceeds_credits".into();
        }
        assert_one(&check(&run.history, &[run.replica]), "transfer 13 was refused");
    }

    #[test]
    fn a_wrong_timestamp_or_amount_fails() {
        let mut run = standard();
        if let Some(ack) = run.history.acks.get_mut(&10) {
            ack.timestamp += 1;
        }
        assert_one(
            &check(&run.history, &[run.replica.clone()]),
            "transfer 10: acknowledged timestamp",
        );
        let mut run = standard();
        if let Some(ack) = run.history.acks.get_mut(&10) {
            ack.amount = "101".into();
        }
        assert_one(&check(&run.history, &[run.replica]), "transfer 10: acknowledged amount 101");
    }

    #[test]
    fn a_transfer_nobody_sent_fails() {
        let mut run = standard();
        run.history.sent.remove(&12);
        run.history.acks.remove(&12);
        assert_one(&check(&run.history, &[run.replica]), "has transfer 12, which no client sent");
    }

    #[test]
    fn a_ledger_judged_elsewhere_is_left_to_its_workload_and_no_other() {
        // Transfer 12 (ledger 1) was sent by another workload, not the clients.
        let mut run = standard();
        run.history.sent.remove(&12);
        run.history.acks.remove(&12);
        run.history.ledgers_judged_elsewhere.insert(1);
        assert_eq!(check(&run.history, &[run.replica.clone()]), Vec::<String>::new());
        // Another ledger left elsewhere does not excuse it.
        run.history.ledgers_judged_elsewhere = [2].into();
        assert_one(&check(&run.history, &[run.replica]), "has transfer 12, which no client sent");
    }

    #[test]
    fn a_refused_transfer_in_a_ledger_judged_elsewhere_still_fails() {
        let mut run = standard();
        run.history.ledgers_judged_elsewhere.insert(1);
        if let Some(ack) = run.history.acks.get_mut(&13) {
            ack.code_name = "exceeds_credits".into();
        }
        assert_one(&check(&run.history, &[run.replica]), "transfer 13 was refused");
    }

    #[test]
    fn the_other_workload_accounts_for_each_transfer_of_its_ledger() {
        let run = standard();
        let replicas = [run.replica];
        // Transfers 10, 12 and 13 are committed on ledger 1 (11 was refused).
        let all: BTreeSet<u128> = [10, 12, 13].into();
        assert_eq!(unsent_in_ledger(&replicas, 1, &all, "bank workload"), Vec::<String>::new());
        let without_12: BTreeSet<u128> = [10, 13].into();
        assert_one(
            &unsent_in_ledger(&replicas, 1, &without_12, "bank workload"),
            "has transfer 12 in ledger 1 (2 → 3, amount 40, code 1), which the bank workload never caused",
        );
        // Another ledger's transfers are not its business.
        assert_eq!(
            unsent_in_ledger(&replicas, 3, &BTreeSet::new(), "bank workload"),
            Vec::<String>::new()
        );
        assert_one(&unsent_in_ledger(&[], 3, &all, "bank workload"), "no replica");
    }

    #[test]
    fn an_acknowledged_account_missing_fails() {
        let mut run = standard();
        run.history.accounts_acked.insert(77, ("ok".into(), 1));
        assert_one(
            &check(&run.history, &[run.replica]),
            "account 77 acknowledged `ok` at log index 1 is missing",
        );
    }

    #[test]
    fn the_most_advanced_replica_is_the_reference() {
        // A replica that applied only the accounts lacks every transfer; the one that applied
        // everything is judged, so the history holds.
        let run = standard();
        let behind = crate::testing::run(vec![crate::testing::accounts()]).replica;
        assert_eq!(check(&run.history, &[behind, run.replica]), Vec::<String>::new());
        assert_one(&check(&run.history, &[]), "no replica");
    }
}
