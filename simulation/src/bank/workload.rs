//! The bank workload and its evidence: the ledger accounts (customers funded first, per bank a
//! bank-in-transit, settlement and suspense account), payouts created through the SDK — each
//! to a beneficiary of its own, so a second debit to one beneficiary is visible whatever
//! end-to-end id it came under — and collections injected as credits to our custody accounts
//! at the bank (the simulator's inject API), naming a customer in the remittance (`TP<id>`)
//! or, sometimes, nobody (suspense). At the end, what the bank did and what the ledger booked
//! are converted into the plain inputs of `tianping_history::checker::bank`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::gateway::Direction;
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_sim::bank::records::InstructionStatus;
use tianping_bank_sim::simulator::BankSimulator;
use tianping_client::{
    AccountFlags, Client, ClientConfig, NewAccount, NewPayout, NewTransfer, PayoutState, ResultCode,
};
use tianping_history::checker::bank::{
    BankCredit, BankDebit, BankInstruction, BankInstructionStatus, LedgerCollection, LedgerPayout,
    LedgerPayoutState,
};
use tianping_ledger::LedgerStore;
use tianping_ledger::collection::Collection;
use tokio::sync::oneshot;

use super::{BANKS, unix_ms};
use crate::world::{API_PORT, World, lock};

/// The ledger (CNY) of the bank workload: apart from the transfer clients' ledgers 1 and 2.
pub const LEDGER: u32 = 3;
/// Transfer code of a payout's reservation.
pub const PAYOUT_CODE: u16 = 7;
/// Transfer code of a collection.
pub const COLLECTION_CODE: u16 = 4;
/// Transfer code of a returned payout booked back.
pub const REVERSAL_CODE: u16 = 5;
/// The account that funds the customers.
pub const FUNDING_ACCOUNT: u128 = 3_000;
/// The customers paying payouts (their debits may not exceed their credits).
const CUSTOMERS: [u128; 4] = [3_001, 3_002, 3_003, 3_004];
/// What each customer is funded with first, minor units.
pub const CUSTOMER_FUNDS: u128 = 1_000_000_000;
/// The first payout id of a seed (ids count up from it).
pub const FIRST_PAYOUT_ID: u128 = 5_000_001;
/// Payout amounts, minor units.
pub const PAYOUT_AMOUNT: std::ops::Range<u128> = 100..10_000;
/// Collection amounts, minor units.
const COLLECTION_AMOUNT: std::ops::Range<u128> = 1_000..50_000;
/// How fast the workload asks: the pauses between two payouts and between two collections,
/// drawn from these ranges (ms).
#[derive(Clone, Debug)]
pub struct Pace {
    /// Pause between two payouts, ms.
    pub payout_every_ms: std::ops::Range<u64>,
    /// Pause between two collections, ms.
    pub collection_every_ms: std::ops::Range<u64>,
}

/// Percent of collections that name no customer (they land in suspense).
const UNNAMED_COLLECTION_PERCENT: u32 = 15;
/// How often the end of a seed polls the ledger.
const POLL: Duration = Duration::from_secs(1);
/// Once the faults stop, every payout must be final within this: a claim stuck on a stale
/// lease (`WORKER_LEASE_MS`) comes back to a worker, whose first query and record follow
/// (`tianping_bank_worker::payout_worker::final_within_after_bank_answer` for the lease, 106 s)
/// plus one bank deadline and a claim interval of slack.
pub const PAYOUT_FINAL_BOUND: Duration = Duration::from_secs(120);
/// Once the payouts are final, every bank credit must be booked within this (the poller
/// waits `NOTIFICATIONS_POLL_INTERVAL` when idle, backs off to 30 s after failures).
pub const COLLECTIONS_BOOKED_BOUND: Duration = Duration::from_secs(60);

/// One bank's ledger accounts.
#[derive(Clone, Copy, Debug)]
pub struct BankAccounts {
    /// Where its payouts reserve into.
    pub in_transit: u128,
    /// What its collections debit.
    pub settlement: u128,
    /// Where credits nobody can take go.
    pub suspense: u128,
}

