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
//! arrived late — held by a node paused mid-request, say — and overwrote a newer one fails
//! the seed. `Closed` is never used: it is final and needs a zero balance, which the clients'
//! accounts never have.

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

use crate::client::{ATTEMPT_DEADLINE, LEDGERS, SharedHistory, connect};
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

/// What the desk got done.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeskReport {
    /// Changes the cluster acknowledged with `ok`.
    pub changes_ok: u64,
    /// Changes answered with a refusal, or not answered in time, or not sent because the
    /// account's controls version could not be read.
    pub changes_failed: u64,
}

/// Runs until `stop`, then reports. Accounts keep whatever status they were left in: a
/// refusal of the drills' closing probe by a leftover freeze is still a committed answer.
pub async fn run(world: Arc<World>, history: SharedHistory, stop: Arc<AtomicBool>) -> DeskReport {
    let mut report = DeskReport::default();
    let accounts: Vec<u128> = LEDGERS.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
    while !stop.load(Ordering::Relaxed) {
        madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(PAUSE_MS))).await;
        let Some(&account) = accounts.get(thread_rng().gen_range(0..accounts.len())) else {
            break;
        };
        let target = if thread_rng().gen_bool(0.6) {
            ControlTarget::Status(STATUSES[thread_rng().gen_range(0..STATUSES.len())])
        } else {
            ControlTarget::Limits(random_limits())
        };
        // Never 0 or u128::MAX, which the ledger refuses as ids.
        let change_id = thread_rng().gen_range(1..u128::MAX);
        let Some(version) = controls_version(&world, account).await else {
            report.changes_failed += 1;
            continue;
        };
        let outcome = change(&world, (change_id, account, version), target).await;
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

/// A client of a random running node.
async fn any_node(world: &World) -> Option<LedgerClient<tonic::transport::Channel>> {
    let running = world.running();
    let node = running
        .get(thread_rng().gen_range(0..running.len().max(1)))
        .and_then(|id| world.node(*id))?;
    connect(node.api_url()).await
}

/// The account's controls version, read (linearizably) through a random running node.
async fn controls_version(world: &World, account: u128) -> Option<u64> {
    let read = async {
        let mut client = any_node(world).await?;
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

/// Sends one change, decided on `version`, through a random running node; what the desk was
/// told.
async fn change(
    world: &World,
    (change_id, account, version): (u128, u128, u64),
    target: ControlTarget,
) -> ControlOutcome {
    let (reason, actor) = ("simulated incident".to_owned(), "risk-desk".to_owned());
    let (id, account_id) = (change_id.to_string(), account.to_string());
    let attempt = async {
        let mut client = any_node(world).await?;
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
    let answered: Option<CreateEventsResponse> =
        tianping_node::runtime::timeout(ATTEMPT_DEADLINE, attempt).await.ok().flatten();
    match answered.as_ref().and_then(|response| response.results.first()) {
        Some(result) if result.code_name == "ok" || result.code_name == "exists" => {
            ControlOutcome::Applied
        }
        Some(result) => ControlOutcome::Refused(result.code_name.clone()),
        None => ControlOutcome::Unknown,
    }
}
