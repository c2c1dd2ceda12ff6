//! `tianping bench`: drives single-phase transfers over gRPC against a running cluster and
//! prints its throughput and commit latency as `bench: <metric> <value>` lines.
//!
//! It creates its own accounts first (ids derived from the start time, so runs against the same
//! cluster never collide), then `--concurrency` client tasks each send `CreateTransfers` of
//! `--batch` transfers between random accounts, waiting for each answer before the next, until
//! `--duration` has passed. The first `--warmup` is left out of the figures (connections,
//! caches). Only transfers the cluster answered `ok` count; any other result code or gRPC error
//! is reported and makes the command fail, so a figure is never bought with failed work.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
    ClusterStatusRequest, CreateAccountsRequest, CreateTransfersRequest, NewAccount, NewTransfer,
};
use tonic::transport::{Channel, Endpoint};

/// The ledger (currency) the bench's accounts and transfers use.
const BENCH_LEDGER: u32 = 840;

/// Most accounts per CreateAccounts call while setting up (the ledger's batch limit).
const SETUP_BATCH_MAX: usize = 8_190;

/// Most gRPC connections the bench opens; client tasks share them round-robin.
const CONNECTIONS_MAX: usize = 8;

/// Longest one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Which nodes the bench sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Ask the node given by --addr who leads and send everything there (no forwarding hop).
    Leader,
    /// Spread the client tasks over every member (followers forward to the leader).
    All,
}

/// Options of `tianping bench` (the node to ask is the global --addr).
#[derive(Debug, clap::Args)]
pub struct BenchOptions {
    /// How long to send, e.g. `20s`, `1500ms`, `2m`.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// The first part of the run left out of the figures.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Client tasks, each with one request in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Transfers per CreateTransfers request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=8190))]
    pub batch: u32,
    /// Accounts the transfers move money between (created first).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub accounts: u32,
    /// Where to send: the leader only, or every address given.
    #[arg(long, value_enum, default_value = "leader")]
    pub target: Target,
}

/// Reads `20s`, `1500ms`, `2m` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(split) => text.split_at(split),
        None => (text, "s"),
    };
    let value: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration like 20s or 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => value
            .checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long")),
        _ => Err(format!("{text:?}: unit must be ms, s or m")),
    }
}

/// What one client task saw.
#[derive(Default)]
struct TaskReport {
    /// Latency of every measured request, in microseconds.
    latencies_us: Vec<u64>,
    /// Transfers answered `ok` in the measured window.
    transfers_ok: u64,
    /// Results other than `ok`, and gRPC errors, with an example.
    failures: u64,
    example_failure: Option<String>,
}

/// Runs the bench against the cluster of the node at `address` and prints the figures.
pub async fn run(address: &str, options: BenchOptions) -> Result<(), String> {
    if options.warmup >= options.duration {
        return Err("--warmup must be shorter than --duration".to_owned());
    }
    let addresses = target_addresses(address, options.target).await?;
    eprintln!(
        "tianping bench: {} accounts, {} clients x {} transfers per request, {:?} (+{:?} warm-up) against {}",
        options.accounts,
        options.concurrency,
        options.batch,
        options.duration.saturating_sub(options.warmup),
        options.warmup,
        addresses.join(", ")
    );
    let mut channels = Vec::new();
    for index in 0..CONNECTIONS_MAX.min(options.concurrency as usize) {
        channels.push(connect(&addresses[index % addresses.len()]).await?);
    }
    // Ids above any a person would type by hand, and different for every run.
    let run_base = (u128::from(crate_now_ns()) << 32) | (1 << 127);
    create_accounts(&channels[0], run_base, options.accounts).await?;

    let started = Instant::now();
    let measure_from = started + options.warmup;
    let stop_at = started + options.duration;
    let next_transfer = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..options.concurrency {
        let channel = channels[task as usize % channels.len()].clone();
        let next_transfer = next_transfer.clone();
        let options = (options.batch, options.accounts);
        tasks.push(tokio::spawn(async move {
            client_task(channel, run_base, task, next_transfer, options, measure_from, stop_at)
                .await
        }));
    }
    let mut report = TaskReport::default();
    for task in tasks {
        let one = task.await.map_err(|error| format!("client task failed: {error}"))?;
        report.latencies_us.extend(one.latencies_us);
        report.transfers_ok += one.transfers_ok;
        report.failures += one.failures;
        report.example_failure = report.example_failure.or(one.example_failure);
    }
    let measured = stop_at.saturating_duration_since(measure_from).as_secs_f64();
    report.latencies_us.sort_unstable();
    let per_second = report.transfers_ok as f64 / measured;
    eprintln!(
        "tianping bench: {} requests, {} transfers ok, {} failed in {measured:.1}s",
        report.latencies_us.len(),
        report.transfers_ok,
        report.failures
    );
    println!("bench: cluster_transfers_per_s {per_second:.0}");
    println!("bench: cluster_commit_p50_ms {:.2}", percentile_ms(&report.latencies_us, 50));
    println!("bench: cluster_commit_p99_ms {:.2}", percentile_ms(&report.latencies_us, 99));
    if report.failures > 0 {
        return Err(format!(
            "{} transfers or requests failed, e.g. {}",
            report.failures,
            report.example_failure.unwrap_or_default()
        ));
    }
    if report.transfers_ok == 0 {
        return Err("no transfer was committed in the measured window".to_owned());
    }
    Ok(())
}

