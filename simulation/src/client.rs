//! Clients: one per data center, each sending random transfer batches — valid ones and ones
//! the ledger must refuse — with a deadline per attempt and retries that reuse the batch's ids,
//! as real clients do. Each records every answer it got (`History`), which is what the
//! checkers hold the cluster to. After an acknowledged batch a client sometimes reads one of
//! its acknowledged transfers back, linearizably, through a node of another data center
//! (`ReadBack`, which `checker::reads` holds to linearizability), and sometimes reads the
//! balances of a few accounts, linearizably, through any node (`AccountRead`, which
//! `checker::balance_reads` holds to the committed log's order). Every acknowledgement and
//! every read's start takes a number from one sequence (`History::next_sequence`): the
//! simulation runs one task at a time, so that order is the real-time order the
//! linearizability check needs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use madsim::time::Instant;
use tianping_ledger::AccountFlags;
use tianping_node::pb::v1::ledger_client::LedgerClient;
use tianping_node::pb::v1::{
    Account, CreateAccountsRequest, CreateEventsResponse, CreateTransfersRequest, LookupRequest,
    NewAccount, NewTransfer,
};

use crate::planted::PlantedBug;
use crate::world::{World, lock};

/// The ledgers the clients use, and the account ids in each.
pub const LEDGERS: [(u32, [u128; 6]); 2] =
    [(1, [1, 2, 3, 4, 5, 6]), (2, [101, 102, 103, 104, 105, 106])];
/// Accounts (the last of each ledger) whose debits may not exceed their credits, so transfers
/// from them are refused until credited.
const GUARDED: [u128; 2] = [6, 106];
/// An account id nobody creates.
const MISSING_ACCOUNT: u128 = 999;
/// Deadline of one attempt.
pub const ATTEMPT_DEADLINE: Duration = Duration::from_secs(2);
/// Attempts per batch before the client gives up on it (its outcome stays unknown).
const ATTEMPTS_MAX: usize = 8;
/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(150);
/// Most transfers in one batch.
const BATCH_MAX: usize = 8;
/// Pause between two batches of one client.
const THINK_TIME: Range = 5..60;
type Range = std::ops::Range<u64>;
/// Percent of acknowledged batches after which the client reads a transfer back.
const READ_BACK_PERCENT: u32 = 30;
/// Percent of batches (answered or not) after which the client reads a few accounts'
/// balances.
const ACCOUNT_READ_PERCENT: u32 = 25;
/// Most accounts in one balance read.
const ACCOUNT_READ_MAX: usize = 3;

/// What one transfer's acknowledgement said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The result code's name (`ok`, `exists` or a refusal).
    pub code_name: String,
    /// The event's timestamp as answered (for `exists`: the original's).
    pub timestamp: u64,
    /// What the transfer moved, as answered (empty for refusals).
    pub amount: String,
    /// The log index the answer named.
    pub log_index: u64,
}

/// A linearizable read of a transfer the client had been told was committed before the
/// read started: the answer must hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBack {
    /// The transfer read.
    pub transfer_id: u128,
    /// The log index its acknowledgement named.
    pub acked_index: u64,
    /// The node that answered.
    pub node_id: u64,
    /// The applied index the answer said it reflects.
    pub applied_index: u64,
    /// Whether the answer held the transfer.
    pub found: bool,
}

/// An account's four balances, in minor units: what a balance read returns and what the
/// committed-log replay computes after every entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    /// Debits reserved by pending transfers.
    pub debits_pending: u128,
    /// Debits posted.
    pub debits_posted: u128,
    /// Credits reserved by pending transfers.
    pub credits_pending: u128,
    /// Credits posted.
    pub credits_posted: u128,
}

impl Balances {
    /// An account's balances as the API answers them (`None`: an amount that is no u128).
    fn parse(account: &Account) -> Option<Balances> {
        Some(Balances {
            debits_pending: account.debits_pending.parse().ok()?,
            debits_posted: account.debits_posted.parse().ok()?,
            credits_pending: account.credits_pending.parse().ok()?,
            credits_posted: account.credits_posted.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Balances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dp {} dP {} cp {} cP {}",
            self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted
        )
    }
}

/// An answered batch, in the order of the acknowledgements: the entry at `log_index` was
/// committed before `sequence` (whatever its events' codes: a refused event is still in the
/// committed entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckedBatch {
    /// Its place in `History::next_sequence`'s order, taken when the answer arrived.
    pub sequence: u64,
    /// The log index the answer named.
    pub log_index: u64,
}

