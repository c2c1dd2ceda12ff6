//! Payout history and the suspense desk on the wire (`GetPayoutHistory`, `ListSuspense`,
//! `AssignSuspense` in `proto/tianping/v1/payouts.proto`), both directions.
//!
//! A history cursor is the timestamp of the last record a page returned, in decimal; a
//! suspense cursor is the suspense-index key of the last collection, `bank.timestamp`. The
//! next page starts just after either.

use tianping_ledger::{
    AssignSuspense, Collection, Command, PayoutHistoryRecord, SuspenseKey, SuspenseReason,
};

use super::client::{answer_u128, new_collection, parse_suspense, wire_limit};
use super::payouts::parse_new_collection;
use super::reads::{page_limit, parse_timestamp_cursor, timestamp_cursor};
use super::{
    InvalidField, ReadConsistency, check_event_count, format_u128, invalid, parse_payout_state,
    parse_u128, payout_state_name, read_options, text,
};
use crate::v1 as pb_v1;

// ---------------------------------------------------------------------------------------
// The server's direction.

/// What a `GetPayoutHistory` request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayoutHistoryListing {
    /// The payout.
    pub payout_id: u128,
    /// The last timestamp of the previous page.
    pub cursor: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// Reads a `GetPayoutHistory` request.
pub fn payout_history_listing(
    request: &pb_v1::PayoutHistoryRequest,
) -> Result<PayoutHistoryListing, InvalidField> {
    let payout_id = parse_u128("payout_id", &request.payout_id)?;
    if payout_id == 0 {
        return Err(invalid("payout_id", "is required"));
    }
    let limit = page_limit("limit", request.limit)?;
    let cursor = parse_timestamp_cursor(&request.cursor)?;
    Ok(PayoutHistoryListing { payout_id, cursor, limit })
}

/// The answer to `GetPayoutHistory`.
pub fn payout_history_response(
    records: &[PayoutHistoryRecord],
    next: Option<u64>,
    applied_index: u64,
) -> pb_v1::PayoutHistoryResponse {
    let records = records.iter().map(payout_history_record).collect();
    let next_cursor = timestamp_cursor(next);
    pb_v1::PayoutHistoryResponse { records, next_cursor, applied_index }
}

/// One payout history record on the wire.
pub fn payout_history_record(record: &PayoutHistoryRecord) -> pb_v1::PayoutHistoryRecord {
    pb_v1::PayoutHistoryRecord {
        timestamp: record.timestamp,
        state: payout_state_name(record.state).to_owned(),
        worker_id: format_u128(record.worker_id),
        fencing_token: record.fencing_token,
        lease_until: record.lease_until,
    }
}

/// What a `ListSuspense` request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuspenseListing {
    /// One bank, or every bank.
    pub bank: Option<u32>,
    /// Where the previous page ended.
    pub cursor: Option<SuspenseKey>,
    /// Page size.
    pub limit: usize,
}

/// Reads a `ListSuspense` request.
pub fn suspense_listing(
    request: &pb_v1::ListSuspenseRequest,
) -> Result<SuspenseListing, InvalidField> {
    let limit = page_limit("limit", request.limit)?;
    let bank = if request.bank == 0 { None } else { Some(request.bank) };
    let cursor = if request.cursor.is_empty() {
        None
    } else {
        let key = parse_suspense_cursor(&request.cursor).ok_or_else(|| {
            invalid("cursor", format!("{:?} is not a cursor this API issued", request.cursor))
        })?;
        if bank.is_some_and(|bank| bank != key.bank) {
            return Err(invalid("cursor", "belongs to a listing of another bank"));
        }
        Some(key)
    };
    Ok(SuspenseListing { bank, cursor, limit })
}

fn parse_suspense_cursor(text: &str) -> Option<SuspenseKey> {
    let (bank, timestamp) = text.split_once('.')?;
    Some(SuspenseKey { bank: bank.parse().ok()?, timestamp: timestamp.parse().ok()? })
}

/// The cursor of the page after the one that ended at `key` (empty: no more).
pub fn suspense_cursor(key: Option<SuspenseKey>) -> String {
    key.map(|key| format!("{}.{}", key.bank, key.timestamp)).unwrap_or_default()
}

/// The answer to `ListSuspense`.
pub fn suspense_response(
    collections: &[Collection],
    next: Option<SuspenseKey>,
    applied_index: u64,
) -> pb_v1::ListSuspenseResponse {
    let collections = collections.iter().map(suspense_collection).collect();
    pb_v1::ListSuspenseResponse { collections, next_cursor: suspense_cursor(next), applied_index }
}

