//! Invariant 2: no account with a must-not-exceed flag violates it, pending included.

use super::{StateDump, Violation};
use crate::flags::AccountFlags;

/// Checks every flagged account.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    for account in dump.accounts.values() {
        let debits = account.debits_pending.checked_add(account.debits_posted);
        let credits = account.credits_pending.checked_add(account.credits_posted);
        if account.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && debits.is_none_or(|debits| {
                debits > account.credits_posted.saturating_add(account.credit_line)
            })
        {
            violations.push(Violation {
                invariant: "balance_flags",
                detail: format!(
                    "account {}: debits {}+{} exceed credits_posted {} + credit_line {}",
                    account.id,
                    account.debits_pending,
                    account.debits_posted,
                    account.credits_posted,
                    account.credit_line
                ),
            });
        }
        if account.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && credits.is_none_or(|credits| credits > account.debits_posted)
        {
            violations.push(Violation {
                invariant: "balance_flags",
                detail: format!(
                    "account {}: credits {}+{} exceed debits_posted {}",
                    account.id,
                    account.credits_pending,
                    account.credits_posted,
                    account.debits_posted
                ),
            });
        }
    }
    violations
}
