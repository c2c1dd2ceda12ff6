//! Tianping's project automation, in the cargo-xtask style: plain Rust run by
//! `cargo xtask <command>` (an alias in `.cargo/config.toml`), so CI and developers run the
//! same steps with nothing installed beyond a Rust toolchain.
//!
//! Commands:
//! - `cargo xtask up`: builds `tianping` and runs `tianping dev up`, a local 5-node /
//!   3-data-center cluster, until Ctrl-C.
//! - `cargo xtask test`: prerequisites, `cargo fmt --check`, clippy, then every test.
//! - `cargo xtask bench [NAME]`: runs benchmarks, printing `bench: <metric> <value>` lines.
//! - `cargo xtask sim --drill NAME --seeds N [--start S]`: sweeps seeds of a simulation drill.
//! - `cargo xtask image`: builds the node's container image `tianping:dev` (`deploy/`).
//!
//! `cargo xtask --help` and `cargo xtask <command> --help` describe each in detail.

mod bench;
mod cluster;
/// Checked by its tests only: the crate map of ARCHITECTURE.md against `cargo metadata`.
#[cfg(test)]
mod crate_map;
mod deploy;
mod generic_client;
mod interop;
/// Checked by its tests only: no two modules of a crate import each other, around any loop.
#[cfg(test)]
mod module_cycles;
mod node_cost;
mod prerequisites;
mod process;
mod profile;
/// Checked by its tests only: every `select!` is `biased;` (a simulated seed replays).
#[cfg(test)]
mod select_lint;
mod sim;
mod test;
mod up;

use std::process::ExitCode;

const USAGE: &str = "\
cargo xtask: Tianping's project automation

USAGE:
    cargo xtask <COMMAND> [ARGS]

COMMANDS:
    up [OPTIONS]   Build `tianping` and start a local 5-node / 3-data-center cluster on
                   loopback; prints each node's endpoints; Ctrl-C stops it.
    test           Check prerequisites, formatting and lints, then run every test
                   (what CI runs, through .ci/run).
    bench [NAME]   Run a benchmark (or all of them) and print `bench: <metric> <value>` lines;
                   `bench cluster --sweep` runs the cluster one over client batch sizes,
                   `bench cluster --profile` says where each transfer's CPU goes (perf).
    sim --drill NAME [--seeds N] [--start S] [--jobs J]
                   Run a simulation drill (madsim) over a seed range; prints failing
                   seeds with reproductions and `sim: seeds .. failures ..` last.
    image          Build the node's container image, tianping:dev (FROM scratch; needs
                   a Docker daemon). deploy/ runs it with Compose or Kubernetes.
    help           Print this help.

