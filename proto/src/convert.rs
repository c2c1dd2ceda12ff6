//! Protobuf ↔ ledger conversion: the only place that knows the client wire format.
//!
//! 128-bit values (ids, amounts, balances, credit lines, user data) travel as decimal strings
//! (see `tianping/v1/ledger.proto`): a person can type them into grpcurl's JSON and every
//! client maps them to `u128` losslessly. Parsing is strict — ASCII digits only, at most 39 of
//! them, no sign, no spaces, no overflow — and the empty string (proto3's default, i.e. the
//! field was left out) means 0, so the ledger answers its own result code for a required id
//! that is missing (`id_must_not_be_zero`). Anything else malformed is an `InvalidField` that
//! names the field's path (`transfers[2].amount`) and becomes `INVALID_ARGUMENT`: malformed
//! input is an operating error, never a panic.
//!
//! Submodules, each re-exported here: `reads` (read consistency, history pages and cursors),
//! `accounts` (status and limits changes), `payouts` (payouts and collections), `suspense`
//! (payout history and the suspense desk), `discrepancies` (reconciliation), `feed` (the
//! change feed, both directions) — the server's
//! direction, wire request → ledger command and ledger record → wire answer — and `client`,
//! the other direction for the Rust SDK (ledger value → wire request, wire answer → ledger
//! record or result, parsed strictly), tested against the server's.
//!
//! Cluster members (`tianping.v1.Member`) are converted by the server (`tianping-node`'s
//! `members` module): a member's Raft-side type is openraft's node record, which this crate
//! must never link.

mod accounts;
mod client;
mod discrepancies;
mod feed;
mod payouts;
mod reads;
mod suspense;

pub use accounts::{
    AuditListing, audit_listing, audit_response, limits, limits_commands, status_commands,
    status_name,
};
pub use client::{
    account_transfers_request, audit_records_request, book_collections_request,
    claim_payouts_request, create_accounts_request, create_payouts_request,
    create_transfers_request, list_payouts_request, lookup_request, parse_account, parse_all,
    parse_audit_record, parse_claim_response, parse_collections_response, parse_event_result,
    parse_events_response, parse_payout, parse_result_code, parse_transfer, payout_outcome_name,
    read_options, record_payout_outcomes_request, set_account_limits_request,
    set_account_status_request,
};
pub use discrepancies::{
    DiscrepancyListing, discrepancies_response, discrepancy, discrepancy_listing,
    list_discrepancies_request, parse_discrepancies_response, parse_discrepancy,
    record_discrepancies_request, record_discrepancy_commands, resolve_discrepancies_request,
    resolve_discrepancy_commands,
};
pub use feed::{
    BATCH_REFUSED_CODE, BATCH_REFUSED_CODE_NAME, FEED_OLDEST_HEADER, feed_event, feed_position,
    parse_feed_event, parse_feed_position,
};
pub use payouts::{
    PayoutListing, claim_command, claim_response, collection_commands, collections_response,
    outcome_commands, parse_payout_state, payout, payout_commands, payout_cursor, payout_listing,
    payout_state_name,
};
pub use reads::{ReadConsistency, history_cursor, history_filter, read_consistency};
pub use suspense::{
    PayoutHistoryListing, SuspenseListing, assign_suspense_request, assignment_commands,
    list_suspense_request, parse_payout_history_response, parse_suspense_response,
    payout_history_listing, payout_history_record, payout_history_request, payout_history_response,
    suspense_collection, suspense_cursor, suspense_listing, suspense_response,
};

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::raft as pb_raft;
use crate::v1 as pb_v1;
use tianping_ledger::{
    Account, AccountFlags, BATCH_EVENTS_MAX, Command, Detail, EventResult, NewAccount, NewTransfer,
    QUERY_LIMIT_MAX, ResultCode, TEXT_BYTES_MAX, Transfer, TransferFlags,
};

/// Most decimal digits of a `u128` (`u128::MAX` has 39).
const U128_DECIMAL_DIGITS_MAX: usize = 39;