/// A linearizable read of a few accounts' balances, answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRead {
    /// The client (its index) that read; its reads must not go back in the log.
    pub client: u32,
    /// The node that answered.
    pub node_id: u64,
    /// Its place in `History::next_sequence`'s order, taken before the request left.
    pub sequence: u64,
    /// Simulated time the read started (for reports).
    pub started: Instant,
    /// Simulated time the answer arrived (for reports).
    pub ended: Instant,
    /// The applied index the answer said it reflects at least.
    pub applied_index: u64,
    /// The highest index committed when the answer arrived (`World::highest_committed`), or
    /// `None` when the answering node was down by then (its applied entries may be above
    /// what the running nodes know: no bound).
    pub committed_bound: Option<u64>,
    /// Each account asked for, with its balances as answered (`None`: not found).
    pub accounts: Vec<(u128, Option<Balances>)>,
}

/// Everything the clients sent and were told.
#[derive(Debug, Default)]
pub struct History {
    /// Every transfer id ever sent (acknowledged or not).
    pub sent: BTreeSet<u128>,
    /// The acknowledged transfers: the last answer per id.
    pub acks: BTreeMap<u128, Ack>,
    /// Batches acknowledged, and batches given up on (outcome unknown).
    pub batches_acked: u64,
    /// Batches whose every attempt failed.
    pub batches_unknown: u64,
    /// Attempts that failed (timeout, unavailable, connection refused, ...).
    pub failed_attempts: u64,
    /// Answers that contradict themselves (wrong number of results, an id answered twice
    /// differently), found as they arrive.
    pub anomalies: Vec<String>,
    /// Answered read-backs of acknowledged transfers (unanswered ones prove nothing).
    pub reads: Vec<ReadBack>,
    /// Every answered batch, in acknowledgement order (`AckedBatch`).
    pub acked_batches: Vec<AckedBatch>,
    /// Answered balance reads, in the order they were answered (each client's in its order).
    pub account_reads: Vec<AccountRead>,
    /// The next number of the sequence that orders acknowledgements and read starts.
    pub next_sequence: u64,
    /// The clients' accounts as their creation was acknowledged: id → (result code's name,
    /// log index). An account acknowledged `ok`/`exists` must exist (`checker::acknowledged`).
    pub accounts_acked: BTreeMap<u128, (String, u64)>,
}

impl History {
    /// The next number of the acknowledgement / read-start sequence.
    pub fn sequence(&mut self) -> u64 {
        let number = self.next_sequence;
        self.next_sequence += 1;
        number
    }
}

/// The shared history.
pub type SharedHistory = Arc<Mutex<History>>;

fn record<T>(history: &SharedHistory, change: impl FnOnce(&mut History) -> T) -> T {
    change(&mut lock(history))
}

/// A client of the node at `url`, if it connects within `ATTEMPT_DEADLINE`.
pub(crate) async fn connect(url: String) -> Option<LedgerClient<tonic::transport::Channel>> {
    match tianping_node::runtime::timeout(ATTEMPT_DEADLINE, LedgerClient::connect(url)).await {
        Ok(Ok(client)) => Some(client),
        _ => None,
    }
}

/// Sends `request` once to `url`, within `ATTEMPT_DEADLINE`.
async fn attempt(url: String, request: CreateTransfersRequest) -> Option<CreateEventsResponse> {
    let mut client = connect(url).await?;
    match tianping_node::runtime::timeout(ATTEMPT_DEADLINE, client.create_transfers(request)).await
    {
        Ok(Ok(response)) => Some(response.into_inner()),
        _ => None,
    }
}

/// Reads transfer `id` (acknowledged at `acked_index`) once through node `node_id`,
/// linearizably (the default read options), within `ATTEMPT_DEADLINE`.
async fn read_back(world: &World, node_id: u64, id: u128, acked_index: u64) -> Option<ReadBack> {
    let node = world.node(node_id)?;
    let mut client = connect(node.api_url()).await?;
    let request = LookupRequest { ids: vec![id.to_string()], read: None };
    let response =
        tianping_node::runtime::timeout(ATTEMPT_DEADLINE, client.lookup_transfers(request))
            .await
            .ok()?
            .ok()?
            .into_inner();
    let found = response.transfers.iter().any(|transfer| transfer.id == id.to_string());
    Some(ReadBack {
        transfer_id: id,
        acked_index,
        node_id,
        applied_index: response.applied_index,
        found,
    })
}

