//! The generic-client check of `cargo xtask test`: a client that knows Tianping only through
//! gRPC server reflection (Python `grpcio` + `grpcio-reflection`, no `.proto` files, no
//! generated code) lists the services of a `tianping dev up` cluster and creates accounts and
//! a transfer; then the `tianping` command line creates and looks up a transfer through
//! another node; then the cluster is stopped with SIGINT, as Ctrl-C would.
//!
//! The Python packages are pinned in `node/tests/clients/requirements.txt` and installed into
//! a virtualenv beside the target directory (`$CARGO_TARGET_DIR/../tianping-pyenv`, or
//! `target/tianping-pyenv`), reused while the requirements file is unchanged.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{self, Progress};

/// Longest `tianping dev up` may take to print its ready banner.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest `tianping dev up` may take to stop every node after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts of the CLI lookup while the addressed replica applies the transfer.
const LOOKUP_ATTEMPTS: usize = 30;
const LOOKUP_PAUSE: Duration = Duration::from_millis(100);

/// The pinned Python packages, relative to the workspace root.
const REQUIREMENTS: &str = "node/tests/clients/requirements.txt";

/// The client script, relative to the workspace root.
const SCRIPT: &str = "node/tests/clients/reflection_client.py";

/// The stamp in the virtualenv: the requirements it was built from.
const STAMP: &str = "tianping-requirements.txt";

/// The cargo target directory (where `cargo build --release` put `tianping`).
fn target_directory() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target),
        None => process::workspace_root().join("target"),
    }
}

/// Where the virtualenv lives: beside the target directory, so it survives like the build
/// cache does (and never inside the clone when CARGO_TARGET_DIR points outside it).
fn virtualenv_directory() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => {
            let target = PathBuf::from(target);
            target.parent().map_or_else(
                || target.join("tianping-pyenv"),
                |parent| parent.join("tianping-pyenv"),
            )
        }
        None => process::workspace_root().join("target").join("tianping-pyenv"),
    }
}

/// Runs the whole check.
pub fn run(progress: &Progress) -> Result<(), String> {
    let mut build =
        process::cargo(&["build", "--release", "--package", "tianping-node", "--bin", "tianping"]);
    progress.say(&format!("building the tianping binary: {}", process::describe(&build)));
    process::run(&mut build)?;
    let python = ensure_virtualenv(progress)?;
    let binary = target_directory().join("release").join("tianping");
    let data_dir =
        std::env::temp_dir().join(format!("tianping-xtask-client-{}", std::process::id()));
    let outcome = with_cluster(progress, &binary, &data_dir, |endpoints| {
        check_clients(progress, &python, &binary, endpoints)
    });
    let _ = std::fs::remove_dir_all(&data_dir);
    outcome
}

/// The virtualenv's python, after creating the virtualenv and installing the pinned packages
/// unless it already holds exactly these requirements.
fn ensure_virtualenv(progress: &Progress) -> Result<PathBuf, String> {
    let root = process::workspace_root();
    let requirements_path = root.join(REQUIREMENTS);
    let requirements = std::fs::read_to_string(&requirements_path)
        .map_err(|error| format!("reading {}: {error}", requirements_path.display()))?;
    let venv = virtualenv_directory();
    let python = venv.join("bin").join("python");
    let stamp = venv.join(STAMP);
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|text| text == requirements) {
        progress.say(&format!("Python packages present in {}", venv.display()));
        return Ok(python);
    }
    if !python.exists() {
        progress.say(&format!(
            "creating a Python virtualenv in {} (for the generic-client check)",
            venv.display()
        ));
        process::run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|error| {
            format!("{error}; the check needs Python 3 with venv (Debian: apt-get install python3-venv)")
        })?;
    }
    let pinned: Vec<&str> = requirements
        .lines()
        .filter_map(|line| line.split('#').next())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    progress.say(&format!(
        "installing Python packages {} from PyPI into {}: a generic gRPC client that knows the \
         API only through server reflection",
        pinned.join(" "),
        venv.display()
    ));
    process::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements_path),
    )?;
    std::fs::write(&stamp, requirements)
        .map_err(|error| format!("writing {}: {error}", stamp.display()))?;
    Ok(python)
}

/// One node of the ready banner.
struct Endpoint {
    node_id: u64,
    api_address: String,
}

