//! `cargo xtask test`: everything CI checks, in order, stopping at the first failure.
//!
//! Clippy and the tests build with `--release`, on purpose. The workspace has ONE build
//! profile for tests, benchmarks and binaries: `release`, with `debug = 1` (line tables for
//! backtraces and profilers) and `overflow-checks = true` (see the root `Cargo.toml`). Heavy
//! C++ dependencies such as RocksDB then compile once per machine into `target/release` and
//! every command reuses them; a separate debug build would compile them a second time and
//! double CI's cold-cache time on a 2-core runner. It also means tests exercise the code
//! exactly as it ships, with the same overflow checks and assertions.

use crate::deploy;
use crate::generic_client;
use crate::interop;
use crate::prerequisites;
use crate::process::{self, Progress};
use crate::sim;

/// `cargo xtask test --help`.
pub const HELP: &str = "\
cargo xtask test: everything CI checks (.ci/run runs exactly this)

USAGE:
    cargo xtask test

STEPS (stops at the first failure, exit status non-zero):
    1. prerequisites  rustup components rustfmt and clippy (`rustup component add` when
                      missing) and the Debian packages the build and tests need (checked
                      with `dpkg -s`, installed with `apt-get` when missing).
    2. format         cargo fmt --all -- --check
    3. lint           cargo clippy --workspace --all-targets --release -- -D warnings, then
                      RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps --workspace --release
                      (every doc comment renders: links resolve, no stray HTML)
    4. test           cargo test --workspace --release
    5. generic client a Python client that knows the API only through gRPC server
                      reflection (grpcio + grpcio-reflection, pinned in
                      node/tests/clients/requirements.txt, installed into a virtualenv
                      beside the target directory and reused) lists the services of a
                      `tianping dev up` cluster and creates accounts and a transfer; the
                      `tianping` CLI creates and looks up a transfer through another node;
                      the cluster is stopped with SIGINT
    6. deploy         deploy/: hadolint on the Dockerfile; kubernetes-validate --strict on
                      every Kubernetes manifest and on each Kustomize overlay as `kubectl
                      kustomize` renders it (where kubectl is installed); systemd-analyze
                      verify on the unit (where installed; a warning fails); promtool check
                      and test rules on the alerts, check config on the example scrape
                      configuration, and every dashboard query parsed by promtool (hadolint
                      and kubernetes-validate pinned in deploy/requirements.txt, installed
                      into a virtualenv beside the target directory). Then, with a Docker
                      daemon (skipped, saying so, without one): `cargo xtask image` builds
                      tianping:dev, and the Compose cluster of deploy/compose/ (5 voters in
                      3 data-center networks joined by a `wan` network) is started and
                      initialized, written through one container and read through another;
                      the leader's data center is disconnected from `wan` and the majority
                      must elect, write and read; reconnected, the cut-off data center must
                      read what was written meanwhile. Torn down always, volumes included
    7. simulation     RUSTFLAGS=\"--cfg madsim\" MADSIM_TEST_CHECK_DETERMINISM=1
                      cargo test --release -p tianping-node --test madsim_smoke
                      -p tianping-simulation --lib --test latency --test failover_time
                      (the same node code under the deterministic simulator, the simulated
                      world's cross-data-center latency under every latency profile, and
                      the time to the first commit after kill -9 of the leader at each
                      profile, each seed run twice and compared; built into its own target
                      directory, `$CARGO_TARGET_DIR-madsim` or `target/madsim`, because the
                      `--cfg madsim` flag changes every crate)
    8. drills         cargo xtask sim --drill all --seeds 3 --start 1 --check-determinism
                      (first: a divergence fails in a minute), then
                      cargo xtask sim --drill all --seeds 50 --start 1 --latency PROFILE for
                      each of metro, national and cross-border, then
                      cargo xtask sim --drill failover --seeds 20 --plant all and
                      --drill worker-split-brain --seeds 20 --plant all (the bank worker's
                      bugs) and --drill disk-replaced --seeds 10 --plant all (node identity's
                      bug: a blank disk under an old id), then
                      soak seeds 1..25 and 1..200 in one process each, whose peak memory
                      may differ by at most 1.5x (nothing of a seed outlives it)
                      (every simulation drill on a fixed seed range at every distance between
                      data centers, any failing seed listed with its reproduction command;
                      then every planted bug must be caught within those 20 seeds, proving
                      the checkers still bite)

Clippy and tests use the release profile (with debug info and overflow checks) because the
workspace builds tests, benchmarks and binaries with that one profile, so heavy C++
dependencies compile once per machine. CARGO_TARGET_DIR is honoured when set (.ci/run sets
it to a cache outside the clone); unset, cargo's default `target/` is used.
";

