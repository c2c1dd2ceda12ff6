//! `tianping drill` as an SRE runs it: short `failover`, `split-brain` and `dc-migration`
//! drills, each starting its own five-node cluster behind the fault proxy, must exit 0 with a
//! passing report. And the verdict must bite: a binary built with the planted `ack-before-commit` bug
//! must fail `split-brain` with a report naming a lost write (ignored by default: it needs
//! that second binary, see `a_leader_acknowledging_before_commit_fails_split_brain`).

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One drill at a time: each runs five nodes, and two at once on a small machine would
/// measure the machine, not the cluster.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Longest a short drill may take end to end (start, 12 s of workload — and a migration's
/// own steps —, converge, judge).
const DRILL_TIMEOUT: Duration = Duration::from_secs(150);

/// Runs `binary drill <name>` with a short workload, its report in `report`, under
/// `DRILL_TIMEOUT`; the exit status and the report's text.
fn drill(binary: &Path, name: &str, report: &Path, plant: Option<&str>) -> (ExitStatus, String) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut command = Command::new(binary);
    command
        .args(["drill", name, "--duration", "12s", "--seed", "5", "--latency", "metro"])
        .arg("--report")
        .arg(report)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    match plant {
        Some(plant) => command.env("TIANPING_PLANT", plant),
        None => command.env_remove("TIANPING_PLANT"),
    };
    let mut child = command.spawn().expect("start tianping drill");
    let deadline = Instant::now() + DRILL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tianping drill") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tianping drill {name} ran past {DRILL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(report.join("report.md")).unwrap_or_default();
    (status, text)
}

fn passes(name: &str) -> String {
    let directory = tempfile::tempdir().expect("temporary directory");
    let report = directory.path().join(name);
    let (status, text) = drill(Path::new(env!("CARGO_BIN_EXE_tianping")), name, &report, None);
    assert!(status.success(), "drill {name} exited {status}; report:\n{text}");
    assert!(text.starts_with(&format!("# Drill `{name}`: PASS")), "{text}");
    assert!(
        text.contains(
            "| every acknowledged write present with its fields; no refused write applied | holds |"
        ),
        "{text}"
    );
    assert!(
        text.contains("| replicas agree (one digest at one applied index, every node) | holds |"),
        "{text}"
    );
    assert!(text.contains("## Client-side unavailability"), "{text}");
    assert!(text.contains("## Longest gap between commits"), "{text}");
    assert!(text.contains("| steady state (baseline) |"), "{text}");
    text
}

#[test]
fn a_short_failover_drill_passes() {
    passes("failover");
}

#[test]
fn a_short_split_brain_drill_passes() {
    passes("split-brain");
}

/// The data center moved under load through the admin path: learners added in dc-d, caught
/// up, promoted, leadership moved off the leaving nodes, the old nodes removed and stopped;
/// the membership check holds on every remaining node and the report gives the throughput
/// during the migration relative to the steady state.
#[test]
fn a_short_dc_migration_drill_passes() {
    let text = passes("dc-migration");
    assert!(
        text.contains(
            "| the migration completed: the old data center's nodes removed, the new ones voters, no change in flight | holds |"
        ),
        "{text}"
    );
    for step in ["migration: dc-", "added as a learner", "caught up", "promoted", "removed"] {
        assert!(text.contains(step), "no `{step}` in the timeline:\n{text}");
    }
    assert!(text.contains("Throughput during the migration: **"), "{text}");
    assert!(text.contains("| migration |"), "{text}");
}

/// Needs a `tianping` built with the planted bugs, named by `TIANPING_PLANTED_BINARY`:
///
/// ```text
/// CARGO_TARGET_DIR=target/planted cargo build --release -p tianping-cli --features planted-bugs
/// TIANPING_PLANTED_BINARY=target/planted/release/tianping \
///     cargo test --release -p tianping-cli --test it drill::a_leader -- --ignored
/// ```
///
/// (A second binary: building it from inside the test would rebuild the node with the
/// feature in the test's own target directory while it runs.)
#[test]
#[ignore = "needs a binary built with --features planted-bugs in TIANPING_PLANTED_BINARY"]
fn a_leader_acknowledging_before_commit_fails_split_brain() {
    let binary = std::env::var_os("TIANPING_PLANTED_BINARY")
        .expect("TIANPING_PLANTED_BINARY names a tianping built with --features planted-bugs");
    let directory = tempfile::tempdir().expect("temporary directory");
    let report = directory.path().join("split-brain");
    let (status, text) =
        drill(Path::new(&binary), "split-brain", &report, Some("ack-before-commit"));
    assert!(!status.success(), "the planted bug went unnoticed; report:\n{text}");
    assert!(text.starts_with("# Drill `split-brain`: FAIL"), "{text}");
    // The writes the leader acknowledged before commit: missing, or held with another
    // outcome than the one acknowledged (the entry was recomputed by the new leader).
    assert!(
        text.lines().any(|line| line.starts_with("- transfer ")),
        "no acknowledged write named; report:\n{text}"
    );
}
