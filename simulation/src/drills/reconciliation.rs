//! The reconciliation drill (issue 13 item 5): the reconciler service — the production loop,
//! `tianping_reconcile::service::serve_with`, twice at once, on the bank-worker machines of
//! data centers 1 and 2 (`bank::reconcilers`) — watches the bank workload under the usual node
//! faults. Each seed has two phases:
//!
//! 1. **Clean.** 2–3 rounds of node faults (a crash, the leader or its whole data center
//!    killed, a power loss, a partition both ways or one way, a pause; each held 2–6 s, then
//!    healed and restarted) strike while payouts and collections flow; then a calm of
//!    `reconcilers::JUDGED_WITHIN` (the lateness, the ledger's settle and three periods), so
//!    everything the phase did has been judged. Nothing may be recorded: no discrepancy at all
//!    before the end of the calm.
//! 2. **Injected.** 1–2 more rounds of node faults while the bank mishandles one payout of
//!    each class, each from a customer account of its own (3011..3015, funded by the drill),
//!    on a bank drawn from the seed, at a moment drawn within the first ten seconds:
//!    `drop-booking` (the ledger pays, the bank books nothing: `missing_at_bank`),
//!    `execute-report-rejected` (the bank pays, the ledger voids: `missing_in_ledger`),
//!    `amount-off` by one minor unit either way (`amount_mismatch`), `execute-twice`
//!    (`duplicate_at_bank`) and `return-unnotified` 1–5 s after executing (the bank returns the
//!    money and never tells: `reversed_at_bank`). Each is a simulator directive on the payout's
//!    end-to-end id; a status query that reaches the bank before the payment order (a lost
//!    submit) consumes it, leaving a normal payout, so the drill then tries again with a new
//!    payout of the same customer (up to `INJECTION_ATTEMPTS` times) and checks the bank's
//!    record shows the mishandling.
//!
//! Then the harness ends the seed like every bank drill (every payout final, every credit
//! booked, the workers stopped) and the judge waits until every injected difference is found
//! and the reconcilers have had `JUDGED_WITHIN` more to judge the tail of the traffic (at most
//! a matching period more), stops them, reads the leader's ledger and holds it to
//! `tianping_history::checker::reconciliation`:
//!
//! - nothing was recorded in the clean phase;
//! - each injected difference is exactly one discrepancy — two reconcilers report one record —
//!   of its class, naming its payout, with both sides' amounts as the bank's record and the
//!   ledger's payout give them, blocking exactly its customer, recorded within **one matching
//!   period** (`MATCHING_PERIOD_MS`) of the moment it became detectable (the bank-side event:
//!   the told-but-unbooked execution, the execution, the second execution, the return; or the
//!   ledger making the payout final, when that came later). The five classes are differences
//!   of one movement, found by the matching (对账), so the matching period is their bound; the
//!   balance check (账证核对, every `BALANCE_PERIOD_MS`) sees them only as a sum;
//! - nothing else is found: every movement discrepancy is about an injected payout, and every
//!   balance mismatch blocks nobody (the configuration names no account) and is the effect of
//!   some of its bank's injected differences (each moves the balance by its whole effect once
//!   both sides have settled), the whole effect among them;
//! - the accounts outflow-blocked at the end are exactly the five customers.
//!
//! The bank checkers of the harness still run, with the mishandled payouts' debits left out of
//! "executed at most once" (an injected duplicate breaks it by design).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tianping_bank_adapters::gateway::{Direction, EndToEndId};
use tianping_bank_sim::bank::records::{InstructionRecord, InstructionStatus};
use tianping_bank_sim::faults::Fault;
use tianping_bank_sim::simulator::BankSimulator;
use tianping_client::{Client, DiscrepancyQuery, ResultCode};
use tianping_history::checker::reconciliation::{self, Injected, ReconciliationRun};
use tianping_ledger::codec::decode_value;
use tianping_ledger::collection::Collection;
use tianping_ledger::{
    Account, AccountStatus, Discrepancy, DiscrepancyClass, LedgerStore, Payout, PayoutState, Table,
};