/// `tianping dev up`, stopped (SIGINT, then kill) if the check ends early.
struct DevUp {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl DevUp {
    /// Sends SIGINT and waits for the exit; Ok only when it exited successfully and said that
    /// every node stopped.
    fn stop(&mut self) -> Result<(), String> {
        signal_interrupt(self.child.id())?;
        let started = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= STOP_TIMEOUT => {
                    return Err(format!(
                        "tianping dev up did not exit within {} s of SIGINT",
                        STOP_TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(error) => return Err(format!("waiting for tianping dev up: {error}")),
            }
        };
        // The reader thread ends when dev up's stdout closes (the nodes log to files).
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        if !status.success() {
            return Err(format!("tianping dev up exited with {status} after SIGINT"));
        }
        if !rest.iter().any(|line| line.contains("all nodes stopped")) {
            return Err(format!("tianping dev up exited without stopping all nodes: {rest:?}"));
        }
        Ok(())
    }
}

impl Drop for DevUp {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGINT lets dev up stop its nodes; kill only if it does not exit.
            let _ = signal_interrupt(self.child.id());
            let started = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) && started.elapsed() < STOP_TIMEOUT {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal_interrupt(pid: u32) -> Result<(), String> {
    process::run(Command::new("kill").args(["-INT", &pid.to_string()]))
}

/// Starts `tianping dev up` in `data_dir`, waits for its banner, runs `check` with the nodes'
/// endpoints and stops the cluster with SIGINT.
fn with_cluster(
    progress: &Progress,
    binary: &Path,
    data_dir: &Path,
    check: impl FnOnce(&[Endpoint]) -> Result<(), String>,
) -> Result<(), String> {
    let mut command = Command::new(binary);
    command
        .args(["dev", "up", "--fresh", "--timeout", "60", "--data-dir"])
        .arg(data_dir)
        .env_remove("TIANPING_DEV_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    progress.say(&format!("starting a local cluster: {}", process::describe(&command)));
    let mut child = command
        .spawn()
        .map_err(|error| format!("starting `{}`: {error}", process::describe(&command)))?;
    let stdout = child.stdout.take().ok_or("tianping dev up has no stdout")?;
    let (lines_in, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("  dev up | {line}");
            if lines_in.send(line).is_err() {
                break;
            }
        }
    });
    let mut dev_up = DevUp { child, lines };
    let endpoints = wait_for_banner(&dev_up.lines)?;
    check(&endpoints)?;
    progress.say("stopping the cluster with SIGINT");
    dev_up.stop()?;
    progress.say("the cluster stopped cleanly");
    Ok(())
}

/// The endpoints of the ready banner (`  node N region=… dc=… api=HOST:PORT …`).
fn wait_for_banner(lines: &mpsc::Receiver<String>) -> Result<Vec<Endpoint>, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut ready = false;
    let mut endpoints = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).map_err(|_| {
            format!(
                "tianping dev up printed no complete ready banner within {} s",
                READY_TIMEOUT.as_secs()
            )
        })?;
        if line.starts_with("tianping dev: ready") {
            ready = true;
        } else if ready && line.contains("Ctrl-C stops all nodes") {
            return Ok(endpoints);
        } else if ready && let Some(endpoint) = parse_endpoint(&line) {
            endpoints.push(endpoint);
        }
    }
}

fn parse_endpoint(line: &str) -> Option<Endpoint> {
    let mut words = line.split_whitespace();
    if words.next()? != "node" {
        return None;
    }
    let node_id = words.next()?.parse().ok()?;
    let api_address = words.find_map(|word| word.strip_prefix("api="))?.to_owned();
    Some(Endpoint { node_id, api_address })
}

/// The reflection client against node 2, then the CLI against node 4.
fn check_clients(
    progress: &Progress,
    python: &Path,
    binary: &Path,
    endpoints: &[Endpoint],
) -> Result<(), String> {
    let node = |id: u64| {
        endpoints
            .iter()
            .find(|endpoint| endpoint.node_id == id)
            .map(|endpoint| endpoint.api_address.clone())
            .ok_or_else(|| format!("the ready banner lists no node {id}"))
    };
    let (reflecting, cli) = (node(2)?, node(4)?);
    let script = process::workspace_root().join(SCRIPT);
    let mut client = Command::new(python);
    client.arg(&script).arg(&reflecting).args(["--id-base", "9000000"]);
    progress.say(&format!(
        "reflection-only Python client against node 2: {}",
        process::describe(&client)
    ));
    process::run(&mut client)?;

    let mut create = Command::new(binary);
    create.args(["--addr", &cli]).args([
        "transfer", "create", "--id", "9000010", "--debit", "9000001", "--credit", "9000002",
        "--amount", "250", "--ledger", "156", "--code", "1",
    ]);
    progress.say(&format!("the tianping CLI against node 4: {}", process::describe(&create)));
    process::run(&mut create)?;
    let mut lookup = Command::new(binary);
    lookup.args(["--addr", &cli, "transfer", "lookup", "9000010"]);
    progress.say(&format!("the tianping CLI against node 4: {}", process::describe(&lookup)));
    // Node 4 reads its own replica: it may apply the transfer a moment after the leader.
    for attempt in 1..=LOOKUP_ATTEMPTS {
        match process::run(&mut lookup) {
            Ok(()) => return Ok(()),
            Err(error) if attempt == LOOKUP_ATTEMPTS => return Err(error),
            Err(_) => std::thread::sleep(LOOKUP_PAUSE),
        }
    }
    Ok(())
}
