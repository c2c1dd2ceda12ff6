//! The bank side of the simulated world (issue 12 item 6): one bank machine hosting a
//! `tianping_bank_sim::simulator::BankSimulator` with two banks — `iso1` speaking ISO 20022,
//! `direct2` speaking signed direct-connect (SM2) — and one bank worker per data center running
//! `tianping_bank_worker::run` with the real gateways over madsim's network
//! (`transport::SimTransport`) against the simulated cluster through the SDK.
//!
//! Where the bank is: in no data center (`World::create` places it outside every one, at
//! `BANK_IP`): every data center reaches it over the internet, a partitioned data center
//! loses it too, and `World::worker_cluster_links` / `World::worker_bank_links` cut a worker
//! from the cluster or from the bank alone. The simulator is seeded from the madsim seed, and
//! its time is the simulated Unix time (`unix_ms`), the clock the workers sign and date with.
//!
//! The direct-connect bank's SM2 keys are generated every seed into a temporary directory (no
//! key is committed), loaded, and the directory removed (`direct_keys`).
//!
//! - `transport`: the bank's server loop and the workers' transport.
//! - `workload`: the ledger accounts of the bank workload, payouts and collections, and the
//!   evidence the bank checkers (`tianping_history::checker::bank`) judge.
//! - `reconcilers`: the reconciler service (`tianping_reconcile::serve_with`) on the worker
//!   machines of some data centers, over the same gateways and the SDK.

pub mod reconcilers;
pub mod transport;
pub mod workload;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tianping_bank_adapters::bank_api::direct::DirectGateway;
use tianping_bank_adapters::bank_api::iso20022::Iso20022Gateway;
use tianping_bank_adapters::bank_api::{ProtocolGateway, SystemClock};
use tianping_bank_adapters::direct::{Verifier, VerifierConfig};
use tianping_bank_adapters::gateway::Party;
use tianping_bank_adapters::keys::{KeyRing, KeyRingSource, KeyRole, SignScheme};
use tianping_bank_adapters::money::Currency;
use tianping_bank_sim::bank::records::{Account, Protocol};
use tianping_bank_sim::bank::{Bank, BankSetup};
use tianping_bank_sim::config::{dev_key_files, generate_dev_keys};
use tianping_bank_sim::faults::FaultConfig;
use tianping_bank_sim::simulator::{BankSimulator, DirectSide, HostedBank};
use tianping_bank_worker::WorkerMetrics;
use tianping_bank_worker::collections::CollectionAccounts;
use tianping_bank_worker::config::{BankConfig, WorkerConfig};
use tokio::sync::oneshot;

use crate::world::{World, lock};
use transport::SimTransport;

/// The bank machine's address (the world places every machine: [`crate::world::BANK_IP`]).
pub use crate::world::BANK_IP;
/// The port the bank serves on.
pub const BANK_PORT: u16 = 9000;
/// The app id the direct-connect bank and its client share.
const APP_ID: &str = "tianping-sim";
/// How long a worker waits for one bank answer before the outcome is unknown.
pub const BANK_CALL_DEADLINE: Duration = Duration::from_secs(3);
/// The lease each worker asks for: the shortest a worker accepts, so a stale claim comes
/// back to another worker within a drill's few simulated minutes.
pub const WORKER_LEASE_MS: u64 = tianping_bank_worker::config::WORKER_LEASE_MS_MIN;
/// Payouts one worker holds per bank at once.
const CLAIM_BATCH: u32 = 16;
/// The nonces the direct-connect verifiers remember (a bound on their memory per seed).
const NONCE_CAPACITY: usize = 100_000;
/// The timestamp window of the direct-connect verifiers: answers delivered late by the
/// drills' faults stay within it.
const SIGNATURE_WINDOW_MS: u64 = 300_000;
/// The opening balance of our custody account at each bank, minor units: more than every
/// payout of a seed together.
pub const CUSTODY_OPENING: u128 = 1_000_000_000_000;

/// One bank of the simulator as the ledger and the workers know it.
#[derive(Clone, Copy, Debug)]
pub struct SimBank {
    /// The ledger's bank number.
    pub number: u32,
    /// The simulator's bank id.
    pub id: &'static str,
    /// Its protocol.
    pub protocol: Protocol,
    /// Our custody account there, which pays the payouts and receives the collections.
    pub custody_account: &'static str,
}

/// The two banks: one of each protocol.
pub const BANKS: [SimBank; 2] = [
    SimBank { number: 1, id: "iso1", protocol: Protocol::Iso20022, custody_account: "CUST0001" },
    SimBank { number: 2, id: "direct2", protocol: Protocol::Direct, custody_account: "CUST0002" },
];

