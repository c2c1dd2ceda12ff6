//! Drills: scenarios of load and faults over a `World`, each ending with every checker. A
//! drill returns a `Report`; the test that runs it (`tests/drills.rs`) prints its `sim-seed`
//! line (which `cargo xtask sim` sums) and fails on any violation.

pub mod bank_harness;
pub mod bank_outage;
pub mod clock_skew;
pub mod dc_migration;
pub mod disk_replaced;
pub mod failover;
pub mod harness;
pub mod lost_callbacks;
pub mod reconciliation;
pub mod soak;
pub mod split_brain;
pub mod worker_split_brain;

use std::time::Duration;

/// What one seed of a drill did and found.
#[derive(Debug)]
pub struct Report {
    /// The madsim seed.
    pub seed: u64,
    /// Simulated time the seed took.
    pub simulated: Duration,
    /// The faults injected, with their simulated time.
    pub faults: Vec<String>,
    /// One line of load statistics.
    pub load: String,
    /// Every violation the checkers found.
    pub violations: Vec<String>,
}

impl Report {
    /// The line `cargo xtask sim` reads: `sim-seed <seed> sim_s <seconds> violations <n>`.
    pub fn seed_line(&self, drill: &str) -> String {
        format!(
            "sim-seed {} drill {drill} sim_s {:.3} violations {}",
            self.seed,
            self.simulated.as_secs_f64(),
            self.violations.len()
        )
    }

    /// Everything, for a failing seed's message.
    pub fn details(&self) -> String {
        format!(
            "seed {}: {} violation(s)\n  {}\nfaults:\n  {}\nload: {}",
            self.seed,
            self.violations.len(),
            self.violations.join("\n  "),
            self.faults.join("\n  "),
            self.load
        )
    }
}
