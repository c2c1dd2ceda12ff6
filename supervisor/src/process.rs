//! `NodeProcess`: one `tianping node` child process and its files.
//!
//! A node is started with `tianping node --config <config> --bound-addresses-file <file>`,
//! its output appended to its log. It counts as serving once it wrote the bound-addresses
//! file; the supervisor then pins the bound ports into the config, so a restarted node comes
//! back where the membership in the log says it is. Signals go through `kill(1)`: SIGKILL (a
//! crash: no clean stop, no flush), SIGSTOP / SIGCONT (a frozen process: its sockets stay
//! open, nothing answers), SIGINT (what Ctrl-C sends: the node stops its servers and Raft).
//! The process itself is a `ChildProcess` (start, signals, stop: the one copy). Dropping a
//! `NodeProcess` SIGKILLs it if it still runs, so no node outlives its supervisor,
//! also when a caller fails or a test panics.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use tianping_proto::v1::Member;

use crate::child::{ChildProcess, POLL_INTERVAL, Stopped};
use crate::{BoundAddresses, NodeSettings, SupervisorError};

/// Where a node's files go.
#[derive(Clone, Debug)]
pub struct NodeFiles {
    /// The TOML configuration the supervisor writes.
    pub config: PathBuf,
    /// The node's standard output and error, appended.
    pub log: PathBuf,
    /// The file the node reports its bound addresses in.
    pub bound_addresses: PathBuf,
}

/// One node process (running or not) and its files.
#[derive(Debug)]
pub struct NodeProcess {
    /// The node's id.
    pub node_id: u64,
    /// Its configuration; `start` writes it, `wait_serving` pins the bound ports into it.
    pub settings: NodeSettings,
    /// Its addresses as it reported them, once it served.
    pub addresses: Option<BoundAddresses>,
    binary: PathBuf,
    files: NodeFiles,
    /// The network namespace it runs in (`ip netns exec`), if any.
    namespace: Option<String>,
    /// The Raft address peers are told to dial, when not the one it listens on (a fault proxy
    /// in front of it).
    advertised_raft_address: Option<std::net::SocketAddr>,
    process: ChildProcess,
}

impl NodeProcess {
    /// A node that `binary` (the `tianping` executable) will run with `settings`; not started.
    pub fn new(binary: &Path, settings: NodeSettings, files: NodeFiles) -> NodeProcess {
        let process = ChildProcess::new(format!("node {}", settings.node_id), files.log.clone());
        NodeProcess {
            node_id: settings.node_id,
            settings,
            addresses: None,
            binary: binary.to_path_buf(),
            files,
            namespace: None,
            advertised_raft_address: None,
            process,
        }
    }

    /// Runs the node inside network namespace `namespace` (`ip netns exec`, which execs the
    /// binary, so the child's pid is the node's).
    pub fn in_namespace(mut self, namespace: String) -> NodeProcess {
        self.namespace = Some(namespace);
        self
    }

    /// Tells peers (through `member`, in the membership a new cluster is initialized with) to
    /// dial `address` for this node's Raft transport instead of the address it listens on: a
    /// drill's fault proxy forwards from there (`tianping-chaos`). The node itself still
    /// listens where its config says.
    pub fn advertise_raft_address(&mut self, address: std::net::SocketAddr) {
        self.advertised_raft_address = Some(address);
    }

    /// The Raft address peers dial: the advertised one if set, else where the node listens.
    pub fn raft_address(&self) -> std::net::SocketAddr {
        self.advertised_raft_address.unwrap_or(self.settings.raft_address)
    }

    /// The node's files.
    pub fn files(&self) -> &NodeFiles {
        &self.files
    }

    /// The client API address clients dial (the bound one once the node served).
    pub fn api_address(&self) -> String {
        self.settings.api_address.to_string()
    }

