//! The HTML page, read back with an XML parser: well-formed, self-contained, every piece in
//! place for the fixed day, ledger text escaped, the empty and the flooded page, the plots'
//! geometry at the period's edges; and the example page for a person to look at.

use tianping_ledger::DiscrepancyClass as C;

use super::xml::{Element, parse};
use super::*;
use crate::report::svg::{Axis, CLASS_COLOURS, time_label};
use crate::report::{AmountStyle, BucketUnit, ROWS_MAX, render_html};

fn page(report: &Report) -> (String, Element) {
    let html = render_html(report, AmountStyle::MinorUnits);
    match parse(&html) {
        Ok(root) => (html, root),
        Err(error) => panic!("not well-formed: {error}\n{html}"),
    }
}

/// Nothing the page could fetch or run: no script or embedding element, no attribute that
/// names a resource or an event handler, no URL in an attribute or in the style sheet.
fn assert_self_contained(html: &str, root: &Element) {
    assert_eq!(root.name, "html");
    for element in root.descendants() {
        assert!(
            ![
                "script",
                "link",
                "img",
                "iframe",
                "object",
                "embed",
                "base",
                "form",
                "a",
                "use",
                "image",
                "foreignObject"
            ]
            .contains(&element.name.as_str()),
            "element {}",
            element.name
        );
        for (name, value) in &element.attributes {
            assert!(
                !["href", "src", "srcset", "action", "xlink:href", "data"].contains(&name.as_str()),
                "attribute {name}"
            );
            assert!(!name.starts_with("on"), "event handler {name}");
            assert!(!value.contains("://") && !value.contains("url("), "{name}={value}");
        }
    }
    for style in root.all("style") {
        let css = style.text();
        assert!(!css.contains("url(") && !css.contains("@import"), "{css}");
    }
    assert!(!html.chars().any(|c| c.is_control() && c != '\n'), "a control character in the page");
}

#[test]
fn the_fixed_day_page_is_well_formed_complete_and_self_contained() {
    let (html, root) = page(&fixed_day());
    assert_self_contained(&html, &root);
    let title = root.all("title");
    assert_eq!(
        title[0].text(),
        "Reconciliation report 2025-11-24T00:00:00.000Z to 2025-11-25T00:00:00.000Z"
    );
    let header: Vec<String> = root.by_id("header").all("dd").iter().map(|dd| dd.text()).collect();
    assert_eq!(
        header,
        [
            "2025-11-24T00:00:00.000Z to 2025-11-25T00:00:00.000Z (UTC)",
            "2025-11-25T00:00:00.000Z",
            "dc-test",
            "recon-a",
            "minor units"
        ]
    );
    let figures: Vec<(String, String)> = root
        .by_id("figures")
        .with_class("figure")
        .iter()
        .map(|figure| (figure.with_class("number")[0].text(), figure.with_class("label")[0].text()))
        .collect();
    let expected = [
        ("5", "recorded in the period"),
        ("4", "open now"),
        ("2", "resolved in the period"),
        ("1", "accounts outflow-blocked"),
    ];
    assert_eq!(figures, expected.map(|(number, label)| (number.to_owned(), label.to_owned())));
    assert!(root.by_id("figures").with_class("empty").is_empty());
}

