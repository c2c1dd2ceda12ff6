//! The lost-callbacks drill: under the payout and collection workload, the bank's
//! notifications are duplicated and reordered, the notifications of some payouts are lost,
//! and answers are lost after the bank executed (the connection dropped, or the answer never
//! sent). All drawn from the seed; then the bank behaves again.
//!
//! Collections' own notifications are duplicated and reordered but never lost here: the worker
//! learns of a credit only from the notification feed (it does not reconcile statements yet),
//! so a lost credit notification would be a collection never booked, which the collections
//! checker reports; payouts are settled by queries by end-to-end id, so their notifications may
//! be lost.

use std::sync::{Arc, Mutex};

use madsim::rand::{Rng, thread_rng};
use tianping_bank_adapters::gateway::EndToEndId;
use tianping_bank_sim::faults::{Fault, FaultConfig};
use tianping_bank_sim::simulator::BankSimulator;

use super::Report;
use super::bank_harness;
use super::harness::{FaultLog, secs};
use crate::bank::workload::FIRST_PAYOUT_ID;
use crate::bank::{BANKS, with_simulator};
use crate::world::{World, WorldConfig};

/// How long the callbacks misbehave, in seconds.
const MISBEHAVE_S: std::ops::Range<u64> = 30..70;
/// Parts per million of notification entries duplicated, and reordered.
const DUPLICATE_PPM: u32 = 250_000;
/// See `DUPLICATE_PPM`.
const REORDER_PPM: u32 = 250_000;
/// Parts per million of new payouts whose answer is lost after executing (dropped).
const LOSE_ANSWER_PPM: u32 = 150_000;
/// Parts per million of new payouts executed and then left hanging.
const TIMEOUT_AFTER_EXECUTE_PPM: u32 = 100_000;
/// Payout ids (from the first) that may get a lost notification.
const LOSABLE_PAYOUTS: u128 = 2_000;
/// Percent of those whose debit notification the bank loses.
const LOST_NOTIFICATION_PERCENT: u32 = 20;

/// Runs one seed of the drill on a world shaped by `config` (with a bank).
pub async fn run(config: &WorldConfig) -> Report {
    bank_harness::run(config, drive).await
}

async fn drive(
    _world: Arc<World>,
    simulator: Arc<Mutex<BankSimulator>>,
    mut log: FaultLog,
) -> FaultLog {
    let faults = FaultConfig {
        duplicate_notification_ppm: DUPLICATE_PPM,
        reorder_notification_ppm: REORDER_PPM,
        lose_answer_ppm: LOSE_ANSWER_PPM,
        timeout_after_execute_ppm: TIMEOUT_AFTER_EXECUTE_PPM,
        ..FaultConfig::default()
    };
    let mut lost = 0u32;
    with_simulator(&simulator, |simulator| {
        for offset in 0..LOSABLE_PAYOUTS {
            if thread_rng().gen_range(0..100) >= LOST_NOTIFICATION_PERCENT {
                continue;
            }
            let Ok(id) = EndToEndId::from_payout_id(FIRST_PAYOUT_ID + offset) else { continue };
            let bank = BANKS[thread_rng().gen_range(0..BANKS.len())];
            if let Some(hosted) = simulator.bank_mut(bank.id) {
                hosted.bank.add_directive(id, vec![Fault::LoseNotification]);
                lost += 1;
            }
        }
        for bank in &BANKS {
            if let Some(hosted) = simulator.bank_mut(bank.id) {
                hosted.bank.set_faults(faults.clone());
            }
        }
    });
    let misbehave = secs(MISBEHAVE_S);
    log.push(format!(
        "callbacks misbehave for {:.1}s: {DUPLICATE_PPM} ppm duplicated, {REORDER_PPM} ppm reordered, {LOSE_ANSWER_PPM} ppm answers dropped and {TIMEOUT_AFTER_EXECUTE_PPM} ppm hung after executing, {lost} payout notifications to lose",
        misbehave.as_secs_f64()
    ));
    madsim::time::sleep(misbehave).await;
    with_simulator(&simulator, |simulator| {
        for bank in &BANKS {
            if let Some(hosted) = simulator.bank_mut(bank.id) {
                hosted.bank.set_faults(FaultConfig::default());
            }
        }
    });
    log.push("callbacks behave");
    log
}