/// The wall clock in nanoseconds (this is a client tool, not node code).
fn crate_now_ns() -> u64 {
    tianping_node::clock::now_ns()
}

/// The `p`th percentile of sorted microsecond latencies, in milliseconds.
fn percentile_ms(sorted_us: &[u64], p: usize) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (sorted_us.len() * p).div_ceil(100).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1_000.0
}

/// The addresses to send to: the leader's client address, or every member's.
async fn target_addresses(first: &str, target: Target) -> Result<Vec<String>, String> {
    let mut admin = AdminClient::new(connect(first).await?);
    let status = admin
        .cluster_status(ClusterStatusRequest {})
        .await
        .map_err(|status| format!("{first}: cluster status: {}", status.message()))?
        .into_inner();
    if !status.has_leader {
        return Err(format!("{first} knows no leader; is the cluster up and initialized?"));
    }
    if target == Target::All {
        return Ok(status.members.iter().map(|member| member.api_address.clone()).collect());
    }
    status
        .members
        .iter()
        .find(|member| member.node_id == status.leader_id)
        .map(|leader| vec![leader.api_address.clone()])
        .ok_or_else(|| format!("{first} names leader {} but not its address", status.leader_id))
}

async fn connect(address: &str) -> Result<Channel, String> {
    Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| format!("address {address:?}: {error}"))?
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .connect()
        .await
        .map_err(|error| format!("connecting to {address}: {error}"))
}

/// Creates accounts `run_base + 1 ..= run_base + count`, checking every result.
async fn create_accounts(channel: &Channel, run_base: u128, count: u32) -> Result<(), String> {
    let mut client = LedgerClient::new(channel.clone());
    let ids: Vec<u128> = (1..=u128::from(count)).map(|offset| run_base + offset).collect();
    for chunk in ids.chunks(SETUP_BATCH_MAX) {
        let accounts = chunk
            .iter()
            .map(|id| NewAccount {
                id: id.to_string(),
                ledger: BENCH_LEDGER,
                code: 1,
                ..NewAccount::default()
            })
            .collect();
        let response = client
            .create_accounts(CreateAccountsRequest { accounts })
            .await
            .map_err(|status| format!("creating accounts: {}", status.message()))?
            .into_inner();
        if let Some(failed) = response.results.iter().find(|result| result.code != 0) {
            return Err(format!("creating accounts: result {}", failed.code_name));
        }
    }
    Ok(())
}

/// One client: sends batches until `stop_at`, measuring those sent after `measure_from`.
async fn client_task(
    channel: Channel,
    run_base: u128,
    task: u32,
    next_transfer: Arc<AtomicU64>,
    (batch, accounts): (u32, u32),
    measure_from: Instant,
    stop_at: Instant,
) -> TaskReport {
    let mut client = LedgerClient::new(channel);
    let mut report = TaskReport::default();
    // A per-task xorshift: the bench only needs varied account pairs, not secrecy.
    let mut random = 0x9E37_79B9_7F4A_7C15_u64 ^ (u64::from(task) + 1).wrapping_mul(0xA24B_AED4);
    let mut next_random = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let transfer_base = run_base + (1 << 64);
    while Instant::now() < stop_at {
        let first = next_transfer.fetch_add(u64::from(batch), Ordering::Relaxed);
        let transfers = (0..u64::from(batch))
            .map(|offset| {
                let debit = next_random() % u64::from(accounts);
                let step = 1 + next_random() % (u64::from(accounts) - 1);
                let credit = (debit + step) % u64::from(accounts);
                NewTransfer {
                    id: (transfer_base + u128::from(first + offset)).to_string(),
                    debit_account_id: (run_base + 1 + u128::from(debit)).to_string(),
                    credit_account_id: (run_base + 1 + u128::from(credit)).to_string(),
                    amount: (1 + next_random() % 10_000).to_string(),
                    ledger: BENCH_LEDGER,
                    code: 1,
                    ..NewTransfer::default()
                }
            })
            .collect();
        let sent = Instant::now();
        let outcome = client.create_transfers(CreateTransfersRequest { transfers }).await;
        let answered = Instant::now();
        let measured = sent >= measure_from && answered <= stop_at;
        match outcome {
            Ok(response) => {
                let response = response.into_inner();
                let ok = response.results.iter().filter(|result| result.code == 0).count() as u64;
                let failed = u64::from(batch).saturating_sub(ok);
                if failed > 0 && report.example_failure.is_none() {
                    report.example_failure = response
                        .results
                        .iter()
                        .find(|result| result.code != 0)
                        .map(|result| format!("result {}", result.code_name));
                }
                report.failures += failed;
                if measured {
                    report.transfers_ok += ok;
                    let micros = answered.duration_since(sent).as_micros();
                    report.latencies_us.push(u64::try_from(micros).unwrap_or(u64::MAX));
                }
            }
            Err(status) => {
                report.failures += u64::from(batch);
                if report.example_failure.is_none() {
                    report.example_failure =
                        Some(format!("{:?}: {}", status.code(), status.message()));
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn percentiles_pick_the_rank() {
        let sorted: Vec<u64> = (1..=100).map(|ms| ms * 1_000).collect();
        assert_eq!(percentile_ms(&sorted, 50), 50.0);
        assert_eq!(percentile_ms(&sorted, 99), 99.0);
        assert_eq!(percentile_ms(&[], 99), 0.0);
        assert_eq!(percentile_ms(&[2_500], 50), 2.5);
    }
}
