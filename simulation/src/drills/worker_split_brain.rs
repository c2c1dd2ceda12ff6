//! The worker-split-brain drill: two workers in different data centers both believe they own
//! the same payouts. One worker is cut off from the cluster — not from the bank — for longer
//! than its lease, so the ledger hands its claims to another worker (with
//! `must_inquire_first`) while the stale one still talks to the bank; on top, sometimes a
//! whole data center is partitioned (its worker loses cluster and bank), and sometimes every
//! worker loses the bank for a few seconds. Meanwhile the bank executes some payouts and then
//! hangs or drops the answer, so workers face unknown outcomes. The bank is the idempotency
//! boundary: the end-to-end id is the payout id, so however many workers submit, the bank pays
//! once. All drawn from the seed.
//!
//! What must hold: the bank checkers (a payout executed at most once, by end-to-end id and by
//! beneficiary; outcomes agree; final within the bound; collections once; conservation) and
//! the ledger's invariants. The planted bug `resend-new-id` (a worker that resends under a new
//! end-to-end id after a timeout) fails it.

use std::sync::{Arc, Mutex};

use madsim::rand::{Rng, thread_rng};
use tianping_bank_sim::faults::FaultConfig;
use tianping_bank_sim::simulator::BankSimulator;

use super::Report;
use super::bank_harness;
use super::harness::{FaultLog, secs};
use crate::bank::{BANKS, WORKER_LEASE_MS, with_simulator};
use crate::faults;
use crate::world::{World, WorldConfig};

/// Parts per million of new payouts executed and then left hanging while the drill runs.
const TIMEOUT_AFTER_EXECUTE_PPM: u32 = 150_000;
/// Parts per million of new payouts executed and then dropped.
const LOSE_ANSWER_PPM: u32 = 100_000;

/// Runs one seed of the drill on a world shaped by `config` (with a bank).
pub async fn run(config: &WorldConfig) -> Report {
    bank_harness::run(config, drive).await
}

fn set_faults(simulator: &Arc<Mutex<BankSimulator>>, faults: &FaultConfig) {
    with_simulator(simulator, |simulator| {
        for bank in &BANKS {
            if let Some(hosted) = simulator.bank_mut(bank.id) {
                hosted.bank.set_faults(faults.clone());
            }
        }
    });
}

async fn drive(
    world: Arc<World>,
    simulator: Arc<Mutex<BankSimulator>>,
    mut log: FaultLog,
) -> FaultLog {
    let unknowns = FaultConfig {
        timeout_after_execute_ppm: TIMEOUT_AFTER_EXECUTE_PPM,
        lose_answer_ppm: LOSE_ANSWER_PPM,
        ..FaultConfig::default()
    };
    set_faults(&simulator, &unknowns);
    log.push("bank: some answers hang or drop after executing");
    madsim::time::sleep(secs(3..6)).await;
    let data_centers = world.data_center_count();
    let rounds = thread_rng().gen_range(1..=2);
    for _ in 0..rounds {
        let stale = thread_rng().gen_range(0..data_centers);
        let cut = world.worker_cluster_links(stale);
        world.clog_links(&cut);
        // Past the lease: the ledger gives the stale worker's claims to another.
        let lease_s = WORKER_LEASE_MS / 1_000;
        let isolated = secs(lease_s + 2..lease_s * 3);
        log.push(format!(
            "worker of data center {} cut off from the cluster (not the bank) for {:.1}s",
            stale + 1,
            isolated.as_secs_f64()
        ));
        match thread_rng().gen_range(0..4) {
            0 if data_centers > 1 => {
                let other =
                    (stale + 1 + thread_rng().gen_range(0..data_centers - 1)) % data_centers;
                madsim::time::sleep(secs(1..3)).await;
                log.push(faults::partition(&world, other));
            }
            1 => {
                madsim::time::sleep(secs(1..4)).await;
                let bank_links = world.worker_bank_links();
                world.clog_links(&bank_links);
                log.push("every worker cut off from the bank");
                madsim::time::sleep(secs(2..6)).await;
                world.unclog_links(&bank_links);
                log.push("workers reach the bank again");
            }
            _ => {}
        }
        madsim::time::sleep(isolated).await;
        log.push(faults::heal(&world));
        madsim::time::sleep(secs(2..5)).await;
    }
    set_faults(&simulator, &FaultConfig::default());
    log.push("bank answers normally");
    log
}