`cargo xtask <COMMAND> --help` explains a command in detail.
";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Help,
    Up { arguments: Vec<String> },
    UpHelp,
    Test,
    TestHelp,
    Bench { name: Option<String>, flags: bench::Flags },
    BenchHelp,
    Sim { arguments: Vec<String> },
    SimHelp,
    Image,
    ImageHelp,
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let request = match parse(&arguments) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("xtask: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match request {
        Request::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Request::UpHelp => {
            print!("{}", up::HELP);
            Ok(())
        }
        Request::TestHelp => {
            print!("{}", test::HELP);
            Ok(())
        }
        Request::BenchHelp => {
            print!("{}", bench::help());
            Ok(())
        }
        Request::SimHelp => {
            print!("{}", sim::HELP);
            Ok(())
        }
        Request::ImageHelp => {
            print!("{}", deploy::image::HELP);
            Ok(())
        }
        Request::Image => deploy::image::run(),
        Request::Sim { arguments } => sim::run(&arguments),
        Request::Up { arguments } => up::run(&arguments),
        Request::Test => test::run(),
        Request::Bench { name, flags } => bench::run(name.as_deref(), flags),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse(arguments: &[String]) -> Result<Request, String> {
    let is_help = |argument: &str| matches!(argument, "-h" | "--help" | "help");
    let words: Vec<&str> = arguments.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] => Ok(Request::Help),
        [first, ..] if is_help(first) => Ok(Request::Help),
        ["up", rest @ ..] if rest.iter().any(|word| is_help(word)) => Ok(Request::UpHelp),
        ["up", rest @ ..] => {
            Ok(Request::Up { arguments: rest.iter().map(|word| (*word).to_owned()).collect() })
        }
        ["test"] => Ok(Request::Test),
        ["test", rest @ ..] if rest.iter().any(|word| is_help(word)) => Ok(Request::TestHelp),
        ["test", rest @ ..] => Err(format!("`test` takes no arguments, got {rest:?}")),
        ["bench", rest @ ..] if rest.iter().any(|word| is_help(word)) => Ok(Request::BenchHelp),
        ["bench"] => Ok(Request::Bench { name: None, flags: bench::Flags::default() }),
        ["bench", name, flags @ ..] if !name.starts_with('-') => {
            let mut parsed = bench::Flags::default();
            for flag in flags {
                match *flag {
                    "--sweep" => parsed.sweep = true,
                    "--profile" => parsed.profile = true,
                    other => {
                        return Err(format!(
                            "`bench {name}` takes --sweep or --profile, not {other}"
                        ));
                    }
                }
            }
            Ok(Request::Bench { name: Some((*name).to_owned()), flags: parsed })
        }
        ["bench", rest @ ..] => {
            Err(format!("`bench` takes at most one NAME (then --sweep, --profile), got {rest:?}"))
        }
        ["sim", rest @ ..] if rest.iter().any(|word| is_help(word)) => Ok(Request::SimHelp),
        ["sim", rest @ ..] => {
            Ok(Request::Sim { arguments: rest.iter().map(|word| (*word).to_owned()).collect() })
        }
        ["image"] => Ok(Request::Image),
        ["image", rest @ ..] if rest.iter().any(|word| is_help(word)) => Ok(Request::ImageHelp),
        ["image", rest @ ..] => Err(format!("`image` takes no arguments, got {rest:?}")),
        [other, ..] => Err(format!("unknown command `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::{Request, bench, parse};

    fn check(arguments: &[&str], expected: Result<Request, ()>) {
        let arguments: Vec<String> = arguments.iter().map(|word| (*word).to_owned()).collect();
        assert_eq!(parse(&arguments).map_err(|_| ()), expected, "arguments {arguments:?}");
    }

    #[test]
    fn parses_commands_and_help() {
        check(&[], Ok(Request::Help));
        check(&["--help"], Ok(Request::Help));
        check(&["help"], Ok(Request::Help));
        check(&["up"], Ok(Request::Up { arguments: Vec::new() }));
        check(&["up", "--fresh"], Ok(Request::Up { arguments: vec!["--fresh".to_owned()] }));
        check(&["up", "--help"], Ok(Request::UpHelp));
        check(&["test"], Ok(Request::Test));
        check(&["test", "--help"], Ok(Request::TestHelp));
        check(&["test", "extra"], Err(()));
        let bench = |name: Option<&str>, sweep, profile| Request::Bench {
            name: name.map(str::to_owned),
            flags: bench::Flags { sweep, profile },
        };
        check(&["bench"], Ok(bench(None, false, false)));
        check(&["bench", "ledger"], Ok(bench(Some("ledger"), false, false)));
        check(&["bench", "raft-store"], Ok(bench(Some("raft-store"), false, false)));
        check(&["bench", "cluster", "--sweep"], Ok(bench(Some("cluster"), true, false)));
        check(&["bench", "cluster", "--profile"], Ok(bench(Some("cluster"), false, true)));
        check(&["bench", "cluster", "--fast"], Err(()));
        check(&["bench", "--sweep"], Err(()));
        check(&["bench", "-h"], Ok(Request::BenchHelp));
        check(&["bench", "a", "b"], Err(()));
        check(&["bench", "--fast"], Err(()));
        let sim = vec!["--drill".to_owned(), "failover".to_owned()];
        check(&["sim", "--drill", "failover"], Ok(Request::Sim { arguments: sim }));
        check(&["sim", "--help"], Ok(Request::SimHelp));
        check(&["image"], Ok(Request::Image));
        check(&["image", "--help"], Ok(Request::ImageHelp));
        check(&["image", "extra"], Err(()));
        check(&["deploy"], Err(()));
    }
}
