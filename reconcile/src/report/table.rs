//! The terminal table of `tianping reconcile report`: one line per listed discrepancy, columns
//! aligned, then a summary — counts by class and state, what is open, and the accounts held by
//! open discrepancies with their status.
//!
//! Columns are aligned by character count: a reference in a double-width script shifts the
//! columns after it on screen, which is the price of no Unicode-width table here.

use tianping_ledger::{AccountStatus, Discrepancy, DiscrepancyClass, DiscrepancyState};

use super::amount::{AmountStyle, difference};
use super::collect::{Bounded, HeldAccount, Report};
use super::escape::terminal_text;
use crate::evidence::instant_text;

/// Longest reference shown in a narrow table, in characters; `--wide` shows all of it.
pub const REFERENCE_CHARS_NARROW: usize = 32;

/// What the narrow table writes in place of a cut reference's end.
const CUT_MARKER: char = '…';

/// How much of each discrepancy a line shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Width {
    /// Short ids and references cut at [`REFERENCE_CHARS_NARROW`]: fits a terminal.
    #[default]
    Narrow,
    /// The full decimal id beside the short one, and whole references (`--wide`).
    Wide,
}

/// How the table is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// How much of each discrepancy a line shows.
    pub width: Width,
    /// How amounts are written.
    pub amounts: AmountStyle,
}

/// A discrepancy's short id: the first 8 of the 32 hex digits of its id, enough to tell the
/// discrepancies of a report apart at a glance (ids are SHA-256 derived, so these digits are
/// as random as any).
pub fn short_id(id: u128) -> String {
    format!("{:08x}", id >> 96)
}

/// The status shown for a held account the caller did not pass.
pub const STATUS_UNKNOWN: &str = "unknown";

