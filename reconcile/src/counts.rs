//! What a matcher has seen and concluded, as counters: the figures a report and the metrics
//! show, and what the tests and the benchmark hold the matcher to.

use tianping_ledger::DiscrepancyClass;

/// Counters of one matcher (or of answers to its questions, added with
/// [`Counts::add_finding`] and [`Counts::in_flight`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Ledger movements taken in.
    pub ledger_movements: u64,
    /// Booked bank entries taken in.
    pub bank_entries: u64,
    /// Pending and information-only bank entries: not money on the account yet, not matched.
    pub bank_entries_not_booked: u64,
    /// A ledger movement and a bank entry that agree (key, amount, currency, direction).
    pub matched: u64,
    /// A payout not final in the ledger (reserved, claimed, sent, unknown): whether or not the
    /// bank shows it yet, not a difference.
    pub in_flight: u64,
    /// A failed payout the bank does not show, as it should not.
    pub failed_unpaid: u64,
    /// Matched, with the bank's value date more than `VALUE_DATE_TOLERANCE_DAYS` from the
    /// ledger's business date: none of the six classes, so counted and shown, not reported.
    pub value_date_differs: u64,
    /// Bank entries of one of our payouts that the window held no ledger movement for, handed
    /// out as questions (`PayoutQuestion`) for the caller to answer with the payout.
    pub questions: u64,
    /// Findings per class, indexed by the class's numeric value.
    pub findings: [u64; DiscrepancyClass::ALL.len()],
}

impl Counts {
    /// Findings of `class` so far.
    pub const fn findings_of(&self, class: DiscrepancyClass) -> u64 {
        self.findings[class as usize]
    }

    /// Findings of every class.
    pub fn findings_total(&self) -> u64 {
        self.findings.iter().sum()
    }

    /// Counts one finding of `class`.
    pub fn add_finding(&mut self, class: DiscrepancyClass) {
        self.findings[class as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_counted_per_class() {
        let mut counts = Counts::default();
        for (index, class) in DiscrepancyClass::ALL.into_iter().enumerate() {
            for _ in 0..=index {
                counts.add_finding(class);
            }
        }
        for (index, class) in DiscrepancyClass::ALL.into_iter().enumerate() {
            assert_eq!(counts.findings_of(class), index as u64 + 1, "{}", class.name());
        }
        assert_eq!(counts.findings_total(), 21);
    }
}
