//! Money as text at the bank boundary, exactly: decimal text such as `"1234.50"` ⇄ integer
//! minor units (`123450`) for a currency with a known ISO 4217 exponent.
//!
//! Why so strict: a bank document is the one place where an amount arrives as text, and every
//! liberty a parser takes there (rounding `"0.005"`, reading `"1e3"`, accepting `"-5"` as a
//! payout) is a way to book a different amount than the bank moved. So the accepted grammar is
//! the smallest one real documents use — `digits [ "." digits ]` — and anything else is a typed
//! [`MoneyError`]:
//!
//! - more fraction digits than the currency has (`"1.005"` in CNY, `"1.0"` in JPY) — even when
//!   they are zeros, because a bank that writes them is not speaking this currency's convention
//!   and the mismatch is worth a look;
//! - a sign (`"-"`, `"+"`), an exponent (`"1e3"`), blanks anywhere, an empty integer or fraction
//!   part (`".5"`, `"5."`), any other character;
//! - a value that does not fit a `u128` of minor units.
//!
//! Fewer fraction digits than the currency has are fine (`"12.5"` CNY is 1250 fen) and leading
//! zeros are fine (`"007.50"`): both are valid `xs:decimal` and mean one value. Arithmetic is
//! checked everywhere; there are no floats in this module.

use std::fmt;

/// A currency the adapters can move, with its ISO 4217 minor-unit exponent.
///
/// Why an enum and not a three-letter string: the exponent decides how text becomes minor
/// units, so an unknown currency must be refused before any amount is read, not guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Currency {
    /// Chinese yuan renminbi, 2 decimals (fen).
    Cny,
    /// US dollar, 2 decimals.
    Usd,
    /// Euro, 2 decimals.
    Eur,
    /// Japanese yen, no decimals.
    Jpy,
    /// Hong Kong dollar, 2 decimals.
    Hkd,
    /// Pound sterling, 2 decimals.
    Gbp,
    /// Kuwaiti dinar, 3 decimals (fils).
    Kwd,
    /// Bahraini dinar, 3 decimals (fils).
    Bhd,
}

impl Currency {
    /// Every supported currency, for tests and for listing in errors.
    pub const ALL: [Currency; 8] = [
        Currency::Cny,
        Currency::Usd,
        Currency::Eur,
        Currency::Jpy,
        Currency::Hkd,
        Currency::Gbp,
        Currency::Kwd,
        Currency::Bhd,
    ];

    /// The ISO 4217 alphabetic code, as written in `Ccy` attributes and JSON bodies.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Jpy => "JPY",
            Currency::Hkd => "HKD",
            Currency::Gbp => "GBP",
            Currency::Kwd => "KWD",
            Currency::Bhd => "BHD",
        }
    }

    /// The number of fraction digits of one major unit (ISO 4217 "minor unit").
    pub const fn exponent(self) -> u32 {
        match self {
            Currency::Jpy => 0,
            Currency::Cny | Currency::Usd | Currency::Eur | Currency::Hkd | Currency::Gbp => 2,
            Currency::Kwd | Currency::Bhd => 3,
        }
    }

    /// The currency with this exact upper-case code; lower case or blanks are refused like
    /// any other unknown code, because ISO 20022 and the direct-connect bodies write codes in
    /// upper case.
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        Currency::ALL
            .into_iter()
            .find(|currency| currency.code() == code)
            .ok_or_else(|| MoneyError::UnknownCurrency { code: code.to_owned() })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

/// Why a text amount or a currency code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text was empty.
    #[error("amount is empty")]
    Empty,
    /// A leading `+` or `-`: bank amounts are magnitudes; the direction is a separate field
    /// (`CdtDbtInd`), so a sign would be a second, contradicting direction.
    #[error("amount {text:?} has a sign; amounts are unsigned (the direction is a separate field)")]
    Sign {
        /// The refused text.
        text: String,
    },
    /// An exponent (`e`/`E`): never used by banks and a classic way to misread magnitudes.
    #[error("amount {text:?} has an exponent")]
    Exponent {
        /// The refused text.
        text: String,
    },
    /// Blanks anywhere in the text.
    #[error("amount {text:?} contains whitespace")]
    Whitespace {
        /// The refused text.
        text: String,
    },
    /// A character that is not a digit or the one decimal point, or a second point.
    #[error("amount {text:?} is not a decimal number (digits with at most one '.')")]
    Malformed {
        /// The refused text.
        text: String,
    },
    /// More fraction digits than the currency has.
    #[error("amount {text:?} has {found} decimals; {currency} has {allowed}")]
    TooManyDecimals {
        /// The refused text.
        text: String,
        /// The currency it was read for.
        currency: Currency,
        /// How many fraction digits the currency allows.
        allowed: u32,
        /// How many the text had.
        found: usize,
    },
    /// The value does not fit a `u128` of minor units.
    #[error("amount {text:?} overflows u128 minor units of {currency}")]
    Overflow {
        /// The refused text.
        text: String,
        /// The currency it was read for.
        currency: Currency,
    },
    /// A currency code this crate does not know.
    #[error("unknown or unsupported currency code {code:?}")]
    UnknownCurrency {
        /// The refused code.
        code: String,
    },
}

