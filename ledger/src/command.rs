//! Commands, batches and per-event results: the state machine's whole input and output.

use serde::{Deserialize, Serialize};

use crate::account::NewAccount;
use crate::audit::{AccountLimitsChange, AccountStatusChange, SetAccountLimits, SetAccountStatus};
use crate::collection::{AssignSuspense, NewCollection, SuspenseReason};
use crate::discrepancy::{NewDiscrepancy, ResolveDiscrepancy};
use crate::flags::{AccountFlags, TransferFlags};
use crate::payout::{ClaimPayouts, NewPayout, PayoutBatchClaim, PayoutClaim, RecordPayoutOutcome};
use crate::result::ResultCode;
use crate::transfer::NewTransfer;

/// One event of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Command {
    /// Create an account.
    CreateAccount(NewAccount),
    /// Create a transfer (single-phase, pending, post or void).
    CreateTransfer(NewTransfer),
    /// Block, unblock, freeze or close an account unconditionally (audited): format version
    /// 1's command, applied from old logs; the API writes `ChangeAccountStatus`.
    SetAccountStatus(SetAccountStatus),
    /// Replace an account's outflow limits unconditionally (audited): format version 1's
    /// command, applied from old logs; the API writes `ChangeAccountLimits`.
    SetAccountLimits(SetAccountLimits),
    /// Reserve funds and record a payout.
    CreatePayout(NewPayout),
    /// A worker claims payouts to send, with no claim id: format version 1's command, applied
    /// from old logs; the API writes `ClaimPayoutBatch`.
    ClaimPayouts(ClaimPayouts),
    /// A worker records what the bank did.
    RecordPayoutOutcome(RecordPayoutOutcome),
    /// Book a bank credit.
    BookCollection(NewCollection),
    /// Assign a collection waiting in suspense to its account (audited).
    AssignSuspense(AssignSuspense),
    /// A reconciler records a difference with a bank; every account it names is held
    /// outflow-blocked (audited).
    RecordDiscrepancy(NewDiscrepancy),
    /// An operator resolves a discrepancy, lifting the blocks only it held (audited).
    ResolveDiscrepancy(ResolveDiscrepancy),
    /// Block, unblock, freeze or close an account, once (by id) and only over the controls
    /// version it was decided on (audited). Batch format version 2; appended last so every
    /// version-1 command keeps its bytes.
    ChangeAccountStatus(AccountStatusChange),
    /// Replace an account's outflow limits, once and only over the controls version it was
    /// decided on (audited). Batch format version 2.
    ChangeAccountLimits(AccountLimitsChange),
    /// A worker claims payouts to send under a claim id, so a retry answers `exists` with the
    /// payouts the first attempt claimed. Batch format version 2; appended last.
    ClaimPayoutBatch(PayoutBatchClaim),
}

impl Command {
    /// True when this event chains to the next one (all-or-nothing).
    pub fn is_linked(&self) -> bool {
        match self {
            Command::CreateAccount(account) => account.flags.contains(AccountFlags::LINKED),
            Command::CreateTransfer(transfer) => transfer.flags.contains(TransferFlags::LINKED),
            Command::CreatePayout(payout) => payout.flags.contains(TransferFlags::LINKED),
            _ => false,
        }
    }

    /// A short snake_case name for logs, metrics and the change feed's `kind` field: stable,
    /// since feed consumers key on it (a new kind gets a new name; none is ever renamed).
    pub fn kind(&self) -> &'static str {
        match self {
            Command::CreateAccount(_) => "create_account",
            Command::CreateTransfer(_) => "create_transfer",
            Command::SetAccountStatus(_) => "set_account_status",
            Command::SetAccountLimits(_) => "set_account_limits",
            Command::CreatePayout(_) => "create_payout",
            Command::ClaimPayouts(_) => "claim_payouts",
            Command::RecordPayoutOutcome(_) => "record_payout_outcome",
            Command::BookCollection(_) => "book_collection",
            Command::AssignSuspense(_) => "assign_suspense",
            Command::RecordDiscrepancy(_) => "record_discrepancy",
            Command::ResolveDiscrepancy(_) => "resolve_discrepancy",
            Command::ChangeAccountStatus(_) => "change_account_status",
            Command::ChangeAccountLimits(_) => "change_account_limits",
            Command::ClaimPayoutBatch(_) => "claim_payout_batch",
        }
    }
}

/// Commands applied together under one timestamp taken from the Raft entry. Its serde
/// encoding is versioned (`format`): the version, then these fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Batch {
    /// Leader-assigned wall-clock time in nanoseconds since the Unix epoch. The state machine
    /// makes event timestamps strictly increasing even if this goes backwards (see
    /// `StateMachine::apply`).
    pub timestamp: u64,
    /// At most `BATCH_EVENTS_MAX` commands.
    pub commands: Vec<Command>,
}

/// Short, for logs (openraft prints entries): the time and the size, never the commands.
impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch@{}ns[{} commands]", self.timestamp, self.commands.len())
    }
}

/// What an event produced besides its code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Detail {
    /// Nothing more.
    #[default]
    None,
    /// The amount a transfer (or payout reservation) actually moved or reserved.
    Amount(u128),
    /// Payouts handed to the claiming worker.
    Claims(Vec<PayoutClaim>),
    /// Where a collection was booked.
    Collection {
        /// The account credited.
        credited_account_id: u128,
        /// Why it went to suspense, if it did.
        suspense: Option<SuspenseReason>,
    },
}

/// One event's result. For `Exists` the detail and timestamp are those of the original event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventResult {
    /// The outcome.
    pub code: ResultCode,
    /// The event's timestamp (for `Exists`: the original one; for refusals: this event's).
    pub timestamp: u64,
    /// Extra output.
    pub detail: Detail,
}

impl EventResult {
    /// A result with no detail.
    pub const fn code(code: ResultCode, timestamp: u64) -> EventResult {
        EventResult { code, timestamp, detail: Detail::None }
    }
}

/// A whole batch was refused; nothing in it was applied. Every replica refuses it equally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BatchError {
    /// More than `BATCH_EVENTS_MAX` commands.
    TooManyEvents {
        /// Commands in the batch.
        count: usize,
    },
    /// Event timestamps would pass `u64::MAX` nanoseconds.
    TimestampOverflow,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::TooManyEvents { count } => write!(
                f,
                "batch has {count} events, more than the limit of {}",
                crate::BATCH_EVENTS_MAX
            ),
            BatchError::TimestampOverflow => f.write_str("event timestamps would overflow u64"),
        }
    }
}

impl std::error::Error for BatchError {}
