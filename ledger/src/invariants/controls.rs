//! Account controls' versions count the decisions taken on them: every account's controls
//! version is the number of status and limits audit records filed for it plus the versioned
//! changes that confirmed what was already set (recorded changes with no audit record at their
//! time), its `changed_at` the last one's time, and it is keyed under its own account, which
//! exists. Every recorded control change
//! is keyed under its own id, names an existing account, and produced a version the account
//! has reached; a change that moved the version (`version` > 0 and an audit record of its
//! kind at its timestamp) set what that record says. A stale change that slipped through
//! would leave an audit record without a matching version step, or a version the audit trail
//! cannot explain.

use std::collections::{BTreeMap, BTreeSet};

use super::{StateDump, Violation};
use crate::audit::{AuditAction, ControlTarget};

fn violation(detail: String) -> Violation {
    Violation { invariant: "controls", detail }
}

/// Checks the controls versions against the audit trail and every control change.
pub fn check(dump: &StateDump) -> Vec<Violation> {
    let mut violations = Vec::new();
    // Per account: (changes audited, time of the last one).
    let mut audited: BTreeMap<u128, (u64, u64)> = BTreeMap::new();
    for record in dump.audit.values() {
        if matches!(record.action, AuditAction::Status { .. } | AuditAction::Limits { .. }) {
            let entry = audited.entry(record.account_id).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(record.timestamp);
        }
    }
    for change in dump.control_changes.values() {
        if !dump.audit.contains_key(&(change.timestamp, change.account_id)) {
            let entry = audited.entry(change.account_id).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(change.timestamp);
        }
    }
    for (key, controls) in &dump.account_controls {
        if *key != controls.account_id {
            violations.push(violation(format!(
                "controls of account {} filed under account {key}",
                controls.account_id
            )));
        }
        if !dump.accounts.contains_key(&controls.account_id) {
            violations.push(violation(format!(
                "controls version of account {} that does not exist",
                controls.account_id
            )));
        }
    }
    let accounts: BTreeSet<u128> =
        audited.keys().chain(dump.account_controls.keys()).copied().collect();
    for account_id in accounts {
        let (count, last) = audited.get(&account_id).copied().unwrap_or((0, 0));
        let (version, changed_at) = dump
            .account_controls
            .get(&account_id)
            .map_or((0, 0), |controls| (controls.version, controls.changed_at));
        if version != count || changed_at != last {
            violations.push(violation(format!(
                "account {account_id}: controls version {version} changed at {changed_at}, but \
                 its audit trail and confirmations hold {count} decisions, the last at {last}"
            )));
        }
    }
    for (key, change) in &dump.control_changes {
        if *key != change.id {
            violations.push(violation(format!("control change {} filed under {key}", change.id)));
        }
        let reached = dump.account_controls.get(&change.account_id).map_or(0, |c| c.version);
        if !dump.accounts.contains_key(&change.account_id) || change.version > reached {
            violations.push(violation(format!(
                "control change {} names account {} at version {}, which it has not reached \
                 (version {reached})",
                change.id, change.account_id, change.version
            )));
        }
        let record = dump.audit.get(&(change.timestamp, change.account_id));
        let set = record.and_then(|record| match (&record.action, change.target) {
            (AuditAction::Status { to, .. }, ControlTarget::Status(status)) => Some(*to == status),
            (AuditAction::Limits { to, .. }, ControlTarget::Limits(limits)) => Some(*to == limits),
            _ => None,
        });
        if set == Some(false) {
            violations.push(violation(format!(
                "control change {} of account {} is audited as setting something else",
                change.id, change.account_id
            )));
        }
    }
    violations
}
