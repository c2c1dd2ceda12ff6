//! `tianping bench`: the flags of the load generator (`tianping-loadgen`) and its
//! `bench: <metric> <value>` lines on standard output; notes go to standard error.

use std::time::Duration;

use tianping_loadgen::{BenchConfig, Plan, Target};

/// Which nodes the bench sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArgument {
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
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=i64::from(tianping_loadgen::CONCURRENCY_MAX)))]
    pub concurrency: u32,
    /// Transfers per CreateTransfers request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=8190))]
    pub batch: u32,
    /// Accounts the transfers move money between (created first).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=i64::from(tianping_loadgen::ACCOUNTS_MAX)))]
    pub accounts: u32,
    /// Where to send: the leader only, or every address given.
    #[arg(long, value_enum, default_value = "leader")]
    pub target: TargetArgument,
}

/// Reads a duration as `humantime` does (`20s`, `1500ms`, `2m`, `1m 30s`), or a bare number of
/// seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        let seconds: u64 = text.parse().map_err(|_| format!("{text:?} is too long"))?;
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|error| format!("{text:?} is not a duration like 20s or 500ms: {error}"))
}

/// Runs the bench against the cluster of the node at `address` (presenting `tls`, or in
/// plaintext) and prints the figures.
pub async fn run(
    address: &str,
    tls: Option<tianping_client::TlsFiles>,
    options: BenchOptions,
) -> anyhow::Result<()> {
    let config = BenchConfig {
        duration: options.duration,
        warmup: options.warmup,
        concurrency: options.concurrency,
        batch: options.batch,
        accounts: options.accounts,
        target: match options.target {
            TargetArgument::Leader => Target::Leader,
            TargetArgument::All => Target::AllMembers,
        },
    };
    let plan = Plan::prepare(address, config, tls.as_ref()).await?;
    eprintln!("tianping bench: {}", plan.describe());
    let report = plan.run().await?;
    eprintln!(
        "tianping bench: {} requests, {} transfers ok, {} failed in {:.1}s",
        report.requests(),
        report.transfers_ok,
        report.failures,
        report.measured_seconds()
    );
    println!("bench: cluster_transfers_per_s {:.0}", report.transfers_per_second());
    println!("bench: cluster_commit_p50_ms {:.2}", report.latency_ms(50.0));
    println!("bench: cluster_commit_p99_ms {:.2}", report.latency_ms(99.0));
    println!("bench: cluster_commit_p999_ms {:.2}", report.latency_ms(99.9));
    println!("bench: cluster_batch_transfers {}", options.batch);
    println!("bench: cluster_clients {}", options.concurrency);
    println!("bench: cluster_transfers_committed {}", report.transfers_committed);
    report.verdict()?;
    Ok(())
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
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }
}