/// Simulated Unix time in milliseconds (madsim's clock: the bank's and the workers' time).
pub fn unix_ms() -> u64 {
    let since =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The direct-connect bank's key rings of one seed: both sides' signing keys and public keys.
#[derive(Clone)]
pub struct DirectKeys {
    bank_signing: Arc<KeyRing>,
    bank_public: Arc<KeyRing>,
    client_signing: Arc<KeyRing>,
    client_public: Arc<KeyRing>,
}

/// Generates throwaway keys of `scheme` for the direct-connect bank into a temporary
/// directory, loads them and removes the directory. Run every seed (never cached across
/// seeds): generating draws from the seeded generator, so both runs of a determinism check
/// draw alike.
fn direct_keys(bank: &SimBank, scheme: SignScheme) -> Result<DirectKeys, String> {
    let directory = std::env::temp_dir().join(format!(
        "tianping-sim-bank-keys-{}-{}",
        std::process::id(),
        madsim::runtime::Handle::current().seed()
    ));
    generate_dev_keys(&directory, &[(bank.id, scheme)])
        .map_err(|error| format!("generating the simulation's bank keys: {error}"))?;
    let ring = |file: &str, role: KeyRole| {
        KeyRing::load(KeyRingSource::Manifest(directory.join(bank.id).join(file)), role)
            .map(Arc::new)
            .map_err(|error| format!("bank {} keys: {error}", bank.id))
    };
    let keys = DirectKeys {
        bank_signing: ring(dev_key_files::BANK_SIGNING_MANIFEST, KeyRole::Signing)?,
        bank_public: ring(dev_key_files::BANK_PUBLIC_MANIFEST, KeyRole::VerifyingOnly)?,
        client_signing: ring(dev_key_files::CLIENT_SIGNING_MANIFEST, KeyRole::Signing)?,
        client_public: ring(dev_key_files::CLIENT_PUBLIC_MANIFEST, KeyRole::VerifyingOnly)?,
    };
    // The rings hold the keys in memory; nothing of a seed stays on disk.
    let _ = std::fs::remove_dir_all(&directory);
    Ok(keys)
}

fn verifier(keys: Arc<KeyRing>) -> Verifier {
    Verifier::new(
        VerifierConfig {
            app_id: APP_ID.to_owned(),
            window_ms: SIGNATURE_WINDOW_MS,
            nonce_capacity: NONCE_CAPACITY,
        },
        keys,
    )
}

/// The simulator with both banks, seeded from the madsim seed.
pub fn simulator(keys: &DirectKeys) -> Result<BankSimulator, String> {
    let mut simulator = BankSimulator::new();
    for bank in &BANKS {
        let core = Bank::new(BankSetup {
            id: bank.id.to_owned(),
            name: format!("Simulated bank {}", bank.id),
            protocol: bank.protocol,
            accounts: vec![Account {
                number: bank.custody_account.to_owned(),
                name: format!("Tianping Custody {}", bank.number),
                currency: Currency::Cny,
                opening_balance: CUSTODY_OPENING,
                balance: CUSTODY_OPENING,
            }],
            collections: Vec::new(),
            faults: FaultConfig::default(),
            seed: thread_rng().r#gen::<u64>(),
        })
        .map_err(|error| format!("bank {}: {error}", bank.id))?;
        let direct = match bank.protocol {
            Protocol::Iso20022 => None,
            Protocol::Direct => Some(DirectSide {
                app_id: APP_ID.to_owned(),
                signing: keys.bank_signing.clone(),
                verifier: verifier(keys.client_public.clone()),
            }),
        };
        let hosted = HostedBank {
            bank: core,
            direct,
            pain002_version: tianping_bank_adapters::iso20022::pain002::Pain002Version::V10,
        };
        simulator.add(hosted).map_err(|error| error.to_string())?;
    }
    Ok(simulator)
}

/// Starts the bank's server on the bank machine, its direct-connect bank signing with
/// `scheme`; the simulator it serves, and the keys the workers need.
pub fn start_bank(
    world: &World,
    scheme: SignScheme,
) -> Result<(Arc<Mutex<BankSimulator>>, DirectKeys), String> {
    let machines = world.bank.as_ref().ok_or("the world has no bank")?;
    let direct = BANKS
        .iter()
        .find(|bank| bank.protocol == Protocol::Direct)
        .ok_or("no direct-connect bank")?;
    let keys = direct_keys(direct, scheme)?;
    let simulator = Arc::new(Mutex::new(simulator(&keys)?));
    drop(machines.bank.spawn(transport::serve(simulator.clone())));
    Ok((simulator, keys))
}

/// A gateway of either protocol over the simulator's network, so one worker serves both
/// banks (`run` takes one type).
pub type SimGateway = ProtocolGateway<SimTransport>;

/// The configuration of the worker in data center `data_center`.
fn worker_config(world: &World, data_center: usize) -> Result<WorkerConfig, String> {
    let mut banks = Vec::new();
    for bank in &BANKS {
        let accounts = workload::BankAccounts::of(bank.number);
        banks.push(BankConfig {
            collections: CollectionAccounts {
                bank: bank.number,
                ledger: workload::LEDGER,
                currency: Currency::Cny,
                settlement_account_id: accounts.settlement,
                suspense_account_id: accounts.suspense,
                collection_code: workload::COLLECTION_CODE,
                reversal_code: workload::REVERSAL_CODE,
            },
            bank_in_transit_account_id: accounts.in_transit,
            debtor: Party::new(bank.custody_account, &format!("Tianping Custody {}", bank.number))
                .map_err(|error| error.to_string())?,
            // The simulation builds its gateways over its own transport.
            connection: None,
        });
    }
    Ok(WorkerConfig {
        cluster: world
            .nodes
            .iter()
            .map(|node| format!("{}:{}", node.ip, crate::world::API_PORT))
            .collect(),
        worker_id: 9_000 + u128::try_from(data_center).unwrap_or(0) + 1,
        lease_ms: WORKER_LEASE_MS,
        claim_batch: CLAIM_BATCH,
        banks,
        low_balance: Vec::new(),
        // No socket under the simulation: the workers poll, the simulated bank pushes nothing.
        callbacks: None,
        // The simulation has no TLS.
        tls: None,
    })
}

/// Gateways to both banks (the workers' and the reconcilers'): built on the machine that uses
/// them (their endpoints live there).
pub(crate) async fn gateways(keys: DirectKeys) -> Result<BTreeMap<u32, SimGateway>, String> {
    let mut gateways = BTreeMap::new();
    for bank in &BANKS {
        let transport = SimTransport::connect(bank.id, BANK_CALL_DEADLINE)
            .await
            .map_err(|error| format!("worker transport: {error}"))?;
        let gateway = match bank.protocol {
            Protocol::Iso20022 => {
                ProtocolGateway::Iso20022(Box::new(Iso20022Gateway::new(transport, "Tianping")))
            }
            Protocol::Direct => ProtocolGateway::Direct(Box::new(DirectGateway::new(
                transport,
                APP_ID,
                keys.client_signing.clone(),
                verifier(keys.bank_public.clone()),
                Arc::new(SystemClock),
            ))),
        };
        gateways.insert(bank.number, gateway);
    }
    Ok(gateways)
}

/// The running bank workers: one per data center, until `stop`. Each is stopped by a oneshot
/// of its own, as the reconcilers are: tokio's `watch` wakes its receivers in an order drawn
/// outside the seed.
pub struct Workers {
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<madsim::task::JoinHandle<Result<(), String>>>,
}

/// Longest the workers take to stop once told.
const WORKER_STOP_BOUND: Duration = Duration::from_secs(60);

impl Workers {
    /// Starts one worker on every worker machine of the world.
    pub fn start(world: &Arc<World>, keys: &DirectKeys) -> Result<Workers, String> {
        let machines = world.bank.as_ref().ok_or("the world has no bank")?;
        let mut stops = Vec::new();
        let mut tasks = Vec::new();
        for worker in &machines.workers {
            let config = worker_config(world, worker.data_center)?;
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            let keys = keys.clone();
            tasks.push(worker.machine.spawn(async move {
                let gateways = gateways(keys).await?;
                let metrics = WorkerMetrics::new();
                // Told to stop, or its `Workers` dropped: either way it stops.
                let shutdown = async move {
                    let _ = stopped.await;
                };
                tianping_bank_worker::run(config, gateways, &metrics, shutdown)
                    .await
                    .map_err(|error| error.to_string())
            }));
        }
        Ok(Workers { stops, tasks })
    }

    /// Tells every worker to stop and waits for them; what went wrong, if anything.
    pub async fn stop(self) -> Vec<String> {
        for stop in self.stops {
            // A worker that already ended dropped its receiver; its task says why below.
            let _ = stop.send(());
        }
        let mut problems = Vec::new();
        for (index, task) in self.tasks.into_iter().enumerate() {
            match madsim::time::timeout(WORKER_STOP_BOUND, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => problems.push(format!("worker {index}: {error}")),
                Ok(Err(error)) => problems.push(format!("worker {index} failed: {error}")),
                Err(_) => problems.push(format!("worker {index} did not stop in time")),
            }
        }
        problems
    }
}

/// Locks the simulator (for the drills' faults and the evidence).
pub fn with_simulator<T>(
    simulator: &Arc<Mutex<BankSimulator>>,
    act: impl FnOnce(&mut BankSimulator) -> T,
) -> T {
    act(&mut lock(simulator))
}
