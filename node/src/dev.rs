//! `tianping dev up`: a local 5-node / 3-data-center cluster of child processes on loopback.
//!
//! How it comes up:
//! 1. Each node gets `<data-dir>/node-N/node.toml`. On the first run its addresses are
//!    `127.0.0.1:0`, so the OS picks free ports with no race; later runs reuse the file.
//!    Each node also gets a `metrics_address` on a free port (Prometheus `GET /metrics`).
//! 2. `dev up` starts `tianping node --config node.toml` per node (output to
//!    `node-N/node.log`). A node that is serving writes the addresses it bound to
//!    `node-N/addresses.toml` (see `main.rs`); `dev up` waits for every file and then writes the
//!    real ports into `node.toml`, so a restart keeps them (the membership stored in the log
//!    names them).
//! 3. If node 1 knows no members yet, `dev up` sends it `tianping.v1.Admin/Initialize` with all
//!    five voters; a restarted cluster is left as it is.
//! 4. Healthy means: every node knows the same leader and all five members, and every node has
//!    applied the entry the leader committed in its term (a quorum-committed write).
//! 5. Ctrl-C (SIGINT): each running node gets SIGINT (it stops its servers and Raft), `dev up`
//!    waits up to `STOP_TIMEOUT` and kills whatever is left. No node outlives `dev up`, also
//!    when start-up fails.
//!
//! This is operator tooling, not node code: it runs on the real runtime only and may read the
//! wall clock.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tianping_node::NodeConfig;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{ClusterStatusRequest, ClusterStatusResponse, InitializeRequest, Member};

/// The local cluster's region.
pub const REGION: &str = "local";

/// The local cluster's default shape: node id and data center, 2 + 2 + 1 voters, so losing
/// any one data center keeps a majority.
pub const NODES: [(u64, &str); 5] =
    [(1, "dc-a"), (2, "dc-a"), (3, "dc-b"), (4, "dc-b"), (5, "dc-c")];

/// The smaller shape (`--voters 3`): one voter in each of three data centers, for benchmarks
/// and laptops.
pub const NODES_3: [(u64, &str); 3] = [(1, "dc-a"), (2, "dc-b"), (3, "dc-c")];

/// Longest a stopping node may take after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often `dev up` looks at the nodes while it waits.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How often a progress line is printed while waiting.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// The file a serving node writes into its data directory: the addresses it bound.
pub const ADDRESSES_FILE: &str = "addresses.toml";

/// What `addresses.toml` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct BoundAddresses {
    /// The Raft transport's address.
    pub raft_address: String,
    /// The client API's address.
    pub api_address: String,
    /// Where Prometheus scrapes `/metrics`, if the node serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<String>,
}

/// Options of `tianping dev up`.
#[derive(Debug, clap::Args)]
pub struct UpOptions {
    /// Directory holding every node's data, configuration and log (`node-1` … `node-5`).
    /// Kept between runs: a second `dev up` restarts the same cluster on the same ports.
    #[arg(long, env = "TIANPING_DEV_DATA_DIR", value_name = "DIR", default_value = "tianping-dev")]
    pub data_dir: PathBuf,
    /// Delete the data directory first and start a brand-new cluster.
    #[arg(long)]
    pub fresh: bool,
    /// Longest to wait for the cluster to become healthy, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// How many voters: 5 (2 + 2 + 1 in dc-a, dc-b, dc-c) or 3 (one per data center). Fixed
    /// when the cluster is first made; a restart must name the same number.
    #[arg(long, value_name = "N", value_enum, default_value = "5")]
    pub voters: Voters,
}

/// The cluster sizes `dev up` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Voters {
    /// One voter in each of dc-a, dc-b, dc-c.
    #[value(name = "3")]
    Three,
    /// 2 + 2 + 1 voters in dc-a, dc-b, dc-c.
    #[value(name = "5")]
    Five,
}

impl UpOptions {
    /// The nodes to run: id and data center.
    fn shape(&self) -> &'static [(u64, &'static str)] {
        match self.voters {
            Voters::Three => &NODES_3,
            Voters::Five => &NODES,
        }
    }
}

/// One node process and what is known about it.
struct NodeProcess {
    node_id: u64,
    data_center: &'static str,
    directory: PathBuf,
    child: Child,
    addresses: Option<BoundAddresses>,
}

/// The node processes; dropping this stops every one still running.
struct Nodes {
    nodes: Vec<NodeProcess>,
}

