//! `tianping`: the ledger node and (later) its operator tools.
//!
//! `tianping node --config FILE` runs one node from a TOML file whose keys are
//! `tianping_node::NodeConfig`'s fields, until Ctrl-C (SIGINT), then stops it cleanly.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tianping_node::NodeConfig;

/// Tianping: a Raft-replicated double-entry payment ledger.
#[derive(Debug, Parser)]
#[command(name = "tianping", version, about, long_about = None)]
struct Arguments {
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
    /// election_timeout_ms_max (600), forward_timeout_ms (5000).
    #[command(verbatim_doc_comment)]
    Node {
        /// The node's TOML configuration file.
        #[arg(long, env = "TIANPING_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
}

fn read_config(path: &PathBuf) -> Result<NodeConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

async fn run_node(config: NodeConfig) -> Result<(), String> {
    let node = tianping_node::start(config).await.map_err(|error| error.to_string())?;
    let info = node.info().clone();
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
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tianping: {error}");
            ExitCode::FAILURE
        }
    }
}
