//! What a pass found, for `tianping reconcile run` to print and to set its exit status by.

use std::fmt;

use tianping_bank_adapters::money::Currency;
use tianping_ledger::DiscrepancyClass;

use crate::balance::BalanceError;
use crate::counts::Counts;
use crate::evidence::amount_text;
use crate::service::report::Recorded;

/// Why a period made no balance check. Never a finding: a check from a partial read could
/// report a difference that is not there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BalanceSkip {
    /// The ledger stream could not be read to its end this period (a backlog, or a window
    /// that is full).
    NotCaughtUp,
    /// The mirror accounts kept moving in ways the stream could not place, every attempt.
    LedgerMoving,
    /// A configured mirror account does not exist in the ledger.
    MirrorAccountMissing,
    /// The statement had no closing booked balance.
    NoClosingBalance,
    /// The statement was not taken this period: the matching window is full.
    WindowFull,
    /// The check itself refused (another currency, an overflow).
    Refused(BalanceError),
}

impl BalanceSkip {
    /// The metric label.
    pub const fn label(&self) -> &'static str {
        match self {
            BalanceSkip::NotCaughtUp => "not_caught_up",
            BalanceSkip::LedgerMoving => "ledger_moving",
            BalanceSkip::MirrorAccountMissing => "mirror_account_missing",
            BalanceSkip::NoClosingBalance => "no_closing_balance",
            BalanceSkip::WindowFull => "window_full",
            BalanceSkip::Refused(_) => "refused",
        }
    }
}

impl fmt::Display for BalanceSkip {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BalanceSkip::NotCaughtUp => write!(formatter, "the ledger stream is not caught up"),
            BalanceSkip::LedgerMoving => {
                write!(formatter, "the mirror accounts moved while read, every attempt")
            }
            BalanceSkip::MirrorAccountMissing => {
                write!(formatter, "a mirror account does not exist in the ledger")
            }
            BalanceSkip::NoClosingBalance => {
                write!(formatter, "the statement has no closing booked balance")
            }
            BalanceSkip::WindowFull => write!(formatter, "the matching window is full"),
            BalanceSkip::Refused(error) => write!(formatter, "{error}"),
        }
    }
}

/// The balance check of a period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BalanceOutcome {
    /// No period got as far (the bank or the ledger was unreachable).
    #[default]
    NotRun,
    /// Made.
    Checked {
        /// The bank's balance (minor units, signed).
        bank: i128,
        /// What the ledger explains.
        explained: i128,
        /// `bank − explained`: anything but zero is a `balance_mismatch`.
        unexplained: i128,
        /// Payouts the bank executed that the ledger had not made final at the cut-off.
        in_flight: u64,
    },
    /// Not made, and why.
    Skipped(BalanceSkip),
}

/// One bank's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankSummary {
    /// The bank.
    pub bank: u32,
    /// The account's currency, for the amounts.
    pub currency: Currency,
    /// What the matcher saw and concluded so far.
    pub counts: Counts,
    /// Items still waiting in the window (not yet decided: younger than the lateness).
    pub window_items: usize,
    /// Collections the ledger booked to the suspense account (nobody could take them): not a
    /// difference with the bank, a queue for the operator's suspense desk.
    pub collections_to_suspense: u64,
    /// `missing_at_bank` findings within a lateness of the stream's start, not reported (their
    /// entry may be on the day before the first statement read).
    pub not_reported_at_start: u64,
    /// Differences found, by class (indexed by the class's number).
    pub findings: [u64; DiscrepancyClass::ALL.len()],
    /// How their reports ended.
    pub recorded: Recorded,
    /// Reports not recorded yet (the ledger was unreachable).
    pub pending_reports: usize,
    /// The last balance check.
    pub balance: BalanceOutcome,
    /// Why the last period failed, if it did.
    pub failure: Option<String>,
}

impl BankSummary {
    /// Differences found.
    pub fn findings_total(&self) -> u64 {
        self.findings.iter().sum()
    }
}

/// What one pass over every bank found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// One per configured bank, in configuration order.
    pub banks: Vec<BankSummary>,
}

