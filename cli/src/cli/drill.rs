//! `tianping drill <name>`: a drill on real processes (the `tianping-chaos` crate's `drill`
//! module), run with this very binary as the nodes' executable. Prints a live progress line
//! on standard error, writes the Markdown report, and exits 0 only when every check holds.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tianping_chaos::LatencyProfile;
use tianping_chaos::drill::{self, DrillConfig, DrillName};
use tianping_chaos::unavailability::Unavailability;

/// `tianping drill`'s options.
#[derive(Debug, clap::Args)]
pub struct DrillOptions {
    /// The drill: failover, split-brain, split-brain-one-way, pause, dc-loss or dc-migration.
    #[arg(value_parser = parse_drill)]
    pub name: DrillName,
    /// The delay between data centers: metro (1-5 ms one way), national (20-45 ms) or
    /// cross-border (60-120 ms, with spikes).
    #[arg(long, default_value = "national", value_parser = parse_profile)]
    pub latency: LatencyProfile,
    /// How long the clients write: a third before the fault, a third under it, a third
    /// after healing (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = crate::bench::parse_duration)]
    pub duration: Duration,
    /// Seeds the proxy's delays and the clients' choices (the report names it).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the report (report.md) and the cluster's data (cluster/) go. Default:
    /// `target/drills/<name>-<seed>`.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Concurrent clients in each data center.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub clients_per_dc: u32,
    /// Run the drill this many times, seeds --seed, --seed + 1, ... (each its own cluster and
    /// report under `target/drills/<name>-<seed>`), and print each run's figures (the
    /// unavailability after the fault, the longest gap between commits in its window, a
    /// procedure's throughput ratio) with their median, p99 and worst.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
}

fn parse_drill(name: &str) -> Result<DrillName, String> {
    DrillName::parse(name).ok_or_else(|| {
        let names: Vec<&str> = DrillName::ALL.iter().map(|drill| drill.name()).collect();
        format!("no drill {name:?}; the drills are {}", names.join(", "))
    })
}

fn parse_profile(name: &str) -> Result<LatencyProfile, String> {
    LatencyProfile::parse(name)
        .ok_or_else(|| format!("no latency profile {name:?}; use metro, national or cross-border"))
}

/// Runs the drill (`--repeat` times); an error when any run's verdict fails.
pub async fn run(options: DrillOptions) -> anyhow::Result<()> {
    let binary = std::env::current_exe().context("finding the tianping binary")?;
    if options.repeat > 1 && options.report.is_some() {
        anyhow::bail!("--report names one directory; with --repeat each run has its own");
    }
    let mut failed = Vec::new();
    let mut windows = Vec::new();
    let mut gaps = Vec::new();
    let mut ratios = Vec::new();
    for run in 0..options.repeat {
        let seed = options.seed.wrapping_add(u64::from(run));
        let report_dir = options.report.clone().unwrap_or_else(|| {
            PathBuf::from("target").join("drills").join(format!("{}-{seed}", options.name))
        });
        let config = DrillConfig {
            binary: binary.clone(),
            report_dir,
            profile: options.latency,
            seed,
            duration: options.duration,
            clients_per_data_center: options.clients_per_dc,
        };
        let mut line = ProgressLine::new();
        let outcome = drill::run(options.name, &config, &mut |text| line.show(&text)).await;
        line.finish();
        let outcome = outcome.with_context(|| format!("drill {} (seed {seed})", options.name))?;
        for check in &outcome.verdict.checks {
            let result = if check.violations.is_empty() { "holds" } else { "VIOLATED" };
            eprintln!("  {result:<8} {}", check.name);
            for violation in check.violations.iter().take(5) {
                eprintln!("           - {violation}");
            }
        }
        let verdict = if outcome.verdict.passed() { "PASS" } else { "FAIL" };
        println!(
            "drill {} seed {seed}: {verdict}; report {}",
            options.name,
            outcome.report.display()
        );
        if let Some((event, window)) = outcome.unavailability.first() {
            println!(
                "drill {} seed {seed}: unavailability {} after {event}",
                options.name,
                text(*window)
            );
            windows.push(window.duration());
        }
        // The first row is the steady state's baseline; the second the first event's window.
        if let Some((event, gap)) = outcome.gaps.get(1) {
            println!(
                "drill {} seed {seed}: longest gap between commits {:.2} s after {event}",
                options.name,
                gap.length.as_secs_f64()
            );
            gaps.push(Some(gap.length));
        }
        if let Some(ratio) = outcome.throughput_ratio {
            println!(
                "drill {} seed {seed}: throughput during the procedure {:.0} % of the steady state",
                options.name,
                ratio * 100.0
            );
            ratios.push(ratio);
        }
        if !outcome.verdict.passed() {
            failed.push(seed);
        }
    }
    if options.repeat > 1 {
        print_figures(options.name, "unavailability after the fault", &windows);
        print_figures(options.name, "longest gap between commits after the fault", &gaps);
        if !ratios.is_empty() {
            ratios.sort_by(f64::total_cmp);
            let median = ratios.get(ratios.len() / 2).copied().unwrap_or_default();
            let lowest = ratios.first().copied().unwrap_or_default();
            println!(
                "drill {}: throughput during the procedure over {} runs: median {:.0} %, lowest {:.0} %",
                options.name,
                ratios.len(),
                median * 100.0,
                lowest * 100.0
            );
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "drill {} failed its verdict (seeds {failed:?}); see the report",
            options.name
        )
    }
}

/// The median, p99 (nearest rank) and worst of a figure over the runs (a run that never
/// recovered counts as worst and is counted apart).
fn print_figures(name: DrillName, what: &str, windows: &[Option<Duration>]) {
    if windows.is_empty() {
        return;
    }
    let mut recovered: Vec<Duration> = windows.iter().flatten().copied().collect();
    recovered.sort();
    let never = windows.len() - recovered.len();
    let median = recovered.get(recovered.len() / 2).copied().unwrap_or_default();
    // Nearest rank: the smallest value at or above 99 % of the runs.
    let rank = (recovered.len() * 99).div_ceil(100).max(1);
    let p99 = recovered.get(rank - 1).copied().unwrap_or_default();
    let worst = recovered.last().copied().unwrap_or_default();
    println!(
        "drill {name}: {what} over {} runs: median {:.2} s, p99 {:.2} s, worst {:.2} s, {never} never recovered",
        windows.len(),
        median.as_secs_f64(),
        p99.as_secs_f64(),
        worst.as_secs_f64()
    );
}

fn text(window: Unavailability) -> String {
    match window.duration() {
        Some(duration) => format!("{:.2} s", duration.as_secs_f64()),
        None => "unbounded (never recovered)".to_owned(),
    }
}

/// The progress on standard error: one line rewritten in place on a terminal, one line per
/// update otherwise (a CI log).
struct ProgressLine {
    terminal: bool,
    open: bool,
}

impl ProgressLine {
    fn new() -> ProgressLine {
        ProgressLine { terminal: std::io::stderr().is_terminal(), open: false }
    }

    fn show(&mut self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            // Events (lines without `phase=`) stay; the periodic line is rewritten.
            let periodic = text.contains(" phase=");
            let _ = write!(stderr, "\r\x1b[K{text}");
            if !periodic {
                let _ = writeln!(stderr);
            }
            self.open = periodic;
        } else {
            let _ = writeln!(stderr, "{text}");
        }
        let _ = stderr.flush();
    }

    fn finish(&mut self) {
        if self.open {
            eprintln!();
            self.open = false;
        }
    }
}