#[test]
fn the_fixed_day_tables_hold_the_expected_rows() {
    let (_, root) = page(&fixed_day());
    let open = root.by_id("open");
    assert_eq!(open.all("h2")[0].text(), "Open discrepancies (4)");
    let rows = open.rows();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[0],
        [
            "2025-11-23T22:00:00.000Z",
            "0a0a0a0a",
            "9",
            "balance_mismatch",
            "E2E-1",
            "1000200",
            "1000150",
            "-50",
            "1001",
            "payout 1 succeeded",
            "REF1 DBIT booked",
            "recon-a",
        ]
    );
    assert_eq!(rows[1][1..8], ["11111111", "9", "missing_at_bank", "E2E-2", "10000", "-", "-"]);
    assert_eq!(rows[3][3], "reversed_at_bank");
    // The full decimal id is the short id's tooltip.
    let first_id = open.with_class("id")[0].all("span")[0].attribute("title").map(str::to_owned);
    assert_eq!(first_id, Some(id(0x0a0a_0a0a, 1).to_string()));
    let held = root.by_id("blocked-accounts");
    assert_eq!(
        held.all("h2")[0].text(),
        "Accounts held by open discrepancies (3; outflow-blocked 1)"
    );
    assert_eq!(
        held.rows(),
        [
            ["1001", "outflow_blocked", "2", "0a0a0a0a, 11111111"],
            ["1002", "frozen", "1", "33333333"],
            ["1003", "unknown", "1", "55555555"],
        ]
    );
    let resolved = root.by_id("resolved").rows();
    assert_eq!(
        resolved,
        [
            [
                "2025-11-24T09:30:00.000Z",
                "2025-11-24T11:00:00.000Z",
                "22222222",
                "9",
                "missing_in_ledger",
                "E2E-3",
                "-",
                "25050",
                "-",
                "ops-li",
                "late booking confirmed by bank",
            ],
            [
                "2025-11-24T10:00:05.000Z",
                "2025-11-24T12:00:00.000Z",
                "44444444",
                "9",
                "duplicate_at_bank",
                "E2E-5",
                "7000",
                "7000",
                "0",
                "ops-wang",
                "bank recalled the copy",
            ],
        ]
    );
    let by_class = root.by_id("by-class").rows();
    assert_eq!(by_class.len(), C::ALL.len());
    assert_eq!(by_class[2], ["missing_in_ledger", "0", "1", "1"]);
}

#[test]
fn the_plots_stack_classes_per_bucket_with_ticks_and_a_legend() {
    let (_, root) = page(&fixed_day());
    let recorded = root.by_id("recorded");
    assert_eq!(recorded.all("h2")[0].text(), "Discrepancies recorded per hour, by class");
    let svg = &recorded.all("svg")[0];
    let bars: Vec<(String, String, String, String)> = svg
        .with_class("bar")
        .iter()
        .map(|bar| {
            let get = |name| bar.attribute(name).unwrap_or_default().to_owned();
            (get("x"), get("y"), get("height"), bar.text())
        })
        .collect();
    // 24 hours in 880 px: 36 px a bar, 1 px gap; the y axis runs 0..2 over 220 px from y 232.
    assert_eq!(
        bars,
        [
            ("389", "122", "110", "2025-11-24T09:00:00.000Z missing_at_bank: 1"),
            ("389", "12", "110", "2025-11-24T09:00:00.000Z missing_in_ledger: 1"),
            ("425", "122", "110", "2025-11-24T10:00:00.000Z amount_mismatch: 1"),
            ("425", "12", "110", "2025-11-24T10:00:00.000Z duplicate_at_bank: 1"),
            ("893", "122", "110", "2025-11-24T23:00:00.000Z reversed_at_bank: 1"),
        ]
        .map(|(x, y, height, title)| (
            x.to_owned(),
            y.to_owned(),
            height.to_owned(),
            title.to_owned()
        ))
    );
    let fills: Vec<&str> =
        svg.with_class("bar").iter().filter_map(|bar| bar.attribute("fill")).collect();
    assert_eq!(fills[0], CLASS_COLOURS[C::MissingAtBank as usize]);
    assert_eq!(fills[1], CLASS_COLOURS[C::MissingInLedger as usize]);
    let ticks: Vec<String> = svg.with_class("tick").iter().map(|tick| tick.text()).collect();
    assert_eq!(ticks[..3], ["0", "1", "2"]);
    assert!(
        ticks.contains(&"11-24 00:00".to_owned()) && ticks.contains(&"11-25 00:00".to_owned()),
        "{ticks:?}"
    );
    let legend: Vec<String> = svg.with_class("legend").iter().map(|entry| entry.text()).collect();
    assert_eq!(legend.len(), C::ALL.len());
    assert_eq!(legend[0], "balance_mismatch (0)", "recorded the day before: not in this plot");
    assert_eq!(legend[1], "missing_at_bank (1)");

    let open = root.by_id("open-over-time").all("svg");
    let path = open[0].with_class("step")[0].attribute("d").unwrap_or_default().to_owned();
    // Open 1 at the start (axis 0..5: 44 px per discrepancy), 3 after 09:00, 5 after 10:00.
    assert!(path.starts_with("M64 188 H100 V188"), "{path}");
    assert!(path.contains(" H424 V100 H460 V12 H496 V56 H532 V100"), "{path}");
    assert_eq!(open[0].with_class("point").len(), 24);
}

