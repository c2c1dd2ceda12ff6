//! What the bank drills share: the world with a bank (`WorldConfig::bank`), the bank and its
//! workers started, the ledger set up, the payout and collection workload running while the
//! drill's `faults` run; then, once the faults stop, every payout awaited final, every bank
//! credit awaited booked, the workers stopped, and every bank checker
//! (`tianping_history::checker::bank`) run with the ledger's invariants and digests.
//!
//! The transfer clients of the other drills do not run here: the bank workload writes its own
//! ledger (3), and the history checkers' "nothing unsent" would count its payouts' and
//! collections' transfers as foreign.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tianping_bank_sim::simulator::BankSimulator;
use tianping_history::checker::{bank, digests, ledger_invariants};

use super::Report;
use super::harness::{FaultLog, Outcome, run_seed};
use crate::bank::workload::{
    self, BankRecords, COLLECTIONS_BOOKED_BOUND, PAYOUT_FINAL_BOUND, Workload,
};
use crate::bank::{Workers, start_bank};
use crate::world::{World, WorldConfig, lock};

/// How often the end of a seed reads the ledger for the collections booked.
const COLLECTIONS_POLL: Duration = Duration::from_secs(2);

/// The bank drills' world: `base` with a bank.
pub fn world_config(base: WorldConfig) -> WorldConfig {
    WorldConfig { bank: true, ..base }
}

/// Runs one seed: `faults` strikes while the workload runs and returns once every fault it
/// started has stopped (healed).
pub async fn run<F, Fut>(config: &WorldConfig, faults: F) -> Report
where
    F: FnOnce(Arc<World>, Arc<Mutex<BankSimulator>>, FaultLog) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = FaultLog> + Send + 'static,
{
    let config = world_config(config.clone());
    run_seed(&config, move |world, started| async move {
        let mut log = FaultLog::new(started);
        match open(&world, &mut log).await {
            Ok((simulator, client, workers, load)) => {
                let log = faults(world.clone(), simulator.clone(), log).await;
                finish(&world, simulator, client, workers, load, log).await
            }
            Err(violation) => (log.into_lines(), String::new(), vec![violation]),
        }
    })
    .await
}

type Opened = (Arc<Mutex<BankSimulator>>, tianping_client::Client, Workers, Workload);

async fn open(world: &Arc<World>, log: &mut FaultLog) -> Result<Opened, String> {
    let leader = world.initialize().await.map_err(|error| format!("startup: {error}"))?;
    log.push(format!("leader {leader} elected"));
    let (simulator, keys) = start_bank(world)?;
    let client = workload::sdk(world)?;
    workload::set_up_ledger(&client).await.map_err(|error| format!("setup: {error}"))?;
    let workers = Workers::start(world, &keys)?;
    let load = Workload::start(client.clone(), simulator.clone());
    log.push("bank, workers and workload started");
    Ok((simulator, client, workers, load))
}

async fn finish(
    world: &World,
    simulator: Arc<Mutex<BankSimulator>>,
    client: tianping_client::Client,
    workers: Workers,
    load: Workload,
    mut log: FaultLog,
) -> Outcome {
    let faults_stopped = world.elapsed();
    let asked = {
        let shared = load.stop().await;
        std::mem::take(&mut *lock(&shared))
    };
    log.push(format!("faults stopped; {} payouts asked for", asked.payouts.len()));
    let payouts = workload::await_final(world, &client, &asked.payouts).await;
    let finals = payouts.iter().filter(|p| p.final_at.is_some()).count();
    log.push(format!("{finals} of {} payouts final", payouts.len()));
    // The collections: wait until every bank credit is booked, or the bound passes.
    let deadline = madsim::time::Instant::now() + COLLECTIONS_BOOKED_BOUND;
    let mut booked = Vec::new();
    let mut credits_seen;
    loop {
        let credits = workload::bank_records(&lock(&simulator)).credits;
        credits_seen = credits.len();
        if let Some(leader) = world.leader()
            && let Ok(replica) = world.replica(leader).await
        {
            booked = workload::ledger_collections(&replica.ledger);
            if bank::collections_booked_once(&credits, &booked).is_empty() {
                break;
            }
        }
        if madsim::time::Instant::now() >= deadline {
            break;
        }
        madsim::time::sleep(COLLECTIONS_POLL).await;
    }
    log.push(format!("{} of {credits_seen} bank credits booked", booked.len()));
    let mut violations = workers.stop().await;
    let records: BankRecords = workload::bank_records(&lock(&simulator));
    let mut replicas = Vec::new();
    for node in &world.nodes {
        match world.replica(node.id).await {
            Ok(replica) => replicas.push(replica),
            Err(error) => violations.push(error),
        }
    }
    violations.extend(asked.failed_injections.iter().map(|why| format!("inject: {why}")));
    violations.extend(bank::executed_at_most_once(&payouts, &records.debits));
    violations.extend(bank::outcomes_agree(&payouts, &records.instructions));
    violations.extend(bank::final_within(&payouts, faults_stopped, PAYOUT_FINAL_BOUND));
    violations.extend(bank::collections_booked_once(&records.credits, &booked));
    violations.extend(bank::conservation(&records.conservation));
    violations.extend(ledger_invariants::check(&replicas));
    violations.extend(digests::check(&replicas));
    let succeeded = payouts
        .iter()
        .filter(|p| p.state == tianping_history::checker::bank::LedgerPayoutState::Succeeded)
        .count();
    let stats: Vec<String> = bank_stats(&simulator);
    let load_line = format!(
        "{} payouts asked, {} in the ledger ({succeeded} succeeded), {} bank debits, {} bank credits, {} collections booked; {}",
        asked.payouts.len(),
        payouts.len(),
        records.debits.len(),
        records.credits.len(),
        booked.len(),
        stats.join("; ")
    );
    (log.into_lines(), load_line, violations)
}

/// Each bank's counters, for the load line.
fn bank_stats(simulator: &Arc<Mutex<BankSimulator>>) -> Vec<String> {
    let simulator = lock(simulator);
    simulator
        .banks()
        .map(|hosted| {
            let stats = hosted.bank.stats();
            format!(
                "{}: {} requests ({} refused down), {} orders ({} duplicates), {} executed, {} rejected",
                hosted.bank.id(),
                stats.requests,
                stats.refused_down,
                stats.orders,
                stats.duplicate_orders,
                stats.executed,
                stats.rejected
            )
        })
        .collect()
}
