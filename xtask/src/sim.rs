//! `cargo xtask sim`: seed sweeps of the simulation drills (crate `simulation/`, test
//! `drills`). It builds the drills once under `--cfg madsim`, then runs the test binary with
//! `MADSIM_TEST_SEED` / `MADSIM_TEST_NUM` over the seed range (split among `--jobs`
//! processes); a failing seed stops madsim's loop, so the sweep records it and resumes at the
//! next seed. It prints each failing seed with a one-line reproduction and ends with
//! `sim: seeds <N> failures <F> sim_s <S> wall_s <W>`. `--plant NAME` plants a known bug (see
//! `PLANTS`) to prove the checkers catch it: the sweep must then fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::process::{self, Progress};

/// Every drill the `drills` test binary has (its test names, with `_` for `-`: `test_name`).
pub const DRILLS: [&str; 10] = [
    "failover",
    "split-brain",
    "dc-migration",
    "disk-replaced",
    "clock-skew",
    "soak",
    "bank-outage",
    "lost-callbacks",
    "worker-split-brain",
    "reconciliation",
];

/// The bank drills (`simulation::drills::bank_harness::run`): no transfer clients, and a bank
/// that loses and delays answers on purpose; `--plant all` tries the bank worker's planted
/// bugs on them and the node's on the rest (`plant_applies`).
const BANK_DRILLS: [&str; 4] =
    ["bank-outage", "lost-callbacks", "worker-split-brain", "reconciliation"];

/// The `drills` test that runs `drill` (Rust names have `_` where drill names have `-`).
fn test_name(drill: &str) -> String {
    drill.replace('-', "_")
}

/// Bugs `--plant` can plant: those in the node and its store (built with the feature
/// `tianping-simulation/planted-bugs`, chosen by `TIANPING_PLANT`), and the client's own
/// (`TIANPING_SIM_PLANT`, no feature).
pub const PLANTS: [&str; 7] = [
    "ack-before-commit",
    "apply-twice",
    "skip-fsync",
    "stale-read",
    "forget-identity",
    "ack-unanswered",
    "resend-new-id",
];
/// The planted bugs that live in the bank worker (`tianping_bank_worker::planted`, the same
/// feature and variable as the node's): tried on the bank drills only.
const BANK_PLANTS: [&str; 1] = ["resend-new-id"];

/// Whether `--plant all` tries `plant` on `drill`: bank bugs on the bank drills, the others
/// on the rest. A bank drill runs no transfer clients. The cluster drills do run bank workers
/// now, but their faults seldom catch a bank call in flight with its answer lost, which is
/// when a resend under a new end-to-end id pays twice: `resend-new-id` went uncaught over
/// seeds 1..20 of each, so the bank drills, whose bank loses answers on purpose, judge it.
/// A node-identity bug shows only where a disk is lost and the node comes back under its old
/// id, which the disk-replaced drill alone does; so it is tried there only, and that drill
/// (one fault, always the same) judges it alone: the other bugs are judged where faults vary.
fn plant_applies(plant: &str, drill: &str) -> bool {
    if IDENTITY_PLANTS.contains(&plant) || IDENTITY_DRILLS.contains(&drill) {
        return IDENTITY_PLANTS.contains(&plant) && IDENTITY_DRILLS.contains(&drill);
    }
    BANK_PLANTS.contains(&plant) == BANK_DRILLS.contains(&drill)
}

/// The planted bugs of node identity (`tianping_raft_store::planted::ForgetIdentity`).
const IDENTITY_PLANTS: [&str; 1] = ["forget-identity"];
/// The drills that replace a disk under a node's old id (`simulation::drills::disk_replaced`).
const IDENTITY_DRILLS: [&str; 1] = ["disk-replaced"];
/// The one planted bug that lives in the simulated clients, not in the node.
const CLIENT_PLANT: &str = "ack-unanswered";