#[test]
fn ledger_text_is_text_never_markup() {
    let attack = "<script>alert(\"owned\")</script><img src=x onerror=alert(1)>";
    let mut found = open(id(0x6666_6666, 7), C::MissingInLedger, DAY + HOUR, &[1001]);
    found.request.bank_evidence = attack.to_owned();
    found.request.ledger_evidence = "a & b < c > d ' \" ]]> &amp;".to_owned();
    found.request.reference = "</td></tr></table><p>".to_owned();
    found.request.actor = "recon\u{1b}[2J\u{0}\u{202e}".to_owned();
    let gone = resolved(
        open(2, C::AmountMismatch, DAY, &[]),
        DAY + 2 * HOUR,
        "<b>ops</b>",
        "<style>*{}</style>",
    );
    let mut header = header(DAY, DAY + 24 * HOUR);
    header.cluster = "<svg onload=alert(1)>".to_owned();
    let report = Report::build(header, [&found, &gone], &[]).expect("report");
    let (html, root) = page(&report);
    assert_self_contained(&html, &root);
    assert_eq!(
        root.all("script").len()
            + root.all("img").len()
            + root.all("p").iter().filter(|p| p.attributes.is_empty()).count(),
        0
    );
    assert_eq!(root.all("style").len(), 1, "only the page's own style sheet");
    let cells = &root.by_id("open").rows()[0];
    assert_eq!(cells[4], "</td></tr></table><p>");
    assert_eq!(cells[9], "a & b < c > d ' \" ]]> &amp;");
    assert_eq!(cells[10], attack);
    assert_eq!(cells[11], "recon\\u{1b}[2J\\u{0}\\u{202e}");
    let resolved_row = &root.by_id("resolved").rows()[0];
    assert_eq!(resolved_row[9..], ["<b>ops</b>", "<style>*{}</style>"]);
    assert_eq!(root.by_id("header").all("dd")[2].text(), "<svg onload=alert(1)>");
    assert_eq!(root.all("svg").len(), 2, "only the two plots");
}

#[test]
fn an_empty_period_says_so_and_still_draws_its_axes() {
    let (html, root) = page(&report(DAY, DAY + HOUR, &[], &[]));
    assert_self_contained(&html, &root);
    let empty: Vec<String> = root.with_class("empty").iter().map(|p| p.text()).collect();
    assert_eq!(
        empty,
        [
            "no discrepancies in this period",
            "no discrepancies recorded in this period",
            "no open discrepancies",
            "no account is held by an open discrepancy",
            "none resolved"
        ]
    );
    for section in ["open", "blocked-accounts", "resolved"] {
        assert!(root.by_id(section).all("table").is_empty(), "{section}");
    }
    let plots = root.all("svg");
    assert_eq!(plots.len(), 2);
    assert!(plots[0].with_class("bar").is_empty());
    assert_eq!(plots[1].with_class("point").len(), 60, "an hour of minutes");
    assert!(plots[0].with_class("tick").iter().any(|tick| tick.text() == "00:00"));
}

#[test]
fn the_first_and_last_instants_fall_in_the_first_and_last_bars() {
    let edges = [
        open(1, C::MissingAtBank, DAY, &[]),
        open(2, C::MissingAtBank, DAY + 24 * HOUR - 1, &[]),
        open(3, C::MissingAtBank, DAY + 24 * HOUR, &[]),
    ];
    let (_, root) = page(&report(DAY, DAY + 24 * HOUR, &edges, &[]));
    let xs: Vec<String> = root
        .by_id("recorded")
        .with_class("bar")
        .iter()
        .filter_map(|bar| bar.attribute("x").map(str::to_owned))
        .collect();
    assert_eq!(
        xs,
        ["65", "893"],
        "first bar at the axis (+1 px gap), last at 64 + 23 × 36 + 1; at until: none"
    );
}

