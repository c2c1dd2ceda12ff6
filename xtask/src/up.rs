//! `cargo xtask up`: builds the `tianping` binary (release profile) and runs
//! `tianping dev up`, a local 5-node / 3-data-center cluster that stays up until Ctrl-C.
//!
//! On Unix the xtask process becomes `tianping dev up` (exec), so Ctrl-C reaches one process
//! that owns the nodes and the shell prompt returns only after every node has stopped.

use std::process::Command;

use crate::process::{self, Progress};

/// `cargo xtask up --help`.
pub const HELP: &str = "\
cargo xtask up: build `tianping` and start a local 5-node / 3-data-center cluster

USAGE:
    cargo xtask up [DEV-UP OPTIONS]

Builds the `tianping` binary (cargo build --release -p tianping-cli --bin tianping) and runs
`tianping dev up` with the given options, from the workspace root. The cluster: 5 voters on
127.0.0.1 in region `local`, nodes 1-2 in dc-a, 3-4 in dc-b, 5 in dc-c. When healthy it
prints each node's client API and Raft address and an example client call. Ctrl-C stops
every node cleanly. Beside the cluster it starts a bank simulator (bank 1: ISO 20022, bank
2: signed direct-connect), one bank worker and one reconciler (a balance check every 10 s) per
data center, opens the ledger accounts they use, funds a customer account, and prints a
`tianping payout create` to try.

DEV-UP OPTIONS (see `tianping dev up --help`):
    --data-dir DIR    where the nodes keep data, configs and logs (default: tianping-dev,
                      in the workspace root); a second run restarts the same cluster
    --fresh           delete the data directory first
    --voters 3|5      cluster size (default 5; 3 = one voter per data center)
    --timeout SECS    longest to wait for a healthy cluster (default 60)
    --no-banks        start only the nodes (by default a bank simulator with an ISO 20022 and
                      a direct-connect bank, and one bank worker and one reconciler per data
                      center, start too)
";

/// Builds the binary, then runs `tianping dev up ARGUMENTS` until it exits.
pub fn run(arguments: &[String]) -> Result<(), String> {
    let progress = Progress::start("up");
    let binary = process::build_tianping(&progress)?;
    let mut command = Command::new(&binary);
    command.arg("dev").arg("up").args(arguments).current_dir(process::workspace_root());
    progress.say(&format!("starting: {} {}", binary.display(), arguments_line(arguments)));
    exec(&mut command)
}

fn arguments_line(arguments: &[String]) -> String {
    let mut line = String::from("dev up");
    for argument in arguments {
        line.push(' ');
        line.push_str(argument);
    }
    line
}

#[cfg(unix)]
fn exec(command: &mut Command) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    Err(format!("could not start `{}`: {error}", process::describe(command)))
}

#[cfg(not(unix))]
fn exec(command: &mut Command) -> Result<(), String> {
    process::run(command)
}
