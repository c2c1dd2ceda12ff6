//! `tianping`: the ledger node and its operator tools, one binary.
//!
//! `tianping node --config FILE` runs one node (the `tianping-node` library's `start`) from a
//! TOML file whose keys are `tianping_node::NodeConfig`'s fields, until Ctrl-C (SIGINT), then
//! stops it cleanly. With `--bound-addresses-file PATH` it writes the addresses it bound there
//! once serving (`tianping_node::probes::bound_addresses`), for supervisors that start nodes
//! on port 0.
//!
//! Logs: `tracing` events go to stderr, one line each, as text or (`--log-format json`, or
//! `TIANPING_LOG_FORMAT=json`) JSON; `TIANPING_LOG` (else `RUST_LOG`) is the filter, default
//! `info,openraft=warn`. Messages meant for the person at the terminal stay plain output.
//!
//! `tianping dev up` (module `dev`) runs a local 5-node / 3-data-center cluster of such nodes
//! as child processes.
//!
//! `tianping account|transfer|cluster …` (module `cli`) are the client and operator commands;
//! they present the client certificate of `--ca`/`--cert`/`--key` (or the local dev cluster's),
//! or speak plaintext under `--insecure`. `tianping certs dev` (module `certs`) makes local
//! certificates.
//! Errors are `anyhow::Error`s; `main` prints one line, `tianping: <what went wrong>`, and
//! exits 1.

mod bench;
mod certs;
mod cli;
mod dev;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tianping_node::NodeConfig;
use tianping_node::probes::bound_addresses::BoundAddresses;

/// Tianping: a Raft-replicated double-entry payment ledger.
#[derive(Debug, Parser)]
#[command(name = "tianping", version, about, long_about = None)]
#[command(after_long_help = "\
Examples against a local cluster (`tianping dev up` in another terminal):

  tianping account create --id 10 --ledger 156 --code 1
  tianping account create --id 20 --ledger 156 --code 1
  tianping transfer create --id 1 --debit 10 --credit 20 --amount 500 --ledger 156 --code 1
  tianping account lookup 10 20
  tianping cluster status

Elsewhere, name any node: tianping --addr 10.0.0.5:8001 cluster status (or TIANPING_ADDR).
Every command explains itself: tianping transfer create --help")]
struct Arguments {
    #[command(flatten)]
    global: cli::GlobalOptions,
    #[command(subcommand)]
    command: Commands,
    /// How log lines on stderr look: `text` for people, `json` for log collectors. The level
    /// comes from TIANPING_LOG (else RUST_LOG), e.g. `debug` or `info,tianping_node=debug`.
    #[arg(long, global = true, env = "TIANPING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The shape of log lines on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line, with the span fields (such as `request_id`) included.
    Json,
}

/// The log filter when neither TIANPING_LOG nor RUST_LOG is set: the node's own events at info,
/// openraft's only from warn (its info events are per-step chatter; the node logs elections).
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn";

