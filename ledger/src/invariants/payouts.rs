//! Payout bookkeeping: every payout's state agrees with its reservation. `succeeded` ⇔ the
//! reservation was posted in full, `failed` ⇔ voided, any other state ⇔ still reserved. A
//! payout that is final in one place and open in the other is money either paid twice or
//! never booked.

use super::{StateDump, Violation};
use crate::flags::TransferFlags;
use crate::payout::PayoutState;
use crate::transfer::PendingStatus;

/// Checks every payout against its reservation transfer and pending state.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut violation =
        |detail: String| violations.push(Violation { invariant: "payouts", detail });
    for payout in dump.payouts.values() {
        let (Some(reservation), Some(pending)) =
            (dump.transfers.get(&payout.id), dump.pending_transfers.get(&payout.id))
        else {
            violation(format!("payout {} has no reservation", payout.id));
            continue;
        };
        if !reservation.flags.contains(TransferFlags::PENDING)
            || !pending.payout
            || reservation.amount != payout.amount
            || reservation.debit_account_id != payout.debit_account_id
            || reservation.credit_account_id != payout.credit_account_id
        {
            violation(format!("payout {} disagrees with its reservation transfer", payout.id));
        }
        let consistent = match payout.state {
            PayoutState::Succeeded => {
                pending.status == PendingStatus::Posted && pending.amount_posted == payout.amount
            }
            PayoutState::Failed => pending.status == PendingStatus::Voided,
            _ => pending.status == PendingStatus::Pending,
        };
        if !consistent {
            violation(format!(
                "payout {} is {:?} but its reservation is {:?} (posted {})",
                payout.id, payout.state, pending.status, pending.amount_posted
            ));
        }
        if payout.state != PayoutState::Reserved && payout.fencing_token == 0 {
            violation(format!("payout {} left reserved without a claim", payout.id));
        }
    }
    for pending in dump.pending_transfers.values().filter(|pending| pending.payout) {
        if !dump.payouts.contains_key(&pending.id) {
            violation(format!(
                "reservation {} is marked as a payout but no payout exists",
                pending.id
            ));
        }
    }
    violations
}
