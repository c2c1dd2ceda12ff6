//! The load generator behind `tianping bench`: drives single-phase transfers against a running
//! cluster and measures its throughput and commit latency.
//!
//! `Plan::prepare` asks the node it is given for the cluster's members, opens the senders and
//! creates its own accounts (ids derived from the start time, so runs against the same cluster
//! never collide). `Plan::run` then starts `concurrency` client tasks; each sends
//! `CreateTransfers` of `batch` transfers between random accounts, waiting for each answer
//! before the next, until `duration` has passed. The first `warmup` is left out of the figures
//! (connections, caches). Only transfers the cluster answered `ok` count; any other result code
//! or error is counted as a failure and reported, so a figure is never bought with failed work.
//!
//! Sending goes through the Rust SDK (`tianping-client`) with retries off — a benchmark
//! measures what one attempt costs and reports every failure — except for
//! `Target::AllMembers`, which spreads the tasks over followers on purpose (they forward to the
//! leader); the SDK always routes to the leader, so those tasks use the wire crate's generated
//! client (`sender`). Latency percentiles come from an HDR histogram (`report`).
//!
//! This is a client tool: it reads the wall clock (for run ids and timing), unlike node code.

mod report;
mod sender;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use tianping_client::{
    Client, ClientConfig, NewAccount, NewTransfer, ResultCode, RetryPolicy, TlsFiles,
};

pub use report::Report;
use report::TaskReport;
use sender::Sender;

/// The ledger (currency) the bench's accounts and transfers use.
const BENCH_LEDGER: u32 = 840;

/// Most accounts per CreateAccounts call while setting up (the ledger's batch limit).
const SETUP_BATCH_MAX: usize = 8_190;

/// Most gRPC connections the bench opens; client tasks share them round-robin.
pub const CONNECTIONS_MAX: usize = 8;

/// Longest one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Most client tasks (each holds one request in flight).
pub const CONCURRENCY_MAX: u32 = 4_096;

/// Most accounts the bench creates.
pub const ACCOUNTS_MAX: u32 = 1_000_000;

/// Which nodes the bench sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Ask the given node who leads and send everything there (no forwarding hop).
    Leader,
    /// Spread the client tasks over every member (followers forward to the leader).
    AllMembers,
}

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchConfig {
    /// How long to send, warm-up included.
    pub duration: Duration,
    /// The first part of the run left out of the figures.
    pub warmup: Duration,
    /// Client tasks, each with one request in flight (1..=`CONCURRENCY_MAX`).
    pub concurrency: u32,
    /// Transfers per CreateTransfers request (1..=8190, the ledger's batch limit).
    pub batch: u32,
    /// Accounts the transfers move money between (2..=`ACCOUNTS_MAX`, created first).
    pub accounts: u32,
    /// Where to send.
    pub target: Target,
}

/// Why a bench could not run, or did not count.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The configuration cannot give a figure (e.g. the warm-up is the whole run).
    #[error("{0}")]
    Config(String),
    /// The cluster could not be asked who leads or which members it has.
    #[error("{address}: cluster status: {source}")]
    Status {
        /// The node asked.
        address: String,
        /// What the SDK said.
        source: tianping_client::Error,
    },
    /// The cluster has no leader, or names one it has no address for.
    #[error("{0}")]
    NoLeader(String),
    /// Creating the bench's accounts failed.
    #[error("creating accounts: {0}")]
    Setup(String),
    /// Some transfers or requests failed; the figures were printed but do not count.
    #[error("{failures} transfers or requests failed, e.g. {example}")]
    Failures {
        /// Transfers not answered `ok`.
        failures: u64,
        /// One of the failures, in words.
        example: String,
    },
    /// Nothing was committed while measuring.
    #[error("no transfer was committed in the measured window")]
    NothingCommitted,
    /// A client task ended abnormally.
    #[error("client task failed: {0}")]
    Task(String),
}

/// A prepared run: senders connected, accounts created.
pub struct Plan {
    config: BenchConfig,
    /// The client API addresses the tasks send to.
    addresses: Vec<String>,
    senders: Vec<Sender>,
    run_base: u128,
}