/// A request field that does not hold a valid value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidField {
    /// The field's path in the request, e.g. `accounts[0].id`.
    pub field: String,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for InvalidField {}

impl InvalidField {
    /// The field at path `field` does not hold a valid value, for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> InvalidField {
        InvalidField { field: field.into(), reason: reason.into() }
    }

    /// Reads back the message of an `INVALID_ARGUMENT` status this crate made (`Display`:
    /// `invalid <field>: <reason>`); `None` for a message of another shape.
    pub fn from_message(message: &str) -> Option<InvalidField> {
        let (field, reason) = message.strip_prefix("invalid ")?.split_once(": ")?;
        (!field.is_empty()).then(|| invalid(field, reason))
    }
}

impl From<InvalidField> for tonic::Status {
    fn from(error: InvalidField) -> tonic::Status {
        tonic::Status::invalid_argument(error.to_string())
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidField {
    InvalidField::new(field, reason)
}

/// Parses a decimal `u128` (empty = 0), naming `field` when it is malformed.
pub fn parse_u128(field: &str, text: &str) -> Result<u128, InvalidField> {
    if text.is_empty() {
        return Ok(0);
    }
    if text.len() > U128_DECIMAL_DIGITS_MAX || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid(
            field,
            format!("{text:?} is not an unsigned decimal integer of at most 39 digits"),
        ));
    }
    text.parse::<u128>().map_err(|_| invalid(field, format!("{text:?} is larger than 2^128 - 1")))
}

/// Formats a `u128` the way `parse_u128` reads it.
pub fn format_u128(value: u128) -> String {
    value.to_string()
}

/// A free-text field (`reason`, `actor`, `beneficiary`, `bank_reference`), refused here when
/// longer than the ledger accepts: the ledger would refuse it too (`text_too_long`), but only
/// after it was replicated and stored, so a careless client's megabytes would cross every
/// data center first and stall every other write behind them (issue 11, bounded inputs).
pub(crate) fn text(field: &str, value: &str) -> Result<String, InvalidField> {
    if value.len() > TEXT_BYTES_MAX {
        return Err(invalid(
            field,
            format!("{} bytes, more than the limit of {TEXT_BYTES_MAX}", value.len()),
        ));
    }
    Ok(value.to_owned())
}

fn to_u16(field: &str, value: u32) -> Result<u16, InvalidField> {
    u16::try_from(value).map_err(|_| invalid(field, format!("{value} is larger than 65535")))
}

fn check_event_count(field: &str, count: usize) -> Result<(), InvalidField> {
    if count > BATCH_EVENTS_MAX {
        return Err(invalid(
            field,
            format!("{count} events, more than the limit of {BATCH_EVENTS_MAX} per request"),
        ));
    }
    Ok(())
}

/// The commands of a `CreateAccounts` request, in order.
pub fn account_commands(
    request: &pb_v1::CreateAccountsRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("accounts", request.accounts.len())?;
    request
        .accounts
        .iter()
        .enumerate()
        .map(|(index, account)| {
            let field = |name: &str| format!("accounts[{index}].{name}");
            Ok(Command::CreateAccount(NewAccount {
                id: parse_u128(&field("id"), &account.id)?,
                ledger: account.ledger,
                code: to_u16(&field("code"), account.code)?,
                flags: AccountFlags(to_u16(&field("flags"), account.flags)?),
                credit_line: parse_u128(&field("credit_line"), &account.credit_line)?,
                user_data: parse_u128(&field("user_data"), &account.user_data)?,
            }))
        })
        .collect()
}

