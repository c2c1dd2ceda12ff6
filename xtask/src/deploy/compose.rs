//! The Compose cluster test: the image a Kubernetes user would run, as the 3-data-center
//! cluster of `deploy/compose/docker-compose.yml`, checked the way an operator would.
//!
//! Starts the cluster (the `init` service initializes it), writes through a node of dc-a,
//! reads through dc-c, cuts the leader's data center off (`docker network disconnect` of
//! each of its containers from the `wan` network), writes and reads through the two other
//! data centers — the majority goes on — then reconnects and reads the new transfer through
//! a node of the data center that was cut off. Every container command runs the image's own
//! `tianping` through `exec` (the image has no shell). The cluster is torn down afterwards,
//! volumes included, whether the test passed or not; each wait has a deadline.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::{self, Progress};

/// The Compose file, relative to the workspace root.
const COMPOSE_FILE: &str = "deploy/compose/docker-compose.yml";

/// The Compose project of the test: its own containers, networks and volumes, never a
/// user's `docker-compose up` of the same file.
const PROJECT: &str = "tianping-deploy-test";

/// The nodes by data center, as the Compose file places them.
const DATA_CENTERS: [(&str, &[u64]); 3] = [("dc-a", &[1, 2]), ("dc-b", &[3, 4]), ("dc-c", &[5])];

/// Longest any one docker or docker-compose command may run.
const COMMAND_LIMIT: Duration = Duration::from_secs(180);
/// Longest the cluster may take to initialize and elect a leader.
const READY_LIMIT: Duration = Duration::from_secs(150);
/// Longest the majority may take to elect a new leader once the leader's data center is cut.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);
/// Pause between polls.
const POLL_PAUSE: Duration = Duration::from_secs(1);

/// `docker compose` (the plugin) or `docker-compose` (the standalone program).
struct Compose {
    program: &'static str,
    plugin: bool,
}

impl Compose {
    /// Whichever Compose the machine has.
    fn find() -> Result<Compose, String> {
        if process::succeeds(Command::new("docker").args(["compose", "version"])) {
            return Ok(Compose { program: "docker", plugin: true });
        }
        if process::succeeds(Command::new("docker-compose").arg("version")) {
            return Ok(Compose { program: "docker-compose", plugin: false });
        }
        Err("neither `docker compose` nor `docker-compose` runs here (install Docker Compose)"
            .to_owned())
    }

    /// A Compose command on the test's project.
    fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(self.program);
        if self.plugin {
            command.arg("compose");
        }
        let file: PathBuf = process::workspace_root().join(COMPOSE_FILE);
        command.arg("--project-name").arg(PROJECT).arg("--file").arg(file).args(arguments);
        command
    }

    /// `tianping ARGUMENTS` inside node `node`'s container.
    fn tianping(&self, node: u64, arguments: &[&str]) -> Command {
        let service = format!("tianping-{node}");
        let mut command = self.command(&["exec", "-T", &service, "/usr/local/bin/tianping"]);
        command.args(arguments);
        command
    }
}

/// Runs the whole test; the cluster is torn down whatever happened.
pub fn run(progress: &Progress) -> Result<(), String> {
    let compose = Compose::find()?;
    // A cluster left behind by an interrupted run would answer for this one.
    let _ = output_within(&mut compose.command(&["down", "--volumes", "--remove-orphans"]));
    let outcome = exercise(progress, &compose);
    if outcome.is_err() {
        let mut logs = compose.command(&["logs", "--no-color", "--tail", "15"]);
        if let Ok(output) = output_within(&mut logs) {
            progress.say(&format!(
                "the cluster's last log lines:\n{}",
                String::from_utf8_lossy(&output.stdout)
            ));
        }
    }
    progress.say("tearing the Compose cluster down (containers, networks, volumes)");
    let torn_down = checked(&mut compose.command(&["down", "--volumes", "--remove-orphans"]));
    outcome?;
    torn_down.map(|_| ())
}

