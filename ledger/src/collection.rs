//! Collections: money the bank says arrived, booked bank-settlement → beneficiary exactly once
//! per `(bank, bank_reference)`; credits nobody can take go to a suspense account.

use serde::{Deserialize, Serialize};

/// The idempotency key of a collection: the bank's own reference for the credit.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CollectionKey {
    /// The bank that reported the credit.
    pub bank: u32,
    /// The bank's reference, at most `TEXT_BYTES_MAX` bytes.
    pub bank_reference: String,
}

/// A bank credit notification to book.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewCollection {
    /// Id of the transfer that books it.
    pub id: u128,
    /// The bank.
    pub bank: u32,
    /// The bank's reference: books once.
    pub bank_reference: String,
    /// The account the payer meant to credit (may not exist).
    pub beneficiary_account_id: u128,
    /// The bank-settlement account debited.
    pub settlement_account_id: u128,
    /// Where credits that cannot reach the beneficiary go.
    pub suspense_account_id: u128,
    /// Amount.
    pub amount: u128,
    /// Opaque client data.
    pub user_data: u128,
    /// Currency / asset.
    pub ledger: u32,
    /// Transfer type.
    pub code: u16,
}

/// Why a collection went to suspense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SuspenseReason {
    /// No such account.
    BeneficiaryNotFound,
    /// The account is on another ledger.
    BeneficiaryOnAnotherLedger,
    /// The account is frozen.
    BeneficiaryFrozen,
    /// The account is closed.
    BeneficiaryClosed,
    /// Crediting the account would break its balance flag or overflow it.
    BeneficiaryCannotTakeCredit,
}

impl SuspenseReason {
    /// Every reason, for parsers that accept a name.
    pub const ALL: [SuspenseReason; 5] = [
        SuspenseReason::BeneficiaryNotFound,
        SuspenseReason::BeneficiaryOnAnotherLedger,
        SuspenseReason::BeneficiaryFrozen,
        SuspenseReason::BeneficiaryClosed,
        SuspenseReason::BeneficiaryCannotTakeCredit,
    ];

    /// The reason's one spelling on the wire, in the CLI and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            SuspenseReason::BeneficiaryNotFound => "beneficiary_not_found",
            SuspenseReason::BeneficiaryOnAnotherLedger => "beneficiary_on_another_ledger",
            SuspenseReason::BeneficiaryFrozen => "beneficiary_frozen",
            SuspenseReason::BeneficiaryClosed => "beneficiary_closed",
            SuspenseReason::BeneficiaryCannotTakeCredit => "beneficiary_cannot_take_credit",
        }
    }
}

/// A booked collection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Collection {
    /// What was asked.
    pub request: NewCollection,
    /// The account actually credited (the beneficiary or the suspense account).
    pub credited_account_id: u128,
    /// Set when the credit went to suspense.
    pub suspense: Option<SuspenseReason>,
    /// When it was booked.
    pub timestamp: u64,
}

/// Where a collection waiting in suspense is filed: its bank, then its booking time, so an
/// operator's desk lists a bank's unassigned credits oldest first (`Table::SuspenseIndex`;
/// one collection per timestamp, so the pair is unique). The entry is removed when the
/// collection is assigned.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SuspenseKey {
    /// The collection's bank.
    pub bank: u32,
    /// When the collection was booked.
    pub timestamp: u64,
}

/// An operator assigns a collection waiting in suspense to the account it belongs to: the
/// amount moves suspense → `account_id` as a posted transfer with id `id`, once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AssignSuspense {
    /// The assignment's id, client-chosen: also the id of the transfer that moves the money,
    /// so a retry with the same id answers `exists`.
    pub id: u128,
    /// The collection's bank.
    pub bank: u32,
    /// The collection's bank reference.
    pub bank_reference: String,
    /// The account that receives the money.
    pub account_id: u128,
    /// Why (required, at most `TEXT_BYTES_MAX` bytes); kept in the audit record.
    pub reason: String,
    /// Who (required, at most `TEXT_BYTES_MAX` bytes); kept in the audit record.
    pub actor: String,
}

/// A collection taken out of suspense (`Table::SuspenseAssignments`, keyed by the
/// collection's `CollectionKey`: one per collection).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SuspenseAssignment {
    /// The assignment's id (= the id of its transfer suspense → account).
    pub id: u128,
    /// The collection assigned.
    pub collection: CollectionKey,
    /// The suspense account debited.
    pub suspense_account_id: u128,
    /// The account credited.
    pub account_id: u128,
    /// The amount moved: the collection's amount.
    pub amount: u128,
    /// When it was assigned.
    pub timestamp: u64,
}
