//! An id refused for a state-dependent reason never succeeds later: no transfer and no payout
//! holds an id that has a `Refusal`, and every refusal carries a transient code. A refused id
//! that later moved money is the duplicate payment `id_already_failed` exists to prevent (the
//! client was told "refused" and may have paid by other means).

use super::{StateDump, Violation};

/// Checks every refusal against the transfers and payouts.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    for refusal in dump.refusals.values() {
        if !refusal.code.is_transient() {
            violations.push(Violation {
                invariant: "refusals",
                detail: format!("id {} recorded as refused with {}", refusal.id, refusal.code),
            });
        }
        if let Some(transfer) = dump.transfers.get(&refusal.id) {
            violations.push(Violation {
                invariant: "refusals",
                detail: format!(
                    "id {} was refused with {} at {} but transfer {} exists (at {})",
                    refusal.id, refusal.code, refusal.timestamp, transfer.id, transfer.timestamp
                ),
            });
        }
        if dump.payouts.contains_key(&refusal.id) {
            violations.push(Violation {
                invariant: "refusals",
                detail: format!(
                    "id {} was refused with {} at {} but a payout exists",
                    refusal.id, refusal.code, refusal.timestamp
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::flags::TransferFlags;
    use crate::invariants::StateDump;
    use crate::refusal::Refusal;
    use crate::result::ResultCode;
    use crate::transfer::Transfer;

    fn dump_with_refusal(code: ResultCode) -> StateDump {
        let mut dump = StateDump::default();
        dump.refusals.insert(5, Refusal { id: 5, code, timestamp: 10 });
        dump
    }

    #[test]
    fn a_lone_refusal_holds() {
        assert!(check(&dump_with_refusal(ResultCode::ExceedsCredits)).is_empty());
    }

    #[test]
    fn a_refused_id_that_moved_money_is_a_violation() {
        let mut dump = dump_with_refusal(ResultCode::ExceedsCredits);
        let transfer = Transfer {
            id: 5,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: 3,
            amount_requested: 3,
            pending_id: 0,
            user_data: 0,
            timeout: 0,
            ledger: 1,
            code: 1,
            flags: TransferFlags::NONE,
            timestamp: 20,
        };
        dump.transfers.insert(5, transfer);
        let violations = check(&dump);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("transfer 5 exists"));
    }

    #[test]
    fn a_refusal_with_a_validation_code_is_a_violation() {
        assert_eq!(check(&dump_with_refusal(ResultCode::AmountMustNotBeZero)).len(), 1);
    }
}
