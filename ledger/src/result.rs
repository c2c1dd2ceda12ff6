//! Result codes: one enum for every business outcome, with stable numeric values.
//!
//! The numbers are part of the wire API (gRPC exposes them) and of the replicated state (they
//! are recorded in responses that clients retry against), so a value is never reused or
//! renumbered: new codes are appended. The *order in which a command's checks run* is
//! documented on each command's apply function in `state_machine/`.

use serde::{Deserialize, Serialize};

macro_rules! result_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, )*) => {
        /// The outcome of one event in a batch. `Ok` and `Exists` are successes; every other
        /// code means the event changed nothing.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[repr(u16)]
        pub enum ResultCode {
            $( $(#[$doc])* $name = $value, )*
        }

        impl ResultCode {
            /// Every code, in numeric order; tests use it to prove each one is reachable.
            pub const ALL: &'static [ResultCode] = &[ $( ResultCode::$name, )* ];

            /// The stable numeric value exposed on the wire.
            pub const fn value(self) -> u16 {
                self as u16
            }

            /// Decodes a wire value; `None` for a value no version of Tianping assigned.
            pub const fn from_value(value: u16) -> Option<ResultCode> {
                match value {
                    $( $value => Some(ResultCode::$name), )*
                    _ => None,
                }
            }

            /// The variant's name (`ExceedsCredits`); the wire API and CLI show it in snake_case.
            pub const fn name(self) -> &'static str {
                match self {
                    $( ResultCode::$name => stringify!($name), )*
                }
            }
        }
    };
}

