//! The fault tests' workload and its audit: transfers with unique ids between a few accounts,
//! every attempt recorded with what the client was told, and a check of a node's replica
//! against that record (no acknowledged transfer lost or changed, nothing applied twice,
//! balances that add up).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
    CreateAccountsRequest, CreateTransfersRequest, LookupRequest, NewAccount, NewTransfer, Transfer,
};
use tonic::transport::Channel;

use crate::processes::{CALL_TIMEOUT, CONVERGE_TIMEOUT, POLL_INTERVAL, ProcessCluster};

/// The accounts transfers move money between (ids 1..=ACCOUNTS).
pub const ACCOUNTS: u128 = 4;

const LEDGER: u32 = 156;

/// Most ids in one lookup.
const LOOKUP_CHUNK: usize = 256;

/// The transfer with id `id`: from account `1 + id % 4` to the next one, moving `1000 + id`
/// (distinct per id, so a transfer applied twice or lost shows in the balances).
pub fn transfer(id: u128) -> NewTransfer {
    let (debit, credit, amount) = planned(id);
    NewTransfer {
        id: id.to_string(),
        debit_account_id: debit.to_string(),
        credit_account_id: credit.to_string(),
        amount: amount.to_string(),
        ledger: LEDGER,
        code: 1,
        ..Default::default()
    }
}

/// Debit account, credit account and amount of transfer `id`.
fn planned(id: u128) -> (u128, u128, u128) {
    (1 + id % ACCOUNTS, 1 + (id + 1) % ACCOUNTS, 1000 + id)
}

/// What the cluster told the client about one write it acknowledged.
#[derive(Clone, Debug)]
pub struct Ack {
    pub code_name: String,
    pub timestamp: u64,
    pub amount: String,
    pub log_index: u64,
}

/// One attempt to create one transfer, and its outcome.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub id: u128,
    pub node_id: u64,
    pub sent: Instant,
    pub answered: Instant,
    /// The acknowledgement, or why there was none (gRPC code and message, or "timeout").
    pub outcome: Result<Ack, String>,
}

