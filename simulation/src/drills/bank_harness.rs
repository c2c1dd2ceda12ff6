//! What the bank drills share: the world with a bank (`WorldConfig::bank`), the bank and its
//! workers started, the ledger set up, the payout and collection workload running while the
//! drill's `faults` run; then, once the faults stop, every payout awaited final, every bank
//! credit awaited booked, the workers stopped, and every bank checker
//! (`tianping_history::checker::bank`) run with the ledger's invariants and digests.
//!
//! The transfer clients of the other drills do not run here: the bank workload writes its own
//! ledger (3), and the history checkers' "nothing unsent" would count its payouts' and
//! collections' transfers as foreign.
//!
//! A drill that makes the bank mishandle payouts on purpose (`reconciliation`) runs through
//! [`run_judged`]: its scenario hands over the payouts it created (awaited final and checked
//! like the workload's), names those it had the bank mishandle (`Driven::mishandled`, left out
//! of the at-most-once check they break by design) and hands back a [`Judge`], its own checks,
//! run once every payout is final, every credit booked and the workers stopped.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tianping_bank_sim::simulator::BankSimulator;
use tianping_history::checker::{bank, digests, ledger_invariants};

use super::Report;
use super::harness::{FaultLog, Outcome, run_seed};
use crate::bank::workload::{
    self, AskedPayout, BankRecords, COLLECTIONS_BOOKED_BOUND, PAYOUT_FINAL_BOUND, Workload,
};
use crate::bank::{DirectKeys, Workers, start_bank};
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
    Fut: Future<Output = FaultLog> + Send + 'static,
{
    run_judged(config, move |scene: Scene| async move {
        let log = faults(scene.world, scene.simulator, scene.log).await;
        Driven { log, payouts: Vec::new(), mishandled: BTreeSet::new(), judge: None }
    })
    .await
}

/// What a bank drill's scenario gets: the world, the bank, the direct-connect keys (for
/// gateways of its own) and the fault log.
pub struct Scene {
    /// The world.
    pub world: Arc<World>,
    /// The bank simulator.
    pub simulator: Arc<Mutex<BankSimulator>>,
    /// The direct-connect bank's keys.
    pub keys: DirectKeys,
    /// The seed's fault log.
    pub log: FaultLog,
}

/// A drill's own checks, run once every payout is final, every credit booked and the workers
/// stopped.
pub type Judge = Pin<Box<dyn Future<Output = Judged> + Send>>;

/// What a drill's own checks found.
#[derive(Debug, Default)]
pub struct Judged {
    /// Lines for the fault log.
    pub lines: Vec<String>,
    /// Violations.
    pub violations: Vec<String>,
    /// Figures for the load line.
    pub load: String,
}

/// What a bank drill's scenario hands back once every fault it started has stopped.
pub struct Driven {
    /// The fault log.
    pub log: FaultLog,
    /// Payouts the drill created itself: awaited final and checked like the workload's.
    pub payouts: Vec<AskedPayout>,
    /// Payouts the drill made the bank mishandle on purpose, as (bank, end-to-end id): their
    /// debits are left out of `executed_at_most_once` (an injected duplicate breaks it by
    /// design); the drill's judge checks them instead.
    pub mishandled: BTreeSet<(u32, String)>,
    /// The drill's own checks.
    pub judge: Option<Judge>,
}

/// Runs one seed: `scenario` strikes while the workload runs and returns once every fault it
/// started has stopped, with what it mishandled on purpose and its own checks.
pub async fn run_judged<F, Fut>(config: &WorldConfig, scenario: F) -> Report
where
    F: FnOnce(Scene) -> Fut + Send + 'static,
    Fut: Future<Output = Driven> + Send + 'static,
{
    let config = world_config(config.clone());
    run_seed(&config, move |world, started| async move {
        let mut log = FaultLog::new(started);
        match open(&world, &mut log).await {
            Ok((simulator, keys, client, workers, load)) => {
                let scene = Scene { world: world.clone(), simulator: simulator.clone(), keys, log };
                let driven = scenario(scene).await;
                finish(&world, simulator, client, workers, load, driven).await
            }
            Err(violation) => (log.into_lines(), String::new(), vec![violation]),
        }
    })
    .await
}

type Opened = (Arc<Mutex<BankSimulator>>, DirectKeys, tianping_client::Client, Workers, Workload);

async fn open(world: &Arc<World>, log: &mut FaultLog) -> Result<Opened, String> {
    let leader = world.initialize().await.map_err(|error| format!("startup: {error}"))?;
    log.push(format!("leader {leader} elected"));
    let (simulator, keys) = start_bank(world)?;
    let client = workload::sdk(world)?;
    workload::set_up_ledger(&client).await.map_err(|error| format!("setup: {error}"))?;
    let workers = Workers::start(world, &keys)?;
    let load = Workload::start(client.clone(), simulator.clone());
    log.push("bank, workers and workload started");
    Ok((simulator, keys, client, workers, load))
}

async fn finish(
    world: &World,
    simulator: Arc<Mutex<BankSimulator>>,
    client: tianping_client::Client,
    workers: Workers,
    load: Workload,
    driven: Driven,
) -> Outcome {
    let Driven { mut log, payouts: own_payouts, mishandled, judge } = driven;
    let faults_stopped = world.elapsed();
    let mut asked = {
        let shared = load.stop().await;
        std::mem::take(&mut *lock(&shared))
    };
    asked.payouts.extend(own_payouts);
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
    let mut judged = Judged::default();
    if let Some(judge) = judge {
        judged = judge.await;
        for line in std::mem::take(&mut judged.lines) {
            log.push(line);
        }
        violations.append(&mut judged.violations);
    }
    let mut records: BankRecords = workload::bank_records(&lock(&simulator));
    records.debits.retain(|debit| !mishandled.contains(&(debit.bank, debit.end_to_end_id.clone())));
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
    let mut load_line = format!(
        "{} payouts asked, {} in the ledger ({succeeded} succeeded), {} bank debits, {} bank credits, {} collections booked; {}",
        asked.payouts.len(),
        payouts.len(),
        records.debits.len(),
        records.credits.len(),
        booked.len(),
        stats.join("; ")
    );
    if !judged.load.is_empty() {
        load_line.push_str("; ");
        load_line.push_str(&judged.load);
    }
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
