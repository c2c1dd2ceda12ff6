//! Payouts and collections on the wire (`proto/tianping/v1/payouts.proto`).
//!
//! States, outcomes and suspense reasons travel as snake_case names. A `ListPayouts` cursor is
//! the payout-index key of the last payout a page returned, `state.bank.order.payout_id` in
//! decimal: the ledger's index is ordered by that key, so the next page starts just after it.

use tianping_ledger::store::PayoutIndexKey;
use tianping_ledger::{
    ClaimPayouts, Command, Detail, EventResult, NewCollection, NewPayout, Payout, PayoutBatchClaim,
    PayoutClaim, PayoutOutcome, PayoutState, RecordPayoutOutcome, SuspenseReason, TransferFlags,
};

use super::{
    InvalidField, check_event_count, event_result, format_u128, invalid, parse_u128, text, to_u16,
};
use crate::v1 as pb_v1;

/// A payout state's wire name.
pub fn payout_state_name(state: PayoutState) -> &'static str {
    state.name()
}

/// Reads a payout state's wire name.
pub fn parse_payout_state(field: &str, text: &str) -> Result<PayoutState, InvalidField> {
    PayoutState::ALL.into_iter().find(|state| payout_state_name(*state) == text).ok_or_else(|| {
        invalid(
            field,
            format!("{text:?} is not one of reserved, claimed, sent, unknown, succeeded, failed"),
        )
    })
}

pub(super) fn parse_outcome(field: &str, text: &str) -> Result<PayoutOutcome, InvalidField> {
    match text {
        "sent" => Ok(PayoutOutcome::Sent),
        "unknown" => Ok(PayoutOutcome::Unknown),
        "succeeded" => Ok(PayoutOutcome::Succeeded),
        "failed" => Ok(PayoutOutcome::Failed),
        _ => {
            Err(invalid(field, format!("{text:?} is not one of sent, unknown, succeeded, failed")))
        }
    }
}

/// The commands of a `CreatePayouts` request, in order.
pub fn payout_commands(
    request: &pb_v1::CreatePayoutsRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("payouts", request.payouts.len())?;
    request
        .payouts
        .iter()
        .enumerate()
        .map(|(index, payout)| {
            let field = |name: &str| format!("payouts[{index}].{name}");
            Ok(Command::CreatePayout(NewPayout {
                id: parse_u128(&field("id"), &payout.id)?,
                debit_account_id: parse_u128(&field("debit_account_id"), &payout.debit_account_id)?,
                credit_account_id: parse_u128(
                    &field("credit_account_id"),
                    &payout.credit_account_id,
                )?,
                amount: parse_u128(&field("amount"), &payout.amount)?,
                user_data: parse_u128(&field("user_data"), &payout.user_data)?,
                ledger: payout.ledger,
                code: to_u16(&field("code"), payout.code)?,
                flags: TransferFlags(to_u16(&field("flags"), payout.flags)?),
                bank: payout.bank,
                beneficiary: text(&field("beneficiary"), &payout.beneficiary)?,
            }))
        })
        .collect()
}

/// The command of a `ClaimPayouts` request (range checks are the ledger's result codes): a
/// `ClaimPayoutBatch` under the request's claim id, or, when it carries none (a worker built
/// before claim ids), the unkeyed `ClaimPayouts`.
pub fn claim_command(request: &pb_v1::ClaimPayoutsRequest) -> Result<Command, InvalidField> {
    let worker_id = parse_u128("worker_id", &request.worker_id)?;
    if request.claim_id.is_empty() {
        return Ok(Command::ClaimPayouts(ClaimPayouts {
            worker_id,
            bank: request.bank,
            max: request.max,
            lease_ms: request.lease_ms,
        }));
    }
    Ok(Command::ClaimPayoutBatch(PayoutBatchClaim {
        claim_id: parse_u128("claim_id", &request.claim_id)?,
        worker_id,
        bank: request.bank,
        max: request.max,
        lease_ms: request.lease_ms,
    }))
}

/// The commands of a `RecordPayoutOutcomes` request, in order.
pub fn outcome_commands(
    request: &pb_v1::RecordPayoutOutcomesRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("outcomes", request.outcomes.len())?;
    request
        .outcomes
        .iter()
        .enumerate()
        .map(|(index, report)| {
            let field = |name: &str| format!("outcomes[{index}].{name}");
            Ok(Command::RecordPayoutOutcome(RecordPayoutOutcome {
                payout_id: parse_u128(&field("payout_id"), &report.payout_id)?,
                worker_id: parse_u128(&field("worker_id"), &report.worker_id)?,
                fencing_token: report.fencing_token,
                outcome: parse_outcome(&field("outcome"), &report.outcome)?,
            }))
        })
        .collect()
}