/// The commands of a `CreateTransfers` request, in order.
pub fn transfer_commands(
    request: &pb_v1::CreateTransfersRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("transfers", request.transfers.len())?;
    request
        .transfers
        .iter()
        .enumerate()
        .map(|(index, transfer)| {
            let field = |name: &str| format!("transfers[{index}].{name}");
            Ok(Command::CreateTransfer(NewTransfer {
                id: parse_u128(&field("id"), &transfer.id)?,
                debit_account_id: parse_u128(
                    &field("debit_account_id"),
                    &transfer.debit_account_id,
                )?,
                credit_account_id: parse_u128(
                    &field("credit_account_id"),
                    &transfer.credit_account_id,
                )?,
                amount: parse_u128(&field("amount"), &transfer.amount)?,
                pending_id: parse_u128(&field("pending_id"), &transfer.pending_id)?,
                user_data: parse_u128(&field("user_data"), &transfer.user_data)?,
                timeout: transfer.timeout,
                ledger: transfer.ledger,
                code: to_u16(&field("code"), transfer.code)?,
                flags: TransferFlags(to_u16(&field("flags"), transfer.flags)?),
            }))
        })
        .collect()
}

/// The ids of a lookup, in request order.
pub fn lookup_ids(request: &pb_v1::LookupRequest) -> Result<Vec<u128>, InvalidField> {
    if request.ids.len() > QUERY_LIMIT_MAX {
        return Err(invalid(
            "ids",
            format!("{} ids, more than the limit of {QUERY_LIMIT_MAX}", request.ids.len()),
        ));
    }
    request
        .ids
        .iter()
        .enumerate()
        .map(|(index, id)| parse_u128(&format!("ids[{index}]"), id))
        .collect()
}

/// A result code's snake_case name (`DebitAccountNotFound` → `debit_account_not_found`),
/// the spelling clients, logs and metrics share.
pub fn result_code_name(code: ResultCode) -> String {
    let mut name = String::new();
    for (index, character) in code.name().chars().enumerate() {
        if character.is_ascii_uppercase() {
            if index > 0 {
                name.push('_');
            }
            name.push(character.to_ascii_lowercase());
        } else {
            name.push(character);
        }
    }
    name
}

/// One event's result on the wire.
pub fn event_result(result: &EventResult) -> pb_v1::EventResult {
    let amount = match result.detail {
        Detail::Amount(amount) => format_u128(amount),
        _ => String::new(),
    };
    pb_v1::EventResult {
        code: u32::from(result.code.value()),
        code_name: result_code_name(result.code),
        timestamp: result.timestamp,
        amount,
    }
}

/// The response to a create request: one result per event, and where the batch is in the log.
pub fn events_response(results: &[EventResult], log_index: u64) -> pb_v1::CreateEventsResponse {
    pb_v1::CreateEventsResponse { results: results.iter().map(event_result).collect(), log_index }
}

/// An account on the wire, with its controls version (`AccountControls::version`, 0 while
/// its controls never changed).
pub fn account(account: &Account, controls_version: u64) -> pb_v1::Account {
    pb_v1::Account {
        id: format_u128(account.id),
        ledger: account.ledger,
        code: u32::from(account.code),
        flags: u32::from(account.flags.0),
        credit_line: format_u128(account.credit_line),
        user_data: format_u128(account.user_data),
        debits_pending: format_u128(account.debits_pending),
        debits_posted: format_u128(account.debits_posted),
        credits_pending: format_u128(account.credits_pending),
        credits_posted: format_u128(account.credits_posted),
        status: status_name(account.status).to_owned(),
        timestamp: account.timestamp,
        limits: Some(limits(&account.limits)),
        controls_version,
    }
}

/// A transfer on the wire.
pub fn transfer(transfer: &Transfer) -> pb_v1::Transfer {
    pb_v1::Transfer {
        id: format_u128(transfer.id),
        debit_account_id: format_u128(transfer.debit_account_id),
        credit_account_id: format_u128(transfer.credit_account_id),
        amount: format_u128(transfer.amount),
        amount_requested: format_u128(transfer.amount_requested),
        pending_id: format_u128(transfer.pending_id),
        user_data: format_u128(transfer.user_data),
        timeout: transfer.timeout,
        ledger: transfer.ledger,
        code: u32::from(transfer.code),
        flags: u32::from(transfer.flags.0),
        timestamp: transfer.timestamp,
    }
}