/// Reads the balances of 1 to `ACCOUNT_READ_MAX` random accounts once through node `node_id`,
/// linearizably (the default read options), within `ATTEMPT_DEADLINE` per call.
async fn read_accounts(
    world: &World,
    history: &SharedHistory,
    client: u32,
    node_id: u64,
) -> Option<AccountRead> {
    let all: Vec<u128> = LEDGERS.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
    let count = thread_rng().gen_range(1..=ACCOUNT_READ_MAX);
    let mut ids: Vec<u128> = Vec::with_capacity(count);
    while ids.len() < count {
        let id = all[thread_rng().gen_range(0..all.len())];
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let node = world.node(node_id)?;
    let started = Instant::now();
    let sequence = record(history, History::sequence);
    let mut connection = connect(node.api_url()).await?;
    let request = LookupRequest { ids: ids.iter().map(u128::to_string).collect(), read: None };
    let response =
        tianping_node::runtime::timeout(ATTEMPT_DEADLINE, connection.lookup_accounts(request))
            .await
            .ok()?
            .ok()?
            .into_inner();
    let ended = Instant::now();
    let committed_bound = world.is_up(node_id).then(|| world.highest_committed());
    let mut accounts = Vec::with_capacity(ids.len());
    for id in ids {
        let answered = response.accounts.iter().find(|account| account.id == id.to_string());
        let balances = match answered {
            Some(account) => match Balances::parse(account) {
                Some(balances) => Some(balances),
                None => {
                    record(history, |history| {
                        history.anomalies.push(format!(
                            "node {node_id} answered account {id} with balances that are no amounts: {account:?}"
                        ))
                    });
                    return None;
                }
            },
            None => None,
        };
        accounts.push((id, balances));
    }
    Some(AccountRead {
        client,
        node_id,
        sequence,
        started,
        ended,
        applied_index: response.applied_index,
        committed_bound,
        accounts,
    })
}

/// Creates the accounts of `LEDGERS` through any node, retrying until the cluster answers.
pub async fn create_accounts(world: &World) -> Result<BTreeMap<u128, (String, u64)>, String> {
    let accounts: Vec<NewAccount> = LEDGERS
        .iter()
        .flat_map(|(ledger, ids)| {
            ids.iter().map(move |id| NewAccount {
                id: id.to_string(),
                ledger: *ledger,
                code: 1,
                flags: if GUARDED.contains(id) {
                    u32::from(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.0)
                } else {
                    0
                },
                ..Default::default()
            })
        })
        .collect();
    let request = CreateAccountsRequest { accounts };
    for round in 0..50 {
        let node = &world.nodes[round % world.nodes.len()];
        if let Some(mut client) = connect(node.api_url()).await {
            let sent = tianping_node::runtime::timeout(
                ATTEMPT_DEADLINE,
                client.create_accounts(request.clone()),
            )
            .await;
            if let Ok(Ok(response)) = sent {
                let response = response.into_inner();
                let bad: Vec<&str> = response
                    .results
                    .iter()
                    .map(|result| result.code_name.as_str())
                    .filter(|name| !matches!(*name, "ok" | "exists"))
                    .collect();
                return if bad.is_empty() {
                    Ok(request
                        .accounts
                        .iter()
                        .zip(&response.results)
                        .filter_map(|(account, result)| {
                            let id = account.id.parse::<u128>().ok()?;
                            Some((id, (result.code_name.clone(), response.log_index)))
                        })
                        .collect())
                } else {
                    Err(format!("creating accounts: {bad:?}"))
                };
            }
        }
        madsim::time::sleep(RETRY_PAUSE).await;
    }
    Err("the cluster never accepted the accounts".to_owned())
}

/// One random transfer: mostly valid, sometimes one the ledger must refuse.
fn random_transfer(id: u128) -> NewTransfer {
    let mut rng = thread_rng();
    let (ledger, ids) = LEDGERS[rng.gen_range(0..LEDGERS.len())];
    let debit = ids[rng.gen_range(0..ids.len())];
    let mut credit = ids[rng.gen_range(0..ids.len())];
    if credit == debit {
        credit = ids[(ids.iter().position(|x| *x == debit).unwrap_or(0) + 1) % ids.len()];
    }
    let mut transfer = NewTransfer {
        id: id.to_string(),
        debit_account_id: debit.to_string(),
        credit_account_id: credit.to_string(),
        amount: rng.gen_range(1u32..1_000).to_string(),
        ledger,
        code: 1,
        ..Default::default()
    };
    match rng.gen_range(0..100) {
        // Refused: the same account on both sides.
        0..=4 => transfer.credit_account_id = transfer.debit_account_id.clone(),
        // Refused: a debit account that does not exist.
        5..=9 => transfer.debit_account_id = MISSING_ACCOUNT.to_string(),
        // Refused: the transfer's ledger is not the accounts'.
        10..=14 => transfer.ledger = 7,
        // Usually refused: a debit from a guarded account.
        15..=19 => {
            let guarded = GUARDED[rng.gen_range(0..GUARDED.len())];
            let other: u128 = if guarded < 100 { 1 } else { 101 };
            transfer.debit_account_id = guarded.to_string();
            transfer.credit_account_id = other.to_string();
            transfer.ledger = if guarded < 100 { 1 } else { 2 };
        }
        _ => {}
    }
    transfer
}

/// Runs client `index` (attached to `data_center`) until `stop` is set.
pub async fn run(
    world: Arc<World>,
    index: u32,
    data_center: usize,
    history: SharedHistory,
    stop: Arc<AtomicBool>,
    planted: Option<PlantedBug>,
) {
    let mut next: u64 = 0;
    let local = world.nodes_in(data_center);
    while !stop.load(Ordering::Relaxed) {
        let size = thread_rng().gen_range(1..=BATCH_MAX);
        let transfers: Vec<NewTransfer> = (0..size)
            .map(|_| {
                next += 1;
                random_transfer((u128::from(index + 1) << 40) | u128::from(next))
            })
            .collect();
        let ids: Vec<u128> =
            transfers.iter().filter_map(|transfer| transfer.id.parse().ok()).collect();
        record(&history, |history| history.sent.extend(ids.iter().copied()));
        let request = CreateTransfersRequest { transfers };
        let mut answered = None;
        for attempt_number in 0..ATTEMPTS_MAX {
            // The first attempt goes to a node of the client's own data center; retries
            // wander, as a client library failing over would.
            let node_id = if attempt_number == 0 && !local.is_empty() {
                local[thread_rng().gen_range(0..local.len())]
            } else {
                thread_rng().gen_range(1..=world.nodes.len() as u64)
            };
            let Some(node) = world.node(node_id) else { continue };
            match attempt(node.api_url(), request.clone()).await {
                Some(response) => {
                    answered = Some(response);
                    break;
                }
                None => {
                    record(&history, |history| history.failed_attempts += 1);
                    madsim::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        let read_target = answered.as_ref().and_then(|response| {
            let ok = ids
                .iter()
                .zip(&response.results)
                .filter(|(_, result)| matches!(result.code_name.as_str(), "ok" | "exists"))
                .map(|(id, _)| *id)
                .next()?;
            Some((ok, response.log_index))
        });
        match answered {
            Some(response) => record(&history, |history| {
                history.batches_acked += 1;
                let sequence = history.sequence();
                history.acked_batches.push(AckedBatch { sequence, log_index: response.log_index });
                if response.results.len() != ids.len() {
                    history.anomalies.push(format!(
                        "batch of {} answered with {} results",
                        ids.len(),
                        response.results.len()
                    ));
                }
                for (id, result) in ids.iter().zip(&response.results) {
                    let ack = Ack {
                        code_name: result.code_name.clone(),
                        timestamp: result.timestamp,
                        amount: result.amount.clone(),
                        log_index: response.log_index,
                    };
                    history.acks.insert(*id, ack);
                }
            }),
            None => record(&history, |history| {
                history.batches_unknown += 1;
                if planted == Some(PlantedBug::AckUnanswered) {
                    for id in &ids {
                        let ack = Ack {
                            code_name: "ok".to_owned(),
                            timestamp: 0,
                            amount: String::new(),
                            log_index: 0,
                        };
                        history.acks.insert(*id, ack);
                    }
                }
            }),
        }
        // Read an acknowledged transfer back through a node of another data center: the
        // acknowledgement came before the read started, so a linearizable read must see it.
        if let Some((id, acked_index)) = read_target
            && thread_rng().gen_range(0..100) < READ_BACK_PERCENT
        {
            let remote: Vec<u64> =
                world.nodes.iter().filter(|n| n.data_center != data_center).map(|n| n.id).collect();
            if !remote.is_empty() {
                let node_id = remote[thread_rng().gen_range(0..remote.len())];
                if let Some(read) = read_back(&world, node_id, id, acked_index).await {
                    record(&history, |history| history.reads.push(read));
                }
            }
        }
        // Read a few balances through any node: the committed log's replay holds the answer
        // to linearizability (`checker::balance_reads`).
        if thread_rng().gen_range(0..100) < ACCOUNT_READ_PERCENT {
            let node_id = thread_rng().gen_range(1..=world.nodes.len() as u64);
            if let Some(read) = read_accounts(&world, &history, index, node_id).await {
                record(&history, |history| history.account_reads.push(read));
            }
        }
        let pause = thread_rng().gen_range(THINK_TIME);
        madsim::time::sleep(Duration::from_millis(pause)).await;
    }
}
