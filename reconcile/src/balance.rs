//! The balance check (账证核对): one bank account, one cut-off, the bank's reported balance
//! against what the ledger explains.
//!
//! The ledger mirrors a bank account with two accounts: bank-in-transit, credited by every
//! payout the ledger posted as paid, and bank-settlement, debited by every collection (and
//! returned payout) booked from the bank. So at a cut-off the bank's balance should be
//!
//! ```text
//! explained = opening baseline
//!           + settlement (debits_posted − credits_posted)      money the ledger booked in
//!           − in-transit (credits_posted − debits_posted)      money the ledger booked out
//!           − payouts in flight the bank says it executed       out at the bank, not yet posted
//!           + credits the bank booked within the lateness       in at the bank, not yet booked
//!             that the ledger has not booked yet
//! ```
//!
//! and `bank − explained` is the unexplained difference; anything but zero is a
//! `balance_mismatch` finding with both sides' evidence. Payouts in flight the bank has not
//! executed are listed in the evidence and move nothing (neither side has moved). A credit
//! the ledger has not booked for longer than the lateness is not explained: it is part of the
//! difference, and the evidence names it.
//!
//! Exact integer arithmetic: every sum is checked, and an overflow is an error value, never a
//! wrap.

use tianping_bank_adapters::gateway::{Balance, Direction};
use tianping_bank_adapters::money::Currency;
use tianping_ledger::discrepancy::DISCREPANCY_ACCOUNTS_MAX;
use tianping_ledger::{Account, DiscrepancyClass};

use crate::evidence::{amount_text, instant_text};
use crate::finding::Finding;
use crate::keys::FindingKey;

/// The posted sums of one ledger account the mirror is made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PostedSums {
    /// Sum of posted debits.
    pub debits_posted: u128,
    /// Sum of posted credits.
    pub credits_posted: u128,
}

impl PostedSums {
    /// The posted sums of a stored account (pending amounts are payouts in flight, accounted
    /// for one by one instead).
    pub const fn of(account: &Account) -> PostedSums {
        PostedSums { debits_posted: account.debits_posted, credits_posted: account.credits_posted }
    }
}

/// What the bank's instruction record says of a payout the ledger holds as not final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtBank {
    /// The bank executed it: the money has left the bank account.
    Executed,
    /// The bank has not executed it (not received, pending, or rejected): nothing has left.
    NotExecuted,
}

/// A payout not final in the ledger at the cut-off, with what the bank says of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InFlightPayout {
    /// The payout.
    pub payout_id: u128,
    /// Its amount, in minor units.
    pub amount: u128,
    /// The bank's record.
    pub at_bank: AtBank,
}

/// A credit on the bank account the ledger has not booked (yet).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnbookedCredit {
    /// The bank's reference.
    pub bank_reference: String,
    /// The amount, in minor units.
    pub amount: u128,
    /// When the bank booked it (ns).
    pub booked_at: u64,
}

/// Everything one balance check looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceInput<'a> {
    /// The bank.
    pub bank: u32,
    /// The account number at the bank.
    pub account: &'a str,
    /// The account's currency.
    pub currency: Currency,
    /// The cut-off every figure is at (ns).
    pub cutoff: u64,
    /// How long a bank credit may wait to be booked before it counts as unexplained (ns).
    pub lateness_ns: u64,
    /// The bank's reported balance at the cut-off.
    pub bank_balance: Balance,
    /// The bank's balance when the ledger's mirror accounts were at zero (configured when the
    /// account was taken on), signed: negative for an overdrawn start.
    pub opening_baseline: i128,
    /// The bank-settlement account's posted sums.
    pub settlement: PostedSums,
    /// The bank-in-transit account's posted sums.
    pub in_transit: PostedSums,
    /// Payouts not final in the ledger at the cut-off, with the bank's word on each.
    pub in_flight: &'a [InFlightPayout],
    /// Credits the bank booked up to the cut-off that the ledger has not booked.
    pub unbooked_credits: &'a [UnbookedCredit],
    /// The ledger accounts an unexplained difference outflow-blocks (configured per bank
    /// account; at most `DISCREPANCY_ACCOUNTS_MAX`, possibly none: a balance difference
    /// belongs to no one customer).
    pub block_account_ids: &'a [u128],
}

