//! Node pause: a GC-like stall. The node's machine stops running any of its tasks (madsim's
//! `pause`): messages to it queue up unanswered, its timers fire only when it wakes. A leader
//! paused past the election timeout wakes up still believing it leads, with a lease and
//! in-flight work from the old term — the interesting case, so the drills often pick it.
//! The pause's own timer resumes the node; `heal`, `restart_crashed` or a crash end it early.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::{millis, random_victim};
use crate::world::World;

/// How long a stall lasts, in milliseconds: from under an election timeout's worth of
/// heartbeats to several elections long.
pub const STALL_MS: Range<u64> = 500..6_000;

/// Pauses node `node_id` for `stall`.
pub fn node(world: &Arc<World>, node_id: u64, stall: Duration, role: &str) -> String {
    let Some(token) = world.pause(node_id) else {
        return format!("pause node {node_id}: not running or already paused");
    };
    let timer_world = world.clone();
    drop(madsim::task::spawn(async move {
        madsim::time::sleep(stall).await;
        timer_world.resume(node_id, Some(token));
    }));
    format!("pause {role}node {node_id} for {:.3}s", stall.as_secs_f64())
}

/// Pauses a random running node (the leader with probability `leader_odds`) for a random
/// stall, all from the seed.
pub async fn random(world: &Arc<World>, leader_odds: f64) -> String {
    match random_victim(world, leader_odds).await {
        Some((victim, is_leader)) => {
            node(world, victim, millis(STALL_MS), if is_leader { "leader " } else { "" })
        }
        None => "pause: no running node".to_owned(),
    }
}
