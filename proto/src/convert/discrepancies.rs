//! Reconciliation's discrepancies on the wire (`proto/tianping/v1/reconciliation.proto`),
//! both directions.
//!
//! A listing cursor is the recording timestamp of the last discrepancy a page returned, in
//! decimal; the next page starts just after it. Optional amounts travel as decimal strings
//! where empty means "this side shows none" (never 0: a zero amount is a value).

use tianping_ledger::discrepancy::EVIDENCE_BYTES_MAX;
use tianping_ledger::{
    Command, Discrepancy, DiscrepancyClass, DiscrepancyState, NewDiscrepancy, ResolveDiscrepancy,
};

use super::client::{answer_u128, wire_limit};
use super::reads::{page_limit, parse_timestamp_cursor, timestamp_cursor};
use super::{
    InvalidField, ReadConsistency, check_event_count, format_u128, invalid, parse_u128,
    read_options, text,
};
use crate::v1 as pb_v1;

/// A class from its wire name.
fn parse_class(field: &str, name: &str) -> Result<DiscrepancyClass, InvalidField> {
    DiscrepancyClass::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = DiscrepancyClass::ALL.iter().map(|class| class.name()).collect();
        invalid(field, format!("{name:?} is not one of {}", names.join(", ")))
    })
}

/// A state from its wire name.
fn parse_state(field: &str, name: &str) -> Result<DiscrepancyState, InvalidField> {
    [DiscrepancyState::Open, DiscrepancyState::Resolved]
        .into_iter()
        .find(|state| state.name() == name)
        .ok_or_else(|| invalid(field, format!("{name:?} is not \"open\" or \"resolved\"")))
}

/// An optional amount: empty is none.
fn parse_optional_amount(field: &str, text: &str) -> Result<Option<u128>, InvalidField> {
    if text.is_empty() { Ok(None) } else { parse_u128(field, text).map(Some) }
}

fn format_optional_amount(amount: Option<u128>) -> String {
    amount.map(format_u128).unwrap_or_default()
}

/// Evidence text, refused here when longer than the ledger accepts (as `text` does for the
/// short fields): it would cross every data center before the ledger refused it.
fn evidence(field: &str, value: &str) -> Result<String, InvalidField> {
    if value.len() > EVIDENCE_BYTES_MAX {
        return Err(invalid(
            field,
            format!("{} bytes, more than the limit of {EVIDENCE_BYTES_MAX}", value.len()),
        ));
    }
    Ok(value.to_owned())
}

fn parse_new_discrepancy(
    path: &str,
    wire: &pb_v1::NewDiscrepancy,
) -> Result<NewDiscrepancy, InvalidField> {
    let field = |name: &str| format!("{path}.{name}");
    let account_ids = wire
        .account_ids
        .iter()
        .enumerate()
        .map(|(index, id)| parse_u128(&field(&format!("account_ids[{index}]")), id))
        .collect::<Result<Vec<u128>, InvalidField>>()?;
    Ok(NewDiscrepancy {
        id: parse_u128(&field("id"), &wire.id)?,
        bank: wire.bank,
        class: parse_class(&field("class"), &wire.class)?,
        reference: text(&field("reference"), &wire.reference)?,
        account_ids,
        ledger_amount: parse_optional_amount(&field("ledger_amount"), &wire.ledger_amount)?,
        bank_amount: parse_optional_amount(&field("bank_amount"), &wire.bank_amount)?,
        ledger_evidence: evidence(&field("ledger_evidence"), &wire.ledger_evidence)?,
        bank_evidence: evidence(&field("bank_evidence"), &wire.bank_evidence)?,
        cutoff: wire.cutoff,
        actor: text(&field("actor"), &wire.actor)?,
    })
}