use super::Report;
use super::bank_harness::{self, Driven, Judge, Judged, Scene};
use super::harness::{FaultLog, secs};
use crate::bank::reconcilers::{self, JUDGED_WITHIN, MATCHING_PERIOD_MS, Reconcilers};
use crate::bank::workload::{self, AskedPayout, PAYOUT_AMOUNT};
use crate::bank::{BANKS, SimBank, unix_ms, with_simulator};
use crate::faults;
use crate::world::{World, WorldConfig};

/// The data centers (indexes) a reconciler runs in: two, so the service runs twice at once.
const RECONCILER_DATA_CENTERS: [usize; 2] = [0, 1];
/// Rounds of node faults in the clean phase.
const CLEAN_FAULT_ROUNDS: std::ops::RangeInclusive<u32> = 2..=3;
/// Rounds of node faults while the differences are injected.
const INJECTED_FAULT_ROUNDS: std::ops::RangeInclusive<u32> = 1..=2;
/// How long one node fault holds before it is healed, seconds.
const FAULT_HOLD_S: std::ops::Range<u64> = 2..6;
/// Calm between two rounds of faults, seconds.
const BETWEEN_FAULTS_S: std::ops::Range<u64> = 1..4;
/// When, after the clean phase, each injection starts, ms.
const INJECT_WITHIN_MS: std::ops::Range<u64> = 0..10_000;
/// How long after executing the bank returns a `return-unnotified` payout, ms.
const RETURN_AFTER_MS: std::ops::Range<u64> = 1_000..5_000;
/// Payouts tried per class before the injection counts as failed: a directive is lost to a
/// status query whenever a claim's lease runs out before its submit (one injection in six
/// under cross-border faults), and the faults end within the first few attempts.
const INJECTION_ATTEMPTS: u128 = 20;
/// How long the bank may take to decide an injected payout (execute or reject it).
const BANK_DECIDED_BOUND: Duration = Duration::from_secs(60);
/// How often the drill looks at the bank's record of an injected payout.
const BANK_POLL: Duration = Duration::from_millis(250);
/// How often the judge lists the discrepancies while it waits for the injected ones.
const DISCREPANCY_POLL: Duration = Duration::from_secs(2);
/// The customers of the injected payouts, one per class (in `MISHANDLINGS` order).
const CLASS_CUSTOMERS: [u128; 5] = [3_011, 3_012, 3_013, 3_014, 3_015];
/// The first payout id of the injections: class `i`, attempt `a` is
/// `+ ATTEMPT_IDS_PER_CLASS * i + a`, far above the workload's ids.
const FIRST_INJECTED_PAYOUT_ID: u128 = 9_000_001;
/// Payout ids set aside per class.
const ATTEMPT_IDS_PER_CLASS: u128 = 100;

const _: () = assert!(INJECTION_ATTEMPTS <= ATTEMPT_IDS_PER_CLASS, "classes' ids never overlap");

const NS_PER_MS: u64 = 1_000_000;

/// Longest the injected phase's faults can keep the reconcilers from judging, ms: every round
/// held to the end, plus a cross-border failover (~5.3 s, `tests/failover_time.rs`) each.
const INJECTED_FAULTS_MS_MAX: u64 =
    *INJECTED_FAULT_ROUNDS.end() as u64 * (FAULT_HOLD_S.end * 1_000 + 6_000);

const _: () = assert!(
    JUDGED_WITHIN.as_millis() + INJECTED_FAULTS_MS_MAX as u128 <= MATCHING_PERIOD_MS as u128,
    "a difference injected under the faults must be found within one matching period"
);

/// How the bank mishandles one payout: the booking faults of the simulator, one per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mishandling {
    /// Told executed, nothing booked: the ledger pays what the bank never did.
    DropBooking,
    /// Executed and booked, told rejected: the ledger voids what the bank paid.
    ExecuteReportRejected,
    /// Executed one minor unit off, either way.
    AmountOff,
    /// Executed twice under one end-to-end id.
    ExecuteTwice,
    /// Returned a few seconds after executing, and never notified.
    ReturnUnnotified,
}

