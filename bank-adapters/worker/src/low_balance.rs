//! The low-balance watch (the 2024-05-16 incident: an internal prepayment account ran short
//! and payouts were stuck). Pure: the available balance of an account, and whether a reading
//! crosses the threshold — once per crossing, and once on recovery. The loop that reads the
//! accounts each interval is in [`crate::runner`].

use tianping_ledger::Account;

/// Why an available balance cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// A posted or pending total does not fit the signed arithmetic.
    #[error("account {account_id}: a balance total overflows i128")]
    Overflow {
        /// The account.
        account_id: u128,
    },
}

/// Credits posted minus debits posted minus debits pending, signed (an account may be
/// overdrawn), every step checked.
pub fn available_balance(account: &Account) -> Result<i128, BalanceError> {
    available(account.id, account.credits_posted, account.debits_posted, account.debits_pending)
}

fn available(
    account_id: u128,
    credits_posted: u128,
    debits_posted: u128,
    debits_pending: u128,
) -> Result<i128, BalanceError> {
    let overflow = BalanceError::Overflow { account_id };
    let signed = |value: u128| i128::try_from(value).map_err(|_| overflow);
    signed(credits_posted)?
        .checked_sub(signed(debits_posted)?)
        .and_then(|balance| balance.checked_sub(signed(debits_pending).ok()?))
        .ok_or(overflow)
}

/// A change worth one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossing {
    /// The balance fell to or below the threshold.
    Fell,
    /// It rose above again.
    Recovered,
}

/// One watched account's alert state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LowBalanceState {
    low: bool,
}

impl LowBalanceState {
    /// Whether the last reading was at or below the threshold.
    pub fn is_low(&self) -> bool {
        self.low
    }

    /// Takes a reading; a crossing is reported once, not on every reading below.
    pub fn observe(&mut self, available: i128, threshold: u128) -> Option<Crossing> {
        let low = i128::try_from(threshold).map_or(true, |threshold| available <= threshold);
        let crossing = match (self.low, low) {
            (false, true) => Some(Crossing::Fell),
            (true, false) => Some(Crossing::Recovered),
            _ => None,
        };
        self.low = low;
        crossing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(
        credits_posted: u128,
        debits_posted: u128,
        debits_pending: u128,
    ) -> (u128, u128, u128) {
        (credits_posted, debits_posted, debits_pending)
    }

    fn available_balance(totals: &(u128, u128, u128)) -> Result<i128, BalanceError> {
        available(3, totals.0, totals.1, totals.2)
    }

    #[test]
    fn available_balance_is_checked_and_signed() {
        assert_eq!(available_balance(&account(1_000, 300, 200)), Ok(500));
        assert_eq!(available_balance(&account(100, 300, 200)), Ok(-400));
        let overflow = Err(BalanceError::Overflow { account_id: 3 });
        assert_eq!(available_balance(&account(u128::MAX, 0, 0)), overflow);
        let max = i128::MAX as u128;
        assert_eq!(available_balance(&account(0, max, max)), overflow);
        assert_eq!(available_balance(&account(max, 0, 0)), Ok(i128::MAX));
    }

    #[test]
    fn a_crossing_is_reported_once_each_way() {
        let mut state = LowBalanceState::default();
        let readings = [
            (10_000, None),
            (5_000, Some(Crossing::Fell)),
            (4_000, None),
            (-1, None),
            (5_001, Some(Crossing::Recovered)),
            (9_000, None),
            (5_000, Some(Crossing::Fell)),
        ];
        for (available, expected) in readings {
            assert_eq!(state.observe(available, 5_000), expected, "{available}");
        }
        assert!(state.is_low());
        // A threshold beyond i128 is always crossed.
        assert_eq!(LowBalanceState::default().observe(i128::MAX, u128::MAX), Some(Crossing::Fell));
    }
}
