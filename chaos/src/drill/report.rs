//! The drill's Markdown report: the verdict per check (with the violations, naming ids), the
//! fault timeline, each fault's client-side unavailability, throughput per phase, what the
//! clients sent and were told, and how the network was made.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tianping_history::History;

use super::verdict::{NodeDigest, Verdict};
use super::{DrillConfig, DrillName, Event, Phase};
use crate::unavailability::{Attempt, Unavailability};

/// Violations listed per check; the rest are counted.
const VIOLATIONS_LISTED: usize = 20;

/// Everything the report says.
pub struct Summary<'a> {
    /// The drill.
    pub drill: DrillName,
    /// How it ran.
    pub config: &'a DrillConfig,
    /// What the clients sent and were told.
    pub history: &'a History,
    /// Every attempt.
    pub attempts: &'a [Attempt],
    /// The timeline.
    pub timeline: &'a [Event],
    /// Each phase's start and end.
    pub phases: &'a [(Phase, Duration, Duration)],
    /// Each measured event's unavailability, every client.
    pub unavailability: &'a [(String, Unavailability)],
    /// The same per data center's clients.
    pub per_data_center: Vec<(String, Vec<(String, Unavailability)>)>,
    /// The replicas' digests.
    pub digests: &'a [NodeDigest],
    /// The verdict.
    pub verdict: &'a Verdict,
}

/// The report's text.
pub fn markdown(summary: &Summary<'_>) -> String {
    let mut out = String::new();
    let verdict = if summary.verdict.passed() { "PASS" } else { "FAIL" };
    let config = summary.config;
    let _ = writeln!(out, "# Drill `{}`: {verdict}\n", summary.drill);
    let _ = writeln!(out, "{}.\n", summary.drill.what());
    let _ = writeln!(
        out,
        "Seed {}, latency profile `{}` between data centers, {} s of workload ({} client(s) per data center), 5 voters in dc-a (2), dc-b (2), dc-c (1).",
        config.seed,
        config.profile,
        config.duration.as_secs(),
        config.clients_per_data_center
    );
    let _ = writeln!(
        out,
        "Network: every node on loopback (no network namespaces); Raft traffic between data centers crosses the user-space fault proxy, client traffic does not.\n"
    );

    let _ = writeln!(out, "## Verdict\n\n| check | result |\n|---|---|");
    for check in &summary.verdict.checks {
        let result = match check.violations.len() {
            0 => "holds".to_owned(),
            count => format!("**{count} violation(s)**"),
        };
        let _ = writeln!(out, "| {} | {result} |", check.name);
    }
    for check in summary.verdict.checks.iter().filter(|check| !check.violations.is_empty()) {
        let _ = writeln!(out, "\n### {}\n", check.name);
        for violation in check.violations.iter().take(VIOLATIONS_LISTED) {
            let _ = writeln!(out, "- {violation}");
        }
        if check.violations.len() > VIOLATIONS_LISTED {
            let _ = writeln!(out, "- … and {} more", check.violations.len() - VIOLATIONS_LISTED);
        }
    }

    let _ = writeln!(out, "\n## Timeline\n\n| at (s) | event |\n|---|---|");
    for event in summary.timeline {
        let _ = writeln!(out, "| {:.1} | {} |", event.at.as_secs_f64(), event.what);
    }

    let _ = writeln!(
        out,
        "\n## Client-side unavailability\n\nFrom the first write that failed after the event to the first write answered after that failure.\n"
    );
    let mut header = "| event | all clients |".to_owned();
    let mut rule = "|---|---|".to_owned();
    for (data_center, _) in &summary.per_data_center {
        let _ = write!(header, " {data_center} |");
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (index, (event, window)) in summary.unavailability.iter().enumerate() {
        let mut row = format!("| {event} | {} |", window_text(*window));
        for (_, windows) in &summary.per_data_center {
            let cell =
                windows.get(index).map_or("-".to_owned(), |(_, window)| window_text(*window));
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(out, "{row}");
    }

    let _ = writeln!(
        out,
        "\n## Throughput\n\n| phase | seconds | answered writes/s | failed attempts |\n|---|---|---|---|"
    );
    for (phase, start, end) in summary.phases {
        let seconds = end.saturating_sub(*start).as_secs_f64();
        let within = |attempt: &&Attempt| attempt.answered >= *start && attempt.answered < *end;
        let answered = summary.attempts.iter().filter(within).filter(|a| a.committed).count();
        let failed = summary.attempts.iter().filter(within).filter(|a| !a.committed).count();
        let rate = if seconds > 0.0 { answered as f64 / seconds } else { 0.0 };
        let _ = writeln!(out, "| {} | {seconds:.1} | {rate:.1} | {failed} |", phase.name());
    }

    let history = summary.history;
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for ack in history.acks.values() {
        *codes.entry(ack.code_name.as_str()).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "\n## Writes\n\n{} transfer ids sent (the drill's own funding transfers included), {} answered, {} never answered (their outcome read back), {} failed attempts.\n",
        history.sent.len(),
        history.acks.len(),
        history.batches_unknown,
        history.failed_attempts
    );
    let _ = writeln!(out, "| answer | transfers |\n|---|---|");
    for (code, count) in codes {
        let _ = writeln!(out, "| `{code}` | {count} |");
    }

    let _ = writeln!(out, "\n## Replicas\n\n| node | applied index | digest |\n|---|---|---|");
    for digest in summary.digests {
        let hex: String = digest.digest.0[..8].iter().map(|byte| format!("{byte:02x}")).collect();
        let _ = writeln!(out, "| {} | {} | `{hex}…` |", digest.node_id, digest.applied);
    }
    out
}

fn window_text(window: Unavailability) -> String {
    match window {
        Unavailability::Unnoticed => "none noticed".to_owned(),
        Unavailability::Window { first_failure, .. } => format!(
            "{:.2} s (from {:.1} s)",
            window.duration().unwrap_or_default().as_secs_f64(),
            first_failure.as_secs_f64()
        ),
        Unavailability::NotRecovered { first_failure } => {
            format!("not recovered (from {:.1} s)", first_failure.as_secs_f64())
        }
    }
}
