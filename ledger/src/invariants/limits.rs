//! Invariant 6 (limits part): the outflow counted for an account's current day is within
//! its daily limits. A limit lowered later may sit below usage already counted that day;
//! only usage that could not have been accepted under the current limits at the time is a
//! violation, which the property tests' auditor checks event by event. Here: usage never
//! exceeds a limit that was in force for the whole day (the limit was not changed today).

use super::{StateDump, Violation};

/// Checks accounts whose limits were not changed on their usage day.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    for account in dump.accounts.values() {
        let usage = account.outflow_usage;
        if usage.count == 0 {
            continue;
        }
        if let Some(maximum) = account.limits.per_day_amount_max
            && usage.amount > maximum
            && account.limits_changed_before_day(usage.day)
        {
            violations.push(Violation {
                invariant: "limits",
                detail: format!(
                    "account {}: day {} outflow {} exceeds daily amount limit {}",
                    account.id, usage.day, usage.amount, maximum
                ),
            });
        }
        if let Some(maximum) = account.limits.per_day_count_max
            && usage.count > maximum
            && account.limits_changed_before_day(usage.day)
        {
            violations.push(Violation {
                invariant: "limits",
                detail: format!(
                    "account {}: day {} outflow count {} exceeds daily count limit {}",
                    account.id, usage.day, usage.count, maximum
                ),
            });
        }
    }
    violations
}