impl Nodes {
    /// Sends SIGINT to every running node, waits up to `STOP_TIMEOUT`, kills the rest.
    fn stop(&mut self) {
        for node in &mut self.nodes {
            if matches!(node.child.try_wait(), Ok(None)) {
                let _ = Command::new("kill")
                    .args(["-INT", &node.child.id().to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for node in &mut self.nodes {
            loop {
                match node.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        println!(
                            "tianping dev: node {} did not stop in time; killing it",
                            node.node_id
                        );
                        let _ = node.child.kill();
                        let _ = node.child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `tianping dev up` until Ctrl-C.
pub async fn up(options: UpOptions) -> Result<(), String> {
    let started = Instant::now();
    let data_dir = prepare_data_dir(&options)?;
    let executable =
        std::env::current_exe().map_err(|error| format!("finding the tianping binary: {error}"))?;
    let shape = options.shape();
    println!("tianping dev: starting {} nodes under {}", shape.len(), data_dir.display());
    let mut nodes = Nodes { nodes: Vec::new() };
    for &(node_id, data_center) in shape {
        nodes.nodes.push(spawn_node(&executable, &data_dir, node_id, data_center)?);
    }
    let deadline = Instant::now() + Duration::from_secs(options.timeout);
    wait_for_addresses(&mut nodes, deadline).await?;
    let leader = initialize_and_wait(&mut nodes, deadline, started).await?;
    print_ready(&nodes, leader, started);

    tokio::select! {
        biased;
        signal = tokio::signal::ctrl_c() => {
            signal.map_err(|error| format!("waiting for Ctrl-C: {error}"))?;
            println!("tianping dev: Ctrl-C: stopping all nodes");
        }
        () = watch_exits(&mut nodes) => {
            println!("tianping dev: every node exited; see the node-N/node.log files");
        }
    }
    nodes.stop();
    println!("tianping dev: all nodes stopped");
    Ok(())
}

/// Makes (or wipes and makes) the data directory; its absolute path.
fn prepare_data_dir(options: &UpOptions) -> Result<PathBuf, String> {
    let path = &options.data_dir;
    if options.fresh {
        match std::fs::remove_dir_all(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("removing {}: {error}", path.display()));
            }
            _ => {}
        }
    }
    std::fs::create_dir_all(path)
        .map_err(|error| format!("creating {}: {error}", path.display()))?;
    let shape = options.shape();
    if let Some((extra, _)) = NODES.iter().find(|(node_id, _)| {
        !shape.iter().any(|(wanted, _)| wanted == node_id)
            && path.join(format!("node-{node_id}")).exists()
    }) {
        return Err(format!(
            "{} holds a larger cluster (node-{extra} exists) than --voters {}; \
             run with its size or add --fresh to start over",
            path.display(),
            shape.len()
        ));
    }
    std::fs::canonicalize(path).map_err(|error| format!("resolving {}: {error}", path.display()))
}

/// Writes the node's configuration on first use and starts its process.
fn spawn_node(
    executable: &Path,
    data_dir: &Path,
    node_id: u64,
    data_center: &'static str,
) -> Result<NodeProcess, String> {
    let directory = data_dir.join(format!("node-{node_id}"));
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("creating {}: {error}", directory.display()))?;
    let config_path = directory.join("node.toml");
    if !config_path.exists() {
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = NodeConfig::new(node_id, any_port, any_port, directory.clone());
        config.region = REGION.to_owned();
        config.data_center = data_center.to_owned();
        config.metrics_address = Some(any_port);
        write_config(&config_path, &config)?;
    } else {
        add_metrics_address(&config_path)?;
    }
    let addresses_path = directory.join(ADDRESSES_FILE);
    match std::fs::remove_file(&addresses_path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing {}: {error}", addresses_path.display()));
        }
        _ => {}
    }
    let log_path = directory.join("node.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|error| format!("opening {}: {error}", log_path.display()))?;
    let log_copy = log.try_clone().map_err(|error| format!("{}: {error}", log_path.display()))?;
    let child = Command::new(executable)
        .arg("node")
        .arg("--config")
        .arg(&config_path)
        .env_remove("TIANPING_CONFIG")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_copy)
        .spawn()
        .map_err(|error| format!("starting node {node_id}: {error}"))?;
    Ok(NodeProcess { node_id, data_center, directory, child, addresses: None })
}

/// Gives a node configured before `/metrics` existed a metrics endpoint on a free port (pinned
/// like the other addresses once the node reports it).
fn add_metrics_address(config_path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(config_path)
        .map_err(|error| format!("reading {}: {error}", config_path.display()))?;
    let mut config: NodeConfig =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", config_path.display()))?;
    if config.metrics_address.is_some() {
        return Ok(());
    }
    config.metrics_address = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    write_config(config_path, &config)
}

fn write_config(path: &Path, config: &NodeConfig) -> Result<(), String> {
    let text = toml::to_string(config).map_err(|error| format!("encoding the config: {error}"))?;
    std::fs::write(path, text).map_err(|error| format!("writing {}: {error}", path.display()))
}

/// The last lines of a node's log, for an error message.
fn log_tail(directory: &Path) -> String {
    let text = std::fs::read_to_string(directory.join("node.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// An error if any node has exited.
fn check_running(nodes: &mut Nodes) -> Result<(), String> {
    for node in &mut nodes.nodes {
        if let Ok(Some(status)) = node.child.try_wait() {
            return Err(format!(
                "node {} exited ({status}); the end of {}:\n{}",
                node.node_id,
                node.directory.join("node.log").display(),
                log_tail(&node.directory)
            ));
        }
    }
    Ok(())
}

/// Waits until every node has reported the addresses it bound, and pins them in its config.
async fn wait_for_addresses(nodes: &mut Nodes, deadline: Instant) -> Result<(), String> {
    loop {
        check_running(nodes)?;
        for node in &mut nodes.nodes {
            if node.addresses.is_some() {
                continue;
            }
            let path = node.directory.join(ADDRESSES_FILE);
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let addresses: BoundAddresses =
                toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
            pin_addresses(&node.directory.join("node.toml"), &addresses)?;
            node.addresses = Some(addresses);
        }
        let serving = nodes.nodes.iter().filter(|node| node.addresses.is_some()).count();
        if serving == nodes.nodes.len() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "only {serving} of {} nodes started serving in time",
                nodes.nodes.len()
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Writes the bound addresses into the node's config so a restart uses the same ports.
fn pin_addresses(config_path: &Path, addresses: &BoundAddresses) -> Result<(), String> {
    let text = std::fs::read_to_string(config_path)
        .map_err(|error| format!("reading {}: {error}", config_path.display()))?;
    let mut config: NodeConfig =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", config_path.display()))?;
    let parse = |address: &str| {
        address.parse().map_err(|error| format!("bound address {address:?}: {error}"))
    };
    config.raft_address = parse(&addresses.raft_address)?;
    config.api_address = parse(&addresses.api_address)?;
    if let Some(metrics_address) = &addresses.metrics_address {
        config.metrics_address = Some(parse(metrics_address)?);
    }
    write_config(config_path, &config)
}

fn members(nodes: &Nodes) -> Vec<Member> {
    nodes
        .nodes
        .iter()
        .map(|node| {
            let addresses = node.addresses.as_ref();
            Member {
                node_id: node.node_id,
                region: REGION.to_owned(),
                data_center: node.data_center.to_owned(),
                raft_address: addresses.map(|a| a.raft_address.clone()).unwrap_or_default(),
                api_address: addresses.map(|a| a.api_address.clone()).unwrap_or_default(),
                voter: true,
                ..Default::default()
            }
        })
        .collect()
}

async fn status_of(api_address: &str) -> Result<ClusterStatusResponse, String> {
    let mut client = AdminClient::connect(format!("http://{api_address}"))
        .await
        .map_err(|error| format!("connecting to {api_address}: {error}"))?;
    let response = client
        .cluster_status(ClusterStatusRequest {})
        .await
        .map_err(|status| format!("{api_address}: {}", status.message()))?;
    Ok(response.into_inner())
}

/// Initializes a new cluster through node 1 (a restarted one is left alone) and waits until it
/// is healthy; the leader's id.
async fn initialize_and_wait(
    nodes: &mut Nodes,
    deadline: Instant,
    started: Instant,
) -> Result<u64, String> {
    let first =
        nodes.nodes[0].addresses.as_ref().map(|a| a.api_address.clone()).unwrap_or_default();
    let status = status_of(&first).await?;
    if status.members.is_empty() {
        println!(
            "tianping dev: initializing a new cluster of {} voters through node 1",
            nodes.nodes.len()
        );
        let mut client = AdminClient::connect(format!("http://{first}"))
            .await
            .map_err(|error| format!("connecting to {first}: {error}"))?;
        client
            .initialize(InitializeRequest { members: members(nodes) })
            .await
            .map_err(|status| format!("initializing the cluster: {}", status.message()))?;
    } else {
        println!(
            "tianping dev: restarting the existing cluster in {}",
            nodes.nodes[0].directory.parent().unwrap_or(Path::new(".")).display()
        );
    }
    let mut last_progress = Instant::now();
    loop {
        check_running(nodes)?;
        let mut statuses = Vec::new();
        for node in &nodes.nodes {
            let address =
                node.addresses.as_ref().map(|a| a.api_address.as_str()).unwrap_or_default();
            if let Ok(status) = status_of(address).await {
                statuses.push(status);
            }
        }
        let missing = match health(&statuses, nodes.nodes.len()) {
            Ok(leader) => return Ok(leader),
            Err(missing) => missing,
        };
        if Instant::now() >= deadline {
            return Err(format!("the cluster did not become healthy in time: {missing}"));
        }
        if last_progress.elapsed() >= PROGRESS_INTERVAL {
            last_progress = Instant::now();
            println!(
                "tianping dev: [{:5.1}s] waiting: {}",
                started.elapsed().as_secs_f64(),
                missing
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The leader's id when the cluster is healthy, else what is missing.
fn health(statuses: &[ClusterStatusResponse], expected: usize) -> Result<u64, String> {
    if statuses.len() < expected {
        return Err(format!("{} of {expected} nodes answer", statuses.len()));
    }
    let Some(first) = statuses.iter().find(|status| status.has_leader) else {
        return Err("no leader elected yet".to_owned());
    };
    let leader = first.leader_id;
    if !statuses.iter().all(|status| status.has_leader && status.leader_id == leader) {
        return Err(format!("not every node knows leader {leader} yet"));
    }
    if !statuses.iter().all(|status| status.members.len() == expected) {
        return Err("not every node knows all members yet".to_owned());
    }
    let Some(leader_status) = statuses.iter().find(|status| status.node_id == leader) else {
        return Err(format!("leader {leader} did not answer"));
    };
    // A new leader commits an entry of its term first; once the leader has applied its whole
    // log, that entry is committed by a quorum.
    let committed = leader_status.applied_index;
    if committed == 0 || committed < leader_status.last_log_index {
        return Err(format!("leader {leader} has not committed an entry of its term yet"));
    }
    let caught_up = statuses.iter().filter(|status| status.applied_index >= committed).count();
    if caught_up < expected {
        return Err(format!("{caught_up} of {expected} nodes applied index {committed}"));
    }
    Ok(leader)
}

/// The ready banner: one line per node, a client example and how to stop.
fn print_ready(nodes: &Nodes, leader: u64, started: Instant) {
    println!(
        "tianping dev: ready in {:.1}s: {} voters in {} data centers, leader node {leader}",
        started.elapsed().as_secs_f64(),
        nodes.nodes.len(),
        3
    );
    let mut example_address = String::new();
    for node in &nodes.nodes {
        let Some(addresses) = node.addresses.as_ref() else { continue };
        if example_address.is_empty() {
            example_address = addresses.api_address.clone();
        }
        println!(
            "  node {} region={REGION} dc={} api={} raft={} metrics={} pid={} log={}",
            node.node_id,
            node.data_center,
            addresses.api_address,
            addresses.raft_address,
            addresses
                .metrics_address
                .as_ref()
                .map_or_else(|| "-".to_owned(), |address| format!("http://{address}/metrics")),
            node.child.id(),
            node.directory.join("node.log").display()
        );
    }
    // Both need nothing but a running node: grpcurl learns the API from server reflection.
    println!(
        "  try: tianping --addr {example_address} account create --id 1 --ledger 156 --code 1"
    );
    println!(
        "   or: grpcurl -plaintext -d '{{\"accounts\":[{{\"id\":\"1\",\"ledger\":156,\"code\":1}}]}}' {example_address} tianping.v1.Ledger/CreateAccounts"
    );
    println!("tianping dev: Ctrl-C stops all nodes");
}

/// Returns when every node has exited; says so when one exits on its own.
async fn watch_exits(nodes: &mut Nodes) {
    let mut reported = vec![false; nodes.nodes.len()];
    loop {
        for (index, node) in nodes.nodes.iter_mut().enumerate() {
            if !reported[index]
                && let Ok(Some(status)) = node.child.try_wait()
            {
                reported[index] = true;
                println!(
                    "tianping dev: node {} exited ({status}); see {}",
                    node.node_id,
                    node.directory.join("node.log").display()
                );
            }
        }
        if reported.iter().all(|done| *done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