/// Reads decimal `text` as an exact number of minor units of `currency`.
///
/// The grammar is `digit+ ( "." digit+ )?` with at most `currency.exponent()` fraction digits;
/// see the module documentation for what is refused and why.
pub fn parse_minor_units(text: &str, currency: Currency) -> Result<u128, MoneyError> {
    let owned = || text.to_owned();
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    if text.starts_with(['+', '-']) {
        return Err(MoneyError::Sign { text: owned() });
    }
    if text.contains(['e', 'E']) {
        return Err(MoneyError::Exponent { text: owned() });
    }
    if text.chars().any(char::is_whitespace) {
        return Err(MoneyError::Whitespace { text: owned() });
    }
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text, None),
    };
    let all_digits =
        |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(integer) || fraction.is_some_and(|fraction| !all_digits(fraction)) {
        return Err(MoneyError::Malformed { text: owned() });
    }
    let fraction = fraction.unwrap_or("");
    let allowed = currency.exponent();
    // `allowed` is at most 3, so the cast cannot truncate.
    if fraction.len() > allowed as usize {
        return Err(MoneyError::TooManyDecimals {
            text: owned(),
            currency,
            allowed,
            found: fraction.len(),
        });
    }
    let overflow = || MoneyError::Overflow { text: owned(), currency };
    let mut minor: u128 = 0;
    for byte in integer.bytes().chain(fraction.bytes()) {
        let digit = u128::from(byte - b'0');
        minor = minor
            .checked_mul(10)
            .and_then(|value| value.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    // Pad the missing fraction digits: "12.5" CNY is 12.50, i.e. 1250.
    for _ in fraction.len()..allowed as usize {
        minor = minor.checked_mul(10).ok_or_else(overflow)?;
    }
    Ok(minor)
}

/// Writes `minor` units of `currency` as decimal text with exactly the currency's number of
/// fraction digits (`123450` CNY → `"1234.50"`, `1234` JPY → `"1234"`). The inverse of
/// [`parse_minor_units`] for every `u128`.
pub fn format_minor_units(minor: u128, currency: Currency) -> String {
    let exponent = currency.exponent();
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10u128.pow(exponent);
    let integer = minor / scale;
    let fraction = minor % scale;
    format!("{integer}.{fraction:0width$}", width = exponent as usize)
}

/// An amount in minor units together with its currency: the only way amounts travel inside
/// this crate, so a number is never read without knowing what its units are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Minor units (fen, cents, fils, yen).
    pub minor_units: u128,
    /// The currency the minor units are of.
    pub currency: Currency,
}

impl Money {
    /// Reads a code and a text amount, as found side by side in ISO 20022 (`<Amt Ccy="CNY">`)
    /// and in direct-connect bodies.
    pub fn parse(text: &str, currency_code: &str) -> Result<Money, MoneyError> {
        let currency = Currency::from_code(currency_code)?;
        Ok(Money { minor_units: parse_minor_units(text, currency)?, currency })
    }

