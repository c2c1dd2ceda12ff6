//! Account administration on the wire: status changes and outflow limits (both audited).
//!
//! Statuses travel as their snake_case names (`outflow_blocked`); limits as decimal amounts
//! where the empty string means *unlimited* (not 0: a zero limit would block every debit, so
//! "absent" and "zero" must differ), and an absent count means unlimited likewise.

use tianping_ledger::{
    AccountLimitsChange, AccountStatus, AccountStatusChange, AuditAction, AuditRecord, Command,
    Limits,
};

use super::{InvalidField, check_event_count, format_u128, invalid, parse_u128, text};
use crate::v1 as pb_v1;

/// A status's wire name (`AccountStatus::name`).
pub fn status_name(status: AccountStatus) -> &'static str {
    status.name()
}

pub(super) fn parse_status(field: &str, text: &str) -> Result<AccountStatus, InvalidField> {
    AccountStatus::ALL.into_iter().find(|status| status_name(*status) == text).ok_or_else(|| {
        invalid(field, format!("{text:?} is not one of active, outflow_blocked, frozen, closed"))
    })
}

pub(super) fn optional_u128(field: &str, text: &str) -> Result<Option<u128>, InvalidField> {
    if text.is_empty() { Ok(None) } else { parse_u128(field, text).map(Some) }
}

fn optional_text(value: Option<u128>) -> String {
    value.map(format_u128).unwrap_or_default()
}

/// Limits on the wire.
pub fn limits(limits: &Limits) -> pb_v1::AccountLimits {
    pb_v1::AccountLimits {
        per_transfer_amount_max: optional_text(limits.per_transfer_amount_max),
        per_day_amount_max: optional_text(limits.per_day_amount_max),
        per_day_count_max: limits.per_day_count_max,
    }
}

pub(super) fn parse_limits(
    path: &str,
    limits: Option<&pb_v1::AccountLimits>,
) -> Result<Limits, InvalidField> {
    let Some(limits) = limits else {
        return Ok(Limits::NONE);
    };
    Ok(Limits {
        per_transfer_amount_max: optional_u128(
            &format!("{path}.per_transfer_amount_max"),
            &limits.per_transfer_amount_max,
        )?,
        per_day_amount_max: optional_u128(
            &format!("{path}.per_day_amount_max"),
            &limits.per_day_amount_max,
        )?,
        per_day_count_max: limits.per_day_count_max,
    })
}

/// The commands of a `SetAccountStatus` request, in order: versioned changes (the API never
/// writes the unconditional commands of batch format 1).
pub fn status_commands(
    request: &pb_v1::SetAccountStatusRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("changes", request.changes.len())?;
    request
        .changes
        .iter()
        .enumerate()
        .map(|(index, change)| {
            let field = |name: &str| format!("changes[{index}].{name}");
            Ok(Command::ChangeAccountStatus(AccountStatusChange {
                id: parse_u128(&field("id"), &change.id)?,
                account_id: parse_u128(&field("account_id"), &change.account_id)?,
                expected_controls_version: change.expected_controls_version,
                status: parse_status(&field("status"), &change.status)?,
                reason: text(&field("reason"), &change.reason)?,
                actor: text(&field("actor"), &change.actor)?,
            }))
        })
        .collect()
}

/// The commands of a `SetAccountLimits` request, in order: versioned changes.
pub fn limits_commands(
    request: &pb_v1::SetAccountLimitsRequest,
) -> Result<Vec<Command>, InvalidField> {
    check_event_count("changes", request.changes.len())?;
    request
        .changes
        .iter()
        .enumerate()
        .map(|(index, change)| {
            let field = |name: &str| format!("changes[{index}].{name}");
            Ok(Command::ChangeAccountLimits(AccountLimitsChange {
                id: parse_u128(&field("id"), &change.id)?,
                account_id: parse_u128(&field("account_id"), &change.account_id)?,
                expected_controls_version: change.expected_controls_version,
                limits: parse_limits(&field("limits"), change.limits.as_ref())?,
                reason: text(&field("reason"), &change.reason)?,
                actor: text(&field("actor"), &change.actor)?,
            }))
        })
        .collect()
}

/// What a `ListAuditRecords` request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditListing {
    /// Only this account's records (`None`: every account's).
    pub account_id: Option<u128>,
    /// The first timestamp scanned (just past the cursor, when there is one); `None` when the
    /// cursor is already at the end of time.
    pub timestamp_min: Option<u64>,
    /// Most records scanned.
    pub limit: usize,
}

/// Reads a `ListAuditRecords` request. Its cursor is the timestamp of the last record the
/// previous page scanned (audit timestamps are unique), in decimal.
pub fn audit_listing(request: &pb_v1::AuditRecordsRequest) -> Result<AuditListing, InvalidField> {
    let account_id = parse_u128("account_id", &request.account_id)?;
    let limit = super::reads::page_limit("limit", request.limit)?;
    let timestamp_min = if request.cursor.is_empty() {
        Some(request.timestamp_min)
    } else {
        let last: u64 = request.cursor.parse().map_err(|_| {
            invalid("cursor", format!("{:?} is not a cursor this API issued", request.cursor))
        })?;
        last.checked_add(1).map(|next| next.max(request.timestamp_min))
    };
    Ok(AuditListing {
        account_id: if account_id == 0 { None } else { Some(account_id) },
        timestamp_min,
        limit,
    })
}