/// Every mishandling, once per seed (the customers of `CLASS_CUSTOMERS` in this order).
const MISHANDLINGS: [Mishandling; 5] = [
    Mishandling::DropBooking,
    Mishandling::ExecuteReportRejected,
    Mishandling::AmountOff,
    Mishandling::ExecuteTwice,
    Mishandling::ReturnUnnotified,
];

impl Mishandling {
    /// The simulator's name of the fault.
    const fn name(self) -> &'static str {
        match self {
            Mishandling::DropBooking => "drop-booking",
            Mishandling::ExecuteReportRejected => "execute-report-rejected",
            Mishandling::AmountOff => "amount-off",
            Mishandling::ExecuteTwice => "execute-twice",
            Mishandling::ReturnUnnotified => "return-unnotified",
        }
    }

    /// The directive, its parameters drawn from the seed.
    fn fault(self) -> Fault {
        match self {
            Mishandling::DropBooking => Fault::DropBooking,
            Mishandling::ExecuteReportRejected => {
                Fault::ExecuteReportRejected { reason_code: "AC04".to_owned() }
            }
            Mishandling::AmountOff => {
                Fault::AmountOff { minor_units: if thread_rng().gen_bool(0.5) { 1 } else { -1 } }
            }
            Mishandling::ExecuteTwice => Fault::ExecuteTwice,
            Mishandling::ReturnUnnotified => {
                Fault::ReturnUnnotified { after_ms: thread_rng().gen_range(RETURN_AFTER_MS) }
            }
        }
    }

    /// Whether the bank's record shows this mishandling (`None`: not decided yet).
    fn took(self, record: &InstructionRecord) -> Option<bool> {
        let faults = &record.booking_faults;
        let executions = record.executions.len();
        Some(match (self, &record.status) {
            (_, InstructionStatus::Pending { .. }) => return None,
            (Mishandling::DropBooking, InstructionStatus::Executed { .. }) => {
                faults.drop_booking && executions == 0
            }
            (Mishandling::ExecuteReportRejected, InstructionStatus::Rejected { .. }) => {
                faults.report_rejected.is_some() && executions == 1
            }
            (Mishandling::AmountOff, InstructionStatus::Executed { .. }) => {
                faults.amount_off_minor_units != 0
                    && record.executions.first().map(|e| e.amount) != Some(record.order.amount)
            }
            (Mishandling::ExecuteTwice, InstructionStatus::Executed { .. }) => {
                faults.execute_twice && executions == 2
            }
            (Mishandling::ReturnUnnotified, InstructionStatus::Executed { .. }) => {
                faults.return_unnotified && record.return_after_ms.is_some() && executions == 1
            }
            _ => false,
        })
    }
}

/// What the reconciler must record for a mishandled payout, from what the bank really booked
/// and the payout as the ledger ended: (class, the state the ledger must end in, ledger
/// amount, bank amount, balance effect as bank minus ledger, the bank-side event in Unix ms).
type Expectation = (DiscrepancyClass, PayoutState, Option<u128>, Option<u128>, i128, u64);

/// The table of what each mishandling must be found as (issue 13's classes).
fn expectation(
    mishandling: Mishandling,
    record: &InstructionRecord,
    payout: &Payout,
) -> Result<Expectation, String> {
    let amount = payout.amount;
    let signed = |value: u128| i128::try_from(value).map_err(|_| format!("amount {value}"));
    let execution = |index: usize| {
        record
            .executions
            .get(index)
            .map(|e| (e.amount.minor_units, e.at_ms))
            .ok_or(format!("no execution {index} at the bank"))
    };
    Ok(match mishandling {
        Mishandling::DropBooking => {
            let InstructionStatus::Executed { at_ms, .. } = record.status else {
                return Err("not told executed".to_owned());
            };
            let class = DiscrepancyClass::MissingAtBank;
            (class, PayoutState::Succeeded, Some(amount), None, signed(amount)?, at_ms)
        }
        Mishandling::ExecuteReportRejected => {
            let (paid, at_ms) = execution(0)?;
            let class = DiscrepancyClass::MissingInLedger;
            (class, PayoutState::Failed, None, Some(paid), -signed(paid)?, at_ms)
        }
        Mishandling::AmountOff => {
            let (paid, at_ms) = execution(0)?;
            let effect = signed(amount)? - signed(paid)?;
            let class = DiscrepancyClass::AmountMismatch;
            (class, PayoutState::Succeeded, Some(amount), Some(paid), effect, at_ms)
        }
        Mishandling::ExecuteTwice => {
            let (paid, at_ms) = execution(1)?;
            let class = DiscrepancyClass::DuplicateAtBank;
            (class, PayoutState::Succeeded, Some(amount), Some(paid), -signed(paid)?, at_ms)
        }
        Mishandling::ReturnUnnotified => {
            let (paid, _) = execution(0)?;
            let at_ms = record.returned.as_ref().map(|r| r.at_ms).ok_or("never returned")?;
            let class = DiscrepancyClass::ReversedAtBank;
            (class, PayoutState::Succeeded, Some(amount), Some(paid), signed(paid)?, at_ms)
        }
    })
}

