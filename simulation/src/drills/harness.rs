//! What every drill shares: the drill's controller machine, the load (one client per data
//! center, the risk desk, and the bank side: the bank, its workers and the payout and
//! collection workload of `bank_harness`) and the end of a seed — faults stopped, time the
//! first commit, stop the clients, let the payouts settle and the credits be booked, stop
//! the workers, let the checked nodes catch up, read them and run every checker, the bank's
//! too.
//!
//! Two workloads write the ledger here, each judged on its own: the transfer clients' ledgers
//! (1 and 2) by the history checkers, the bank workload's (`workload::LEDGER`, 3) by the bank
//! checkers. The clients' "nothing unsent" leaves ledger 3 to the bank
//! (`History::ledgers_judged_elsewhere`), which accounts for every transfer in it
//! (`bank_harness::Settled::judge`); every other checker judges all of the ledger.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};

use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{CreateTransfersRequest, NewTransfer};

use tianping_history::checker::{self, Evidence};
use tianping_history::{Ack, History, replay};

use super::Report;
use super::bank_harness::{self, BankSide, Own, Profile};
use crate::bank::workload;
use crate::client::{self, ATTEMPT_DEADLINE, SharedHistory};
use crate::planted::PlantedBug;
use crate::risk;
use crate::sampler::StateSampler;
use crate::world::{World, WorldConfig, lock};

/// After the faults stop, the first write must commit within this.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(15);
/// How far from true time an acknowledged event may have been judged (`checker::event_time`):
/// the largest clock offset a leader may stamp with.
const EVENT_TIME_BOUND: Duration =
    Duration::from_millis(tianping_node::config::MAX_CLOCK_OFFSET_MS_DEFAULT);
/// After the first commit, every checked node must apply everything acknowledged within this.
const CATCH_UP_BOUND: Duration = Duration::from_secs(30);
/// Longest the clients take to notice the stop and finish their batch in flight.
const CLIENT_STOP_BOUND: Duration = Duration::from_secs(60);
/// Share of seeds in which every node keeps its whole log (snapshots are still built, logs
/// never purged), so the committed log can be replayed (`tianping_history::replay`); the other seeds
/// purge as configured and exercise catching up by snapshot.
const WHOLE_LOG_SHARE: f64 = 2.0 / 3.0;

/// A random duration in `range` seconds, at millisecond grain, from the seed.
pub fn secs(range: std::ops::Range<u64>) -> Duration {
    Duration::from_millis(thread_rng().gen_range(range.start * 1000..range.end * 1000))
}

/// What a drill's scenario hands back: its fault log, its load line and the violations.
pub type Outcome = (Vec<String>, String, Vec<String>);

/// Runs one seed: builds the world, runs `scenario` on a controller machine that partitions
/// never cut off, and wraps what it found in a `Report`.
pub async fn run_seed<F, Fut>(config: &WorldConfig, scenario: F) -> Report
where
    F: FnOnce(Arc<World>, madsim::time::Instant) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let handle = madsim::runtime::Handle::current();
    let seed = handle.seed();
    let started = madsim::time::Instant::now();
    let mut config = config.clone();
    let whole_log = thread_rng().gen_bool(WHOLE_LOG_SHARE);
    if whole_log {
        config.logs_kept_after_snapshot = u64::MAX;
    }
    let world = World::create(&config);
    let controller = handle
        .create_node()
        .name("controller")
        .ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 2, 0, 1)))
        .build();
    let drill_world = world.clone();
    let outcome = controller.spawn(scenario(drill_world, started)).await;
    // The seed's simulated time ends with its scenario; tearing the world down is not part
    // of it.
    let simulated = started.elapsed();
    world.finish(&[controller.id()]).await;
    let (faults, mut load, violations) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => (Vec::new(), String::new(), vec![format!("drill task failed: {error}")]),
    };
    load.push_str(if whole_log { "; logs kept whole" } else { "; logs purged" });
    // Read by `cargo xtask sim`, which reports in how many seeds the history checkers ran.
    let replayed = load.contains(checker::REPLAYED);
    println!("sim-history seed {seed} replayed {}", if replayed { "yes" } else { "no" });
    Report { seed, simulated, faults, load, violations }
}

/// A seed's fault log: each line stamped with the simulated seconds since the seed began, so
/// a failing seed's report says what struck when.
pub struct FaultLog {
    started: madsim::time::Instant,
    lines: Vec<String>,
}

impl FaultLog {
    /// An empty log whose clock starts at `started`.
    pub fn new(started: madsim::time::Instant) -> FaultLog {
        FaultLog { started, lines: Vec::new() }
    }

    /// Adds `line`, stamped with the time now.
    pub fn push(&mut self, line: impl std::fmt::Display) {
        self.push_at(madsim::time::Instant::now(), line);
    }