/// The latency profiles the drills know (`simulation::latency::LatencyProfile`), shortest
/// first; the `drills` binary reads the chosen one from `LATENCY_VARIABLE`.
pub const LATENCY_PROFILES: [&str; 3] = ["metro", "national", "cross-border"];
/// The profile the drills run without `--latency`.
const DEFAULT_LATENCY: &str = "national";
/// How `--latency` reaches the `drills` test binary.
const LATENCY_VARIABLE: &str = "TIANPING_SIM_LATENCY";

/// `cargo xtask sim --help`.
pub const HELP: &str = "\
cargo xtask sim: sweep seeds of the deterministic simulation drills

USAGE:
    cargo xtask sim --drill NAME [--seeds N] [--start S] [--jobs J] [--check-determinism]
                    [--latency PROFILE] [--plant BUG]

OPTIONS:
    --drill NAME   failover, split-brain, dc-migration, soak, bank-outage,
                   lost-callbacks, worker-split-brain, reconciliation, or all
                   (every drill)
    --seeds N      how many seeds (default 50)
    --start S      first seed (default 1); the sweep runs S..S+N
    --jobs J       simulation processes in parallel (default 1)
    --latency PROFILE
                   how far apart the data centers are: metro (1-5 ms one way), national
                   (20-45 ms, the default) or cross-border (60-120 ms, and 2 % of messages
                   20-100 ms later still); the nodes are told the profile's round trip and
                   derive their Raft timings from it, as a deployment's configuration would
    --check-determinism
                   run every seed twice and fail it if the two runs diverge
                   (MADSIM_TEST_CHECK_DETERMINISM; one process per seed, so slower;
                   sim_s then counts both runs)
    --plant BUG    plant a known bug to prove the checkers catch it (the sweep must fail):
                   ack-before-commit, apply-twice, skip-fsync, stale-read (built with the
                   feature tianping-simulation/planted-bugs, chosen by TIANPING_PLANT),
                   ack-unanswered (a client bug, TIANPING_SIM_PLANT), or resend-new-id
                   (a bank worker bug: a resend under a new end-to-end id after a
                   timeout; feature and variable as the node's)
    --plant all    plant every known bug in turn over the same seeds (bank worker bugs on
                   the bank drills of the selection, the others on the rest) and report,
                   per bug and drill, `plant: <bug> drill <d> caught <F> of <N> seeds first_seed <S>`;
                   failing seeds are expected here, so the exit code is non-zero only when
                   some bug was caught by no drill within the seeds (an escaped bug)

The drills (crate simulation/, test `drills`) are built with RUSTFLAGS=\"--cfg madsim\" into
a target directory of their own: CARGO_TARGET_DIR itself when RUSTFLAGS already holds
`--cfg madsim`, else `$CARGO_TARGET_DIR-madsim` (or target/madsim), as `cargo xtask test`.
Each failing seed is printed with a command that replays it; the last line is
`sim: seeds <N> failures <F> sim_s <S> wall_s <W> peak_rss_mb <M>` (simulated and wall seconds,
the largest peak resident memory of any drill process), after a line
saying in how many seed runs the committed log was replayed (the history checkers ran); the exit
code is non-zero when any seed failed.
";

/// A parsed `sim` command line.
#[derive(Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// The drills to run.
    pub drills: Vec<&'static str>,
    /// Seeds per drill.
    pub seeds: u64,
    /// First seed.
    pub start: u64,
    /// Parallel processes.
    pub jobs: u64,
    /// Run each seed twice and compare (`MADSIM_TEST_CHECK_DETERMINISM`).
    pub check_determinism: bool,
    /// How far apart the data centers are (`--latency`).
    pub latency: &'static str,
    /// What to plant (`--plant`).
    pub plant: Plant,
}