/// The response to `ListAuditRecords` from the records scanned for this page.
pub fn audit_response(
    listing: &AuditListing,
    scanned: &[AuditRecord],
    applied_index: u64,
) -> pb_v1::AuditRecordsResponse {
    let next_cursor = match scanned.last() {
        Some(last) if scanned.len() >= listing.limit => last.timestamp.to_string(),
        _ => String::new(),
    };
    let records = scanned
        .iter()
        .filter(|record| listing.account_id.is_none_or(|account| account == record.account_id))
        .map(audit_record)
        .collect();
    pb_v1::AuditRecordsResponse { records, next_cursor, applied_index }
}

fn audit_record(record: &AuditRecord) -> pb_v1::AuditRecord {
    let change = match &record.action {
        AuditAction::Status { from, to } => {
            pb_v1::audit_record::Change::Status(pb_v1::AuditStatusChange {
                from: status_name(*from).to_owned(),
                to: status_name(*to).to_owned(),
            })
        }
        AuditAction::Limits { from, to } => {
            pb_v1::audit_record::Change::Limits(pb_v1::AuditLimitsChange {
                from: Some(limits(from)),
                to: Some(limits(to)),
            })
        }
        AuditAction::SuspenseAssigned {
            assignment_id,
            collection,
            suspense_account_id,
            amount,
        } => pb_v1::audit_record::Change::SuspenseAssigned(pb_v1::AuditSuspenseAssignment {
            assignment_id: format_u128(*assignment_id),
            bank: collection.bank,
            bank_reference: collection.bank_reference.clone(),
            suspense_account_id: format_u128(*suspense_account_id),
            amount: format_u128(*amount),
        }),
    };
    pb_v1::AuditRecord {
        timestamp: record.timestamp,
        account_id: format_u128(record.account_id),
        reason: record.reason.clone(),
        actor: record.actor.clone(),
        change: Some(change),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_named() {
        for status in [
            AccountStatus::Active,
            AccountStatus::OutflowBlocked,
            AccountStatus::Frozen,
            AccountStatus::Closed,
        ] {
            assert_eq!(parse_status("s", status_name(status)), Ok(status));
        }
        let request = pb_v1::SetAccountStatusRequest {
            changes: vec![
                pb_v1::AccountStatusChange {
                    account_id: "1".into(),
                    status: "frozen".into(),
                    ..Default::default()
                },
                pb_v1::AccountStatusChange {
                    account_id: "2".into(),
                    status: "Frozen".into(),
                    ..Default::default()
                },
            ],
        };
        let error = status_commands(&request).err();
        assert_eq!(error.map(|error| error.field), Some("changes[1].status".to_owned()));
    }

    #[test]
    fn empty_limit_means_unlimited_and_bad_amounts_are_named() {
        let change = |limits: pb_v1::AccountLimits| pb_v1::SetAccountLimitsRequest {
            changes: vec![pb_v1::AccountLimitsChange {
                account_id: "1".into(),
                limits: Some(limits),
                ..Default::default()
            }],
        };
        let commands = limits_commands(&change(pb_v1::AccountLimits {
            per_transfer_amount_max: "0".into(),
            per_day_amount_max: String::new(),
            per_day_count_max: Some(3),
        }));
        let expected = Limits {
            per_transfer_amount_max: Some(0),
            per_day_amount_max: None,
            per_day_count_max: Some(3),
        };
        match commands.as_deref() {
            Ok([Command::ChangeAccountLimits(set)]) => assert_eq!(set.limits, expected),
            other => panic!("unexpected {other:?}"),
        }
        let error = limits_commands(&change(pb_v1::AccountLimits {
            per_day_amount_max: "1e9".into(),
            ..Default::default()
        }))
        .err();
        assert_eq!(
            error.map(|error| error.field),
            Some("changes[0].limits.per_day_amount_max".to_owned())
        );
        assert_eq!(super::limits(&expected).per_transfer_amount_max, "0");
    }

    #[test]
    fn audit_cursors_start_just_past_the_last_record() {
        let request = |cursor: &str| pb_v1::AuditRecordsRequest {
            timestamp_min: 10,
            cursor: cursor.into(),
            ..Default::default()
        };
        assert_eq!(audit_listing(&request("")).map(|l| l.timestamp_min), Ok(Some(10)));
        assert_eq!(audit_listing(&request("41")).map(|l| l.timestamp_min), Ok(Some(42)));
        assert_eq!(audit_listing(&request("3")).map(|l| l.timestamp_min), Ok(Some(10)));
        assert_eq!(
            audit_listing(&request(&u64::MAX.to_string())).map(|l| l.timestamp_min),
            Ok(None)
        );
        assert_eq!(audit_listing(&request("4x")).map_err(|e| e.field), Err("cursor".to_owned()));
    }
}
