//! The drill's HTML report: one self-contained file (inline SVG and CSS, no script, no
//! external asset) beside `report.md`, for a person to open after a drill: the verdict, and
//! three plots over the drill's time — answered writes per second, write latency (median and
//! worst per second), and which node led — each with the fault or procedure windows shaded
//! and the measured events marked.

use std::fmt::Write as _;
use std::time::Duration;

use super::report::Summary;
use super::{Event, Phase};
use crate::unavailability::Attempt;

/// The plots' size in SVG units.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 230.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 36.0;

/// One line of a plot: its legend, its colour, its points (seconds, value).
struct Series {
    name: &'static str,
    colour: &'static str,
    points: Vec<(f64, f64)>,
}

/// The report's text.
pub fn html(summary: &Summary<'_>) -> String {
    let verdict = if summary.verdict.passed() { "PASS" } else { "FAIL" };
    let end = summary.timeline.last().map_or(0.0, |event| event.at.as_secs_f64()).max(1.0);
    let shaded: Vec<(f64, f64, &str)> = summary
        .phases
        .iter()
        .filter(|(phase, _, _)| matches!(phase, Phase::Fault | Phase::Change(_)))
        .map(|(phase, start, stop)| (start.as_secs_f64(), stop.as_secs_f64(), phase.name()))
        .collect();
    let events: Vec<&Event> = summary.timeline.iter().filter(|event| event.measured).collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Drill {name}: {verdict}</title>\n<style>body{{font-family:sans-serif;max-width:1000px;margin:1em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}.pass{{color:#070}}.fail{{color:#b00}}svg text{{font-size:11px}}</style></head><body>",
        name = escape(summary.drill.name())
    );
    let class = if summary.verdict.passed() { "pass" } else { "fail" };
    let _ = writeln!(
        out,
        "<h1>Drill <code>{}</code>: <span class=\"{class}\">{verdict}</span></h1>\n<p>{}.</p>",
        escape(summary.drill.name()),
        escape(summary.drill.what())
    );
    let _ = writeln!(
        out,
        "<p>Seed {}, latency profile <code>{}</code>, {} s of workload, {} client(s) per data center. Shaded: {}. Dashed lines: the measured events.</p>",
        summary.config.seed,
        summary.config.profile,
        summary.config.duration.as_secs(),
        summary.config.clients_per_data_center,
        if summary.drill.is_fault() { "the fault in force" } else { "the procedure" }
    );
    let _ = writeln!(out, "<h2>Verdict</h2>\n<table><tr><th>check</th><th>result</th></tr>");
    for check in &summary.verdict.checks {
        let result = if check.violations.is_empty() {
            "<span class=\"pass\">holds</span>".to_owned()
        } else {
            format!("<span class=\"fail\">{} violation(s)</span>", check.violations.len())
        };
        let _ = writeln!(out, "<tr><td>{}</td><td>{result}</td></tr>", escape(check.name));
    }
    let _ = writeln!(out, "</table>");

    let (throughput, latency) = per_second(summary.attempts, end);
    let _ = writeln!(out, "<h2>Answered writes per second</h2>");
    out.push_str(&plot(&[throughput], &shaded, &events, end, "writes/s", false, &[]));
    let _ = writeln!(out, "<h2>Write latency (answered writes, per second)</h2>");
    out.push_str(&plot(&latency, &shaded, &events, end, "ms", false, &[]));
    let _ = writeln!(out, "<h2>Leader</h2>");
    let (leader, ids) = leader_series(summary.leaders, end);
    out.push_str(&plot(&[leader], &shaded, &events, end, "node", true, &ids));

    let _ = writeln!(out, "<h2>Timeline</h2>\n<table><tr><th>at (s)</th><th>event</th></tr>");
    for event in summary.timeline {
        let _ = writeln!(
            out,
            "<tr><td>{:.1}</td><td>{}</td></tr>",
            event.at.as_secs_f64(),
            escape(&event.what)
        );
    }
    let _ = writeln!(out, "</table>\n</body></html>");
    out
}

/// Answered writes per second, and the median and worst latency of the writes answered in
/// each second, in ms (seconds with no answered write have no latency point).
fn per_second(attempts: &[Attempt], end: f64) -> (Series, Vec<Series>) {
    let seconds = end.ceil() as usize + 1;
    let mut counts = vec![0u32; seconds];
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    for attempt in attempts.iter().filter(|attempt| attempt.committed) {
        let second = attempt.answered.as_secs() as usize;
        if let (Some(count), Some(bucket)) = (counts.get_mut(second), latencies.get_mut(second)) {
            *count += 1;
            bucket.push(attempt.answered.saturating_sub(attempt.sent).as_secs_f64() * 1000.0);
        }
    }
    let throughput = Series {
        name: "answered writes/s",
        colour: "#1f77b4",
        points: counts
            .iter()
            .enumerate()
            .map(|(s, count)| (s as f64 + 0.5, f64::from(*count)))
            .collect(),
    };
    let mut median = Vec::new();
    let mut worst = Vec::new();
    for (second, bucket) in latencies.iter_mut().enumerate() {
        bucket.sort_by(f64::total_cmp);
        if let (Some(middle), Some(last)) = (bucket.get(bucket.len() / 2), bucket.last()) {
            median.push((second as f64 + 0.5, *middle));
            worst.push((second as f64 + 0.5, *last));
        }
    }
    let latency = vec![
        Series { name: "median", colour: "#2ca02c", points: median },
        Series { name: "worst", colour: "#d62728", points: worst },
    ];
    (throughput, latency)
}

/// The leader over time as a step line (0: none known), and the node ids seen.
fn leader_series(leaders: &[(Duration, Option<u64>)], end: f64) -> (Series, Vec<u64>) {
    let mut points = Vec::new();
    let mut ids: Vec<u64> = leaders.iter().filter_map(|(_, leader)| *leader).collect();
    ids.sort_unstable();
    ids.dedup();
    for (at, leader) in leaders {
        points.push((at.as_secs_f64(), leader.map_or(0.0, |id| id as f64)));
    }
    if let Some((_, last)) = points.last().copied() {
        points.push((end, last));
    }
    (Series { name: "leader (0: none known)", colour: "#9467bd", points }, ids)
}

/// One SVG plot of `series` over `[0, end]` seconds; `step` draws steps (the leader), and
/// `ticks` are the y values to label (all of them, for node ids; else four even ones).
fn plot(
    series: &[Series],
    shaded: &[(f64, f64, &str)],
    events: &[&Event],
    end: f64,
    unit: &str,
    step: bool,
    ticks: &[u64],
) -> String {
    let top_value = series
        .iter()
        .flat_map(|line| line.points.iter().map(|(_, value)| *value))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let x = |seconds: f64| LEFT + seconds / end * (WIDTH - LEFT - RIGHT);
    let y = |value: f64| HEIGHT - BOTTOM - value / top_value * (HEIGHT - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\">"
    );
    for (from, to, name) in shaded {
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f4b6b6\" fill-opacity=\"0.45\"><title>{}</title></rect>",
            x(*from),
            (x(*to) - x(*from)).max(1.0),
            HEIGHT - TOP - BOTTOM,
            escape(name)
        );
    }
    for event in events {
        let at = x(event.at.as_secs_f64());
        let _ = writeln!(
            svg,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#555\" stroke-dasharray=\"4 3\"><title>{}</title></line>",
            HEIGHT - BOTTOM,
            escape(&event.what)
        );
    }
    // Axes, with seconds along the bottom and the unit's ticks on the left.
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000\"/><line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#000\"/>",
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM
    );
    let step_seconds = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|step| end / step <= 12.0)
        .unwrap_or(600.0);
    let mut second = 0.0;
    while second <= end {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{second:.0}</text>",
            x(second),
            HEIGHT - BOTTOM + 14.0
        );
        second += step_seconds;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">seconds since the clients started</text>",
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 4.0
    );
    let labels: Vec<f64> = if ticks.is_empty() {
        (0..=4).map(|index| f64::from(index) * top_value / 1.1 / 4.0).collect()
    } else {
        ticks.iter().map(|id| *id as f64).collect()
    };
    for value in labels {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value:.0}</text>",
            LEFT - 6.0,
            y(value) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        HEIGHT / 2.0,
        HEIGHT / 2.0,
        escape(unit)
    );
    for (index, line) in series.iter().enumerate() {
        let mut path = String::new();
        let mut previous: Option<f64> = None;
        for (seconds, value) in &line.points {
            let command = if path.is_empty() { 'M' } else { 'L' };
            if step && let Some(before) = previous {
                let _ = write!(path, "L{:.1},{:.1} ", x(*seconds), y(before));
            }
            let _ = write!(path, "{command}{:.1},{:.1} ", x(*seconds), y(*value));
            previous = Some(*value);
        }
        let _ = writeln!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>",
            line.colour
        );
        let legend_x = LEFT + 10.0 + index as f64 * 180.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{legend_x:.1}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"13\">{}</text>",
            line.colour,
            legend_x + 14.0,
            escape(line.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// `text` safe inside HTML elements and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{escape, leader_series, per_second};
    use crate::unavailability::Attempt;

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("dc-a's <b> & \"c\""), "dc-a&#39;s &lt;b&gt; &amp; &quot;c&quot;");
    }

    #[test]
    fn seconds_count_answered_writes_and_their_latency() {
        let attempt = |sent: u64, answered: u64, committed: bool| Attempt {
            data_center: "dc-a".to_owned(),
            sent: Duration::from_millis(sent),
            answered: Duration::from_millis(answered),
            committed,
        };
        let attempts = [
            attempt(0, 10, true),
            attempt(10, 40, true),
            attempt(40, 900, false),
            attempt(900, 2500, true),
        ];
        let (throughput, latency) = per_second(&attempts, 3.0);
        let counts: Vec<f64> = throughput.points.iter().map(|(_, count)| *count).collect();
        assert_eq!(counts, vec![2.0, 0.0, 1.0, 0.0]);
        let worst: Vec<(f64, f64)> = latency[1].points.clone();
        assert_eq!(worst, vec![(0.5, 30.0), (2.5, 1600.0)]);
        let (leader, ids) =
            leader_series(&[(Duration::ZERO, Some(1)), (Duration::from_secs(2), None)], 3.0);
        assert_eq!(ids, vec![1]);
        assert_eq!(leader.points, vec![(0.0, 1.0), (2.0, 0.0), (3.0, 0.0)]);
    }
}
