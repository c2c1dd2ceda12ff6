//! A local cluster for xtask steps that need one running (`bench cluster`, the generic-client
//! check): `tianping dev up` as a child process in a fresh data directory, stopped with
//! SIGINT — the same Ctrl-C a developer sends — when the handle is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::Progress;

/// Longest `dev up` may take to report a healthy cluster.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Longest the cluster may take to stop after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `tianping dev up`.
pub struct LocalCluster {
    child: Child,
    /// Every node's client API address (`HOST:PORT`), in node-id order.
    pub api_addresses: Vec<String>,
    /// What `dev up` printed, for error messages.
    output: mpsc::Receiver<String>,
}

impl LocalCluster {
    /// Starts `binary dev up --fresh --voters VOTERS --data-dir DATA_DIR` and waits for its
    /// ready banner.
    pub fn start(
        progress: &Progress,
        binary: &Path,
        voters: u32,
        data_dir: &Path,
    ) -> Result<LocalCluster, String> {
        let mut command = Command::new(binary);
        command
            .args(["dev", "up", "--fresh", "--voters", &voters.to_string(), "--data-dir"])
            .arg(data_dir)
            .env_remove("TIANPING_DEV_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        progress.say(&format!(
            "starting a {voters}-voter cluster: {} dev up --fresh --voters {voters} --data-dir {}",
            binary.display(),
            data_dir.display()
        ));
        let mut child = command
            .spawn()
            .map_err(|error| format!("could not start {}: {error}", binary.display()))?;
        let (lines, output) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if lines.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let mut cluster = LocalCluster { child, api_addresses: Vec::new(), output };
        cluster.wait_ready()?;
        progress.say(&format!("cluster ready: {}", cluster.api_addresses.join(" ")));
        Ok(cluster)
    }

    /// Reads `dev up`'s output until the banner's node lines and `Ctrl-C stops` line.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix("api="))
                        .filter(|_| line.trim_start().starts_with("node "))
                    {
                        self.api_addresses.push(address.to_owned());
                    }
                    let ready = line.contains("Ctrl-C stops all nodes");
                    seen.push(line);
                    if ready && !self.api_addresses.is_empty() {
                        return Ok(());
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "the local cluster did not become ready in {}s; it printed:\n{}",
                        READY_TIMEOUT.as_secs(),
                        seen.join("\n")
                    ));
                }
            }
        }
    }

    /// Stops every node with SIGINT and waits; kills the cluster if it does not stop in time.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Err("the local cluster exited before it was stopped".to_owned());
        }
        let signalled = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while signalled && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("`tianping dev up` exited with {status}")),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(format!("the local cluster did not stop within {}s of SIGINT", STOP_TIMEOUT.as_secs()))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop_inner();
        }
    }
}

/// A fresh scratch directory for a cluster's data under the target directory (kept out of the
/// source tree, removed first if a previous run left it).
pub fn scratch_directory(name: &str) -> Result<PathBuf, String> {
    let path = crate::process::target_directory().join("xtask").join(name);
    match std::fs::remove_dir_all(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing {}: {error}", path.display()));
        }
        _ => {}
    }
    std::fs::create_dir_all(&path)
        .map_err(|error| format!("creating {}: {error}", path.display()))?;
    Ok(path)
}
