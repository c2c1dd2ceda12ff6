//! `cargo xtask bench cluster --profile`: where each microsecond of a transfer goes, on the
//! leader and on a follower (issue 17 item 1).
//!
//! While the cluster bench runs, `perf record` samples each node process (CPU clock, DWARF
//! call stacks, so stacks are whole without frame pointers). Each sample is charged to one
//! stage: the innermost frame of its stack that a stage's pattern names (a RocksDB
//! memtable insert called from the store's state commit is a state write; a `fdatasync` in
//! the kernel called from the log store is the log's append). A node's share of samples per
//! stage times its CPU per committed transfer (`node_cost`) is the stage's microseconds per
//! transfer. The table this prints is the one ARCHITECTURE.md keeps ("Where a transfer's
//! time goes").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Sampling frequency (Hz): a few thousand samples per node in ten seconds, enough for a 1 %
/// resolution while `perf script`'s unwinding stays under a minute per node.
pub const SAMPLE_HZ: u32 = 499;

/// Bytes of stack copied per sample for DWARF unwinding: deep enough for the async
/// handlers' stacks.
const STACK_BYTES: u32 = 16_384;

/// The stages a transfer's CPU goes to, in the table's order, each with the symbol
/// fragments (of demangled Rust paths, or C++ names) that mark a frame as that stage's.
/// A frame matches the first stage (in this order) with a fragment it contains.
pub const STAGES: &[(&str, &[&str])] = &[
    ("log append + fsync", &["tianping_raft_store::rocks::log_store"]),
    (
        "state writes (RocksDB write batch)",
        &["RocksLedger::add_write_set", "RocksLedger::commit_with"],
    ),
    ("state reads (RocksDB gets, scans)", &["tianping_raft_store::rocks::ledger"]),
    ("entry encode / decode", &["tianping_raft_store::format", "tianping_ledger::format"]),
    ("record codec", &["tianping_ledger::codec"]),
    (
        "apply: ledger compute + store glue",
        &["tianping_ledger::", "tianping_raft_store::apply", "tianping_raft_store::rocks"],
    ),
    ("group commit + writer", &["tianping_node::group_commit", "tianping_node::writer"]),
    (
        "client API (decode, convert, answer)",
        &["tianping_node::ledger_service", "tianping_proto::"],
    ),
    (
        "replication (Raft network)",
        &["tianping_node::network", "tianping_node::raft_service", "openraft::network"],
    ),
    ("Raft core (openraft)", &["openraft::"]),
    (
        "RocksDB background (flush, compaction)",
        &["rocksdb::FlushJob", "rocksdb::CompactionJob", "rocksdb::DBImpl::Background"],
    ),
    ("gRPC / HTTP/2 (tonic, h2, hyper)", &["tonic::", "h2::", "hyper::", "tower::"]),
    ("async runtime (tokio)", &["tokio::"]),
];

/// What a sample with no frame matching a stage is charged to, by its innermost frame's
/// object: the kernel's, or anything else (allocator, libc, unresolved frames).
const KERNEL: &str = "kernel (outside a named stage)";
const OTHER: &str = "other (allocator, libc, unresolved)";

/// A `perf record` of one node, running.
pub struct Recording {
    /// The node.
    pub node_id: u64,
    child: Child,
    output: PathBuf,
}

/// Starts `perf record` on process `pid` after `delay_s` seconds (past the bench's set-up and
/// warm-up) for `seconds`, writing under `directory`.
pub fn record(
    node_id: u64,
    pid: u32,
    delay_s: u32,
    seconds: u32,
    directory: &Path,
) -> Result<Recording, String> {
    let output = directory.join(format!("perf-node{node_id}.data"));
    // `exec`: the child's pid is perf's, so waiting for it waits for the recording.
    let script = format!(
        "sleep {delay_s} && exec perf record -e cpu-clock -F {SAMPLE_HZ} --call-graph \
         dwarf,{STACK_BYTES} -p {pid} -o '{}' -- sleep {seconds}",
        output.display()
    );
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("could not start perf (is linux-perf installed?): {error}"))?;
    Ok(Recording { node_id, child, output })
}

impl Recording {
    /// Waits for the recording and charges its samples to stages.
    pub fn finish(mut self) -> Result<Profile, String> {
        let status =
            self.child.wait().map_err(|error| format!("waiting for perf record: {error}"))?;
        if !status.success() {
            return Err(format!("perf record of node {} failed ({status})", self.node_id));
        }
        let script = Command::new("perf")
            .args(["script", "-F", "ip,sym,dso", "-i"])
            .arg(&self.output)
            .stderr(Stdio::null())
            .output()
            .map_err(|error| format!("could not run perf script: {error}"))?;
        if !script.status.success() {
            return Err(format!("perf script of node {} failed", self.node_id));
        }
        let _ = std::fs::remove_file(&self.output);
        Ok(charge(&String::from_utf8_lossy(&script.stdout)))
    }
}

