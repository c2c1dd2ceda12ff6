//! Drills on real processes (issue 14): each starts its own `ChaosCluster` (five voters in
//! three data centers, 2 + 2 + 1, Raft traffic between data centers through the fault proxy at
//! a latency profile), runs a client workload from every data center, injects its fault into
//! the leader or the leader's data center, heals it, waits for the replicas to converge and
//! judges what the clients were told against what the cluster holds.
//!
//! The run, in thirds of `--duration`: steady state, the fault in force, healed. Then the
//! clients stop, the cluster converges (every node at one applied index), the state is read
//! back and every node's digest is asked (`verdict`), and the report is written (`report`).
//!
//! The procedure drills (`dc-migration`, `rolling-restart`, `wipe-and-replace`) run an operator's procedure through the admin API
//! in place of the fault third: it takes as long as it takes, the progress line running, and
//! the third after it follows.
//!
//! - `fault` — the drills by name and their faults: inject, heal.
//! - `admin` — the admin API as an operator drives it (membership changes, leader transfer,
//!   the leader's view of each member's lag), retried as `tianping cluster` would be.
//! - `migration` — `dc-migration`'s plan and steps, and its membership check.
//! - `restarts` — `rolling-restart` and `wipe-and-replace`.
//! - `workload` — the accounts and the clients, and the record of what they did.
//! - `verdict` — the read-back, the digests and the checks (the history crate's and the
//!   ledger's invariants, on the state read back).
//! - `report` — the Markdown summary.
//! - `html` — the same drill as one self-contained HTML file with plots (throughput, latency
//!   and the leader over time, fault windows shaded), written beside it.

pub mod admin;
pub mod fault;
pub mod html;
pub mod migration;
pub mod report;
pub mod restarts;
pub mod verdict;
pub mod workload;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tianping_supervisor::cluster::status_of;
use tianping_supervisor::health::healthy;
use tianping_supervisor::{NODES_5, SupervisorError};

use crate::cluster::{ChaosCluster, ChaosConfig};
use crate::latency::LatencyProfile;
use crate::unavailability::{self, Gap, Unavailability};

pub use fault::{DrillName, Fault};
pub use verdict::{Check, Verdict};

/// Longest the cluster may take to come up, and to converge after the clients stop.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(90);

/// How often the progress line is refreshed (and the leader asked).
const TICK: Duration = Duration::from_secs(1);

/// What a drill failed on before it could judge (a judged drill that found violations is not
/// an error: its `Verdict` says so).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// Starting, signalling or restarting nodes.
    #[error(transparent)]
    Cluster(#[from] SupervisorError),
    /// Setting the accounts up or reading the state back.
    #[error("{0}")]
    Client(String),
    /// Writing the report.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// How to run a drill.
#[derive(Clone, Debug)]
pub struct DrillConfig {
    /// The `tianping` executable the nodes run.
    pub binary: PathBuf,
    /// Where the report goes; the cluster's data lives in its `cluster/` (started fresh).
    pub report_dir: PathBuf,
    /// The delay of the links between data centers.
    pub profile: LatencyProfile,
    /// Seeds the proxy's delays and the clients' choices.
    pub seed: u64,
    /// The workload's length: a third steady, a third under the fault, a third healed.
    pub duration: Duration,
    /// Concurrent clients in each data center.
    pub clients_per_data_center: u32,
}

/// A judged drill.
#[derive(Debug)]
pub struct DrillOutcome {
    /// Every check's outcome.
    pub verdict: Verdict,
    /// The Markdown report written.
    pub report: PathBuf,
    /// The clients' unavailability after the fault and after the heal, in that order.
    pub unavailability: Vec<(String, Unavailability)>,
    /// The longest stretch without a commit (every client) in each measured window, in the
    /// same order.
    pub gaps: Vec<(String, Gap)>,
    /// A procedure drill's answered writes per second during the procedure over those of the
    /// steady state before it.
    pub throughput_ratio: Option<f64>,
}

/// A moment of the drill's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Since the clients started.
    pub at: Duration,
    /// What happened.
    pub what: String,
    /// Whether the clients' unavailability after it is measured (faults and heals).
    pub measured: bool,
}

