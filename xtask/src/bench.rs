//! `cargo xtask bench [NAME]`: runs benchmark binaries and passes their `bench: <metric>
//! <value>` lines through to standard output, one line per figure, so scripts can collect
//! them with `grep '^bench:'`. Everything else (cargo's progress, the benchmark's notes) goes
//! to standard error.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::cluster;
use crate::prerequisites;
use crate::process::{self, Progress};

/// One benchmark `cargo xtask bench NAME` can run.
struct Benchmark {
    /// The NAME on the command line.
    name: &'static str,
    /// How it runs.
    runner: Runner,
    /// What it measures, for `--help`, one line per entry.
    about: &'static [&'static str],
}

/// How a benchmark runs.
enum Runner {
    /// A `harness = false` bench target: `cargo bench --package PACKAGE --bench TARGET`.
    CargoBench {
        /// The package that owns the bench target.
        package: &'static str,
        /// The `[[bench]]` target name.
        target: &'static str,
    },
    /// `tianping bench ARGUMENTS` against a fresh local cluster of `voters` voters.
    Cluster {
        /// Voters of the local cluster (`tianping dev up`'s, through `tianping-supervisor`).
        voters: u32,
        /// `tianping bench`'s arguments after `--addr`.
        arguments: &'static [&'static str],
    },
}

impl Runner {
    /// The command line it amounts to, for `--help`.
    fn describe(&self) -> String {
        match self {
            Runner::CargoBench { package, target } => {
                format!("cargo bench --package {package} --bench {target}")
            }
            Runner::Cluster { voters, arguments } => format!(
                "a local cluster of {voters} voters (as tianping dev up --voters {voters}), then tianping bench --addr <node 1> {}",
                arguments.join(" ")
            ),
        }
    }
}

/// Every benchmark. Adding one is one entry here plus its `[[bench]]` target.
const BENCHMARKS: &[Benchmark] = &[
    Benchmark {
        name: "ledger",
        runner: Runner::CargoBench { package: "tianping-ledger", target: "ledger_apply" },
        about: &[
            "StateMachine::apply + MemoryStore commit of batches of 8 190 single-phase",
            "transfers over 100 000 accounts, one thread. Figures:",
            "ledger_apply_transfers_per_s (goal >= 1 000 000),",
            "ledger_apply_batch_p50_us, ledger_apply_batch_p99_us.",
        ],
    },
    Benchmark {
        name: "raft-store",
        runner: Runner::CargoBench { package: "tianping-raft-store", target: "raft_store" },
        about: &[
            "The RocksDB store on this machine's disk, through openraft's storage traits.",
            "raft_store_append_entries_per_s: log entries made durable per second, 16",
            "entries of 64 transfers per fsynced append call.",
            "raft_store_apply_transfers_per_s (goal >= 300 000): entries of 8 190",
            "single-phase transfers over 100 000 accounts applied through RocksDB;",
            "raft_store_apply_batch_p50_us, raft_store_apply_batch_p99_us.",
        ],
    },
    Benchmark {
        name: "feed",
        runner: Runner::CargoBench { package: "tianping-node", target: "feed" },
        about: &[
            "The change feed: one consumer reading a million-transfer log (123 entries of",
            "8 190 transfers, logged and applied to RocksDB first, not measured): the node's",
            "feed reads, wire conversion and encoding, the consumer's decoding and parsing",
            "(no socket). feed_events_per_s.",
        ],
    },
    Benchmark {
        name: "recon",
        runner: Runner::CargoBench { package: "tianping-reconcile", target: "recon" },
        about: &[
            "Transaction matching (对账) of one generated day, streaming, one thread:",
            "1 000 000 ledger movements against 1 000 000 statement entries, bank",
            "bookings skewed by seconds to an hour, a handful of injected differences",
            "of every movement class (the run fails unless it finds exactly those).",
            "recon_match_entries_per_s (generation included), recon_peak_rss_mib (VmHWM).",
        ],
    },
    Benchmark {
        name: "cluster",
        runner: Runner::Cluster {
            voters: 3,
            arguments: &["--duration", "20s", "--concurrency", "64", "--batch", "100"],
        },
        about: &[
            "A fresh local cluster of 3 voters (RocksDB, every log append fsynced) on this",
            "machine; `tianping bench` sends single-phase transfers over gRPC to the leader",
            "from 64 clients, 100 transfers per request, for 20 s (2 s warm-up not counted).",
            "cluster_transfers_per_s (goal >= 40 000), cluster_commit_p50_ms,",
            "cluster_commit_p99_ms (request latency as the client sees it).",
        ],
    },
];

