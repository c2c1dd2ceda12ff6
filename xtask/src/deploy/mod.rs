//! The deployment checks of `cargo xtask test` and `cargo xtask image` (issue 15): the
//! container image, the Compose cluster, the Kubernetes manifests, the systemd unit and the
//! dashboards and alerts under `deploy/`.
//!
//! The static checks (`checks`) always run. The image (`image`) and the Compose cluster test
//! (`compose`) need a Docker daemon; without one they are skipped, saying so — the only
//! reason they may be.

mod checks;
mod compose;
pub mod image;

use std::process::Command;

use crate::process::{self, Progress};

/// The deploy step: static checks, then the image and the Compose cluster test.
pub fn run(progress: &Progress) -> Result<(), String> {
    let binary = process::build_tianping(progress)?;
    checks::run(progress, &binary)?;
    if let Err(reason) = docker_daemon() {
        progress.say(&format!(
            "skipped: the image and the Compose cluster test need a Docker daemon ({reason})"
        ));
        return Ok(());
    }
    image::build(progress)?;
    compose::run(progress)
}

/// Ok when a Docker daemon answers; else why not.
fn docker_daemon() -> Result<(), String> {
    let output = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map_err(|error| format!("no docker command: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("`docker info` failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}
