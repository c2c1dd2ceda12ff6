//! When a certificate expires: its `notAfter`, read from the DER (RFC 5280 §4.1) by walking
//! just the few elements before it, for the `tianping_tls_certificate_expiry_timestamp_seconds`
//! metric and its alert. Nothing here verifies anything: rustls does that.

/// The certificate's `notAfter` as seconds since the Unix epoch; none when the DER is not
/// shaped like a certificate.
pub fn not_after_unix_seconds(der: &[u8]) -> Option<i64> {
    let (certificate, _) = element(der, 0x30)?;
    let (mut tbs, _) = element(certificate, 0x30)?;
    // version [0] EXPLICIT, optional.
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs, 0xa0)?.1;
    }
    let (_serial, rest) = element(tbs, 0x02)?;
    let (_signature, rest) = element(rest, 0x30)?;
    let (_issuer, rest) = element(rest, 0x30)?;
    let (validity, _) = element(rest, 0x30)?;
    let (_not_before, rest) = any_time(validity)?;
    let (not_after, _) = any_time(rest)?;
    Some(not_after)
}

/// One DER element of tag `tag` at the start of `der`: (its contents, what follows it).
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = der.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (bytes.iter().fold(0_usize, |length, byte| (length << 8) | usize::from(*byte)), rest)
    };
    (rest.len() >= length).then(|| rest.split_at(length))
}

/// A `Time` (UTCTime or GeneralizedTime) at the start of `der`: (seconds since the epoch,
/// what follows it).
fn any_time(der: &[u8]) -> Option<(i64, &[u8])> {
    if let Some((text, rest)) = element(der, 0x17) {
        // UTCTime YYMMDDHHMMSSZ: years 50..99 are 19xx (RFC 5280 §4.1.2.5.1).
        let year = i64::from(digits(text.get(0..2)?)?);
        let year = if year >= 50 { 1900 + year } else { 2000 + year };
        return Some((calendar(year, text.get(2..)?)?, rest));
    }
    let (text, rest) = element(der, 0x18)?;
    // GeneralizedTime YYYYMMDDHHMMSSZ.
    let year = i64::from(digits(text.get(0..4)?)?);
    Some((calendar(year, text.get(4..)?)?, rest))
}

/// `MMDDHHMMSSZ` of `year` as seconds since the Unix epoch.
fn calendar(year: i64, text: &[u8]) -> Option<i64> {
    if text.len() != 11 || text[10] != b'Z' {
        return None;
    }
    let field = |at: usize| digits(&text[at..at + 2]).map(i64::from);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0_u32, |value, byte| {
        byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(calendar(2038, b"0119031408Z"), Some(2_147_483_648));
    }

    #[test]
    fn the_not_after_of_a_generated_certificate_is_read() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["node-1".to_owned()]).expect("params");
        // Both encodings: UTCTime before 2050, GeneralizedTime from 2050 on.
        for (year, expected) in [(2031, 1_936_742_400_i64), (2051, 2_567_894_400)] {
            params.not_after = rcgen::date_time_ymd(year, 5, 17);
            let certificate = params.self_signed(&key).expect("certificate");
            assert_eq!(not_after_unix_seconds(certificate.der()), Some(expected), "{year}");
        }
        assert_eq!(not_after_unix_seconds(b"not a certificate"), None);
    }
}
