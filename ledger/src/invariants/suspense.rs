//! The suspense desk: every collection booked to suspense is either waiting on the desk
//! (`Table::SuspenseIndex`, under its bank and booking time) or assigned, never both and
//! never neither; an assignment moved exactly the collection's amount, once, from the
//! suspense account that took it to the account named, by the transfer carrying the
//! assignment's id. A collection assigned twice, or for another amount, is money created or
//! lost between the bank and the customer.
//!
//! Proved by a local mutation: `Context::insert_suspense_assignment` without the index
//! removal (an assigned collection stays on the desk, assignable again by another id) makes
//! `cargo test --release -p tianping-ledger properties` fail with `suspense: collection …
//! in suspense: on the desk true, assigned true`.

use std::collections::BTreeMap;

use super::{StateDump, Violation};
use crate::collection::SuspenseKey;
use crate::flags::TransferFlags;

/// Checks the suspense index and every assignment against collections and transfers.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut violation =
        |detail: String| violations.push(Violation { invariant: "suspense", detail });
    for (index, key) in &dump.suspense_index {
        let Some(collection) = dump.collections.get(key) else {
            violation(format!("suspense index {index:?} names missing collection {key:?}"));
            continue;
        };
        let expected = SuspenseKey { bank: key.bank, timestamp: collection.timestamp };
        if collection.suspense.is_none() || *index != expected {
            violation(format!("suspense index {index:?} names {key:?}, booked {collection:?}"));
        }
    }
    let indexed: BTreeMap<_, _> =
        dump.suspense_index.iter().map(|(index, key)| (key, index)).collect();
    for key in dump.collections.iter().filter(|(_, c)| c.suspense.is_some()).map(|(k, _)| k) {
        let waiting = indexed.contains_key(key);
        let assigned = dump.suspense_assignments.contains_key(key);
        if waiting == assigned {
            violation(format!(
                "collection {key:?} in suspense: on the desk {waiting}, assigned {assigned}"
            ));
        }
    }
    let mut assignment_ids = BTreeMap::new();
    for (key, assignment) in &dump.suspense_assignments {
        if let Some(other) = assignment_ids.insert(assignment.id, key) {
            violation(format!("assignment id {} assigns {other:?} and {key:?}", assignment.id));
        }
        let Some(collection) = dump.collections.get(key) else {
            violation(format!("assignment {} names missing collection {key:?}", assignment.id));
            continue;
        };
        if assignment.collection != *key || collection.suspense.is_none() {
            violation(format!("assignment {assignment:?} of a collection not in suspense"));
        }
        let moved = dump.transfers.get(&assignment.id);
        let exact = moved.is_some_and(|transfer| {
            transfer.debit_account_id == collection.credited_account_id
                && transfer.debit_account_id == assignment.suspense_account_id
                && transfer.credit_account_id == assignment.account_id
                && transfer.amount == collection.request.amount
                && assignment.amount == collection.request.amount
                && transfer.ledger == collection.request.ledger
                && transfer.flags == TransferFlags::NONE
                && transfer.timestamp == assignment.timestamp
        });
        if !exact {
            violation(format!(
                "assignment {assignment:?} of {:?} moved {moved:?}",
                collection.request
            ));
        }
    }
    violations
}