impl Attempt {
    /// Whether the cluster acknowledged the transfer as created.
    pub fn acknowledged(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// Sends transfer `id` to `client` (node `node_id`) once, waiting at most `timeout`.
pub async fn send_transfer(
    client: &mut LedgerClient<Channel>,
    node_id: u64,
    id: u128,
    timeout: Duration,
) -> Attempt {
    let sent = Instant::now();
    let request = CreateTransfersRequest { transfers: vec![transfer(id)] };
    let outcome = match tokio::time::timeout(timeout, client.create_transfers(request)).await {
        Err(_elapsed) => Err("timeout".to_owned()),
        Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
        Ok(Ok(response)) => {
            let response = response.into_inner();
            assert_eq!(response.results.len(), 1, "one result per transfer: {response:?}");
            let result = &response.results[0];
            Ok(Ack {
                code_name: result.code_name.clone(),
                timestamp: result.timestamp,
                amount: result.amount.clone(),
                log_index: response.log_index,
            })
        }
    };
    Attempt { id, node_id, sent, answered: Instant::now(), outcome }
}

/// Creates the accounts through `node_id`, retrying while leadership settles.
pub async fn create_accounts(cluster: &ProcessCluster, node_id: u64) -> u64 {
    let accounts = (1..=ACCOUNTS)
        .map(|id| NewAccount { id: id.to_string(), ledger: LEDGER, code: 1, ..Default::default() })
        .collect();
    let request = CreateAccountsRequest { accounts };
    let mut client = cluster.ledger(node_id);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        match tokio::time::timeout(CALL_TIMEOUT, client.create_accounts(request.clone())).await {
            Ok(Ok(response)) => {
                let response = response.into_inner();
                for result in &response.results {
                    assert!(
                        result.code_name == "ok" || result.code_name == "exists",
                        "creating accounts: {response:?}"
                    );
                }
                return response.log_index;
            }
            Ok(Err(status)) if status.code() != tonic::Code::Unavailable => {
                panic!("creating accounts: {status:?}")
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "accounts not created in {CONVERGE_TIMEOUT:?}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What one node's replica holds of the workload.
#[derive(Debug, PartialEq, Eq)]
pub struct Replica {
    /// The attempted transfers it holds, by id: (timestamp, amount).
    pub transfers: BTreeMap<u128, (u64, u128)>,
    /// Per account: (debits_posted, credits_posted).
    pub balances: BTreeMap<u128, (u128, u128)>,
}

fn parse(value: &str, what: &str) -> u128 {
    value.parse().unwrap_or_else(|error| panic!("{what} {value:?}: {error}"))
}

/// Reads node `node_id`'s replica and checks it against `attempts`:
/// - every acknowledged transfer is there with the amount and timestamp the client was told;
/// - every transfer there was attempted, with the planned accounts and amount;
/// - every account's posted debits and credits are exactly the sums of the transfers there
///   (so nothing was applied twice), and total debits equal total credits.
pub async fn audit(cluster: &ProcessCluster, node_id: u64, attempts: &[Attempt]) -> Replica {
    let mut client = cluster.ledger(node_id);
    let ids: BTreeSet<u128> = attempts.iter().map(|attempt| attempt.id).collect();
    let ids: Vec<u128> = ids.into_iter().collect();
    let mut found: Vec<Transfer> = Vec::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let request =
            LookupRequest { ids: chunk.iter().map(u128::to_string).collect(), read: None };
        let response = tokio::time::timeout(CALL_TIMEOUT, client.lookup_transfers(request))
            .await
            .unwrap_or_else(|_| panic!("node {node_id}: lookup timed out"))
            .unwrap_or_else(|status| panic!("node {node_id}: lookup transfers: {status:?}"));
        found.extend(response.into_inner().transfers);
    }
    let mut transfers = BTreeMap::new();
    let mut expected_balances: BTreeMap<u128, (u128, u128)> =
        (1..=ACCOUNTS).map(|id| (id, (0, 0))).collect();
    for transfer in &found {
        let id = parse(&transfer.id, "transfer id");
        let (debit, credit, amount) = planned(id);
        assert_eq!(parse(&transfer.debit_account_id, "debit account"), debit, "{transfer:?}");
        assert_eq!(parse(&transfer.credit_account_id, "credit account"), credit, "{transfer:?}");
        assert_eq!(parse(&transfer.amount, "amount"), amount, "{transfer:?}");
        let previous = transfers.insert(id, (transfer.timestamp, amount));
        assert!(previous.is_none(), "node {node_id}: transfer {id} listed twice");
        let entry = expected_balances.entry(debit).or_default();
        entry.0 = entry.0.checked_add(amount).expect("no overflow");
        let entry = expected_balances.entry(credit).or_default();
        entry.1 = entry.1.checked_add(amount).expect("no overflow");
    }
    for attempt in attempts {
        let Ok(ack) = &attempt.outcome else { continue };
        let Some((timestamp, amount)) = transfers.get(&attempt.id) else {
            panic!("node {node_id}: acknowledged transfer {} is missing: {attempt:?}", attempt.id)
        };
        assert_eq!(ack.code_name, "ok", "transfer {} was sent once: {attempt:?}", attempt.id);
        assert_eq!(*timestamp, ack.timestamp, "node {node_id}: timestamp of {attempt:?}");
        assert_eq!(amount.to_string(), ack.amount, "node {node_id}: amount of {attempt:?}");
    }

    let request =
        LookupRequest { ids: (1..=ACCOUNTS).map(|id| id.to_string()).collect(), read: None };
    let accounts = tokio::time::timeout(CALL_TIMEOUT, client.lookup_accounts(request))
        .await
        .unwrap_or_else(|_| panic!("node {node_id}: lookup timed out"))
        .unwrap_or_else(|status| panic!("node {node_id}: lookup accounts: {status:?}"))
        .into_inner()
        .accounts;
    assert_eq!(accounts.len(), ACCOUNTS as usize, "node {node_id}: every account exists");
    let mut balances = BTreeMap::new();
    for account in &accounts {
        let id = parse(&account.id, "account id");
        let posted = (
            parse(&account.debits_posted, "debits_posted"),
            parse(&account.credits_posted, "credits_posted"),
        );
        balances.insert(id, posted);
    }
    assert_eq!(balances, expected_balances, "node {node_id}: balances are the transfers' sums");
    let debits: u128 = balances.values().map(|(debits, _)| debits).sum();
    let credits: u128 = balances.values().map(|(_, credits)| credits).sum();
    assert_eq!(debits, credits, "node {node_id}: total debits equal total credits");
    Replica { transfers, balances }
}
