//! The failover drill: under load from every data center, kill the leader — in some seeds
//! its whole data center, in others only pause it (a GC-like stall past the election
//! timeout, after which it wakes up believing it leads) — sometimes also crash another node,
//! partition another data center, slow the new leader's fsync or cut the whole cluster's
//! power, restart everything later; one or two rounds per seed, all drawn from the seed.
//! Then heal, measure how long the cluster takes to commit again, let every node catch up
//! and run every checker.

use std::sync::Arc;

use madsim::rand::{Rng, thread_rng};

use super::Report;
use super::harness::{FaultLog, Load, Outcome, run_loaded, secs};
use crate::faults;
use crate::world::{World, WorldConfig};

/// Runs one seed of the drill on a world shaped by `config`.
pub async fn run(config: &WorldConfig) -> Report {
    run_loaded(config, drive).await
}

async fn drive(world: Arc<World>, load: Load, mut log: FaultLog) -> Outcome {
    madsim::time::sleep(secs(1..4)).await;
    let rounds = thread_rng().gen_range(1..=2);
    for _ in 0..rounds {
        let line = match thread_rng().gen_range(0..10) {
            0..=3 => faults::kill_leader_data_center(&world).await,
            4..=5 => match faults::await_leader(&world).await {
                Some(leader) => {
                    let stall = faults::millis(faults::pause::STALL_MS);
                    faults::pause::node(&world, leader, stall, "leader ")
                }
                None => "pause leader: no leader".to_owned(),
            },
            _ => faults::kill_leader(&world).await,
        };
        log.push(line);
        let down = world.crashed();
        let data_centers = world.data_center_count();
        // Sometimes another fault on top: a partition of a data center that still runs, a
        // crash of one more node (either may cost the quorum for a while), a power loss
        // of the whole cluster (every node back on only what it synced), or a slow fsync on
        // whoever leads next.
        match thread_rng().gen_range(0..10) {
            0..=2 if data_centers > 1 => {
                let healthy: Vec<usize> = (0..data_centers)
                    .filter(|dc| world.nodes_in(*dc).iter().all(|id| !down.contains(id)))
                    .collect();
                if !healthy.is_empty() {
                    let victim = healthy[thread_rng().gen_range(0..healthy.len())];
                    madsim::time::sleep(secs(0..2)).await;
                    log.push(faults::partition(&world, victim));
                    madsim::time::sleep(secs(1..4)).await;
                    log.push(faults::heal(&world));
                }
            }
            3..=5 => {
                let up: Vec<u64> = world.running();
                if !up.is_empty() {
                    let victim = up[thread_rng().gen_range(0..up.len())];
                    madsim::time::sleep(secs(0..2)).await;
                    log.push(faults::crash(&world, victim));
                }
            }
            6..=7 => {
                madsim::time::sleep(secs(0..2)).await;
                log.push(faults::power_loss(&world));
            }
            8 => {
                madsim::time::sleep(secs(0..2)).await;
                log.push(faults::slow_disk::random(&world, 0.8).await);
            }
            _ => {}
        }
        madsim::time::sleep(secs(2..8)).await;
        log.push(faults::restart_crashed(&world).await);
        madsim::time::sleep(secs(1..4)).await;
    }

    // The faults stop: heal, restart, and time the first commit.
    log.push(faults::heal(&world));
    log.push(faults::restart_crashed(&world).await);
    let nodes: Vec<u64> = world.nodes.iter().map(|node| node.id).collect();
    let (load_line, violations) = load.finish(&world, &nodes, &mut log).await;
    (log.into_lines(), load_line, violations)
}
