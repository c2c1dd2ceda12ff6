//! The drills, one madsim test each, over the seeds madsim is given:
//!
//! ```text
//! CARGO_TARGET_DIR=<madsim target> RUSTFLAGS="--cfg madsim" MADSIM_TEST_SEED=7 \
//!     cargo test --release -p tianping-simulation --test drills failover -- --nocapture
//! ```
//!
//! `MADSIM_TEST_NUM=n` runs n seeds from the seed, `MADSIM_TEST_CHECK_DETERMINISM=1` runs
//! each twice and fails on divergence. `cargo xtask sim` drives sweeps. Each seed prints a
//! `sim-seed` line (before failing, so a sweep counts failing seeds' simulated time too).
//!
//! `TIANPING_SIM_LATENCY=metro|national|cross-border` sets how far apart the data centers are
//! (`latency::LatencyProfile`; national when unset); an unknown name fails the test.
//!
//! `TIANPING_SIM_PLANT=ack-unanswered` plants a known client bug (see
//! `planted::PlantedBug`): the drills must then fail; an unknown name fails the test.
//! `TIANPING_PLANT=<name>` plants a known bug in the node or its store
//! (`tianping_raft_store::planted`: `ack-before-commit`, `apply-twice`, `skip-fsync`,
//! `stale-read`, `forget-identity`, which the disk-replaced drill catches) or the bank worker (`tianping_bank_worker::planted`: `resend-new-id`, which
//! the bank drills catch); it needs the feature `planted-bugs` (`cargo xtask sim --plant NAME` builds
//! with it), and the test fails when the variable is set without it or names no bug.
#![cfg(madsim)]

use std::time::Duration;

use tianping_simulation::drills::{self, Report};
use tianping_simulation::latency::LatencyProfile;
use tianping_simulation::planted::PlantedBug;
use tianping_simulation::world::WorldConfig;

/// Simulated time one seed may take before it counts as hung.
const SEED_TIMEOUT: Duration = Duration::from_secs(600);

/// The bug `TIANPING_SIM_PLANT` names, if set.
fn planted_bug() -> Option<PlantedBug> {
    let name = std::env::var("TIANPING_SIM_PLANT").ok()?;
    match PlantedBug::parse(&name) {
        Some(bug) => Some(bug),
        None => panic!("TIANPING_SIM_PLANT: unknown bug `{name}` (known: ack-unanswered)"),
    }
}

/// The world every drill but the migration runs in: `TIANPING_SIM_LATENCY`'s distances and
/// `TIANPING_SIM_PLANT`'s client bug.
fn world_config() -> WorldConfig {
    let profile = LatencyProfile::from_environment().unwrap_or_else(|error| panic!("{error}"));
    WorldConfig { planted_bug: planted_bug(), ..WorldConfig::with_latency(profile) }
}

/// Prints this process's peak resident memory so far (`VmHWM`), which `cargo xtask sim`
/// reports on its summary line: a sweep must stay flat in memory however many seeds one
/// process runs (issue 11), and this is how a regression shows. Linux only; elsewhere
/// nothing is printed.
fn print_peak_memory() {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return };
    let peak = status.lines().find_map(|line| {
        line.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
    });
    if let Some(kilobytes) = peak {
        println!("sim-memory peak_rss_kb {kilobytes}");
    }
}

/// Fails unless `TIANPING_PLANT`, when set, names a bug this build can plant.
fn check_node_plant() {
    let Ok(name) = std::env::var("TIANPING_PLANT") else { return };
    #[cfg(feature = "planted-bugs")]
    assert!(
        tianping_raft_store::planted::PlantedBug::parse(&name).is_some()
            || tianping_bank_worker::planted::PlantedBug::parse(&name).is_some(),
        "TIANPING_PLANT: unknown bug `{name}` (known: ack-before-commit, apply-twice, skip-fsync, stale-read, forget-identity, resend-new-id)"
    );
    #[cfg(not(feature = "planted-bugs"))]
    panic!(
        "TIANPING_PLANT={name} needs the feature `planted-bugs` (cargo xtask sim --plant {name})"
    );
}

/// Runs one seed of `drill` (its `run` future), bounded by `SEED_TIMEOUT` simulated, prints
/// the lines `cargo xtask sim` reads (with the load line when `load_line`), and fails on any
/// violation.
async fn judge(drill: &str, load_line: bool, run: impl std::future::Future<Output = Report>) {
    check_node_plant();
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => panic!("{drill} drill: the seed did not finish in {SEED_TIMEOUT:?} simulated"),
    };
    println!("{}", report.seed_line(drill));
    if load_line {
        println!("sim-load {}", report.load);
    }
    print_peak_memory();
    assert!(report.violations.is_empty(), "{drill} drill failed: {}", report.details());
}

#[madsim::test]
async fn failover() {
    judge("failover", false, drills::failover::run(&world_config())).await;
}

#[madsim::test]
async fn split_brain() {
    judge("split-brain", false, drills::split_brain::run(&world_config())).await;
}

#[madsim::test]
async fn dc_migration() {
    let config = drills::dc_migration::world_config(world_config());
    judge("dc-migration", false, drills::dc_migration::run(&config)).await;
}

#[madsim::test]
async fn disk_replaced() {
    let config = drills::disk_replaced::world_config(world_config());
    judge("disk-replaced", false, drills::disk_replaced::run(&config)).await;
}

#[madsim::test]
async fn soak() {
    judge("soak", false, drills::soak::run(&world_config())).await;
}

#[madsim::test]
async fn clock_skew() {
    judge("clock-skew", false, drills::clock_skew::run(&world_config())).await;
}

#[madsim::test]
async fn bank_outage() {
    judge("bank-outage", true, drills::bank_outage::run(&world_config())).await;
}

#[madsim::test]
async fn lost_callbacks() {
    judge("lost-callbacks", true, drills::lost_callbacks::run(&world_config())).await;
}

#[madsim::test]
async fn worker_split_brain() {
    judge("worker-split-brain", true, drills::worker_split_brain::run(&world_config())).await;
}

#[madsim::test]
async fn reconciliation() {
    judge("reconciliation", true, drills::reconciliation::run(&world_config())).await;
}
