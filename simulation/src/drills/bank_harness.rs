//! The bank side of every drill, and what the bank drills share. [`BankSide`] is the bank
//! and its workers started (`WorldConfig::bank`), the workload's ledger set up and the
//! payout and collection workload running; once the faults stop, [`BankSide::settle`] awaits
//! every payout final and every bank credit booked and stops the workers, and
//! [`Settled::judge`] runs every bank checker (`tianping_history::checker::bank`) and the
//! bank's half of "nothing unsent" (every transfer of the workload's ledger is one the
//! workload caused). The bank drills ([`run`], [`run_judged`]) run it alone, with the
//! ledger's invariants and digests; the older drills (`harness::run_loaded`) run it beside
//! their transfer clients, at a slower pace ([`Profile`]), and add its verdict to theirs.
//!
//! Two workloads, two ledgers, each judged on its own: the transfer clients write ledgers 1
//! and 2, the bank workload ledger 3 (`workload::LEDGER`). The history checkers' "nothing
//! unsent" cannot count the workload's payouts and collections as the clients' (nobody sent
//! them as transfers), so the clients' history names ledger 3 as judged elsewhere
//! (`History::ledgers_judged_elsewhere`) and `Settled::judge` accounts for each of its
//! transfers instead — the funding the workload sent, the reservation of each payout it asked
//! for, the booking (`collection_id`) of each credit the bank made. Nothing is excused: a
//! transfer in ledger 3 the bank side did not cause, or one in ledgers 1–2 no client sent, is
//! still a violation, and every other checker judges all three ledgers.
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

use tianping_bank_adapters::keys::SignScheme;
use tianping_bank_sim::simulator::BankSimulator;
use tianping_history::Replica;
use tianping_history::checker::bank::{LedgerCollection, LedgerPayout};
use tianping_history::checker::{acknowledged, bank, digests, ledger_invariants};

use super::Report;
use super::harness::{FaultLog, Outcome, run_seed};
use crate::bank::workload::{
    self, AskedPayout, BankRecords, COLLECTIONS_BOOKED_BOUND, PAYOUT_FINAL_BOUND, Pace, Workload,
    WorkloadLog,
};
use crate::bank::{DirectKeys, Workers, start_bank};
use crate::world::{World, WorldConfig, lock};

/// How often the end of a seed reads the ledger for the collections booked.
const COLLECTIONS_POLL: Duration = Duration::from_secs(2);

/// How the bank side runs in a drill: the workload's pace and the scheme the direct-connect
/// bank signs with.
#[derive(Clone, Debug)]
pub struct Profile {
    /// How fast the workload asks.
    pub pace: Pace,
    /// The direct-connect bank's signature scheme.
    pub direct_scheme: SignScheme,
}

impl Profile {
    /// The bank drills': the bank is what they drill, so it is busy, and signs with SM2 as
    /// the Chinese banks do.
    pub const BANK_DRILLS: Profile = Profile {
        pace: Pace { payout_every_ms: 150..700, collection_every_ms: 500..2_500 },
        direct_scheme: SignScheme::Sm2Sm3,
    };
    /// Beside the transfer clients (`harness::run_loaded`): every fault of those drills meets
    /// payouts and collections in flight, at a rate that keeps their seeds cheap, and the
    /// direct-connect bank signs with Ed25519, the protocol's second scheme — SM2 in pure
    /// Rust is most of a seed's cost here (each request and answer signed and verified), and
    /// the bank drills cover it.
    pub const BESIDE_CLIENTS: Profile = Profile {
        pace: Pace { payout_every_ms: 1_000..3_000, collection_every_ms: 2_000..6_000 },
        direct_scheme: SignScheme::Ed25519,
    };
}

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
        Driven {
            log,
            payouts: Vec::new(),
            funded: Vec::new(),
            mishandled: BTreeSet::new(),
            judge: None,
        }
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
    /// Funding transfers the drill sent itself into the workload's ledger
    /// (`workload::add_customers`): accounted for like the workload's.
    pub funded: Vec<u128>,
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
            Ok(bank) => {
                let scene = Scene {
                    world: world.clone(),
                    simulator: bank.simulator.clone(),
                    keys: bank.keys.clone(),
                    log,
                };
                let driven = scenario(scene).await;
                finish(&world, bank, driven).await
            }
            Err(violation) => (log.into_lines(), String::new(), vec![violation]),
        }
    })
    .await
}

