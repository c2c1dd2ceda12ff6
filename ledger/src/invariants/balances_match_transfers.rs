//! Every account's four balances equal what its transfers imply: single-phase transfers
//! post, pending transfers reserve until resolved, posts and payout successes post what was
//! posted. A balance that drifts from its own history is lost or invented money even when
//! the ledger-wide totals still agree.

use std::collections::BTreeMap;

use super::{StateDump, Violation, WideSum};
use crate::flags::TransferFlags;
use crate::transfer::PendingStatus;

#[derive(Default, PartialEq, Eq)]
struct Expected {
    debits_pending: WideSum,
    debits_posted: WideSum,
    credits_pending: WideSum,
    credits_posted: WideSum,
}

/// Recomputes every account's balances from transfers and pending states.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut expected: BTreeMap<u128, Expected> = BTreeMap::new();
    for transfer in dump.transfers.values() {
        let flags = transfer.flags;
        if flags.contains(TransferFlags::POST_PENDING)
            || flags.contains(TransferFlags::VOID_PENDING)
        {
            // Counted through the pending transfer's resolution state below.
            continue;
        }
        if flags.contains(TransferFlags::PENDING) {
            let Some(pending) = dump.pending_transfers.get(&transfer.id) else {
                violations.push(Violation {
                    invariant: "balances_match_transfers",
                    detail: format!("pending transfer {} has no pending state", transfer.id),
                });
                continue;
            };
            if pending.status == PendingStatus::Pending {
                expected
                    .entry(transfer.debit_account_id)
                    .or_default()
                    .debits_pending
                    .add(transfer.amount);
                expected
                    .entry(transfer.credit_account_id)
                    .or_default()
                    .credits_pending
                    .add(transfer.amount);
            }
            if pending.status == PendingStatus::Posted {
                expected
                    .entry(transfer.debit_account_id)
                    .or_default()
                    .debits_posted
                    .add(pending.amount_posted);
                expected
                    .entry(transfer.credit_account_id)
                    .or_default()
                    .credits_posted
                    .add(pending.amount_posted);
            }
            continue;
        }
        expected.entry(transfer.debit_account_id).or_default().debits_posted.add(transfer.amount);
        expected.entry(transfer.credit_account_id).or_default().credits_posted.add(transfer.amount);
    }
    for account in dump.accounts.values() {
        let mut actual = Expected::default();
        actual.debits_pending.add(account.debits_pending);
        actual.debits_posted.add(account.debits_posted);
        actual.credits_pending.add(account.credits_pending);
        actual.credits_posted.add(account.credits_posted);
        let implied = expected.remove(&account.id).unwrap_or_default();
        if actual != implied {
            violations.push(Violation {
                invariant: "balances_match_transfers",
                detail: format!(
                    "account {}: balances (dp {}, dP {}, cp {}, cP {}) but transfers imply \
                     (dp {}, dP {}, cp {}, cP {})",
                    account.id,
                    actual.debits_pending,
                    actual.debits_posted,
                    actual.credits_pending,
                    actual.credits_posted,
                    implied.debits_pending,
                    implied.debits_posted,
                    implied.credits_pending,
                    implied.credits_posted,
                ),
            });
        }
    }
    for account_id in expected.keys() {
        violations.push(Violation {
            invariant: "balances_match_transfers",
            detail: format!("transfers move money on missing account {account_id}"),
        });
    }
    violations
}