/// One payout the bank mishandled as directed.
#[derive(Clone, Debug)]
struct Placed {
    mishandling: Mishandling,
    bank: SimBank,
    payout_id: u128,
    customer: u128,
}

/// Runs one seed of the drill on a world shaped by `config` (with a bank).
pub async fn run(config: &WorldConfig) -> Report {
    bank_harness::run_judged(config, drive).await
}

/// A judge with nothing to do but report `violation` (the drill could not set itself up).
fn failed(violation: String) -> Option<Judge> {
    Some(Box::pin(async move { Judged { violations: vec![violation], ..Judged::default() } }))
}

/// The fault log and a judge that reports only `violation` (the drill could not set itself up).
fn unprepared(log: FaultLog, violation: String) -> Driven {
    Driven {
        log,
        payouts: Vec::new(),
        funded: Vec::new(),
        mishandled: BTreeSet::new(),
        judge: failed(violation),
    }
}

async fn drive(scene: Scene) -> Driven {
    let Scene { world, simulator, keys, mut log } = scene;
    let client = match workload::sdk(&world) {
        Ok(client) => client,
        Err(error) => return unprepared(log, error),
    };
    let funded = match workload::add_customers(&client, &CLASS_CUSTOMERS).await {
        Ok(funded) => funded,
        Err(error) => return unprepared(log, format!("setup: {error}")),
    };
    let reconcilers = match Reconcilers::start(&world, &keys, &RECONCILER_DATA_CENTERS) {
        Ok(reconcilers) => reconcilers,
        Err(error) => return unprepared(log, error),
    };
    log.push(format!("reconcilers started in data centers 1 and 2 ({}); clean phase", periods()));
    for _ in 0..thread_rng().gen_range(CLEAN_FAULT_ROUNDS) {
        node_fault_round(&world, &mut log).await;
    }
    madsim::time::sleep(JUDGED_WITHIN).await;
    let clean_until_ns = unix_ms().saturating_mul(NS_PER_MS);
    log.push("clean phase over: injecting one payout of each class under node faults");
    let injected = injected_phase(&world, &client, &simulator, &mut log).await;
    let mishandled: BTreeSet<(u32, String)> =
        injected.placed.iter().map(|p| (p.bank.number, p.payout_id.to_string())).collect();
    let input = JudgeInput {
        world,
        simulator,
        client,
        reconcilers,
        placed: injected.placed,
        problems: injected.problems,
        clean_until_ns,
    };
    Driven {
        log,
        payouts: injected.payouts,
        funded,
        mishandled,
        judge: Some(Box::pin(judge(input))),
    }
}

/// What the injected phase did.
struct InjectedPhase {
    /// The payouts the bank mishandled as directed.
    placed: Vec<Placed>,
    /// Injections that did not take, and why.
    problems: Vec<String>,
    /// Every payout the injections created.
    payouts: Vec<AskedPayout>,
}