/// The commands of a `BookCollections` request, in order.
pub fn collection_commands(
    request: &pb_v1::BookCollectionsRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("collections", request.collections.len())?;
    request
        .collections
        .iter()
        .enumerate()
        .map(|(index, collection)| {
            let path = format!("collections[{index}]");
            Ok(Command::BookCollection(parse_new_collection(&path, collection)?))
        })
        .collect()
}

/// A bank credit as the wire carries it (request fields: empty means 0), fields named under
/// `path`.
pub(super) fn parse_new_collection(
    path: &str,
    collection: &pb_v1::NewCollection,
) -> Result<NewCollection, InvalidField> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(NewCollection {
        id: parse_u128(&field("id"), &collection.id)?,
        bank: collection.bank,
        bank_reference: text(&field("bank_reference"), &collection.bank_reference)?,
        beneficiary_account_id: parse_u128(
            &field("beneficiary_account_id"),
            &collection.beneficiary_account_id,
        )?,
        settlement_account_id: parse_u128(
            &field("settlement_account_id"),
            &collection.settlement_account_id,
        )?,
        suspense_account_id: parse_u128(
            &field("suspense_account_id"),
            &collection.suspense_account_id,
        )?,
        amount: parse_u128(&field("amount"), &collection.amount)?,
        user_data: parse_u128(&field("user_data"), &collection.user_data)?,
        ledger: collection.ledger,
        code: to_u16(&field("code"), collection.code)?,
    })
}

/// A payout on the wire.
pub fn payout(payout: &Payout) -> pb_v1::Payout {
    pb_v1::Payout {
        id: format_u128(payout.id),
        debit_account_id: format_u128(payout.debit_account_id),
        credit_account_id: format_u128(payout.credit_account_id),
        amount: format_u128(payout.amount),
        user_data: format_u128(payout.user_data),
        ledger: payout.ledger,
        code: u32::from(payout.code),
        bank: payout.bank,
        beneficiary: payout.beneficiary.clone(),
        state: payout_state_name(payout.state).to_owned(),
        fencing_token: payout.fencing_token,
        worker_id: format_u128(payout.worker_id),
        lease_until: payout.lease_until,
        created_at: payout.created_at,
        updated_at: payout.updated_at,
    }
}

fn claim(claim: &PayoutClaim) -> pb_v1::PayoutClaim {
    pb_v1::PayoutClaim {
        payout: Some(payout(&claim.payout)),
        must_inquire_first: claim.must_inquire_first,
    }
}

/// The response to a claim: its result and the payouts it handed over.
pub fn claim_response(results: &[EventResult], log_index: u64) -> pb_v1::ClaimPayoutsResponse {
    let claims = match results.first().map(|result| &result.detail) {
        Some(Detail::Claims(claims)) => claims.iter().map(claim).collect(),
        _ => Vec::new(),
    };
    pb_v1::ClaimPayoutsResponse { result: results.first().map(event_result), claims, log_index }
}

/// The response to `BookCollections`: one result per collection, with where it was booked.
pub fn collections_response(
    results: &[EventResult],
    log_index: u64,
) -> pb_v1::BookCollectionsResponse {
    let results = results
        .iter()
        .map(|result| {
            let (credited, suspense) = match &result.detail {
                Detail::Collection { credited_account_id, suspense } => (
                    format_u128(*credited_account_id),
                    suspense.map(SuspenseReason::name).unwrap_or_default().to_owned(),
                ),
                _ => (String::new(), String::new()),
            };
            pb_v1::CollectionResult {
                result: Some(event_result(result)),
                credited_account_id: credited,
                suspense,
            }
        })
        .collect();
    pb_v1::BookCollectionsResponse { results, log_index }
}

/// What a `ListPayouts` request asks of the ledger's payout index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayoutListing {
    /// The state listed.
    pub state: PayoutState,
    /// One bank, or every bank.
    pub bank: Option<u32>,
    /// Where the previous page ended.
    pub cursor: Option<PayoutIndexKey>,
    /// Page size.
    pub limit: usize,
}

