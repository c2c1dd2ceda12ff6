//! The split-brain drill: under load from every data center, isolate the leader's data center
//! — usually both ways, in some rounds one way only (an asymmetric partition) — while the
//! client attached to that data center keeps sending to the nodes inside it (its machine is
//! inside the partition, and its first attempt always goes to a local node). Heal after a
//! random while; 2–3 rounds per seed, all drawn from the seed.
//!
//! What must hold: the isolated old leader acknowledges nothing it could not commit (every
//! acknowledged transfer is in the final state as answered:
//! `tianping_history::checker::acknowledged`), no term ever has two leaders
//! (`tianping_history::checker::leaders`, sampled throughout), and after the last heal the
//! cluster commits again and every checker passes.

use std::sync::Arc;

use madsim::rand::{Rng, thread_rng};
use tianping_history::checker::leaders;

use super::Report;
use super::harness::{FaultLog, Load, Outcome, run_loaded, secs};
use crate::faults;
use crate::sampler::LeaderSampler;
use crate::world::{World, WorldConfig};

/// Runs one seed of the drill on a world shaped by `config`.
pub async fn run(config: &WorldConfig) -> Report {
    run_loaded(config, drive).await
}

async fn drive(world: Arc<World>, load: Load, mut log: FaultLog) -> Outcome {
    let sampler = LeaderSampler::start(world.clone());

    madsim::time::sleep(secs(1..3)).await;
    let rounds = thread_rng().gen_range(2..=3);
    for _ in 0..rounds {
        let Some(leader) = faults::await_leader(&world).await else {
            log.push("no leader to isolate this round".to_owned());
            continue;
        };
        let Some(data_center) = world.node(leader).map(|node| node.data_center) else {
            continue;
        };
        log.push(format!("leader {leader} is in data center {}", data_center + 1));
        let line = match thread_rng().gen_range(0..10) {
            // Asymmetric: the old leader's messages are lost, it still hears the rest.
            0 | 1 => faults::partition_one_way(&world, data_center, true),
            // Asymmetric: the old leader's messages get through, it hears nothing back.
            2 => faults::partition_one_way(&world, data_center, false),
            _ => faults::partition(&world, data_center),
        };
        log.push(line);
        madsim::time::sleep(secs(2..7)).await;
        log.push(faults::heal(&world));
        madsim::time::sleep(secs(1..4)).await;
    }

    let observed = sampler.stop().await;
    let nodes: Vec<u64> = world.nodes.iter().map(|node| node.id).collect();
    let (load_line, mut violations) = load.finish(&world, &nodes, &mut log).await;
    violations.extend(leaders::check(&observed));
    let terms = observed.iter().map(|sample| sample.term).max().unwrap_or(0);
    (log.into_lines(), format!("{load_line}, highest term led {terms}"), violations)
}