/// The report as terminal text, every line ending in a newline.
pub fn render_table(report: &Report, options: &TableOptions) -> String {
    let mut lines = header_lines(report, options.amounts);
    lines.push(String::new());
    if report.listed.rows.is_empty() && report.listed.omitted == 0 {
        lines.push("no discrepancies in this period".to_owned());
    } else {
        lines.extend(discrepancy_lines(&report.listed, options));
    }
    lines.push(String::new());
    lines.extend(summary_lines(report));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn header_lines(report: &Report, amounts: AmountStyle) -> Vec<String> {
    let header = &report.header;
    let mut lines = vec![format!(
        "reconciliation report {} .. {} (generated {})",
        instant_text(header.period.since()),
        instant_text(header.period.until()),
        instant_text(header.generated_at)
    )];
    let cluster = if header.cluster.is_empty() { "-" } else { header.cluster.as_str() };
    let mut reconcilers: Vec<String> =
        header.reconcilers.iter().map(|name| terminal_text(name).into_owned()).collect();
    if report.reconcilers_truncated {
        reconcilers.push("and others".to_owned());
    }
    let reconcilers = if reconcilers.is_empty() { "-".to_owned() } else { reconcilers.join(", ") };
    lines.push(format!("cluster {}; reconcilers {reconcilers}", terminal_text(cluster)));
    lines.push(format!(
        "amounts in {}; difference = bank - ledger; states as of generation",
        amounts.unit_text()
    ));
    lines
}

/// A column: its heading and which side its cells align to.
struct Column {
    heading: &'static str,
    align: Align,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

const fn left(heading: &'static str) -> Column {
    Column { heading, align: Align::Left }
}

const fn right(heading: &'static str) -> Column {
    Column { heading, align: Align::Right }
}

/// `rows` under `columns`' headings, each column as wide as its widest cell, two spaces apart,
/// no trailing blanks.
fn aligned(columns: &[Column], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> =
        columns.iter().map(|column| column.heading.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let headings: Vec<String> = columns.iter().map(|column| column.heading.to_owned()).collect();
    std::iter::once(&headings)
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = columns
                .iter()
                .zip(&widths)
                .zip(row)
                .map(|((column, &width), cell)| {
                    let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
                    match column.align {
                        Align::Left => format!("{cell}{pad}"),
                        Align::Right => format!("{pad}{cell}"),
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

fn discrepancy_lines(listed: &Bounded<Discrepancy>, options: &TableOptions) -> Vec<String> {
    let mut columns = vec![left("RECORDED"), left("ID")];
    if options.width == Width::Wide {
        columns.push(right("ID (DECIMAL)"));
    }
    columns.extend([
        right("BANK"),
        left("CLASS"),
        left("STATE"),
        left("REFERENCE"),
        right("LEDGER"),
        right("BANK AMOUNT"),
        right("DIFFERENCE"),
        left("ACCOUNTS HELD"),
    ]);
    let rows: Vec<Vec<String>> =
        listed.rows.iter().map(|discrepancy| discrepancy_cells(discrepancy, options)).collect();
    let mut lines = aligned(&columns, &rows);
    if listed.omitted > 0 {
        lines.push(more_line(listed.omitted, "discrepancies recorded later"));
    }
    lines
}

fn discrepancy_cells(discrepancy: &Discrepancy, options: &TableOptions) -> Vec<String> {
    let request = &discrepancy.request;
    let amount =
        |value: Option<u128>| value.map_or_else(|| "-".to_owned(), |v| options.amounts.format(v));
    let mut cells = vec![instant_text(discrepancy.timestamp), short_id(request.id)];
    if options.width == Width::Wide {
        cells.push(request.id.to_string());
    }
    let reference = match options.width {
        Width::Narrow => cut(&request.reference, REFERENCE_CHARS_NARROW),
        Width::Wide => request.reference.clone(),
    };
    cells.extend([
        request.bank.to_string(),
        request.class.name().to_owned(),
        discrepancy.state.name().to_owned(),
        terminal_text(&reference).into_owned(),
        amount(request.ledger_amount),
        amount(request.bank_amount),
        difference(request.ledger_amount, request.bank_amount)
            .map_or_else(|| "-".to_owned(), |difference| difference.format(options.amounts)),
        account_list(&request.account_ids),
    ]);
    cells
}

/// `text` cut to `chars_max` characters, the last one replaced by [`CUT_MARKER`] when cut.
fn cut(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        return text.to_owned();
    }
    let mut shown: String = text.chars().take(chars_max.saturating_sub(1)).collect();
    shown.push(CUT_MARKER);
    shown
}

fn account_list(account_ids: &[u128]) -> String {
    if account_ids.is_empty() {
        return "-".to_owned();
    }
    account_ids.iter().map(u128::to_string).collect::<Vec<_>>().join(",")
}

/// The line a bounded table ends with when rows were left out.
pub fn more_line(omitted: u64, what: &str) -> String {
    format!("… and {omitted} more {what} (at most {} rows shown)", super::ROWS_MAX)
}

fn summary_lines(report: &Report) -> Vec<String> {
    let figures = &report.figures;
    let mut lines = vec![
        "summary".to_owned(),
        format!(
            "  listed {}: {} recorded in the period, {} open when it began; {} resolved in the period; {} open now",
            figures.listed,
            figures.recorded_in_period,
            figures.open_at_start,
            figures.resolved_in_period,
            figures.open_now
        ),
    ];
    if figures.outside_period > 0 {
        lines.push(format!("  {} passed in were outside the period", figures.outside_period));
    }
    let columns = [left("CLASS"), right("OPEN"), right("RESOLVED"), right("TOTAL")];
    let mut rows: Vec<Vec<String>> = DiscrepancyClass::ALL
        .into_iter()
        .map(|class| {
            let open = figures.of(class, DiscrepancyState::Open);
            let resolved = figures.of(class, DiscrepancyState::Resolved);
            vec![
                class.name().to_owned(),
                open.to_string(),
                resolved.to_string(),
                u128::from(open).saturating_add(u128::from(resolved)).to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "total".to_owned(),
        figures.open_now.to_string(),
        figures.listed.saturating_sub(figures.open_now).to_string(),
        figures.listed.to_string(),
    ]);
    lines.extend(aligned(&columns, &rows).into_iter().map(|line| format!("  {line}")));
    lines.push(format!(
        "  accounts outflow-blocked by open discrepancies: {}{} (of {} held)",
        if report.holds_untracked > 0 { "at least " } else { "" },
        report.outflow_blocked_accounts,
        report.held_accounts_total
    ));
    lines.extend(held_lines(&report.held_accounts).into_iter().map(|line| format!("  {line}")));
    if report.holds_untracked > 0 {
        lines.push(format!(
            "  {} more holds on accounts past the first {} not followed",
            report.holds_untracked,
            super::HELD_ACCOUNTS_MAX
        ));
    }
    lines
}

fn held_lines(held: &Bounded<HeldAccount>) -> Vec<String> {
    if held.rows.is_empty() {
        return Vec::new();
    }
    let columns = [right("ACCOUNT"), left("STATUS"), right("HOLDERS"), left("HELD BY")];
    let rows: Vec<Vec<String>> = held
        .rows
        .iter()
        .map(|account| {
            vec![
                account.id.to_string(),
                account.status.map_or(STATUS_UNKNOWN, AccountStatus::name).to_owned(),
                account.holders_total.to_string(),
                holder_list(account),
            ]
        })
        .collect();
    let mut lines = aligned(&columns, &rows);
    if held.omitted > 0 {
        lines.push(more_line(held.omitted, "held accounts"));
    }
    lines
}

/// The short ids of an account's listed holders, with how many more hold it.
pub fn holder_list(account: &HeldAccount) -> String {
    let mut shown: Vec<String> = account.holders.iter().map(|&id| short_id(id)).collect();
    let listed = u64::try_from(account.holders.len()).unwrap_or(u64::MAX);
    if account.holders_total > listed {
        shown.push(format!("+{} more", account.holders_total - listed));
    }
    shown.join(", ")
}
