//! The reconciler service (issue 13) in the simulated world: the production loop,
//! `tianping_reconcile::service::serve_with`, over the SDK and the same gateways the workers
//! use (`GatewayBank` over `SimGateway`), on the bank-worker machine of each data center named
//! — a reconciler per data center, as deployed, so a partition of its data center cuts it off
//! from the cluster and the bank together. Its clock is `SystemClock`, which under madsim reads
//! simulated time (as the bank's and the workers' do).
//!
//! Its configuration goes through `Config::from_toml`, the checks a deployment's file passes,
//! with periods short enough for a drill: the reconciler is the real one, only faster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tianping_bank_adapters::money::{Currency, format_minor_units};
use tianping_reconcile::service::reconciler::LEDGER_SETTLE_NS;
use tianping_reconcile::service::{
    Config, GatewayBank, ReconcileMetrics, SystemClock, client, serve_with,
};
use tokio::sync::oneshot;

use super::workload::{self, BankAccounts};
use super::{BANKS, CUSTODY_OPENING, DirectKeys, SimGateway, gateways};
use crate::world::{API_PORT, World};

/// How often each reconciler catches up, matches and checks the balance (账证核对): seconds of
/// simulated time instead of a deployment's minute, so a drill's few minutes hold many periods.
pub const BALANCE_PERIOD_MS: u64 = 2_000;

/// How long an unmatched movement waits for its partner. It must cover the longest honest gap
/// between a reconciler first seeing a credit on the statement and a worker booking it in the
/// ledger under the drills' node faults, or a collection booked late would be called missing
/// in the ledger: after the cluster comes back, a worker's notification poller may still sit
/// out one backoff (`BACKOFF_DELAY_MAX`, 30 s) while the reconcilers resume within a period.
/// Measured: up to 20.1 s between the bank's and the ledger's booking in 100 seeds with three
/// power losses back to back. Payouts recorded late need no lateness: their bank entries wait
/// as questions while the payout is in flight.
pub const LATENESS_MS: u64 = 30_000;

/// How often the matching run (对账) is summed up; the drill's bound on finding a difference of
/// one movement: it closes a lateness (and the ledger's settle) after both sides have spoken,
/// at the next period (`JUDGED_WITHIN`, 41 s), with room for node faults that fail the
/// periods meanwhile (the reconciliation drill asserts its faults fit).
pub const MATCHING_PERIOD_MS: u64 = 90_000;

/// How long a reconciler takes, at most in calm weather, to have judged everything that
/// happened before now: the entry's first sight (a period), the lateness past the ledger's
/// settle, the period that closes it and one more that records it.
pub const JUDGED_WITHIN: Duration =
    Duration::from_millis(LATENESS_MS + LEDGER_SETTLE_NS / 1_000_000 + 3 * BALANCE_PERIOD_MS);

const _: () = assert!(LATENESS_MS >= 2 * BALANCE_PERIOD_MS, "Config::from_toml's rule");
const _: () = assert!(
    LATENESS_MS as u128 >= tianping_bank_worker::payout_worker::BACKOFF_DELAY_MAX.as_millis(),
    "a credit booked after one full backoff of a worker's poller must still match"
);
const _: () = assert!(
    MATCHING_PERIOD_MS >= LATENESS_MS + LEDGER_SETTLE_NS / 1_000_000 + 4 * BALANCE_PERIOD_MS,
    "a difference must be able to close within one matching period"
);

