//! The terminal table: a snapshot of the fixed day, the empty report, escaping, decimals, wide
//! ids and the bound.

use tianping_bank_adapters::money::Currency;
use tianping_ledger::DiscrepancyClass as C;

use super::*;
use crate::report::{AmountStyle, ROWS_MAX, TableOptions, Width, render_table};

fn narrow() -> TableOptions {
    TableOptions::default()
}

/// Every value checked by hand against `fixed_day`: the balance mismatch is 50 short at the
/// bank, the amount mismatch 1 over; the day-before one is listed first and open.
const FIXED_DAY: &str = "\
reconciliation report 2025-11-24T00:00:00.000Z .. 2025-11-25T00:00:00.000Z (generated 2025-11-25T00:00:00.000Z)
cluster dc-test; reconcilers recon-a
amounts in minor units; difference = bank - ledger; states as of generation

RECORDED                  ID        BANK  CLASS              STATE     REFERENCE   LEDGER  BANK AMOUNT  DIFFERENCE  ACCOUNTS HELD
2025-11-23T22:00:00.000Z  0a0a0a0a     9  balance_mismatch   open      E2E-1      1000200      1000150         -50  1001
2025-11-24T09:00:00.000Z  11111111     9  missing_at_bank    open      E2E-2        10000            -           -  1001
2025-11-24T09:30:00.000Z  22222222     9  missing_in_ledger  resolved  E2E-3            -        25050           -  -
2025-11-24T10:00:00.000Z  33333333     9  amount_mismatch    open      E2E-4          100          101          +1  1002
2025-11-24T10:00:05.000Z  44444444     9  duplicate_at_bank  resolved  E2E-5         7000         7000           0  1004
2025-11-24T23:59:00.000Z  55555555     9  reversed_at_bank   open      E2E-6         3000         3000           0  1003

summary
  listed 6: 5 recorded in the period, 1 open when it began; 2 resolved in the period; 4 open now
  CLASS              OPEN  RESOLVED  TOTAL
  balance_mismatch      1         0      1
  missing_at_bank       1         0      1
  missing_in_ledger     0         1      1
  amount_mismatch       1         0      1
  duplicate_at_bank     0         1      1
  reversed_at_bank      1         0      1
  total                 4         2      6
  accounts outflow-blocked by open discrepancies: 1 (of 3 held)
  ACCOUNT  STATUS           HOLDERS  HELD BY
     1001  outflow_blocked        2  0a0a0a0a, 11111111
     1002  frozen                 1  33333333
     1003  unknown                1  55555555
";

#[test]
fn the_fixed_day_reads_as_expected() {
    let text = render_table(&fixed_day(), &narrow());
    assert_eq!(text, FIXED_DAY, "got:\n{text}");
}

#[test]
fn an_empty_period_says_so() {
    let text = render_table(&report(DAY, DAY + HOUR, &[], &[]), &narrow());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[4], "no discrepancies in this period");
    assert!(!text.contains("RECORDED"), "{text}");
    assert!(text.contains("  listed 0: 0 recorded in the period"), "{text}");
    assert!(
        text.contains("accounts outflow-blocked by open discrepancies: 0 (of 0 held)"),
        "{text}"
    );
}

#[test]
fn wide_tables_show_the_decimal_id_and_whole_references() {
    let long = "E2E-".to_owned() + &"7".repeat(60);
    let mut found = open(id(0xdead_beef, 77), C::MissingAtBank, DAY, &[5]);
    found.request.reference = long.clone();
    let report = report(DAY, DAY + HOUR, &[found], &[]);
    let narrow_text = render_table(&report, &narrow());
    let row = narrow_text.lines().nth(5).expect("a row");
    assert!(row.contains(&format!("{}…", &long[..31])), "{row}");
    assert!(!narrow_text.contains(&long), "cut in a narrow table");
    assert!(!narrow_text.contains(&id(0xdead_beef, 77).to_string()));
    let wide = render_table(&report, &TableOptions { width: Width::Wide, ..narrow() });
    let heading = wide.lines().nth(4).expect("headings");
    let words: Vec<&str> = heading.split_whitespace().take(5).collect();
    assert_eq!(words, ["RECORDED", "ID", "ID", "(DECIMAL)", "BANK"], "{heading}");
    let row = wide.lines().nth(5).expect("a row");
    assert!(row.contains(&format!("deadbeef  {}", id(0xdead_beef, 77))), "{row}");
    assert!(row.contains(&long), "{row}");
}

#[test]
fn decimals_follow_the_currency() {
    let report = fixed_day();
    let text = render_table(
        &report,
        &TableOptions { amounts: AmountStyle::Decimal(Currency::Cny), ..narrow() },
    );
    assert!(text.contains("amounts in CNY;"), "{text}");
    let balance =
        text.lines().find(|line| line.contains("balance_mismatch   open")).expect("balance row");
    assert!(balance.ends_with("10002.00     10001.50       -0.50  1001"), "{balance}");
    let amount =
        text.lines().find(|line| line.contains("amount_mismatch    open")).expect("amount row");
    assert!(amount.contains("1.00         1.01       +0.01"), "{amount}");
}

#[test]
fn ledger_text_cannot_reach_the_terminal_as_control_characters() {
    let mut found = open(1, C::MissingInLedger, DAY, &[]);
    found.request.reference = "E2E\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}gnp".to_owned();
    found.request.actor = "recon\u{1b}[31m".to_owned();
    let mut header = header(DAY, DAY + HOUR);
    header.cluster = "dc\r\nfake line".to_owned();
    let text = render_table(
        &Report::build(header, [&found], &[]).expect("report"),
        &TableOptions { width: Width::Wide, ..narrow() },
    );
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    assert!(!text.contains('\u{202e}'), "{text:?}");
    assert!(text.contains("E2E\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{202e}gnp"), "{text}");
    assert!(text.contains("reconcilers recon\\u{1b}[31m"), "{text}");
    assert!(text.contains("cluster dc\\u{d}\\u{a}fake line;"), "{text}");
}

#[test]
fn a_flood_ends_with_how_many_more() {
    let flood: Vec<Discrepancy> = (0..ROWS_MAX as u64 + 3)
        .map(|index| {
            open(
                u128::from(index) + 1,
                C::AmountMismatch,
                DAY + index * SECOND,
                &[u128::from(index) + 1],
            )
        })
        .collect();
    let text = render_table(&report(DAY, DAY + HOUR, &flood, &[]), &narrow());
    let rows = text.lines().filter(|line| line.starts_with("2025-11-24T")).count();
    assert_eq!(rows, ROWS_MAX);
    assert!(
        text.contains(&format!(
            "… and 3 more discrepancies recorded later (at most {ROWS_MAX} rows shown)"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("… and 3 more held accounts (at most {ROWS_MAX} rows shown)")));
    let held_rows = text.lines().filter(|line| line.contains(" unknown ")).count();
    assert_eq!(held_rows, ROWS_MAX);
}