/// `cargo xtask bench --help`, listing every benchmark.
pub fn help() -> String {
    let mut text = String::from(
        "cargo xtask bench: run benchmarks and print one `bench: <metric> <value>` line per figure

USAGE:
    cargo xtask bench          run every benchmark
    cargo xtask bench NAME     run one benchmark

Each benchmark is a `harness = false` bench target run with `cargo bench` (the bench profile
inherits release: optimised, debug line tables, overflow checks). Only `bench:` lines go to
standard output; cargo's output and the benchmark's notes go to standard error.

BENCHMARKS:
",
    );
    for benchmark in BENCHMARKS {
        let mut name = benchmark.name;
        for line in benchmark.about {
            text.push_str(&format!("    {name:<10} {line}\n"));
            name = "";
        }
        text.push_str(&format!("    {:<10} Runs: {}\n", "", benchmark.runner.describe()));
    }
    text
}

/// Runs the benchmark called `name`, or all of them when `None`.
pub fn run(name: Option<&str>) -> Result<(), String> {
    let selected: Vec<&Benchmark> = match name {
        None => BENCHMARKS.iter().collect(),
        Some(name) => {
            let benchmark =
                BENCHMARKS.iter().find(|benchmark| benchmark.name == name).ok_or_else(|| {
                    let names: Vec<&str> = BENCHMARKS.iter().map(|b| b.name).collect();
                    format!("unknown benchmark `{name}`; known: {}", names.join(", "))
                })?;
            vec![benchmark]
        }
    };
    let progress = Progress::start("bench");
    prerequisites::ensure_debian_packages(&progress)?;
    for benchmark in selected {
        run_one(&progress, benchmark)?;
    }
    progress.say("done");
    Ok(())
}

/// Runs one benchmark, forwarding its `bench:` lines.
fn run_one(progress: &Progress, benchmark: &Benchmark) -> Result<(), String> {
    match &benchmark.runner {
        Runner::CargoBench { package, target } => {
            let mut command = process::cargo(&["bench", "--package", package, "--bench", target]);
            forward_figures(progress, benchmark.name, &mut command)
        }
        Runner::Cluster { voters, arguments } => {
            let binary = process::build_tianping(progress)?;
            let data_dir = cluster::scratch_directory("bench-cluster")?;
            let cluster = cluster::LocalCluster::start(progress, &binary, *voters, &data_dir)?;
            let mut command = Command::new(&binary);
            command.arg("bench").arg("--addr").arg(&cluster.api_addresses[0]).args(*arguments);
            let outcome = forward_figures(progress, benchmark.name, &mut command);
            let stopped = cluster.stop();
            outcome?;
            stopped?;
            // A benchmark cluster's data is hundreds of MiB of throwaway transfers.
            let _ = std::fs::remove_dir_all(&data_dir);
            Ok(())
        }
    }
}

/// Runs `command`, passing its `bench:` lines to standard output; an error if it fails or
/// prints none.
fn forward_figures(progress: &Progress, name: &str, command: &mut Command) -> Result<(), String> {
    let description = process::describe(command);
    progress.say(&format!("{name}: {description}"));
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("could not start `{description}`: {error}"))?;
    let mut figures = 0;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|error| format!("reading `{description}`: {error}"))?;
            if line.starts_with("bench: ") {
                println!("{line}");
                figures += 1;
            } else {
                eprintln!("{line}");
            }
        }
    }
    let status = child.wait().map_err(|error| format!("waiting for `{description}`: {error}"))?;
    if !status.success() {
        return Err(format!("`{description}` failed ({status})"));
    }
    if figures == 0 {
        return Err(format!("`{description}` printed no `bench:` line"));
    }
    Ok(())
}