/// Why a balance check could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// A sum left the range of exact arithmetic.
    #[error("the balance check overflowed while adding {what}")]
    Overflow {
        /// Which figure.
        what: &'static str,
    },
    /// The bank reported the balance in another currency.
    #[error("the bank's balance is in {bank}, the account is in {account}")]
    Currency {
        /// The balance's currency.
        bank: Currency,
        /// The account's currency.
        account: Currency,
    },
    /// More accounts to block than one discrepancy may hold.
    #[error("{count} accounts to block; a discrepancy blocks at most {DISCREPANCY_ACCOUNTS_MAX}")]
    TooManyAccounts {
        /// How many were configured.
        count: usize,
    },
}

/// The figures of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceReport {
    /// The bank's balance, signed.
    pub bank: i128,
    /// The ledger's mirror: baseline + settlement net − in-transit net.
    pub mirror: i128,
    /// Payouts in flight the bank executed: count and sum.
    pub executed_in_flight: (u64, u128),
    /// Payouts in flight the bank has not executed: count and sum (listed, not counted).
    pub pending_in_flight: (u64, u128),
    /// Credits within the lateness the ledger has not booked yet: count and sum.
    pub recent_unbooked: (u64, u128),
    /// Credits unbooked for longer than the lateness: count and sum (not explained).
    pub stale_unbooked: (u64, u128),
    /// What the ledger explains: mirror − executed in flight + recent unbooked.
    pub explained: i128,
    /// `bank − explained`.
    pub unexplained: i128,
    /// The finding, when `unexplained` is not zero.
    pub finding: Option<Finding>,
}

/// The balance check of one bank account at one cut-off.
pub fn check_balance(input: &BalanceInput<'_>) -> Result<BalanceReport, BalanceError> {
    if input.bank_balance.amount.currency != input.currency {
        return Err(BalanceError::Currency {
            bank: input.bank_balance.amount.currency,
            account: input.currency,
        });
    }
    if input.block_account_ids.len() > DISCREPANCY_ACCOUNTS_MAX {
        return Err(BalanceError::TooManyAccounts { count: input.block_account_ids.len() });
    }
    let bank = signed(input.bank_balance)?;
    let settlement_net = net(input.settlement.debits_posted, input.settlement.credits_posted)?;
    let in_transit_net = net(input.in_transit.credits_posted, input.in_transit.debits_posted)?;
    let mirror = add(input.opening_baseline, settlement_net, "the settlement account")?;
    let mirror = add(mirror, negate(in_transit_net)?, "the in-transit account")?;

    let mut executed_in_flight = (0u64, 0u128);
    let mut pending_in_flight = (0u64, 0u128);
    for payout in input.in_flight {
        let tally = match payout.at_bank {
            AtBank::Executed => &mut executed_in_flight,
            AtBank::NotExecuted => &mut pending_in_flight,
        };
        tally_add(tally, payout.amount, "payouts in flight")?;
    }
    let oldest_excused = input.cutoff.saturating_sub(input.lateness_ns);
    let mut recent_unbooked = (0u64, 0u128);
    let mut stale_unbooked = (0u64, 0u128);
    for credit in input.unbooked_credits {
        let tally = if credit.booked_at >= oldest_excused {
            &mut recent_unbooked
        } else {
            &mut stale_unbooked
        };
        tally_add(tally, credit.amount, "unbooked credits")?;
    }
    let explained = add(mirror, negate(to_signed(executed_in_flight.1)?)?, "payouts in flight")?;
    let explained = add(explained, to_signed(recent_unbooked.1)?, "unbooked credits")?;
    let unexplained = bank
        .checked_sub(explained)
        .ok_or(BalanceError::Overflow { what: "the unexplained difference" })?;
    let mut report = BalanceReport {
        bank,
        mirror,
        executed_in_flight,
        pending_in_flight,
        recent_unbooked,
        stale_unbooked,
        explained,
        unexplained,
        finding: None,
    };
    if unexplained != 0 {
        report.finding = Some(finding(input, &report));
    }
    Ok(report)
}

