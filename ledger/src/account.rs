//! Accounts: balances, status (blocks, freezes, closing) and outflow limits (限额限次).

use serde::{Deserialize, Serialize};

use crate::flags::AccountFlags;

/// What may move on an account. Changes are commands with a reason and an actor, and each
/// leaves an `AuditRecord`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum AccountStatus {
    /// Debits and credits allowed (subject to flags and limits).
    #[default]
    Active,
    /// Debits refused, credits allowed: set by reconciliation or an operator to stop money
    /// leaving while a discrepancy is investigated.
    OutflowBlocked,
    /// Nothing moves.
    Frozen,
    /// Final: reached only at zero balance with nothing pending; nothing moves again.
    Closed,
}

impl AccountStatus {
    /// Every status.
    pub const ALL: [AccountStatus; 4] = [
        AccountStatus::Active,
        AccountStatus::OutflowBlocked,
        AccountStatus::Frozen,
        AccountStatus::Closed,
    ];

    /// The status's one name everywhere it is shown: the wire, the CLI and reports.
    pub const fn name(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::OutflowBlocked => "outflow_blocked",
            AccountStatus::Frozen => "frozen",
            AccountStatus::Closed => "closed",
        }
    }
}

/// Outflow limits on an account's debits. `None` means unlimited. Limits count every accepted
/// debit (single-phase, pending, payout; a balancing debit clamped to zero counts too, as an
/// attempt) at the moment it is made;
/// releasing a reservation does not give the quota back, so a limit is never exceeded even
/// by reservations that later post.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limits {
    /// Largest single debit.
    pub per_transfer_amount_max: Option<u128>,
    /// Largest sum of debits within one day (in the ledger's configured UTC offset).
    pub per_day_amount_max: Option<u128>,
    /// Largest number of debits within one day.
    pub per_day_count_max: Option<u32>,
}

impl Limits {
    /// No limit at all.
    pub const NONE: Limits =
        Limits { per_transfer_amount_max: None, per_day_amount_max: None, per_day_count_max: None };
}

/// Debits counted against the daily limits, for the day they were made in. A new day starts
/// from zero; the record is kept on the account so a limit check reads nothing else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutflowUsage {
    /// Day number since the Unix epoch, in the ledger's UTC offset.
    pub day: i64,
    /// Sum of debits made that day.
    pub amount: u128,
    /// Number of debits made that day.
    pub count: u32,
}

/// An account as stored. Balances are in minor units of the account's ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    /// Client-chosen, never 0 or `u128::MAX`.
    pub id: u128,
    /// Currency / asset; transfers never cross ledgers.
    pub ledger: u32,
    /// Account type (chart-of-accounts code).
    pub code: u16,
    /// Balance constraints and history; never contains `LINKED`.
    pub flags: AccountFlags,
    /// With `DEBITS_MUST_NOT_EXCEED_CREDITS`: how far debits may exceed posted credits.
    pub credit_line: u128,
    /// Opaque client data.
    pub user_data: u128,
    /// Sum of reserved, unresolved debits.
    pub debits_pending: u128,
    /// Sum of posted debits.
    pub debits_posted: u128,
    /// Sum of reserved, unresolved credits.
    pub credits_pending: u128,
    /// Sum of posted credits.
    pub credits_posted: u128,
    /// What may move.
    pub status: AccountStatus,
    /// Timestamp of the audit record that set `status` (0 while never changed).
    pub status_changed_at: u64,
    /// Outflow limits.
    pub limits: Limits,
    /// The day (see `OutflowUsage::day`) on which `limits` were last set; usage counted
    /// earlier that day may exceed limits lowered later that day.
    pub limits_day: i64,
    /// Debits counted against today's limits.
    pub outflow_usage: OutflowUsage,
    /// When the account was created (the event's timestamp).
    pub timestamp: u64,
}

/// The client's request to create an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewAccount {
    /// Client-chosen id, the idempotency key.
    pub id: u128,
    /// Currency / asset.
    pub ledger: u32,
    /// Account type.
    pub code: u16,
    /// Flags, possibly with `LINKED`.
    pub flags: AccountFlags,
    /// Credit line (requires `DEBITS_MUST_NOT_EXCEED_CREDITS` when non-zero).
    pub credit_line: u128,
    /// Opaque client data.
    pub user_data: u128,
}

/// An account's balances at one moment, kept for accounts with the `HISTORY` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountBalance {
    /// The event that changed the balances.
    pub timestamp: u64,
    /// Balances after the event.
    pub debits_pending: u128,
    /// Balances after the event.
    pub debits_posted: u128,
    /// Balances after the event.
    pub credits_pending: u128,
    /// Balances after the event.
    pub credits_posted: u128,
}

impl Account {
    /// True when the current limits were already in force for all of `day`.
    pub fn limits_changed_before_day(&self, day: i64) -> bool {
        self.limits_day < day
    }

    /// The balance snapshot recorded for `HISTORY` accounts.
    pub fn balance_at(&self, timestamp: u64) -> AccountBalance {
        AccountBalance {
            timestamp,
            debits_pending: self.debits_pending,
            debits_posted: self.debits_posted,
            credits_pending: self.credits_pending,
            credits_posted: self.credits_posted,
        }
    }
}
