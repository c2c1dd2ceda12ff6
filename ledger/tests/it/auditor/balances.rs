//! Balances as numbers that cannot wrap, and the balance rules of DESIGN §3 stated as what
//! must hold *after* a movement: a column still fits in `u128`, debits (pending included)
//! stay within posted credits plus the credit line, credits within posted debits.

use tianping_ledger::{Account, AccountFlags};

/// A sum of `u128` values that cannot overflow (130 bits and more). Ordered by value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wide {
    high: u64,
    low: u128,
}

impl Wide {
    /// `value`, widened.
    pub const fn of(value: u128) -> Wide {
        Wide { high: 0, low: value }
    }

    /// Adds `value` in place.
    pub fn add(&mut self, value: u128) {
        let (low, carry) = self.low.overflowing_add(value);
        self.low = low;
        self.high += u64::from(carry);
    }

    /// `self + value`.
    pub fn plus(mut self, value: u128) -> Wide {
        self.add(value);
        self
    }

    /// Whether the sum is still a `u128`.
    pub fn fits(self) -> bool {
        self.high == 0
    }

    /// `self - other` when positive, else zero; capped at `u128::MAX`.
    pub fn excess_over(self, other: Wide) -> u128 {
        if self <= other {
            return 0;
        }
        let (low, borrow) = self.low.overflowing_sub(other.low);
        let high = self.high - other.high - u64::from(borrow);
        if high == 0 { low } else { u128::MAX }
    }
}

/// Whether `balance + amount` no longer fits a balance column.
pub fn column_overflows(balance: u128, amount: u128) -> bool {
    !Wide::of(balance).plus(amount).fits()
}

/// Every debit of `account`, pending and posted, with `amount` more.
pub fn debits_with(account: &Account, amount: u128) -> Wide {
    Wide::of(account.debits_pending).plus(account.debits_posted).plus(amount)
}

/// Every credit of `account`, pending and posted, with `amount` more.
pub fn credits_with(account: &Account, amount: u128) -> Wide {
    Wide::of(account.credits_pending).plus(account.credits_posted).plus(amount)
}

/// What debits may reach on `account`: posted credits plus the credit line.
fn debit_ceiling(account: &Account) -> Wide {
    Wide::of(account.credits_posted).plus(account.credit_line)
}

/// A `debits_must_not_exceed_credits` account would be overdrawn by `amount` more debits.
pub fn overdrawn_by_debit(account: &Account, amount: u128) -> bool {
    account.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && debits_with(account, amount) > debit_ceiling(account)
}

/// A `credits_must_not_exceed_debits` account would be over-credited by `amount` more.
pub fn overcredited_by_credit(account: &Account, amount: u128) -> bool {
    account.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        && credits_with(account, amount) > Wide::of(account.debits_posted)
}

/// Whether a posted credit of `amount` would be refused: a column or the total would
/// overflow, or the account would be over-credited.
pub fn refuses_posted_credit(account: &Account, amount: u128) -> bool {
    column_overflows(account.credits_posted, amount)
        || !credits_with(account, amount).fits()
        || overcredited_by_credit(account, amount)
}

/// The largest debit `account` can take and stay within its ceiling while its debits stay
/// representable (the amount a balancing debit is clamped to).
pub fn debit_room(account: &Account) -> u128 {
    let ceiling = debit_ceiling(account).min(Wide::of(u128::MAX));
    ceiling.excess_over(debits_with(account, 0))
}

/// The largest credit `account` can take and keep its credits within its posted debits.
pub fn credit_room(account: &Account) -> u128 {
    Wide::of(account.debits_posted).excess_over(credits_with(account, 0))
}

/// Nothing pending either way and posted debits equal posted credits: the only balance an
/// account may be closed at.
pub fn settled(account: &Account) -> bool {
    debits_with(account, 0) == credits_with(account, 0)
        && account.debits_pending == 0
        && account.credits_pending == 0
}