    /// Adds `line`, stamped with `at`: for what a task of the drill noted while it ran and
    /// hands over later.
    pub fn push_at(&mut self, at: madsim::time::Instant, line: impl std::fmt::Display) {
        let since = at.saturating_duration_since(self.started);
        self.lines.push(format!("{:>8.3}s {line}", since.as_secs_f64()));
    }

    /// The lines, for the seed's report.
    pub fn into_lines(self) -> Vec<String> {
        self.lines
    }
}

/// Runs one seed of a drill that opens as every drill does — first leader, the clients'
/// accounts, the bank side, the load (`open`) — then hands the world, the running load and
/// the fault log to `scenario`. The world gets a bank (`bank_harness::world_config`). A
/// cluster that never gets that far is the seed's one violation.
pub async fn run_loaded<F, Fut>(config: &WorldConfig, scenario: F) -> Report
where
    F: FnOnce(Arc<World>, Load, FaultLog) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let planted = config.planted_bug;
    let config = bank_harness::world_config(config.clone());
    run_seed(&config, move |world, started| async move {
        let mut log = FaultLog::new(started);
        match open(&world, planted, &mut log).await {
            Ok(load) => scenario(world, load, log).await,
            Err(violation) => (log.into_lines(), String::new(), vec![violation]),
        }
    })
    .await
}

/// The opening every drill shares: wait for the first leader, create the clients' accounts,
/// open the bank side and start the load. `Err` is the seed's one violation when the cluster
/// never got that far.
async fn open(
    world: &Arc<World>,
    planted: Option<PlantedBug>,
    log: &mut FaultLog,
) -> Result<Load, String> {
    let leader = world.initialize().await.map_err(|error| format!("startup: {error}"))?;
    log.push(format!("leader {leader} elected"));
    let accounts =
        client::create_accounts(world).await.map_err(|error| format!("setup: {error}"))?;
    let bank = BankSide::open(world, &Profile::BESIDE_CLIENTS, log).await?;
    let load = Load::start(world, planted, bank);
    if let Ok(mut history) = load.history.lock() {
        history.accounts_acked = accounts;
    }
    Ok(load)
}

/// The clients at work, one per data center, and the bank side beside them, until `finish`.
pub struct Load {
    history: SharedHistory,
    stop: Arc<AtomicBool>,
    clients: Vec<madsim::task::JoinHandle<()>>,
    desk: Option<madsim::task::JoinHandle<risk::DeskReport>>,
    sampler: StateSampler,
    bank: BankSide,
}

impl Load {
    /// Starts one client on every client machine of the world, beside `bank`.
    pub fn start(world: &Arc<World>, planted: Option<PlantedBug>, bank: BankSide) -> Load {
        let history =
            History { ledgers_judged_elsewhere: [workload::LEDGER].into(), ..History::default() };
        let history: SharedHistory = Arc::new(Mutex::new(history));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = world
            .clients
            .iter()
            .enumerate()
            .map(|(index, machine)| {
                let task = client::run(
                    world.clone(),
                    u32::try_from(index).unwrap_or(u32::MAX),
                    machine.data_center,
                    history.clone(),
                    stop.clone(),
                    planted,
                );
                machine.machine.spawn(task)
            })
            .collect();
        let desk = world.clients.first().map(|machine| {
            machine.machine.spawn(risk::run(world.clone(), history.clone(), stop.clone()))
        });
        let sampler = StateSampler::start(world.clone());
        Load { history, stop, clients, desk, sampler, bank }
    }

    /// The first true time (nanoseconds since the epoch) in `from_ns..=to_ns` at which a
    /// client's batch was answered, that is, committed; `None` if none was.
    pub fn first_commit_between(&self, from_ns: u64, to_ns: u64) -> Option<u64> {
        lock(&self.history)
            .timed_batches
            .iter()
            .map(|batch| batch.answered_ns)
            .filter(|answered| (from_ns..=to_ns).contains(answered))
            .min()
    }

