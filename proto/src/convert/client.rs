//! The client's direction: ledger values → wire requests, and wire answers → ledger records
//! and results. The server's direction (the parent module and its siblings) reads what these
//! functions write, and writes what they read; the tests below hold the two to each other.
//!
//! Answers are parsed strictly: a node of the same version never sends a malformed answer,
//! so anything off — a 128-bit field that is empty or not decimal, an unknown result code or
//! a code whose name disagrees with its number, a status or state name nobody assigned, an
//! answer with fewer results than events — is an `InvalidField` naming the answer's field,
//! never a panic and never a silent zero. (Request fields keep the server's rule: empty means
//! 0. In an answer the server always writes a number, so an empty one is a fault.)

use tianping_ledger::{
    Account, AccountLimitsChange, AccountStatusChange, AuditAction, AuditRecord, CollectionKey,
    Detail, EventResult, HistoryFilter, Limits, NewAccount, NewCollection, NewPayout, NewTransfer,
    OutflowUsage, Payout, PayoutBatchClaim, PayoutClaim, PayoutOutcome, PayoutState,
    QUERY_LIMIT_MAX, RecordPayoutOutcome, ResultCode, SuspenseReason, Transfer,
};

use super::accounts::{parse_limits, parse_status};
use super::{
    InvalidField, ReadConsistency, format_u128, invalid, limits, parse_payout_state, parse_u128,
    payout_state_name, result_code_name, status_name, to_u16,
};
use crate::v1 as pb_v1;

// ---------------------------------------------------------------------------------------
// Requests.

