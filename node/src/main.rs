//! `tianping`: the ledger node and (later) its operator tools.
//!
//! `tianping node --config FILE` runs one node from a TOML file whose keys are
//! `tianping_node::NodeConfig`'s fields, until Ctrl-C (SIGINT), then stops it cleanly. Once
//! serving, it writes the addresses it bound to `<data_directory>/addresses.toml`.
//!
//! `tianping dev up` (module `dev`) runs a local 5-node / 3-data-center cluster of such nodes
//! as child processes.
//!
//! `tianping account|transfer|cluster …` (module `cli`) are the client and operator commands.

mod cli;
mod dev;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tianping_node::NodeConfig;
use tianping_raft_store::NodeInfo;

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
    /// Optional: heartbeat_interval_ms (100), election_timeout_ms_min (300),
    /// election_timeout_ms_max (600), forward_timeout_ms (5000),
    /// preferred_leader_data_center ("" = none; see `tianping cluster preferred-dc --help`).
    #[command(verbatim_doc_comment)]
    Node {
        /// The node's TOML configuration file.
        #[arg(long, env = "TIANPING_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
    /// Local development clusters.
    #[command(subcommand)]
    Dev(DevCommands),
    /// Create and look up accounts.
    #[command(subcommand)]
    Account(cli::account::AccountCommand),
    /// Create and look up transfers.
    #[command(subcommand)]
    Transfer(cli::transfer::TransferCommand),
    /// Cluster status and membership: learners, voters, leadership.
    #[command(subcommand)]
    Cluster(cli::cluster::ClusterCommand),
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
    ///     node 1 region=local dc=dc-a api=127.0.0.1:40123 raft=127.0.0.1:40121 pid=… log=…
    ///
    /// Ctrl-C sends SIGINT to every node, waits up to 10 s for each to stop, kills any that
    /// did not, and exits. `cargo xtask up` builds the binary and runs this.
    #[command(verbatim_doc_comment)]
    Up(dev::UpOptions),
}

fn read_config(path: &PathBuf) -> Result<NodeConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// Writes the bound addresses to `<data_directory>/addresses.toml` (whole or not at all: a
/// temporary file renamed into place), for tools such as `dev up` that start nodes on port 0.
fn write_addresses(data_directory: &std::path::Path, info: &NodeInfo) -> Result<(), String> {
    let addresses = dev::BoundAddresses {
        raft_address: info.raft_address.clone(),
        api_address: info.api_address.clone(),
    };
    let text =
        toml::to_string(&addresses).map_err(|error| format!("encoding addresses: {error}"))?;
    let path = data_directory.join(dev::ADDRESSES_FILE);
    let staging = data_directory.join(format!("{}.tmp", dev::ADDRESSES_FILE));
    std::fs::write(&staging, text)
        .and_then(|()| std::fs::rename(&staging, &path))
        .map_err(|error| format!("writing {}: {error}", path.display()))
}

async fn run_node(config: NodeConfig) -> Result<(), String> {
    let data_directory = config.data_directory.clone();
    let node = tianping_node::start(config).await.map_err(|error| error.to_string())?;
    let info = node.info().clone();
    if let Err(error) = write_addresses(&data_directory, &info) {
        let _ = node.shutdown().await;
        return Err(error);
    }
    eprintln!(
        "tianping: node {} serving client API on {} and Raft on {}; Ctrl-C stops it",
        node.node_id(),
        info.api_address,
        info.raft_address
    );
    tokio::signal::ctrl_c().await.map_err(|error| format!("waiting for Ctrl-C: {error}"))?;
    eprintln!("tianping: stopping node {}", node.node_id());
    node.shutdown().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let outcome = match arguments.command {
        Commands::Node { config } => match read_config(&config) {
            Ok(config) => run_node(config).await,
            Err(error) => Err(error),
        },
        Commands::Dev(DevCommands::Up(options)) => dev::up(options).await,
        Commands::Account(command) => cli::account::run(&arguments.global, command).await,
        Commands::Transfer(command) => cli::transfer::run(&arguments.global, command).await,
        Commands::Cluster(command) => cli::cluster::run(&arguments.global, command).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tianping: {error}");
            ExitCode::FAILURE
        }
    }
}