impl BankAccounts {
    /// The accounts of bank `number` (`3<number>01..03`).
    pub fn of(number: u32) -> BankAccounts {
        let base = 3_000 + u128::from(number) * 100;
        BankAccounts { in_transit: base + 1, settlement: base + 2, suspense: base + 3 }
    }
}

/// A client of the whole cluster through the SDK (the controller's).
pub fn sdk(world: &World) -> Result<Client, String> {
    let addresses = world.nodes.iter().map(|node| format!("{}:{API_PORT}", node.ip));
    let mut config = ClientConfig::new(addresses.collect::<Vec<_>>());
    config.request_id_prefix = "sim-bank-workload".to_owned();
    Client::new(config).map_err(|error| error.to_string())
}

/// Creates every account of the workload and funds the customers; the funding transfers'
/// ids (the workload's own transfers in `LEDGER`).
pub async fn set_up_ledger(client: &Client) -> Result<Vec<u128>, String> {
    let mut accounts =
        vec![NewAccount { id: FUNDING_ACCOUNT, ledger: LEDGER, code: 1, ..NewAccount::default() }];
    for id in CUSTOMERS {
        accounts.push(NewAccount {
            id,
            ledger: LEDGER,
            code: 1,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..NewAccount::default()
        });
    }
    for bank in &BANKS {
        let ids = BankAccounts::of(bank.number);
        for id in [ids.in_transit, ids.settlement, ids.suspense] {
            accounts.push(NewAccount { id, ledger: LEDGER, code: 2, ..NewAccount::default() });
        }
    }
    let results = client.create_accounts(&accounts).await.map_err(|e| format!("accounts: {e}"))?;
    if let Some(bad) =
        results.iter().find(|r| !matches!(r.code, ResultCode::Ok | ResultCode::Exists))
    {
        return Err(format!("an account of the bank workload was refused: {:?}", bad.code));
    }
    fund_customers(client, &CUSTOMERS).await
}

/// One payout the workload asked for.
#[derive(Clone, Debug)]
pub struct AskedPayout {
    /// Its id.
    pub id: u128,
    /// Its bank.
    pub bank: u32,
    /// Its beneficiary's account (unique per payout).
    pub beneficiary_account: String,
    /// Whether the ledger accepted it (`ok`/`exists`); `None`: the outcome is unknown (the
    /// end looks it up).
    pub accepted: Option<bool>,
}

/// What the workload did, shared with its tasks.
#[derive(Default)]
pub struct WorkloadLog {
    /// Every payout asked for.
    pub payouts: Vec<AskedPayout>,
    /// Collections injected at the bank: (bank, bank reference, amount).
    pub injected: Vec<(u32, String, u128)>,
    /// Injections the bank refused.
    pub failed_injections: Vec<String>,
}

/// The workload running on the controller until `stop`: payouts and collections. Each task
/// is stopped by a oneshot of its own (tokio's `watch` wakes its receivers in an order drawn
/// outside the seed), which also cuts its pause short: a stopped workload waits only for the
/// call it has in flight.
pub struct Workload {
    /// What it did.
    pub log: Arc<Mutex<WorkloadLog>>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<madsim::task::JoinHandle<()>>,
}

impl Workload {
    /// Starts creating payouts through `client` and injecting collections into `simulator`, at
    /// `pace`.
    pub fn start(client: Client, simulator: Arc<Mutex<BankSimulator>>, pace: Pace) -> Workload {
        let log = Arc::new(Mutex::new(WorkloadLog::default()));
        let (stop_payouts, payouts_stopped) = oneshot::channel();
        let (stop_collections, collections_stopped) = oneshot::channel();
        let payouts = madsim::task::spawn(create_payouts(
            client,
            log.clone(),
            payouts_stopped,
            pace.payout_every_ms,
        ));
        let collections = madsim::task::spawn(inject_collections(
            simulator,
            log.clone(),
            collections_stopped,
            pace.collection_every_ms,
        ));
        Workload {
            log,
            stops: vec![stop_payouts, stop_collections],
            tasks: vec![payouts, collections],
        }
    }

    /// Stops the workload and waits for its calls in flight.
    pub async fn stop(self) -> Arc<Mutex<WorkloadLog>> {
        for stop in self.stops {
            // A task that already ended dropped its receiver: nothing to tell.
            let _ = stop.send(());
        }
        for task in self.tasks {
            let _ = task.await;
        }
        self.log
    }
}