    /// Called once the faults have stopped: times the first commit (a probe transfer through
    /// any of `nodes`), stops the clients, settles the bank side (`BankSide::settle`: every
    /// payout final, every credit booked, the workers stopped), waits for each of `nodes` to
    /// apply everything acknowledged, reads them and runs every checker on them, the bank's
    /// too. `log` gets the probe's and the bank's lines.
    pub async fn finish(
        self,
        world: &World,
        nodes: &[u64],
        log: &mut FaultLog,
    ) -> (String, Vec<String>) {
        let healed = madsim::time::Instant::now();
        // The bank's bound on payouts counts from here, not from when the bank side settles.
        let faults_stopped = world.elapsed();
        let settling = self.bank;
        let probe_id: u128 = (u128::from(u32::MAX) << 40) | 1;
        if let Ok(mut history) = self.history.lock() {
            history.sent.insert(probe_id);
        }
        let probe = probe(world, nodes, probe_id, &self.history).await;
        let recovery = probe.map(|_| healed.elapsed());
        log.push(format!("probe committed after {recovery:?}"));
        self.stop.store(true, Ordering::Relaxed);
        for task in self.clients {
            if madsim::time::timeout(CLIENT_STOP_BOUND, task).await.is_err() {
                log.push("a client did not stop in time");
            }
        }
        let desk = match self.desk {
            Some(task) => {
                madsim::time::timeout(CLIENT_STOP_BOUND, task).await.ok().and_then(Result::ok)
            }
            None => None,
        }
        .unwrap_or_default();
        let settled = settling.settle(world, faults_stopped, Own::default(), log).await;
        let history = std::mem::take(&mut *lock(&self.history));
        let target_index =
            history.acks.values().map(|ack| ack.log_index).chain(probe).max().unwrap_or(0);
        let (sampled, samples) = self.sampler.stop().await;
        let mut lagging = Vec::new();
        for node_id in nodes {
            if !world.wait_applied(*node_id, target_index, CATCH_UP_BOUND).await {
                lagging.push(*node_id);
            }
        }
        let (mut replicas, mut unreadable) = (Vec::new(), Vec::new());
        for node_id in nodes {
            match world.replica(*node_id).await {
                Ok(replica) => replicas.push(replica),
                Err(error) => unreadable.push(error),
            }
        }
        let snapshots: Vec<u64> = nodes.iter().map(|id| world.snapshot_index(*id)).collect();
        let replay = replay::from_replicas(&replicas, |node_id| world.log_entries(node_id));
        let load = format!(
            "nodes {nodes:?}, snapshot indexes {snapshots:?}, {} transfers sent, {} acknowledged ({} ok), {} batches acknowledged, {} unknown, {} failed attempts, {} read-backs, {} account changes ({} not acknowledged ok, {} through a paused follower), {samples} replica samples, last index {target_index}",
            history.sent.len(),
            history.acks.len(),
            history.acks.values().filter(|ack| ack.code_name == "ok").count(),
            history.batches_acked,
            history.batches_unknown,
            history.failed_attempts,
            history.reads.len(),
            desk.changes_ok,
            desk.changes_failed,
            desk.late_copies,
        );
        let evidence = Evidence {
            history,
            replicas,
            unreadable,
            recovery,
            recovery_bound: RECOVERY_BOUND,
            target_index,
            lagging,
            replay,
        };
        let (bank_violations, bank_load) = settled.judge(&evidence.replicas, &BTreeSet::new());
        let load = format!("{load}; {}; {bank_load}", checker::history_coverage(&evidence));
        let mut violations = checker::check_all(&evidence);
        violations
            .extend(checker::event_time::check(&evidence.history.timed_batches, EVENT_TIME_BOUND));
        violations.extend(bank_violations);
        violations
            .extend(sampled.into_iter().map(|violation| format!("while running: {violation}")));
        (load, violations)
    }
}

/// Writes one valid transfer through any of `nodes` until it is acknowledged or
/// `RECOVERY_BOUND` passes; the log index that holds it. The acknowledgement joins the history.
async fn probe(world: &World, nodes: &[u64], id: u128, history: &SharedHistory) -> Option<u64> {
    let request = CreateTransfersRequest {
        transfers: vec![NewTransfer {
            id: id.to_string(),
            debit_account_id: "1".into(),
            credit_account_id: "2".into(),
            amount: "1".into(),
            ledger: 1,
            code: 1,
            ..Default::default()
        }],
    };
    let deadline = madsim::time::Instant::now() + RECOVERY_BOUND;
    let mut round = 0usize;
    while madsim::time::Instant::now() < deadline {
        let node = nodes.get(round % nodes.len().max(1)).and_then(|id| world.node(*id))?;
        round += 1;
        let sent = async {
            let mut client = LedgerClient::connect(node.api_url()).await.ok()?;
            client.create_transfers(request.clone()).await.ok().map(|r| r.into_inner())
        };
        if let Ok(Some(response)) = tianping_node::runtime::timeout(ATTEMPT_DEADLINE, sent).await
            && let Some(result) = response.results.first()
        {
            if let Ok(mut history) = history.lock() {
                history.acks.insert(
                    id,
                    Ack {
                        code_name: result.code_name.clone(),
                        timestamp: result.timestamp,
                        amount: result.amount.clone(),
                        log_index: response.log_index,
                    },
                );
            }
            return Some(response.log_index);
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
