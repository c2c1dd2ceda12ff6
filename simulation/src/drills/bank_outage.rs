//! The bank-outage drill: under the payout and collection workload, the bank is down for
//! minutes (every call answered `503`, whose outcome the workers must treat as unknown), then
//! slow (most answers late, some past the workers' deadline, so submits time out after the
//! bank executed them), then healthy. All drawn from the seed.
//!
//! What must hold (`tianping_history::checker::bank`): no payout executed twice, every final
//! payout's outcome the bank's, every payout final within `PAYOUT_FINAL_BOUND` after the bank
//! is healthy again, every credit booked once, the bank's books balanced; and the ledger's
//! invariants and digests.

use std::sync::{Arc, Mutex};

use madsim::rand::{Rng, thread_rng};
use tianping_bank_sim::faults::{DownWindow, FaultConfig};
use tianping_bank_sim::simulator::BankSimulator;

use super::Report;
use super::bank_harness;
use super::harness::{FaultLog, secs};
use crate::bank::{BANKS, unix_ms, with_simulator};
use crate::world::{World, WorldConfig};

/// How long the bank is down, in seconds: minutes.
const DOWN_S: std::ops::Range<u64> = 60..180;
/// How long the bank is slow afterwards, in seconds.
const SLOW_S: std::ops::Range<u64> = 15..40;
/// Share of answers (parts per million) that come late while the bank is slow.
const LATE_PPM: u32 = 600_000;
/// How late, in milliseconds: around the workers' 3 s deadline.
const LATE_MS: std::ops::Range<u64> = 1_000..6_000;

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
    _world: Arc<World>,
    simulator: Arc<Mutex<BankSimulator>>,
    mut log: FaultLog,
) -> FaultLog {
    madsim::time::sleep(secs(3..8)).await;
    let down = secs(DOWN_S);
    let now = unix_ms();
    let until = now.saturating_add(u64::try_from(down.as_millis()).unwrap_or(u64::MAX));
    let outage = FaultConfig {
        down: vec![DownWindow { from_ms: now, until_ms: until }],
        ..FaultConfig::default()
    };
    set_faults(&simulator, &outage);
    log.push(format!("bank down for {:.1}s", down.as_secs_f64()));
    madsim::time::sleep(down).await;
    let late_ms = thread_rng().gen_range(LATE_MS);
    let slow = FaultConfig {
        answer_late_ppm: LATE_PPM,
        answer_late_ms: late_ms,
        ..FaultConfig::default()
    };
    set_faults(&simulator, &slow);
    let slow_for = secs(SLOW_S);
    log.push(format!(
        "bank slow for {:.1}s ({LATE_PPM} ppm of answers {late_ms} ms late)",
        slow_for.as_secs_f64()
    ));
    madsim::time::sleep(slow_for).await;
    set_faults(&simulator, &FaultConfig::default());
    log.push("bank healthy");
    log
}
