//! Discrepancies: a difference reconciliation found between the ledger and a bank, kept in the
//! ledger itself (replicated, queryable, with both sides' evidence) and contained there: the
//! same event that records it outflow-blocks every account involved, so the block holds across
//! failover and however many reconcilers found the same difference.
//!
//! Nothing here fixes money. A discrepancy stays `Open` until an operator resolves it with a
//! reason; resolving lifts the blocks it set on accounts no other open discrepancy holds.
//!
//! While open, a discrepancy *holds* every account it names (`Table::DiscrepancyBlocks`, one
//! [`DiscrepancyBlock`] per account): recording it moves the active ones to outflow-blocked,
//! and resolving it returns an account to active only when no other open discrepancy holds it
//! and its block is still one a discrepancy set (an operator's own later block, freeze or
//! close stands). An operator may still change a held account's status directly
//! (`SetAccountStatus`): that is the audited override, and it resolves nothing.

use serde::{Deserialize, Serialize};

/// Most accounts one discrepancy may outflow-block.
pub const DISCREPANCY_ACCOUNTS_MAX: usize = 8;

/// Longest evidence text of one side, in bytes: enough for a statement entry or a payout
/// record in a line or two, bounded so a discrepancy stays a small log entry.
pub const EVIDENCE_BYTES_MAX: usize = 1_024;

/// What kind of difference: the classes of issue 13, one word for one concept across the
/// reconciler, the ledger, the wire, the CLI and metric labels (see [`DiscrepancyClass::name`]).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[repr(u8)]
pub enum DiscrepancyClass {
    /// The bank's balance of an account differs from what the ledger and the in-flight
    /// instructions explain (账证核对).
    #[default]
    BalanceMismatch = 0,
    /// The ledger booked a movement the bank's statement does not show ("booked but not
    /// paid").
    MissingAtBank = 1,
    /// The bank's statement shows a movement the ledger never booked ("paid but not booked").
    MissingInLedger = 2,
    /// Both sides have the movement, with different amounts.
    AmountMismatch = 3,
    /// The bank executed one instruction more than once.
    DuplicateAtBank = 4,
    /// The bank returned (reversed) a payout the ledger still holds as paid.
    ReversedAtBank = 5,
}

impl DiscrepancyClass {
    /// Every class, in numeric order.
    pub const ALL: [DiscrepancyClass; 6] = [
        DiscrepancyClass::BalanceMismatch,
        DiscrepancyClass::MissingAtBank,
        DiscrepancyClass::MissingInLedger,
        DiscrepancyClass::AmountMismatch,
        DiscrepancyClass::DuplicateAtBank,
        DiscrepancyClass::ReversedAtBank,
    ];

    /// The class's one spelling everywhere it is shown: the wire, the CLI, reports, logs and
    /// metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            DiscrepancyClass::BalanceMismatch => "balance_mismatch",
            DiscrepancyClass::MissingAtBank => "missing_at_bank",
            DiscrepancyClass::MissingInLedger => "missing_in_ledger",
            DiscrepancyClass::AmountMismatch => "amount_mismatch",
            DiscrepancyClass::DuplicateAtBank => "duplicate_at_bank",
            DiscrepancyClass::ReversedAtBank => "reversed_at_bank",
        }
    }

    /// The class named `name` (as [`DiscrepancyClass::name`] spells it).
    pub fn from_name(name: &str) -> Option<DiscrepancyClass> {
        DiscrepancyClass::ALL.into_iter().find(|class| class.name() == name)
    }
}

/// A reconciler reports a difference. Its `id` is derived by the reconciler from what was
/// found (bank, class, reference, both amounts), so two reconcilers that find the same
/// difference send the same id and the second is answered `exists`: one record, one set of
/// blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewDiscrepancy {
    /// The discrepancy's id, never 0 or `u128::MAX`.
    pub id: u128,
    /// The bank (a payout's `bank` number).
    pub bank: u32,
    /// What kind of difference.
    pub class: DiscrepancyClass,
    /// What it is about: the end-to-end id, the bank reference, or for a balance mismatch
    /// the bank account; required, at most `TEXT_BYTES_MAX` bytes.
    pub reference: String,
    /// The ledger accounts involved, each outflow-blocked (at most
    /// [`DISCREPANCY_ACCOUNTS_MAX`], no repeats, each existing).
    pub account_ids: Vec<u128>,
    /// The amount the ledger shows, in minor units, when it shows one.
    pub ledger_amount: Option<u128>,
    /// The amount the bank shows, in minor units, when it shows one.
    pub bank_amount: Option<u128>,
    /// The ledger side's evidence (at most [`EVIDENCE_BYTES_MAX`] bytes).
    pub ledger_evidence: String,
    /// The bank side's evidence (at most [`EVIDENCE_BYTES_MAX`] bytes).
    pub bank_evidence: String,
    /// The reconciliation cut-off the difference was found at (ns since the Unix epoch).
    pub cutoff: u64,
    /// Who found it (the reconciler's name; required, at most `TEXT_BYTES_MAX` bytes).
    pub actor: String,
}

/// Where a discrepancy stands.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[repr(u8)]
pub enum DiscrepancyState {
    /// Found, not yet explained: its blocks hold.
    #[default]
    Open = 0,
    /// An operator explained it (reason and actor on the record). Final.
    Resolved = 1,
}

impl DiscrepancyState {
    /// The state's one spelling (wire, CLI, reports).
    pub const fn name(self) -> &'static str {
        match self {
            DiscrepancyState::Open => "open",
            DiscrepancyState::Resolved => "resolved",
        }
    }
}

/// An operator resolves a discrepancy: it is explained (or corrected by other, audited
/// commands). Resolving lifts the outflow blocks this discrepancy set, on every account no
/// other open discrepancy still blocks and that is still outflow-blocked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResolveDiscrepancy {
    /// The discrepancy.
    pub id: u128,
    /// Why it may close (required, at most `TEXT_BYTES_MAX` bytes).
    pub reason: String,
    /// Who (required, at most `TEXT_BYTES_MAX` bytes).
    pub actor: String,
}

/// A discrepancy as stored (`Table::Discrepancies`, by id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Discrepancy {
    /// What the reconciler reported.
    pub request: NewDiscrepancy,
    /// The accounts recording this discrepancy moved from active to outflow-blocked, in
    /// request order (a subset of `request.account_ids`: one already blocked, frozen or closed
    /// was left as it was, though the discrepancy holds it all the same). Each has an audit
    /// record at `timestamp`.
    pub blocked_account_ids: Vec<u128>,
    /// Where it stands.
    pub state: DiscrepancyState,
    /// When it was recorded (the event's timestamp).
    pub timestamp: u64,
    /// When it was resolved (0 while open).
    pub resolved_at: u64,
    /// The operator's reason (empty while open).
    pub resolution: String,
    /// The operator (empty while open).
    pub resolved_by: String,
}

impl Discrepancy {
    /// True while the discrepancy holds its accounts.
    pub fn is_open(&self) -> bool {
        self.state == DiscrepancyState::Open
    }
}

/// One open discrepancy holding one account (`Table::DiscrepancyBlocks`, a set). Ordered by
/// account first, so an account's holders are one range.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct DiscrepancyBlock {
    /// The account held.
    pub account_id: u128,
    /// The open discrepancy holding it.
    pub discrepancy_id: u128,
}
