//! A drill's client workload: transfers among a fixed set of accounts, sent from every data
//! center while the faults run, every attempt and answer recorded.
//!
//! The accounts (ledger 1): eight wallets that may not overdraw (funded from a treasury, so
//! `exceeds_credits` refusals come as they drain), one wallet with a per-transfer limit (so
//! `exceeds_per_transfer_limit` refusals come) and one wallet blocked for outflow before the
//! workload starts (so every debit of it is refused). Each client sends one transfer at a
//! time and, when the answer is lost, sends the same id again until it is answered or the
//! workload stops: ids are idempotency keys, so a retry is the same transfer, never a second.
//!
//! What is recorded goes to the history checkers as they are (`tianping_history::History`)
//! and to the unavailability measure (`unavailability::Attempt`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tianping_client::{
    AccountFlags, AccountLimitsChange, AccountStatus, AccountStatusChange, Client, ClientConfig,
    Detail, EventResult, Limits, NewAccount, NewTransfer, ResultCode, RetryPolicy,
};
use tianping_history::{Ack, AckedBatch, History};

use crate::latency::Jitter;
use crate::unavailability::Attempt;

use super::DrillError;

/// The ledger every account and transfer of a drill is in.
pub const LEDGER: u32 = 1;

/// The treasury: funds the wallets, never debited by the clients.
pub const TREASURY: u128 = 100;

/// The wallets that may not overdraw (`DEBITS_MUST_NOT_EXCEED_CREDITS`).
pub const WALLETS: std::ops::RangeInclusive<u128> = 1..=8;

/// A wallet whose single debits are capped at `LIMITED_MAX`.
pub const LIMITED: u128 = 9;

/// The largest single debit of `LIMITED`.
pub const LIMITED_MAX: u128 = 300;

/// A wallet blocked for outflow before the workload starts: every debit must be refused.
pub const BLOCKED: u128 = 10;

/// What each wallet is funded with.
const FUNDING: u128 = 20_000;

/// The largest transfer the clients send.
const AMOUNT_MAX: u64 = 1_000;

/// Every account the clients use.
pub fn account_ids() -> Vec<u128> {
    let mut ids: Vec<u128> = WALLETS.collect();
    ids.extend([LIMITED, BLOCKED, TREASURY]);
    ids
}

/// One attempt's deadline: short, so a client notices a dead leader quickly and its
/// unavailability is measured, not hidden in a long wait.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// The SDK's retries within one call, before the drill's client sends the id again itself.
const RETRY: RetryPolicy = RetryPolicy {
    delay_min: Duration::from_millis(20),
    delay_max: Duration::from_millis(200),
    elapsed_max: Duration::from_millis(1_500),
    attempts_max: 8,
};

/// A client of the drill's cluster, its own data center's nodes asked first.
pub fn client(
    addresses: &[(u64, String, String)],
    data_center: &str,
) -> Result<Client, DrillError> {
    let mut ordered: Vec<String> = Vec::new();
    let own = addresses.iter().filter(|(_, dc, _)| dc == data_center);
    let others = addresses.iter().filter(|(_, dc, _)| dc != data_center);
    ordered.extend(own.chain(others).map(|(_, _, address)| address.clone()));
    let mut config = ClientConfig::new(ordered);
    config.request_timeout = ATTEMPT_TIMEOUT;
    config.connect_timeout = ATTEMPT_TIMEOUT;
    config.retry = RETRY;
    config.request_id_prefix = format!("drill-{data_center}");
    Client::new(config).map_err(|error| DrillError::Client(format!("client: {error}")))
}