/// Sends `tracing` events to stderr, filtered by TIANPING_LOG (else RUST_LOG, else
/// `DEFAULT_LOG_FILTER`). Colour only when stderr is a terminal (node logs usually go to files).
fn init_logging(format: LogFormat) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = std::env::var("TIANPING_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| DEFAULT_LOG_FILTER.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("installing the logger: {error}"))
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run one ledger node until Ctrl-C.
    ///
    /// The TOML file names the node and its addresses, e.g.:
    ///
    ///   node_id = 1
    ///   region = "cn-east"
    ///   data_center = "dc-a"
    ///   raft_address = "127.0.0.1:7001"
    ///   api_address = "127.0.0.1:8001"
    ///   data_directory = "/var/lib/tianping/node-1"
    ///
    /// Raft timings: inter_dc_round_trip_ms (50) is the longest round trip between two of
    /// the cluster's data centers; heartbeat_interval_ms (max(100, 2 x round trip)),
    /// election_timeout_ms_min (max(300, 3 x heartbeat)), election_timeout_ms_max
    /// (2 x min), raft_rpc_timeout_ms (max(1000, 4 x round trip)) derive from it unless
    /// given, and every one is checked against it at start (a cross-border cluster with a
    /// 240 ms round trip: inter_dc_round_trip_ms = 240, nothing else).
    ///
    /// Optional: forward_timeout_ms (5000), metrics_address (none;
    /// e.g. "127.0.0.1:9001" serves Prometheus text on GET /metrics),
    /// preferred_leader_data_center ("" = none; see `tianping cluster preferred-dc --help`),
    /// max_clock_offset_ms (500: a leader whose clock is further than this from a majority of
    /// the voters' refuses writes with UNAVAILABLE "clock offset").
    /// Snapshots: snapshot_logs_since_last (10000), logs_kept_after_snapshot (1000).
    ///
    /// Mutual TLS (required unless `insecure = true` or --insecure, which serves plaintext
    /// and is warned about at start): the CA bundle that signs clients' and peers'
    /// certificates, and the node's own certificate and key, all PEM, read again when they
    /// change (rotate without a restart; a bundle of two CAs during a CA rotation):
    ///
    ///     [tls]
    ///     ca = "/etc/tianping/ca.pem"
    ///     cert = "/etc/tianping/node-1.pem"
    ///     key = "/etc/tianping/node-1-key.pem"
    ///
    /// or the flags --ca, --cert, --key (TIANPING_CA, TIANPING_CERT, TIANPING_KEY), which
    /// override the file. `tianping certs dev --out DIR` makes local ones.
    ///
    /// Every key can also be given as an environment variable `TIANPING_<KEY>`
    /// (TIANPING_NODE_ID=1, TIANPING_API_ADDRESS=…), which overrides the file, or as a flag
    /// (--node-id 1, --api-address …), which overrides both. A variable's value that reads as
    /// a number is one: quote a data center named 1 as TIANPING_DATA_CENTER='"1"'. Without a
    /// file they must give node_id, raft_address, api_address and data_directory:
    ///
    ///   tianping node --node-id 1 --raft-address 127.0.0.1:7001 \
    ///       --api-address 127.0.0.1:8001 --data-directory /var/lib/tianping/node-1
    #[command(verbatim_doc_comment)]
    Node(Box<cli::node::NodeOptions>),
    /// Local development clusters.
    #[command(subcommand)]
    Dev(DevCommands),
    /// Certificates for mutual TLS.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Create and look up accounts.
    #[command(subcommand)]
    Account(cli::account::AccountCommand),
    /// Create and look up transfers.
    #[command(subcommand)]
    Transfer(cli::transfer::TransferCommand),
    /// Cluster status and membership: learners, voters, leadership.
    #[command(subcommand)]
    Cluster(cli::cluster::ClusterCommand),
    /// Check a node's gRPC health (grpc.health.v1): exit 0 when it is SERVING.
    ///
    /// SERVING means the node knows a leader, so writes sent to it can commit. For health
    /// checks of containers that hold nothing but this binary:
    ///
    ///   tianping --addr 127.0.0.1:8000 health           # readiness: SERVING, else exit 1
    ///   tianping --addr 127.0.0.1:8000 health --alive   # liveness: any answer
    #[command(verbatim_doc_comment)]
    Health(cli::health::HealthOptions),
    /// Measure a running cluster: transfers per second and commit latency over gRPC.
    ///
    /// Creates --accounts accounts, then --concurrency clients each send CreateTransfers
    /// requests of --batch single-phase transfers between random accounts, one request in
    /// flight per client, for --duration. Prints these lines for scripts:
    ///
    ///   bench: cluster_transfers_per_s N     transfers answered ok per second (after warm-up)
    ///   bench: cluster_commit_p50_ms MS      request latency, median
    ///   bench: cluster_commit_p99_ms MS      request latency, 99th percentile
    ///   bench: cluster_commit_p999_ms MS     request latency, 99.9th percentile
    ///   bench: cluster_batch_transfers N     transfers per request (--batch)
    ///   bench: cluster_clients N             requests in flight (--concurrency)
    ///   bench: cluster_transfers_committed N transfers answered ok, warm-up included
    ///
    /// Every transfer must answer ok; any failure is reported and the command exits non-zero.
    /// Example, against a `tianping dev up` cluster:
    ///
    ///   tianping --addr 127.0.0.1:40123 bench --duration 20s --concurrency 64 --batch 100
    ///
    /// `cargo xtask bench cluster` starts a fresh 3-voter cluster, runs this, and stops it.
    #[command(verbatim_doc_comment)]
    Bench(bench::BenchOptions),
    /// Pay money out through banks: create payouts, follow them, list them.
    #[command(subcommand)]
    Payout(cli::payout::PayoutCommand),
    /// Serve simulated banks over HTTP (ISO 20022 and signed direct-connect) until Ctrl-C.
    ///
    /// One process hosts every bank of --config, each under http://HOST:PORT/banks/{id},
    /// with its own accounts and balances: it deduplicates payouts by end-to-end id like a
    /// real bank, posts incoming credits on a schedule, writes camt.053 statements, and
    /// misbehaves on request (time out after executing, reject, answer late, stay pending,
    /// duplicate or lose notifications, be down, return a payout later). For demos and
    /// tests; `cargo xtask up` starts one beside the cluster.
    ///
    ///   tianping bank-sim --config bank-adapters/sim/bank-sim.example.toml --generate-dev-keys
    #[command(verbatim_doc_comment)]
    BankSim(cli::bank::BankSimOptions),
    /// Run a bank worker until Ctrl-C: send claimed payouts to banks and book their credits.
    ///
    /// Claims payouts of each configured bank through the cluster (lease + fencing token),
    /// records `sent` before calling the bank, asks the bank by the same end-to-end id after
    /// any unknown outcome (never a new id, never a blind resend), and records `succeeded` or
    /// `failed`. Books the credit notifications of its custody account (`debtor_account`;
    /// the bank's other accounts are other customers') as collections, once per bank
    /// reference (unmatched ones land in suspense), and warns when a watched internal
    /// account's available balance falls to its threshold. Run one or more per data center.
    ///
    ///   tianping bank-worker --config bank-adapters/worker/bank-worker.example.toml \
    ///       --metrics-address 127.0.0.1:9400
    #[command(verbatim_doc_comment)]
    BankWorker(cli::bank::BankWorkerOptions),
    /// The suspense desk: list bank credits booked to suspense, assign one to its account.
    #[command(subcommand)]
    Collections(cli::collections::CollectionsCommand),
    /// Reconciliation: run the reconciler, report and resolve discrepancies.
    #[command(subcommand)]
    Reconcile(cli::reconcile::ReconcileCommand),
    /// Tell the bank simulator to mishandle one payout (demos and drills).
    ///
    /// Sent before the payout is created (a worker may send it within a second): the payout
    /// id is its end-to-end id, so choose the id first. The directive is used once, by the
    /// next request about that payout. With `drop-booking` the bank answers "executed" but
    /// books nothing: the ledger says paid, the bank's statement does not, and
    /// reconciliation must find it and block the customer's account.
    ///
    ///   tianping bank-fault --bank iso-a --payout 9002 drop-booking
    ///   tianping bank-fault --bank direct-b --payout 9003 amount-off=1
    ///   tianping payout create --id 9002 ... --wait
    #[command(verbatim_doc_comment)]
    BankFault(cli::bank::BankFaultOptions),
    /// Run a drill on real processes: start a fresh local cluster, fault it under load, judge.
    ///
    /// Each drill starts its own cluster of this binary's nodes (5 voters: dc-a 2, dc-b 2,
    /// dc-c 1) under --report DIR/cluster, with Raft traffic between data centers through a
    /// user-space fault proxy delaying it by the --latency profile. Clients in every data
    /// center send transfers among a fixed set of accounts (wallets that may not overdraw, one
    /// with a per-transfer limit, one blocked, so refusals happen), retrying unanswered ids.
    /// After a third of --duration the fault strikes the leader (or its data center):
    ///
    ///   failover             kill -9 the leader; restart it a third later
    ///   split-brain          partition the leader's data center from the others, both ways
    ///   split-brain-one-way  drop what the leader's data center sends (it still hears them)
    ///   pause                SIGSTOP the leader; SIGCONT it a third later
    ///   dc-loss              kill -9 every node of the leader's data center; restart them
    ///
    /// A third later the fault is healed; a third after that the clients stop, the replicas
    /// converge, the state is read back through the API and every node reports its state
    /// digest. Exit code 0 only when every check holds: each acknowledged write present with
    /// its fields, no refused write applied, none applied twice, balances conserved and equal
    /// to their transfers, blocks and limits held, every replica at one applied index with one
    /// digest, the clients committing again after the fault. A progress line (phase, ops/s,
    /// errors, leader, fault) runs on standard error; the report (verdict, timeline,
    /// client-side unavailability of each fault, throughput per phase) is
    /// DIR/report.md, DIR defaulting to `target/drills/<name>-<seed>`.
    ///
    ///   tianping drill failover
    ///   tianping drill split-brain --latency cross-border --duration 1m --seed 7
    ///   tianping drill failover --duration 15s --repeat 20    # unavailability figures
    #[command(verbatim_doc_comment)]
    Drill(cli::drill::DrillOptions),
    /// The change feed: every committed event in log order, with positions to resume from.
    #[command(subcommand)]
    Feed(cli::feed::FeedCommand),
}