/// The balance-mismatch finding of a report.
fn finding(input: &BalanceInput<'_>, report: &BalanceReport) -> Finding {
    let money = |minor_units: u128| amount_text(minor_units, input.currency);
    let signed_money = |value: i128| {
        let sign = if value < 0 { "-" } else { "" };
        format!("{sign}{}", money(value.unsigned_abs()))
    };
    let mut stale = String::new();
    for credit in input.unbooked_credits {
        if credit.booked_at < input.cutoff.saturating_sub(input.lateness_ns) {
            stale.push_str(&format!(
                "; unbooked since {}: {} {}",
                instant_text(credit.booked_at),
                credit.bank_reference,
                money(credit.amount)
            ));
        }
    }
    let ledger_evidence = format!(
        "at {}: explained {} = mirror {} (baseline {}, settlement net {}, in-transit net {}) \
         - {} executed in flight ({}) + {} credits not yet booked ({}); \
         {} in flight not executed ({}); {} credits unbooked past the lateness ({}){stale}",
        instant_text(input.cutoff),
        signed_money(report.explained),
        signed_money(report.mirror),
        signed_money(input.opening_baseline),
        signed_money(net_for_text(input.settlement.debits_posted, input.settlement.credits_posted)),
        signed_money(net_for_text(input.in_transit.credits_posted, input.in_transit.debits_posted)),
        report.executed_in_flight.0,
        money(report.executed_in_flight.1),
        report.recent_unbooked.0,
        money(report.recent_unbooked.1),
        report.pending_in_flight.0,
        money(report.pending_in_flight.1),
        report.stale_unbooked.0,
        money(report.stale_unbooked.1),
    );
    let bank_evidence = format!(
        "account {} balance {} on {}; unexplained {}",
        input.account,
        signed_money(report.bank),
        input.bank_balance.date,
        signed_money(report.unexplained)
    );
    Finding {
        bank: input.bank,
        class: DiscrepancyClass::BalanceMismatch,
        key: FindingKey::BankAccount(input.account.to_owned()),
        bank_reference: None,
        ledger_amount: u128::try_from(report.explained).ok(),
        bank_amount: u128::try_from(report.bank).ok(),
        unexplained: Some(report.unexplained),
        ledger_evidence,
        bank_evidence,
        account_ids: input.block_account_ids.to_vec(),
        at: input.cutoff,
    }
}

/// A statement balance as a signed number: negative when overdrawn (`DBIT`).
fn signed(balance: Balance) -> Result<i128, BalanceError> {
    let magnitude = to_signed(balance.amount.minor_units)?;
    match balance.direction {
        Direction::Credit => Ok(magnitude),
        Direction::Debit => negate(magnitude),
    }
}

/// `plus − minus` of two unsigned sums, exactly.
fn net(plus: u128, minus: u128) -> Result<i128, BalanceError> {
    add(to_signed(plus)?, negate(to_signed(minus)?)?, "an account's net movement")
}

/// The same net for the evidence text, which was computed exactly already (0 if not: the
/// check would have returned the overflow before writing any text).
fn net_for_text(plus: u128, minus: u128) -> i128 {
    net(plus, minus).unwrap_or(0)
}

fn to_signed(value: u128) -> Result<i128, BalanceError> {
    i128::try_from(value).map_err(|_| BalanceError::Overflow { what: "an amount past i128" })
}

fn negate(value: i128) -> Result<i128, BalanceError> {
    value.checked_neg().ok_or(BalanceError::Overflow { what: "a negation" })
}

fn add(left: i128, right: i128, what: &'static str) -> Result<i128, BalanceError> {
    left.checked_add(right).ok_or(BalanceError::Overflow { what })
}

fn tally_add(
    tally: &mut (u64, u128),
    amount: u128,
    what: &'static str,
) -> Result<(), BalanceError> {
    tally.0 = tally.0.checked_add(1).ok_or(BalanceError::Overflow { what })?;
    tally.1 = tally.1.checked_add(amount).ok_or(BalanceError::Overflow { what })?;
    Ok(())
}

#[cfg(test)]
mod tests;