/// One booked collection on the wire, as `ListSuspense` lists it.
pub fn suspense_collection(collection: &Collection) -> pb_v1::SuspenseCollection {
    pb_v1::SuspenseCollection {
        collection: Some(new_collection(&collection.request)),
        credited_account_id: format_u128(collection.credited_account_id),
        suspense: collection.suspense.map(SuspenseReason::name).unwrap_or_default().to_owned(),
        timestamp: collection.timestamp,
    }
}

/// The commands of an `AssignSuspense` request, in order.
pub fn assignment_commands(
    request: &pb_v1::AssignSuspenseRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("assignments", request.assignments.len())?;
    request
        .assignments
        .iter()
        .enumerate()
        .map(|(index, assignment)| {
            let field = |name: &str| format!("assignments[{index}].{name}");
            Ok(Command::AssignSuspense(AssignSuspense {
                id: parse_u128(&field("id"), &assignment.id)?,
                bank: assignment.bank,
                bank_reference: text(&field("bank_reference"), &assignment.bank_reference)?,
                account_id: parse_u128(&field("account_id"), &assignment.account_id)?,
                reason: text(&field("reason"), &assignment.reason)?,
                actor: text(&field("actor"), &assignment.actor)?,
            }))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The client's direction.

/// A `GetPayoutHistory` request: the page after `cursor` (empty: the first).
pub fn payout_history_request(
    payout_id: u128,
    limit: usize,
    cursor: &str,
    consistency: ReadConsistency,
) -> Result<pb_v1::PayoutHistoryRequest, InvalidField> {
    Ok(pb_v1::PayoutHistoryRequest {
        payout_id: format_u128(payout_id),
        limit: wire_limit(limit)?,
        cursor: cursor.to_owned(),
        read: read_options(consistency),
    })
}

/// A `GetPayoutHistory` answer for `payout_id`: its records, the next cursor (empty: none)
/// and the applied index it was read at.
pub fn parse_payout_history_response(
    payout_id: u128,
    response: &pb_v1::PayoutHistoryResponse,
) -> Result<(Vec<PayoutHistoryRecord>, String, u64), InvalidField> {
    let records = response
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let field = |name: &str| format!("records[{index}].{name}");
            Ok(PayoutHistoryRecord {
                payout_id,
                timestamp: record.timestamp,
                state: parse_payout_state(&field("state"), &record.state)?,
                worker_id: answer_u128(&field("worker_id"), &record.worker_id)?,
                fencing_token: record.fencing_token,
                lease_until: record.lease_until,
            })
        })
        .collect::<Result<Vec<_>, InvalidField>>()?;
    if records.windows(2).any(|pair| pair[0].timestamp >= pair[1].timestamp) {
        return Err(invalid("records", "not in time order"));
    }
    Ok((records, response.next_cursor.clone(), response.applied_index))
}

/// A `ListSuspense` request: one bank (or every bank), the page after `cursor`.
pub fn list_suspense_request(
    bank: Option<u32>,
    limit: usize,
    cursor: &str,
    consistency: ReadConsistency,
) -> Result<pb_v1::ListSuspenseRequest, InvalidField> {
    if bank == Some(0) {
        return Err(invalid("bank", "0 means every bank on the wire; pass None"));
    }
    Ok(pb_v1::ListSuspenseRequest {
        bank: bank.unwrap_or(0),
        limit: wire_limit(limit)?,
        cursor: cursor.to_owned(),
        read: read_options(consistency),
    })
}

/// A `ListSuspense` answer: the collections, the next cursor (empty: none) and the applied
/// index. Every listed collection must be in suspense.
pub fn parse_suspense_response(
    response: &pb_v1::ListSuspenseResponse,
) -> Result<(Vec<Collection>, String, u64), InvalidField> {
    let collections = response
        .collections
        .iter()
        .enumerate()
        .map(|(index, listed)| {
            let path = format!("collections[{index}]");
            let wire = listed
                .collection
                .as_ref()
                .ok_or_else(|| invalid(format!("{path}.collection"), "is absent"))?;
            let suspense: Option<SuspenseReason> =
                parse_suspense(&format!("{path}.suspense"), &listed.suspense)?;
            if suspense.is_none() {
                return Err(invalid(
                    format!("{path}.suspense"),
                    "a listed collection is in suspense",
                ));
            }
            Ok(Collection {
                request: parse_new_collection(&format!("{path}.collection"), wire)?,
                credited_account_id: answer_u128(
                    &format!("{path}.credited_account_id"),
                    &listed.credited_account_id,
                )?,
                suspense,
                timestamp: listed.timestamp,
            })
        })
        .collect::<Result<Vec<_>, InvalidField>>()?;
    Ok((collections, response.next_cursor.clone(), response.applied_index))
}

/// An `AssignSuspense` request.
pub fn assign_suspense_request(assignments: &[AssignSuspense]) -> pb_v1::AssignSuspenseRequest {
    let assignments = assignments
        .iter()
        .map(|assignment| pb_v1::SuspenseAssignment {
            id: format_u128(assignment.id),
            bank: assignment.bank,
            bank_reference: assignment.bank_reference.clone(),
            account_id: format_u128(assignment.account_id),
            reason: assignment.reason.clone(),
            actor: assignment.actor.clone(),
        })
        .collect();
    pb_v1::AssignSuspenseRequest { assignments }
}

#[cfg(test)]
mod tests {
    use tianping_ledger::{NewCollection, PayoutState};

    use super::*;

    #[test]
    fn history_requests_and_answers_round_trip() {
        let request = payout_history_request(7, 2, "", ReadConsistency::Linearizable)
            .expect("a valid request");
        let listing = payout_history_listing(&request).expect("the server reads it");
        assert_eq!(listing, PayoutHistoryListing { payout_id: 7, cursor: None, limit: 2 });
        let records = [
            PayoutHistoryRecord {
                payout_id: 7,
                timestamp: 10,
                state: PayoutState::Reserved,
                worker_id: 0,
                fencing_token: 0,
                lease_until: 0,
            },
            PayoutHistoryRecord {
                payout_id: 7,
                timestamp: 11,
                state: PayoutState::Claimed,
                worker_id: u128::MAX - 1,
                fencing_token: 1,
                lease_until: 99,
            },
        ];
        let answer = payout_history_response(&records, Some(11), 5);
        let (read, next, applied) =
            parse_payout_history_response(7, &answer).expect("the client reads it");
        assert_eq!((read.as_slice(), next.as_str(), applied), (&records[..], "11", 5));
        let request = payout_history_request(7, 2, &next, ReadConsistency::Linearizable)
            .expect("a valid request");
        assert_eq!(payout_history_listing(&request).map(|l| l.cursor), Ok(Some(11)));
    }

    #[test]
    fn malformed_history_and_suspense_requests_name_the_field() {
        let field =
            |result: Result<PayoutHistoryListing, InvalidField>| result.err().map(|e| e.field);
        let history = |id: &str, cursor: &str| pb_v1::PayoutHistoryRequest {
            payout_id: id.into(),
            cursor: cursor.into(),
            ..Default::default()
        };
        assert_eq!(field(payout_history_listing(&history("", ""))), Some("payout_id".into()));
        assert_eq!(field(payout_history_listing(&history("x", ""))), Some("payout_id".into()));
        assert_eq!(field(payout_history_listing(&history("1", "z"))), Some("cursor".into()));
        let listing = |bank: u32, cursor: &str, limit: u32| {
            suspense_listing(&pb_v1::ListSuspenseRequest {
                bank,
                cursor: cursor.into(),
                limit,
                read: None,
            })
            .map_err(|error| error.field)
        };
        assert_eq!(
            listing(7, "7.12", 0).map(|l| l.cursor),
            Ok(Some(SuspenseKey { bank: 7, timestamp: 12 }))
        );
        assert_eq!(listing(7, "8.12", 0), Err("cursor".into()));
        assert_eq!(listing(0, "8", 0), Err("cursor".into()));
        assert_eq!(listing(0, "", 8_191), Err("limit".into()));
        let request = pb_v1::AssignSuspenseRequest {
            assignments: vec![pb_v1::SuspenseAssignment {
                id: "1".into(),
                account_id: "-2".into(),
                ..Default::default()
            }],
        };
        let error = assignment_commands(&request).err().map(|error| error.field);
        assert_eq!(error, Some("assignments[0].account_id".into()));
    }

    #[test]
    fn suspense_answers_and_assignments_round_trip() {
        let collection = Collection {
            request: NewCollection {
                id: 3,
                bank: 7,
                bank_reference: "R-1".into(),
                beneficiary_account_id: 404,
                settlement_account_id: 8,
                suspense_account_id: 9,
                amount: u128::MAX - 1,
                user_data: 0,
                ledger: 156,
                code: 1,
            },
            credited_account_id: 9,
            suspense: Some(SuspenseReason::BeneficiaryNotFound),
            timestamp: 44,
        };
        let key = SuspenseKey { bank: 7, timestamp: 44 };
        let answer = suspense_response(std::slice::from_ref(&collection), Some(key), 6);
        let (read, next, applied) = parse_suspense_response(&answer).expect("the client reads it");
        assert_eq!((read, next.as_str(), applied), (vec![collection], "7.44", 6));
        let assignment = AssignSuspense {
            id: 5,
            bank: 7,
            bank_reference: "R-1".into(),
            account_id: 2,
            reason: "remittance names the payer".into(),
            actor: "ops:desk".into(),
        };
        let commands =
            assignment_commands(&assign_suspense_request(std::slice::from_ref(&assignment)));
        assert_eq!(commands, Ok(vec![Command::AssignSuspense(assignment)]));
    }
}