/// The injected phase: one injection task per mishandling, each starting at a moment drawn
/// from the seed, while rounds of node faults strike; then every task's report.
async fn injected_phase(
    world: &Arc<World>,
    client: &Client,
    simulator: &Arc<Mutex<BankSimulator>>,
    log: &mut FaultLog,
) -> InjectedPhase {
    let injections: Vec<_> = MISHANDLINGS
        .iter()
        .zip(CLASS_CUSTOMERS)
        .zip(0u128..)
        .map(|((&mishandling, customer), index)| {
            let bank = BANKS[thread_rng().gen_range(0..BANKS.len())];
            let start = Duration::from_millis(thread_rng().gen_range(INJECT_WITHIN_MS));
            let first_id = FIRST_INJECTED_PAYOUT_ID + ATTEMPT_IDS_PER_CLASS * index;
            let target = Target { mishandling, bank, customer, first_id };
            let (client, simulator) = (client.clone(), simulator.clone());
            madsim::task::spawn(async move {
                madsim::time::sleep(start).await;
                inject(&client, &simulator, target).await
            })
        })
        .collect();
    for _ in 0..thread_rng().gen_range(INJECTED_FAULT_ROUNDS) {
        node_fault_round(world, log).await;
    }
    let mut phase = InjectedPhase { placed: Vec::new(), problems: Vec::new(), payouts: Vec::new() };
    for task in injections {
        let report = match task.await {
            Ok(report) => report,
            Err(error) => {
                phase.problems.push(format!("an injection task failed: {error}"));
                continue;
            }
        };
        for (at, line) in report.lines {
            log.push_at(at, line);
        }
        phase.payouts.extend(report.attempted);
        match report.placed {
            Some(Ok(one)) => phase.placed.push(one),
            Some(Err(problem)) => phase.problems.push(problem),
            None => phase.problems.push("an injection ended without a verdict".to_owned()),
        }
    }
    phase
}

/// One round of the usual node faults: one drawn from the seed, held 2–6 s, healed (crashed
/// nodes restarted), then a short calm.
async fn node_fault_round(world: &Arc<World>, log: &mut FaultLog) {
    let data_centers = world.data_center_count();
    let line = match thread_rng().gen_range(0..8) {
        0 => {
            let up = world.running();
            match up.get(thread_rng().gen_range(0..up.len().max(1))) {
                Some(victim) => faults::crash(world, *victim),
                None => "no running node to crash".to_owned(),
            }
        }
        1 => faults::kill_leader(world).await,
        2 => faults::kill_leader_data_center(world).await,
        3 => faults::power_loss(world),
        4 | 5 => faults::partition(world, thread_rng().gen_range(0..data_centers)),
        6 => faults::partition_one_way(
            world,
            thread_rng().gen_range(0..data_centers),
            thread_rng().gen_bool(0.5),
        ),
        _ => faults::pause::random(world, 0.5).await,
    };
    log.push(line);
    madsim::time::sleep(secs(FAULT_HOLD_S)).await;
    log.push(faults::heal(world));
    log.push(faults::restart_crashed(world).await);
    madsim::time::sleep(secs(BETWEEN_FAULTS_S)).await;
}

/// What one injection task reports.
#[derive(Default)]
struct InjectionReport {
    /// Its log lines, with when each happened.
    lines: Vec<(madsim::time::Instant, String)>,
    /// Every payout it created (or may have created).
    attempted: Vec<AskedPayout>,
    /// The payout the bank mishandled as directed, or why there is none.
    placed: Option<Result<Placed, String>>,
}

impl InjectionReport {
    fn note(&mut self, line: String) {
        self.lines.push((madsim::time::Instant::now(), line));
    }

    fn end(mut self, placed: Result<Placed, String>) -> InjectionReport {
        self.placed = Some(placed);
        self
    }
}

/// One injection: which mishandling, where, on whose payouts, from which payout id.
struct Target {
    mishandling: Mishandling,
    bank: SimBank,
    customer: u128,
    first_id: u128,
}

