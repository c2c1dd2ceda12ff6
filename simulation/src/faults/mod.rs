//! The faults the drills schedule from the seed's randomness, each a step that returns a line
//! for the seed's fault log, so a failing seed's report says what happened when.
//!
//! Here: node crash (power cut: unsynced writes lost) and restart, leader kill,
//! whole-data-center kill, power loss of the whole cluster, data-center partition (every link
//! between it and the rest clogged both ways, or one way only: an asymmetric partition) and
//! `heal`. One module per timed fault family, each started by one call that returns at once
//! and undone by its own timer (or earlier by `heal`, which undoes every one of them):
//! - `pause`: a node's machine stops running for 0.5–6 s, a GC-like stall (often the leader's,
//!   which wakes up past its election timeout believing it still leads);
//! - `flapping`: a data center's links, or one node-to-node link, clog and unclog every
//!   100–800 ms for a few seconds;
//! - `weather`: a few seconds of packet loss (5–30 %) and/or a latency spike (+100–800 ms)
//!   on every link;
//! - `slow_disk`: a node's (often the leader's) fsync takes 50–1500 ms for a few seconds;
//! - `clock_skew`: a node's (often the leader's) wall clock set ahead or behind true time by a
//!   second up to two hours, and jumped again while apart (only the `clock_skew` drill uses
//!   it, so the other drills' seeds draw what they drew before).
//!
//! The world keeps their bookkeeping (`World::pause`, `clog_links`, `set_network_weather`,
//! `slow_disk`), so a fault's timer never undoes a later fault, and `heal` and
//! `restart_crashed` leave no node stalled.

pub mod clock_skew;
pub mod flapping;
pub mod pause;
pub mod slow_disk;
pub mod weather;

use std::ops::Range;
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};

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
    let victims: Vec<u64> = world.running();
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

/// Restarts every crashed node, and resumes every paused one.
pub async fn restart_crashed(world: &World) -> String {
    let crashed = world.crashed();
    for node_id in &crashed {
        world.restart(*node_id).await;
    }
    let resumed = world.resume_all();
    if resumed.is_empty() {
        format!("restart nodes {crashed:?}")
    } else {
        format!("restart nodes {crashed:?}, resume paused nodes {resumed:?}")
    }
}

/// Partitions data center `data_center` from the rest.
pub fn partition(world: &World, data_center: usize) -> String {
    world.partition_data_center(data_center);
    format!("partition data center {}", data_center + 1)
}

/// Heals every partition and undoes every timed fault still in force: flapping links stop,
/// paused nodes resume, the network weather clears, slow disks are fast again, skewed clocks
/// are set right.
pub fn heal(world: &World) -> String {
    world.heal();
    let mut line = "heal partitions".to_owned();
    let resumed = world.resume_all();
    if !resumed.is_empty() {
        line.push_str(&format!(", resume paused nodes {resumed:?}"));
    }
    if world.clear_network_weather(None) {
        line.push_str(", clear network weather");
    }
    let sped_up = world.fast_disks();
    if !sped_up.is_empty() {
        line.push_str(&format!(", fast disks on nodes {sped_up:?}"));
    }
    let set_right = world.reset_clocks();
    if !set_right.is_empty() {
        line.push_str(&format!(", clocks set right on nodes {set_right:?}"));
    }
    line
}

/// A random running node, from the seed: the leader with probability `leader_odds` (when
/// there is one), else any running node.
pub async fn random_victim(world: &World, leader_odds: f64) -> Option<(u64, bool)> {
    if thread_rng().gen_bool(leader_odds)
        && let Some(leader) = await_leader(world).await
    {
        return Some((leader, true));
    }
    let up: Vec<u64> = world.running();
    let victim = *up.get(thread_rng().gen_range(0..up.len().max(1)))?;
    Some((victim, world.leader() == Some(victim)))
}

/// A random duration in `range` milliseconds, from the seed.
pub fn millis(range: Range<u64>) -> Duration {
    Duration::from_millis(thread_rng().gen_range(range))
}

/// Partitions data center `data_center` from the rest in one direction only: what it sends is
/// lost (`outbound`), or what it receives is.
pub fn partition_one_way(world: &World, data_center: usize, outbound: bool) -> String {
    world.partition_data_center_one_way(data_center, outbound);
    let direction = if outbound { "outbound" } else { "inbound" };
    format!("partition data center {} one way ({direction} links clogged)", data_center + 1)
}
