//! The faults of this slice, each a step the drills schedule from the seed's randomness:
//! node crash (power cut: unsynced writes lost) and restart, leader kill, whole-data-center
//! kill, power loss of the whole cluster, and data-center partition (every link between it and
//! the rest clogged both ways, or one way only: an asymmetric partition).
//! Each returns a line for the seed's fault log, so a failing seed's report says what
//! happened when.

use std::time::Duration;

use crate::world::World;

/// Longest the faults wait for the cluster to name a running leader before striking anyway.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// Waits (at most `LEADER_WAIT`) for a running leader.
pub async fn await_leader(world: &World) -> Option<u64> {
    let deadline = madsim::time::Instant::now() + LEADER_WAIT;
    loop {
        if let Some(leader) = world.leader() {
            return Some(leader);
        }
        if madsim::time::Instant::now() >= deadline {
            return None;
        }
        madsim::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Crashes one node.
pub fn crash(world: &World, node_id: u64) -> String {
    world.crash(node_id);
    format!("crash node {node_id}")
}

/// A power loss of the whole cluster: every running node crashes at the same instant, so
/// only what each had synced survives — the fault that shows whether the log's fsync is real.
pub fn power_loss(world: &World) -> String {
    let victims: Vec<u64> =
        world.nodes.iter().map(|node| node.id).filter(|id| world.is_up(*id)).collect();
    for node_id in &victims {
        world.crash(*node_id);
    }
    format!("power loss: crash nodes {victims:?}")
}

/// Crashes the current leader.
pub async fn kill_leader(world: &World) -> String {
    match await_leader(world).await {
        Some(leader) => {
            world.crash(leader);
            format!("kill leader {leader}")
        }
        None => "kill leader: no leader to kill".to_owned(),
    }
}

/// Crashes every node of the current leader's data center.
pub async fn kill_leader_data_center(world: &World) -> String {
    let Some(leader) = await_leader(world).await else {
        return "kill leader data center: no leader".to_owned();
    };
    let Some(data_center) = world.node(leader).map(|node| node.data_center) else {
        return format!("kill leader data center: unknown leader {leader}");
    };
    let victims = world.nodes_in(data_center);
    for node_id in &victims {
        world.crash(*node_id);
    }
    format!("kill data center {} (leader {leader}, nodes {victims:?})", data_center + 1)
}

/// Restarts every crashed node.
pub async fn restart_crashed(world: &World) -> String {
    let crashed = world.crashed();
    for node_id in &crashed {
        world.restart(*node_id).await;
    }
    format!("restart nodes {crashed:?}")
}

/// Partitions data center `data_center` from the rest.
pub fn partition(world: &World, data_center: usize) -> String {
    world.partition_data_center(data_center);
    format!("partition data center {}", data_center + 1)
}

/// Heals every partition.
pub fn heal(world: &World) -> String {
    world.heal();
    "heal partitions".to_owned()
}

/// Partitions data center `data_center` from the rest in one direction only: what it sends is
/// lost (`outbound`), or what it receives is.
pub fn partition_one_way(world: &World, data_center: usize, outbound: bool) -> String {
    world.partition_data_center_one_way(data_center, outbound);
    let direction = if outbound { "outbound" } else { "inbound" };
    format!("partition data center {} one way ({direction} links clogged)", data_center + 1)
}
