//! Every acknowledged command is in the committed log exactly once, with the result the
//! client got — judged on the log itself (`crate::replay`), not only on the final state:
//! - a transfer acknowledged `ok` has exactly one `ok` in the log, in the entry at the
//!   acknowledged log index, with the acknowledged timestamp and amount;
//! - a transfer acknowledged `exists` has exactly one `ok` somewhere, with the timestamp the
//!   `exists` answer named (the original's);
//! - a transfer acknowledged with a refusal never has an `ok`;
//! - once an id has its `ok`, every later appearance (a retry the network delivered, or one
//!   after a lost answer) is `exists` — never a second `ok`, never anything else;
//! - no `ok` for an id no client sent, in the clients' ledgers: a ledger another workload
//!   writes (`History::ledgers_judged_elsewhere`) is left to that workload's own accounting
//!   (`checker::acknowledged::unsent_in_ledger`, on the final state the log must produce:
//!   the digest check below), every other rule here still judges its transfers;
//! - the replay's state digest at the replica's applied index equals that replica's own
//!   digest: the log and the state it was read with agree byte for byte.
//!
//! `acknowledged` judges the same answers on the final state; a command applied twice with
//! the same key (the second one recorded over the first), an acknowledgement naming the
//! wrong entry, or a state that the log does not produce only show here.

use tianping_ledger::ResultCode;

use crate::history::History;
use crate::replay::{Appearance, Replay};

/// How an appearance reads in a violation.
fn describe(appearance: &Appearance) -> String {
    format!(
        "{:?} at index {} position {} (timestamp {})",
        appearance.code, appearance.index, appearance.position, appearance.timestamp
    )
}