async fn open(world: &Arc<World>, log: &mut FaultLog) -> Result<BankSide, String> {
    let leader = world.initialize().await.map_err(|error| format!("startup: {error}"))?;
    log.push(format!("leader {leader} elected"));
    BankSide::open(world, &Profile::BANK_DRILLS, log).await
}

async fn finish(world: &World, bank: BankSide, driven: Driven) -> Outcome {
    let Driven { mut log, payouts, funded, mishandled, judge } = driven;
    let faults_stopped = world.elapsed();
    let settled = bank.settle(world, faults_stopped, Own { payouts, funded }, &mut log).await;
    let mut violations = Vec::new();
    let mut judged = Judged::default();
    if let Some(judge) = judge {
        judged = judge.await;
        for line in std::mem::take(&mut judged.lines) {
            log.push(line);
        }
        violations.append(&mut judged.violations);
    }
    let mut replicas = Vec::new();
    for node in &world.nodes {
        match world.replica(node.id).await {
            Ok(replica) => replicas.push(replica),
            Err(error) => violations.push(error),
        }
    }
    let (bank_violations, mut load_line) = settled.judge(&replicas, &mishandled);
    violations.extend(bank_violations);
    violations.extend(ledger_invariants::check(&replicas));
    violations.extend(digests::check(&replicas));
    if !judged.load.is_empty() {
        load_line.push_str("; ");
        load_line.push_str(&judged.load);
    }
    (log.into_lines(), load_line, violations)
}

/// The bank side of a seed at work: the bank, one worker per data center, the workload's
/// ledger set up and the workload running — in the bank drills alone, and beside the transfer
/// clients in the others (`harness::run_loaded`), through the same faults.
pub struct BankSide {
    /// The bank simulator.
    pub simulator: Arc<Mutex<BankSimulator>>,
    /// The direct-connect bank's keys.
    pub keys: DirectKeys,
    client: tianping_client::Client,
    workers: Workers,
    workload: Workload,
    funded: Vec<u128>,
}

/// What a drill did in the workload's ledger itself, beside the workload: awaited and judged
/// like the workload's own.
#[derive(Default)]
pub struct Own {
    /// Payouts it created.
    pub payouts: Vec<AskedPayout>,
    /// Funding transfers it sent (`workload::add_customers`).
    pub funded: Vec<u128>,
}

impl BankSide {
    /// Once the cluster has a leader: starts the bank, sets up the workload's ledger, starts
    /// the workers and the workload, as `profile` says.
    pub async fn open(
        world: &Arc<World>,
        profile: &Profile,
        log: &mut FaultLog,
    ) -> Result<BankSide, String> {
        let (simulator, keys) = start_bank(world, profile.direct_scheme)?;
        let client = workload::sdk(world)?;
        let funded =
            workload::set_up_ledger(&client).await.map_err(|error| format!("setup: {error}"))?;
        let workers = Workers::start(world, &keys)?;
        let workload = Workload::start(client.clone(), simulator.clone(), profile.pace.clone());
        log.push("bank, workers and workload started");
        Ok(BankSide { simulator, keys, client, workers, workload, funded })
    }