result_codes! {
    /// The event was applied.
    Ok = 0,
    /// Another event of the same linked chain failed, so this one was rolled back or skipped.
    LinkedEventFailed = 1,
    /// The batch ended while a linked chain was still open (the last event has `linked` set).
    LinkedEventChainOpen = 2,
    /// The event is identical to one applied before; nothing changed, the original outcome stands.
    Exists = 3,
    /// A flag bit that has no meaning was set.
    ReservedFlag = 4,
    /// Ids are client-chosen and must not be zero.
    IdMustNotBeZero = 5,
    /// Ids must not be `u128::MAX` (reserved as a sentinel).
    IdMustNotBeIntMax = 6,
    /// Two flags that contradict each other were both set.
    FlagsAreMutuallyExclusive = 7,
    /// Every account and transfer belongs to a ledger (currency / asset); zero is not one.
    LedgerMustNotBeZero = 8,
    /// Every account and transfer carries a non-zero type code.
    CodeMustNotBeZero = 9,

    // Accounts.
    /// A credit line only makes sense on an account whose debits must not exceed its credits.
    CreditLineRequiresDebitsMustNotExceedCredits = 20,
    /// An account with this id exists with other flags.
    ExistsWithDifferentFlags = 21,
    /// An account or transfer with this id exists with another user_data.
    ExistsWithDifferentUserData = 22,
    /// An account or transfer with this id exists on another ledger.
    ExistsWithDifferentLedger = 23,
    /// An account or transfer with this id exists with another code.
    ExistsWithDifferentCode = 24,
    /// An account with this id exists with another credit line.
    ExistsWithDifferentCreditLine = 25,

    // Transfers.
    /// `debit_account_id` must not be zero.
    DebitAccountIdMustNotBeZero = 40,
    /// `debit_account_id` must not be `u128::MAX`.
    DebitAccountIdMustNotBeIntMax = 41,
    /// `credit_account_id` must not be zero.
    CreditAccountIdMustNotBeZero = 42,
    /// `credit_account_id` must not be `u128::MAX`.
    CreditAccountIdMustNotBeIntMax = 43,
    /// A transfer cannot debit and credit the same account.
    AccountsMustBeDifferent = 44,
    /// Only post/void transfers reference a pending transfer.
    PendingIdMustBeZero = 45,
    /// A post/void transfer must name the pending transfer it resolves.
    PendingIdMustNotBeZero = 46,
    /// `pending_id` must not be `u128::MAX`.
    PendingIdMustNotBeIntMax = 47,
    /// A post/void transfer cannot resolve itself.
    PendingIdMustBeDifferent = 48,
    /// Only pending transfers expire.
    TimeoutReservedForPendingTransfer = 49,
    /// A transfer must name a non-zero amount (a post may name zero for "the full pending
    /// amount", a void zero for "the pending amount"); a balancing transfer's amount is its
    /// upper bound and may be clamped to zero.
    AmountMustNotBeZero = 50,
    /// The debit account does not exist.
    DebitAccountNotFound = 51,
    /// The credit account does not exist.
    CreditAccountNotFound = 52,
    /// Transfers never cross ledgers: both accounts must be on the same ledger.
    AccountsMustHaveTheSameLedger = 53,
    /// The transfer's ledger differs from its accounts' ledger.
    TransferMustHaveTheSameLedgerAsAccounts = 54,
    /// The referenced pending transfer does not exist.
    PendingTransferNotFound = 55,
    /// The referenced transfer is not a pending transfer.
    PendingTransferNotPending = 56,
    /// The post/void names another debit account than the pending transfer.
    PendingTransferHasDifferentDebitAccountId = 57,
    /// The post/void names another credit account than the pending transfer.
    PendingTransferHasDifferentCreditAccountId = 58,
    /// The post/void names another ledger than the pending transfer.
    PendingTransferHasDifferentLedger = 59,
    /// The post/void names another code than the pending transfer.
    PendingTransferHasDifferentCode = 60,
    /// A post may move at most the pending amount.
    ExceedsPendingTransferAmount = 61,
    /// A void must name the pending amount (or zero).
    PendingTransferHasDifferentAmount = 62,
    /// The pending transfer was already posted.
    PendingTransferAlreadyPosted = 63,
    /// The pending transfer was already voided.
    PendingTransferAlreadyVoided = 64,
    /// The pending transfer expired; its reservation was released.
    PendingTransferExpired = 65,
    /// The pending transfer reserves a payout; only the payout's outcome may resolve it.
    PendingTransferBelongsToPayout = 66,
    /// A transfer with this id exists with other flags.
    TransferExistsWithDifferentFlags = 67,
    /// A transfer with this id exists with another debit account.
    ExistsWithDifferentDebitAccountId = 68,
    /// A transfer with this id exists with another credit account.
    ExistsWithDifferentCreditAccountId = 69,
    /// A transfer with this id exists with another amount.
    ExistsWithDifferentAmount = 70,
    /// A transfer with this id exists with another pending id.
    ExistsWithDifferentPendingId = 71,
    /// A transfer with this id exists with another timeout.
    ExistsWithDifferentTimeout = 72,
    /// The debit account is frozen: nothing moves.
    DebitAccountFrozen = 73,
    /// The debit account is closed.
    DebitAccountClosed = 74,
    /// The debit account is outflow-blocked: debits are refused, credits allowed.
    DebitAccountOutflowBlocked = 75,
    /// The credit account is frozen: nothing moves.
    CreditAccountFrozen = 76,
    /// The credit account is closed.
    CreditAccountClosed = 77,
    /// The amount is above the debit account's per-transfer limit.
    ExceedsPerTransferLimit = 78,
    /// The amount would take the debit account above its daily outflow amount limit.
    ExceedsDailyAmountLimit = 79,
    /// The transfer would take the debit account above its daily outflow count limit.
    ExceedsDailyCountLimit = 80,
    /// `debits_pending` would overflow `u128`.
    OverflowsDebitsPending = 81,
    /// `credits_pending` would overflow `u128`.
    OverflowsCreditsPending = 82,
    /// `debits_posted` would overflow `u128`.
    OverflowsDebitsPosted = 83,
    /// `credits_posted` would overflow `u128`.
    OverflowsCreditsPosted = 84,
    /// `debits_pending + debits_posted` would overflow `u128`.
    OverflowsDebits = 85,
    /// `credits_pending + credits_posted` would overflow `u128`.
    OverflowsCredits = 86,
    /// The timestamp plus the timeout would overflow the clock.
    OverflowsTimeout = 87,
    /// The debit account's debits would exceed its credits (plus credit line).
    ExceedsCredits = 88,
    /// The credit account's credits would exceed its debits.
    ExceedsDebits = 89,

    // Account status and limits.
    /// The account does not exist.
    AccountNotFound = 100,
    /// Status and limit changes are audited: a reason is required.
    ReasonMustNotBeEmpty = 101,
    /// Status and limit changes are audited: an actor is required.
    ActorMustNotBeEmpty = 102,
    /// A text field is longer than its bound: `TEXT_BYTES_MAX`, or `EVIDENCE_BYTES_MAX` for a
    /// discrepancy's evidence.
    TextTooLong = 103,
    /// A closed account never changes again.
    AccountClosed = 104,
    /// An account closes only at zero balance with nothing pending.
    CloseRequiresZeroBalance = 105,

    // Payouts.
    /// Payouts name the bank that executes them; zero is not a bank.
    BankMustNotBeZero = 120,
    /// A payout needs a beneficiary.
    BeneficiaryMustNotBeEmpty = 121,
    /// A payout with this id exists for another bank.
    ExistsWithDifferentBank = 122,
    /// A payout with this id exists with another beneficiary.
    ExistsWithDifferentBeneficiary = 123,
    /// The id is used by a record of another kind (payout ids and transfer ids share a space).
    IdAlreadyUsed = 124,
    /// Workers identify themselves; zero is not a worker.
    WorkerIdMustNotBeZero = 125,
    /// A claim asks for between 1 and `PAYOUT_CLAIM_MAX` payouts.
    ClaimMaxOutOfRange = 126,
    /// A lease lasts between `PAYOUT_LEASE_MS_MIN` and `PAYOUT_LEASE_MS_MAX`.
    LeaseOutOfRange = 127,
    /// The payout does not exist.
    PayoutNotFound = 128,
    /// The payout has not been claimed by any worker yet.
    PayoutNotClaimed = 129,
    /// The fencing token is not the payout's current one: a newer claim superseded it.
    FencingTokenStale = 130,
    /// The token belongs to another worker's claim.
    PayoutClaimedByAnotherWorker = 131,
    /// The claim's lease ran out; the payout must be claimed again.
    PayoutLeaseExpired = 132,
    /// The payout already reached a different final state.
    PayoutAlreadyFinal = 133,
    // 134 is retired: outcomes a worker cannot record are unrepresentable in `PayoutOutcome`.

    // Collections.
    /// A collection is identified by the bank's reference; it must not be empty.
    BankReferenceMustNotBeEmpty = 140,
    /// The bank settlement account does not exist or is on another ledger.
    SettlementAccountNotFound = 141,
    /// The suspense account does not exist or is on another ledger.
    SuspenseAccountNotFound = 142,
    /// A collection with this bank reference exists with another amount.
    CollectionExistsWithDifferentAmount = 143,
    /// A collection with this bank reference exists for another beneficiary.
    CollectionExistsWithDifferentBeneficiary = 144,
    /// A collection with this bank reference exists with another transfer id.
    CollectionExistsWithDifferentId = 145,
    /// A collection with this bank reference exists with other accounts, ledger or code.
    CollectionExistsWithDifferentAccounts = 146,

    // Finality.
    /// A transfer or payout with this id was refused earlier for a reason that depends on the
    /// ledger's state (see `ResultCode::is_transient`); that refusal is final, so the id can
    /// never succeed later, whatever the state is now. Use a new id to try again.
    IdAlreadyFailed = 147,

    // Suspense assignment.
    /// No collection was booked under this bank and bank reference.
    CollectionNotFound = 148,
    /// The collection reached its beneficiary; only credits waiting in suspense are assigned.
    CollectionNotInSuspense = 149,
    /// The collection was already assigned, under another assignment id. It moves once.
    SuspenseAlreadyAssigned = 150,

    // Discrepancies.
    /// A discrepancy names more than `DISCREPANCY_ACCOUNTS_MAX` accounts.
    TooManyDiscrepancyAccounts = 151,
    /// A discrepancy with this id was recorded for another bank, class, reference or set of
    /// accounts: the reconciler derives the id from what it found, so this is another
    /// difference under the same id.
    DiscrepancyExistsWithDifferentFields = 152,
    /// No discrepancy was recorded under this id.
    DiscrepancyNotFound = 153,
    /// The discrepancy was already resolved, with another reason or by another operator. A
    /// resolution is final.
    DiscrepancyAlreadyResolved = 154,

    // Account controls.
    /// The account's controls changed since the change was decided: its
    /// `expected_controls_version` is not the account's version now. Nothing was changed;
    /// read the account and decide again.
    ControlsVersionStale = 155,
    /// A control change with this id was applied to another account or set something else.
    ExistsWithDifferentChange = 156,

    // Payout claims by id.
    /// A payout batch claim with this claim id was made by another worker, for another bank,
    /// or with another `max` or lease: a claim id names one claim round of one worker.
    ExistsWithDifferentClaim = 157,
}

