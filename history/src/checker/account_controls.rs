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