impl Plan {
    /// Finds the target nodes through the node at `address`, opens the senders (presenting
    /// `tls`, or plaintext to `--insecure` nodes) and creates the accounts.
    pub async fn prepare(
        address: &str,
        config: BenchConfig,
        tls: Option<&TlsFiles>,
    ) -> Result<Plan, LoadgenError> {
        if config.warmup >= config.duration {
            return Err(LoadgenError::Config("--warmup must be shorter than --duration".into()));
        }
        let addresses = target_addresses(address, config.target, tls).await?;
        let channels = tianping_tls::Channels::from_files(tls)
            .map_err(|error| LoadgenError::Config(format!("TLS: {error}")))?;
        let connections = CONNECTIONS_MAX.min(config.concurrency as usize).max(1);
        let mut senders = Vec::new();
        for index in 0..connections {
            let address = &addresses[index % addresses.len()];
            senders.push(match config.target {
                Target::Leader => Sender::Sdk(single_attempt_client(address, tls)?),
                Target::AllMembers => Sender::node(address, &channels)?,
            });
        }
        // Ids above any a person would type by hand, and different for every run.
        let run_base = (u128::from(now_ns()) << 32) | (1 << 127);
        create_accounts(&single_attempt_client(&addresses[0], tls)?, run_base, config.accounts)
            .await?;
        Ok(Plan { config, addresses, senders, run_base })
    }

    /// One line saying what will run, for the person at the terminal.
    pub fn describe(&self) -> String {
        format!(
            "{} accounts, {} clients x {} transfers per request, {:?} (+{:?} warm-up) against {}",
            self.config.accounts,
            self.config.concurrency,
            self.config.batch,
            self.config.duration.saturating_sub(self.config.warmup),
            self.config.warmup,
            self.addresses.join(", ")
        )
    }

    /// Runs the client tasks; the figures (failures included: `Report::verdict` judges).
    pub async fn run(self) -> Result<Report, LoadgenError> {
        let started = Instant::now();
        let measure_from = started + self.config.warmup;
        let stop_at = started + self.config.duration;
        let next_transfer = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for task in 0..self.config.concurrency {
            let sender = self.senders[task as usize % self.senders.len()].clone();
            let window = Window { measure_from, stop_at };
            let shape = Shape {
                run_base: self.run_base,
                batch: self.config.batch,
                accounts: self.config.accounts,
            };
            let next_transfer = next_transfer.clone();
            tasks.push(tokio::spawn(async move {
                client_task(sender, shape, task, next_transfer, window).await
            }));
        }
        let mut report = Report::new(stop_at.saturating_duration_since(measure_from));
        for task in tasks {
            let one = task.await.map_err(|error| LoadgenError::Task(error.to_string()))?;
            report.add(one);
        }
        Ok(report)
    }
}

/// The wall clock in nanoseconds since the Unix epoch (0 if the clock is before it).
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

/// An SDK client of `address` that makes one attempt per call: a benchmark reports a failed
/// attempt rather than hiding it in a retry.
fn single_attempt_client(address: &str, tls: Option<&TlsFiles>) -> Result<Client, LoadgenError> {
    let mut config = ClientConfig::new([address]);
    config.tls = tls.cloned();
    config.request_timeout = REQUEST_TIMEOUT;
    config.retry = RetryPolicy { attempts_max: 1, ..RetryPolicy::default() };
    config.request_id_prefix = format!("bench-{:x}", now_ns());
    Client::new(config).map_err(|error| LoadgenError::Config(format!("{address}: {error}")))
}

/// The addresses to send to: the leader's client address, or every member's.
async fn target_addresses(
    first: &str,
    target: Target,
    tls: Option<&TlsFiles>,
) -> Result<Vec<String>, LoadgenError> {
    let status = single_attempt_client(first, tls)?
        .cluster_status()
        .await
        .map_err(|source| LoadgenError::Status { address: first.to_owned(), source })?;
    let Some(leader_id) = status.leader_id else {
        return Err(LoadgenError::NoLeader(format!(
            "{first} knows no leader; is the cluster up and initialized?"
        )));
    };
    if target == Target::AllMembers {
        return Ok(status.members.iter().map(|member| member.api_address.clone()).collect());
    }
    status
        .members
        .iter()
        .find(|member| member.node_id == leader_id)
        .map(|leader| vec![leader.api_address.clone()])
        .ok_or_else(|| {
            LoadgenError::NoLeader(format!("{first} names leader {leader_id} but not its address"))
        })
}