/// Frames an openraft message for the Raft transport: postcard bytes in a `RaftPayload`.
/// Postcard is compact and already the format of the project's stored records; both ends of a
/// cluster run the same build, so the openraft types on either side agree.
pub fn raft_payload<T: Serialize>(message: &T) -> Result<pb_raft::RaftPayload, tonic::Status> {
    postcard::to_allocvec(message)
        .map(|payload| pb_raft::RaftPayload { payload })
        .map_err(|error| tonic::Status::internal(format!("encoding a Raft message: {error}")))
}

/// Reads an openraft message framed by `raft_payload`; `what` names it in the error.
pub fn from_raft_bytes<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, InvalidField> {
    postcard::from_bytes(bytes).map_err(|error| invalid(what, format!("does not decode: {error}")))
}

/// The node ids of a `Promote` or `Remove` request: at least one, none 0.
pub fn node_ids(ids: &[u64]) -> Result<std::collections::BTreeSet<u64>, InvalidField> {
    if ids.is_empty() {
        return Err(invalid("node_ids", "at least one node id is required"));
    }
    if let Some(index) = ids.iter().position(|id| *id == 0) {
        return Err(invalid(format!("node_ids[{index}]"), "must not be 0"));
    }
    Ok(ids.iter().copied().collect())
}

