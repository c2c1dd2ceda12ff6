//! The risk desk: while the clients write, it blocks, freezes and reactivates the clients'
//! accounts and changes their outflow limits through the ledger API, as a payment company's
//! risk team does during an incident. Without it every account stays active and unlimited,
//! and the `events` checker (no accepted debit through a block, a freeze or a limit in force)
//! would hold vacuously. Its changes race the clients' transfers through every fault the
//! drill throws, so a transfer committed on one side of a leader change must still see the
//! block committed before it.
//!
//! Each change is decided on the account's controls version, read through a random running
//! node just before, and sent once, with an id drawn from the seed, to another random running
//! node within a deadline. Every change and what the desk was told joins the history
//! (`History::controls`): `checker::controls_held` holds each account's final status and
//! limits to the last acknowledged change (or an unanswered later one), so a change that
//! arrived late — held by a follower paused mid-request, say — and overwrote a newer one
//! fails the seed. `Closed` is never used: it is final and needs a zero balance, which the
//! clients' accounts never have.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tianping_history::{ControlOutcome, ControlSent};
use tianping_ledger::{AccountStatus, ControlTarget, Limits};
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
    AccountLimitsChange, AccountStatusChange, CreateEventsResponse, LookupRequest,
    SetAccountLimitsRequest, SetAccountStatusRequest,
};
use tokio::sync::oneshot;

use crate::client::{ATTEMPT_DEADLINE, LEDGERS, SharedHistory, connect};
use crate::faults;
use crate::world::{World, lock};

/// Pause between two changes, in milliseconds.
const PAUSE_MS: std::ops::Range<u64> = 300..2_500;
/// The statuses the desk sets, `active` twice as often so accounts spend most of the run open.
const STATUSES: [AccountStatus; 4] = [
    AccountStatus::Active,
    AccountStatus::Active,
    AccountStatus::OutflowBlocked,
    AccountStatus::Frozen,
];

/// One change in this many goes to a follower the desk pauses just before it sends, while
/// every node runs: the request waits in the paused follower, the desk stops waiting early
/// and decides the account again at once through the other nodes, and when the follower
/// wakes it forwards the waiting copy to the leader, after that newer change — the late copy
/// that must not overwrite it. The stall stays under the nodes' shortest election timeout:
/// a follower that wakes from a longer one has lost its leader and refuses the copy ("no
/// leader is known yet"), which is right but proves nothing — that is what an earlier
/// version of this desk, stalling 4–6 s, ran into on every seed.
const LATE_COPY_ONE_IN: u32 = 8;
/// The stall, in hundredths of the nodes' shortest election timeout.
const LATE_COPY_STALL_PERCENT: std::ops::Range<u32> = 60..80;
/// How much of the stall the desk waits for the held change's answer (none comes: the
/// follower is paused) before it decides again: the rest is the newer change's to commit.
const LATE_COPY_WAIT_DIVISOR: u32 = 4;
/// How long the held copy's call may wait for its answer once the desk stopped waiting: past
/// the stall and the forward to the leader.
const LATE_COPY_WAIT: Duration = Duration::from_secs(20);

/// What the desk got done.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeskReport {
    /// Changes the cluster acknowledged with `ok`.
    pub changes_ok: u64,
    /// Changes answered with a refusal, or not answered in time, or not sent because the
    /// account's controls version could not be read.
    pub changes_failed: u64,
    /// Changes sent through a follower paused as they arrived (`LATE_COPY_ONE_IN`).
    pub late_copies: u64,
}

/// Runs until `stop`, then reports. Accounts keep whatever status they were left in: a
/// refusal of the drills' closing probe by a leftover freeze is still a committed answer.
pub async fn run(world: Arc<World>, history: SharedHistory, stop: Arc<AtomicBool>) -> DeskReport {
    let mut report = DeskReport::default();
    let accounts: Vec<u128> = LEDGERS.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
    // The account whose last change went through a paused follower, what that change set,
    // and the follower: decided again next, to something else, through the other nodes.
    let mut decide_again: Option<(u128, ControlTarget, u64)> = None;
    while !stop.load(Ordering::Relaxed) {
        if decide_again.is_none() {
            madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(PAUSE_MS))).await;
        }
        let drawn = accounts.get(thread_rng().gen_range(0..accounts.len())).copied();
        let again = decide_again.take();
        let Some(account) = again.map(|(account, ..)| account).or(drawn) else {
            break;
        };
        // Again: the same kind of change as the one the paused follower holds, setting
        // something else, so that copy arriving late would show.
        let mut target = random_target();
        while let Some((_, earlier, _)) = again
            && (earlier == target
                || matches!(earlier, ControlTarget::Status(_))
                    != matches!(target, ControlTarget::Status(_)))
        {
            target = random_target();
        }
        // Never 0 or u128::MAX, which the ledger refuses as ids.
        let change_id = thread_rng().gen_range(1..u128::MAX);
        let avoid = again.map(|(.., held)| held);
        let Some(version) = controls_version(&world, account, avoid).await else {
            report.changes_failed += 1;
            continue;
        };
        let through =
            if thread_rng().gen_ratio(1, LATE_COPY_ONE_IN) { a_follower(&world) } else { None };
        if let Some((follower, _)) = through {
            report.late_copies += 1;
            decide_again = Some((account, target, follower));
        }
        let outcome = change(&world, (through, avoid), (change_id, account, version), target).await;
        if outcome == ControlOutcome::Applied {
            report.changes_ok += 1;
        } else {
            report.changes_failed += 1;
        }
        lock(&history).controls.push(ControlSent {
            change_id,
            account_id: account,
            target,
            outcome,
        });
    }
    report
}