/// The injection of `target`: a directive on the next payout id, then the payout; again with
/// the next id while the bank's record shows a normal payout (the directive was consumed by a
/// status query before the payment order arrived).
async fn inject(
    client: &Client,
    simulator: &Arc<Mutex<BankSimulator>>,
    target: Target,
) -> InjectionReport {
    let Target { mishandling, bank, customer, first_id } = target;
    let mut report = InjectionReport::default();
    for payout_id in first_id..first_id + INJECTION_ATTEMPTS {
        let what = format!(
            "{} on payout {payout_id} (customer {customer}, bank {})",
            mishandling.name(),
            bank.number
        );
        let Ok(end_to_end_id) = EndToEndId::from_payout_id(payout_id) else {
            return report.end(Err(format!("{what}: no end-to-end id")));
        };
        let fault = mishandling.fault();
        let directed = with_simulator(simulator, |simulator| {
            simulator.bank_mut(bank.id).map(|hosted| {
                hosted.bank.add_directive(end_to_end_id.clone(), vec![fault.clone()]);
            })
        });
        if directed.is_none() {
            return report.end(Err(format!("{what}: no bank {}", bank.id)));
        }
        let amount = thread_rng().gen_range(PAYOUT_AMOUNT);
        let payout = workload::new_payout(payout_id, customer, bank.number, amount);
        let accepted = match client.create_payout(payout).await {
            Ok(result) => Some(matches!(result.code, ResultCode::Ok | ResultCode::Exists)),
            Err(tianping_client::Error::Refused { .. }) => Some(false),
            Err(_) => None,
        };
        let beneficiary_account = format!("B{payout_id}");
        report.attempted.push(AskedPayout {
            id: payout_id,
            bank: bank.number,
            beneficiary_account,
            accepted,
        });
        if accepted == Some(false) {
            return report.end(Err(format!("{what}: the ledger refused the payout")));
        }
        // An unknown creation is decided by the bank like any other payout, if it exists.
        report.note(format!("{what}: directed {fault:?} (payout accepted: {accepted:?})"));
        match decided(simulator, bank, &end_to_end_id, mishandling).await {
            Some(true) => {
                report.note(format!("{what}: the bank mishandled it as directed"));
                return report.end(Ok(Placed { mishandling, bank, payout_id, customer }));
            }
            Some(false) => report.note(format!(
                "{what}: the bank handled it normally (a status query took the directive first); next payout"
            )),
            None => {
                let why = format!("the bank did not decide it within {BANK_DECIDED_BOUND:?}");
                return report.end(Err(format!("{what}: {why}")));
            }
        }
    }
    let why =
        format!("{}: no payout of {INJECTION_ATTEMPTS} took the directive", mishandling.name());
    report.end(Err(why))
}

/// Waits until the bank has decided payout `end_to_end_id`: whether it shows `mishandling`
/// (`None`: not decided within `BANK_DECIDED_BOUND`).
async fn decided(
    simulator: &Arc<Mutex<BankSimulator>>,
    bank: SimBank,
    end_to_end_id: &EndToEndId,
    mishandling: Mishandling,
) -> Option<bool> {
    let deadline = madsim::time::Instant::now() + BANK_DECIDED_BOUND;
    while madsim::time::Instant::now() < deadline {
        let took = with_simulator(simulator, |simulator| {
            let hosted = simulator.bank(bank.id)?;
            mishandling.took(hosted.bank.instructions().get(end_to_end_id)?)
        });
        if took.is_some() {
            return took;
        }
        madsim::time::sleep(BANK_POLL).await;
    }
    None
}

/// What the judge needs, handed over by `drive`.
struct JudgeInput {
    world: Arc<World>,
    simulator: Arc<Mutex<BankSimulator>>,
    client: Client,
    reconcilers: Reconcilers,
    placed: Vec<Placed>,
    problems: Vec<String>,
    clean_until_ns: u64,
}