    /// The amount as decimal text with the currency's exact number of fraction digits.
    pub fn to_decimal_text(&self) -> String {
        format_minor_units(self.minor_units, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.to_decimal_text(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One table of (text, currency, expected): the data-driven check of the grammar.
    fn check(text: &str, currency: Currency, expected: Result<u128, &str>) {
        let got = parse_minor_units(text, currency);
        match (got, expected) {
            (Ok(value), Ok(want)) => assert_eq!(value, want, "{text:?} {currency}"),
            (Err(error), Err(kind)) => {
                let debug = format!("{error:?}");
                assert!(debug.starts_with(kind), "{text:?} {currency}: {debug} is not {kind}");
            }
            (got, want) => panic!("{text:?} {currency}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn grammar() {
        use Currency::*;
        check("1234.50", Cny, Ok(123_450));
        check("1234.5", Cny, Ok(123_450));
        check("1234", Cny, Ok(123_400));
        check("0.01", Usd, Ok(1));
        check("007.50", Eur, Ok(750));
        check("1234", Jpy, Ok(1234));
        check("1.234", Kwd, Ok(1234));
        check("1.234", Bhd, Ok(1234));
        check("0", Gbp, Ok(0));
        check("12.345", Hkd, Err("TooManyDecimals"));
        check("1.0", Jpy, Err("TooManyDecimals"));
        check("1.000", Cny, Err("TooManyDecimals"));
        check("1.2345", Kwd, Err("TooManyDecimals"));
        check("", Cny, Err("Empty"));
        check("-1.00", Cny, Err("Sign"));
        check("+1.00", Cny, Err("Sign"));
        check("1e3", Cny, Err("Exponent"));
        check("1E3", Cny, Err("Exponent"));
        check(" 1.00", Cny, Err("Whitespace"));
        check("1.00 ", Cny, Err("Whitespace"));
        check("1 000", Cny, Err("Whitespace"));
        check(".5", Cny, Err("Malformed"));
        check("5.", Cny, Err("Malformed"));
        check("1.2.3", Cny, Err("Malformed"));
        check("1,00", Cny, Err("Malformed"));
        check("0x10", Cny, Err("Malformed"));
        check("١٢", Cny, Err("Malformed"));
        // u128::MAX = 340282366920938463463374607431768211455.
        check("340282366920938463463374607431768211455", Jpy, Ok(u128::MAX));
        check("340282366920938463463374607431768211456", Jpy, Err("Overflow"));
        check("3402823669209384634633746074317682114.55", Cny, Ok(u128::MAX));
        check("3402823669209384634633746074317682114.56", Cny, Err("Overflow"));
        // Padding the fraction can overflow too.
        check("3402823669209384634633746074317682115", Cny, Err("Overflow"));
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(format_minor_units(123_450, Currency::Cny), "1234.50");
        assert_eq!(format_minor_units(5, Currency::Usd), "0.05");
        assert_eq!(format_minor_units(1234, Currency::Jpy), "1234");
        assert_eq!(format_minor_units(1, Currency::Kwd), "0.001");
        assert_eq!(
            format_minor_units(u128::MAX, Currency::Cny),
            "3402823669209384634633746074317682114.55"
        );
    }

    #[test]
    fn currency_codes_are_exact() {
        for currency in Currency::ALL {
            assert_eq!(Currency::from_code(currency.code()), Ok(currency));
        }
        assert!(Currency::from_code("cny").is_err());
        assert!(Currency::from_code("XXX").is_err());
        assert_eq!(Money::parse("1.5", "KWD").map(|money| money.minor_units), Ok(1500));
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(Currency::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn every_u128_round_trips(minor in any::<u128>(), currency in any_currency()) {
            let text = format_minor_units(minor, currency);
            prop_assert_eq!(parse_minor_units(&text, currency), Ok(minor));
        }

        #[test]
        fn text_round_trips_to_its_canonical_form(
            integer in "[0-9]{1,20}",
            fraction in "[0-9]{0,3}",
            currency in any_currency(),
        ) {
            let text = if fraction.is_empty() { integer.clone() } else { format!("{integer}.{fraction}") };
            match parse_minor_units(&text, currency) {
                Ok(minor) => {
                    prop_assert!(fraction.len() <= currency.exponent() as usize);
                    // Same value once leading zeros and missing fraction digits are normalized.
                    let canonical = format_minor_units(minor, currency);
                    prop_assert_eq!(parse_minor_units(&canonical, currency), Ok(minor));
                    let trimmed = integer.trim_start_matches('0');
                    let expected_integer = if trimmed.is_empty() { "0" } else { trimmed };
                    prop_assert!(canonical.starts_with(expected_integer));
                }
                Err(MoneyError::TooManyDecimals { found, .. }) => {
                    prop_assert!(found > currency.exponent() as usize);
                }
                Err(other) => prop_assert!(false, "{text:?}: {other}"),
            }
        }

        #[test]
        fn arbitrary_text_never_panics_and_accepts_only_the_grammar(text in "\\PC{0,12}", currency in any_currency()) {
            if let Ok(minor) = parse_minor_units(&text, currency) {
                prop_assert!(text.bytes().all(|byte| byte.is_ascii_digit() || byte == b'.'));
                let again = format_minor_units(minor, currency);
                prop_assert_eq!(parse_minor_units(&again, currency), Ok(minor));
            }
        }
    }
}
