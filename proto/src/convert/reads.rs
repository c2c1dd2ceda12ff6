//! Read requests on the wire: read consistency, account history pages and their cursors.
//!
//! A history cursor is the timestamp of the last transfer a page returned, in decimal. Event
//! timestamps are unique and an account's history is ordered by them, so the next page is the
//! same filter narrowed to just past that timestamp: no transfer is returned twice or skipped,
//! even while new transfers arrive (they have later timestamps).

use std::time::Duration;

use tianping_ledger::{HistoryFilter, QUERY_LIMIT_MAX, Transfer};

use super::{InvalidField, invalid, parse_u128};
use crate::v1 as pb_v1;

/// How fresh a read must be: what a client asks for (`ReadOptions.max_staleness_ms`) and
/// what the server's read path makes its replica fit for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadConsistency {
    /// Sees every write acknowledged before the read started.
    Linearizable,
    /// May miss writes acknowledged less than this long ago, never older ones.
    BoundedStaleness(Duration),
}

/// The consistency a read asks for: linearizable unless a positive staleness is accepted.
pub fn read_consistency(options: Option<&pb_v1::ReadOptions>) -> ReadConsistency {
    match options.map(|options| options.max_staleness_ms) {
        None | Some(0) => ReadConsistency::Linearizable,
        Some(milliseconds) => {
            ReadConsistency::BoundedStaleness(Duration::from_millis(milliseconds))
        }
    }
}

/// A page size: 0 means the largest, above `QUERY_LIMIT_MAX` is refused.
pub(crate) fn page_limit(field: &str, limit: u32) -> Result<usize, InvalidField> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match limit {
        0 => Ok(QUERY_LIMIT_MAX),
        limit if limit > QUERY_LIMIT_MAX => {
            Err(invalid(field, format!("{limit} is more than the limit of {QUERY_LIMIT_MAX}")))
        }
        limit => Ok(limit),
    }
}

/// A timestamp cursor (the last timestamp a page returned, in decimal; empty: the first page),
/// as the payout history and the discrepancy listing issue it.
pub(crate) fn parse_timestamp_cursor(text: &str) -> Result<Option<u64>, InvalidField> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>()
        .map(Some)
        .map_err(|_| invalid("cursor", format!("{text:?} is not a cursor this API issued")))
}

/// The cursor of the page after one that ended at `last` (empty: no more pages).
pub(crate) fn timestamp_cursor(last: Option<u64>) -> String {
    last.map(|timestamp| timestamp.to_string()).unwrap_or_default()
}

/// The ledger query of a `GetAccountTransfers` request, or `None` when its cursor is already
/// past the end (the page is empty).
pub fn history_filter(
    request: &pb_v1::AccountTransfersRequest,
) -> Result<Option<HistoryFilter>, InvalidField> {
    let account_id = parse_u128("account_id", &request.account_id)?;
    let limit = page_limit("limit", request.limit)?;
    let mut filter = HistoryFilter {
        account_id,
        timestamp_min: request.timestamp_min,
        timestamp_max: if request.timestamp_max == 0 { u64::MAX } else { request.timestamp_max },
        limit,
        reversed: request.reversed,
    };
    if filter.timestamp_min > filter.timestamp_max {
        return Err(invalid("timestamp_min", "is later than timestamp_max"));
    }
    if request.cursor.is_empty() {
        return Ok(Some(filter));
    }
    let last: u64 = request.cursor.parse().map_err(|_| {
        invalid("cursor", format!("{:?} is not a cursor this API issued", request.cursor))
    })?;
    if filter.reversed {
        match last.checked_sub(1) {
            Some(before) => filter.timestamp_max = filter.timestamp_max.min(before),
            None => return Ok(None),
        }
    } else {
        match last.checked_add(1) {
            Some(after) => filter.timestamp_min = filter.timestamp_min.max(after),
            None => return Ok(None),
        }
    }
    if filter.timestamp_min > filter.timestamp_max {
        return Ok(None);
    }
    Ok(Some(filter))
}

/// The cursor of the page after `page` (empty when `page` is shorter than `limit`, i.e. the
/// history has nothing more).
pub fn history_cursor(page: &[Transfer], limit: usize) -> String {
    match page.last() {
        Some(last) if page.len() >= limit => last.timestamp.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cursor: &str, reversed: bool) -> pb_v1::AccountTransfersRequest {
        pb_v1::AccountTransfersRequest {
            account_id: "7".into(),
            timestamp_min: 100,
            timestamp_max: 0,
            limit: 10,
            reversed,
            cursor: cursor.into(),
            read: None,
        }
    }

    #[test]
    fn cursors_narrow_the_window_past_the_last_transfer() {
        let first = history_filter(&request("", false)).ok().flatten();
        assert_eq!(
            first.map(|filter| (filter.timestamp_min, filter.timestamp_max)),
            Some((100, u64::MAX))
        );
        let next = history_filter(&request("150", false)).ok().flatten();
        assert_eq!(next.map(|filter| filter.timestamp_min), Some(151));
        let back = history_filter(&request("150", true)).ok().flatten();
        assert_eq!(
            back.map(|filter| (filter.timestamp_min, filter.timestamp_max)),
            Some((100, 149))
        );
        assert_eq!(history_filter(&request("99", true)), Ok(None));
        assert_eq!(history_filter(&request(&u64::MAX.to_string(), false)), Ok(None));
    }

    #[test]
    fn malformed_history_requests_name_the_field() {
        let field = |request: pb_v1::AccountTransfersRequest| {
            history_filter(&request).err().map(|error| error.field)
        };
        assert_eq!(field(request("x1", false)), Some("cursor".to_owned()));
        assert_eq!(field(request("-1", false)), Some("cursor".to_owned()));
        let too_many = pb_v1::AccountTransfersRequest { limit: 8_191, ..request("", false) };
        assert_eq!(field(too_many), Some("limit".to_owned()));
        let bad_id =
            pb_v1::AccountTransfersRequest { account_id: "1.5".into(), ..request("", false) };
        assert_eq!(field(bad_id), Some("account_id".to_owned()));
        let inverted = pb_v1::AccountTransfersRequest { timestamp_max: 50, ..request("", false) };
        assert_eq!(field(inverted), Some("timestamp_min".to_owned()));
    }

    #[test]
    fn zero_or_absent_staleness_is_linearizable() {
        assert_eq!(read_consistency(None), ReadConsistency::Linearizable);
        let zero = pb_v1::ReadOptions { max_staleness_ms: 0 };
        assert_eq!(read_consistency(Some(&zero)), ReadConsistency::Linearizable);
        let bounded = pb_v1::ReadOptions { max_staleness_ms: 250 };
        assert_eq!(
            read_consistency(Some(&bounded)),
            ReadConsistency::BoundedStaleness(Duration::from_millis(250))
        );
    }
}