/// A status (60 %) or limits change.
fn random_target() -> ControlTarget {
    if thread_rng().gen_bool(0.6) {
        ControlTarget::Status(STATUSES[thread_rng().gen_range(0..STATUSES.len())])
    } else {
        ControlTarget::Limits(random_limits())
    }
}

/// Limits around the clients' amounts (1..1000 per transfer), so some transfers pass and
/// some are refused; a third of the time, no limits at all.
fn random_limits() -> Limits {
    let mut rng = thread_rng();
    if rng.gen_bool(0.33) {
        return Limits::NONE;
    }
    Limits {
        per_transfer_amount_max: Some(rng.gen_range(200u128..900)),
        per_day_amount_max: Some(rng.gen_range(2_000u128..50_000)),
        per_day_count_max: Some(rng.gen_range(5u32..60)),
    }
}

/// A client of node `through`, or of a random running node other than `avoid`.
async fn any_node(
    world: &World,
    through: Option<u64>,
    avoid: Option<u64>,
) -> Option<LedgerClient<tonic::transport::Channel>> {
    let mut running = world.running();
    running.retain(|id| Some(*id) != avoid);
    let chosen =
        through.or_else(|| running.get(thread_rng().gen_range(0..running.len().max(1))).copied());
    connect(world.node(chosen?)?.api_url()).await
}

/// A random follower to pause mid-request, when every node runs and a leader is known, and
/// its stall.
fn a_follower(world: &World) -> Option<(u64, Duration)> {
    let running = world.running();
    if running.len() != world.nodes.len() {
        return None;
    }
    let leader = world.leader()?;
    let followers: Vec<u64> = running.into_iter().filter(|id| *id != leader).collect();
    let follower = followers.get(thread_rng().gen_range(0..followers.len().max(1))).copied()?;
    let stall = world.election_timeout_min * thread_rng().gen_range(LATE_COPY_STALL_PERCENT) / 100;
    Some((follower, stall))
}

/// The account's controls version, read (linearizably) through a random running node other
/// than `avoid`.
async fn controls_version(world: &World, account: u128, avoid: Option<u64>) -> Option<u64> {
    let read = async {
        let mut client = any_node(world, None, avoid).await?;
        let request = LookupRequest { ids: vec![account.to_string()], read: None };
        let response = client.lookup_accounts(request).await.ok()?.into_inner();
        let wanted = account.to_string();
        response
            .accounts
            .iter()
            .find(|found| found.id == wanted)
            .map(|found| found.controls_version)
    };
    tianping_node::runtime::timeout(ATTEMPT_DEADLINE, read).await.ok().flatten()
}

/// Sends one change, decided on `version`, through `through`'s follower paused for its stall
/// (else through a random running node other than `avoid`); what the desk was told.
async fn change(
    world: &Arc<World>,
    (through, avoid): (Option<(u64, Duration)>, Option<u64>),
    (change_id, account, version): (u128, u128, u64),
    target: ControlTarget,
) -> ControlOutcome {
    let (reason, actor) = ("simulated incident".to_owned(), "risk-desk".to_owned());
    let (id, account_id) = (change_id.to_string(), account.to_string());
    let world = Arc::clone(world);
    let attempt = async move {
        let mut client = any_node(&world, through.map(|(follower, _)| follower), avoid).await?;
        if let Some((follower, stall)) = through {
            // Connected: the request reaches the follower and waits there while it stalls.
            faults::pause::node(&world, follower, stall, "risk desk: ");
        }
        let answer = match target {
            ControlTarget::Status(status) => {
                let change = AccountStatusChange {
                    id,
                    account_id,
                    expected_controls_version: version,
                    status: status.name().to_owned(),
                    reason,
                    actor,
                };
                let request = SetAccountStatusRequest { changes: vec![change] };
                client.set_account_status(request).await
            }
            ControlTarget::Limits(limits) => {
                let change = AccountLimitsChange {
                    id,
                    account_id,
                    expected_controls_version: version,
                    limits: Some(tianping_proto::convert::limits(&limits)),
                    reason,
                    actor,
                };
                let request = SetAccountLimitsRequest { changes: vec![change] };
                client.set_account_limits(request).await
            }
        };
        answer.ok().map(tonic::Response::into_inner)
    };
    let answered: Option<CreateEventsResponse> = if let Some((_, stall)) = through {
        // The held copy stays in flight after the desk stops waiting, as a client that gave up
        // waiting but never closed its connection leaves it; its own deadline bounds the task.
        let (answer, answered) = oneshot::channel();
        drop(madsim::task::spawn(async move {
            let late = tianping_node::runtime::timeout(LATE_COPY_WAIT, attempt).await;
            let _ = answer.send(late.ok().flatten());
        }));
        let waited =
            tianping_node::runtime::timeout(stall / LATE_COPY_WAIT_DIVISOR, answered).await;
        waited.ok().and_then(Result::ok).flatten()
    } else {
        tianping_node::runtime::timeout(ATTEMPT_DEADLINE, attempt).await.ok().flatten()
    };
    match answered.as_ref().and_then(|response| response.results.first()) {
        Some(result) if result.code_name == "ok" || result.code_name == "exists" => {
            ControlOutcome::Applied
        }
        Some(result) => ControlOutcome::Refused(result.code_name.clone()),
        None => ControlOutcome::Unknown,
    }
}
