//! Slow fsync: for a few seconds every sync of one node's disk (often the leader's) takes
//! 50–1500 ms (`MemoryDisk::set_sync_delay`, through `World::slow_disk`), as a saturated or
//! failing disk does: appends, votes and snapshots wait on it, so the node replicates and
//! commits slowly while its heartbeats may still flow. The delay belongs to the disk: it
//! survives a crash and restart of the node within the window. The fault's own timer makes
//! the disk fast again; `heal` does it early.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::{millis, random_victim};
use crate::world::World;

/// How long each sync waits, in milliseconds.
pub const DELAY_MS: Range<u64> = 50..1_500;
/// How long the disk stays slow, in milliseconds.
pub const WINDOW_MS: Range<u64> = 2_000..8_000;

/// Makes node `node_id`'s fsync take `delay` for `window`.
pub fn start(
    world: &Arc<World>,
    node_id: u64,
    delay: Duration,
    window: Duration,
    role: &str,
) -> String {
    let Some(token) = world.slow_disk(node_id, delay) else {
        return format!("slow fsync: unknown node {node_id}");
    };
    let timer_world = world.clone();
    drop(madsim::task::spawn(async move {
        madsim::time::sleep(window).await;
        timer_world.fast_disk(node_id, Some(token));
    }));
    format!(
        "slow fsync on {role}node {node_id} for {:.3}s: {}ms per sync",
        window.as_secs_f64(),
        delay.as_millis()
    )
}

/// Slows a random running node's disk (the leader's with probability `leader_odds`) by a
/// random delay for a random window, all from the seed.
pub async fn random(world: &Arc<World>, leader_odds: f64) -> String {
    match random_victim(world, leader_odds).await {
        Some((victim, is_leader)) => start(
            world,
            victim,
            millis(DELAY_MS),
            millis(WINDOW_MS),
            if is_leader { "leader " } else { "" },
        ),
        None => "slow fsync: no running node".to_owned(),
    }
}