    /// The running child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// How the child exited, if it did (reaping it); `None` while it runs or was never started.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.process.exit_status()
    }

    /// True while the child runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// This node as a voter in an `Initialize` request.
    pub fn member(&self) -> Member {
        Member {
            node_id: self.node_id,
            region: self.settings.region.clone(),
            data_center: self.settings.data_center.clone(),
            raft_address: self.raft_address().to_string(),
            api_address: self.settings.api_address.to_string(),
            voter: true,
            ..Default::default()
        }
    }

    /// Writes the config and starts the process, without waiting for it to serve.
    pub fn start(&mut self) -> Result<(), SupervisorError> {
        if self.is_running() {
            return Err(SupervisorError::Usage(format!(
                "node {} is already running",
                self.node_id
            )));
        }
        let data = &self.settings.data_directory;
        std::fs::create_dir_all(data).map_err(SupervisorError::file("creating", data))?;
        let reported = &self.files.bound_addresses;
        match std::fs::remove_file(reported) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(SupervisorError::file("removing", reported)(error));
            }
            _ => {}
        }
        self.addresses = None;
        self.settings.write(&self.files.config)?;
        let mut command = match &self.namespace {
            Some(namespace) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", namespace]).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command
            .arg("node")
            .arg("--config")
            .arg(&self.files.config)
            .arg("--bound-addresses-file")
            .arg(reported)
            .env_remove("TIANPING_CONFIG")
            .env_remove("TIANPING_BOUND_ADDRESSES_FILE");
        self.process.start(command)
    }

    /// Looks once: the addresses if the node now serves (pinning them into its config), `None`
    /// if not yet, an error if it exited.
    pub fn poll_serving(&mut self) -> Result<Option<&BoundAddresses>, SupervisorError> {
        if self.addresses.is_none() {
            if let Some(status) = self.exit_status() {
                return Err(self.exited(status));
            }
            let Some(addresses) = BoundAddresses::read(&self.files.bound_addresses)? else {
                return Ok(None);
            };
            self.pin(&addresses)?;
            self.addresses = Some(addresses);
        }
        Ok(self.addresses.as_ref())
    }

    /// Waits until the node serves (or `timeout` passes, or it exits); its addresses.
    pub async fn wait_serving(
        &mut self,
        timeout: Duration,
    ) -> Result<BoundAddresses, SupervisorError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(addresses) = self.poll_serving()? {
                return Ok(addresses.clone());
            }
            if Instant::now() >= deadline {
                return Err(SupervisorError::Timeout(format!(
                    "node {} did not serve within {timeout:?}:\n{}",
                    self.node_id,
                    self.log_tail()
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Starts the node and waits until it serves: `start`, then `wait_serving`.
    pub async fn spawn(&mut self, timeout: Duration) -> Result<BoundAddresses, SupervisorError> {
        self.start()?;
        self.wait_serving(timeout).await
    }

    /// Starts a stopped node again with its config (same id, same pinned ports, its data if
    /// not wiped) and waits until it serves.
    pub async fn restart(&mut self, timeout: Duration) -> Result<BoundAddresses, SupervisorError> {
        self.spawn(timeout).await
    }

    /// Writes the bound addresses into the config, so a restart uses the same ports.
    fn pin(&mut self, addresses: &BoundAddresses) -> Result<(), SupervisorError> {
        let path = &self.files.bound_addresses;
        let parse = |address: &str| {
            address.parse().map_err(|error| SupervisorError::Parse {
                path: path.clone(),
                reason: format!("bound address {address:?}: {error}"),
            })
        };
        self.settings.raft_address = parse(&addresses.raft_address)?;
        self.settings.api_address = parse(&addresses.api_address)?;
        if let Some(metrics_address) = &addresses.metrics_address {
            self.settings.metrics_address = Some(parse(metrics_address)?);
        }
        self.settings.write(&self.files.config)
    }

    /// SIGKILLs the process (`kill -9`: no clean stop, no flush) and reaps it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Freezes the process (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn pause(&self) -> Result<(), SupervisorError> {
        self.process.pause()
    }

    /// Thaws a paused process (SIGCONT).
    pub fn resume(&self) -> Result<(), SupervisorError> {
        self.process.resume()
    }

    /// Sends SIGINT (what Ctrl-C sends), asking the node to stop cleanly; `wait_stopped` waits.
    pub fn interrupt(&mut self) -> Result<(), SupervisorError> {
        self.process.interrupt()
    }

    /// Waits (blocking: also used from `Drop`) until the process exited after `interrupt`, at
    /// most until `deadline`; then SIGKILLs it.
    pub fn wait_stopped(&mut self, deadline: Instant) -> Stopped {
        self.process.wait_stopped(deadline)
    }

    /// A graceful stop: SIGINT, up to `timeout` for the node to exit, then SIGKILL.
    pub fn stop(&mut self, timeout: Duration) -> Stopped {
        self.process.stop(timeout)
    }

    /// Deletes the node's data directory (store, snapshots, everything); the node must be down.
    pub fn wipe_data(&mut self) -> Result<(), SupervisorError> {
        if self.is_running() {
            return Err(SupervisorError::Usage(format!(
                "wipe node {} only while it is down",
                self.node_id
            )));
        }
        let data = &self.settings.data_directory;
        std::fs::remove_dir_all(data).map_err(SupervisorError::file("removing", data))
    }

    /// The last `child::LOG_TAIL_LINES` lines of the node's output, for error messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    fn exited(&self, status: ExitStatus) -> SupervisorError {
        SupervisorError::Exited {
            node_id: self.node_id,
            status,
            log: self.files.log.clone(),
            log_tail: self.log_tail(),
        }
    }
}