/// The drill's own checks (module doc): wait for the injected differences to be found and the
/// tail of the traffic to be judged, stop the reconcilers, read the leader's ledger, check.
async fn judge(input: JudgeInput) -> Judged {
    let JudgeInput { world, simulator, client, reconcilers, placed, problems, clean_until_ns } =
        input;
    let mut judged = Judged { violations: problems, ..Judged::default() };
    await_findings(&client, &placed).await;
    judged.violations.extend(reconcilers.stop().await);
    let read = match read_leader(&world).await {
        Ok(read) => read,
        Err(problem) => {
            judged.violations.push(format!("reconciliation: {problem}"));
            return judged;
        }
    };
    let mut injected = Vec::new();
    for one in &placed {
        match expected(&simulator, one, &read) {
            Ok(row) => injected.push(row),
            Err(problem) => judged.violations.push(problem),
        }
    }
    let slowest = note_detections(&mut judged, &injected, &read);
    let run = ReconciliationRun {
        discrepancies: read.discrepancies.clone(),
        outflow_blocked: read.blocked.clone(),
        clean_until_ns,
        injected,
        detection_bound_ns: MATCHING_PERIOD_MS * NS_PER_MS,
        balance_block_account_ids: Vec::new(),
    };
    judged.violations.extend(reconciliation::check(&run));
    let balances = read
        .discrepancies
        .iter()
        .filter(|d| d.request.class == DiscrepancyClass::BalanceMismatch)
        .count();
    let mut actors: BTreeMap<&str, usize> = BTreeMap::new();
    for discrepancy in &read.discrepancies {
        *actors.entry(discrepancy.request.actor.as_str()).or_default() += 1;
    }
    judged.load = format!(
        "reconciliation: {} discrepancies ({balances} balance; first recorded by {actors:?}), {} accounts blocked, {} of {} classes injected, found at most {:.1}s after detectable; collections booked at most {:.1}s after the bank",
        read.discrepancies.len(),
        read.blocked.len(),
        placed.len(),
        MISHANDLINGS.len(),
        slowest.as_secs_f64(),
        collection_lag(&simulator, &read).as_secs_f64()
    );
    judged
}

/// Waits until every placed difference has a discrepancy and the reconcilers have had
/// `JUDGED_WITHIN` to judge the tail of the traffic; at most a matching period more.
async fn await_findings(client: &Client, placed: &[Placed]) {
    let settled = madsim::time::Instant::now() + JUDGED_WITHIN;
    let hard = settled + Duration::from_millis(MATCHING_PERIOD_MS);
    loop {
        let now = madsim::time::Instant::now();
        let all_found = listed(client).await.is_some_and(|found| {
            placed.iter().all(|p| found.contains(&(p.bank.number, p.payout_id.to_string())))
        });
        if (all_found && now >= settled) || now >= hard {
            return;
        }
        madsim::time::sleep(DISCREPANCY_POLL).await;
    }
}

/// The leader's ledger, read.
async fn read_leader(world: &World) -> Result<Read, String> {
    let leader = world.leader().ok_or("no leader to read the ledger from")?;
    Ok(Read::of(&world.replica(leader).await?.ledger))
}

/// One fault-log line per injected difference: who recorded it and how long after it became
/// detectable. The slowest, for the load line.
fn note_detections(judged: &mut Judged, injected: &[Injected], read: &Read) -> Duration {
    let mut slowest = Duration::ZERO;
    for row in injected {
        let recorded = read.discrepancies.iter().find(|d| {
            d.request.class != DiscrepancyClass::BalanceMismatch
                && d.request.reference == row.payout_id.to_string()
        });
        let after = recorded.map_or("never recorded".to_owned(), |d| {
            let delay = Duration::from_nanos(d.timestamp.saturating_sub(row.detectable_at_ns));
            slowest = slowest.max(delay);
            let seconds = delay.as_secs_f64();
            format!("recorded by {} {seconds:.1}s after it was detectable", d.request.actor)
        });
        judged.lines.push(format!(
            "{} on payout {} at bank {} (account {}): {after}",
            row.class.name(),
            row.payout_id,
            row.bank,
            row.account_id
        ));
    }
    slowest
}

/// The (bank, reference) of every discrepancy recorded so far, through the SDK; `None` when
/// the cluster did not answer.
async fn listed(client: &Client) -> Option<BTreeSet<(u32, String)>> {
    let mut found = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page =
            client.list_discrepancies(&DiscrepancyQuery::default(), cursor.as_ref()).await.ok()?;
        found.extend(page.items.into_iter().map(|d| (d.request.bank, d.request.reference)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Some(found),
        }
    }
}

/// What the judge reads from the leader's ledger.
struct Read {
    discrepancies: Vec<Discrepancy>,
    blocked: BTreeSet<u128>,
    payouts: BTreeMap<u128, Payout>,
    collections: Vec<Collection>,
}