/// The phases, as the progress line and the report name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the fault.
    Steady,
    /// The fault in force.
    Fault,
    /// Healed, clients still writing.
    Healed,
    /// A procedure drill's procedure, by name.
    Change(&'static str),
    /// After a procedure, clients still writing.
    After,
}

impl Phase {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Steady => "steady",
            Phase::Fault => "fault",
            Phase::Healed => "healed",
            Phase::Change(name) => name,
            Phase::After => "after",
        }
    }
}

/// Runs `drill` and writes its report; `progress` hears a line per event and one per second
/// while the clients run.
pub async fn run(
    drill: DrillName,
    config: &DrillConfig,
    progress: &mut dyn FnMut(String),
) -> Result<DrillOutcome, DrillError> {
    std::fs::create_dir_all(&config.report_dir).map_err(|source| DrillError::Io {
        what: "creating",
        path: config.report_dir.clone(),
        source,
    })?;
    let chaos_config = ChaosConfig {
        data_dir: config.report_dir.join("cluster"),
        shape: NODES_5,
        profile: config.profile,
        seed: config.seed,
        timeout: CLUSTER_TIMEOUT,
    };
    let (mut cluster, up) = ChaosCluster::up(&config.binary, &chaos_config, progress).await?;
    progress(format!("cluster up, node {} leads; setting up the accounts", up.leader));
    let nodes = cluster.api_addresses();
    let setup = workload::client(&nodes, "dc-a")?;
    workload::set_up(&setup, Instant::now() + CLUSTER_TIMEOUT).await?;

    let recorder = workload::Recorder::new();
    let data_centers: BTreeSet<String> = nodes.iter().map(|(_, dc, _)| dc.clone()).collect();
    let mut clients = Vec::new();
    let mut number = 0;
    for data_center in &data_centers {
        for _ in 0..config.clients_per_data_center {
            let client = workload::client(&nodes, data_center)?;
            let task = workload::run_client(
                client,
                data_center.clone(),
                number,
                config.seed,
                recorder.clone(),
            );
            clients.push(tokio::spawn(task));
            number += 1;
        }
    }
    let mut driver = Driver {
        drill,
        recorder: recorder.clone(),
        nodes: nodes.clone(),
        timeline: Vec::new(),
        phases: Vec::new(),
        leader: None,
        committed_before: 0,
        last_tick: Instant::now(),
        leaders: Vec::new(),
    };
    let third = config.duration / 3;
    driver.phase(Phase::Steady, third, None, progress).await;
    let leader = driver.wait_for_leader(&[], progress).await?;
    let mut procedure_check = None;
    if drill.is_fault() {
        let fault = Fault::inject(drill, &mut cluster, leader)?;
        driver.mark(format!("fault: {fault} (node {leader} led)"), true, progress);
        driver.phase(Phase::Fault, third, Some(&fault), progress).await;
        fault.heal(&mut cluster).await?;
        driver.mark(format!("healed: {fault}"), true, progress);
        driver.phase(Phase::Healed, third, None, progress).await;
    } else {
        let started = recorder.now();
        let (phase, check, expected) = match drill {
            DrillName::RollingRestart => {
                let failures = restarts::rolling_restart(&mut driver, &mut cluster, progress).await;
                let name =
                    "every node restarted in turn on its data, the cluster healthy after each";
                (restarts::ROLLING, Check { name, violations: failures }, None)
            }
            DrillName::WipeAndReplace => {
                let (violations, expected) =
                    restarts::wipe_and_replace(&mut driver, &mut cluster, progress).await?;
                let name = "the blank disk under the old id refused; the replacement a voter under a new id, the lost node gone";
                (restarts::REPLACING, Check { name, violations }, Some(expected))
            }
            _ => {
                let (plan, violations) =
                    migration::run(&mut driver, &mut cluster, leader, progress).await?;
                let name = "the migration completed: the old data center's nodes removed, the new ones voters, no change in flight";
                let expected = Membership { removed: plan.old, added: plan.new };
                (migration::PHASE, Check { name, violations }, Some(expected))
            }
        };
        driver.phases.push((phase, started, recorder.now()));
        driver.mark(format!("{} done", phase.name()), true, progress);
        procedure_check = Some((check, expected));
        driver.phase(Phase::After, third, None, progress).await;
    }
    recorder.stop();
    for client in clients {
        // A client stops after its current call (at most the SDK's retry budget).
        let _ = client.await;
    }
    driver.mark("clients stopped".to_owned(), false, progress);
    // The nodes now (a migration changed them).
    let nodes = driver.nodes.clone();

    progress("waiting for every node to apply the same log".to_owned());
    let converged = converge(&nodes, Instant::now() + CLUSTER_TIMEOUT).await;
    let (digests, unreadable) = match &converged {
        Ok(digests) => (digests.clone(), Vec::new()),
        Err(_) => verdict::read_digests(&nodes).await,
    };
    progress("reading the final state back".to_owned());
    let (mut history, attempts) = {
        let mut record = recorder.lock();
        (std::mem::take(&mut record.history), std::mem::take(&mut record.attempts))
    };
    // The funding transfers are the drill's own writes, not the clients'.
    history.sent.extend(workload::account_ids().iter().map(|id| 1_000 + id));
    let state = verdict::read_back(&setup, &history).await?;
    let read_from = setup.leader().map_or(0, |(node, _)| node);
    let windows = driver.unavailability(&attempts, None);
    let gaps = driver.gaps(&attempts, None);
    let judged = verdict::Judged {
        history: &history,
        state: &state,
        read_from,
        digests: &digests,
        unreadable: &unreadable,
        nodes: nodes.len(),
        unavailability: &windows,
        converged: converged.as_ref().map(|_| ()).map_err(Clone::clone),
    };
    let mut verdict = verdict::judge(&judged);
    if let Some((mut check, expected)) = procedure_check {
        // Read once converged: a follower applies a membership change after the leader
        // committed it.
        if let Some(expected) = expected {
            check.violations.extend(expected.violations(&nodes).await);
        }
        verdict.checks.push(check);
    }
    let summary = report::Summary {
        drill,
        config,
        history: &history,
        attempts: &attempts,
        timeline: &driver.timeline,
        phases: &driver.phases,
        unavailability: &windows,
        per_data_center: data_centers
            .iter()
            .map(|dc| (dc.clone(), driver.unavailability(&attempts, Some(dc))))
            .collect(),
        gaps: &gaps,
        leaders: &driver.leaders,
        gaps_per_data_center: data_centers
            .iter()
            .map(|dc| (dc.clone(), driver.gaps(&attempts, Some(dc))))
            .collect(),
        digests: &digests,
        verdict: &verdict,
    };
    let path = config.report_dir.join("report.md");
    std::fs::write(&path, report::markdown(&summary)).map_err(|source| DrillError::Io {
        what: "writing",
        path: path.clone(),
        source,
    })?;
    let html_path = config.report_dir.join("report.html");
    std::fs::write(&html_path, html::html(&summary)).map_err(|source| DrillError::Io {
        what: "writing",
        path: html_path.clone(),
        source,
    })?;
    let stuck = cluster.stop();
    if !stuck.is_empty() {
        progress(format!("nodes {stuck:?} had to be killed at the end"));
    }
    let procedure = driver.phases.iter().find(|(phase, _, _)| matches!(phase, Phase::Change(_)));
    let throughput_ratio = procedure.and_then(|(phase, _, _)| {
        report::throughput_ratio(&attempts, &driver.phases, Phase::Steady, *phase)
    });
    let gaps = gaps.into_iter().map(|(event, _, gap)| (event, gap)).collect();
    Ok(DrillOutcome { verdict, report: path, unavailability: windows, gaps, throughput_ratio })
}