/// An operator's override of the voter rules, checked: `None` when the request carries no
/// `force`; else its reason (required: a forced change must say why) and actor, both within
/// the text limit.
pub fn force_change(
    force: Option<&crate::v1::ForceChange>,
) -> Result<Option<(String, String)>, InvalidField> {
    let Some(force) = force else { return Ok(None) };
    if force.reason.trim().is_empty() {
        return Err(invalid("force.reason", "is required when forcing a membership change"));
    }
    Ok(Some((text("force.reason", &force.reason)?, text("force.actor", &force.actor)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI prints `--json` from the wire types' serde derive: a u128 must come out as the
    /// exact decimal string the wire carries, never as a (rounded) JSON number.
    #[test]
    fn wire_records_serialize_to_json_with_exact_decimal_ids_and_amounts() {
        let record = tianping_ledger::Payout {
            id: u128::MAX - 1,
            debit_account_id: 10,
            credit_account_id: 20,
            amount: (1 << 100) + 1,
            user_data: 0,
            ledger: 156,
            code: 1,
            bank: 3,
            beneficiary: "6222020200112233445".into(),
            state: tianping_ledger::PayoutState::Succeeded,
            fencing_token: 2,
            worker_id: 77,
            lease_until: 9,
            created_at: 5,
            updated_at: 8,
        };
        let json = serde_json::to_value(payout(&record)).expect("serializes");
        assert_eq!(json["id"], "340282366920938463463374607431768211454");
        assert_eq!(json["amount"], "1267650600228229401496703205377");
        assert_eq!(json["state"], "succeeded");
        assert_eq!(json["ledger"], 156);
        assert_eq!(json["worker_id"], "77");
    }

    #[test]
    fn a_forced_membership_change_needs_a_bounded_reason() {
        use crate::v1::ForceChange;
        assert_eq!(force_change(None), Ok(None));
        let force = |reason: &str| ForceChange { reason: reason.to_owned(), actor: "ops".into() };
        let refused = force_change(Some(&force("  "))).expect_err("blank reason");
        assert!(refused.to_string().contains("force.reason"), "{refused}");
        let long = "r".repeat(TEXT_BYTES_MAX + 1);
        assert!(force_change(Some(&force(&long))).is_err(), "reason over the limit");
        assert_eq!(
            force_change(Some(&force("dc-b is being rebuilt"))),
            Ok(Some(("dc-b is being rebuilt".to_owned(), "ops".to_owned())))
        );
    }

    #[test]
    fn text_up_to_the_ledgers_limit_passes_and_beyond_it_names_the_field() {
        let longest = "a".repeat(TEXT_BYTES_MAX);
        assert_eq!(text("reason", &longest), Ok(longest.clone()));
        let error = text("changes[3].reason", &format!("{longest}b")).expect_err("too long");
        assert_eq!(error.field, "changes[3].reason");
        assert!(error.reason.contains("257 bytes"), "{error}");
        // Counted in bytes, as the ledger counts: 86 three-byte characters are 258 bytes.
        assert!(text("actor", &"天".repeat(86)).is_err());
    }

    fn check_u128(text: &str, expected: Result<u128, &str>) {
        let parsed = parse_u128("f", text).map_err(|error| error.reason);
        match (parsed, expected) {
            (Ok(value), Ok(want)) => assert_eq!(value, want, "{text:?}"),
            (Err(reason), Err(want)) => assert!(reason.contains(want), "{text:?}: {reason}"),
            (parsed, expected) => panic!("{text:?}: got {parsed:?}, want {expected:?}"),
        }
    }

    #[test]
    fn decimal_u128() {
        check_u128("", Ok(0));
        check_u128("0", Ok(0));
        check_u128("007", Ok(7));
        check_u128("340282366920938463463374607431768211455", Ok(u128::MAX));
        check_u128("340282366920938463463374607431768211456", Err("larger than 2^128 - 1"));
        check_u128("1000000000000000000000000000000000000000", Err("at most 39 digits"));
        check_u128("+1", Err("not an unsigned decimal"));
        check_u128("-1", Err("not an unsigned decimal"));
        check_u128(" 1", Err("not an unsigned decimal"));
        check_u128("0x10", Err("not an unsigned decimal"));
        check_u128("1e3", Err("not an unsigned decimal"));
        check_u128("١", Err("not an unsigned decimal"));
    }

    #[test]
    fn invalid_field_messages_read_back() {
        let sent = invalid("transfers[1].amount", "\"5x\" is not an unsigned decimal: no");
        let status = tonic::Status::from(sent.clone());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(InvalidField::from_message(status.message()), Some(sent));
        assert_eq!(InvalidField::from_message("no leader is known yet; retry"), None);
        assert_eq!(InvalidField::from_message("invalid : x"), None);
    }

    #[test]
    fn round_trip() {
        for value in [0, 1, 10, u128::from(u64::MAX) + 1, u128::MAX - 1, u128::MAX] {
            assert_eq!(parse_u128("f", &format_u128(value)), Ok(value));
        }
    }

    #[test]
    fn field_paths_name_the_event() {
        let request = pb_v1::CreateTransfersRequest {
            transfers: vec![
                pb_v1::NewTransfer { id: "1".into(), amount: "5".into(), ..Default::default() },
                pb_v1::NewTransfer { id: "2".into(), amount: "5x".into(), ..Default::default() },
            ],
        };
        let error = transfer_commands(&request).err();
        assert_eq!(error.map(|error| error.field), Some("transfers[1].amount".to_owned()));
        let request = pb_v1::CreateAccountsRequest {
            accounts: vec![pb_v1::NewAccount {
                id: "1".into(),
                code: 70_000,
                ..Default::default()
            }],
        };
        let error = account_commands(&request).err();
        assert_eq!(error.map(|error| error.field), Some("accounts[0].code".to_owned()));
    }

    #[test]
    fn result_code_names_are_snake_case() {
        assert_eq!(result_code_name(ResultCode::Ok), "ok");
        assert_eq!(result_code_name(ResultCode::DebitAccountNotFound), "debit_account_not_found");
        assert_eq!(result_code_name(ResultCode::IdAlreadyFailed), "id_already_failed");
        let result = EventResult::code(ResultCode::IdAlreadyFailed, 9);
        let wire = event_result(&result);
        assert_eq!((wire.code, wire.code_name.as_str()), (147, "id_already_failed"));
        for code in ResultCode::ALL {
            let name = result_code_name(*code);
            assert!(name.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'_'), "{name}");
        }
    }
}
