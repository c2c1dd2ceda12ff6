//! The payout outbox: a payout is a reservation (pending transfer customer → bank-in-transit)
//! plus a record that bank workers claim with a lease and a fencing token.
//!
//! States: `Reserved → Claimed(worker, fencing_token, lease_until) → Sent → Succeeded | Failed`,
//! with `Unknown` when the worker could not learn the bank's answer. `Succeeded` posts the
//! reservation, `Failed` voids it, `Unknown` keeps it. A payout whose lease ran out (in any
//! non-final state) is claimable again, with a higher token; a worker holding such a claim
//! must ask the bank for the status of the same payout before sending anything.

use serde::{Deserialize, Serialize};

use crate::flags::TransferFlags;

/// Where a payout stands. The numeric values order the payout index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum PayoutState {
    /// Funds reserved; waiting for a worker.
    Reserved = 0,
    /// A worker holds the lease and is about to send.
    Claimed = 1,
    /// The bank accepted the instruction; the outcome is not known yet.
    Sent = 2,
    /// The worker could not learn whether the bank executed it; the reservation stays.
    Unknown = 3,
    /// The bank paid: the reservation was posted. Final.
    Succeeded = 4,
    /// The bank did not pay: the reservation was voided. Final.
    Failed = 5,
}

impl PayoutState {
    /// Every state, in index order.
    pub const ALL: [PayoutState; 6] = [
        PayoutState::Reserved,
        PayoutState::Claimed,
        PayoutState::Sent,
        PayoutState::Unknown,
        PayoutState::Succeeded,
        PayoutState::Failed,
    ];

    /// `Succeeded` and `Failed` never change again.
    pub const fn is_final(self) -> bool {
        matches!(self, PayoutState::Succeeded | PayoutState::Failed)
    }

    /// States in which a worker holds a lease.
    pub const fn is_leased(self) -> bool {
        matches!(self, PayoutState::Claimed | PayoutState::Sent | PayoutState::Unknown)
    }

    /// The state's one name everywhere it is shown: the wire, the CLI, logs and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            PayoutState::Reserved => "reserved",
            PayoutState::Claimed => "claimed",
            PayoutState::Sent => "sent",
            PayoutState::Unknown => "unknown",
            PayoutState::Succeeded => "succeeded",
            PayoutState::Failed => "failed",
        }
    }
}

/// The client's request to pay money out of `debit_account_id` through `bank`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewPayout {
    /// Client-chosen id: the payout's id and its reservation transfer's id.
    pub id: u128,
    /// The customer account paying.
    pub debit_account_id: u128,
    /// The bank-in-transit account holding the money until the bank answers.
    pub credit_account_id: u128,
    /// Amount in minor units.
    pub amount: u128,
    /// Opaque client data.
    pub user_data: u128,
    /// Currency / asset.
    pub ledger: u32,
    /// Transfer type of the reservation.
    pub code: u16,
    /// Only `LINKED` is meaningful.
    pub flags: TransferFlags,
    /// The bank that executes the payout.
    pub bank: u32,
    /// Beneficiary (account number at the bank), at most `TEXT_BYTES_MAX` bytes.
    pub beneficiary: String,
}

/// A payout as stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Payout {
    /// Id (also its reservation transfer's id).
    pub id: u128,
    /// The customer account paying.
    pub debit_account_id: u128,
    /// The bank-in-transit account.
    pub credit_account_id: u128,
    /// Amount.
    pub amount: u128,
    /// Opaque client data.
    pub user_data: u128,
    /// Currency / asset.
    pub ledger: u32,
    /// Transfer type of the reservation.
    pub code: u16,
    /// The bank.
    pub bank: u32,
    /// Beneficiary.
    pub beneficiary: String,
    /// Where it stands.
    pub state: PayoutState,
    /// The current claim's token; strictly increases with every claim (0 = never claimed).
    pub fencing_token: u64,
    /// The worker holding the current claim (0 = none).
    pub worker_id: u128,
    /// The current claim's lease end (ns); meaningful in leased states.
    pub lease_until: u64,
    /// When it was created.
    pub created_at: u64,
    /// When its state last changed.
    pub updated_at: u64,
}

/// A worker asks for up to `max` payouts of `bank`, leased for `lease_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimPayouts {
    /// The worker; fencing checks compare it.
    pub worker_id: u128,
    /// The bank whose payouts the worker sends.
    pub bank: u32,
    /// At most this many (1..=`PAYOUT_CLAIM_MAX`).
    pub max: u32,
    /// Lease length (`PAYOUT_LEASE_MS_MIN..=PAYOUT_LEASE_MS_MAX`).
    pub lease_ms: u64,
}

