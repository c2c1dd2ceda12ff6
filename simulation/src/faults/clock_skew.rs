//! Clock skew (issue 11 item 4): one node's wall clock set apart from true time — ahead or
//! behind, by a second up to two hours — and, while it is apart, jumped again, forward or
//! back (`World::set_clock_offset`); or every node's clock stepped by one offset at once
//! (`step_all`). madsim's own clock, which the network, timers and the
//! drills' true time run on, is untouched: only what the node's `Clock` reads moves, so the
//! node stamps, and measures its peers, with the skewed time. `heal` sets every clock right.

use std::ops::Range;

use madsim::rand::{Rng, thread_rng};

use super::random_victim;
use crate::world::World;

/// How far a skewed clock is from true time, in milliseconds (either direction).
pub const OFFSET_MS: Range<u64> = 1_000..7_200_000;

/// An offset from the seed: a magnitude in `OFFSET_MS`, ahead or behind.
pub fn random_offset_ms() -> i64 {
    let magnitude = i64::try_from(thread_rng().gen_range(OFFSET_MS)).unwrap_or(i64::MAX);
    if thread_rng().gen_bool(0.5) { magnitude } else { -magnitude }
}

/// Sets node `node_id`'s clock `offset_ms` from true time.
pub fn set(world: &World, node_id: u64, offset_ms: i64, role: &str) -> String {
    if world.set_clock_offset(node_id, offset_ms.saturating_mul(1_000_000)) {
        format!("clock of {role}node {node_id} set {offset_ms} ms from true time")
    } else {
        format!("clock skew: unknown node {node_id}")
    }
}

/// Skews a random running node's clock (the leader's with probability `leader_odds`) by a
/// random offset; answers the node, whether it led, and the log line.
pub async fn random(world: &World, leader_odds: f64) -> (Option<(u64, bool)>, String) {
    match random_victim(world, leader_odds).await {
        Some((victim, is_leader)) => {
            let line =
                set(world, victim, random_offset_ms(), if is_leader { "leader " } else { "" });
            (Some((victim, is_leader)), line)
        }
        None => (None, "clock skew: no running node".to_owned()),
    }
}

/// Steps every node's clock by the same random offset at once: one bad time source feeding
/// the whole fleet, which no comparison between the nodes can see.
pub fn step_all(world: &World) -> String {
    let offset_ms = random_offset_ms();
    for node in &world.nodes {
        world.set_clock_offset(node.id, offset_ms.saturating_mul(1_000_000));
    }
    format!("every node's clock stepped {offset_ms} ms from true time at once")
}

/// Jumps node `node_id`'s clock by a random amount from where it is now, forward or back.
pub fn jump(world: &World, node_id: u64) -> String {
    let now_ms = world.clock_offset(node_id).unwrap_or(0) / 1_000_000;
    let to_ms = now_ms.saturating_add(random_offset_ms());
    format!("jump: {}", set(world, node_id, to_ms, ""))
}
