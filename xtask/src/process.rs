//! Running child processes: the workspace root, the cargo binary, progress lines with
//! elapsed time, and errors that say which command failed and how.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace root (the parent of this crate's directory). Every command runs there so
/// `cargo xtask` behaves the same from any directory of the workspace.
pub fn workspace_root() -> PathBuf {
    let manifest_directory = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_directory.parent().unwrap_or(manifest_directory).to_path_buf()
}

/// A `cargo` command in the workspace root. `CARGO` is the cargo binary that started the
/// xtask, so the same toolchain builds everything; `CARGO_TARGET_DIR` and the rest of the
/// environment pass through unchanged (unset means cargo's default `target/`).
pub fn cargo(arguments: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(arguments).current_dir(workspace_root());
    command
}

/// The command line as a user would type it, for progress and error lines.
pub fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .map_or_else(|| command.get_program().to_string_lossy(), |name| name.to_string_lossy());
    let mut line = program.into_owned();
    for argument in command.get_args() {
        line.push(' ');
        line.push_str(&argument.to_string_lossy());
    }
    line
}

/// Runs `command` with inherited standard streams; an error unless it exits successfully.
pub fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|error| format!("could not start `{}`: {error}", describe(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// True when `command` starts and exits successfully; its output is discarded.
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Progress lines of one xtask command, stamped with the seconds since it started.
pub struct Progress {
    task: &'static str,
    started: Instant,
}

impl Progress {
    /// Starts the clock for `task` (the xtask command's name).
    pub fn start(task: &'static str) -> Progress {
        Progress { task, started: Instant::now() }
    }

    /// Seconds since the start.
    pub fn elapsed_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Prints one progress line to standard error (standard output is kept for results,
    /// such as `bench:` lines).
    pub fn say(&self, message: &str) {
        eprintln!("xtask {} [{:7.1}s] {message}", self.task, self.elapsed_seconds());
    }
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` (relative to the workspace root) or
/// `target/`.
pub fn target_directory() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(directory) => workspace_root().join(directory),
        None => workspace_root().join("target"),
    }
}

/// The release `tianping` binary (built by `cargo build --release -p tianping-cli`).
pub fn tianping_binary() -> PathBuf {
    target_directory().join("release").join("tianping")
}

/// Builds the release `tianping` binary, saying so.
pub fn build_tianping(progress: &Progress) -> Result<PathBuf, String> {
    let mut build = cargo(&["build", "--release", "-p", "tianping-cli", "--bin", "tianping"]);
    progress.say(&format!("building: {}", describe(&build)));
    run(&mut build)?;
    Ok(tianping_binary())
}