async fn create_payouts(
    client: Client,
    log: Arc<Mutex<WorkloadLog>>,
    mut stopped: oneshot::Receiver<()>,
    every_ms: std::ops::Range<u64>,
) {
    let mut next = FIRST_PAYOUT_ID - 1;
    loop {
        next += 1;
        let (bank, customer, amount) = {
            let mut rng = thread_rng();
            let bank = BANKS[rng.gen_range(0..BANKS.len())].number;
            (bank, CUSTOMERS[rng.gen_range(0..CUSTOMERS.len())], rng.gen_range(PAYOUT_AMOUNT))
        };
        let beneficiary_account = format!("B{next}");
        let accepted = match client.create_payout(new_payout(next, customer, bank, amount)).await {
            Ok(result) => Some(matches!(result.code, ResultCode::Ok | ResultCode::Exists)),
            Err(tianping_client::Error::Refused { .. }) => Some(false),
            Err(_) => None,
        };
        lock(&log).payouts.push(AskedPayout { id: next, bank, beneficiary_account, accepted });
        if paused_until_stopped(&mut stopped, &every_ms).await {
            return;
        }
    }
}

/// Sleeps a pause drawn from `every_ms`; `true` when told to stop first (or the sender is
/// gone), and then `stopped` must not be awaited again.
async fn paused_until_stopped(
    stopped: &mut oneshot::Receiver<()>,
    every_ms: &std::ops::Range<u64>,
) -> bool {
    let pause = Duration::from_millis(thread_rng().gen_range(every_ms.clone()));
    tokio::select! {
        // Fixed order: no draw outside the seed.
        biased;
        _ = stopped => true,
        () = madsim::time::sleep(pause) => false,
    }
}

/// Payout `id` of `amount` from `customer` through bank `bank`, to a beneficiary of its own
/// (`B<id>`).
pub fn new_payout(id: u128, customer: u128, bank: u32, amount: u128) -> NewPayout {
    NewPayout {
        id,
        debit_account_id: customer,
        credit_account_id: BankAccounts::of(bank).in_transit,
        amount,
        ledger: LEDGER,
        code: PAYOUT_CODE,
        bank,
        beneficiary: format!("B{id} Payee {id}"),
        ..NewPayout::default()
    }
}

/// Opens customer accounts `ids` beside the workload's own (same ledger, flags and funding):
/// for a drill whose payouts must each come from an account of its own. The funding
/// transfers' ids.
pub async fn add_customers(client: &Client, ids: &[u128]) -> Result<Vec<u128>, String> {
    let accounts: Vec<NewAccount> = ids
        .iter()
        .map(|&id| NewAccount {
            id,
            ledger: LEDGER,
            code: 1,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..NewAccount::default()
        })
        .collect();
    let results = client.create_accounts(&accounts).await.map_err(|e| format!("accounts: {e}"))?;
    if let Some(bad) =
        results.iter().find(|r| !matches!(r.code, ResultCode::Ok | ResultCode::Exists))
    {
        return Err(format!("a customer account was refused: {:?}", bad.code));
    }
    fund_customers(client, ids).await
}

async fn inject_collections(
    simulator: Arc<Mutex<BankSimulator>>,
    log: Arc<Mutex<WorkloadLog>>,
    mut stopped: oneshot::Receiver<()>,
    every_ms: std::ops::Range<u64>,
) {
    loop {
        if paused_until_stopped(&mut stopped, &every_ms).await {
            return;
        }
        let (bank, amount, remittance) = {
            let mut rng = thread_rng();
            let bank = BANKS[rng.gen_range(0..BANKS.len())];
            let named = rng.gen_range(0..100) >= UNNAMED_COLLECTION_PERCENT;
            let customer = CUSTOMERS[rng.gen_range(0..CUSTOMERS.len())];
            let remittance = if named { vec![format!("TP{customer}")] } else { Vec::new() };
            (bank, rng.gen_range(COLLECTION_AMOUNT), remittance)
        };
        let injected = lock(&simulator).bank_mut(bank.id).map(|hosted| {
            hosted.bank.inject_credit(
                bank.custody_account,
                Money { minor_units: amount, currency: Currency::Cny },
                "Simulated payer",
                remittance,
                None,
                unix_ms(),
            )
        });
        let mut log = lock(&log);
        match injected {
            Some(Ok(reference)) => log.injected.push((bank.number, reference, amount)),
            Some(Err(error)) => log.failed_injections.push(format!("bank {}: {error}", bank.id)),
            None => log.failed_injections.push(format!("no bank {}", bank.id)),
        }
    }
}