/// What `--plant` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// No bug: the real code, every seed must pass.
    Nothing,
    /// One bug: the sweep must fail, and lists each failing seed.
    One(&'static str),
    /// Every bug in turn: each must make some seed fail (`plant:` lines, no seed listing).
    Each,
}

impl Plant {
    /// The bugs to plant, one sweep each (`None`: the real code).
    fn bugs(self) -> Vec<Option<&'static str>> {
        match self {
            Plant::Nothing => vec![None],
            Plant::One(bug) => vec![Some(bug)],
            Plant::Each => PLANTS.iter().map(|bug| Some(*bug)).collect(),
        }
    }

    /// Whether the build needs the feature that compiles the node's planted bugs in.
    fn needs_feature(self) -> bool {
        self.bugs().into_iter().flatten().any(|bug| plant_variable(bug).1)
    }
}

/// Parses the arguments after `sim`.
pub fn parse(arguments: &[String]) -> Result<SimOptions, String> {
    let (mut drill, mut seeds, mut start, mut jobs) = (None, 50u64, 1u64, 1u64);
    let mut check_determinism = false;
    let mut latency = DEFAULT_LATENCY;
    let mut plant = Plant::Nothing;
    let mut words = arguments.iter();
    while let Some(flag) = words.next() {
        let mut value = || words.next().ok_or_else(|| format!("`{flag}` needs a value"));
        let number = |text: &String| {
            text.parse::<u64>().map_err(|_| format!("`{flag}` wants a number, got `{text}`"))
        };
        match flag.as_str() {
            "--drill" => drill = Some(value()?.clone()),
            "--seeds" => seeds = number(value()?)?,
            "--start" => start = number(value()?)?,
            "--jobs" => jobs = number(value()?)?.max(1),
            "--check-determinism" => check_determinism = true,
            "--latency" => {
                let name = value()?;
                latency =
                    LATENCY_PROFILES.iter().find(|known| **known == name).ok_or_else(|| {
                        format!(
                            "unknown latency profile `{name}`; known profiles: {}",
                            LATENCY_PROFILES.join(", ")
                        )
                    })?;
            }
            "--plant" => {
                let name = value()?;
                plant = if name == "all" {
                    Plant::Each
                } else {
                    Plant::One(PLANTS.iter().find(|known| **known == name).ok_or_else(|| {
                        format!("unknown bug `{name}`; known bugs: {}, all", PLANTS.join(", "))
                    })?)
                };
            }
            other => return Err(format!("unknown `sim` argument `{other}`")),
        }
    }
    let drill = drill.ok_or("`sim` needs --drill NAME")?;
    let drills = match drill.as_str() {
        "all" => DRILLS.to_vec(),
        name => match DRILLS.iter().find(|known| **known == name) {
            Some(known) => vec![*known],
            None => {
                return Err(format!(
                    "unknown drill `{name}`; known drills: {}, all",
                    DRILLS.join(", ")
                ));
            }
        },
    };
    if seeds == 0 {
        return Err("--seeds must be at least 1".to_owned());
    }
    start.checked_add(seeds).ok_or("--start + --seeds overflows")?;
    Ok(SimOptions { drills, seeds, start, jobs, check_determinism, latency, plant })
}

/// The madsim build's target directory (see `HELP`).
fn target_directory() -> PathBuf {
    let madsim_already = std::env::var("RUSTFLAGS").is_ok_and(|flags| flags.contains("madsim"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) if madsim_already => process::workspace_root().join(target),
        Some(target) => {
            let mut directory = target;
            directory.push("-madsim");
            process::workspace_root().join(PathBuf::from(directory))
        }
        None => process::workspace_root().join("target").join("madsim"),
    }
}

/// The environment variable that plants `plant`, and whether the build needs the feature.
fn plant_variable(plant: &str) -> (&'static str, bool) {
    if plant == CLIENT_PLANT { ("TIANPING_SIM_PLANT", false) } else { ("TIANPING_PLANT", true) }
}