/// Violations of the committed log against the clients' acknowledgements.
pub fn check(history: &History, replay: &Replay) -> Vec<String> {
    let mut violations = Vec::new();
    let node = replay.node_id;
    if replay.digest != replay.replica_digest {
        violations.push(format!(
            "node {node}'s log replayed to index {} gives state digest {:02x?}, but node {node}'s state at that applied index has {:02x?}",
            replay.last_index,
            &replay.digest.0[..6],
            &replay.replica_digest.0[..6]
        ));
    }
    for (id, appearances) in &replay.appearances {
        let Some(first_ok) = appearances.iter().position(|a| a.code == ResultCode::Ok) else {
            continue;
        };
        let ok = &appearances[first_ok];
        if !history.sent.contains(id) && !history.ledgers_judged_elsewhere.contains(&ok.ledger) {
            violations.push(format!(
                "transfer {id}, which no client sent, is committed: {}",
                describe(ok)
            ));
        }
        for later in &appearances[first_ok + 1..] {
            if later.code != ResultCode::Exists {
                violations.push(format!(
                    "transfer {id} committed {} and again {} in node {node}'s log (a retry must answer exists)",
                    describe(&appearances[first_ok]),
                    describe(later)
                ));
            }
        }
    }
    for (id, ack) in &history.acks {
        let appearances = replay.appearances.get(id).map(Vec::as_slice).unwrap_or_default();
        let oks: Vec<&Appearance> =
            appearances.iter().filter(|a| a.code == ResultCode::Ok).collect();
        let told = format!("acknowledged `{}` at log index {}", ack.code_name, ack.log_index);
        match (ack.code_name.as_str(), oks.first()) {
            ("ok" | "exists", None) => violations.push(format!(
                "transfer {id} {told} has no `ok` in node {node}'s committed log (up to index {}): {}",
                replay.last_index,
                if appearances.is_empty() {
                    "it never appears".to_owned()
                } else {
                    appearances.iter().map(describe).collect::<Vec<_>>().join(", ")
                }
            )),
            ("ok", Some(ok)) => {
                if ok.index != ack.log_index {
                    violations.push(format!(
                        "transfer {id} {told} is committed `ok` at index {} instead",
                        ok.index
                    ));
                }
                if ok.timestamp != ack.timestamp {
                    violations.push(format!(
                        "transfer {id} {told} with timestamp {}, but the log's `ok` has {}",
                        ack.timestamp, ok.timestamp
                    ));
                }
                let amount = ok.amount.map(|amount| amount.to_string()).unwrap_or_default();
                if !ack.amount.is_empty() && amount != ack.amount {
                    violations.push(format!(
                        "transfer {id} {told} moving {}, but the log's `ok` moved {amount}",
                        ack.amount
                    ));
                }
            }
            ("exists", Some(ok)) => {
                if ok.timestamp != ack.timestamp {
                    violations.push(format!(
                        "transfer {id} {told} naming the original's timestamp {}, but the log's `ok` has {}",
                        ack.timestamp, ok.timestamp
                    ));
                }
            }
            (_, Some(ok)) => violations.push(format!(
                "transfer {id} was refused ({told}) but the committed log has it `ok`: {}",
                describe(ok)
            )),
            (_, None) => {}
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use tianping_ledger::{ResultCode, StateDigest};

    use super::check;
    use crate::replay::{Appearance, Replay};
    use crate::testing::{assert_one, standard};

    /// Puts a second `ok` of transfer 10 (ledger 1) into `replay`, at index 4.
    fn ok_again(replay: &mut Replay) {
        let twice = Appearance {
            index: 4,
            position: 1,
            code: ResultCode::Ok,
            timestamp: 9_999,
            amount: Some(100),
            ledger: 1,
        };
        replay.appearances.entry(10).or_default().push(twice);
    }

    #[test]
    fn a_truthful_history_holds() {
        let run = standard();
        assert_eq!(check(&run.history, &run.replay()), Vec::<String>::new());
    }

    #[test]
    fn the_same_id_ok_twice_fails() {
        // The ledger itself never answers `ok` twice for an id; a node that applied a retry as
        // new (its dedup lost) would put this in its log.
        let run = standard();
        let mut replay = run.replay();
        ok_again(&mut replay);
        assert_one(&check(&run.history, &replay), "transfer 10 committed Ok at index 2");
    }

    #[test]
    fn an_ok_at_another_index_than_acknowledged_fails() {
        let mut run = standard();
        if let Some(ack) = run.history.acks.get_mut(&12) {
            ack.log_index = 4;
        }
        assert_one(&check(&run.history, &run.replay()), "is committed `ok` at index 3 instead");
    }

    #[test]
    fn an_acknowledged_transfer_never_committed_fails() {
        let mut run = standard();
        if let Some(ack) = run.history.acks.get_mut(&11) {
            ack.code_name = "exists".into();
        }
        assert_one(
            &check(&run.history, &run.replay()),
            "transfer 11 acknowledged `exists` at log index 3 has no `ok`",
        );
    }

    #[test]
    fn a_refusal_committed_ok_fails() {
        let mut run = standard();
        if let Some(ack) = run.history.acks.get_mut(&13) {
            ack.code_name = "exceeds_credits".into();
        }
        assert_one(&check(&run.history, &run.replay()), "transfer 13 was refused");
    }

    #[test]
    fn an_ok_nobody_sent_fails() {
        let mut run = standard();
        run.history.sent.remove(&10);
        run.history.acks.remove(&10);
        assert_one(
            &check(&run.history, &run.replay()),
            "transfer 10, which no client sent, is committed",
        );
    }

    #[test]
    fn an_ok_nobody_sent_in_a_ledger_judged_elsewhere_is_left_to_its_workload() {
        let mut run = standard();
        run.history.sent.remove(&10);
        run.history.acks.remove(&10);
        run.history.ledgers_judged_elsewhere.insert(1);
        assert_eq!(check(&run.history, &run.replay()), Vec::<String>::new());
        run.history.ledgers_judged_elsewhere = [3].into();
        assert_one(
            &check(&run.history, &run.replay()),
            "transfer 10, which no client sent, is committed",
        );
    }

    #[test]
    fn a_second_ok_in_a_ledger_judged_elsewhere_still_fails() {
        let mut run = standard();
        run.history.ledgers_judged_elsewhere.insert(1);
        let mut replay = run.replay();
        ok_again(&mut replay);
        assert_one(&check(&run.history, &replay), "transfer 10 committed Ok at index 2");
    }

    #[test]
    fn a_replica_the_log_does_not_produce_fails() {
        let run = standard();
        let mut replay = run.replay();
        replay.replica_digest = StateDigest([7; 32]);
        assert_one(&check(&run.history, &replay), "replayed to index 4 gives state digest");
    }
}