/// One cargo invocation of the test sequence.
struct CargoStep {
    name: &'static str,
    arguments: &'static [&'static str],
}

/// The cargo steps, in order: the cheapest first, so a formatting slip fails in seconds.
const CARGO_STEPS: [CargoStep; 3] = [
    CargoStep { name: "format", arguments: &["fmt", "--all", "--", "--check"] },
    CargoStep {
        name: "lint",
        arguments: &["clippy", "--workspace", "--all-targets", "--release", "--", "-D", "warnings"],
    },
    CargoStep { name: "test", arguments: &["test", "--workspace", "--release"] },
];

const STEP_COUNT: usize = CARGO_STEPS.len() + 5;

/// The madsim build's target directory: beside the normal one, never inside it, so the two
/// builds never invalidate each other.
fn madsim_target_directory() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => {
            let mut directory = target;
            directory.push("-madsim");
            directory.into()
        }
        None => process::workspace_root().join("target").join("madsim"),
    }
}

/// Runs every step; prints a summary line either way.
pub fn run() -> Result<(), String> {
    let progress = Progress::start("test");
    match run_steps(&progress) {
        Ok(()) => {
            progress.say(&format!("ok: all {STEP_COUNT} steps passed"));
            Ok(())
        }
        Err((step, message)) => {
            progress.say(&format!("FAILED at step {step}/{STEP_COUNT}"));
            Err(message)
        }
    }
}

/// Runs the steps in order; on failure, the failed step's number and the error.
fn run_steps(progress: &Progress) -> Result<(), (usize, String)> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "cargo's default".into());
    progress.say(&format!(
        "1/{STEP_COUNT} prerequisites: rustfmt, clippy, Debian packages (target dir: {target})"
    ));
    prerequisites::ensure_rustup_components(progress).map_err(|error| (1, error))?;
    prerequisites::ensure_debian_packages(progress).map_err(|error| (1, error))?;
    // The bank-adapters interop tests (Python, XSDs, xmllint) run inside the test step.
    let interop_environment = interop::prepare(progress).map_err(|error| (1, error))?;
    for (index, step) in CARGO_STEPS.iter().enumerate() {
        let number = index + 2;
        let mut command = process::cargo(step.arguments);
        if step.name == "test" {
            command.envs(interop_environment.iter().cloned());
        }
        progress.say(&format!(
            "{number}/{STEP_COUNT} {}: {}",
            step.name,
            process::describe(&command)
        ));
        process::run(&mut command).map_err(|error| (number, error))?;
        if step.name == "lint" {
            let mut docs = process::cargo(&["doc", "--no-deps", "--workspace", "--release"]);
            docs.env("RUSTDOCFLAGS", "-D warnings");
            progress.say(&format!(
                "{number}/{STEP_COUNT} lint, docs: RUSTDOCFLAGS=\"-D warnings\" {}",
                process::describe(&docs)
            ));
            process::run(&mut docs).map_err(|error| (number, error))?;
        }
    }
    let number = CARGO_STEPS.len() + 2;
    progress.say(&format!(
        "{number}/{STEP_COUNT} generic client: reflection-only Python client and the tianping CLI \
         against `tianping dev up`"
    ));
    generic_client::run(progress).map_err(|error| (number, error))?;
    let number = CARGO_STEPS.len() + 3;
    progress.say(&format!(
        "{number}/{STEP_COUNT} deploy: Dockerfile, Kubernetes, systemd and Prometheus checks; \
         the image and the Compose cluster test"
    ));
    deploy::run(progress).map_err(|error| (number, error))?;
    let number = STEP_COUNT - 1;
    let mut command = process::cargo(&[
        "test",
        "--release",
        "--package",
        "tianping-node",
        "--test",
        "madsim_smoke",
        "--package",
        "tianping-simulation",
        "--lib",
        "--test",
        "latency",
        "--test",
        "failover_time",
    ]);
    command
        .env("RUSTFLAGS", "--cfg madsim")
        .env("MADSIM_TEST_CHECK_DETERMINISM", "1")
        .env("CARGO_TARGET_DIR", madsim_target_directory());
    progress.say(&format!(
        "{number}/{STEP_COUNT} simulation (--cfg madsim, determinism checked): {}",
        process::describe(&command)
    ));
    process::run(&mut command).map_err(|error| (number, error))?;
    let number = STEP_COUNT;
    // Determinism first: a divergence fails in about a minute, not after the sweeps.
    for (what, arguments) in [
        ("the drills' determinism on seeds 1..3", SIM_DETERMINISM),
        ("every drill on seeds 1..50, metro latency", SIM_SWEEP_METRO),
        ("every drill on seeds 1..50, national latency", SIM_SWEEP_NATIONAL),
        ("every drill on seeds 1..50, cross-border latency", SIM_SWEEP_CROSS_BORDER),
        ("every planted bug caught (the checkers bite)", SIM_PLANTED),
        ("every planted bank worker bug caught (the bank checkers bite)", SIM_PLANTED_BANK),
        ("the planted identity bug caught (a blank disk under an old id)", SIM_PLANTED_IDENTITY),
    ] {
        progress.say(&format!(
            "{number}/{STEP_COUNT} drills, {what}: cargo xtask sim {}",
            arguments.join(" ")
        ));
        let arguments: Vec<String> =
            arguments.iter().map(|argument| argument.to_string()).collect();
        sim::run(&arguments).map_err(|error| (number, error))?;
    }
    progress.say(&format!(
        "{number}/{STEP_COUNT} drills, memory flat over seeds: soak seeds 1..{} then 1..{} in \
         one process each, the second's peak within {MEMORY_GROWTH_MAX_PERCENT} % of the first's",
        MEMORY_SEEDS.0, MEMORY_SEEDS.1
    ));
    memory_stays_flat().map_err(|error| (number, error))?;
    Ok(())
}