/// The `ReadOptions` of a read: absent for a linearizable read, else the accepted staleness
/// in whole milliseconds. A bound under one millisecond rounds down to 0, which the server
/// reads as linearizable — the stricter read, never a staler one.
pub fn read_options(consistency: ReadConsistency) -> Option<pb_v1::ReadOptions> {
    match consistency {
        ReadConsistency::Linearizable => None,
        ReadConsistency::BoundedStaleness(staleness) => Some(pb_v1::ReadOptions {
            max_staleness_ms: u64::try_from(staleness.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// A `CreateAccounts` request.
pub fn create_accounts_request(accounts: &[NewAccount]) -> pb_v1::CreateAccountsRequest {
    let accounts = accounts
        .iter()
        .map(|account| pb_v1::NewAccount {
            id: format_u128(account.id),
            ledger: account.ledger,
            code: u32::from(account.code),
            flags: u32::from(account.flags.0),
            credit_line: format_u128(account.credit_line),
            user_data: format_u128(account.user_data),
        })
        .collect();
    pb_v1::CreateAccountsRequest { accounts }
}

/// A `CreateTransfers` request (single-phase, pending, post or void: the flags say which).
pub fn create_transfers_request(transfers: &[NewTransfer]) -> pb_v1::CreateTransfersRequest {
    let transfers = transfers
        .iter()
        .map(|transfer| pb_v1::NewTransfer {
            id: format_u128(transfer.id),
            debit_account_id: format_u128(transfer.debit_account_id),
            credit_account_id: format_u128(transfer.credit_account_id),
            amount: format_u128(transfer.amount),
            pending_id: format_u128(transfer.pending_id),
            user_data: format_u128(transfer.user_data),
            timeout: transfer.timeout,
            ledger: transfer.ledger,
            code: u32::from(transfer.code),
            flags: u32::from(transfer.flags.0),
        })
        .collect();
    pb_v1::CreateTransfersRequest { transfers }
}

/// A `LookupAccounts`, `LookupTransfers` or `LookupPayouts` request.
pub fn lookup_request(ids: &[u128], consistency: ReadConsistency) -> pb_v1::LookupRequest {
    pb_v1::LookupRequest {
        ids: ids.iter().copied().map(format_u128).collect(),
        read: read_options(consistency),
    }
}

/// A page size for the wire, where 0 means "the largest": a ledger limit of 0 cannot be
/// said there, so it is refused rather than silently widened.
pub(super) fn wire_limit(limit: usize) -> Result<u32, InvalidField> {
    if limit == 0 || limit > QUERY_LIMIT_MAX {
        return Err(invalid("limit", format!("{limit} is not in 1..={QUERY_LIMIT_MAX}")));
    }
    u32::try_from(limit).map_err(|_| invalid("limit", format!("{limit} does not fit 32 bits")))
}

/// A `GetAccountTransfers` request for one page of `filter` (`cursor`: the previous page's,
/// empty for the first). `timestamp_max == u64::MAX` is "no bound" (the wire's 0); a
/// `timestamp_max` of 0 or a `limit` of 0 cannot be said on the wire and are refused.
pub fn account_transfers_request(
    filter: &HistoryFilter,
    cursor: &str,
    consistency: ReadConsistency,
) -> Result<pb_v1::AccountTransfersRequest, InvalidField> {
    if filter.timestamp_max == 0 {
        return Err(invalid("timestamp_max", "0 means no bound on the wire; use u64::MAX"));
    }
    Ok(pb_v1::AccountTransfersRequest {
        account_id: format_u128(filter.account_id),
        timestamp_min: filter.timestamp_min,
        timestamp_max: if filter.timestamp_max == u64::MAX { 0 } else { filter.timestamp_max },
        limit: wire_limit(filter.limit)?,
        reversed: filter.reversed,
        cursor: cursor.to_owned(),
        read: read_options(consistency),
    })
}

/// A `SetAccountStatus` request.
pub fn set_account_status_request(
    changes: &[AccountStatusChange],
) -> pb_v1::SetAccountStatusRequest {
    let changes = changes
        .iter()
        .map(|change| pb_v1::AccountStatusChange {
            id: format_u128(change.id),
            expected_controls_version: change.expected_controls_version,
            account_id: format_u128(change.account_id),
            status: status_name(change.status).to_owned(),
            reason: change.reason.clone(),
            actor: change.actor.clone(),
        })
        .collect();
    pb_v1::SetAccountStatusRequest { changes }
}

/// A `SetAccountLimits` request (the limits replace the old ones; `Limits::NONE` lifts them).
pub fn set_account_limits_request(
    changes: &[AccountLimitsChange],
) -> pb_v1::SetAccountLimitsRequest {
    let changes = changes
        .iter()
        .map(|change| pb_v1::AccountLimitsChange {
            id: format_u128(change.id),
            expected_controls_version: change.expected_controls_version,
            account_id: format_u128(change.account_id),
            limits: Some(limits(&change.limits)),
            reason: change.reason.clone(),
            actor: change.actor.clone(),
        })
        .collect();
    pb_v1::SetAccountLimitsRequest { changes }
}

/// A `ListAuditRecords` request: one account's records (or every account's), from
/// `timestamp_min`, `limit` records scanned per page.
pub fn audit_records_request(
    account_id: Option<u128>,
    timestamp_min: u64,
    limit: usize,
    cursor: &str,
    consistency: ReadConsistency,
) -> Result<pb_v1::AuditRecordsRequest, InvalidField> {
    if account_id == Some(0) {
        return Err(invalid("account_id", "0 means every account on the wire; pass None"));
    }
    Ok(pb_v1::AuditRecordsRequest {
        account_id: account_id.map(format_u128).unwrap_or_default(),
        timestamp_min,
        limit: wire_limit(limit)?,
        cursor: cursor.to_owned(),
        read: read_options(consistency),
    })
}

/// A `CreatePayouts` request.
pub fn create_payouts_request(payouts: &[NewPayout]) -> pb_v1::CreatePayoutsRequest {
    let payouts = payouts
        .iter()
        .map(|payout| pb_v1::NewPayout {
            id: format_u128(payout.id),
            debit_account_id: format_u128(payout.debit_account_id),
            credit_account_id: format_u128(payout.credit_account_id),
            amount: format_u128(payout.amount),
            user_data: format_u128(payout.user_data),
            ledger: payout.ledger,
            code: u32::from(payout.code),
            flags: u32::from(payout.flags.0),
            bank: payout.bank,
            beneficiary: payout.beneficiary.clone(),
        })
        .collect();
    pb_v1::CreatePayoutsRequest { payouts }
}

/// A `ClaimPayouts` request under the claim's id.
pub fn claim_payouts_request(claim: &PayoutBatchClaim) -> pb_v1::ClaimPayoutsRequest {
    pb_v1::ClaimPayoutsRequest {
        worker_id: format_u128(claim.worker_id),
        bank: claim.bank,
        max: claim.max,
        lease_ms: claim.lease_ms,
        claim_id: format_u128(claim.claim_id),
    }
}

/// A payout outcome's wire name.
pub fn payout_outcome_name(outcome: PayoutOutcome) -> &'static str {
    match outcome {
        PayoutOutcome::Sent => "sent",
        PayoutOutcome::Unknown => "unknown",
        PayoutOutcome::Succeeded => "succeeded",
        PayoutOutcome::Failed => "failed",
    }
}

/// A `RecordPayoutOutcomes` request.
pub fn record_payout_outcomes_request(
    outcomes: &[RecordPayoutOutcome],
) -> pb_v1::RecordPayoutOutcomesRequest {
    let outcomes = outcomes
        .iter()
        .map(|report| pb_v1::PayoutOutcomeReport {
            payout_id: format_u128(report.payout_id),
            worker_id: format_u128(report.worker_id),
            fencing_token: report.fencing_token,
            outcome: payout_outcome_name(report.outcome).to_owned(),
        })
        .collect();
    pb_v1::RecordPayoutOutcomesRequest { outcomes }
}

/// A `BookCollections` request.
pub fn book_collections_request(collections: &[NewCollection]) -> pb_v1::BookCollectionsRequest {
    let collections = collections.iter().map(new_collection).collect();
    pb_v1::BookCollectionsRequest { collections }
}

/// A bank credit on the wire.
pub(super) fn new_collection(collection: &NewCollection) -> pb_v1::NewCollection {
    pb_v1::NewCollection {
        id: format_u128(collection.id),
        bank: collection.bank,
        bank_reference: collection.bank_reference.clone(),
        beneficiary_account_id: format_u128(collection.beneficiary_account_id),
        settlement_account_id: format_u128(collection.settlement_account_id),
        suspense_account_id: format_u128(collection.suspense_account_id),
        amount: format_u128(collection.amount),
        user_data: format_u128(collection.user_data),
        ledger: collection.ledger,
        code: u32::from(collection.code),
    }
}

/// A `ListPayouts` request: payouts in `state` (of one bank, or of every bank).
pub fn list_payouts_request(
    state: PayoutState,
    bank: Option<u32>,
    limit: usize,
    cursor: &str,
    consistency: ReadConsistency,
) -> Result<pb_v1::ListPayoutsRequest, InvalidField> {
    if bank == Some(0) {
        return Err(invalid("bank", "0 means every bank on the wire; pass None"));
    }
    Ok(pb_v1::ListPayoutsRequest {
        state: payout_state_name(state).to_owned(),
        bank: bank.unwrap_or(0),
        limit: wire_limit(limit)?,
        cursor: cursor.to_owned(),
        read: read_options(consistency),
    })
}

// ---------------------------------------------------------------------------------------
// Answers.

/// A 128-bit value in an answer: the server always writes a number, so empty is refused.
pub(super) fn answer_u128(field: &str, text: &str) -> Result<u128, InvalidField> {
    if text.is_empty() {
        return Err(invalid(field, "is empty; a node always writes a number here"));
    }
    parse_u128(field, text)
}

/// A 16-bit value in an answer.
fn answer_u16(field: &str, value: u32) -> Result<u16, InvalidField> {
    to_u16(field, value)
}

/// A result code from its number, checked against its name.
pub fn parse_result_code(path: &str, code: u32, name: &str) -> Result<ResultCode, InvalidField> {
    let parsed = u16::try_from(code).ok().and_then(ResultCode::from_value).ok_or_else(|| {
        invalid(format!("{path}.code"), format!("{code} is not a result code this client knows"))
    })?;
    let expected = result_code_name(parsed);
    if name != expected {
        return Err(invalid(
            format!("{path}.code_name"),
            format!("{name:?} does not match code {code} ({expected})"),
        ));
    }
    Ok(parsed)
}

/// One event's result from the wire: the code, the timestamp and, when the answer carries an
/// amount, `Detail::Amount`.
pub fn parse_event_result(
    path: &str,
    result: &pb_v1::EventResult,
) -> Result<EventResult, InvalidField> {
    let code = parse_result_code(path, result.code, &result.code_name)?;
    let detail = if result.amount.is_empty() {
        Detail::None
    } else {
        Detail::Amount(answer_u128(&format!("{path}.amount"), &result.amount)?)
    };
    Ok(EventResult { code, timestamp: result.timestamp, detail })
}

/// The results of a create request of `events` events (one per event, in order) and the log
/// index that holds the batch.
pub fn parse_events_response(
    response: &pb_v1::CreateEventsResponse,
    events: usize,
) -> Result<(Vec<EventResult>, u64), InvalidField> {
    check_result_count(response.results.len(), events)?;
    let results = response
        .results
        .iter()
        .enumerate()
        .map(|(index, result)| parse_event_result(&format!("results[{index}]"), result))
        .collect::<Result<_, _>>()?;
    Ok((results, response.log_index))
}

fn check_result_count(answered: usize, events: usize) -> Result<(), InvalidField> {
    if answered != events {
        return Err(invalid("results", format!("{answered} results for {events} events")));
    }
    Ok(())
}

/// An account from the wire. The wire carries what a client needs (balances, status, limits);
/// the ledger's own bookkeeping — `status_changed_at`, `limits_day` and `outflow_usage` — is
/// not sent, and reads as 0 / empty here.
pub fn parse_account(path: &str, account: &pb_v1::Account) -> Result<Account, InvalidField> {
    let field = |name: &str| format!("{path}.{name}");
    let limits = account.limits.as_ref().ok_or_else(|| invalid(field("limits"), "is absent"))?;
    Ok(Account {
        id: answer_u128(&field("id"), &account.id)?,
        ledger: account.ledger,
        code: answer_u16(&field("code"), account.code)?,
        flags: tianping_ledger::AccountFlags(answer_u16(&field("flags"), account.flags)?),
        credit_line: answer_u128(&field("credit_line"), &account.credit_line)?,
        user_data: answer_u128(&field("user_data"), &account.user_data)?,
        debits_pending: answer_u128(&field("debits_pending"), &account.debits_pending)?,
        debits_posted: answer_u128(&field("debits_posted"), &account.debits_posted)?,
        credits_pending: answer_u128(&field("credits_pending"), &account.credits_pending)?,
        credits_posted: answer_u128(&field("credits_posted"), &account.credits_posted)?,
        status: parse_status(&field("status"), &account.status)?,
        status_changed_at: 0,
        limits: parse_limits(&field("limits"), Some(limits))?,
        limits_day: 0,
        outflow_usage: OutflowUsage::default(),
        timestamp: account.timestamp,
    })
}

/// A transfer from the wire.
pub fn parse_transfer(path: &str, transfer: &pb_v1::Transfer) -> Result<Transfer, InvalidField> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(Transfer {
        id: answer_u128(&field("id"), &transfer.id)?,
        debit_account_id: answer_u128(&field("debit_account_id"), &transfer.debit_account_id)?,
        credit_account_id: answer_u128(&field("credit_account_id"), &transfer.credit_account_id)?,
        amount: answer_u128(&field("amount"), &transfer.amount)?,
        amount_requested: answer_u128(&field("amount_requested"), &transfer.amount_requested)?,
        pending_id: answer_u128(&field("pending_id"), &transfer.pending_id)?,
        user_data: answer_u128(&field("user_data"), &transfer.user_data)?,
        timeout: transfer.timeout,
        ledger: transfer.ledger,
        code: answer_u16(&field("code"), transfer.code)?,
        flags: tianping_ledger::TransferFlags(answer_u16(&field("flags"), transfer.flags)?),
        timestamp: transfer.timestamp,
    })
}

/// Parses every element of a repeated answer field named `name`.
pub fn parse_all<W, T>(
    name: &str,
    items: &[W],
    parse: impl Fn(&str, &W) -> Result<T, InvalidField>,
) -> Result<Vec<T>, InvalidField> {
    items.iter().enumerate().map(|(index, item)| parse(&format!("{name}[{index}]"), item)).collect()
}

/// An audit record from the wire.
pub fn parse_audit_record(
    path: &str,
    record: &pb_v1::AuditRecord,
) -> Result<AuditRecord, InvalidField> {
    let field = |name: &str| format!("{path}.{name}");
    let action = match &record.change {
        Some(pb_v1::audit_record::Change::Status(change)) => AuditAction::Status {
            from: parse_status(&field("status.from"), &change.from)?,
            to: parse_status(&field("status.to"), &change.to)?,
        },
        Some(pb_v1::audit_record::Change::Limits(change)) => AuditAction::Limits {
            from: required_limits(&field("limits.from"), change.from.as_ref())?,
            to: required_limits(&field("limits.to"), change.to.as_ref())?,
        },
        Some(pb_v1::audit_record::Change::SuspenseAssigned(change)) => {
            AuditAction::SuspenseAssigned {
                assignment_id: answer_u128(
                    &field("suspense_assigned.assignment_id"),
                    &change.assignment_id,
                )?,
                collection: CollectionKey {
                    bank: change.bank,
                    bank_reference: change.bank_reference.clone(),
                },
                suspense_account_id: answer_u128(
                    &field("suspense_assigned.suspense_account_id"),
                    &change.suspense_account_id,
                )?,
                amount: answer_u128(&field("suspense_assigned.amount"), &change.amount)?,
            }
        }
        None => return Err(invalid(field("change"), "is absent")),
    };
    Ok(AuditRecord {
        timestamp: record.timestamp,
        account_id: answer_u128(&field("account_id"), &record.account_id)?,
        action,
        reason: record.reason.clone(),
        actor: record.actor.clone(),
    })
}

fn required_limits(
    path: &str,
    wire: Option<&pb_v1::AccountLimits>,
) -> Result<Limits, InvalidField> {
    let wire = wire.ok_or_else(|| invalid(path, "is absent"))?;
    parse_limits(path, Some(wire))
}

/// A payout from the wire.
pub fn parse_payout(path: &str, payout: &pb_v1::Payout) -> Result<Payout, InvalidField> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(Payout {
        id: answer_u128(&field("id"), &payout.id)?,
        debit_account_id: answer_u128(&field("debit_account_id"), &payout.debit_account_id)?,
        credit_account_id: answer_u128(&field("credit_account_id"), &payout.credit_account_id)?,
        amount: answer_u128(&field("amount"), &payout.amount)?,
        user_data: answer_u128(&field("user_data"), &payout.user_data)?,
        ledger: payout.ledger,
        code: answer_u16(&field("code"), payout.code)?,
        bank: payout.bank,
        beneficiary: payout.beneficiary.clone(),
        state: parse_payout_state(&field("state"), &payout.state)?,
        fencing_token: payout.fencing_token,
        worker_id: answer_u128(&field("worker_id"), &payout.worker_id)?,
        lease_until: payout.lease_until,
        created_at: payout.created_at,
        updated_at: payout.updated_at,
    })
}

/// A claim's result from the wire: on success (`ok`, or `exists` for a claim id used before)
/// its detail is `Detail::Claims` (possibly empty: nothing was claimable, or nothing is held
/// any more), and the log index that holds it.
pub fn parse_claim_response(
    response: &pb_v1::ClaimPayoutsResponse,
) -> Result<(EventResult, u64), InvalidField> {
    let wire = response.result.as_ref().ok_or_else(|| invalid("result", "is absent"))?;
    let mut result = parse_event_result("result", wire)?;
    if let Detail::Amount(_) = result.detail {
        return Err(invalid("result.amount", "a claim moves no amount"));
    }
    let claims = parse_all("claims", &response.claims, |path, claim| {
        let payout =
            claim.payout.as_ref().ok_or_else(|| invalid(format!("{path}.payout"), "is absent"))?;
        Ok(PayoutClaim {
            payout: parse_payout(&format!("{path}.payout"), payout)?,
            must_inquire_first: claim.must_inquire_first,
        })
    })?;
    if result.code.is_success() {
        result.detail = Detail::Claims(claims);
    } else if !claims.is_empty() {
        return Err(invalid("claims", "a refused claim handed out payouts"));
    }
    Ok((result, response.log_index))
}

pub(super) fn parse_suspense(
    field: &str,
    text: &str,
) -> Result<Option<SuspenseReason>, InvalidField> {
    if text.is_empty() {
        return Ok(None);
    }
    SuspenseReason::ALL
        .into_iter()
        .find(|reason| reason.name() == text)
        .map(Some)
        .ok_or_else(|| invalid(field, format!("{text:?} is not a suspense reason")))
}

/// The results of a `BookCollections` request of `events` collections: a booked (or
/// `exists`) collection's detail is `Detail::Collection`, a refused one's `Detail::None`.
pub fn parse_collections_response(
    response: &pb_v1::BookCollectionsResponse,
    events: usize,
) -> Result<(Vec<EventResult>, u64), InvalidField> {
    check_result_count(response.results.len(), events)?;
    let results = parse_all("results", &response.results, |path, booked| {
        let wire =
            booked.result.as_ref().ok_or_else(|| invalid(format!("{path}.result"), "is absent"))?;
        let mut result = parse_event_result(&format!("{path}.result"), wire)?;
        if booked.credited_account_id.is_empty() {
            if !booked.suspense.is_empty() {
                return Err(invalid(format!("{path}.suspense"), "set with no credited account"));
            }
        } else {
            result.detail = Detail::Collection {
                credited_account_id: answer_u128(
                    &format!("{path}.credited_account_id"),
                    &booked.credited_account_id,
                )?,
                suspense: parse_suspense(&format!("{path}.suspense"), &booked.suspense)?,
            };
        }
        Ok(result)
    })?;
    Ok((results, response.log_index))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tianping_ledger::{AccountFlags, AccountStatus, Command, TransferFlags};

    use super::super::{
        AuditListing, account, account_commands, audit_listing, audit_response, claim_command,
        claim_response, collection_commands, collections_response, event_result, events_response,
        history_filter, limits_commands, lookup_ids, outcome_commands, payout, payout_commands,
        payout_listing, read_consistency, status_commands, transfer, transfer_commands,
    };
    use super::*;

    const BIG: u128 = u128::MAX - 1;

    #[test]
    fn every_result_code_survives_the_trip() {
        for code in ResultCode::ALL {
            for detail in [Detail::None, Detail::Amount(0), Detail::Amount(BIG)] {
                let sent = EventResult { code: *code, timestamp: 1 << 60, detail };
                let wire = event_result(&sent);
                assert_eq!(parse_event_result("r", &wire), Ok(sent), "{code:?}");
            }
        }
    }

    #[test]
    fn malformed_results_are_refused_with_their_field() {
        let good = event_result(&EventResult::code(ResultCode::ExceedsCredits, 5));
        let field = |wire: pb_v1::EventResult| parse_event_result("r", &wire).map_err(|e| e.field);
        assert_eq!(field(pb_v1::EventResult { code: 9_999, ..good.clone() }), Err("r.code".into()));
        assert_eq!(
            field(pb_v1::EventResult { code: 70_000, ..good.clone() }),
            Err("r.code".into())
        );
        assert_eq!(
            field(pb_v1::EventResult { code_name: "ok".into(), ..good.clone() }),
            Err("r.code_name".into())
        );
        assert_eq!(
            field(pb_v1::EventResult { amount: "-1".into(), ..good.clone() }),
            Err("r.amount".into())
        );
        let response = pb_v1::CreateEventsResponse { results: vec![good], log_index: 3 };
        assert_eq!(parse_events_response(&response, 2).map_err(|e| e.field), Err("results".into()));
        assert!(parse_events_response(&response, 1).is_ok());
    }

    #[test]
    fn accounts_and_transfers_the_client_encodes_are_what_the_server_reads() {
        let accounts = [
            NewAccount {
                id: BIG,
                ledger: u32::MAX,
                code: u16::MAX,
                flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::HISTORY,
                credit_line: BIG,
                user_data: 7,
            },
            NewAccount::default(),
        ];
        let commands = account_commands(&create_accounts_request(&accounts));
        let expected: Vec<Command> = accounts.iter().copied().map(Command::CreateAccount).collect();
        assert_eq!(commands, Ok(expected));
        let transfers = [
            NewTransfer {
                id: BIG,
                debit_account_id: 1,
                credit_account_id: u128::MAX,
                amount: BIG,
                pending_id: 3,
                user_data: 4,
                timeout: u32::MAX,
                ledger: 9,
                code: 65_535,
                flags: TransferFlags::PENDING | TransferFlags::LINKED,
            },
            NewTransfer { flags: TransferFlags(u16::MAX), ..NewTransfer::default() },
        ];
        let commands = transfer_commands(&create_transfers_request(&transfers));
        let expected: Vec<Command> =
            transfers.iter().copied().map(Command::CreateTransfer).collect();
        assert_eq!(commands, Ok(expected));
        let ids = [1, BIG, u128::MAX];
        let request = lookup_request(&ids, ReadConsistency::Linearizable);
        assert_eq!(lookup_ids(&request), Ok(ids.to_vec()));
    }

    #[test]
    fn records_the_server_writes_are_what_the_client_reads() {
        let record = Account {
            id: BIG,
            ledger: 2,
            code: 3,
            flags: AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            credit_line: 5,
            user_data: BIG,
            debits_pending: 1,
            debits_posted: u128::MAX,
            credits_pending: 3,
            credits_posted: 4,
            status: AccountStatus::OutflowBlocked,
            status_changed_at: 0,
            limits: Limits {
                per_transfer_amount_max: Some(0),
                per_day_amount_max: None,
                per_day_count_max: Some(9),
            },
            limits_day: 0,
            outflow_usage: OutflowUsage::default(),
            timestamp: 77,
        };
        assert_eq!(parse_account("a", &account(&record, 5)), Ok(record));
        assert_eq!(account(&record, 5).controls_version, 5);
        let moved = Transfer {
            id: 1,
            debit_account_id: 2,
            credit_account_id: 3,
            amount: BIG,
            amount_requested: u128::MAX,
            pending_id: 0,
            user_data: 0,
            timeout: 60,
            ledger: 1,
            code: 1,
            flags: TransferFlags::POST_PENDING,
            timestamp: u64::MAX,
        };
        assert_eq!(parse_transfer("t", &transfer(&moved)), Ok(moved));
        let mut wire = account(&record, 0);
        wire.debits_posted = String::new();
        assert_eq!(parse_account("a", &wire).map_err(|e| e.field), Err("a.debits_posted".into()));
        wire = account(&record, 0);
        wire.status = "asleep".into();
        assert_eq!(parse_account("a", &wire).map_err(|e| e.field), Err("a.status".into()));
        wire = account(&record, 0);
        wire.limits = None;
        assert_eq!(parse_account("a", &wire).map_err(|e| e.field), Err("a.limits".into()));
        let mut wire = transfer(&moved);
        wire.code = 65_536;
        assert_eq!(parse_transfer("t", &wire).map_err(|e| e.field), Err("t.code".into()));
    }

    #[test]
    fn reads_history_and_audit_requests_round_trip() {
        for consistency in [
            ReadConsistency::Linearizable,
            ReadConsistency::BoundedStaleness(Duration::from_millis(1)),
            ReadConsistency::BoundedStaleness(Duration::from_millis(250)),
        ] {
            assert_eq!(read_consistency(read_options(consistency).as_ref()), consistency);
        }
        let below_a_millisecond = ReadConsistency::BoundedStaleness(Duration::from_micros(900));
        assert_eq!(
            read_consistency(read_options(below_a_millisecond).as_ref()),
            ReadConsistency::Linearizable
        );
        let filter = HistoryFilter {
            account_id: BIG,
            timestamp_min: 5,
            timestamp_max: u64::MAX,
            limit: 10,
            reversed: true,
        };
        let request = account_transfers_request(&filter, "", ReadConsistency::Linearizable);
        assert_eq!(request.as_ref().map(history_filter), Ok(Ok(Some(filter))));
        let bounded = HistoryFilter { timestamp_max: 99, reversed: false, ..filter };
        let request = account_transfers_request(&bounded, "", ReadConsistency::Linearizable);
        assert_eq!(request.as_ref().map(history_filter), Ok(Ok(Some(bounded))));
        for (bad, field) in [
            (HistoryFilter { limit: 0, ..filter }, "limit"),
            (HistoryFilter { limit: QUERY_LIMIT_MAX + 1, ..filter }, "limit"),
            (HistoryFilter { timestamp_max: 0, ..filter }, "timestamp_max"),
        ] {
            let error = account_transfers_request(&bad, "", ReadConsistency::Linearizable);
            assert_eq!(error.map_err(|e| e.field), Err(field.to_owned()));
        }
        let request = audit_records_request(Some(BIG), 40, 20, "41", ReadConsistency::Linearizable);
        let listing = request.as_ref().map(audit_listing);
        let listing = listing.ok().and_then(Result::ok);
        assert_eq!(
            listing.map(|l| (l.account_id, l.timestamp_min, l.limit)),
            Some((Some(BIG), Some(42), 20))
        );
        let every = audit_records_request(None, 0, 1, "", ReadConsistency::Linearizable);
        assert_eq!(every.map(|r| audit_listing(&r).map(|l| l.account_id)), Ok(Ok(None)));
        let zero = audit_records_request(Some(0), 0, 1, "", ReadConsistency::Linearizable);
        assert_eq!(zero.map_err(|e| e.field), Err("account_id".into()));
    }

    #[test]
    fn account_controls_round_trip() {
        let statuses: Vec<AccountStatusChange> = [
            AccountStatus::Active,
            AccountStatus::OutflowBlocked,
            AccountStatus::Frozen,
            AccountStatus::Closed,
        ]
        .into_iter()
        .zip(1..)
        .map(|(status, version)| AccountStatusChange {
            id: BIG - version,
            account_id: BIG,
            expected_controls_version: u64::MAX - version as u64,
            status,
            reason: "kyc".into(),
            actor: "risk-desk".into(),
        })
        .collect();
        let expected: Vec<Command> =
            statuses.iter().cloned().map(Command::ChangeAccountStatus).collect();
        assert_eq!(status_commands(&set_account_status_request(&statuses)), Ok(expected));
        let limits = [
            Limits::NONE,
            Limits {
                per_transfer_amount_max: Some(0),
                per_day_amount_max: Some(BIG),
                per_day_count_max: Some(0),
            },
        ]
        .map(|limits| AccountLimitsChange {
            id: 3,
            account_id: 1,
            expected_controls_version: 7,
            limits,
            reason: "r".into(),
            actor: "a".into(),
        });
        let expected: Vec<Command> =
            limits.iter().cloned().map(Command::ChangeAccountLimits).collect();
        assert_eq!(limits_commands(&set_account_limits_request(&limits)), Ok(expected));
    }

    #[test]
    fn audit_records_survive_the_trip() {
        let records = [
            AuditRecord {
                timestamp: 9,
                account_id: BIG,
                action: AuditAction::Status {
                    from: AccountStatus::Active,
                    to: AccountStatus::Frozen,
                },
                reason: "fraud".into(),
                actor: "ops".into(),
            },
            AuditRecord {
                timestamp: 10,
                account_id: 1,
                action: AuditAction::Limits {
                    from: Limits::NONE,
                    to: Limits {
                        per_transfer_amount_max: Some(5),
                        per_day_amount_max: None,
                        per_day_count_max: Some(1),
                    },
                },
                reason: String::new(),
                actor: "ops".into(),
            },
        ];
        let listing = AuditListing { account_id: None, timestamp_min: Some(0), limit: 10 };
        let response = audit_response(&listing, &records, 4);
        assert_eq!(
            parse_all("records", &response.records, parse_audit_record),
            Ok(records.to_vec())
        );
        let mut broken = response.records[0].clone();
        broken.change = None;
        assert_eq!(parse_audit_record("r", &broken).map_err(|e| e.field), Err("r.change".into()));
    }

    fn sample_payout(state: PayoutState) -> Payout {
        Payout {
            id: BIG,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: BIG,
            user_data: 0,
            ledger: 1,
            code: 7,
            bank: 3,
            beneficiary: "DE89 3704".into(),
            state,
            fencing_token: 4,
            worker_id: 5,
            lease_until: 6,
            created_at: 7,
            updated_at: 8,
        }
    }

    #[test]
    fn payout_requests_round_trip() {
        let payouts = [NewPayout {
            id: BIG,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: 3,
            user_data: BIG,
            ledger: 4,
            code: 5,
            flags: TransferFlags::LINKED,
            bank: 6,
            beneficiary: "acct".into(),
        }];
        let expected: Vec<Command> = payouts.iter().cloned().map(Command::CreatePayout).collect();
        assert_eq!(payout_commands(&create_payouts_request(&payouts)), Ok(expected));
        let claim = PayoutBatchClaim {
            claim_id: BIG - 1,
            worker_id: BIG,
            bank: 3,
            max: 256,
            lease_ms: 60_000,
        };
        assert_eq!(
            claim_command(&claim_payouts_request(&claim)),
            Ok(Command::ClaimPayoutBatch(claim))
        );
        // A request without a claim id (an older worker) is the unkeyed claim.
        let unkeyed =
            pb_v1::ClaimPayoutsRequest { claim_id: String::new(), ..claim_payouts_request(&claim) };
        assert_eq!(
            claim_command(&unkeyed),
            Ok(Command::ClaimPayouts(tianping_ledger::ClaimPayouts {
                worker_id: BIG,
                bank: 3,
                max: 256,
                lease_ms: 60_000
            }))
        );
        let outcomes: Vec<RecordPayoutOutcome> = [
            PayoutOutcome::Sent,
            PayoutOutcome::Unknown,
            PayoutOutcome::Succeeded,
            PayoutOutcome::Failed,
        ]
        .into_iter()
        .map(|outcome| RecordPayoutOutcome {
            payout_id: BIG,
            worker_id: 2,
            fencing_token: 3,
            outcome,
        })
        .collect();
        let expected: Vec<Command> =
            outcomes.iter().copied().map(Command::RecordPayoutOutcome).collect();
        assert_eq!(outcome_commands(&record_payout_outcomes_request(&outcomes)), Ok(expected));
        let collections = [NewCollection {
            id: 1,
            bank: 2,
            bank_reference: "ref-1".into(),
            beneficiary_account_id: BIG,
            settlement_account_id: 3,
            suspense_account_id: 4,
            amount: BIG,
            user_data: 5,
            ledger: 6,
            code: 7,
        }];
        let expected: Vec<Command> =
            collections.iter().cloned().map(Command::BookCollection).collect();
        assert_eq!(collection_commands(&book_collections_request(&collections)), Ok(expected));
        for state in PayoutState::ALL {
            let request =
                list_payouts_request(state, Some(3), 5, "", ReadConsistency::Linearizable);
            let listing = request.as_ref().map(payout_listing);
            assert_eq!(
                listing.map(|l| l.map(|l| (l.state, l.bank, l.limit))),
                Ok(Ok((state, Some(3), 5)))
            );
        }
        let every =
            list_payouts_request(PayoutState::Sent, None, 5, "", ReadConsistency::Linearizable);
        assert_eq!(every.map(|r| payout_listing(&r).map(|l| l.bank)), Ok(Ok(None)));
    }

    #[test]
    fn payout_answers_round_trip() {
        for state in PayoutState::ALL {
            let record = sample_payout(state);
            assert_eq!(parse_payout("p", &payout(&record)), Ok(record));
        }
        let claims = vec![
            PayoutClaim { payout: sample_payout(PayoutState::Claimed), must_inquire_first: true },
            PayoutClaim { payout: sample_payout(PayoutState::Claimed), must_inquire_first: false },
        ];
        for result in [
            EventResult {
                code: ResultCode::Ok,
                timestamp: 3,
                detail: Detail::Claims(claims.clone()),
            },
            EventResult { code: ResultCode::Ok, timestamp: 3, detail: Detail::Claims(Vec::new()) },
            // A retried claim id: what the claim still holds.
            EventResult { code: ResultCode::Exists, timestamp: 2, detail: Detail::Claims(claims) },
            EventResult {
                code: ResultCode::Exists,
                timestamp: 2,
                detail: Detail::Claims(Vec::new()),
            },
            EventResult::code(ResultCode::ClaimMaxOutOfRange, 4),
            EventResult::code(ResultCode::ExistsWithDifferentClaim, 5),
        ] {
            let wire = claim_response(std::slice::from_ref(&result), 12);
            assert_eq!(parse_claim_response(&wire), Ok((result, 12)));
        }
        let collections = vec![
            EventResult {
                code: ResultCode::Ok,
                timestamp: 1,
                detail: Detail::Collection { credited_account_id: BIG, suspense: None },
            },
            EventResult {
                code: ResultCode::Exists,
                timestamp: 2,
                detail: Detail::Collection {
                    credited_account_id: 4,
                    suspense: Some(SuspenseReason::BeneficiaryCannotTakeCredit),
                },
            },
            EventResult::code(ResultCode::AmountMustNotBeZero, 3),
        ];
        let wire = collections_response(&collections, 8);
        assert_eq!(parse_collections_response(&wire, 3), Ok((collections, 8)));
        let mut broken = wire.clone();
        broken.results[0].suspense = "beneficiary_asleep".into();
        assert_eq!(
            parse_collections_response(&broken, 3).map_err(|e| e.field),
            Err("results[0].suspense".into())
        );
        let events = events_response(&[EventResult::code(ResultCode::Ok, 1)], 2);
        assert_eq!(parse_events_response(&events, 1).map(|(_, index)| index), Ok(2));
    }
}
