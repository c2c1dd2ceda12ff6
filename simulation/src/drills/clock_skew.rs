//! The clock-skew drill (issue 11 item 4): under load from every data center, set one node's
//! wall clock — most often the leader's — ahead or behind true time by a second up to two
//! hours, jump it again while it is apart, sometimes skew a second node too (never a majority
//! at once), and set every clock right before the run ends; one to three rounds per seed, all
//! drawn from the seed. Besides every usual checker, `checker::event_time` holds every
//! acknowledged event's timestamp — what its limits, expiries and leases were judged at — to
//! the true time it happened, within the largest offset a leader may stamp with
//! (`NodeConfig::max_clock_offset_ms`).
//!
//! Two more rules: a leader whose clock is skewed hands leadership over while it is still
//! wrong, so writes commit again within `STEP_DOWN_BOUND`; and some rounds step every node's
//! clock at once (a bad time source for the whole fleet), which the leader's monotonic anchor
//! must keep out of log time (`checker::event_time` judges it).

use std::sync::Arc;
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};

use super::Report;
use super::harness::{FaultLog, Load, Outcome, run_loaded, secs};
use crate::faults::{self, clock_skew};
use crate::world::{World, WorldConfig};

/// Runs one seed of the drill on a world shaped by `config`.
pub async fn run(config: &WorldConfig) -> Report {
    run_loaded(config, drive).await
}

async fn drive(world: Arc<World>, load: Load, mut log: FaultLog) -> Outcome {
    madsim::time::sleep(secs(1..4)).await;
    let mut violations = Vec::new();
    let rounds = thread_rng().gen_range(1..=3);
    for _ in 0..rounds {
        if thread_rng().gen_bool(FLEET_STEP_ODDS) {
            // Every clock at once: the majority check cannot see it; the leader's monotonic
            // anchor holds log time to true time (`checker::event_time` judges it).
            log.push(clock_skew::step_all(&world));
            madsim::time::sleep(secs(1..4)).await;
            log.push(faults::heal(&world));
            madsim::time::sleep(secs(1..4)).await;
            continue;
        }
        let skewed_at = tianping_node::clock::system_now_ns();
        let (victim, line) = clock_skew::random(&world, 0.7).await;
        log.push(line);
        if let Some((leader, true)) = victim {
            // A leader no majority vouches for refuses to stamp and must hand leadership over
            // while its clock is still wrong, not keep refusing every write until it is set
            // right.
            madsim::time::sleep(STEP_DOWN_BOUND).await;
            let after_skew = skewed_at.saturating_add(nanos(IN_FLIGHT_SETTLED));
            match load.first_commit_between(after_skew, tianping_node::clock::system_now_ns()) {
                Some(committed) => log.push(format!(
                    "writes committed again {} ms after the leader's clock was skewed",
                    committed.saturating_sub(skewed_at) / 1_000_000
                )),
                None => violations.push(format!(
                    "no write committed within {STEP_DOWN_BOUND:?} of skewing the clock of the \
                     leader, node {leader}: a leader whose clock no majority vouches for must \
                     hand leadership to one whose clock they do"
                )),
            }
        } else {
            madsim::time::sleep(secs(1..5)).await;
        }
        if let Some((victim, _)) = victim {
            if thread_rng().gen_bool(0.5) {
                log.push(clock_skew::jump(&world, victim));
                madsim::time::sleep(secs(1..4)).await;
            }
            // A second node apart too, in a cluster large enough that two are a minority.
            let others: Vec<u64> =
                world.running().into_iter().filter(|node| *node != victim).collect();
            if world.nodes.len() >= 5 && !others.is_empty() && thread_rng().gen_bool(0.3) {
                let second = others[thread_rng().gen_range(0..others.len())];
                log.push(clock_skew::set(&world, second, clock_skew::random_offset_ms(), ""));
                madsim::time::sleep(secs(1..4)).await;
            }
        }
        log.push(faults::heal(&world));
        madsim::time::sleep(secs(1..4)).await;
    }
    log.push(faults::heal(&world));
    let nodes: Vec<u64> = world.nodes.iter().map(|node| node.id).collect();
    let (load_line, mut judged) = load.finish(&world, &nodes, &mut log).await;
    judged.extend(violations);
    (log.into_lines(), load_line, judged)
}

/// How often a round steps every clock at once instead of skewing one node's.
const FLEET_STEP_ODDS: f64 = 0.25;

/// How long after its clock is skewed a leader may take to hand leadership over and writes to
/// commit again: its refusal waits up to an election timeout (2.9 s cross-border) for agreement,
/// the hand-over and the new leader's first heartbeats take a few round trips more.
const STEP_DOWN_BOUND: Duration = Duration::from_secs(10);

/// Entries stamped before the skew commit within a round trip or so: an answer later than this
/// after the skew was stamped after it.
const IN_FLIGHT_SETTLED: Duration = Duration::from_secs(1);

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
