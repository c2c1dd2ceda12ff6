//! The report as JSON, for `tianping reconcile report --json`: the same rows and figures as the
//! terminal table, plus the evidence and resolutions the HTML page shows.
//!
//! Ids and amounts are decimal strings (a `u128` does not survive a JSON reader's doubles);
//! amounts are always minor units, with the currency named when the caller gave one;
//! instants are RFC 3339 UTC text beside the ledger's nanoseconds. Text is emitted as it is in
//! the ledger: a JSON encoder escapes quotes and controls, and a JSON consumer shows it in its
//! own way.

use serde_json::{Map, Value, json};
use tianping_ledger::{Discrepancy, DiscrepancyClass, DiscrepancyState};

use super::amount::{AmountStyle, difference};
use super::collect::{Bounded, HeldAccount, Report};
use super::table::{STATUS_UNKNOWN, short_id};
use crate::evidence::instant_text;
use tianping_ledger::AccountStatus;

/// The report as one JSON object.
pub fn report_json(report: &Report, amounts: AmountStyle) -> Value {
    let header = &report.header;
    let figures = &report.figures;
    let by_class: Map<String, Value> = DiscrepancyClass::ALL
        .into_iter()
        .map(|class| {
            let counts = json!({
                "open": figures.of(class, DiscrepancyState::Open),
                "resolved": figures.of(class, DiscrepancyState::Resolved),
            });
            (class.name().to_owned(), counts)
        })
        .collect();
    let currency = match amounts {
        AmountStyle::MinorUnits => Value::Null,
        AmountStyle::Decimal(currency) => json!({
            "code": currency.code(),
            "exponent": currency.exponent(),
        }),
    };
    json!({
        "period": {
            "since": instant_text(header.period.since()),
            "until": instant_text(header.period.until()),
            "since_ns": header.period.since(),
            "until_ns": header.period.until(),
        },
        "generated_at": instant_text(header.generated_at),
        "generated_at_ns": header.generated_at,
        "cluster": header.cluster,
        "reconcilers": header.reconcilers,
        "reconcilers_truncated": report.reconcilers_truncated,
        "amount_unit": "minor_units",
        "currency": currency,
        "discrepancies": rows(&report.listed, discrepancy_json),
        "discrepancies_omitted": report.listed.omitted,
        "summary": {
            "listed": figures.listed,
            "recorded_in_period": figures.recorded_in_period,
            "open_at_start": figures.open_at_start,
            "resolved_in_period": figures.resolved_in_period,
            "open_now": figures.open_now,
            "outside_period": figures.outside_period,
            "by_class": by_class,
            "held_accounts": report.held_accounts_total,
            "outflow_blocked_accounts": report.outflow_blocked_accounts,
            "holds_untracked": report.holds_untracked,
        },
        "held_accounts": rows(&report.held_accounts, held_json),
        "held_accounts_omitted": report.held_accounts.omitted,
        "buckets": {
            "unit": report.buckets.unit().name(),
            "start": instant_text(report.buckets.start()),
            "start_ns": report.buckets.start(),
            "recorded": report.recorded_per_bucket,
            "open_at_end": report.open_per_bucket,
        },
    })
}

fn rows<T>(bounded: &Bounded<T>, each: fn(&T) -> Value) -> Value {
    Value::Array(bounded.rows.iter().map(each).collect())
}

fn ids(ids: &[u128]) -> Value {
    Value::Array(ids.iter().map(|id| Value::String(id.to_string())).collect())
}

fn amount(value: Option<u128>) -> Value {
    value.map_or(Value::Null, |value| Value::String(value.to_string()))
}

fn discrepancy_json(discrepancy: &Discrepancy) -> Value {
    let request = &discrepancy.request;
    let resolved = discrepancy.state == DiscrepancyState::Resolved;
    json!({
        "id": request.id.to_string(),
        "short_id": short_id(request.id),
        "recorded_at": instant_text(discrepancy.timestamp),
        "recorded_at_ns": discrepancy.timestamp,
        "bank": request.bank,
        "class": request.class.name(),
        "state": discrepancy.state.name(),
        "reference": request.reference,
        "ledger_amount": amount(request.ledger_amount),
        "bank_amount": amount(request.bank_amount),
        "difference": difference(request.ledger_amount, request.bank_amount)
            .map_or(Value::Null, |difference| Value::String(difference.format(AmountStyle::MinorUnits))),
        "account_ids": ids(&request.account_ids),
        "blocked_account_ids": ids(&discrepancy.blocked_account_ids),
        "ledger_evidence": request.ledger_evidence,
        "bank_evidence": request.bank_evidence,
        "cutoff": instant_text(request.cutoff),
        "cutoff_ns": request.cutoff,
        "found_by": request.actor,
        "resolved_at": if resolved { Value::String(instant_text(discrepancy.resolved_at)) } else { Value::Null },
        "resolved_at_ns": if resolved { json!(discrepancy.resolved_at) } else { Value::Null },
        "resolved_by": discrepancy.resolved_by,
        "resolution": discrepancy.resolution,
    })
}

fn held_json(account: &HeldAccount) -> Value {
    json!({
        "account_id": account.id.to_string(),
        "status": account.status.map_or(STATUS_UNKNOWN, AccountStatus::name),
        "held_by": ids(&account.holders),
        "held_by_total": account.holders_total,
    })
}