impl ResultCode {
    /// `Ok` and `Exists` leave the client's intent fulfilled; everything else is a refusal.
    pub const fn is_success(self) -> bool {
        matches!(self, ResultCode::Ok | ResultCode::Exists)
    }
}

impl ResultCode {
    /// True for a refusal that depends on the ledger's state when the event was applied, so
    /// that the same request could be answered differently against another state: a missing
    /// account or pending transfer, a balance, a status, a limit, a pending transfer's
    /// resolution, a payout's lifecycle, the clock. A create-transfer or create-payout event
    /// refused with such a code is recorded (`Table::Refusals`) and its id answers
    /// `id_already_failed` from then on: a client told "refused" must never see the same id
    /// succeed later (a delayed copy of the request would move money the client believes
    /// did not move, and the client may pay again by other means).
    ///
    /// False for codes that depend only on the request (validation: ids, flags, amounts,
    /// texts — the same request is refused the same way against any state, so nothing needs
    /// recording); for codes answered because a permanent record already holds the id
    /// (`exists`, `exists_with_different_*`, `id_already_used`, `collection_exists_*` — the
    /// id is already final through that record); for `linked_event_failed` and
    /// `linked_event_chain_open` (the event did not fail on its own; the member that did is
    /// recorded); for successes; and for `id_already_failed` itself (already final, and the
    /// first refusal's record must stand).
    ///
    /// The match has no wildcard on purpose: a new code does not compile until it is
    /// classified.
    pub const fn is_transient(self) -> bool {
        use ResultCode as R;
        match self {
            R::Ok | R::Exists | R::LinkedEventFailed | R::LinkedEventChainOpen => false,
            R::IdAlreadyFailed => false,
            // Validation: the request alone decides.
            R::ReservedFlag
            | R::IdMustNotBeZero
            | R::IdMustNotBeIntMax
            | R::FlagsAreMutuallyExclusive
            | R::LedgerMustNotBeZero
            | R::CodeMustNotBeZero
            | R::CreditLineRequiresDebitsMustNotExceedCredits
            | R::DebitAccountIdMustNotBeZero
            | R::DebitAccountIdMustNotBeIntMax
            | R::CreditAccountIdMustNotBeZero
            | R::CreditAccountIdMustNotBeIntMax
            | R::AccountsMustBeDifferent
            | R::PendingIdMustBeZero
            | R::PendingIdMustNotBeZero
            | R::PendingIdMustNotBeIntMax
            | R::PendingIdMustBeDifferent
            | R::TimeoutReservedForPendingTransfer
            | R::AmountMustNotBeZero
            | R::ReasonMustNotBeEmpty
            | R::ActorMustNotBeEmpty
            | R::TextTooLong
            | R::BankMustNotBeZero
            | R::BeneficiaryMustNotBeEmpty
            | R::WorkerIdMustNotBeZero
            | R::ClaimMaxOutOfRange
            | R::LeaseOutOfRange
            | R::BankReferenceMustNotBeEmpty
            | R::TooManyDiscrepancyAccounts => false,
            // A permanent record already holds the id: the answer can never change.
            R::ExistsWithDifferentFlags
            | R::ExistsWithDifferentUserData
            | R::ExistsWithDifferentLedger
            | R::ExistsWithDifferentCode
            | R::ExistsWithDifferentCreditLine
            | R::TransferExistsWithDifferentFlags
            | R::ExistsWithDifferentDebitAccountId
            | R::ExistsWithDifferentCreditAccountId
            | R::ExistsWithDifferentAmount
            | R::ExistsWithDifferentPendingId
            | R::ExistsWithDifferentTimeout
            | R::ExistsWithDifferentBank
            | R::ExistsWithDifferentBeneficiary
            | R::IdAlreadyUsed
            | R::CollectionExistsWithDifferentAmount
            | R::CollectionExistsWithDifferentBeneficiary
            | R::CollectionExistsWithDifferentId
            | R::CollectionExistsWithDifferentAccounts => false,
            // Accounts: whether they exist (and so on which ledger).
            R::DebitAccountNotFound
            | R::CreditAccountNotFound
            | R::AccountsMustHaveTheSameLedger
            | R::TransferMustHaveTheSameLedgerAsAccounts
            | R::AccountNotFound
            | R::SettlementAccountNotFound
            | R::SuspenseAccountNotFound => true,
            // The pending transfer a post or void resolves: whether it exists and its state.
            // Some of these can only stay refused once reached (a posted transfer never
            // becomes pending again), but they are recorded all the same: recording a refusal
            // that could not have changed costs one record, missing one that could costs money.
            R::PendingTransferNotFound
            | R::PendingTransferNotPending
            | R::PendingTransferHasDifferentDebitAccountId
            | R::PendingTransferHasDifferentCreditAccountId
            | R::PendingTransferHasDifferentLedger
            | R::PendingTransferHasDifferentCode
            | R::ExceedsPendingTransferAmount
            | R::PendingTransferHasDifferentAmount
            | R::PendingTransferAlreadyPosted
            | R::PendingTransferAlreadyVoided
            | R::PendingTransferExpired
            | R::PendingTransferBelongsToPayout => true,
            // Account status and limits.
            R::DebitAccountFrozen
            | R::DebitAccountClosed
            | R::DebitAccountOutflowBlocked
            | R::CreditAccountFrozen
            | R::CreditAccountClosed
            | R::ExceedsPerTransferLimit
            | R::ExceedsDailyAmountLimit
            | R::ExceedsDailyCountLimit
            | R::AccountClosed
            | R::CloseRequiresZeroBalance => true,
            // Balances and the clock.
            R::OverflowsDebitsPending
            | R::OverflowsCreditsPending
            | R::OverflowsDebitsPosted
            | R::OverflowsCreditsPosted
            | R::OverflowsDebits
            | R::OverflowsCredits
            | R::OverflowsTimeout
            | R::ExceedsCredits
            | R::ExceedsDebits => true,
            // A payout's lifecycle.
            R::PayoutNotFound
            | R::PayoutNotClaimed
            | R::FencingTokenStale
            | R::PayoutClaimedByAnotherWorker
            | R::PayoutLeaseExpired
            | R::PayoutAlreadyFinal => true,
            // Suspense assignments: whether the collection exists and is still in suspense.
            // (Assignments' refusals are not recorded, as collections' are not: see
            // `state_machine::suspense`.)
            R::CollectionNotFound | R::CollectionNotInSuspense => true,
            // A permanent record (the assignment) already decides the collection.
            R::SuspenseAlreadyAssigned => false,
            // Discrepancies: a recorded discrepancy holds its id and a resolution is final, so
            // these two can never change; whether the discrepancy exists yet can. (Their
            // refusals are not recorded: see `state_machine::discrepancies`.)
            R::DiscrepancyExistsWithDifferentFields | R::DiscrepancyAlreadyResolved => false,
            R::DiscrepancyNotFound => true,
            // Account controls: the version moves with every change, so a stale change could
            // have been current against an earlier state; a used change id never frees up.
            R::ControlsVersionStale => true,
            R::ExistsWithDifferentChange => false,
            // A claim id, once used, names that claim forever; claims record no refusals.
            R::ExistsWithDifferentClaim => false,
        }
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ResultCode;

    /// `is_transient` is an exhaustive match, so every code is classified by hand; this pins
    /// the classes' edges that matter most for money, so a reclassification is deliberate.
    #[test]
    fn transient_codes_are_the_state_dependent_refusals() {
        let transient: Vec<ResultCode> =
            ResultCode::ALL.iter().copied().filter(|code| code.is_transient()).collect();
        for code in [
            ResultCode::ExceedsCredits,
            ResultCode::ExceedsDebits,
            ResultCode::DebitAccountNotFound,
            ResultCode::PendingTransferNotFound,
            ResultCode::DebitAccountFrozen,
            ResultCode::ExceedsDailyAmountLimit,
            ResultCode::OverflowsDebitsPosted,
        ] {
            assert!(transient.contains(&code), "{code} must be transient");
        }
        for code in ResultCode::ALL.iter().copied().filter(|code| code.is_success()) {
            assert!(!code.is_transient(), "{code} is a success");
        }
        for code in [
            ResultCode::IdAlreadyFailed,
            ResultCode::LinkedEventFailed,
            ResultCode::AmountMustNotBeZero,
            ResultCode::IdMustNotBeZero,
            ResultCode::FlagsAreMutuallyExclusive,
            ResultCode::ExistsWithDifferentAmount,
            ResultCode::IdAlreadyUsed,
        ] {
            assert!(!code.is_transient(), "{code} must not be transient");
        }
    }

    #[test]
    fn id_already_failed_keeps_its_number() {
        assert_eq!(ResultCode::IdAlreadyFailed.value(), 147);
        assert_eq!(ResultCode::from_value(147), Some(ResultCode::IdAlreadyFailed));
    }

    #[test]
    fn suspense_codes_keep_their_numbers() {
        assert_eq!(ResultCode::CollectionNotFound.value(), 148);
        assert_eq!(ResultCode::CollectionNotInSuspense.value(), 149);
        assert_eq!(ResultCode::SuspenseAlreadyAssigned.value(), 150);
    }

    #[test]
    fn discrepancy_codes_keep_their_numbers() {
        assert_eq!(ResultCode::TooManyDiscrepancyAccounts.value(), 151);
        assert_eq!(ResultCode::DiscrepancyExistsWithDifferentFields.value(), 152);
        assert_eq!(ResultCode::DiscrepancyNotFound.value(), 153);
        assert_eq!(ResultCode::DiscrepancyAlreadyResolved.value(), 154);
        assert!(ResultCode::DiscrepancyNotFound.is_transient());
        for code in [
            ResultCode::TooManyDiscrepancyAccounts,
            ResultCode::DiscrepancyExistsWithDifferentFields,
            ResultCode::DiscrepancyAlreadyResolved,
        ] {
            assert!(!code.is_transient(), "{code} must not be transient");
        }
    }

    #[test]
    fn control_change_codes_keep_their_numbers() {
        assert_eq!(ResultCode::ControlsVersionStale.value(), 155);
        assert_eq!(ResultCode::ExistsWithDifferentChange.value(), 156);
    }

    #[test]
    fn claim_id_code_keeps_its_number() {
        assert_eq!(ResultCode::ExistsWithDifferentClaim.value(), 157);
        assert_eq!(ResultCode::ALL.last(), Some(&ResultCode::ExistsWithDifferentClaim));
    }
}
