//! `ChildProcess`: one supervised child process of any kind — a node, the bank simulator, a
//! bank worker — with its output appended to a log file. The one copy of start, signal
//! (through `kill(1)`), graceful stop and kill that every supervised process uses. Dropping
//! it SIGKILLs a child that still runs, so nothing outlives its supervisor, also when a
//! caller fails or a test panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::SupervisorError;

/// How often a waiting supervisor looks at a starting or stopping process.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Lines of a process's log quoted in an error.
pub const LOG_TAIL_LINES: usize = 20;

/// How a graceful stop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The process was not running.
    NotRunning,
    /// It exited on its own after SIGINT.
    Cleanly,
    /// It was still running at the deadline and was SIGKILLed.
    Killed,
}

/// One child process (running or not) and the log its output goes to.
#[derive(Debug)]
pub struct ChildProcess {
    /// What it is, for messages (`node 3`, `bank simulator`).
    what: String,
    log: PathBuf,
    child: Option<Child>,
}

impl ChildProcess {
    /// A process described as `what` whose output will be appended to `log`; not started.
    pub fn new(what: impl Into<String>, log: PathBuf) -> ChildProcess {
        ChildProcess { what: what.into(), log, child: None }
    }

    /// What it is, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Starts `command` with standard output and error appended to the log and no input.
    pub fn start(&mut self, mut command: Command) -> Result<(), SupervisorError> {
        if self.is_running() {
            return Err(SupervisorError::Usage(format!("{} is already running", self.what)));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(SupervisorError::file("opening", &self.log))?;
        let log_copy = log.try_clone().map_err(SupervisorError::file("opening", &self.log))?;
        let child = command.stdin(Stdio::null()).stdout(log).stderr(log_copy).spawn().map_err(
            |source| SupervisorError::Process {
                what: format!(
                    "starting {} ({})",
                    self.what,
                    command.get_program().to_string_lossy()
                ),
                source,
            },
        )?;
        self.child = Some(child);
        Ok(())
    }

    /// The running child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How the child exited, if it did (reaping it); `None` while it runs or was never started.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    /// True while the child runs.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exit_status().is_none()
    }

    /// SIGKILLs the process (`kill -9`: no clean stop, no flush) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn pause(&self) -> Result<(), SupervisorError> {
        self.signal("STOP")
    }

    /// Thaws a paused process (SIGCONT).
    pub fn resume(&self) -> Result<(), SupervisorError> {
        self.signal("CONT")
    }

    /// Sends SIGINT (what Ctrl-C sends), asking the process to stop cleanly.
    pub fn interrupt(&mut self) -> Result<(), SupervisorError> {
        if self.is_running() { self.signal("INT") } else { Ok(()) }
    }

    /// Waits (blocking: also used from `Drop`) until the process exited after `interrupt`, at
    /// most until `deadline`; then SIGKILLs it.
    pub fn wait_stopped(&mut self, deadline: Instant) -> Stopped {
        if self.child.is_none() {
            return Stopped::NotRunning;
        }
        loop {
            if self.exit_status().is_some() {
                self.child = None;
                return Stopped::Cleanly;
            }
            if Instant::now() >= deadline {
                self.kill();
                return Stopped::Killed;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// A graceful stop: SIGINT, up to `timeout` for the process to exit, then SIGKILL.
    pub fn stop(&mut self, timeout: Duration) -> Stopped {
        if !self.is_running() {
            self.child = None;
            return Stopped::NotRunning;
        }
        if self.interrupt().is_err() {
            self.kill();
            return Stopped::Killed;
        }
        self.wait_stopped(Instant::now() + timeout)
    }

    /// The last `LOG_TAIL_LINES` lines of the process's output, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    fn signal(&self, signal: &str) -> Result<(), SupervisorError> {
        let Some(pid) = self.pid() else {
            return Err(SupervisorError::Usage(format!("{} is not running", self.what)));
        };
        let what = format!("kill -{signal} {pid} ({})", self.what);
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|source| SupervisorError::Process { what: what.clone(), source })?;
        if status.success() {
            Ok(())
        } else {
            Err(SupervisorError::Process {
                what,
                source: std::io::Error::other(status.to_string()),
            })
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