/// The configuration of the reconciler named `name`: every bank of the world, its custody
/// account mirrored by the workload's accounts, a balance mismatch blocking nobody.
pub fn config(world: &World, name: &str) -> Result<Config, String> {
    let cluster: Vec<String> =
        world.nodes.iter().map(|node| format!("{}:{API_PORT}", node.ip)).collect();
    let mut text = format!(
        "name = {name:?}\ncluster = {cluster:?}\nbalance_period_ms = {BALANCE_PERIOD_MS}\n\
         matching_period_ms = {MATCHING_PERIOD_MS}\nlateness_ms = {LATENESS_MS}\n\
         utc_offset_seconds = 0\n"
    );
    for bank in &BANKS {
        let accounts = BankAccounts::of(bank.number);
        text.push_str(&format!(
            "[[banks]]\nbank = {}\ncurrency = \"CNY\"\naccount = {:?}\n\
             bank_in_transit_account = \"{}\"\nsettlement_account = \"{}\"\n\
             suspense_account = \"{}\"\nreversal_code = {}\nopening_baseline = \"{}\"\n\
             block_accounts = []\n",
            bank.number,
            bank.custody_account,
            accounts.in_transit,
            accounts.settlement,
            accounts.suspense,
            workload::REVERSAL_CODE,
            format_minor_units(CUSTODY_OPENING, Currency::Cny),
        ));
    }
    Config::from_toml(&text).map_err(|error| format!("reconciler {name}: {error}"))
}

/// The running reconcilers, until `stop`: each with a stop signal of its own. Not one `watch`
/// for all: tokio's watch registers each waiting receiver on one of its notifiers by a draw
/// from tokio's own generator, outside the seed, so the order the reconcilers woke — and with
/// it the run — differed between the two runs of a determinism check (seed 1 did).
pub struct Reconcilers {
    running: Vec<Running>,
}

/// One reconciler at work.
struct Running {
    name: String,
    stop: oneshot::Sender<()>,
    task: madsim::task::JoinHandle<Result<(), String>>,
}

/// Longest a reconciler takes to stop once told (it stops between two steps of a period).
const STOP_BOUND: Duration = Duration::from_secs(30);

impl Reconcilers {
    /// Starts one reconciler on the bank-worker machine of each of `data_centers` (indexes
    /// from 0), named `reconciler-dc-<n>` (from 1).
    pub fn start(
        world: &Arc<World>,
        keys: &DirectKeys,
        data_centers: &[usize],
    ) -> Result<Reconcilers, String> {
        let machines = world.bank.as_ref().ok_or("the world has no bank")?;
        let mut running = Vec::new();
        for &data_center in data_centers {
            let machine = machines
                .workers
                .get(data_center)
                .ok_or(format!("no bank-worker machine in data center {}", data_center + 1))?;
            let name = format!("reconciler-dc-{}", data_center + 1);
            let config = config(world, &name)?;
            let (stop, stopped) = oneshot::channel::<()>();
            let keys = keys.clone();
            let task = machine.machine.spawn(async move {
                let banks: BTreeMap<u32, GatewayBank<SimGateway>> = gateways(keys)
                    .await?
                    .into_iter()
                    .map(|(bank, gateway)| (bank, GatewayBank(gateway)))
                    .collect();
                let ledger = client(&config).map_err(|error| error.to_string())?;
                let metrics = ReconcileMetrics::new();
                // Told to stop, or its `Reconcilers` dropped: either way it stops.
                let shutdown = async move {
                    let _ = stopped.await;
                };
                serve_with(&config, &ledger, &banks, &SystemClock, &metrics, shutdown)
                    .await
                    .map_err(|error| error.to_string())
            });
            running.push(Running { name, stop, task });
        }
        Ok(Reconcilers { running })
    }

    /// Tells every reconciler to stop and waits for them; what went wrong, if anything.
    pub async fn stop(self) -> Vec<String> {
        let mut tasks = Vec::new();
        for Running { name, stop, task } in self.running {
            // An error means it has ended already: its task says how.
            let _ = stop.send(());
            tasks.push((name, task));
        }
        let mut problems = Vec::new();
        for (name, task) in tasks {
            match madsim::time::timeout(STOP_BOUND, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => problems.push(format!("{name}: {error}")),
                Ok(Err(error)) => problems.push(format!("{name} failed: {error}")),
                Err(_) => problems.push(format!("{name} did not stop in time")),
            }
        }
        problems
    }
}
