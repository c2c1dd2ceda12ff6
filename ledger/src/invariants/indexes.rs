//! The secondary indexes say exactly what their records say: the expiry index holds every
//! unresolved pending transfer with a timeout and nothing else; the payout index holds every
//! payout once, under its current key. A stale index entry would expire a resolved
//! reservation again or hand a finished payout to a worker.

use std::collections::BTreeSet;

use super::{StateDump, Violation};
use crate::store::{ExpiryKey, PayoutIndexKey};
use crate::transfer::PendingStatus;

/// Compares both indexes with the records they are derived from.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    let expected_expiries: BTreeSet<ExpiryKey> = dump
        .pending_transfers
        .values()
        .filter(|pending| pending.status == PendingStatus::Pending && pending.expires_at != 0)
        .map(|pending| ExpiryKey { expires_at: pending.expires_at, transfer_id: pending.id })
        .collect();
    let actual_expiries: BTreeSet<ExpiryKey> = dump.expiries.iter().copied().collect();
    for missing in expected_expiries.difference(&actual_expiries) {
        violations.push(Violation {
            invariant: "indexes",
            detail: format!("expiry index lacks pending transfer {}", missing.transfer_id),
        });
    }
    for stale in actual_expiries.difference(&expected_expiries) {
        violations.push(Violation {
            invariant: "indexes",
            detail: format!("expiry index holds stale entry for transfer {}", stale.transfer_id),
        });
    }
    let expected_payouts: BTreeSet<PayoutIndexKey> =
        dump.payouts.values().map(PayoutIndexKey::of).collect();
    let actual_payouts: BTreeSet<PayoutIndexKey> = dump.payout_index.iter().copied().collect();
    if expected_payouts != actual_payouts || dump.payout_index.len() != actual_payouts.len() {
        for key in expected_payouts.symmetric_difference(&actual_payouts) {
            violations.push(Violation {
                invariant: "indexes",
                detail: format!(
                    "payout index entry for payout {} is missing or stale",
                    key.payout_id
                ),
            });
        }
    }
    violations
}
