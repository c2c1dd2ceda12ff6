//! Invariant 1: per ledger, the sum of all debits equals the sum of all credits — pending
//! and posted separately. Money is neither created nor destroyed, only moved.

use std::collections::BTreeMap;

use super::{StateDump, Violation, WideSum};

/// Checks every ledger's totals.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    #[derive(Default)]
    struct Totals {
        debits_pending: WideSum,
        credits_pending: WideSum,
        debits_posted: WideSum,
        credits_posted: WideSum,
    }
    let mut ledgers: BTreeMap<u32, Totals> = BTreeMap::new();
    for account in dump.accounts.values() {
        let totals = ledgers.entry(account.ledger).or_default();
        totals.debits_pending.add(account.debits_pending);
        totals.credits_pending.add(account.credits_pending);
        totals.debits_posted.add(account.debits_posted);
        totals.credits_posted.add(account.credits_posted);
    }
    let mut violations = Vec::new();
    for (ledger, totals) in &ledgers {
        if totals.debits_pending != totals.credits_pending {
            violations.push(Violation {
                invariant: "conservation",
                detail: format!(
                    "ledger {ledger}: debits_pending {} != credits_pending {}",
                    totals.debits_pending, totals.credits_pending
                ),
            });
        }
        if totals.debits_posted != totals.credits_posted {
            violations.push(Violation {
                invariant: "conservation",
                detail: format!(
                    "ledger {ledger}: debits_posted {} != credits_posted {}",
                    totals.debits_posted, totals.credits_posted
                ),
            });
        }
    }
    violations
}