#[derive(Debug, Subcommand)]
enum DevCommands {
    /// Start a local 5-node / 3-data-center cluster and keep it up until Ctrl-C.
    ///
    /// Five `tianping node` child processes on 127.0.0.1, all voters of one Raft group in
    /// region `local`: nodes 1 and 2 in dc-a, 3 and 4 in dc-b, 5 in dc-c (2 + 2 + 1, so
    /// losing any one data center keeps a majority).
    ///
    /// Everything lives under --data-dir: node-N/node.toml (the node's configuration),
    /// node-N/node.log (its output), node-N/store (its RocksDB), node-N/addresses.toml (the
    /// ports it bound). The first run lets each node pick free ports and then initializes the
    /// cluster (tianping.v1.Admin/Initialize on node 1 with all five voters); later runs
    /// restart the same cluster on the same ports with its data. --fresh starts over.
    ///
    /// When every node knows the leader and has applied a committed entry, it prints one line
    /// per node (id, data center, client API and Raft address, pid, log file) and an example
    /// client call, e.g.
    ///
    ///   tianping dev: ready in 2.1s: 5 voters in 3 data centers, leader node 3
    ///     node 1 region=local dc=dc-a api=127.0.0.1:40123 raft=127.0.0.1:40121 metrics=http://127.0.0.1:40125/metrics pid=… log=…
    ///
    /// Ctrl-C sends SIGINT to every node, waits up to 10 s for each to stop, kills any that
    /// did not, and exits. `cargo xtask up` builds the binary and runs this.
    #[command(verbatim_doc_comment)]
    Up(dev::UpOptions),
}

