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

#[cfg(test)]
mod tests {
    use tianping_ledger::{LedgerStore, LedgerStoreMut, WriteSet};

    use super::check;
    use crate::testing::standard;

    #[test]
    fn a_replica_the_ledger_produced_holds() {
        assert_eq!(check(&[standard().replica]), Vec::<String>::new());
    }

    #[test]
    fn money_created_from_nothing_fails() {
        // Account 2 credited 1 with no transfer: conservation and balances = transfers break.
        let mut replica = standard().replica;
        let Some(mut account) = replica.ledger.account(2) else { panic!("account 2 exists") };
        account.credits_posted += 1;
        let writes = WriteSet {
            accounts: vec![account],
            meta: replica.ledger.meta(),
            ..WriteSet::default()
        };
        replica.ledger.commit(&writes);
        let violations = check(&[replica]);
        assert!(!violations.is_empty(), "a minted unit must be found");
        assert!(
            violations.iter().all(|violation| violation.starts_with("node 1: ")),
            "{violations:#?}"
        );
    }
}
