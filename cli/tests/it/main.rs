//! Integration tests of the `tianping` binary (`CARGO_BIN_EXE_tianping`), run as a user or an
//! operator runs it: the commands against a cluster of `tianping node` processes (`cli`; the
//! deployments' `health` and `cluster initialize`: `deploy_commands`),
//! `tianping dev up` (`dev_up`), short drills (`drill`: `tianping drill failover` and
//! `split-brain` must pass), and the fault tests that kill, pause, wipe or cut off node
//! processes the way a crash or an operator would (`failover`, `wiped_voter`,
//! `partition`, over `processes` and `workload`). Every test is bounded in time
//! (`support::TEST_TIMEOUT`) and in request count.

mod banks;
mod cli;
mod deploy_commands;
mod dev_up;
mod drill;
mod failover;
mod feed;
mod netns;
mod partition;
mod processes;
mod support;
mod wiped_voter;
mod workload;