/// The test itself, on a started project.
fn exercise(progress: &Progress, compose: &Compose) -> Result<(), String> {
    let mut up = compose.command(&["up", "--detach"]);
    progress.say(&format!("starting the cluster: {}", process::describe(&up)));
    checked(&mut up)?;
    wait_for_initialization(progress, compose)?;
    let leader = wait_until(READY_LIMIT, "a leader every node knows", || {
        let leader = leader_seen_by(compose, 5)?;
        for node in 1..=5 {
            checked(&mut compose.tianping(node, &["health"]))?;
        }
        Ok(leader)
    })?;
    progress.say(&format!("the cluster is up: leader node {leader}, every node SERVING"));

    for (id, node) in [("1", 1), ("2", 1)] {
        checked(&mut compose.tianping(node, &create_account(id)))?;
    }
    checked(&mut compose.tianping(1, &create_transfer("1", "250")))?;
    let found = checked(&mut compose.tianping(5, &["transfer", "lookup", "1"]))?;
    progress.say(&format!(
        "written through node 1 (dc-a), read through node 5 (dc-c): {}",
        stdout(&found).trim()
    ));

    let (cut, cut_nodes) = data_center_of(leader)?;
    let network = wan_network()?;
    for &node in cut_nodes {
        let container = container_of(compose, node)?;
        checked(Command::new("docker").args(["network", "disconnect", &network, &container]))?;
    }
    progress.say(&format!(
        "cut {cut} (nodes {cut_nodes:?}, the leader's) off: disconnected from network {network}"
    ));
    let majority: Vec<u64> = DATA_CENTERS
        .iter()
        .filter(|(name, _)| *name != cut)
        .flat_map(|(_, nodes)| nodes.iter().copied())
        .collect();
    let (writer, reader) = match majority.as_slice() {
        [first, .., last] => (*first, *last),
        _ => return Err("fewer than two nodes outside the cut data center".to_owned()),
    };
    let new_leader = wait_until(FAILOVER_LIMIT, "a write through the majority", || {
        checked(&mut compose.tianping(writer, &create_transfer("2", "100")))?;
        leader_seen_by(compose, writer)
    })?;
    if cut_nodes.contains(&new_leader) {
        return Err(format!("node {writer} still names node {new_leader} of {cut} the leader"));
    }
    let found = checked(&mut compose.tianping(reader, &["transfer", "lookup", "2"]))?;
    progress.say(&format!(
        "the majority goes on: leader node {new_leader}; written through node {writer}, read \
         through node {reader}: {}",
        stdout(&found).trim()
    ));

    for &node in cut_nodes {
        let container = container_of(compose, node)?;
        // The service name is an alias on the network, which a plain reconnect drops.
        let alias = format!("tianping-{node}");
        checked(
            Command::new("docker")
                .args(["network", "connect", "--alias", &alias, &network, &container]),
        )?;
    }
    let rejoined = cut_nodes[0];
    let found = wait_until(FAILOVER_LIMIT, "a read through the reconnected data center", || {
        checked(&mut compose.tianping(rejoined, &["transfer", "lookup", "2"]))
    })?;
    progress.say(&format!(
        "{cut} reconnected: node {rejoined} reads the transfer written while it was cut off: {}",
        stdout(&found).trim()
    ));
    Ok(())
}

/// Waits for the `init` service to exit, and fails unless it exited 0.
fn wait_for_initialization(progress: &Progress, compose: &Compose) -> Result<(), String> {
    let container = checked(&mut compose.command(&["ps", "--all", "--quiet", "init"]))?;
    let container = stdout(&container).trim().to_owned();
    if container.is_empty() {
        return Err("the init service has no container".to_owned());
    }
    let exited = checked(Command::new("docker").args(["wait", &container]))?;
    let code = stdout(&exited).trim().to_owned();
    let logs =
        output_within(compose.command(&["logs", "--no-color", "init"]).stderr(Stdio::null()))
            .map(|output| stdout(&output))
            .unwrap_or_default();
    if code != "0" {
        return Err(format!("the init service exited {code}:\n{logs}"));
    }
    let said = logs.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default();
    progress.say(&format!("the init service exited 0: {}", said.trim()));
    Ok(())
}

/// The leader node `node` names in `tianping cluster status`.
fn leader_seen_by(compose: &Compose, node: u64) -> Result<u64, String> {
    let output = checked(&mut compose.tianping(node, &["cluster", "status"]))?;
    let text = stdout(&output);
    parse_leader(&text).ok_or_else(|| format!("node {node} knows no leader yet: {}", text.trim()))
}

