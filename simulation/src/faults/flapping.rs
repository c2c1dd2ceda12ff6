//! Flapping links: for a few seconds a data center's links to the rest, or the link between
//! two nodes, clog and unclog every 100–800 ms — a failing switch port or a route that comes
//! and goes, which keeps timing out heartbeats and elections without ever settling into a
//! clean partition. A background task does the flapping through the world's clog bookkeeping
//! (`World::clog_links` / `unclog_links`, so a partition on the same links outlasts it) and
//! leaves every link it clogged unclogged when it ends; a `heal` stops it at once.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};

use super::{await_leader, millis};
use crate::world::World;

/// How long links stay in one state (clogged or not), in milliseconds.
pub const PERIOD_MS: Range<u64> = 100..800;
/// How long the flapping lasts, in milliseconds.
pub const WINDOW_MS: Range<u64> = 2_000..8_000;

/// What flaps.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// Every link between this data center (its index) and the rest, both ways.
    DataCenter(usize),
    /// The link between these two nodes, both ways.
    Link(u64, u64),
}

/// Starts flapping `target` for `window`.
pub fn start(world: &Arc<World>, target: Target, window: Duration) -> String {
    let (links, what) = match target {
        Target::DataCenter(data_center) => (
            world.data_center_links(data_center),
            format!("data center {}'s links", data_center + 1),
        ),
        Target::Link(a, b) => (world.node_links(a, b), format!("link {a} <-> {b}")),
    };
    let task_world = world.clone();
    let epoch = world.heal_epoch();
    drop(madsim::task::spawn(async move {
        let world = task_world;
        let deadline = madsim::time::Instant::now() + window;
        let mut clogged = false;
        // A heal undid the clogs: from then on none of the clogged links are this task's.
        while madsim::time::Instant::now() < deadline && world.heal_epoch() == epoch {
            if clogged {
                world.unclog_links(&links);
            } else {
                world.clog_links(&links);
            }
            clogged = !clogged;
            madsim::time::sleep(millis(PERIOD_MS)).await;
        }
        if clogged && world.heal_epoch() == epoch {
            world.unclog_links(&links);
        }
    }));
    format!("flap {what} for {:.3}s", window.as_secs_f64())
}

/// Flaps a random target for a random window, from the seed: a random data center's links,
/// or the link between the leader and another node, or between two random nodes.
pub async fn random(world: &Arc<World>) -> String {
    let nodes: Vec<u64> = world.nodes.iter().map(|node| node.id).collect();
    let target = match thread_rng().gen_range(0..3) {
        0 => Target::DataCenter(thread_rng().gen_range(0..world.data_center_count().max(1))),
        choice => {
            let leader = if choice == 1 { await_leader(world).await } else { None };
            let Some(a) = leader
                .or_else(|| nodes.get(thread_rng().gen_range(0..nodes.len().max(1))).copied())
            else {
                return "flap: no node".to_owned();
            };
            let others: Vec<u64> = nodes.iter().copied().filter(|id| *id != a).collect();
            let Some(&b) = others.get(thread_rng().gen_range(0..others.len().max(1))) else {
                return "flap: no second node".to_owned();
            };
            Target::Link(a, b)
        }
    };
    start(world, target, millis(WINDOW_MS))
}