    /// Called once the faults have stopped (at `faults_stopped`, `World::elapsed`): stops the
    /// workload, waits for every payout (the workload's and `own`) to be final
    /// (`PAYOUT_FINAL_BOUND` after `faults_stopped`) and every bank credit to be booked
    /// (`COLLECTIONS_BOOKED_BOUND`), stops the workers; what the checks need.
    pub async fn settle(
        self,
        world: &World,
        faults_stopped: std::time::Duration,
        own: Own,
        log: &mut FaultLog,
    ) -> Settled {
        let mut asked = {
            let shared = self.workload.stop().await;
            std::mem::take(&mut *lock(&shared))
        };
        asked.payouts.extend(own.payouts);
        log.push(format!("faults stopped; {} payouts asked for", asked.payouts.len()));
        let payouts = workload::await_final(world, &self.client, &asked.payouts).await;
        let finals = payouts.iter().filter(|p| p.final_at.is_some()).count();
        log.push(format!("{finals} of {} payouts final", payouts.len()));
        let booked = await_booked(world, &self.simulator, log).await;
        let worker_problems = self.workers.stop().await;
        let mut funded = self.funded;
        funded.extend(own.funded);
        Settled {
            faults_stopped,
            asked,
            payouts,
            booked,
            worker_problems,
            simulator: self.simulator,
            funded,
        }
    }
}

/// Waits until every bank credit is booked in the leader's ledger, or the bound passes; the
/// collections booked when it stopped waiting.
async fn await_booked(
    world: &World,
    simulator: &Arc<Mutex<BankSimulator>>,
    log: &mut FaultLog,
) -> Vec<LedgerCollection> {
    let deadline = madsim::time::Instant::now() + COLLECTIONS_BOOKED_BOUND;
    let mut booked = Vec::new();
    let mut credits_seen;
    loop {
        let credits = workload::bank_records(&lock(simulator)).credits;
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
    booked
}

/// The bank side once settled: what every bank check judges.
pub struct Settled {
    faults_stopped: std::time::Duration,
    asked: WorkloadLog,
    payouts: Vec<LedgerPayout>,
    booked: Vec<LedgerCollection>,
    worker_problems: Vec<String>,
    simulator: Arc<Mutex<BankSimulator>>,
    funded: Vec<u128>,
}

impl Settled {
    /// Every bank check, on the bank's records and `replicas` (read after `settle`): the
    /// workers stopped cleanly, each payout executed at most once (leaving out `mishandled`,
    /// the (bank, end-to-end id) pairs a drill had the bank mishandle on purpose), outcomes
    /// agree, every payout final in time, every credit booked once, the banks conserve money,
    /// and every transfer of the workload's ledger is one the workload caused (its funding,
    /// its payouts' reservations, the bookings of the bank's credits) — the bank's half of
    /// "nothing unsent". The violations, and the load line.
    pub fn judge(
        &self,
        replicas: &[Replica],
        mishandled: &BTreeSet<(u32, String)>,
    ) -> (Vec<String>, String) {
        let mut violations = self.worker_problems.clone();
        let mut records: BankRecords = workload::bank_records(&lock(&self.simulator));
        records
            .debits
            .retain(|debit| !mishandled.contains(&(debit.bank, debit.end_to_end_id.clone())));
        let payouts = &self.payouts;
        violations.extend(self.asked.failed_injections.iter().map(|why| format!("inject: {why}")));
        violations.extend(bank::executed_at_most_once(payouts, &records.debits));
        violations.extend(bank::outcomes_agree(payouts, &records.instructions));
        violations.extend(bank::final_within(payouts, self.faults_stopped, PAYOUT_FINAL_BOUND));
        violations.extend(bank::collections_booked_once(&records.credits, &self.booked));
        violations.extend(bank::conservation(&records.conservation));
        let mut accounted = records.booking_ids;
        accounted.extend(self.funded.iter().copied());
        accounted.extend(self.asked.payouts.iter().map(|payout| payout.id));
        violations.extend(acknowledged::unsent_in_ledger(
            replicas,
            workload::LEDGER,
            &accounted,
            "bank workload",
        ));
        let succeeded =
            payouts.iter().filter(|p| p.state == bank::LedgerPayoutState::Succeeded).count();
        let load_line = format!(
            "{} payouts asked, {} in the ledger ({succeeded} succeeded), {} bank debits, {} bank credits, {} collections booked; {}",
            self.asked.payouts.len(),
            payouts.len(),
            records.debits.len(),
            records.credits.len(),
            self.booked.len(),
            bank_stats(&self.simulator).join("; ")
        );
        (violations, load_line)
    }
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
