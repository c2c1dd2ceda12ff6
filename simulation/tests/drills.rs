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
//! `stale-read`) or the bank worker (`tianping_bank_worker::planted`: `resend-new-id`, which
//! the bank drills catch); it needs the feature `planted-bugs` (`cargo xtask sim --plant NAME` builds
//! with it), and the test fails when the variable is set without it or names no bug.
#![cfg(madsim)]

use std::time::Duration;

use tianping_simulation::drills;
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
        "TIANPING_PLANT: unknown bug `{name}` (known: ack-before-commit, apply-twice, skip-fsync, stale-read, resend-new-id)"
    );
    #[cfg(not(feature = "planted-bugs"))]
    panic!(
        "TIANPING_PLANT={name} needs the feature `planted-bugs` (cargo xtask sim --plant {name})"
    );
}

#[madsim::test]
async fn failover() {
    check_node_plant();
    let config = world_config();
    let run = drills::failover::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => panic!("failover drill: the seed did not finish in {SEED_TIMEOUT:?} simulated"),
    };
    println!("{}", report.seed_line("failover"));
    print_peak_memory();
    assert!(report.violations.is_empty(), "failover drill failed: {}", report.details());
}

#[madsim::test]
async fn split_brain() {
    let config = world_config();
    let run = drills::split_brain::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => {
            panic!("split-brain drill: the seed did not finish in {SEED_TIMEOUT:?} simulated")
        }
    };
    println!("{}", report.seed_line("split-brain"));
    print_peak_memory();
    assert!(report.violations.is_empty(), "split-brain drill failed: {}", report.details());
}

#[madsim::test]
async fn dc_migration() {
    let config = drills::dc_migration::world_config(world_config());
    let run = drills::dc_migration::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => {
            panic!("dc-migration drill: the seed did not finish in {SEED_TIMEOUT:?} simulated")
        }
    };
    println!("{}", report.seed_line("dc-migration"));
    print_peak_memory();
    assert!(report.violations.is_empty(), "dc-migration drill failed: {}", report.details());
}

#[madsim::test]
async fn soak() {
    let config = world_config();
    let run = drills::soak::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => panic!("soak drill: the seed did not finish in {SEED_TIMEOUT:?} simulated"),
    };
    println!("{}", report.seed_line("soak"));
    print_peak_memory();
    assert!(report.violations.is_empty(), "soak drill failed: {}", report.details());
}

#[madsim::test]
async fn clock_skew() {
    let config = world_config();
    let run = drills::clock_skew::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => panic!("clock-skew drill: the seed did not finish in {SEED_TIMEOUT:?} simulated"),
    };
    println!("{}", report.seed_line("clock-skew"));
    print_peak_memory();
    assert!(report.violations.is_empty(), "clock-skew drill failed: {}", report.details());
}

#[madsim::test]
async fn bank_outage() {
    check_node_plant();
    let config = world_config();
    let run = drills::bank_outage::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => {
            panic!("bank-outage drill: the seed did not finish in {SEED_TIMEOUT:?} simulated")
        }
    };
    println!("{}", report.seed_line("bank-outage"));
    println!("sim-load {}", report.load);
    print_peak_memory();
    assert!(report.violations.is_empty(), "bank-outage drill failed: {}", report.details());
}

#[madsim::test]
async fn lost_callbacks() {
    check_node_plant();
    let config = world_config();
    let run = drills::lost_callbacks::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => {
            panic!("lost-callbacks drill: the seed did not finish in {SEED_TIMEOUT:?} simulated")
        }
    };
    println!("{}", report.seed_line("lost-callbacks"));
    println!("sim-load {}", report.load);
    print_peak_memory();
    assert!(report.violations.is_empty(), "lost-callbacks drill failed: {}", report.details());
}

#[madsim::test]
async fn worker_split_brain() {
    check_node_plant();
    let config = world_config();
    let run = drills::worker_split_brain::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => {
            panic!(
                "worker-split-brain drill: the seed did not finish in {SEED_TIMEOUT:?} simulated"
            )
        }
    };
    println!("{}", report.seed_line("worker-split-brain"));
    println!("sim-load {}", report.load);
    print_peak_memory();
    assert!(report.violations.is_empty(), "worker-split-brain drill failed: {}", report.details());
}

#[madsim::test]
async fn reconciliation() {
    check_node_plant();
    let config = world_config();
    let run = drills::reconciliation::run(&config);
    let report = match madsim::time::timeout(SEED_TIMEOUT, run).await {
        Ok(report) => report,
        Err(_) => {
            panic!("reconciliation drill: the seed did not finish in {SEED_TIMEOUT:?} simulated")
        }
    };
    println!("{}", report.seed_line("reconciliation"));
    println!("sim-load {}", report.load);
    print_peak_memory();
    assert!(report.violations.is_empty(), "reconciliation drill failed: {}", report.details());
}
