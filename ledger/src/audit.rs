//! Operator and reconciliation actions on accounts: the commands and their audit records.

use serde::{Deserialize, Serialize};

use crate::account::{AccountStatus, Limits};
use crate::collection::CollectionKey;

/// Change an account's status (block, unblock, freeze, close).
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

/// Replace an account's outflow limits.
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
