//! The JSON rendering carries the table's data with exact ids and amounts.

use serde_json::Value;
use tianping_bank_adapters::money::Currency;
use tianping_ledger::DiscrepancyClass as C;

use super::*;
use crate::report::{AmountStyle, ROWS_MAX, report_json};

#[test]
fn the_fixed_day_as_json() {
    let value = report_json(&fixed_day(), AmountStyle::MinorUnits);
    // Through text and back: what `--json` prints is what a reader gets.
    let text = serde_json::to_string(&value).expect("encodes");
    let value: Value = serde_json::from_str(&text).expect("decodes");
    assert_eq!(value["period"]["since"], "2025-11-24T00:00:00.000Z");
    assert_eq!(value["period"]["until_ns"], DAY + 24 * HOUR);
    assert_eq!(value["cluster"], "dc-test");
    assert_eq!(value["reconcilers"], serde_json::json!(["recon-a"]));
    assert_eq!(value["currency"], Value::Null);
    let rows = value["discrepancies"].as_array().expect("rows");
    assert_eq!(rows.len(), 6);
    let balance = &rows[0];
    assert_eq!(balance["id"], id(0x0a0a_0a0a, 1).to_string());
    assert_eq!(balance["short_id"], "0a0a0a0a");
    assert_eq!(balance["class"], "balance_mismatch");
    assert_eq!(balance["state"], "open");
    assert_eq!(balance["ledger_amount"], "1000200");
    assert_eq!(balance["bank_amount"], "1000150");
    assert_eq!(balance["difference"], "-50");
    assert_eq!(balance["account_ids"], serde_json::json!(["1001"]));
    assert_eq!(balance["resolved_at"], Value::Null);
    let missing = &rows[1];
    assert_eq!((&missing["bank_amount"], &missing["difference"]), (&Value::Null, &Value::Null));
    let resolved = &rows[2];
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["resolved_by"], "ops-li");
    assert_eq!(resolved["resolution"], "late booking confirmed by bank");
    assert_eq!(resolved["resolved_at"], "2025-11-24T11:00:00.000Z");
    let summary = &value["summary"];
    assert_eq!(summary["listed"], 6);
    assert_eq!(summary["open_now"], 4);
    assert_eq!(summary["recorded_in_period"], 5);
    assert_eq!(summary["resolved_in_period"], 2);
    assert_eq!(summary["outflow_blocked_accounts"], 1);
    for class in C::ALL {
        let counts = &summary["by_class"][class.name()];
        assert_eq!(
            counts["open"].as_u64().unwrap_or(99) + counts["resolved"].as_u64().unwrap_or(99),
            1,
            "{}",
            class.name()
        );
    }
    let held = value["held_accounts"].as_array().expect("held");
    assert_eq!(held.len(), 3);
    assert_eq!(held[0]["account_id"], "1001");
    assert_eq!(held[0]["status"], "outflow_blocked");
    assert_eq!(held[0]["held_by_total"], 2);
    assert_eq!(held[2]["status"], "unknown");
    assert_eq!(value["buckets"]["unit"], "hour");
    assert_eq!(value["buckets"]["open_at_end"].as_array().map(Vec::len), Some(24));
}

#[test]
fn large_ids_and_amounts_survive_as_text() {
    let mut found = open(u128::MAX - 1, C::AmountMismatch, DAY, &[u128::MAX - 2]);
    found.request.ledger_amount = Some(u128::MAX);
    found.request.bank_amount = Some(0);
    found.request.bank_evidence = "<script>alert(1)</script>\u{0}".to_owned();
    let value =
        report_json(&report(DAY, DAY + HOUR, &[found], &[]), AmountStyle::Decimal(Currency::Kwd));
    let row = &value["discrepancies"][0];
    assert_eq!(row["id"], (u128::MAX - 1).to_string());
    assert_eq!(row["ledger_amount"], u128::MAX.to_string());
    assert_eq!(row["difference"], format!("-{}", u128::MAX));
    assert_eq!(row["account_ids"][0], (u128::MAX - 2).to_string());
    assert_eq!(
        row["bank_evidence"], "<script>alert(1)</script>\u{0}",
        "JSON keeps the ledger's text; the encoder escapes it"
    );
    assert_eq!(value["currency"], serde_json::json!({ "code": "KWD", "exponent": 3 }));
    let text = serde_json::to_string(&value).expect("encodes");
    assert!(text.contains(r"\u0000"), "{text}");
}

#[test]
fn json_rows_are_bounded_with_the_rest_counted() {
    let flood: Vec<Discrepancy> = (0..ROWS_MAX as u64 + 9)
        .map(|index| open(u128::from(index) + 1, C::MissingAtBank, DAY + index, &[]))
        .collect();
    let value = report_json(&report(DAY, DAY + HOUR, &flood, &[]), AmountStyle::MinorUnits);
    assert_eq!(value["discrepancies"].as_array().map(Vec::len), Some(ROWS_MAX));
    assert_eq!(value["discrepancies_omitted"], 9);
    assert_eq!(value["summary"]["listed"], ROWS_MAX as u64 + 9);
}

#[test]
fn an_empty_report_is_valid_json_with_zero_counts() {
    let value = report_json(&report(DAY, DAY + HOUR, &[], &[]), AmountStyle::MinorUnits);
    assert_eq!(value["discrepancies"], serde_json::json!([]));
    assert_eq!(value["summary"]["listed"], 0);
    assert_eq!(value["held_accounts"], serde_json::json!([]));
}
