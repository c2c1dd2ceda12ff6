//! What every money movement a client starts (a transfer, a pending transfer, a payout's
//! reservation) must satisfy once the request itself is well formed, as ordered rules over
//! the two accounts it would touch, and its effect on them.

use tianping_ledger::{Account, AccountStatus, OutflowUsage, ResultCode as R};

use super::balances::{column_overflows, credits_with, debits_with};
use super::balances::{overcredited_by_credit, overdrawn_by_debit};
use super::rules::{Ground::State, Rule, rule};
use super::{Auditor, Wide};

/// The facts a movement is judged on, gathered before any rule runs.
pub struct Situation {
    /// The account money would leave, if it exists.
    pub debit: Option<Account>,
    /// The account money would reach, if it exists.
    pub credit: Option<Account>,
    /// The ledger the request names.
    pub ledger: u32,
    /// The amount that would move (after a balancing clamp).
    pub amount: u128,
    /// A reservation (pending columns) rather than a posting.
    pub reserve: bool,
    /// The day the daily limits count in.
    pub day: i64,
    /// When a reservation would expire: `Some(0)` never, `None` past the end of time.
    pub expires_at: Option<u64>,
}

impl Situation {
    fn payer(&self) -> &Account {
        self.debit.as_ref().expect("the lookup rules come before any rule on the payer")
    }

    fn payee(&self) -> &Account {
        self.credit.as_ref().expect("the lookup rules come before any rule on the payee")
    }

    /// The payer's usage already counted on this movement's day.
    fn used_today(&self) -> (u128, u32) {
        let usage = self.payer().outflow_usage;
        if usage.day == self.day { (usage.amount, usage.count) } else { (0, 0) }
    }

    /// The balance column the movement adds to on the payer and on the payee.
    fn columns(&self) -> (u128, u128) {
        let (payer, payee) = (self.payer(), self.payee());
        if self.reserve {
            (payer.debits_pending, payee.credits_pending)
        } else {
            (payer.debits_posted, payee.credits_posted)
        }
    }
}

/// Both accounts exist and share the request's ledger.
pub const LOOKUP: &[Rule<Situation>] = &[
    rule(R::DebitAccountNotFound, State, |s| s.debit.is_none()),
    rule(R::CreditAccountNotFound, State, |s| s.credit.is_none()),
    rule(R::AccountsMustHaveTheSameLedger, State, |s| s.payer().ledger != s.payee().ledger),
    rule(R::TransferMustHaveTheSameLedgerAsAccounts, State, |s| s.payer().ledger != s.ledger),
];

/// Frozen and closed accounts move nothing; an outflow block stops money leaving only.
pub const STATUS: &[Rule<Situation>] = &[
    rule(R::DebitAccountFrozen, State, |s| s.payer().status == AccountStatus::Frozen),
    rule(R::DebitAccountClosed, State, |s| s.payer().status == AccountStatus::Closed),
    rule(R::DebitAccountOutflowBlocked, State, |s| {
        s.payer().status == AccountStatus::OutflowBlocked
    }),
    rule(R::CreditAccountFrozen, State, |s| s.payee().status == AccountStatus::Frozen),
    rule(R::CreditAccountClosed, State, |s| s.payee().status == AccountStatus::Closed),
];

/// The payer's outflow limits, counting this movement (an overflowing sum passes any limit).
pub const LIMITS: &[Rule<Situation>] = &[
    rule(R::ExceedsPerTransferLimit, State, |s| {
        s.payer().limits.per_transfer_amount_max.is_some_and(|most| s.amount > most)
    }),
    rule(R::ExceedsDailyAmountLimit, State, |s| {
        let today = Wide::of(s.used_today().0).plus(s.amount);
        s.payer().limits.per_day_amount_max.is_some_and(|most| today > Wide::of(most))
    }),
    rule(R::ExceedsDailyCountLimit, State, |s| {
        let today = u64::from(s.used_today().1) + 1;
        s.payer().limits.per_day_count_max.is_some_and(|most| today > u64::from(most))
    }),
];

/// After the movement every column still fits and no must-not-exceed flag is broken;
/// a reservation's deadline is a time the clock can reach.
pub const BALANCES: &[Rule<Situation>] = &[
    rule(R::OverflowsDebitsPending, State, |s| {
        s.reserve && column_overflows(s.columns().0, s.amount)
    }),
    rule(R::OverflowsDebitsPosted, State, |s| {
        !s.reserve && column_overflows(s.columns().0, s.amount)
    }),
    rule(R::OverflowsDebits, State, |s| !debits_with(s.payer(), s.amount).fits()),
    rule(R::ExceedsCredits, State, |s| overdrawn_by_debit(s.payer(), s.amount)),
    rule(R::OverflowsCreditsPending, State, |s| {
        s.reserve && column_overflows(s.columns().1, s.amount)
    }),
    rule(R::OverflowsCreditsPosted, State, |s| {
        !s.reserve && column_overflows(s.columns().1, s.amount)
    }),
    rule(R::OverflowsCredits, State, |s| !credits_with(s.payee(), s.amount).fits()),
    rule(R::ExceedsDebits, State, |s| overcredited_by_credit(s.payee(), s.amount)),
    rule(R::OverflowsTimeout, State, |s| s.expires_at.is_none()),
];

/// Posting a reservation moves it from the pending to the posted columns: only the posted
/// columns can overflow (the totals do not grow).
pub const POSTING: &[Rule<Situation>] = &[
    rule(R::OverflowsDebitsPosted, State, |s| column_overflows(s.payer().debits_posted, s.amount)),
    rule(R::OverflowsCreditsPosted, State, |s| {
        column_overflows(s.payee().credits_posted, s.amount)
    }),
];

/// Every rule a new movement must pass, in the documented order.
pub const NEW_MOVEMENT: &[&[Rule<Situation>]] = &[LOOKUP, STATUS, LIMITS, BALANCES];

impl Auditor {
    /// Moves the money of an accepted movement and counts it against the payer's limits.
    pub(super) fn move_money(&mut self, situation: &Situation, timestamp: u64) {
        let (used_amount, used_count) = situation.used_today();
        let amount = situation.amount;
        let mut payer = *situation.payer();
        let mut payee = *situation.payee();
        payer.outflow_usage = OutflowUsage {
            day: situation.day,
            amount: used_amount.saturating_add(amount),
            count: used_count.saturating_add(1),
        };
        let (payer_column, payee_column) = if situation.reserve {
            (&mut payer.debits_pending, &mut payee.credits_pending)
        } else {
            (&mut payer.debits_posted, &mut payee.credits_posted)
        };
        *payer_column += amount;
        *payee_column += amount;
        self.store_moved(payer, timestamp);
        self.store_moved(payee, timestamp);
    }
}