/// Samples per stage.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub samples: BTreeMap<&'static str, u64>,
    pub total: u64,
}

impl Profile {
    /// The share of samples charged to `stage`, 0..=1.
    pub fn share(&self, stage: &str) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        self.samples.get(stage).copied().unwrap_or(0) as f64 / self.total as f64
    }
}

/// Charges every sample of a `perf script -F ip,sym,dso` text (samples separated by blank
/// lines, one frame per line, innermost first) to its stage.
pub fn charge(script: &str) -> Profile {
    let mut profile = Profile::default();
    for sample in script.split("\n\n") {
        let frames: Vec<&str> =
            sample.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
        if frames.is_empty() {
            continue;
        }
        profile.total += 1;
        *profile.samples.entry(stage_of(&frames)).or_default() += 1;
    }
    profile
}

/// The stage of one sample's frames (innermost first).
fn stage_of(frames: &[&str]) -> &'static str {
    for frame in frames {
        for (stage, fragments) in STAGES {
            if fragments.iter().any(|fragment| frame.contains(fragment)) {
                return stage;
            }
        }
    }
    if frames[0].contains("[kernel.kallsyms]") { KERNEL } else { OTHER }
}

/// Every row's name, in the table's order.
pub fn rows() -> Vec<&'static str> {
    let mut rows: Vec<&'static str> = STAGES.iter().map(|(stage, _)| *stage).collect();
    rows.extend([KERNEL, OTHER]);
    rows
}

/// The Markdown table: per stage, the share of each profiled node's CPU and its
/// microseconds per committed transfer (`columns`: a heading, the profile, the node's CPU µs
/// per transfer).
pub fn table(columns: &[(String, &Profile, f64)]) -> String {
    let mut text = String::from("| stage |");
    for (heading, _, _) in columns {
        text.push_str(&format!(" {heading} % | {heading} µs/transfer |"));
    }
    text.push_str("\n|---|");
    for _ in columns {
        text.push_str("---:|---:|");
    }
    text.push('\n');
    for row in rows() {
        text.push_str(&format!("| {row} |"));
        for (_, profile, cpu_us) in columns {
            let share = profile.share(row);
            text.push_str(&format!(" {:.1} | {:.2} |", share * 100.0, share * cpu_us));
        }
        text.push('\n');
    }
    text.push_str("| **all** |");
    for (_, profile, cpu_us) in columns {
        text.push_str(&format!(" 100 ({} samples) | {cpu_us:.2} |", profile.total));
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_goes_to_its_innermost_named_frame() {
        let script = "\
\t7f01 rocksdb::MemTable::Add (/usr/bin/tianping)
\t7f02 tianping_raft_store::rocks::ledger::RocksLedger::commit_with (/usr/bin/tianping)
\t7f03 tianping_raft_store::rocks::state_machine::apply (/usr/bin/tianping)
\t7f04 tokio::runtime::task::raw::poll (/usr/bin/tianping)

\tffff01 ext4_sync_file ([kernel.kallsyms])
\t7f05 fdatasync (/usr/lib/libc.so.6)
\t7f06 tianping_raft_store::rocks::log_store::RocksLogStore::append_entries (/usr/bin/tianping)

\t7f07 tianping_ledger::state_machine::transfers::apply (/usr/bin/tianping)
\t7f08 tianping_raft_store::apply::execute (/usr/bin/tianping)

\tffff02 tcp_sendmsg ([kernel.kallsyms])
\t7f09 [unknown] ([unknown])

\t7f0a malloc (/usr/lib/libc.so.6)
";
        let profile = charge(script);
        assert_eq!(profile.total, 5);
        assert_eq!(profile.samples.get("state writes (RocksDB write batch)"), Some(&1));
        assert_eq!(profile.samples.get("log append + fsync"), Some(&1));
        assert_eq!(profile.samples.get("apply: ledger compute + store glue"), Some(&1));
        assert_eq!(profile.samples.get(KERNEL), Some(&1));
        assert_eq!(profile.samples.get(OTHER), Some(&1));
        assert!((profile.share("log append + fsync") - 0.2).abs() < 1e-9);
    }

    #[test]
    fn the_table_gives_shares_and_microseconds() {
        let profile = charge("\t1 tianping_ledger::x (b)\n\n\t2 tokio::y (b)\n");
        let table = table(&[("leader".to_owned(), &profile, 10.0)]);
        assert!(table.contains("| apply: ledger compute + store glue | 50.0 | 5.00 |"), "{table}");
        assert!(table.contains("| async runtime (tokio) | 50.0 | 5.00 |"), "{table}");
        assert!(table.contains("| **all** | 100 (2 samples) | 10.00 |"), "{table}");
    }
}