/// The leader's id in `tianping cluster status` text (`cluster: leader node 3, term ...`).
fn parse_leader(status: &str) -> Option<u64> {
    let (_, after) = status.split_once("leader node ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The data center holding `node`, and its nodes.
fn data_center_of(node: u64) -> Result<(&'static str, &'static [u64]), String> {
    DATA_CENTERS
        .iter()
        .find(|(_, nodes)| nodes.contains(&node))
        .map(|(name, nodes)| (*name, *nodes))
        .ok_or_else(|| format!("node {node} is in no data center of {COMPOSE_FILE}"))
}

/// The Docker network the Compose file calls `wan`, in the test's project.
fn wan_network() -> Result<String, String> {
    let output = checked(Command::new("docker").args([
        "network",
        "ls",
        "--quiet",
        "--filter",
        &format!("label=com.docker.compose.project={PROJECT}"),
        "--filter",
        "label=com.docker.compose.network=wan",
    ]))?;
    let text = stdout(&output);
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        [network] => Ok((*network).to_owned()),
        other => Err(format!("expected one `wan` network of project {PROJECT}, found {other:?}")),
    }
}

/// The container id of node `node`.
fn container_of(compose: &Compose, node: u64) -> Result<String, String> {
    let output = checked(&mut compose.command(&["ps", "--quiet", &format!("tianping-{node}")]))?;
    let id = stdout(&output).trim().to_owned();
    if id.is_empty() { Err(format!("node {node} has no container")) } else { Ok(id) }
}

fn create_account(id: &str) -> Vec<&str> {
    vec!["account", "create", "--id", id, "--ledger", "156", "--code", "1"]
}

fn create_transfer<'a>(id: &'a str, amount: &'a str) -> Vec<&'a str> {
    vec![
        "transfer", "create", "--id", id, "--debit", "1", "--credit", "2", "--amount", amount,
        "--ledger", "156", "--code", "1",
    ]
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Calls `attempt` until it succeeds or `limit` passes; the last error says what was missing.
fn wait_until<T>(
    limit: Duration,
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() >= deadline => {
                return Err(format!("no {what} within {} s: {error}", limit.as_secs()));
            }
            Err(_) => std::thread::sleep(POLL_PAUSE),
        }
    }
}

/// Runs `command` within `COMMAND_LIMIT`; its output if it exits 0, else an error with it.
fn checked(command: &mut Command) -> Result<Output, String> {
    let output = output_within(command)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "`{}` failed ({}): {}{}",
            process::describe(command),
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Runs `command` with its output captured, killing it after `COMMAND_LIMIT`.
fn output_within(command: &mut Command) -> Result<Output, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("could not start `{}`: {error}", process::describe(command)))?;
    // The output is read on threads so a chatty command cannot block on a full pipe.
    let readers = [child.stdout.take().map(read_all), child.stderr.take().map(read_all)];
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{}` did not finish within {} s",
                    process::describe(command),
                    COMMAND_LIMIT.as_secs()
                ));
            }
            Err(error) => {
                return Err(format!("waiting for `{}`: {error}", process::describe(command)));
            }
        }
    };
    let [out, err] =
        readers.map(|reader| reader.and_then(|handle| handle.join().ok()).unwrap_or_default());
    Ok(Output { status, stdout: out, stderr: err })
}

fn read_all(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_is_read_from_cluster_status() {
        let status = "cluster: leader node 4, term 3, 5 voters, 0 learners (answered by node 5: \
                      last log index 7, applied 7)\n  node 1 voter ...";
        assert_eq!(parse_leader(status), Some(4));
        assert_eq!(parse_leader("cluster: no leader known, term 2, 5 voters"), None);
    }

    #[test]
    fn the_data_centers_are_the_compose_files() {
        let file = std::fs::read_to_string(process::workspace_root().join(COMPOSE_FILE))
            .expect("the Compose file");
        for (name, nodes) in DATA_CENTERS {
            for node in nodes {
                let service = format!("tianping-{node}:");
                let (_, rest) = file.split_once(&service).expect("a service per node");
                let block = rest.split("\n  tianping-").next().unwrap_or(rest);
                assert!(block.contains(&format!("TIANPING_DATA_CENTER: {name}")), "{service}");
                assert!(block.contains(&format!("networks: [{name}, wan]")), "{service}");
            }
        }
        assert_eq!(data_center_of(3).expect("placed").0, "dc-b");
    }
}