impl Summary {
    /// Differences found, over every bank.
    pub fn findings(&self) -> u64 {
        self.banks.iter().map(BankSummary::findings_total).sum()
    }

    /// Banks whose pass failed.
    pub fn failures(&self) -> usize {
        self.banks.iter().filter(|bank| bank.failure.is_some()).count()
    }

    /// No difference found and every bank reconciled: `tianping reconcile run` exits 0.
    pub fn is_clean(&self) -> bool {
        self.findings() == 0 && self.failures() == 0
    }
}

fn signed_text(value: i128, currency: Currency) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}", amount_text(value.unsigned_abs(), currency))
}

impl fmt::Display for Summary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for bank in &self.banks {
            let counts = &bank.counts;
            writeln!(
                formatter,
                "bank {}: {} ledger movements, {} bank entries ({} not booked), {} matched, {} in flight, {} waiting in the window",
                bank.bank,
                counts.ledger_movements,
                counts.bank_entries,
                counts.bank_entries_not_booked,
                counts.matched,
                counts.in_flight,
                bank.window_items
            )?;
            let found: Vec<String> = DiscrepancyClass::ALL
                .into_iter()
                .filter(|class| bank.findings[*class as usize] > 0)
                .map(|class| format!("{} {}", class.name(), bank.findings[class as usize]))
                .collect();
            if found.is_empty() {
                writeln!(formatter, "  findings: none")?;
            } else {
                writeln!(
                    formatter,
                    "  findings: {} (recorded {} new, {} already, {} refused; {} pending)",
                    found.join(", "),
                    bank.recorded.new,
                    bank.recorded.existing,
                    bank.recorded.refused,
                    bank.pending_reports
                )?;
            }
            match &bank.balance {
                BalanceOutcome::NotRun => writeln!(formatter, "  balance: not checked")?,
                BalanceOutcome::Checked { bank: at_bank, explained, unexplained, in_flight } => {
                    writeln!(
                        formatter,
                        "  balance: bank {}, ledger explains {} ({} payouts in flight), unexplained {}",
                        signed_text(*at_bank, bank.currency),
                        signed_text(*explained, bank.currency),
                        in_flight,
                        signed_text(*unexplained, bank.currency)
                    )?;
                }
                BalanceOutcome::Skipped(reason) => {
                    writeln!(formatter, "  balance: not checked: {reason}")?;
                }
            }
            if bank.collections_to_suspense > 0 || bank.not_reported_at_start > 0 {
                writeln!(
                    formatter,
                    "  {} collections booked to suspense; {} missing_at_bank at the start's edge not reported",
                    bank.collections_to_suspense, bank.not_reported_at_start
                )?;
            }
            if let Some(failure) = &bank.failure {
                writeln!(formatter, "  FAILED: {failure}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank(findings: u64, failure: Option<&str>) -> BankSummary {
        let mut summary = BankSummary {
            bank: 1,
            currency: Currency::Cny,
            counts: Counts::default(),
            window_items: 0,
            collections_to_suspense: 0,
            not_reported_at_start: 0,
            findings: [0; DiscrepancyClass::ALL.len()],
            recorded: Recorded::default(),
            pending_reports: 0,
            balance: BalanceOutcome::Checked {
                bank: 100,
                explained: 101,
                unexplained: -1,
                in_flight: 0,
            },
            failure: failure.map(str::to_owned),
        };
        summary.findings[DiscrepancyClass::BalanceMismatch as usize] = findings;
        summary
    }

    #[test]
    fn a_pass_is_clean_only_without_findings_and_failures() {
        assert!(Summary { banks: vec![bank(0, None)] }.is_clean());
        assert!(!Summary { banks: vec![bank(1, None)] }.is_clean());
        assert!(!Summary { banks: vec![bank(0, Some("bank: down"))] }.is_clean());
        let text = Summary { banks: vec![bank(1, Some("bank: down"))] }.to_string();
        assert!(text.contains("balance_mismatch 1"), "{text}");
        assert!(text.contains("unexplained -0.01 CNY"), "{text}");
        assert!(text.contains("FAILED: bank: down"), "{text}");
    }
}
