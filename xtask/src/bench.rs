//! `cargo xtask bench [NAME]`: runs benchmark binaries and passes their `bench: <metric>
//! <value>` lines through to standard output, one line per figure, so scripts can collect
//! them with `grep '^bench:'`. Everything else (cargo's progress, the benchmark's notes) goes
//! to standard error.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::prerequisites;
use crate::process::{self, Progress};

/// One benchmark `cargo xtask bench NAME` can run: a `harness = false` bench target.
struct Benchmark {
    /// The NAME on the command line.
    name: &'static str,
    /// The package that owns the bench target.
    package: &'static str,
    /// The `[[bench]]` target name.
    target: &'static str,
    /// What it measures, for `--help`, one line per entry.
    about: &'static [&'static str],
}

/// Every benchmark. Adding one is one entry here plus its `[[bench]]` target.
const BENCHMARKS: &[Benchmark] = &[
    Benchmark {
        name: "ledger",
        package: "tianping-ledger",
        target: "ledger_apply",
        about: &[
            "StateMachine::apply + MemoryStore commit of batches of 8 190 single-phase",
            "transfers over 100 000 accounts, one thread. Figures:",
            "ledger_apply_transfers_per_s (goal >= 1 000 000),",
            "ledger_apply_batch_p50_us, ledger_apply_batch_p99_us.",
        ],
    },
    Benchmark {
        name: "raft-store",
        package: "tianping-raft-store",
        target: "raft_store",
        about: &[
            "The RocksDB store on this machine's disk, through openraft's storage traits.",
            "raft_store_append_entries_per_s: log entries made durable per second, 16",
            "entries of 64 transfers per fsynced append call.",
            "raft_store_apply_transfers_per_s (goal >= 300 000): entries of 8 190",
            "single-phase transfers over 100 000 accounts applied through RocksDB;",
            "raft_store_apply_batch_p50_us, raft_store_apply_batch_p99_us.",
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
        text.push_str(&format!(
            "    {:<10} Runs: cargo bench --package {} --bench {}\n",
            "", benchmark.package, benchmark.target
        ));
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

/// Runs one bench target, forwarding its `bench:` lines; an error if it fails or prints none.
fn run_one(progress: &Progress, benchmark: &Benchmark) -> Result<(), String> {
    let mut command =
        process::cargo(&["bench", "--package", benchmark.package, "--bench", benchmark.target]);
    let description = process::describe(&command);
    progress.say(&format!("{}: {description}", benchmark.name));
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