/// Creates the accounts, funds the wallets, blocks `BLOCKED` and limits `LIMITED` (retrying
/// each step until `deadline`: the cluster has just elected its first leader).
pub async fn set_up(client: &Client, deadline: Instant) -> Result<(), DrillError> {
    let accounts: Vec<NewAccount> = account_ids()
        .into_iter()
        .map(|id| NewAccount {
            id,
            ledger: LEDGER,
            code: 1,
            flags: if id == TREASURY {
                AccountFlags::NONE
            } else {
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            },
            ..NewAccount::default()
        })
        .collect();
    let created =
        until(deadline, "creating the accounts", || client.create_accounts(&accounts)).await?;
    expect_applied("creating the accounts", &created)?;
    // Funding, blocking and limiting read the accounts: wait until they are there (an
    // acknowledgement is a commit, but a planted bug may answer before one).
    visible(client, deadline).await?;
    let funding: Vec<NewTransfer> = account_ids()
        .into_iter()
        .filter(|id| *id != TREASURY)
        .map(|id| NewTransfer {
            // Funding ids sit below every client's (those start at 1 << 32).
            id: 1_000 + id,
            debit_account_id: TREASURY,
            credit_account_id: id,
            amount: FUNDING,
            ledger: LEDGER,
            code: 1,
            ..NewTransfer::default()
        })
        .collect();
    let funded =
        until(deadline, "funding the wallets", || client.create_transfers(&funding)).await?;
    expect_applied("funding the wallets", &funded)?;
    let block = AccountStatusChange {
        id: 2_000,
        account_id: BLOCKED,
        expected_controls_version: 0,
        status: AccountStatus::OutflowBlocked,
        reason: "drill: a blocked account must never be debited".to_owned(),
        actor: "tianping drill".to_owned(),
    };
    let blocks = [block];
    let blocked =
        until(deadline, "blocking an account", || client.set_account_status(&blocks)).await?;
    expect_applied("blocking an account", &blocked)?;
    let limit = AccountLimitsChange {
        id: 2_001,
        account_id: LIMITED,
        expected_controls_version: 0,
        limits: Limits { per_transfer_amount_max: Some(LIMITED_MAX), ..Limits::NONE },
        reason: "drill: single debits above the limit must be refused".to_owned(),
        actor: "tianping drill".to_owned(),
    };
    let limits = [limit];
    let limited =
        until(deadline, "limiting an account", || client.set_account_limits(&limits)).await?;
    expect_applied("limiting an account", &limited)
}

