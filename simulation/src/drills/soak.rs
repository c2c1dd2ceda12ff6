//! The soak drill: under load from every data center, a random sequence of every fault the
//! world knows — node crash, leader kill, whole-data-center kill, power loss of the cluster,
//! data-center partition (both ways or one way), node pause (a GC-like stall, often the
//! leader's), flapping links, network weather (packet loss and latency spikes), slow fsync
//! (often the leader's) and an operator's leadership transfer mid-load — each followed by a
//! random wait, with crashed nodes restarted and every fault healed at random points. The
//! timed faults (pause, flapping, weather, slow fsync) end on their own timers, so they
//! overlap with the faults drawn after them. Then every fault stops and the harness runs
//! every checker, plus the `leaders` sampler (one leader per term) over the whole seed.

use std::sync::Arc;

use madsim::rand::{Rng, thread_rng};
use tianping_history::checker::leaders;
use tianping_proto::v1::TransferLeaderRequest;

use super::Report;
use super::harness::{FaultLog, Load, Outcome, run_loaded, secs};
use crate::sampler::LeaderSampler;
use crate::world::{World, WorldConfig};
use crate::{faults, operator};

/// Faults per seed, drawn from this range.
const FAULTS_PER_SEED: std::ops::RangeInclusive<u32> = 4..=8;

/// Runs one seed of the drill on a world shaped by `config`.
pub async fn run(config: &WorldConfig) -> Report {
    run_loaded(config, drive).await
}

async fn drive(world: Arc<World>, load: Load, mut log: FaultLog) -> Outcome {
    let sampler = LeaderSampler::start(world.clone());

    madsim::time::sleep(secs(1..3)).await;
    let count = thread_rng().gen_range(FAULTS_PER_SEED);
    for _ in 0..count {
        let data_centers = world.data_center_count();
        let line = match thread_rng().gen_range(0..18) {
            0 | 1 => {
                let up: Vec<u64> = world.running();
                match up.get(thread_rng().gen_range(0..up.len().max(1))) {
                    Some(victim) => faults::crash(&world, *victim),
                    None => "no running node to crash".to_owned(),
                }
            }
            2 | 3 => faults::kill_leader(&world).await,
            4 => faults::kill_leader_data_center(&world).await,
            5 => faults::power_loss(&world),
            6 | 7 => faults::partition(&world, thread_rng().gen_range(0..data_centers)),
            8 => faults::partition_one_way(
                &world,
                thread_rng().gen_range(0..data_centers),
                thread_rng().gen_bool(0.5),
            ),
            9 | 10 => transfer_leadership(&world).await,
            11 | 12 => faults::pause::random(&world, 0.5).await,
            13 => faults::flapping::random(&world).await,
            14 => faults::weather::random(&world),
            15 | 16 => faults::slow_disk::random(&world, 0.5).await,
            _ => faults::restart_crashed(&world).await,
        };
        log.push(line);
        madsim::time::sleep(secs(1..5)).await;
        // Faults do not pile up forever: sometimes the operator heals and restarts.
        if thread_rng().gen_bool(0.4) {
            log.push(faults::heal(&world));
            log.push(faults::restart_crashed(&world).await);
        }
    }

    // The faults stop.
    log.push(faults::heal(&world));
    log.push(faults::restart_crashed(&world).await);
    let observed = sampler.stop().await;
    let nodes: Vec<u64> = world.nodes.iter().map(|node| node.id).collect();
    let (load_line, mut violations) = load.finish(&world, &nodes, &mut log).await;
    violations.extend(leaders::check(&observed));
    (log.into_lines(), load_line, violations)
}

/// An operator moves leadership to a random other running voter while clients write. Its
/// failure (no leader, the target crashed meanwhile) is logged, not a violation: the checkers
/// judge what the cluster did, not whether the operator's wish came true.
async fn transfer_leadership(world: &World) -> String {
    let Some(leader) = faults::await_leader(world).await else {
        return "transfer leadership: no leader".to_owned();
    };
    let others: Vec<u64> = world
        .nodes
        .iter()
        .map(|node| node.id)
        .filter(|id| *id != leader && world.is_up(*id))
        .collect();
    let Some(&to) = others.get(thread_rng().gen_range(0..others.len().max(1))) else {
        return "transfer leadership: no other running node".to_owned();
    };
    let targets: Vec<u64> = world.nodes.iter().map(|node| node.id).collect();
    let request = TransferLeaderRequest { to_node_id: to };
    let outcome = operator::call(world, "transfer leadership", &targets, |mut client| async move {
        client.transfer_leader(request).await
    })
    .await;
    match outcome {
        Ok(response) => format!("leadership transferred from {leader} to {}", response.leader_id),
        Err(error) => format!("transfer leadership {leader} -> {to} did not finish: {error}"),
    }
}
