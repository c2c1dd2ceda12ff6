//! Transfers: single-phase, pending (reservation), post and void; and the resolution state of
//! every pending transfer.

use serde::{Deserialize, Serialize};

use crate::flags::TransferFlags;

/// The client's request to create a transfer. For post/void, zero account ids, ledger and
/// code mean "as the pending transfer"; amount zero on a post means "the full pending amount".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewTransfer {
    /// Client-chosen id, the idempotency key.
    pub id: u128,
    /// Account debited.
    pub debit_account_id: u128,
    /// Account credited.
    pub credit_account_id: u128,
    /// Amount in minor units (an upper bound for balancing transfers).
    pub amount: u128,
    /// For post/void: the pending transfer resolved.
    pub pending_id: u128,
    /// Opaque client data.
    pub user_data: u128,
    /// For pending transfers: seconds until the reservation expires (0 = never).
    pub timeout: u32,
    /// Currency / asset.
    pub ledger: u32,
    /// Transfer type.
    pub code: u16,
    /// Flags.
    pub flags: TransferFlags,
}

/// A transfer as stored: the request with the resolved accounts, ledger and code, the
/// amount actually moved, and its timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transfer {
    /// Id.
    pub id: u128,
    /// Account debited.
    pub debit_account_id: u128,
    /// Account credited.
    pub credit_account_id: u128,
    /// Amount moved or reserved.
    pub amount: u128,
    /// The amount the client asked for (differs from `amount` for balancing transfers and
    /// full posts); idempotent retries are compared against it.
    pub amount_requested: u128,
    /// For post/void: the pending transfer resolved.
    pub pending_id: u128,
    /// Opaque client data.
    pub user_data: u128,
    /// Timeout in seconds of a pending transfer.
    pub timeout: u32,
    /// Currency / asset.
    pub ledger: u32,
    /// Transfer type.
    pub code: u16,
    /// Flags, without `LINKED`.
    pub flags: TransferFlags,
    /// When it was applied.
    pub timestamp: u64,
}

/// Where a pending transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PendingStatus {
    /// Reserved, unresolved.
    Pending,
    /// Posted (fully or partially).
    Posted,
    /// Voided.
    Voided,
    /// Expired: its timeout passed and the reservation was released.
    Expired,
}

/// Resolution state of one pending transfer (the transfer record itself never changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingTransfer {
    /// The pending transfer's id.
    pub id: u128,
    /// Where it stands.
    pub status: PendingStatus,
    /// When the reservation expires (ns), 0 for never.
    pub expires_at: u64,
    /// True when this reservation backs a payout: only the payout outcome resolves it.
    pub payout: bool,
    /// Amount posted (for `Posted`).
    pub amount_posted: u128,
    /// The transfer (post/void) or payout that resolved it; 0 for expiry or while pending.
    pub resolved_by: u128,
    /// When it was resolved, 0 while pending.
    pub resolved_at: u64,
}