/// Builds the drills (with the planted bugs compiled in for a node plant) and returns the
/// test binary's path. The planted build lives beside the real one in the same target
/// directory (a feature changes the crates' metadata hash), so switching costs no rebuild.
fn build(progress: &Progress, target: &Path, plant: Plant) -> Result<PathBuf, String> {
    let mut command = process::cargo(&[
        "test",
        "--release",
        "-p",
        "tianping-simulation",
        "--test",
        "drills",
        "--no-run",
        "--message-format=json",
    ]);
    if plant.needs_feature() {
        command.args(["--features", "tianping-simulation/planted-bugs"]);
    }
    command.env("RUSTFLAGS", "--cfg madsim").env("CARGO_TARGET_DIR", target);
    command.stderr(Stdio::inherit());
    progress.say(&format!("building: {}", process::describe(&command)));
    let output = command
        .output()
        .map_err(|error| format!("could not start `{}`: {error}", process::describe(&command)))?;
    if !output.status.success() {
        return Err(format!("building the drills failed ({})", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .filter(|line| line.contains("\"name\":\"drills\""))
        .find_map(|line| {
            let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = start + line[start..].find('"')?;
            Some(PathBuf::from(&line[start..end]))
        })
        .ok_or_else(|| "cargo did not report the drills test binary".to_owned())
}

/// Lines of a failing seed's panic message the summary repeats.
const WHY_LINES_MAX: usize = 40;

/// What one seed range of one drill produced.
#[derive(Default)]
struct Sweep {
    seeds: u64,
    simulated_seconds: f64,
    /// Failing seeds, each with the first lines of its failure.
    failures: Vec<(u64, String)>,
    /// Seed runs that printed a `sim-history` line, and those whose committed log was
    /// replayed (the history checkers ran).
    history_runs: u64,
    /// See `history_runs`.
    replayed_runs: u64,
    /// The largest peak resident memory any drill process reported (`sim-memory` lines).
    peak_rss_kb: u64,
}

/// The last `MADSIM_TEST_SEED=<n>` madsim names on failure.
fn failing_seed(stderr: &str) -> Option<u64> {
    let marker = "MADSIM_TEST_SEED=";
    let at = stderr.rfind(marker)? + marker.len();
    let digits: String = stderr[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Runs `drill` over seeds `start..end` in one process after another (madsim stops its loop
/// at a failing seed; the sweep resumes after it). Checking determinism, madsim runs one
/// seed per process, so each seed gets its own.
fn sweep(
    binary: &Path,
    drill: &str,
    start: u64,
    end: u64,
    check_determinism: bool,
    latency: &str,
    plant: Option<&str>,
) -> Result<Sweep, String> {
    let mut sweep = Sweep::default();
    let mut next = start;
    while next < end {
        let count = if check_determinism { 1 } else { end - next };
        let mut command = Command::new(binary);
        command
            .args([test_name(drill).as_str(), "--exact", "--nocapture", "--test-threads", "1"])
            .env("MADSIM_TEST_SEED", next.to_string())
            .env("MADSIM_TEST_NUM", count.to_string())
            .env(LATENCY_VARIABLE, latency)
            .current_dir(process::workspace_root());
        if check_determinism {
            command.env("MADSIM_TEST_CHECK_DETERMINISM", "1");
        }
        if let Some(plant) = plant {
            command.env(plant_variable(plant).0, plant);
        }
        let output = command
            .output()
            .map_err(|error| format!("could not run {}: {error}", binary.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stdout.lines() {
            // The test harness's `test <name> ... ` may precede a seed's first line.
            if let Some(at) = line.find("sim-seed ") {
                let words: Vec<&str> = line[at..].split_whitespace().collect();
                if let ["sim-seed", _, "drill", _, "sim_s", seconds, ..] = words.as_slice() {
                    sweep.simulated_seconds += seconds.parse::<f64>().unwrap_or(0.0);
                }
            } else if let Some(at) = line.find("sim-memory peak_rss_kb ") {
                let kilobytes = line[at + "sim-memory peak_rss_kb ".len()..].trim();
                sweep.peak_rss_kb = sweep.peak_rss_kb.max(kilobytes.parse().unwrap_or(0));
            } else if let Some(at) = line.find("sim-history ") {
                sweep.history_runs += 1;
                if line[at..].ends_with("replayed yes") {
                    sweep.replayed_runs += 1;
                }
            }
        }
        if output.status.success() {
            sweep.seeds += count;
            next += count;
            continue;
        }
        let named = if check_determinism { Some(next) } else { failing_seed(&stderr) };
        let seed = named.ok_or_else(|| {
            format!(
                "the drill `{drill}` failed without naming a seed ({}):\n{stderr}",
                output.status
            )
        })?;
        if seed < next || seed >= end {
            return Err(format!("madsim named seed {seed} outside {next}..{end}"));
        }
        // The panic message: from `panicked at` to madsim's `note:` line.
        let why: Vec<&str> = stderr
            .lines()
            .skip_while(|line| !line.contains("panicked at"))
            .take_while(|line| !line.starts_with("note:") && !line.starts_with("stack backtrace"))
            .take(WHY_LINES_MAX)
            .collect();
        sweep.seeds += seed - next + 1;
        sweep.failures.push((seed, why.join("\n")));
        next = seed + 1;
    }
    Ok(sweep)
}

/// The command line that replays one seed.
fn reproduction(
    target: &Path,
    drill: &str,
    seed: u64,
    check_determinism: bool,
    latency: &str,
    plant: Option<&str>,
) -> String {
    let check = if check_determinism { "MADSIM_TEST_CHECK_DETERMINISM=1 " } else { "" };
    let (planted, features) = match plant.map(|plant| (plant, plant_variable(plant))) {
        Some((plant, (variable, true))) => {
            (format!("{variable}={plant} "), " --features planted-bugs")
        }
        Some((plant, (variable, false))) => (format!("{variable}={plant} "), ""),
        None => (String::new(), ""),
    };
    format!(
        "{check}{planted}{LATENCY_VARIABLE}={latency} MADSIM_TEST_SEED={seed} RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR={} cargo test --release -p tianping-simulation{features} --test drills {} -- --exact --nocapture",
        target.display(),
        test_name(drill)
    )
}

/// Runs `drill` over the seed range in `options.jobs` parallel processes, merged into one
/// sweep (failures in seed order).
fn sweep_in_jobs(
    progress: &Progress,
    binary: &Path,
    drill: &str,
    options: &SimOptions,
    plant: Option<&str>,
) -> Result<Sweep, String> {
    let end = options.start + options.seeds;
    let jobs = options.jobs.min(options.seeds);
    let per_job = options.seeds.div_ceil(jobs);
    let planted = plant.map(|bug| format!(" with {bug} planted")).unwrap_or_default();
    progress.say(&format!(
        "drill {drill}{planted}, {} latency: seeds {}..{end} in {jobs} job(s)",
        options.latency, options.start
    ));
    let results: Vec<Result<Sweep, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|job| {
                let from = options.start + job * per_job;
                let to = (from + per_job).min(end);
                let check = options.check_determinism;
                let latency = options.latency;
                scope.spawn(move || sweep(binary, drill, from, to, check, latency, plant))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|_| Err("a sweep thread panicked".into())))
            .collect()
    });
    let mut merged = Sweep::default();
    for result in results {
        let sweep = result?;
        merged.seeds += sweep.seeds;
        merged.simulated_seconds += sweep.simulated_seconds;
        merged.history_runs += sweep.history_runs;
        merged.replayed_runs += sweep.replayed_runs;
        merged.peak_rss_kb = merged.peak_rss_kb.max(sweep.peak_rss_kb);
        merged.failures.extend(sweep.failures);
    }
    merged.failures.sort_by_key(|(seed, _)| *seed);
    Ok(merged)
}

/// What a sweep reports besides its lines.
pub struct Summary {
    /// The largest peak resident memory of any drill process, in KiB (0: not reported).
    pub peak_rss_kb: u64,
}

/// Runs the sweep. Without a plant, or with one, an error when any seed failed; with
/// `--plant all`, an error when some bug made no seed of any drill fail.
pub fn run(arguments: &[String]) -> Result<(), String> {
    run_with_summary(arguments).map(|_| ())
}

/// `run`, handing back the summary (for `cargo xtask test`'s memory check).
pub fn run_with_summary(arguments: &[String]) -> Result<Summary, String> {
    let options = parse(arguments)?;
    let progress = Progress::start("sim");
    let target = target_directory();
    let binary = build(&progress, &target, options.plant)?;
    let started = Instant::now();
    let (mut seeds, mut failures, mut simulated) = (0u64, 0u64, 0f64);
    let (mut history_runs, mut replayed_runs) = (0u64, 0u64);
    let mut peak_rss_kb = 0u64;
    let mut escaped = Vec::new();
    let mut tried_bugs = Vec::new();
    for plant in options.plant.bugs() {
        let mut caught = 0u64;
        let mut tried = false;
        for drill in &options.drills {
            if options.plant == Plant::Each
                && let Some(bug) = plant
                && !plant_applies(bug, drill)
            {
                continue;
            }
            tried = true;
            let sweep = sweep_in_jobs(&progress, &binary, drill, &options, plant)?;
            seeds += sweep.seeds;
            simulated += sweep.simulated_seconds;
            history_runs += sweep.history_runs;
            replayed_runs += sweep.replayed_runs;
            peak_rss_kb = peak_rss_kb.max(sweep.peak_rss_kb);
            failures += sweep.failures.len() as u64;
            caught += sweep.failures.len() as u64;
            if options.plant == Plant::Each {
                let first = sweep.failures.first().map(|(seed, _)| seed.to_string());
                println!(
                    "plant: {} drill {drill} caught {} of {} seeds first_seed {}",
                    plant.unwrap_or("nothing"),
                    sweep.failures.len(),
                    sweep.seeds,
                    first.as_deref().unwrap_or("none")
                );
                continue;
            }
            for (seed, why) in sweep.failures {
                println!("sim: FAILED drill {drill} seed {seed}");
                for line in why.lines() {
                    println!("    {line}");
                }
                println!(
                    "  reproduce: {}",
                    reproduction(
                        &target,
                        drill,
                        seed,
                        options.check_determinism,
                        options.latency,
                        plant
                    )
                );
            }
        }
        if let Some(bug) = plant {
            if !tried {
                println!("plant: {bug} not tried (no drill of the selection exercises it)");
            } else if caught == 0 {
                escaped.push(bug);
            } else {
                tried_bugs.push(bug);
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!("sim: latency profile {}", options.latency);
    println!(
        "sim: committed log replayed (history checkers ran) in {replayed_runs} of {history_runs} seed runs"
    );
    let peak_mb = peak_rss_kb.div_ceil(1024);
    println!(
        "sim: seeds {seeds} failures {failures} sim_s {simulated:.1} wall_s {wall:.1} peak_rss_mb {peak_mb}"
    );
    let summary = Summary { peak_rss_kb };
    match options.plant {
        Plant::Each if escaped.is_empty() => {
            println!("plant: every planted bug tried was caught ({})", tried_bugs.join(", "));
            Ok(summary)
        }
        Plant::Each => Err(format!("planted bugs no drill caught: {}", escaped.join(", "))),
        _ if failures == 0 => Ok(summary),
        _ => Err(format!("{failures} seed(s) failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::{DRILLS, Plant, SimOptions, failing_seed, parse, test_name};

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_drills_seeds_and_start() {
        assert_eq!(
            parse(&words("--drill failover --seeds 7 --start 100")),
            Ok(SimOptions {
                drills: vec!["failover"],
                seeds: 7,
                start: 100,
                jobs: 1,
                check_determinism: false,
                latency: "national",
                plant: Plant::Nothing
            })
        );
        assert_eq!(
            parse(&words("--drill all --jobs 2 --check-determinism")),
            Ok(SimOptions {
                drills: DRILLS.to_vec(),
                seeds: 50,
                start: 1,
                jobs: 2,
                check_determinism: true,
                latency: "national",
                plant: Plant::Nothing
            })
        );
        let far = parse(&words("--drill all --latency cross-border")).expect("a known profile");
        assert_eq!(far.latency, "cross-border");
        let unknown_profile =
            parse(&words("--drill all --latency lunar")).expect_err("unknown profile");
        assert!(unknown_profile.contains("metro, national, cross-border"), "{unknown_profile}");
        let planted = parse(&words("--drill failover --plant skip-fsync")).expect("a known bug");
        assert_eq!(planted.plant, Plant::One("skip-fsync"));
        assert!(planted.plant.needs_feature());
        let client = parse(&words("--drill failover --plant ack-unanswered")).expect("client bug");
        assert!(!client.plant.needs_feature(), "the client's bug needs no node feature");
        let each = parse(&words("--drill all --plant all")).expect("every bug");
        assert_eq!(each.plant, Plant::Each);
        assert_eq!(each.plant.bugs().len(), super::PLANTS.len());
        assert_eq!(Plant::Nothing.bugs(), vec![None]);
        let unknown_bug = parse(&words("--drill failover --plant nope")).expect_err("unknown bug");
        assert!(unknown_bug.contains("known bugs: ack-before-commit"), "{unknown_bug}");
        assert!(unknown_bug.ends_with(", all"), "{unknown_bug}");
        let unknown = parse(&words("--drill nope")).expect_err("unknown drill");
        assert!(unknown.contains("known drills: failover"), "{unknown}");
        assert_eq!(parse(&words("--drill split-brain")).map(|o| o.drills), Ok(vec!["split-brain"]));
        assert!(parse(&words("--seeds 3")).is_err());
        assert!(parse(&words("--drill failover --seeds")).is_err());
        assert!(parse(&words("--drill failover --seeds x")).is_err());
        assert!(parse(&words("--drill failover --seeds 0")).is_err());
    }

    #[test]
    fn bank_and_identity_bugs_are_tried_on_their_drills_only() {
        assert!(super::plant_applies("resend-new-id", "worker-split-brain"));
        assert!(!super::plant_applies("resend-new-id", "failover"));
        assert!(super::plant_applies("skip-fsync", "failover"));
        assert!(!super::plant_applies("skip-fsync", "bank-outage"));
        assert!(super::plant_applies("forget-identity", "disk-replaced"));
        assert!(!super::plant_applies("forget-identity", "failover"));
        assert!(!super::plant_applies("skip-fsync", "disk-replaced"));
        let bank = parse(&words("--drill worker-split-brain --plant resend-new-id"))
            .expect("a known bank bug");
        assert!(bank.plant.needs_feature());
    }

    #[test]
    fn drill_names_map_to_test_names() {
        assert_eq!(test_name("split-brain"), "split_brain");
        assert_eq!(test_name("dc-migration"), "dc_migration");
        assert_eq!(test_name("failover"), "failover");
        assert_eq!(test_name("worker-split-brain"), "worker_split_brain");
    }

    #[test]
    fn finds_the_seed_madsim_names() {
        let stderr = "thread panicked\nnote: run with `MADSIM_TEST_SEED=42` environment variable";
        assert_eq!(failing_seed(stderr), Some(42));
        assert_eq!(failing_seed("no seed here"), None);
    }
}
