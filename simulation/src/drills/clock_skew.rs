//! The clock-skew drill (issue 11 item 4): under load from every data center, set one node's
//! wall clock — most often the leader's — ahead or behind true time by a second up to two
//! hours, jump it again while it is apart, sometimes skew a second node too (never a majority
//! at once), and set every clock right before the run ends; one to three rounds per seed, all
//! drawn from the seed. Besides every usual checker, `checker::event_time` holds every
//! acknowledged event's timestamp — what its limits, expiries and leases were judged at — to
//! the true time it happened, within the largest offset a leader may stamp with
//! (`NodeConfig::max_clock_offset_ms`).

use std::sync::Arc;

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
    let rounds = thread_rng().gen_range(1..=3);
    for _ in 0..rounds {
        let (victim, line) = clock_skew::random(&world, 0.7).await;
        log.push(line);
        madsim::time::sleep(secs(1..5)).await;
        if let Some(victim) = victim {
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
    let (load_line, violations) = load.finish(&world, &nodes, &mut log).await;
    (log.into_lines(), load_line, violations)
}
