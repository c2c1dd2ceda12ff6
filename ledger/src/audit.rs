//! Operator and reconciliation actions on accounts: the commands and their audit records.

use serde::{Deserialize, Serialize};

use crate::account::{AccountStatus, Limits};
use crate::collection::CollectionKey;

/// Change an account's status (block, unblock, freeze, close) unconditionally: batch format
/// version 1's command, still applied from logs written before version 2. The API writes
/// `AccountStatusChange` instead: a late copy of this one can undo a later freeze.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetAccountStatus {
    /// The account.
    pub account_id: u128,
    /// The new status.
    pub status: AccountStatus,
    /// Why (required, at most `TEXT_BYTES_MAX` bytes).
    pub reason: String,
    /// Who (required, at most `TEXT_BYTES_MAX` bytes).
    pub actor: String,
}

/// Replace an account's outflow limits unconditionally: batch format version 1's command,
/// still applied from logs written before version 2. The API writes `AccountLimitsChange`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetAccountLimits {
    /// The account.
    pub account_id: u128,
    /// The new limits.
    pub limits: Limits,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
}

/// Change an account's status, once and only over the controls the sender saw: the id makes
/// a retry answer `exists` instead of applying again, and `expected_controls_version` refuses
/// (`controls_version_stale`) a change decided on controls that have changed since — a late
/// copy of an old "active" held by a paused node cannot undo a later freeze.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountStatusChange {
    /// The change's id, chosen by the sender, never 0 or `u128::MAX`; the idempotency key.
    pub id: u128,
    /// The account.
    pub account_id: u128,
    /// The account's `AccountControls::version` the change was decided on.
    pub expected_controls_version: u64,
    /// The new status.
    pub status: AccountStatus,
    /// Why (required, at most `TEXT_BYTES_MAX` bytes).
    pub reason: String,
    /// Who (required, at most `TEXT_BYTES_MAX` bytes).
    pub actor: String,
}

/// Replace an account's outflow limits, once and only over the controls the sender saw (see
/// `AccountStatusChange`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountLimitsChange {
    /// The change's id, never 0 or `u128::MAX`; the idempotency key.
    pub id: u128,
    /// The account.
    pub account_id: u128,
    /// The account's `AccountControls::version` the change was decided on.
    pub expected_controls_version: u64,
    /// The new limits.
    pub limits: Limits,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
}

/// How many decisions an account's controls (status and limits) have taken: the version an
/// `AccountStatusChange` or `AccountLimitsChange` names as the state it was decided on. Every
/// audited status or limits change bumps it, whoever makes it (an operator, the risk desk, a
/// reconciler's block and its release), and so does a versioned change that confirmed what
/// was already set (no audit record: nothing changed, but it is the newer decision). An
/// account never changed has none stored: version 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountControls {
    /// The account.
    pub account_id: u128,
    /// Changes applied so far.
    pub version: u64,
    /// The timestamp of the last change.
    pub changed_at: u64,
}

/// What a control change set, kept with its id so a retry is answered `exists` (same change)
/// or `exists_with_different_change` (the id was used for another).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ControlTarget {
    /// A status change to this status.
    Status(AccountStatus),
    /// A limits change to these limits.
    Limits(Limits),
}

/// An applied control change, by id (`Table::ControlChanges`): the idempotency record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ControlChange {
    /// The change's id.
    pub id: u128,
    /// The account.
    pub account_id: u128,
    /// What it set.
    pub target: ControlTarget,
    /// The controls version it produced: its expected version + 1.
    pub version: u64,
    /// When it was applied.
    pub timestamp: u64,
}

/// What an audited command changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    /// A status change.
    Status {
        /// Before.
        from: AccountStatus,
        /// After.
        to: AccountStatus,
    },
    /// A limits change.
    Limits {
        /// Before.
        from: Limits,
        /// After.
        to: Limits,
    },
    /// A collection waiting in suspense was assigned to the record's account.
    SuspenseAssigned {
        /// The assignment's id (= its transfer's id).
        assignment_id: u128,
        /// The collection.
        collection: CollectionKey,
        /// The suspense account debited.
        suspense_account_id: u128,
        /// The amount moved.
        amount: u128,
    },
}

/// One audited change, keyed by its timestamp (unique per event).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The event's timestamp.
    pub timestamp: u64,
    /// The account changed.
    pub account_id: u128,
    /// What changed.
    pub action: AuditAction,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
}
