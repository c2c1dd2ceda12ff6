//! The generic-client check of `cargo xtask test`: a client that knows Tianping only through
//! gRPC server reflection (Python `grpcio` + `grpcio-reflection`, no `.proto` files, no
//! generated code) lists the services of a local `dev up` cluster (`tianping_supervisor::
//! LocalCluster`, the code `tianping dev up` runs) and creates accounts and
//! a transfer; then the `tianping` command line creates and looks up a transfer through
//! another node; then the cluster is stopped with SIGINT, as Ctrl-C would.
//!
//! The Python packages are pinned in `node/tests/clients/requirements.txt` and installed into
//! a virtualenv beside the target directory (`$CARGO_TARGET_DIR/../tianping-pyenv`, or
//! `target/tianping-pyenv`), reused while the requirements file is unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cluster::{self, LocalCluster};
use crate::process::{self, Progress};

/// The pinned Python packages, relative to the workspace root.
const REQUIREMENTS: &str = "node/tests/clients/requirements.txt";

/// The client script, relative to the workspace root.
const SCRIPT: &str = "node/tests/clients/reflection_client.py";

/// The stamp in the virtualenv: the requirements it was built from.
const STAMP: &str = "tianping-requirements.txt";

/// Where the virtualenv lives: beside the target directory, so it survives like the build
/// cache does (and never inside the clone when CARGO_TARGET_DIR points outside it).
fn virtualenv_directory() -> PathBuf {
    virtualenv_directory_named("tianping-pyenv")
}

/// A virtualenv directory called `name` beside the target directory (see
/// `virtualenv_directory`); other checks with their own pinned packages use their own name,
/// so their stamps never make each other reinstall.
pub(crate) fn virtualenv_directory_named(name: &str) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => {
            let target = PathBuf::from(target);
            target.parent().map_or_else(|| target.join(name), |parent| parent.join(name))
        }
        None => process::workspace_root().join("target").join(name),
    }
}

/// Runs the whole check.
pub fn run(progress: &Progress) -> Result<(), String> {
    let binary = process::build_tianping(progress)?;
    let python = ensure_virtualenv(progress)?;
    let data_dir = cluster::scratch_directory("generic-client")?;
    let local = LocalCluster::start(progress, &binary, 5, &data_dir)?;
    let checked = check_clients(progress, &python, &binary, &local.api_addresses);
    progress.say("stopping the cluster with SIGINT");
    let stopped = local.stop();
    checked?;
    stopped?;
    progress.say("the cluster stopped cleanly");
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}

/// The virtualenv's python, after creating the virtualenv and installing the pinned packages
/// unless it already holds exactly these requirements.
fn ensure_virtualenv(progress: &Progress) -> Result<PathBuf, String> {
    ensure_virtualenv_in(
        progress,
        &virtualenv_directory(),
        REQUIREMENTS,
        "a generic gRPC client that knows the API only through server reflection",
    )
}

/// The python of virtualenv `venv`, after creating it and installing the packages pinned in
/// `requirements` (relative to the workspace root) unless the stamp says it already holds
/// exactly these; `why` says in the progress line what they are for.
pub(crate) fn ensure_virtualenv_in(
    progress: &Progress,
    venv: &Path,
    requirements: &str,
    why: &str,
) -> Result<PathBuf, String> {
    let root = process::workspace_root();
    let requirements_path = root.join(requirements);
    let requirements = std::fs::read_to_string(&requirements_path)
        .map_err(|error| format!("reading {}: {error}", requirements_path.display()))?;
    let python = venv.join("bin").join("python");
    let stamp = venv.join(STAMP);
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|text| text == requirements) {
        progress.say(&format!("Python packages present in {}", venv.display()));
        return Ok(python);
    }
    if !python.exists() {
        progress.say(&format!("creating a Python virtualenv in {} ({why})", venv.display()));
        process::run(Command::new("python3").arg("-m").arg("venv").arg(venv)).map_err(|error| {
            format!(
                "{error}; the check needs Python 3 with venv (Debian: apt-get install python3-venv)"
            )
        })?;
    }
    let pinned: Vec<&str> = requirements
        .lines()
        .filter_map(|line| line.split('#').next())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    progress.say(&format!(
        "installing Python packages {} from PyPI into {}: {why}",
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

/// The reflection client against node 2, then the CLI against node 4.
fn check_clients(
    progress: &Progress,
    python: &Path,
    binary: &Path,
    api_addresses: &[String],
) -> Result<(), String> {
    let node = |id: usize| {
        api_addresses
            .get(id - 1)
            .cloned()
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
    // The check's cluster runs plaintext (`cluster::LocalCluster`), for grpcurl-style clients.
    create.args(["--insecure", "--addr", &cli]).args([
        "transfer", "create", "--id", "9000010", "--debit", "9000001", "--credit", "9000002",
        "--amount", "250", "--ledger", "156", "--code", "1",
    ]);
    progress.say(&format!("the tianping CLI against node 4: {}", process::describe(&create)));
    process::run(&mut create)?;
    let mut lookup = Command::new(binary);
    lookup.args(["--insecure", "--addr", &cli, "transfer", "lookup", "9000010"]);
    progress.say(&format!("the tianping CLI against node 4: {}", process::describe(&lookup)));
    // Reads are linearizable by default: node 4 must see the transfer it just acknowledged.
    process::run(&mut lookup)?;
    Ok(())
}
