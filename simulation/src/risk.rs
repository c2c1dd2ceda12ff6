//! The risk desk: while the clients write, it blocks, freezes and reactivates the clients'
//! accounts and changes their outflow limits through the ledger API, as a payment company's
//! risk team does during an incident. Without it every account stays active and unlimited,
//! and the `events` checker (no accepted debit through a block, a freeze or a limit in force)
//! would hold vacuously. Its changes race the clients' transfers through every fault the
//! drill throws, so a transfer committed on one side of a leader change must still see the
//! block committed before it.
//!
//! Each change is one attempt with a deadline, to any running node; a change whose outcome is
//! unknown is simply not counted (setting a status twice is harmless). `Closed` is never
//! used: it is final and needs a zero balance, which the clients' accounts never have.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
    AccountLimits, AccountLimitsChange, AccountStatusChange, CreateEventsResponse,
    SetAccountLimitsRequest, SetAccountStatusRequest,
};

use crate::client::{ATTEMPT_DEADLINE, LEDGERS, connect};
use crate::world::World;

/// Pause between two changes, in milliseconds.
const PAUSE_MS: std::ops::Range<u64> = 300..2_500;
/// The statuses the desk sets, `active` twice as often so accounts spend most of the run open.
const STATUSES: [&str; 4] = ["active", "active", "outflow_blocked", "frozen"];

/// What the desk got done.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeskReport {
    /// Changes the cluster acknowledged with `ok`.
    pub changes_ok: u64,
    /// Changes answered with a refusal, or not answered in time.
    pub changes_failed: u64,
}

/// Runs until `stop`, then reports. Accounts keep whatever status they were left in: a
/// refusal of the drills' closing probe by a leftover freeze is still a committed answer.
pub async fn run(world: Arc<World>, stop: Arc<AtomicBool>) -> DeskReport {
    let mut report = DeskReport::default();
    let accounts: Vec<u128> = LEDGERS.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
    while !stop.load(Ordering::Relaxed) {
        madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(PAUSE_MS))).await;
        let Some(&account) = accounts.get(thread_rng().gen_range(0..accounts.len())) else {
            break;
        };
        let accepted = if thread_rng().gen_bool(0.6) {
            let status = STATUSES[thread_rng().gen_range(0..STATUSES.len())];
            set_status(&world, account, status).await
        } else {
            set_limits(&world, account, random_limits()).await
        };
        if accepted {
            report.changes_ok += 1;
        } else {
            report.changes_failed += 1;
        }
    }
    report
}

/// Limits around the clients' amounts (1..1000 per transfer), so some transfers pass and
/// some are refused; a third of the time, no limits at all.
fn random_limits() -> Option<AccountLimits> {
    let mut rng = thread_rng();
    if rng.gen_bool(0.33) {
        return None;
    }
    Some(AccountLimits {
        per_transfer_amount_max: rng.gen_range(200u32..900).to_string(),
        per_day_amount_max: rng.gen_range(2_000u32..50_000).to_string(),
        per_day_count_max: Some(rng.gen_range(5u32..60)),
    })
}

async fn set_status(world: &World, account: u128, status: &str) -> bool {
    let request = SetAccountStatusRequest {
        changes: vec![AccountStatusChange {
            account_id: account.to_string(),
            status: status.to_owned(),
            reason: "simulated incident".to_owned(),
            actor: "risk-desk".to_owned(),
        }],
    };
    send(world, |mut client| async move { client.set_account_status(request).await }).await
}

async fn set_limits(world: &World, account: u128, limits: Option<AccountLimits>) -> bool {
    let request = SetAccountLimitsRequest {
        changes: vec![AccountLimitsChange {
            account_id: account.to_string(),
            limits,
            reason: "simulated incident".to_owned(),
            actor: "risk-desk".to_owned(),
        }],
    };
    send(world, |mut client| async move { client.set_account_limits(request).await }).await
}

/// One attempt through a random running node; whether the change was acknowledged `ok`.
async fn send<F, Fut>(world: &World, call: F) -> bool
where
    F: FnOnce(LedgerClient<tonic::transport::Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<CreateEventsResponse>, tonic::Status>>,
{
    let running = world.running();
    let Some(node) =
        running.get(thread_rng().gen_range(0..running.len().max(1))).and_then(|id| world.node(*id))
    else {
        return false;
    };
    let attempt = async {
        let client = connect(node.api_url()).await?;
        call(client).await.ok().map(tonic::Response::into_inner)
    };
    match tianping_node::runtime::timeout(ATTEMPT_DEADLINE, attempt).await {
        Ok(Some(response)) => {
            response.results.first().is_some_and(|result| result.code_name == "ok")
        }
        _ => false,
    }
}