fn ledger_state(state: PayoutState) -> LedgerPayoutState {
    match state {
        PayoutState::Succeeded => LedgerPayoutState::Succeeded,
        PayoutState::Failed => LedgerPayoutState::Failed,
        PayoutState::Reserved | PayoutState::Claimed | PayoutState::Sent | PayoutState::Unknown => {
            LedgerPayoutState::NonFinal
        }
    }
}

/// Polls the ledger until every payout the workload asked for is final (or refused at
/// creation) or `PAYOUT_FINAL_BOUND` passes; each payout the ledger holds, with when it was
/// first seen final (`World::elapsed`).
pub async fn await_final(
    world: &World,
    client: &Client,
    asked: &[AskedPayout],
) -> Vec<LedgerPayout> {
    let started = madsim::time::Instant::now();
    let mut seen: BTreeMap<u128, LedgerPayout> = BTreeMap::new();
    let ids: Vec<u128> = asked.iter().filter(|p| p.accepted != Some(false)).map(|p| p.id).collect();
    let by_id: BTreeMap<u128, &AskedPayout> = asked.iter().map(|p| (p.id, p)).collect();
    loop {
        for chunk in ids.chunks(256) {
            let Ok(found) = client.lookup_payouts(chunk).await else { continue };
            for payout in found {
                let state = ledger_state(payout.state);
                let entry = seen.entry(payout.id).or_insert_with(|| LedgerPayout {
                    payout_id: payout.id,
                    bank: payout.bank,
                    beneficiary_account: by_id
                        .get(&payout.id)
                        .map(|p| p.beneficiary_account.clone())
                        .unwrap_or_default(),
                    state,
                    final_at: None,
                });
                entry.state = state;
                if state != LedgerPayoutState::NonFinal && entry.final_at.is_none() {
                    entry.final_at = Some(world.elapsed());
                }
            }
        }
        let known = ids.iter().filter(|id| seen.contains_key(id)).count();
        let all_final = seen.values().all(|p| p.final_at.is_some());
        // Ids whose creation outcome was unknown and that the ledger does not hold were never
        // created: only the ones it holds are payouts.
        let unknown_missing = ids.len() - known;
        let certain_missing =
            asked.iter().filter(|p| p.accepted == Some(true) && !seen.contains_key(&p.id)).count();
        if (all_final && certain_missing == 0 && unknown_missing >= certain_missing)
            || started.elapsed() >= PAYOUT_FINAL_BOUND
        {
            break;
        }
        madsim::time::sleep(POLL).await;
    }
    for payout in asked.iter().filter(|p| p.accepted == Some(true)) {
        seen.entry(payout.id).or_insert_with(|| LedgerPayout {
            payout_id: payout.id,
            bank: payout.bank,
            beneficiary_account: payout.beneficiary_account.clone(),
            state: LedgerPayoutState::NonFinal,
            final_at: None,
        });
    }
    seen.into_values().collect()
}

/// What the bank did, as the bank checkers' inputs: instructions, executed debits on our
/// custody accounts, credits to them, and each bank's conservation.
pub struct BankRecords {
    /// Every instruction, by bank and end-to-end id.
    pub instructions: Vec<BankInstruction>,
    /// Executed debits of payouts (reversals excluded).
    pub debits: Vec<BankDebit>,
    /// Credits to our custody accounts that are collections (not returns).
    pub credits: Vec<BankCredit>,
    /// The transfer ids the workers book the bank's credits to our custody accounts under,
    /// returns included (`collection_id` of each credit's bank and reference): the bank's
    /// share of the workload's transfers in `LEDGER`.
    pub booking_ids: BTreeSet<u128>,
    /// Per bank, `None` when its books balance.
    pub conservation: Vec<(String, Option<String>)>,
}

