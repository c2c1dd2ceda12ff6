//! Prerequisites: the rustup components the checks use and the Debian packages the build and
//! the tests need. Each is checked first and installed only when missing, saying what is
//! installed and why, so a fresh machine (or CI runner) needs nothing but rustup and apt.

use std::process::Command;

use crate::process::{self, Progress};

/// A Debian package the build or the tests need, and why.
pub struct DebianPackage {
    /// The package name, as `apt-get install` takes it.
    pub name: &'static str,
    /// Why Tianping needs it, printed when it is installed.
    pub why: &'static str,
}

/// Every Debian package the build and the tests need. Adding one is one line here, e.g.
/// `DebianPackage { name: "redis-server", why: "integration tests of the cache adapter" },`.
pub const DEBIAN_PACKAGES: &[DebianPackage] = &[
    DebianPackage { name: "clang", why: "bindgen for librocksdb-sys (raft-store) runs clang" },
    DebianPackage { name: "libclang-dev", why: "bindgen for librocksdb-sys loads libclang" },
    DebianPackage {
        name: "python3-venv",
        why: "the generic-client check runs Python grpcio in a virtualenv",
    },
    DebianPackage {
        name: "libxml2-utils",
        why: "xmllint validates bank-adapters' ISO 20022 documents against the official XSDs",
    },
    DebianPackage {
        name: "prometheus",
        why: "promtool checks and unit-tests the alert rules and dashboard queries of deploy/",
    },
];

/// A rustup component `cargo xtask test` runs, as (component, the cargo subcommand it
/// provides, what needs it).
const RUSTUP_COMPONENTS: [(&str, &str, &str); 2] =
    [("rustfmt", "fmt", "`cargo fmt --check`"), ("clippy", "clippy", "`cargo clippy -D warnings`")];

/// Installs the rustup components the checks use, when missing.
pub fn ensure_rustup_components(progress: &Progress) -> Result<(), String> {
    for (component, subcommand, why) in RUSTUP_COMPONENTS {
        if process::succeeds(&mut process::cargo(&[subcommand, "--version"])) {
            continue;
        }
        progress.say(&format!(
            "rustup component `{component}` is missing (needed for {why}); installing it with \
             `rustup component add {component}`"
        ));
        process::run(Command::new("rustup").args(["component", "add", component])).map_err(
            |error| format!("{error}; install it by hand: rustup component add {component}"),
        )?;
    }
    Ok(())
}

/// Installs every package of `DEBIAN_PACKAGES` that `dpkg -s` does not report installed:
/// one `apt-get update`, then one `apt-get install -y` for all of them.
pub fn ensure_debian_packages(progress: &Progress) -> Result<(), String> {
    if DEBIAN_PACKAGES.is_empty() {
        return Ok(());
    }
    if !process::succeeds(Command::new("dpkg").arg("--version")) {
        let names: Vec<&str> = DEBIAN_PACKAGES.iter().map(|package| package.name).collect();
        progress.say(&format!(
            "warning: no dpkg here (not Debian?); cannot check for {}; make sure they are installed",
            names.join(", ")
        ));
        return Ok(());
    }
    let missing: Vec<&DebianPackage> =
        DEBIAN_PACKAGES.iter().filter(|package| !is_installed(package.name)).collect();
    if missing.is_empty() {
        let names: Vec<&str> = DEBIAN_PACKAGES.iter().map(|package| package.name).collect();
        progress.say(&format!("Debian packages present: {}", names.join(", ")));
        return Ok(());
    }
    for package in &missing {
        progress.say(&format!("installing Debian package `{}`: {}", package.name, package.why));
    }
    let names: Vec<&str> = missing.iter().map(|package| package.name).collect();
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&names);
    apt_get(&install)
        .map_err(|error| format!("{error}; install by hand: apt-get install {}", names.join(" ")))
}

/// True when `dpkg -s` reports `name` installed (not merely known, or removed with its
/// configuration files left behind).
fn is_installed(name: &str) -> bool {
    let Ok(output) = Command::new("dpkg").args(["-s", name]).output() else {
        return false;
    };
    output.status.success()
        && String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|line| line.starts_with("Status:") && line.ends_with("install ok installed"))
}

/// Runs `apt-get`, through `sudo` unless already root, without interactive prompts.
fn apt_get(arguments: &[&str]) -> Result<(), String> {
    let mut command = if is_root() {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("apt-get");
        sudo
    };
    command.args(arguments).env("DEBIAN_FRONTEND", "noninteractive");
    process::run(&mut command)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}
