//! Calendar dates and UTC instants as bank documents write them (`2024-05-16`,
//! `2024-05-16T09:30:00.000Z`), converted from and to Unix milliseconds without a clock read
//! and without a date-time dependency.
//!
//! Why here: booking and value dates decide which day's statement a movement belongs to, so
//! they are parsed strictly (a real calendar date, four-digit year) instead of being carried
//! as free text; and every instant is passed in by the caller, so the simulation can drive
//! time.

use std::fmt;

/// Why a date or date-time text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Not `YYYY-MM-DD`, or not a day of the Gregorian calendar (`2024-02-30`).
    #[error("{text:?} is not a calendar date YYYY-MM-DD")]
    BadDate {
        /// The refused text.
        text: String,
    },
}

/// A Gregorian calendar date (years 1..=9999, as `xs:date` in ISO 20022 documents uses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Days in `month` of `year` (proleptic Gregorian).
fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// The date, if it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Reads exactly `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date, CalendarError> {
        let bad = || CalendarError::BadDate { text: text.to_owned() };
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let number = |range: std::ops::Range<usize>| -> Result<u16, CalendarError> {
            let part = text.get(range).ok_or_else(bad)?;
            if !part.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u16>().map_err(|_| bad())
        };
        let year = number(0..4)?;
        let month = u8::try_from(number(5..7)?).map_err(|_| bad())?;
        let day = u8::try_from(number(8..10)?).map_err(|_| bad())?;
        Date::new(year, month, day).ok_or_else(bad)
    }

    /// The UTC calendar date of a Unix instant in milliseconds (years past 9999 clamp to
    /// 9999-12-31, which no real clock reaches).
    pub fn from_unix_ms(unix_ms: u64) -> Date {
        let days = unix_ms / 86_400_000;
        civil_from_days(days).unwrap_or(Date { year: 9999, month: 12, day: 31 })
    }

    /// The Unix instant in milliseconds at which this UTC day begins (`None` before 1970):
    /// the inverse of [`Date::from_unix_ms`], for callers that turn a statement's day back
    /// into the instants it covers (the reconciler, which reads the ledger from the start of
    /// the first statement day it fetches).
    pub fn start_unix_ms(&self) -> Option<u64> {
        days_from_civil(*self).map(|days| days * 86_400_000)
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month, 1..=31.
    pub fn day(&self) -> u8 {
        self.day
    }
}

/// The Gregorian date `days` after 1970-01-01: the era/day-of-era method (400-year cycles of
/// 146 097 days, years counted from March so the leap day falls last).
fn civil_from_days(days: u64) -> Option<Date> {
    let shifted = days.checked_add(719_468)?; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    Date::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
}

/// The days from 1970-01-01 to `date` (`None` before 1970): [`civil_from_days`] backwards,
/// by the same era/day-of-era method.
fn days_from_civil(date: Date) -> Option<u64> {
    let year = u64::from(date.year) - u64::from(date.month <= 2);
    let era = year / 400;
    let year_of_era = year % 400;
    let month_from_march = (u64::from(date.month) + 9) % 12; // 0 = March
    let day_of_year = (153 * month_from_march + 2) / 5 + u64::from(date.day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).checked_sub(719_468) // days from 0000-03-01 to 1970-01-01
}

impl fmt::Display for Date {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A UTC instant as ISO 20022 `ISODateTime` text with milliseconds and `Z`, e.g.
/// `2024-05-16T09:30:00.000Z`, from Unix milliseconds the caller supplies.
pub fn utc_date_time_text(unix_ms: u64) -> String {
    let date = Date::from_unix_ms(unix_ms);
    let millisecond_of_day = unix_ms % 86_400_000;
    let hour = millisecond_of_day / 3_600_000;
    let minute = millisecond_of_day / 60_000 % 60;
    let second = millisecond_of_day / 1_000 % 60;
    let millisecond = millisecond_of_day % 1_000;
    format!("{date}T{hour:02}:{minute:02}:{second:02}.{millisecond:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(Date::parse("2024-05-16").map(|date| date.to_string()), Ok("2024-05-16".into()));
        assert!(Date::parse("2024-02-29").is_ok());
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "24-05-16",
            "2024-5-16",
            "2024-05-16Z",
            "+024-05-16",
            "",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_milliseconds_become_utc_text() {
        assert_eq!(utc_date_time_text(0), "1970-01-01T00:00:00.000Z");
        // 2024-05-16T09:30:00.123Z
        assert_eq!(utc_date_time_text(1_715_851_800_123), "2024-05-16T09:30:00.123Z");
        // The leap day of a century leap year.
        assert_eq!(Date::from_unix_ms(951_782_400_000).to_string(), "2000-02-29");
        assert_eq!(Date::from_unix_ms(u64::MAX).to_string(), "9999-12-31");
        assert_eq!(Date { year: 1969, month: 12, day: 31 }.start_unix_ms(), None);
        let last = Date { year: 9999, month: 12, day: 31 };
        assert_eq!(last.start_unix_ms().map(Date::from_unix_ms), Some(last));
    }

    #[test]
    fn every_day_of_four_centuries_is_the_next_date() {
        // A walk over 1970..2370 checks civil_from_days against day-by-day counting.
        let mut expected = Date { year: 1970, month: 1, day: 1 };
        for days in 0..146_097u64 {
            assert_eq!(civil_from_days(days), Some(expected), "day {days}");
            assert_eq!(expected.start_unix_ms(), Some(days * 86_400_000), "day {days}");
            expected = if expected.day < days_in_month(expected.year, expected.month) {
                Date { day: expected.day + 1, ..expected }
            } else if expected.month < 12 {
                Date { month: expected.month + 1, day: 1, ..expected }
            } else {
                Date { year: expected.year + 1, month: 1, day: 1 }
            };
        }
    }
}