/// Reads the simulator.
pub fn bank_records(simulator: &BankSimulator) -> BankRecords {
    let mut records = BankRecords {
        instructions: Vec::new(),
        debits: Vec::new(),
        credits: Vec::new(),
        booking_ids: BTreeSet::new(),
        conservation: Vec::new(),
    };
    for bank in &BANKS {
        let Some(hosted) = simulator.bank(bank.id) else {
            records.conservation.push((bank.id.to_owned(), Some("missing".to_owned())));
            continue;
        };
        let core = &hosted.bank;
        for (end_to_end_id, record) in core.instructions() {
            let status = match record.status {
                InstructionStatus::Pending { .. } => BankInstructionStatus::Pending,
                InstructionStatus::Executed { .. } => BankInstructionStatus::Executed,
                InstructionStatus::Rejected { .. } => BankInstructionStatus::Rejected,
            };
            records.instructions.push(BankInstruction {
                bank: bank.number,
                end_to_end_id: end_to_end_id.as_str().to_owned(),
                beneficiary_account: record.order.creditor.account().to_owned(),
                status,
            });
        }
        for entry in core.journal() {
            if entry.account != bank.custody_account {
                continue;
            }
            if entry.direction == Direction::Credit {
                records.booking_ids.insert(collection_id(bank.number, &entry.bank_reference));
            }
            if entry.reversal {
                continue;
            }
            match (entry.direction, &entry.end_to_end_id) {
                (Direction::Debit, Some(end_to_end_id)) => {
                    let beneficiary = core
                        .instructions()
                        .get(end_to_end_id)
                        .map(|record| record.order.creditor.account().to_owned())
                        .unwrap_or_default();
                    records.debits.push(BankDebit {
                        bank: bank.number,
                        bank_reference: entry.bank_reference.clone(),
                        end_to_end_id: end_to_end_id.as_str().to_owned(),
                        beneficiary_account: beneficiary,
                        amount: entry.amount.minor_units,
                    });
                }
                (Direction::Credit, None) => records.credits.push(BankCredit {
                    bank: bank.number,
                    bank_reference: entry.bank_reference.clone(),
                    amount: entry.amount.minor_units,
                }),
                _ => {}
            }
        }
        let conserved = core.check_conservation().err().map(|error| error.to_string());
        records.conservation.push((bank.id.to_owned(), conserved));
    }
    records
}

/// The collections a replica's ledger booked for the bank workload's banks.
pub fn ledger_collections(ledger: &dyn LedgerStore) -> Vec<LedgerCollection> {
    let mut booked = Vec::new();
    ledger.visit_table(tianping_ledger::Table::Collections, &mut |_, value| {
        if let Ok(collection) =
            tianping_ledger::codec::decode_value::<Collection>(value, "collection")
            && BANKS.iter().any(|bank| bank.number == collection.request.bank)
        {
            booked.push(LedgerCollection {
                bank: collection.request.bank,
                bank_reference: collection.request.bank_reference.clone(),
                amount: collection.request.amount,
                transfer_id: collection.request.id,
            });
        }
    });
    booked
}

/// Funds each of `customers` with `CUSTOMER_FUNDS` from the funding account, by a transfer of
/// id `customer + 10 000` (a retry answers `exists`); those ids.
async fn fund_customers(client: &Client, customers: &[u128]) -> Result<Vec<u128>, String> {
    let funding: Vec<NewTransfer> = customers
        .iter()
        .map(|&customer| NewTransfer {
            id: customer + 10_000,
            debit_account_id: FUNDING_ACCOUNT,
            credit_account_id: customer,
            amount: CUSTOMER_FUNDS,
            ledger: LEDGER,
            code: 1,
            ..NewTransfer::default()
        })
        .collect();
    let results = client.create_transfers(&funding).await.map_err(|e| format!("funding: {e}"))?;
    if let Some(bad) =
        results.iter().find(|r| !matches!(r.code, ResultCode::Ok | ResultCode::Exists))
    {
        return Err(format!("funding a customer was refused: {:?}", bad.code));
    }
    Ok(funding.iter().map(|transfer| transfer.id).collect())
}
