//! `cargo xtask bench [NAME]`: runs benchmark binaries and passes their `bench: <metric>
//! <value>` lines through to standard output, one line per figure, so scripts can collect
//! them with `grep '^bench:'`. Everything else (cargo's progress, the benchmark's notes) goes
//! to standard error.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::cluster;
use crate::node_cost;
use crate::prerequisites;
use crate::process::{self, Progress};
use crate::profile;

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
            "cluster_commit_p99_ms, cluster_commit_p999_ms (request latency as the client",
            "sees it), cluster_batch_transfers and cluster_clients (the load's shape),",
            "cluster_transfers_committed (warm-up included), and what it cost each node",
            "(/proc: user+system CPU, bytes written to storage) per committed transfer:",
            "cluster_cpu_us_per_transfer_node<N>, cluster_bytes_written_per_transfer_node<N>",
            "and their means over the replicas, cluster_cpu_us_per_transfer_per_replica and",
            "cluster_bytes_written_per_transfer_per_replica.",
        ],
    },
];

/// `cargo xtask bench --help`, listing every benchmark.
pub fn help() -> String {
    let mut text = String::from(
        "cargo xtask bench: run benchmarks and print one `bench: <metric> <value>` line per figure

USAGE:
    cargo xtask bench                  run every benchmark
    cargo xtask bench NAME             run one benchmark
    cargo xtask bench cluster --sweep  the cluster benchmark at 1, 10, 100, 1 000 and 8 190
                                       transfers per request (64, 64, 64, 16, 4 clients, 10 s
                                       each after 2 s of warm-up), figures named
                                       cluster_b<batch>_…
    cargo xtask bench cluster --profile
                                       the cluster benchmark with every node under `perf
                                       record` (10 s, DWARF stacks): prints (and writes to
                                       the target directory's bench-profile/profile.md) the
                                       table of where a transfer's CPU goes, per stage, on the
                                       leader and the followers

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

/// How `cargo xtask bench cluster` runs beyond its one configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Over the client batch sizes of `SWEEP`.
    pub sweep: bool,
    /// With a `perf` profile of every node, charged to stages (`profile`).
    pub profile: bool,
}

/// Runs the benchmark called `name`, or all of them when `None`.
pub fn run(name: Option<&str>, flags: Flags) -> Result<(), String> {
    if (flags.sweep || flags.profile) && name != Some("cluster") {
        return Err("--sweep and --profile apply to the cluster benchmark: cargo xtask bench \
                    cluster --sweep | --profile"
            .to_owned());
    }
    if flags.sweep && flags.profile {
        return Err("--profile profiles the cluster benchmark's one configuration; run it \
                    without --sweep"
            .to_owned());
    }
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
        run_one(&progress, benchmark, flags)?;
    }
    progress.say("done");
    Ok(())
}

/// Runs one benchmark, forwarding its `bench:` lines.
fn run_one(progress: &Progress, benchmark: &Benchmark, flags: Flags) -> Result<(), String> {
    match &benchmark.runner {
        Runner::CargoBench { package, target } => {
            let mut command = process::cargo(&["bench", "--package", package, "--bench", target]);
            forward_figures(progress, benchmark.name, &mut command, "").map(|_| ())
        }
        Runner::Cluster { voters, arguments } => {
            let binary = process::build_tianping(progress)?;
            let data_dir = cluster::scratch_directory("bench-cluster")?;
            let cluster = cluster::LocalCluster::start(progress, &binary, *voters, &data_dir)?;
            let points: Vec<(Option<&SweepPoint>, Vec<String>)> = if flags.sweep {
                SWEEP.iter().map(|point| (Some(point), point.arguments())).collect()
            } else {
                vec![(None, arguments.iter().map(|word| (*word).to_owned()).collect())]
            };
            let mut outcome = Ok(());
            for (point, arguments) in points {
                outcome =
                    bench_cluster(progress, &binary, &cluster, point, &arguments, flags.profile);
                if outcome.is_err() {
                    break;
                }
            }
            let stopped = cluster.stop();
            outcome?;
            stopped?;
            // A benchmark cluster's data is hundreds of MiB of throwaway transfers.
            let _ = std::fs::remove_dir_all(&data_dir);
            Ok(())
        }
    }
}

/// When the profile starts after the bench starts (account set-up and the 2 s warm-up done),
/// and how long it records, inside the bench's 20 s.
const PROFILE_DELAY_S: u32 = 6;
const PROFILE_SECONDS: u32 = 10;

/// One point of `cargo xtask bench cluster --sweep`: transfers per request and requests in
/// flight. Fewer clients for the large batches keep the transfers in flight (and so the
/// latency the figures mean) comparable.
struct SweepPoint {
    batch: u32,
    clients: u32,
}

impl SweepPoint {
    /// `tianping bench`'s arguments for this point.
    fn arguments(&self) -> Vec<String> {
        let mut arguments: Vec<String> =
            ["--duration", "12s", "--warmup", "2s"].iter().map(|word| (*word).to_owned()).collect();
        arguments.extend(["--concurrency".to_owned(), self.clients.to_string()]);
        arguments.extend(["--batch".to_owned(), self.batch.to_string()]);
        arguments
    }
}

/// The sweep over client batch sizes (issue 17): 1, 10, 100, 1 000 and 8 190 (the ledger's
/// batch limit) transfers per request.
const SWEEP: [SweepPoint; 5] = [
    SweepPoint { batch: 1, clients: 64 },
    SweepPoint { batch: 10, clients: 64 },
    SweepPoint { batch: 100, clients: 64 },
    SweepPoint { batch: 1_000, clients: 16 },
    SweepPoint { batch: 8_190, clients: 4 },
];

/// Runs `tianping bench` once against `cluster`, forwarding its figures (renamed
/// `cluster_b<batch>_…` for a sweep point), then what the load cost each node: CPU
/// microseconds and bytes written per committed transfer, per node and averaged over the
/// replicas.
fn bench_cluster(
    progress: &Progress,
    binary: &std::path::Path,
    cluster: &cluster::LocalCluster,
    point: Option<&SweepPoint>,
    arguments: &[String],
    profiled: bool,
) -> Result<(), String> {
    let prefix = match point {
        Some(point) => format!("cluster_b{}_", point.batch),
        None => "cluster_".to_owned(),
    };
    let nodes = cluster.node_pids();
    let before: Vec<node_cost::Sample> =
        nodes.iter().map(|(_, pid)| node_cost::sample(*pid)).collect::<Result<_, _>>()?;
    let recordings = if profiled {
        let directory = cluster::scratch_directory("bench-profile")?;
        let mut recordings = Vec::new();
        for (node_id, pid) in &nodes {
            recordings.push(profile::record(
                *node_id,
                *pid,
                PROFILE_DELAY_S,
                PROFILE_SECONDS,
                &directory,
            )?);
        }
        progress.say(&format!(
            "profiling every node with perf from {PROFILE_DELAY_S} s for {PROFILE_SECONDS} s"
        ));
        recordings
    } else {
        Vec::new()
    };
    let mut command = Command::new(binary);
    // The bench's cluster runs in plaintext (`cluster.rs`): it measures the ledger, not TLS.
    command.arg("--insecure").arg("bench").arg("--addr").arg(&cluster.api_addresses[0]);
    command.args(arguments);
    let figures = forward_figures(progress, "cluster", &mut command, &prefix)?;
    let after: Vec<node_cost::Sample> =
        nodes.iter().map(|(_, pid)| node_cost::sample(*pid)).collect::<Result<_, _>>()?;
    let committed = figures
        .iter()
        .find_map(|line| line.strip_prefix(&format!("bench: {prefix}transfers_committed ")))
        .and_then(|value| value.trim().parse::<u64>().ok())
        .ok_or("`tianping bench` printed no transfers_committed figure")?;
    let ticks = node_cost::ticks_per_second();
    let mut costs = Vec::new();
    let mut cpu_of = std::collections::BTreeMap::new();
    for ((node_id, _), (before, after)) in nodes.iter().zip(before.into_iter().zip(after)) {
        let Some((cpu_us, bytes)) = node_cost::per_transfer(before, after, committed, ticks) else {
            continue;
        };
        println!("bench: {prefix}cpu_us_per_transfer_node{node_id} {cpu_us:.2}");
        println!("bench: {prefix}bytes_written_per_transfer_node{node_id} {bytes:.0}");
        costs.push((cpu_us, bytes));
        cpu_of.insert(*node_id, cpu_us);
    }
    if !recordings.is_empty() {
        progress.say("charging the profiles' samples to stages (perf script)");
        let mut profiles = Vec::new();
        for recording in recordings {
            let node_id = recording.node_id;
            profiles.push((node_id, recording.finish()?));
        }
        let columns: Vec<(String, &profile::Profile, f64)> = profiles
            .iter()
            .map(|(node_id, profile)| {
                let role = if *node_id == cluster.leader { "leader" } else { "follower" };
                let cpu_us = cpu_of.get(node_id).copied().unwrap_or(0.0);
                (format!("node {node_id} ({role})"), profile, cpu_us)
            })
            .collect();
        let table = profile::table(&columns);
        let path = cluster::scratch_directory("bench-profile")?.join("profile.md");
        std::fs::write(&path, &table).map_err(|error| format!("{}: {error}", path.display()))?;
        eprintln!("\nWhere a transfer's CPU goes (perf, {} Hz):\n\n{table}", profile::SAMPLE_HZ);
        progress.say(&format!("profile table written to {}", path.display()));
    }
    if !costs.is_empty() {
        let replicas = costs.len() as f64;
        let cpu_us = costs.iter().map(|(cpu, _)| cpu).sum::<f64>() / replicas;
        let bytes = costs.iter().map(|(_, bytes)| bytes).sum::<f64>() / replicas;
        println!("bench: {prefix}cpu_us_per_transfer_per_replica {cpu_us:.2}");
        println!("bench: {prefix}bytes_written_per_transfer_per_replica {bytes:.0}");
    }
    Ok(())
}

/// Runs `command`, passing its `bench:` lines to standard output; an error if it fails or
/// prints none.
fn forward_figures(
    progress: &Progress,
    name: &str,
    command: &mut Command,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let description = process::describe(command);
    progress.say(&format!("{name}: {description}"));
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("could not start `{description}`: {error}"))?;
    let mut figures = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|error| format!("reading `{description}`: {error}"))?;
            if let Some(figure) = line.strip_prefix("bench: ") {
                // A sweep point's figures carry its batch size: `cluster_x` becomes
                // `cluster_b100_x`.
                let figure = figure.strip_prefix("cluster_").unwrap_or(figure);
                let renamed = if prefix.is_empty() || !line.starts_with("bench: cluster_") {
                    line.clone()
                } else {
                    format!("bench: {prefix}{figure}")
                };
                println!("{renamed}");
                figures.push(renamed);
            } else {
                eprintln!("{line}");
            }
        }
    }
    let status = child.wait().map_err(|error| format!("waiting for `{description}`: {error}"))?;
    if !status.success() {
        return Err(format!("`{description}` failed ({status})"));
    }
    if figures.is_empty() {
        return Err(format!("`{description}` printed no `bench:` line"));
    }
    Ok(figures)
}