#[test]
fn a_flood_is_bounded_on_the_page() {
    let flood: Vec<Discrepancy> = (0..ROWS_MAX as u64 + 500)
        .map(|index| {
            let mut found = open(
                u128::from(index) + 1,
                C::ALL[(index % 6) as usize],
                DAY + index * SECOND,
                &[u128::from(index)],
            );
            found.request.bank_evidence = "x".repeat(1_024);
            found
        })
        .collect();
    let (html, root) = page(&report(DAY, DAY + 2 * HOUR, &flood, &[]));
    assert_eq!(root.by_id("open").rows().len(), ROWS_MAX);
    let more: Vec<String> = root.with_class("more").iter().map(|p| p.text()).collect();
    assert_eq!(
        more,
        [
            format!(
                "… and 500 more open discrepancies recorded later (at most {ROWS_MAX} rows shown)"
            ),
            format!("… and 500 more held accounts (at most {ROWS_MAX} rows shown)"),
        ]
    );
    assert_eq!(
        root.by_id("open").all("h2")[0].text(),
        format!("Open discrepancies ({})", ROWS_MAX + 500)
    );
    assert!(html.len() < 4 * 1024 * 1024, "{} bytes", html.len());
}

#[test]
fn axes_take_round_steps() {
    let axis = |max| {
        let axis = Axis::for_max(max);
        (axis.top, axis.step)
    };
    assert_eq!(axis(0), (1, 1));
    assert_eq!(axis(5), (5, 1));
    assert_eq!(axis(6), (6, 2));
    assert_eq!(axis(7), (8, 2));
    assert_eq!(axis(11), (15, 5));
    assert_eq!(axis(1_234), (1_500, 500));
    assert_eq!(axis(u64::MAX), (u64::MAX, u64::MAX));
    assert_eq!(time_label(DAY + 9 * HOUR + 5 * MINUTE, BucketUnit::Minute), "09:05");
    assert_eq!(time_label(DAY + 9 * HOUR, BucketUnit::Hour), "11-24 09:00");
    assert_eq!(time_label(DAY, BucketUnit::Day), "2025-11-24");
}

/// A busier day for a person to look at: set `TIANPING_REPORT_EXAMPLE` to a path and the page
/// is written there (`/tmp/recon-report-example.html`), after the same checks as every page.
#[test]
fn the_example_page_is_well_formed() {
    let mut discrepancies = Vec::new();
    let mut accounts = Vec::new();
    for index in 0..90u64 {
        let class = C::ALL[((index * 5 + index / 6) % 6) as usize];
        let at = DAY + (index * index * 37 % 1_440) * MINUTE + index * SECOND;
        let account = 2_000 + u128::from(index % 23);
        let mut found =
            open(id(0x9e37_79b9_u32.wrapping_mul(index as u32 + 1), index), class, at, &[account]);
        found.request.bank = 1 + (index % 3) as u32;
        found.request.reference = format!("E2E-2025112400{index:04}");
        found.request.actor = format!("recon-dc{}", 1 + index % 2);
        found.request.bank_evidence = format!(
            "REF{index} DBIT {}.{:02} CNY booked 2025-11-24T09:30:00.000Z value 2025-11-24",
            100 + index,
            index % 100
        );
        if index == 3 {
            found.request.bank_evidence = "remittance: <script>alert('x')</script>".to_owned();
        }
        let found = if index % 3 == 0 {
            let resolved_at = at + (index % 7 + 1) * 47 * MINUTE;
            resolved(
                found,
                resolved_at,
                "ops-li",
                "bank confirmed a late booking; statement re-sent",
            )
        } else {
            found
        };
        discrepancies.push(found);
        let status =
            if index % 11 == 0 { AccountStatus::Frozen } else { AccountStatus::OutflowBlocked };
        accounts.push(AccountState { id: account, status });
    }
    let mut header = header(DAY, DAY + 24 * HOUR);
    header.cluster = "tianping-prod-east".to_owned();
    header.generated_at = DAY + 24 * HOUR + 42 * SECOND;
    let report = Report::build(header, &discrepancies, &accounts).expect("report");
    let (html, root) = page(&report);
    assert_self_contained(&html, &root);
    assert_eq!(report.figures.listed, 90);
    assert!(root.all("script").is_empty());
    if let Some(path) = std::env::var_os("TIANPING_REPORT_EXAMPLE") {
        std::fs::write(&path, &html).expect("example written");
    }
}