/// Creates accounts `run_base + 1 ..= run_base + count`, checking every result.
async fn create_accounts(client: &Client, run_base: u128, count: u32) -> Result<(), LoadgenError> {
    let ids: Vec<u128> = (1..=u128::from(count)).map(|offset| run_base + offset).collect();
    for chunk in ids.chunks(SETUP_BATCH_MAX) {
        let accounts: Vec<NewAccount> = chunk
            .iter()
            .map(|id| NewAccount {
                id: *id,
                ledger: BENCH_LEDGER,
                code: 1,
                ..NewAccount::default()
            })
            .collect();
        let results = client
            .create_accounts(&accounts)
            .await
            .map_err(|error| LoadgenError::Setup(error.to_string()))?;
        if let Some(failed) = results.iter().find(|result| result.code != ResultCode::Ok) {
            return Err(LoadgenError::Setup(format!(
                "result {}",
                tianping_proto::convert::result_code_name(failed.code)
            )));
        }
    }
    Ok(())
}

/// The measured part of the run.
#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    stop_at: Instant,
}

/// What every task's transfers look like.
#[derive(Clone, Copy)]
struct Shape {
    run_base: u128,
    batch: u32,
    accounts: u32,
}

/// Each task's generator, seeded from the task's number so a run's account pairs repeat: the
/// bench only needs varied pairs, not secrecy, and `SmallRng` is the workspace's `rand` with
/// no feature beyond the ones already built (the bank simulator draws from it too).
fn task_random(task: u32) -> SmallRng {
    SmallRng::seed_from_u64(u64::from(task))
}

/// The transfers of one request: `batch` ids from `first` on, random distinct accounts.
fn transfers(shape: Shape, first: u64, random: &mut SmallRng) -> Vec<NewTransfer> {
    let accounts = u64::from(shape.accounts);
    let transfer_base = shape.run_base + (1 << 64);
    (0..u64::from(shape.batch))
        .map(|offset| {
            let debit = random.random_range(0..accounts);
            let step = random.random_range(1..accounts);
            let credit = (debit + step) % accounts;
            NewTransfer {
                id: transfer_base + u128::from(first + offset),
                debit_account_id: shape.run_base + 1 + u128::from(debit),
                credit_account_id: shape.run_base + 1 + u128::from(credit),
                amount: random.random_range(1..=10_000),
                ledger: BENCH_LEDGER,
                code: 1,
                ..NewTransfer::default()
            }
        })
        .collect()
}

/// One client: sends batches until `stop_at`, measuring those sent after `measure_from`.
async fn client_task(
    sender: Sender,
    shape: Shape,
    task: u32,
    next_transfer: Arc<AtomicU64>,
    window: Window,
) -> TaskReport {
    let mut report = TaskReport::new();
    let mut random = task_random(task);
    while Instant::now() < window.stop_at {
        let first = next_transfer.fetch_add(u64::from(shape.batch), Ordering::Relaxed);
        let batch = transfers(shape, first, &mut random);
        let sent = Instant::now();
        let outcome = sender.send(&batch).await;
        let answered = Instant::now();
        let measured = sent >= window.measure_from && answered <= window.stop_at;
        match outcome {
            Ok(codes) => {
                let ok = codes.iter().filter(|code| **code == ResultCode::Ok).count() as u64;
                let failed = u64::from(shape.batch).saturating_sub(ok);
                if failed > 0 {
                    let example = codes.iter().find(|code| **code != ResultCode::Ok).map(|code| {
                        format!("result {}", tianping_proto::convert::result_code_name(*code))
                    });
                    report.fail(failed, example);
                }
                report.committed(ok);
                if measured {
                    report.answered(ok, answered.duration_since(sent));
                }
            }
            Err(error) => report.fail(u64::from(shape.batch), Some(error)),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_move_between_distinct_accounts_of_the_run() {
        let shape = Shape { run_base: 1 << 127, batch: 50, accounts: 3 };
        let mut random = task_random(7);
        let batch = transfers(shape, 100, &mut random);
        assert_eq!(batch.len(), 50);
        for (offset, transfer) in batch.iter().enumerate() {
            assert_eq!(transfer.id, shape.run_base + (1 << 64) + 100 + offset as u128);
            assert_ne!(transfer.debit_account_id, transfer.credit_account_id);
            for account in [transfer.debit_account_id, transfer.credit_account_id] {
                assert!((shape.run_base + 1..=shape.run_base + 3).contains(&account));
            }
            assert!((1..=10_000).contains(&transfer.amount));
        }
    }
}