/// The membership a procedure must end with: `removed` gone from it, `added` voters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// Nodes that left.
    pub removed: Vec<u64>,
    /// Nodes that joined as voters.
    pub added: Vec<u64>,
}

impl Membership {
    /// The history crate's `membership` check over every node in `nodes`, as each answers.
    async fn violations(&self, nodes: &[(u64, String, String)]) -> Vec<String> {
        let mut views = Vec::new();
        for (node_id, _, address) in nodes {
            views.push((*node_id, admin::membership_view(address).await));
        }
        tianping_history::checker::membership::check(&views, &self.removed, &self.added)
    }
}

/// The driver's view while the clients run.
struct Driver {
    drill: DrillName,
    recorder: workload::Recorder,
    nodes: Vec<(u64, String, String)>,
    timeline: Vec<Event>,
    /// Each phase with its start and end.
    phases: Vec<(Phase, Duration, Duration)>,
    leader: Option<u64>,
    committed_before: u64,
    last_tick: Instant,
    /// Every change of the leader the driver saw, for the HTML report's plot.
    leaders: Vec<(Duration, Option<u64>)>,
}

impl Driver {
    /// The client API addresses of the nodes now in the cluster.
    fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(|(_, _, address)| address.clone()).collect()
    }

    /// One progress line: the leader (an event when it changed, asking none of `silenced`),
    /// the answered writes per second since the last line, the errors, what is going on.
    async fn tick(
        &mut self,
        phase: Phase,
        doing: &str,
        silenced: &[u64],
        progress: &mut dyn FnMut(String),
    ) {
        let leader = leader_now(&self.nodes, silenced).await;
        if leader != self.leader {
            let said = leader.map_or("no leader known".to_owned(), |id| format!("node {id} leads"));
            self.leader = leader;
            self.leaders.push((self.recorder.now(), leader));
            self.mark(said, false, progress);
        }
        let (committed, failed, last_error) = {
            let record = self.recorder.lock();
            (record.committed, record.failed, record.last_error.clone())
        };
        let seconds = self.last_tick.elapsed().as_secs_f64();
        self.last_tick = Instant::now();
        let answered = committed.saturating_sub(self.committed_before);
        self.committed_before = committed;
        let rate = if seconds > 0.0 { answered as f64 / seconds } else { 0.0 };
        let error_text = last_error.map_or(String::new(), |error| format!(" (last: {error})"));
        progress(format!(
            "[{}] {:>6.1}s phase={} ops/s={rate:.0} errors={failed}{error_text} leader={} {doing}",
            self.drill,
            self.recorder.now().as_secs_f64(),
            phase.name(),
            self.leader.map_or("?".to_owned(), |id| id.to_string()),
        ));
    }

    /// Awaits `work` (a step of a procedure), a progress line every tick meanwhile.
    async fn during<F: Future>(
        &mut self,
        phase: Phase,
        doing: &str,
        work: F,
        progress: &mut dyn FnMut(String),
    ) -> F::Output {
        let mut work = std::pin::pin!(work);
        loop {
            let next = tokio::time::sleep(TICK);
            tokio::select! {
                biased;
                output = &mut work => return output,
                () = next => self.tick(phase, doing, &[], progress).await,
            }
        }
    }

    fn mark(&mut self, what: String, measured: bool, progress: &mut dyn FnMut(String)) {
        let at = self.recorder.now();
        progress(format!("[{}] {:>6.1}s {what}", self.drill, at.as_secs_f64()));
        self.timeline.push(Event { at, what, measured });
    }

    /// Runs a phase for `length`, a progress line every tick.
    async fn phase(
        &mut self,
        phase: Phase,
        length: Duration,
        fault: Option<&Fault>,
        progress: &mut dyn FnMut(String),
    ) {
        let started = self.recorder.now();
        let end = Instant::now() + length;
        let silenced = fault.map(Fault::silenced).unwrap_or_default();
        let doing = format!("fault={}", fault.map_or("none".to_owned(), ToString::to_string));
        while Instant::now() < end {
            tokio::time::sleep_until((Instant::now() + TICK).min(end).into()).await;
            self.tick(phase, &doing, &silenced, progress).await;
        }
        self.phases.push((phase, started, self.recorder.now()));
    }

    /// Waits (up to the cluster timeout) until a node names a leader.
    async fn wait_for_leader(
        &mut self,
        silenced: &[u64],
        progress: &mut dyn FnMut(String),
    ) -> Result<u64, DrillError> {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            if let Some(leader) = leader_now(&self.nodes, silenced).await {
                if self.leader != Some(leader) {
                    self.leader = Some(leader);
                    self.leaders.push((self.recorder.now(), Some(leader)));
                    self.mark(format!("node {leader} leads"), false, progress);
                }
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                return Err(DrillError::Client(format!(
                    "no leader within {CLUSTER_TIMEOUT:?} to inject the fault into"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The longest gap without a commit in each measured event's window (until the next
    /// measured event, or the clients' stop), for `data_center`'s clients or all; the first
    /// row is the steady state before the first event, a baseline.
    fn gaps(
        &self,
        attempts: &[unavailability::Attempt],
        data_center: Option<&str>,
    ) -> Vec<(String, (Duration, Duration), Gap)> {
        let end = self.timeline.last().map_or(Duration::ZERO, |event| event.at);
        let measured: Vec<&Event> = self.timeline.iter().filter(|event| event.measured).collect();
        let mut windows = Vec::new();
        if let Some(first) = measured.first() {
            // The steady state starts once the clients committed at all (set-up is done).
            let start = attempts
                .iter()
                .filter(|attempt| attempt.committed)
                .map(|attempt| attempt.answered)
                .min()
                .unwrap_or_default()
                .min(first.at);
            windows.push(("steady state (baseline)".to_owned(), (start, first.at)));
        }
        for (index, event) in measured.iter().enumerate() {
            let until = measured.get(index + 1).map_or(end, |next| next.at);
            windows.push((event.what.clone(), (event.at, until)));
        }
        windows
            .into_iter()
            .map(|(what, (from, to))| {
                let gap = unavailability::longest_gap(attempts, from, to, data_center);
                (what, (from, to), gap)
            })
            .collect()
    }

    /// The unavailability after every measured event, for `data_center`'s clients or all.
    fn unavailability(
        &self,
        attempts: &[unavailability::Attempt],
        data_center: Option<&str>,
    ) -> Vec<(String, Unavailability)> {
        self.timeline
            .iter()
            .filter(|event| event.measured)
            .map(|event| {
                (event.what.clone(), unavailability::measure(attempts, event.at, data_center))
            })
            .collect()
    }
}

/// The leader the first answering node (other than `silenced`) knows.
async fn leader_now(nodes: &[(u64, String, String)], silenced: &[u64]) -> Option<u64> {
    for (node_id, _, address) in nodes {
        if silenced.contains(node_id) {
            continue;
        }
        if let Ok(status) = status_of(address).await
            && status.has_leader
        {
            return Some(status.leader_id);
        }
    }
    None
}

/// Waits until every node has applied its whole log, all at one index, under one leader, and
/// their digests were read at that index: the digests, or why not by `deadline`.
async fn converge(
    nodes: &[(u64, String, String)],
    deadline: Instant,
) -> Result<Vec<verdict::NodeDigest>, String> {
    let mut last = String::from("not asked yet");
    while Instant::now() < deadline {
        match settled(nodes).await {
            Ok(index) => {
                let (digests, unreadable) = verdict::read_digests(nodes).await;
                if unreadable.is_empty() && digests.iter().all(|digest| digest.applied == index) {
                    return Ok(digests);
                }
                last = format!("the applied index moved past {index} while the digests were read");
            }
            Err(why) => last = why,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last)
}

/// The one applied index every node is at, with its log wholly applied, once the cluster is
/// healthy by the supervisor's rule (`health::healthy`: one leader known to all, every member
/// known, everyone caught up to the leader); why not otherwise.
async fn settled(nodes: &[(u64, String, String)]) -> Result<u64, String> {
    let mut statuses = Vec::with_capacity(nodes.len());
    for (node_id, _, address) in nodes {
        statuses
            .push(status_of(address).await.map_err(|error| format!("node {node_id}: {error}"))?);
    }
    healthy(&statuses, nodes.len())?;
    // Healthy lets a follower run ahead of the leader's applied index; the digests must be
    // read at one index, so every node must stand at the same one with nothing left to apply.
    if let Some(status) =
        statuses.iter().find(|status| status.applied_index != status.last_log_index)
    {
        return Err(format!(
            "node {} applied {} of {}",
            status.node_id, status.applied_index, status.last_log_index
        ));
    }
    let applied: BTreeSet<u64> = statuses.iter().map(|status| status.applied_index).collect();
    match (applied.len(), applied.first()) {
        (1, Some(index)) => Ok(*index),
        _ => Err(format!("applied indexes {applied:?}")),
    }
}