/// Waits until every account reads back (linearizable), or fails at `deadline`.
async fn visible(client: &Client, deadline: Instant) -> Result<(), DrillError> {
    let ids = account_ids();
    loop {
        let found =
            until(deadline, "reading the accounts", || client.lookup_accounts(&ids)).await?;
        if found.len() == ids.len() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DrillError::Client(format!(
                "{} of {} accounts readable after their creation was acknowledged",
                found.len(),
                ids.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn until<T, F, Fut>(deadline: Instant, what: &str, mut call: F) -> Result<T, DrillError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tianping_client::Error>>,
{
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(DrillError::Client(format!("{what}: {error}"))),
        }
    }
}

fn expect_applied(what: &str, results: &[EventResult]) -> Result<(), DrillError> {
    match results.iter().find(|result| !matches!(result.code, ResultCode::Ok | ResultCode::Exists))
    {
        None => Ok(()),
        Some(result) => Err(DrillError::Client(format!(
            "{what}: refused with `{}`",
            tianping_proto::convert::result_code_name(result.code)
        ))),
    }
}

/// What the clients did, shared by every client task and the driver.
#[derive(Debug)]
pub struct Record {
    /// When the drill's clock started: every time recorded is since then.
    pub started: Instant,
    /// The history the checkers judge.
    pub history: History,
    /// Every attempt, for the unavailability measure.
    pub attempts: Vec<Attempt>,
    /// Attempts answered with a commit (`ok`, `exists` or a refusal: the entry holding the
    /// refusal was committed too), counted for throughput.
    pub committed: u64,
    /// Attempts that failed (no answer within the SDK's retries, or an error status).
    pub failed: u64,
    /// The last error a client saw, for the progress line.
    pub last_error: Option<String>,
}

/// The record, shared.
#[derive(Clone, Debug)]
pub struct Recorder {
    shared: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Recorder {
        let record = Record {
            started: Instant::now(),
            history: History::default(),
            attempts: Vec::new(),
            committed: 0,
            failed: 0,
            last_error: None,
        };
        Recorder { shared: Arc::new(Mutex::new(record)), stop: Arc::new(AtomicBool::new(false)) }
    }

    /// The record (a panic elsewhere left plain data behind; it is still usable).
    pub fn lock(&self) -> MutexGuard<'_, Record> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Time since the drill's clock started.
    pub fn now(&self) -> Duration {
        self.lock().started.elapsed()
    }

    /// Tells every client to stop after its current transfer (an unanswered one stays
    /// unknown: the read-back decides what became of it).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Records one attempt of transfer `id`, sent at `sent`: whether it was answered.
    fn record(
        &self,
        data_center: &str,
        id: u128,
        sent: Duration,
        outcome: Result<(Vec<EventResult>, u64), tianping_client::Error>,
    ) -> bool {
        let mut record = self.lock();
        let answered = match outcome {
            Ok((results, log_index)) => {
                acknowledge(&mut record.history, id, &results, log_index);
                record.committed += 1;
                true
            }
            Err(error) => {
                record.failed += 1;
                record.history.failed_attempts += 1;
                record.last_error = Some(error.to_string());
                false
            }
        };
        // A refusal is an answer from a committed entry too (the ledger refused the transfer
        // on applying it): the cluster was available for it. Only failures count against
        // availability.
        let answered_at = record.started.elapsed();
        record.attempts.push(Attempt {
            data_center: data_center.to_owned(),
            sent,
            answered: answered_at,
            committed: answered,
        });
        answered
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

/// One client: sends transfers until told to stop. `number` makes its ids its own.
pub async fn run_client(
    client: Client,
    data_center: String,
    number: u32,
    seed: u64,
    recorder: Recorder,
) {
    let mut jitter = Jitter::new(seed ^ (u64::from(number) << 48));
    let mut sequence: u128 = 0;
    let payers: Vec<u128> = {
        let mut payers: Vec<u128> = WALLETS.collect();
        payers.extend([LIMITED, BLOCKED]);
        payers
    };
    while !recorder.stopping() {
        sequence += 1;
        let id = (u128::from(number) + 1) << 32 | sequence;
        let debit = payers[pick(&mut jitter, payers.len())];
        let mut credit = payers[pick(&mut jitter, payers.len())];
        if credit == debit {
            credit = TREASURY;
        }
        let transfer = NewTransfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount: u128::from(1 + jitter.below(AMOUNT_MAX)),
            ledger: LEDGER,
            code: 1,
            ..NewTransfer::default()
        };
        recorder.lock().history.sent.insert(id);
        let mut answered = false;
        while !answered && !recorder.stopping() {
            let sent = recorder.now();
            let outcome = client.create_transfers_logged(std::slice::from_ref(&transfer)).await;
            answered = recorder.record(&data_center, id, sent, outcome);
            if !answered {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if !answered {
            recorder.lock().history.batches_unknown += 1;
        }
    }
}

fn pick(jitter: &mut Jitter, count: usize) -> usize {
    usize::try_from(jitter.below(u64::try_from(count).unwrap_or(u64::MAX))).unwrap_or(0)
}

/// Records an answer: the acknowledgement per id, the batch in acknowledgement order, and an
/// anomaly if the answer does not hold exactly one result.
fn acknowledge(history: &mut History, id: u128, results: &[EventResult], log_index: u64) {
    history.batches_acked += 1;
    let sequence = history.sequence();
    history.acked_batches.push(AckedBatch { sequence, log_index });
    let [result] = results else {
        history.anomalies.push(format!(
            "transfer {id}: a batch of 1 answered with {} results at log index {log_index}",
            results.len()
        ));
        return;
    };
    let amount = match result.detail {
        Detail::Amount(amount) => amount.to_string(),
        _ => String::new(),
    };
    let ack = Ack {
        code_name: tianping_proto::convert::result_code_name(result.code),
        timestamp: result.timestamp,
        amount,
        log_index,
    };
    history.acks.insert(id, ack);
}