/// Seeds of the two soak sweeps whose peak memory `memory_stays_flat` compares.
const MEMORY_SEEDS: (u64, u64) = (25, 200);
/// How much more the long sweep's peak may be than the short one's, in percent (issue 11:
/// 2000 seeds within 1.5x of 100; before the fix each seed kept ~5 MB, so 200 seeds
/// peaked at ~1 GB against ~160 MB for 25).
const MEMORY_GROWTH_MAX_PERCENT: u64 = 150;

/// Fails when a drill process keeps what its seeds allocated: the peak resident memory of
/// a long soak sweep must stay within `MEMORY_GROWTH_MAX_PERCENT` of a short one's.
fn memory_stays_flat() -> Result<(), String> {
    let sweep = |seeds: u64| {
        let arguments: Vec<String> =
            ["--drill", "soak", "--seeds", &seeds.to_string(), "--start", "1", "--jobs", "1"]
                .iter()
                .map(|argument| argument.to_string())
                .collect();
        sim::run_with_summary(&arguments).map(|summary| summary.peak_rss_kb)
    };
    let short = sweep(MEMORY_SEEDS.0)?;
    let long = sweep(MEMORY_SEEDS.1)?;
    if short == 0 || long == 0 {
        return Err("the drills reported no peak memory (no /proc/self/status?)".to_owned());
    }
    if long.saturating_mul(100) > short.saturating_mul(MEMORY_GROWTH_MAX_PERCENT) {
        return Err(format!(
            "memory grows with seeds: soak peaked at {} MiB over {} seeds but {} MiB over {} \
             (more than {MEMORY_GROWTH_MAX_PERCENT} %): something outlives its seed",
            short / 1024,
            MEMORY_SEEDS.0,
            long / 1024,
            MEMORY_SEEDS.1
        ));
    }
    Ok(())
}

/// The fixed seed range CI runs every drill on (issue 5: at least 50 seeds each), once per
/// latency profile (issue 11: timings that only work on a short link fail here).
const SIM_SWEEP_METRO: &[&str] =
    &["--drill", "all", "--seeds", "50", "--start", "1", "--latency", "metro"];
/// See `SIM_SWEEP_METRO`.
const SIM_SWEEP_NATIONAL: &[&str] =
    &["--drill", "all", "--seeds", "50", "--start", "1", "--latency", "national"];
/// See `SIM_SWEEP_METRO`.
const SIM_SWEEP_CROSS_BORDER: &[&str] =
    &["--drill", "all", "--seeds", "50", "--start", "1", "--latency", "cross-border"];

/// A few seeds run twice each and compared, for every drill.
const SIM_DETERMINISM: &[&str] =
    &["--drill", "all", "--seeds", "3", "--start", "1", "--check-determinism"];

/// Every planted bug in turn on the failover drill: each must make some seed of the range
/// fail, or the checkers have stopped biting (issue 5: each bug caught within a bounded
/// number of seeds). The bugs are compiled in beside the real build, never into it.
const SIM_PLANTED: &[&str] =
    &["--drill", "failover", "--seeds", "20", "--start", "1", "--plant", "all"];

/// The node-identity planted bug on the disk-replaced drill (`--plant all` tries only that
/// one there, and it no other drill): it must make some seed fail.
const SIM_PLANTED_IDENTITY: &[&str] =
    &["--drill", "disk-replaced", "--seeds", "10", "--start", "1", "--plant", "all"];

/// The bank worker's planted bugs on the worker-split-brain drill (`--plant all` tries only
/// the bugs a drill can show: the bank worker's here): each must make some seed fail.
const SIM_PLANTED_BANK: &[&str] =
    &["--drill", "worker-split-brain", "--seeds", "20", "--start", "1", "--plant", "all"];