/// The node's configuration from its file, variables and flags, with the global TLS flags
/// (`--ca`, `--cert`, `--key`, or `--insecure`) over its `[tls]` / `insecure` keys.
fn node_config(
    options: &cli::node::NodeOptions,
    global: &cli::GlobalOptions,
) -> anyhow::Result<NodeConfig> {
    let mut config = options.node_config()?;
    match (global.tls_flags()?, global.insecure) {
        (Some(_), true) => anyhow::bail!("--insecure and --ca/--cert/--key together: choose one"),
        (Some(files), false) => {
            config.tls = Some(files);
            config.insecure = false;
        }
        (None, true) => {
            config.tls = None;
            config.insecure = true;
        }
        (None, false) => {}
    }
    Ok(config)
}

/// Runs one node until Ctrl-C; reports its addresses to `bound_addresses_file` once serving.
async fn run_node(config: NodeConfig, bound_addresses_file: Option<&Path>) -> anyhow::Result<()> {
    let node = tianping_node::start(config, tianping_node::Production)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    if let Some(path) = bound_addresses_file
        && let Err(error) = BoundAddresses::of(&node).write_atomically(path)
    {
        let _ = node.shutdown().await;
        anyhow::bail!("writing {}: {error}", path.display());
    }
    let info = node.info().clone();
    tracing::info!(
        node_id = node.node_id(),
        api_address = %info.api_address,
        raft_address = %info.raft_address,
        metrics_address = %node.metrics_address().map_or("none".to_owned(), |a| a.to_string()),
        "serving; Ctrl-C stops the node"
    );
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    tracing::info!(node_id = node.node_id(), "stopping");
    node.shutdown().await.map_err(|error| anyhow::anyhow!("{error}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments = Arguments::parse();
    if let Err(error) = init_logging(arguments.log_format) {
        eprintln!("tianping: {error}");
        return ExitCode::FAILURE;
    }
    cli::set_global_options(&arguments.global);
    let outcome = match arguments.command {
        Commands::Node(options) => match node_config(&options, &arguments.global) {
            Ok(config) => run_node(config, options.bound_addresses_file.as_deref()).await,
            Err(error) => Err(error),
        },
        Commands::Dev(DevCommands::Up(options)) => {
            dev::up(options, arguments.global.insecure).await
        }
        Commands::Certs(command) => certs::run(command),
        Commands::Account(command) => cli::account::run(&arguments.global, command).await,
        Commands::Transfer(command) => cli::transfer::run(&arguments.global, command).await,
        Commands::Cluster(command) => cli::cluster::run(&arguments.global, command).await,
        Commands::Health(options) => cli::health::run(&arguments.global, options).await,
        Commands::Bench(options) => {
            match (cli::resolve_address(&arguments.global), arguments.global.client_tls()) {
                (Ok(address), Ok(tls)) => bench::run(&address, tls, options).await,
                (Err(error), _) | (_, Err(error)) => Err(error),
            }
        }
        Commands::Payout(command) => cli::payout::run(&arguments.global, command).await,
        Commands::BankSim(options) => cli::bank::bank_sim(options).await,
        Commands::BankWorker(options) => cli::bank::bank_worker(options).await,
        Commands::BankFault(options) => cli::bank::bank_fault(options).await,
        Commands::Collections(command) => cli::collections::run(&arguments.global, command).await,
        Commands::Reconcile(command) => cli::reconcile::run(&arguments.global, command).await,
        Commands::Drill(options) => cli::drill::run(options).await,
        Commands::Feed(command) => cli::feed::run(&arguments.global, command).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tianping: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Arguments;

    /// clap checks its own rules (duplicate flags, a global flag shadowed by a subcommand's)
    /// only when asked: ask once, for every subcommand.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Arguments::command().debug_assert();
    }
}
