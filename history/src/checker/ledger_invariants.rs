//! Every replica's ledger satisfies the ledger's own invariants: conservation per ledger
//! (debits posted = credits posted, pending likewise), balances equal the sum of their
//! transfers (a transfer applied twice would break this), flags, limits and indexes — the
//! same `tianping_ledger::invariants` checkers the unit and property tests run.

use tianping_ledger::invariants::{StateDump, check_all};

use crate::cluster::Replica;

/// Violations over every replica.
pub fn check(replicas: &[Replica]) -> Vec<String> {
    replicas
        .iter()
        .flat_map(|replica| {
            check_all(&StateDump::load(&replica.ledger))
                .into_iter()
                .map(move |violation| format!("node {}: {violation}", replica.node_id))
        })
        .collect()
}