fn new_discrepancy(discrepancy: &NewDiscrepancy) -> pb_v1::NewDiscrepancy {
    pb_v1::NewDiscrepancy {
        id: format_u128(discrepancy.id),
        bank: discrepancy.bank,
        class: discrepancy.class.name().to_owned(),
        reference: discrepancy.reference.clone(),
        account_ids: discrepancy.account_ids.iter().copied().map(format_u128).collect(),
        ledger_amount: format_optional_amount(discrepancy.ledger_amount),
        bank_amount: format_optional_amount(discrepancy.bank_amount),
        ledger_evidence: discrepancy.ledger_evidence.clone(),
        bank_evidence: discrepancy.bank_evidence.clone(),
        cutoff: discrepancy.cutoff,
        actor: discrepancy.actor.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// The server's direction.

/// The commands of a `RecordDiscrepancies` request, in order.
pub fn record_discrepancy_commands(
    request: &pb_v1::RecordDiscrepanciesRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("discrepancies", request.discrepancies.len())?;
    request
        .discrepancies
        .iter()
        .enumerate()
        .map(|(index, wire)| {
            parse_new_discrepancy(&format!("discrepancies[{index}]"), wire)
                .map(Command::RecordDiscrepancy)
        })
        .collect()
}

/// The commands of a `ResolveDiscrepancies` request, in order.
pub fn resolve_discrepancy_commands(
    request: &pb_v1::ResolveDiscrepanciesRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("resolutions", request.resolutions.len())?;
    request
        .resolutions
        .iter()
        .enumerate()
        .map(|(index, resolution)| {
            let field = |name: &str| format!("resolutions[{index}].{name}");
            Ok(Command::ResolveDiscrepancy(ResolveDiscrepancy {
                id: parse_u128(&field("id"), &resolution.id)?,
                reason: text(&field("reason"), &resolution.reason)?,
                actor: text(&field("actor"), &resolution.actor)?,
            }))
        })
        .collect()
}

/// A stored discrepancy on the wire.
pub fn discrepancy(record: &Discrepancy) -> pb_v1::Discrepancy {
    pb_v1::Discrepancy {
        discrepancy: Some(new_discrepancy(&record.request)),
        blocked_account_ids: record.blocked_account_ids.iter().copied().map(format_u128).collect(),
        state: record.state.name().to_owned(),
        timestamp: record.timestamp,
        resolved_at: record.resolved_at,
        resolution: record.resolution.clone(),
        resolved_by: record.resolved_by.clone(),
    }
}

/// What a `ListDiscrepancies` request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscrepancyListing {
    /// Only open ones.
    pub open_only: bool,
    /// One bank, or every bank.
    pub bank: Option<u32>,
    /// Recorded at or after.
    pub timestamp_min: u64,
    /// The last timestamp of the previous page.
    pub cursor: Option<u64>,
    /// Records scanned for this page.
    pub limit: usize,
}

/// Reads a `ListDiscrepancies` request.
pub fn discrepancy_listing(
    request: &pb_v1::ListDiscrepanciesRequest,
) -> Result<DiscrepancyListing, InvalidField> {
    let limit = page_limit("limit", request.limit)?;
    let cursor = parse_timestamp_cursor(&request.cursor)?;
    Ok(DiscrepancyListing {
        open_only: request.open_only,
        bank: if request.bank == 0 { None } else { Some(request.bank) },
        timestamp_min: request.timestamp_min,
        cursor,
        limit,
    })
}

/// The answer to `ListDiscrepancies`.
pub fn discrepancies_response(
    records: &[Discrepancy],
    next: Option<u64>,
    applied_index: u64,
) -> pb_v1::ListDiscrepanciesResponse {
    pb_v1::ListDiscrepanciesResponse {
        discrepancies: records.iter().map(discrepancy).collect(),
        next_cursor: timestamp_cursor(next),
        applied_index,
    }
}

// ---------------------------------------------------------------------------------------
// The client's direction.

/// A `RecordDiscrepancies` request.
pub fn record_discrepancies_request(
    discrepancies: &[NewDiscrepancy],
) -> pb_v1::RecordDiscrepanciesRequest {
    pb_v1::RecordDiscrepanciesRequest {
        discrepancies: discrepancies.iter().map(new_discrepancy).collect(),
    }
}

/// A `ResolveDiscrepancies` request.
pub fn resolve_discrepancies_request(
    resolutions: &[ResolveDiscrepancy],
) -> pb_v1::ResolveDiscrepanciesRequest {
    let resolutions = resolutions
        .iter()
        .map(|resolution| pb_v1::DiscrepancyResolution {
            id: format_u128(resolution.id),
            reason: resolution.reason.clone(),
            actor: resolution.actor.clone(),
        })
        .collect();
    pb_v1::ResolveDiscrepanciesRequest { resolutions }
}

/// A `ListDiscrepancies` request: the page after `cursor` (empty: the first).
pub fn list_discrepancies_request(
    listing: &DiscrepancyListing,
    cursor: &str,
    consistency: ReadConsistency,
) -> Result<pb_v1::ListDiscrepanciesRequest, InvalidField> {
    if listing.bank == Some(0) {
        return Err(invalid("bank", "0 means every bank on the wire; pass None"));
    }
    Ok(pb_v1::ListDiscrepanciesRequest {
        open_only: listing.open_only,
        bank: listing.bank.unwrap_or(0),
        timestamp_min: listing.timestamp_min,
        limit: wire_limit(listing.limit)?,
        cursor: cursor.to_owned(),
        read: read_options(consistency),
    })
}

/// A discrepancy from the wire.
pub fn parse_discrepancy(
    path: &str,
    wire: &pb_v1::Discrepancy,
) -> Result<Discrepancy, InvalidField> {
    let field = |name: &str| format!("{path}.{name}");
    let request =
        wire.discrepancy.as_ref().ok_or_else(|| invalid(field("discrepancy"), "is absent"))?;
    let blocked_account_ids = wire
        .blocked_account_ids
        .iter()
        .enumerate()
        .map(|(index, id)| answer_u128(&field(&format!("blocked_account_ids[{index}]")), id))
        .collect::<Result<Vec<u128>, InvalidField>>()?;
    Ok(Discrepancy {
        request: parse_new_discrepancy(&field("discrepancy"), request)?,
        blocked_account_ids,
        state: parse_state(&field("state"), &wire.state)?,
        timestamp: wire.timestamp,
        resolved_at: wire.resolved_at,
        resolution: wire.resolution.clone(),
        resolved_by: wire.resolved_by.clone(),
    })
}

/// A `ListDiscrepancies` answer: the discrepancies (in recording order), the next cursor
/// (empty: none) and the applied index.
pub fn parse_discrepancies_response(
    response: &pb_v1::ListDiscrepanciesResponse,
) -> Result<(Vec<Discrepancy>, String, u64), InvalidField> {
    let records = response
        .discrepancies
        .iter()
        .enumerate()
        .map(|(index, wire)| parse_discrepancy(&format!("discrepancies[{index}]"), wire))
        .collect::<Result<Vec<_>, InvalidField>>()?;
    if records.windows(2).any(|pair| pair[0].timestamp >= pair[1].timestamp) {
        return Err(invalid("discrepancies", "not in recording order"));
    }
    Ok((records, response.next_cursor.clone(), response.applied_index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewDiscrepancy {
        NewDiscrepancy {
            id: u128::MAX - 1,
            bank: 2,
            class: DiscrepancyClass::MissingAtBank,
            reference: "7000123".into(),
            account_ids: vec![9_010, 1],
            ledger_amount: Some(12_500),
            bank_amount: None,
            ledger_evidence: "payout 7000123 succeeded 125.00".into(),
            bank_evidence: String::new(),
            cutoff: 1_764_000_000_000_000_000,
            actor: "reconciler:dc-1".into(),
        }
    }

    #[test]
    fn records_and_resolutions_round_trip() {
        for class in DiscrepancyClass::ALL {
            let reported = NewDiscrepancy { class, bank_amount: Some(0), ..sample() };
            let commands = record_discrepancy_commands(&record_discrepancies_request(
                std::slice::from_ref(&reported),
            ));
            assert_eq!(commands, Ok(vec![Command::RecordDiscrepancy(reported)]));
        }
        let resolution =
            ResolveDiscrepancy { id: 5, reason: "bank rebooked it".into(), actor: "ops".into() };
        let commands = resolve_discrepancy_commands(&resolve_discrepancies_request(
            std::slice::from_ref(&resolution),
        ));
        assert_eq!(commands, Ok(vec![Command::ResolveDiscrepancy(resolution)]));
    }

    #[test]
    fn stored_discrepancies_and_pages_round_trip() {
        let stored = |timestamp: u64, state: DiscrepancyState| Discrepancy {
            request: sample(),
            blocked_account_ids: vec![9_010],
            state,
            timestamp,
            resolved_at: if state == DiscrepancyState::Resolved { timestamp + 1 } else { 0 },
            resolution: String::new(),
            resolved_by: String::new(),
        };
        let records = [stored(10, DiscrepancyState::Open), stored(11, DiscrepancyState::Resolved)];
        let answer = discrepancies_response(&records, Some(11), 8);
        let (read, next, applied) = parse_discrepancies_response(&answer).expect("reads");
        assert_eq!((read.as_slice(), next.as_str(), applied), (&records[..], "11", 8));
        let listing = DiscrepancyListing {
            open_only: true,
            bank: Some(2),
            timestamp_min: 3,
            cursor: None,
            limit: 50,
        };
        let request = list_discrepancies_request(&listing, &next, ReadConsistency::Linearizable)
            .expect("a valid request");
        assert_eq!(
            discrepancy_listing(&request),
            Ok(DiscrepancyListing { cursor: Some(11), ..listing })
        );
        let out_of_order =
            discrepancies_response(&[records[1].clone(), records[0].clone()], None, 8);
        assert!(parse_discrepancies_response(&out_of_order).is_err());
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let field = |wire: pb_v1::NewDiscrepancy| {
            record_discrepancy_commands(&pb_v1::RecordDiscrepanciesRequest {
                discrepancies: vec![wire],
            })
            .err()
            .map(|error| error.field)
        };
        let good = record_discrepancies_request(&[sample()]).discrepancies.remove(0);
        assert_eq!(
            field(pb_v1::NewDiscrepancy { class: "lost".into(), ..good.clone() }),
            Some("discrepancies[0].class".into())
        );
        assert_eq!(
            field(pb_v1::NewDiscrepancy {
                account_ids: vec!["1".into(), "x".into()],
                ..good.clone()
            }),
            Some("discrepancies[0].account_ids[1]".into())
        );
        assert_eq!(
            field(pb_v1::NewDiscrepancy { bank_amount: "-1".into(), ..good.clone() }),
            Some("discrepancies[0].bank_amount".into())
        );
        assert_eq!(
            field(pb_v1::NewDiscrepancy {
                bank_evidence: "x".repeat(EVIDENCE_BYTES_MAX + 1),
                ..good.clone()
            }),
            Some("discrepancies[0].bank_evidence".into())
        );
        assert_eq!(
            field(pb_v1::NewDiscrepancy { reference: "r".repeat(257), ..good }),
            Some("discrepancies[0].reference".into())
        );
        let listing = |cursor: &str, limit: u32| {
            discrepancy_listing(&pb_v1::ListDiscrepanciesRequest {
                cursor: cursor.into(),
                limit,
                ..Default::default()
            })
            .map_err(|error| error.field)
        };
        assert_eq!(listing("x", 0), Err("cursor".into()));
        assert_eq!(listing("", 8_191), Err("limit".into()));
    }
}