impl Read {
    fn of(ledger: &dyn LedgerStore) -> Read {
        let mut read = Read {
            discrepancies: Vec::new(),
            blocked: BTreeSet::new(),
            payouts: BTreeMap::new(),
            collections: Vec::new(),
        };
        ledger.visit_table(Table::Discrepancies, &mut |_, value| {
            if let Ok(discrepancy) = decode_value::<Discrepancy>(value, "discrepancy") {
                read.discrepancies.push(discrepancy);
            }
        });
        ledger.visit_table(Table::Accounts, &mut |_, value| {
            if let Ok(account) = decode_value::<Account>(value, "account")
                && account.status == AccountStatus::OutflowBlocked
            {
                read.blocked.insert(account.id);
            }
        });
        ledger.visit_table(Table::Payouts, &mut |_, value| {
            if let Ok(payout) = decode_value::<Payout>(value, "payout")
                && payout.id >= FIRST_INJECTED_PAYOUT_ID
            {
                read.payouts.insert(payout.id, payout);
            }
        });
        ledger.visit_table(Table::Collections, &mut |_, value| {
            if let Ok(collection) = decode_value::<Collection>(value, "collection") {
                read.collections.push(collection);
            }
        });
        read.discrepancies.sort_by_key(|d| (d.timestamp, d.request.id));
        read
    }
}

/// The checker's row for one placed payout, from the bank's record and the ledger's payout.
fn expected(
    simulator: &Arc<Mutex<BankSimulator>>,
    placed: &Placed,
    read: &Read,
) -> Result<Injected, String> {
    let what = format!("{} on payout {}", placed.mishandling.name(), placed.payout_id);
    let payout = read.payouts.get(&placed.payout_id).ok_or(format!("{what}: not in the ledger"))?;
    let record = with_simulator(simulator, |simulator| {
        let id = EndToEndId::from_payout_id(placed.payout_id).ok()?;
        simulator.bank(placed.bank.id)?.bank.instructions().get(&id).cloned()
    })
    .ok_or(format!("{what}: no record at the bank"))?;
    let (class, state, ledger_amount, bank_amount, balance_effect, event_ms) =
        expectation(placed.mishandling, &record, payout).map_err(|why| format!("{what}: {why}"))?;
    if payout.state != state {
        return Err(format!(
            "{what}: the ledger ended {:?}, the bank told {state:?}",
            payout.state
        ));
    }
    Ok(Injected {
        bank: placed.bank.number,
        payout_id: placed.payout_id,
        class,
        account_id: placed.customer,
        ledger_amount,
        bank_amount,
        balance_effect,
        detectable_at_ns: event_ms.saturating_mul(NS_PER_MS).max(payout.updated_at),
    })
}

/// The longest a credit waited between the bank booking it and the ledger booking it: the gap
/// the lateness (`reconcilers::LATENESS_MS`) must cover.
fn collection_lag(simulator: &Arc<Mutex<BankSimulator>>, read: &Read) -> Duration {
    let booked: BTreeMap<(u32, &str), u64> = read
        .collections
        .iter()
        .map(|c| ((c.request.bank, c.request.bank_reference.as_str()), c.timestamp))
        .collect();
    let mut lag_ms = 0u64;
    with_simulator(simulator, |simulator| {
        for bank in &BANKS {
            let Some(hosted) = simulator.bank(bank.id) else { continue };
            for entry in hosted.bank.journal() {
                if entry.direction != Direction::Credit || entry.reversal {
                    continue;
                }
                if let Some(at) = booked.get(&(bank.number, entry.bank_reference.as_str())) {
                    lag_ms = lag_ms.max((at / NS_PER_MS).saturating_sub(entry.booked_at_ms));
                }
            }
        }
    });
    Duration::from_millis(lag_ms)
}

/// The reconcilers' periods, for the seed's fault log.
fn periods() -> String {
    format!(
        "balance period {} ms, lateness {} ms, matching period {MATCHING_PERIOD_MS} ms",
        reconcilers::BALANCE_PERIOD_MS,
        reconcilers::LATENESS_MS
    )
}