/// Reads a `ListPayouts` request.
pub fn payout_listing(request: &pb_v1::ListPayoutsRequest) -> Result<PayoutListing, InvalidField> {
    let state = parse_payout_state("state", &request.state)?;
    let limit = super::reads::page_limit("limit", request.limit)?;
    let bank = if request.bank == 0 { None } else { Some(request.bank) };
    let cursor = if request.cursor.is_empty() {
        None
    } else {
        let key = parse_payout_cursor(&request.cursor).ok_or_else(|| {
            invalid("cursor", format!("{:?} is not a cursor this API issued", request.cursor))
        })?;
        if key.state != state || bank.is_some_and(|bank| bank != key.bank) {
            return Err(invalid("cursor", "belongs to a listing of another state or bank"));
        }
        Some(key)
    };
    Ok(PayoutListing { state, bank, cursor, limit })
}

fn parse_payout_cursor(text: &str) -> Option<PayoutIndexKey> {
    let mut parts = text.split('.');
    let state = parts.next()?.parse::<u8>().ok()?;
    let state = PayoutState::ALL.into_iter().find(|candidate| *candidate as u8 == state)?;
    let bank = parts.next()?.parse().ok()?;
    let order = parts.next()?.parse().ok()?;
    let payout_id = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(PayoutIndexKey { state, bank, order, payout_id })
}

/// The cursor of the page after the one that ended at `key` (empty: no more).
pub fn payout_cursor(key: Option<PayoutIndexKey>) -> String {
    match key {
        Some(key) => format!("{}.{}.{}.{}", key.state as u8, key.bank, key.order, key.payout_id),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payout_cursors_round_trip_and_malformed_ones_are_refused() {
        let key = PayoutIndexKey {
            state: PayoutState::Sent,
            bank: 7,
            order: u64::MAX,
            payout_id: u128::MAX,
        };
        assert_eq!(parse_payout_cursor(&payout_cursor(Some(key))), Some(key));
        assert_eq!(payout_cursor(None), "");
        for bad in ["", "2.7.1", "2.7.1.1.1", "9.7.1.1", "2.x.1.1", "2.7.1.-1"] {
            assert_eq!(parse_payout_cursor(bad), None, "{bad:?}");
        }
        let listing = |cursor: &str, state: &str| {
            payout_listing(&pb_v1::ListPayoutsRequest {
                state: state.into(),
                cursor: cursor.into(),
                ..Default::default()
            })
            .map_err(|error| error.field)
        };
        assert_eq!(listing("", "sent").map(|listing| listing.limit), Ok(8_190));
        assert_eq!(listing("2.7.1.1", "sent").map(|listing| listing.cursor.is_some()), Ok(true));
        assert_eq!(listing("0.7.1.1", "sent"), Err("cursor".to_owned()));
        assert_eq!(listing("zz", "sent"), Err("cursor".to_owned()));
        assert_eq!(listing("", "paid"), Err("state".to_owned()));
    }

    #[test]
    fn payout_fields_are_named() {
        let request = pb_v1::CreatePayoutsRequest {
            payouts: vec![pb_v1::NewPayout {
                id: "1".into(),
                amount: "1,000".into(),
                ..Default::default()
            }],
        };
        let error = payout_commands(&request).err();
        assert_eq!(error.map(|error| error.field), Some("payouts[0].amount".to_owned()));
        let request = pb_v1::RecordPayoutOutcomesRequest {
            outcomes: vec![pb_v1::PayoutOutcomeReport {
                payout_id: "1".into(),
                worker_id: "2".into(),
                fencing_token: 1,
                outcome: "paid".into(),
            }],
        };
        let error = outcome_commands(&request).err();
        assert_eq!(error.map(|error| error.field), Some("outcomes[0].outcome".to_owned()));
        let request = pb_v1::ClaimPayoutsRequest { worker_id: "w1".into(), ..Default::default() };
        assert_eq!(
            claim_command(&request).err().map(|error| error.field),
            Some("worker_id".to_owned())
        );
        let request = pb_v1::ClaimPayoutsRequest {
            worker_id: "1".into(),
            claim_id: "-3".into(),
            ..Default::default()
        };
        assert_eq!(
            claim_command(&request).err().map(|error| error.field),
            Some("claim_id".to_owned())
        );
        for state in PayoutState::ALL {
            assert_eq!(parse_payout_state("s", payout_state_name(state)), Ok(state));
        }
    }
}