/// A worker claims up to `max` payouts of `bank` under a claim id it chose for this claim
/// round, so that a retry of a claim whose answer was lost finds the payouts the first
/// attempt claimed (answer `exists`, listing those the claim still holds) instead of
/// claiming a second batch and stranding the first until its lease runs out. Batch format
/// version 2; the API writes it instead of `ClaimPayouts`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayoutBatchClaim {
    /// The claim round's id, chosen by the worker, never 0 or `u128::MAX`; the idempotency
    /// key. A retry of the same round sends the same id and the same other fields.
    pub claim_id: u128,
    /// The worker; fencing checks compare it.
    pub worker_id: u128,
    /// The bank whose payouts the worker sends.
    pub bank: u32,
    /// At most this many (1..=`PAYOUT_CLAIM_MAX`).
    pub max: u32,
    /// Lease length (`PAYOUT_LEASE_MS_MIN..=PAYOUT_LEASE_MS_MAX`).
    pub lease_ms: u64,
}

/// One payout a batch claim took, with the fencing token it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimedPayout {
    /// The payout.
    pub payout_id: u128,
    /// The token the claim gave it.
    pub fencing_token: u64,
}

/// A batch claim that took at least one payout, by claim id (`Table::ClaimedBatches`): the
/// idempotency record a retry is answered from.
///
/// Growth is bounded by the payouts: a claim that took nothing stores no record (a retry of it
/// strands nothing, so it may claim afresh), so there is at most one record per payout claim,
/// each listing at most `PAYOUT_CLAIM_MAX` payouts — never more records than
/// `Table::PayoutHistory` holds claim transitions. Records are kept like the payout history
/// (no pruning: forgetting one would let a very late retry claim anew, and the log's time
/// alone decides nothing else here).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimedBatch {
    /// The claim as it was sent (its id included).
    pub claim: PayoutBatchClaim,
    /// When it was applied.
    pub timestamp: u64,
    /// The lease end it gave every payout it took (ns).
    pub lease_until: u64,
    /// The payouts it took, in the order they were handed over (1..=`max` of them).
    pub payouts: Vec<ClaimedPayout>,
}

/// One payout handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayoutClaim {
    /// The payout, as it stands after the claim.
    pub payout: Payout,
    /// True when an earlier claim existed: the worker must ask the bank for this payout's
    /// status before sending, because an earlier worker may have sent it.
    pub must_inquire_first: bool,
}

/// A worker records what the bank did with a payout it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordPayoutOutcome {
    /// The payout.
    pub payout_id: u128,
    /// The worker holding the claim.
    pub worker_id: u128,
    /// The claim's fencing token.
    pub fencing_token: u64,
    /// `Sent`, `Unknown`, `Succeeded` or `Failed`.
    pub outcome: PayoutOutcome,
}

/// What a worker may record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PayoutOutcome {
    /// The bank accepted the instruction.
    #[default]
    Sent,
    /// The worker could not learn the bank's answer.
    Unknown,
    /// The bank paid.
    Succeeded,
    /// The bank refused or returned the payment.
    Failed,
}

impl PayoutOutcome {
    /// The state the payout moves to.
    pub const fn state(self) -> PayoutState {
        match self {
            PayoutOutcome::Sent => PayoutState::Sent,
            PayoutOutcome::Unknown => PayoutState::Unknown,
            PayoutOutcome::Succeeded => PayoutState::Succeeded,
            PayoutOutcome::Failed => PayoutState::Failed,
        }
    }
}

/// One state change of a payout, kept forever under `(payout_id, timestamp)` in
/// `Table::PayoutHistory`: written by the event that made the change, in the same batch,
/// one record per transition (creation, each claim, each recorded outcome that changes the
/// state). Refused events leave none, so a payout's history is bounded by its transitions:
/// one creation, at most one claim per lease, four outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PayoutHistoryRecord {
    /// The payout.
    pub payout_id: u128,
    /// The event's timestamp (the payout's `updated_at` after the change).
    pub timestamp: u64,
    /// The state it entered.
    pub state: PayoutState,
    /// The worker holding the claim then (0 = none yet).
    pub worker_id: u128,
    /// The claim's fencing token then (0 = never claimed).
    pub fencing_token: u64,
    /// The claim's lease end then (ns; 0 = never claimed).
    pub lease_until: u64,
}

impl PayoutHistoryRecord {
    /// The record of the change that left `payout` as it is now.
    pub fn of(payout: &Payout) -> PayoutHistoryRecord {
        PayoutHistoryRecord {
            payout_id: payout.id,
            timestamp: payout.updated_at,
            state: payout.state,
            worker_id: payout.worker_id,
            fencing_token: payout.fencing_token,
            lease_until: payout.lease_until,
        }
    }
}
