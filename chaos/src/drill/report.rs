//! The drill's Markdown report: the verdict per check (with the violations, naming ids), the
//! fault timeline, each fault's client-side unavailability (calls that gave up, and the
//! longest gap between commits), throughput per phase (and, for a procedure, relative to the
//! steady state), what the clients sent and were told, and how the network was made.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tianping_history::History;

use super::verdict::{NodeDigest, Verdict};
use super::{DrillConfig, DrillName, Event, Phase};
use crate::unavailability::{Attempt, Gap, Unavailability};

/// The goal for a procedure's throughput relative to the steady state (issue 14: ≥ 70 %).
pub const THROUGHPUT_GOAL: f64 = 0.70;

/// A measured window's longest gap: its name, its span (from, to), the gap.
pub type GapRow = (String, (Duration, Duration), Gap);

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
    /// The longest gap between commits in each measured window (the steady state first).
    pub gaps: &'a [GapRow],
    /// The same per data center's clients.
    pub gaps_per_data_center: Vec<(String, Vec<GapRow>)>,
    /// Each change of the leader the driver saw (`None`: no leader known).
    pub leaders: &'a [(Duration, Option<u64>)],
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
    if !summary.drill.is_fault() {
        let _ =
            writeln!(out, "Nodes added during the drill (in dc-d) run behind the proxy as well.\n");
    }

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
        "\n## Longest gap between commits\n\nIn each window (from the event to the next one; the steady state before the first, for comparison), the longest stretch in which no client was answered a commit — what the clients waited even when the SDK rode a failover out within its retries.\n"
    );
    let mut header = "| window | from–to (s) | all clients |".to_owned();
    let mut rule = "|---|---|---|".to_owned();
    for (data_center, _) in &summary.gaps_per_data_center {
        let _ = write!(header, " {data_center} |");
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (index, (event, (from, to), gap)) in summary.gaps.iter().enumerate() {
        let mut row = format!(
            "| {event} | {:.1}–{:.1} | {} |",
            from.as_secs_f64(),
            to.as_secs_f64(),
            gap_text(*gap)
        );
        for (_, rows) in &summary.gaps_per_data_center {
            let cell = rows.get(index).map_or("-".to_owned(), |(_, _, gap)| gap_text(*gap));
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
    let procedure = summary.phases.iter().find(|(phase, _, _)| matches!(phase, Phase::Change(_)));
    if let Some((phase, _, _)) = procedure
        && let Some(ratio) =
            throughput_ratio(summary.attempts, summary.phases, Phase::Steady, *phase)
    {
        let met = if ratio >= THROUGHPUT_GOAL { "meets" } else { "**misses**" };
        let _ = writeln!(
            out,
            "\nThroughput during the {}: **{:.0} %** of the steady state ({met} the goal of ≥ {:.0} %).",
            phase.name(),
            ratio * 100.0,
            THROUGHPUT_GOAL * 100.0
        );
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

/// Answered writes per second over `phase`'s span, every client (`None`: no such phase, or
/// an empty one).
fn rate(attempts: &[Attempt], phases: &[(Phase, Duration, Duration)], phase: Phase) -> Option<f64> {
    let (_, start, end) = phases.iter().find(|(each, _, _)| *each == phase)?;
    let seconds = end.saturating_sub(*start).as_secs_f64();
    if seconds <= 0.0 {
        return None;
    }
    let answered = attempts
        .iter()
        .filter(|a| a.committed && a.answered >= *start && a.answered < *end)
        .count();
    Some(answered as f64 / seconds)
}

/// `phase`'s answered writes per second over `baseline`'s (`None` when either is missing or
/// the baseline had none).
pub fn throughput_ratio(
    attempts: &[Attempt],
    phases: &[(Phase, Duration, Duration)],
    baseline: Phase,
    phase: Phase,
) -> Option<f64> {
    let base = rate(attempts, phases, baseline)?;
    let during = rate(attempts, phases, phase)?;
    (base > 0.0).then(|| during / base)
}

fn gap_text(gap: Gap) -> String {
    format!("{:.2} s (from {:.1} s)", gap.length.as_secs_f64(), gap.from.as_secs_f64())
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
