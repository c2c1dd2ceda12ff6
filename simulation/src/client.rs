//! Clients: one per data center, each sending random transfer batches — valid ones and ones
//! the ledger must refuse — with a deadline per attempt and retries that reuse the batch's ids,
//! as real clients do. Each records every answer it got into the `tianping_history::History`
//! the checkers hold the cluster to. After an acknowledged batch a client sometimes reads one
//! of its acknowledged transfers back, linearizably, through a node of another data center
//! (`ReadBack`, which `tianping_history::checker::reads` holds to linearizability), and
//! sometimes reads the balances of a few accounts, linearizably, through any node
//! (`AccountRead`, which `tianping_history::checker::balance_reads` holds to the committed
//! log's order). Every acknowledgement and every read's start takes a number from one
//! sequence (`History::sequence`): the simulation runs one task at a time, so that order is
//! the real-time order the linearizability check needs. Times are the world's
//! (`World::elapsed`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tianping_history::{AccountRead, Ack, AckedBatch, Balances, History, ReadBack, TimedBatch};
use tianping_ledger::AccountFlags;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
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

/// The shared history: every client of a seed records into the one `History`, so its
/// sequence numbers order all their acknowledgements and reads.
pub type SharedHistory = Arc<Mutex<History>>;

/// An account's balances as the API answers them (`None`: an amount that is no u128).
fn balances_of(account: &Account) -> Option<Balances> {
    Some(Balances {
        debits_pending: account.debits_pending.parse().ok()?,
        debits_posted: account.debits_posted.parse().ok()?,
        credits_pending: account.credits_pending.parse().ok()?,
        credits_posted: account.credits_posted.parse().ok()?,
    })
}

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
    let started = world.elapsed();
    let sequence = record(history, History::sequence);
    let mut connection = connect(node.api_url()).await?;
    let request = LookupRequest { ids: ids.iter().map(u128::to_string).collect(), read: None };
    let response =
        tianping_node::runtime::timeout(ATTEMPT_DEADLINE, connection.lookup_accounts(request))
            .await
            .ok()?
            .ok()?
            .into_inner();
    let ended = world.elapsed();
    let committed_bound = world.is_up(node_id).then(|| world.highest_committed());
    let mut accounts = Vec::with_capacity(ids.len());
    for id in ids {
        let answered = response.accounts.iter().find(|account| account.id == id.to_string());
        let balances = match answered {
            Some(account) => match balances_of(account) {
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
        // True time (madsim's, which no node's skewed clock changes): `checker::event_time`.
        let sent_ns = tianping_node::clock::system_now_ns();
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
                let timestamps = ids
                    .iter()
                    .zip(&response.results)
                    .filter(|(_, result)| matches!(result.code_name.as_str(), "ok" | "exists"))
                    .map(|(id, result)| (*id, result.timestamp))
                    .collect();
                history.timed_batches.push(TimedBatch {
                    sent_ns,
                    answered_ns: tianping_node::clock::system_now_ns(),
                    timestamps,
                });
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
        // to linearizability (`tianping_history::checker::balance_reads`).
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
