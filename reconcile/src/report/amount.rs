//! Amounts as a report shows them: integers in minor units by default, or decimals of one
//! currency when the caller knows every bank in the report moves that currency. Integer
//! arithmetic only (`bank_adapters::money::format_minor_units`); a difference is a sign and
//! a magnitude, so `bank − ledger` never overflows whatever the two `u128` amounts are.

use std::cmp::Ordering;

use tianping_bank_adapters::money::{Currency, format_minor_units};

/// How amounts are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AmountStyle {
    /// Integers in minor units (`12345`): exact for every currency, the default.
    #[default]
    MinorUnits,
    /// Decimals with the currency's exponent (`123.45` for CNY): only when every amount in
    /// the report is of this currency.
    Decimal(Currency),
}

impl AmountStyle {
    /// `minor_units` written in this style.
    pub fn format(self, minor_units: u128) -> String {
        match self {
            AmountStyle::MinorUnits => minor_units.to_string(),
            AmountStyle::Decimal(currency) => format_minor_units(minor_units, currency),
        }
    }

    /// What the amounts are in, for a report's header ("minor units", "CNY").
    pub fn unit_text(self) -> &'static str {
        match self {
            AmountStyle::MinorUnits => "minor units",
            AmountStyle::Decimal(currency) => currency.code(),
        }
    }
}

/// A signed amount as a sign and a magnitude (minor units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedAmount {
    /// True below zero (never for a zero magnitude).
    pub negative: bool,
    /// The absolute value.
    pub magnitude: u128,
}

impl SignedAmount {
    /// Written in `style` with an explicit sign unless zero (`+1`, `-100`, `0`): a difference
    /// reads as a direction at a glance.
    pub fn format(self, style: AmountStyle) -> String {
        let magnitude = style.format(self.magnitude);
        match (self.magnitude, self.negative) {
            (0, _) => magnitude,
            (_, true) => format!("-{magnitude}"),
            (_, false) => format!("+{magnitude}"),
        }
    }
}

/// The bank's amount minus the ledger's, when both sides show one: what the bank moved beyond
/// what the ledger says. `None` when a side shows no amount (a movement missing on one side:
/// its class says so, and its one amount is in its own column).
pub fn difference(ledger: Option<u128>, bank: Option<u128>) -> Option<SignedAmount> {
    let (ledger, bank) = (ledger?, bank?);
    Some(SignedAmount {
        negative: bank.cmp(&ledger) == Ordering::Less,
        magnitude: bank.abs_diff(ledger),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_bank_minus_ledger_without_overflow() {
        let text =
            |ledger, bank| difference(ledger, bank).map(|d| d.format(AmountStyle::MinorUnits));
        assert_eq!(text(Some(100), Some(101)), Some("+1".to_owned()));
        assert_eq!(text(Some(101), Some(100)), Some("-1".to_owned()));
        assert_eq!(text(Some(7), Some(7)), Some("0".to_owned()));
        assert_eq!(text(Some(100), None), None);
        assert_eq!(text(None, Some(100)), None);
        assert_eq!(text(Some(0), Some(u128::MAX)), Some(format!("+{}", u128::MAX)));
        assert_eq!(text(Some(u128::MAX), Some(0)), Some(format!("-{}", u128::MAX)));
    }

    #[test]
    fn decimals_use_the_currency_exponent() {
        let cny = AmountStyle::Decimal(Currency::Cny);
        assert_eq!(cny.format(12_345), "123.45");
        assert_eq!(AmountStyle::Decimal(Currency::Jpy).format(500), "500");
        assert_eq!(AmountStyle::Decimal(Currency::Kwd).format(1), "0.001");
        assert_eq!(SignedAmount { negative: true, magnitude: 5 }.format(cny), "-0.05");
        assert_eq!(AmountStyle::MinorUnits.format(12_345), "12345");
    }
}
