//! The report as one self-contained HTML page: inline CSS, inline SVG plots, no script, no
//! external resource of any kind — an operator can mail it, archive it, or open it on a
//! machine without network, and it shows the same.
//!
//! The page is well-formed XML as well as HTML (every element closed, only the five XML
//! entities, no raw `&` or `<` in text), so the tests read it back with an XML parser and a
//! browser reads it as ordinary HTML. Every text that came from the ledger goes through
//! [`html_text`]; numbers and names this crate makes (class and state names, instants) need
//! no escaping, and are escaped anyway where they share a cell with ledger text.

use std::fmt::Write;

use tianping_ledger::{Discrepancy, DiscrepancyClass, DiscrepancyState};

use super::amount::{AmountStyle, difference};
use super::collect::{Bounded, HeldAccount, Report};
use super::escape::html_text;
use super::svg::{CLASS_COLOURS, open_plot, recorded_plot};
use super::table::{STATUS_UNKNOWN, holder_list, more_line, short_id};
use crate::evidence::instant_text;
use tianping_ledger::AccountStatus;

/// The page's style sheet (no `url(`, no `@import`: nothing is fetched).
const STYLE: &str = include_str!("style.css");

/// The report as a complete HTML document.
pub fn render_html(report: &Report, amounts: AmountStyle) -> String {
    let header = &report.header;
    let mut page = String::with_capacity(64 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>Reconciliation report {} to {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        instant_text(header.period.since()),
        instant_text(header.period.until())
    );
    header_section(&mut page, report, amounts);
    figures_section(&mut page, report);
    plots_sections(&mut page, report);
    open_section(&mut page, &report.open, amounts);
    held_section(&mut page, report);
    resolved_section(&mut page, &report.resolved, amounts);
    classes_section(&mut page, report);
    let _ = write!(
        page,
        "<footer>Amounts in {}; difference = bank amount - ledger amount. States are as of generation. Made by tianping reconcile report; no scripts, nothing fetched.</footer>\n</body>\n</html>\n",
        amounts.unit_text()
    );
    page
}

fn header_section(page: &mut String, report: &Report, amounts: AmountStyle) {
    let header = &report.header;
    let mut reconcilers: Vec<String> =
        header.reconcilers.iter().map(|name| html_text(name)).collect();
    if report.reconcilers_truncated {
        reconcilers.push("and others".to_owned());
    }
    let or_dash = |text: String| if text.is_empty() { "-".to_owned() } else { text };
    let _ = write!(
        page,
        "<header id=\"header\">\n<h1>Reconciliation report</h1>\n<dl class=\"header\">\
         <dt>Period</dt><dd>{} to {} (UTC)</dd>\
         <dt>Generated at</dt><dd>{}</dd>\
         <dt>Cluster</dt><dd>{}</dd>\
         <dt>Reconcilers</dt><dd>{}</dd>\
         <dt>Amounts</dt><dd>{}</dd></dl>\n</header>\n",
        instant_text(header.period.since()),
        instant_text(header.period.until()),
        instant_text(header.generated_at),
        or_dash(html_text(&header.cluster)),
        or_dash(reconcilers.join(", ")),
        amounts.unit_text()
    );
}

fn figures_section(page: &mut String, report: &Report) {
    let figures = &report.figures;
    let blocked_prefix = if report.holds_untracked > 0 { "≥ " } else { "" };
    let items = [
        (figures.recorded_in_period.to_string(), "recorded in the period", false),
        (figures.open_now.to_string(), "open now", figures.open_now > 0),
        (figures.resolved_in_period.to_string(), "resolved in the period", false),
        (
            format!("{blocked_prefix}{}", report.outflow_blocked_accounts),
            "accounts outflow-blocked",
            report.outflow_blocked_accounts > 0,
        ),
    ];
    page.push_str("<section id=\"figures\">\n<div class=\"figures\">");
    for (number, label, alert) in items {
        let class = if alert { "figure alert" } else { "figure" };
        let _ = write!(
            page,
            "<div class=\"{class}\"><span class=\"number\">{number}</span><span class=\"label\">{label}</span></div>"
        );
    }
    page.push_str("</div>\n");
    if figures.listed == 0 {
        page.push_str("<p class=\"empty\">no discrepancies in this period</p>\n");
    }
    if figures.outside_period > 0 {
        let _ = writeln!(
            page,
            "<p>{} discrepancies passed in were outside the period.</p>",
            figures.outside_period
        );
    }
    page.push_str("</section>\n");
}

fn plots_sections(page: &mut String, report: &Report) {
    let unit = report.buckets.unit().name();
    let _ = write!(
        page,
        "<section id=\"recorded\">\n<h2>Discrepancies recorded per {unit}, by class</h2>\n"
    );
    if report.figures.recorded_in_period == 0 {
        page.push_str("<p class=\"empty\">no discrepancies recorded in this period</p>\n");
    }
    page.push_str(&recorded_plot(report));
    page.push_str("\n</section>\n");
    let _ = write!(
        page,
        "<section id=\"open-over-time\">\n<h2>Open discrepancies over time (at the end of each {unit})</h2>\n"
    );
    page.push_str(&open_plot(report));
    page.push_str("\n</section>\n");
}

/// One table cell: its CSS class and its content, already escaped.
struct Cell {
    class: &'static str,
    html: String,
}

fn text(class: &'static str, raw: &str) -> Cell {
    Cell { class, html: html_text(raw) }
}

/// Longest text kept on one line in a reference or name cell (an ISO 20022 end-to-end id is at
/// most 35 characters); longer text wraps anywhere rather than widen the table.
const ONE_LINE_CHARS_MAX: usize = 40;

/// A reference or a name: on one line when short, wrapped when long.
fn short_text(class: &'static str, raw: &str) -> Cell {
    if raw.chars().count() <= ONE_LINE_CHARS_MAX { text(class, raw) } else { text("wrap", raw) }
}

fn made(class: &'static str, html: String) -> Cell {
    Cell { class, html }
}

fn table(page: &mut String, headings: &[&str], rows: impl Iterator<Item = Vec<Cell>>) {
    page.push_str("<div class=\"table\"><table>\n<thead><tr>");
    for heading in headings {
        let _ = write!(page, "<th>{heading}</th>");
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        page.push_str("<tr>");
        for cell in row {
            let _ = write!(page, "<td class=\"{}\">{}</td>", cell.class, cell.html);
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table></div>\n");
}

fn more(page: &mut String, omitted: u64, what: &str) {
    if omitted > 0 {
        let _ = writeln!(page, "<p class=\"more\">{}</p>", html_text(&more_line(omitted, what)));
    }
}

fn class_cell(class: DiscrepancyClass) -> Cell {
    made(
        "class",
        format!(
            "<span class=\"swatch-inline\" style=\"background:{}\"></span>{}",
            CLASS_COLOURS[class as usize],
            class.name()
        ),
    )
}

fn id_cell(id: u128) -> Cell {
    made("id", format!("<span title=\"{id}\">{}</span>", short_id(id)))
}

fn amount_cells(discrepancy: &Discrepancy, amounts: AmountStyle) -> [Cell; 3] {
    let request = &discrepancy.request;
    let amount =
        |value: Option<u128>| value.map_or_else(|| "-".to_owned(), |value| amounts.format(value));
    [
        made("number", amount(request.ledger_amount)),
        made("number", amount(request.bank_amount)),
        made(
            "number",
            difference(request.ledger_amount, request.bank_amount)
                .map_or_else(|| "-".to_owned(), |difference| difference.format(amounts)),
        ),
    ]
}

fn ids_text(ids: &[u128]) -> String {
    if ids.is_empty() {
        return "-".to_owned();
    }
    ids.iter().map(u128::to_string).collect::<Vec<_>>().join(", ")
}

fn open_section(page: &mut String, open: &Bounded<Discrepancy>, amounts: AmountStyle) {
    let total = open.omitted.saturating_add(u64::try_from(open.rows.len()).unwrap_or(u64::MAX));
    let _ = write!(page, "<section id=\"open\">\n<h2>Open discrepancies ({total})</h2>\n");
    if open.rows.is_empty() {
        page.push_str("<p class=\"empty\">no open discrepancies</p>\n</section>\n");
        return;
    }
    let headings = [
        "Recorded",
        "ID",
        "Bank",
        "Class",
        "Reference",
        "Ledger",
        "Bank amount",
        "Difference",
        "Accounts held",
        "Ledger evidence",
        "Bank evidence",
        "Found by",
    ];
    let rows = open.rows.iter().map(|discrepancy| {
        let request = &discrepancy.request;
        let [ledger, bank, difference] = amount_cells(discrepancy, amounts);
        vec![
            made("time", instant_text(discrepancy.timestamp)),
            id_cell(request.id),
            made("number", request.bank.to_string()),
            class_cell(request.class),
            short_text("reference", &request.reference),
            ledger,
            bank,
            difference,
            made("ids", ids_text(&request.account_ids)),
            text("evidence", &request.ledger_evidence),
            text("evidence", &request.bank_evidence),
            short_text("actor", &request.actor),
        ]
    });
    table(page, &headings, rows);
    more(page, open.omitted, "open discrepancies recorded later");
    page.push_str("</section>\n");
}

fn held_section(page: &mut String, report: &Report) {
    let held: &Bounded<HeldAccount> = &report.held_accounts;
    let _ = write!(
        page,
        "<section id=\"blocked-accounts\">\n<h2>Accounts held by open discrepancies ({}; outflow-blocked {})</h2>\n",
        report.held_accounts_total, report.outflow_blocked_accounts
    );
    if held.rows.is_empty() {
        page.push_str("<p class=\"empty\">no account is held by an open discrepancy</p>\n");
    } else {
        let rows = held.rows.iter().map(|account| {
            vec![
                made("number", account.id.to_string()),
                made(
                    "status",
                    account.status.map_or(STATUS_UNKNOWN, AccountStatus::name).to_owned(),
                ),
                made("number", account.holders_total.to_string()),
                made("ids", holder_list(account)),
            ]
        });
        table(page, &["Account", "Status", "Holders", "Held by"], rows);
        more(page, held.omitted, "held accounts");
    }
    if report.holds_untracked > 0 {
        let _ = writeln!(
            page,
            "<p class=\"more\">{} more holds on accounts past the first {} were not followed.</p>",
            report.holds_untracked,
            super::HELD_ACCOUNTS_MAX
        );
    }
    page.push_str("</section>\n");
}

fn resolved_section(page: &mut String, resolved: &Bounded<Discrepancy>, amounts: AmountStyle) {
    let total =
        resolved.omitted.saturating_add(u64::try_from(resolved.rows.len()).unwrap_or(u64::MAX));
    let _ = write!(page, "<section id=\"resolved\">\n<h2>Resolved discrepancies ({total})</h2>\n");
    if resolved.rows.is_empty() {
        page.push_str("<p class=\"empty\">none resolved</p>\n</section>\n");
        return;
    }
    let headings = [
        "Recorded",
        "Resolved",
        "ID",
        "Bank",
        "Class",
        "Reference",
        "Ledger",
        "Bank amount",
        "Difference",
        "Resolved by",
        "Reason",
    ];
    let rows = resolved.rows.iter().map(|discrepancy| {
        let request = &discrepancy.request;
        let [ledger, bank, difference] = amount_cells(discrepancy, amounts);
        vec![
            made("time", instant_text(discrepancy.timestamp)),
            made("time", instant_text(discrepancy.resolved_at)),
            id_cell(request.id),
            made("number", request.bank.to_string()),
            class_cell(request.class),
            short_text("reference", &request.reference),
            ledger,
            bank,
            difference,
            short_text("actor", &discrepancy.resolved_by),
            text("wrap", &discrepancy.resolution),
        ]
    });
    table(page, &headings, rows);
    more(page, resolved.omitted, "resolved discrepancies resolved later");
    page.push_str("</section>\n");
}

fn classes_section(page: &mut String, report: &Report) {
    let figures = &report.figures;
    page.push_str("<section id=\"by-class\">\n<h2>Listed discrepancies by class and state</h2>\n");
    let rows = DiscrepancyClass::ALL.into_iter().map(|class| {
        let open = figures.of(class, DiscrepancyState::Open);
        let resolved = figures.of(class, DiscrepancyState::Resolved);
        vec![
            class_cell(class),
            made("number", open.to_string()),
            made("number", resolved.to_string()),
            made("number", u128::from(open).saturating_add(u128::from(resolved)).to_string()),
        ]
    });
    table(page, &["Class", "Open", "Resolved", "Total"], rows);
    page.push_str("</section>\n");
}
