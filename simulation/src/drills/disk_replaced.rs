//! The disk-replaced drill: a voter's disk is lost and the node comes back under its old id on
//! a blank one, at the worst moment — while the only other copies of the newest acknowledged
//! writes are on the leader, which crashes, and on one more voter, and two voters that fell
//! behind are back. Had the blank node a vote, it could hand it to a voter that fell behind,
//! which would then lead without those writes and overwrite them
//! (`tianping_history::checker::acknowledged` names each one lost). Node identity forbids
//! it: the blank store belongs to no cluster, so the node refuses every Raft message until an
//! operator replaces it. The drill then does what the operator does — boot a spare node,
//! `AddLearner` it and `ReplaceNode` the wiped id by it — and retires the wiped node.
//!
//! Order, all delays drawn from the seed: cut two followers off the other nodes (they fall
//! behind while the leader and the two others commit), crash a third follower and replace its
//! disk, crash the leader, reconnect the two, restart the wiped node, let an election run,
//! restart the old leader, replace the wiped node by the spare.
//!
//! What must hold: every checker over the remaining nodes, and their final membership has the
//! spare as a voter and the wiped id gone (`tianping_history::checker::membership`).
//! `TIANPING_PLANT=forget-identity` plants the old behaviour (a blank store takes part under
//! its old id), which this drill must catch.

use std::sync::Arc;

use madsim::rand::{Rng, thread_rng};
use tianping_history::checker::membership;

use super::Report;
use super::dc_migration::{add_learners, replace};
use super::harness::{FaultLog, Load, Outcome, run_loaded, secs};
use crate::faults;
use crate::world::{World, WorldConfig};

/// The world this drill needs: `base` plus one spare node (in a data center of its own) to
/// replace the wiped one.
pub fn world_config(base: WorldConfig) -> WorldConfig {
    WorldConfig { spare_data_centers: vec![1], ..base }
}

/// Runs one seed of the drill on a world shaped by `config` (which needs a spare node).
pub async fn run(config: &WorldConfig) -> Report {
    let data_centers = config.data_centers.len();
    run_loaded(config, move |world, load, log| drive(world, load, log, data_centers)).await
}

async fn drive(world: Arc<World>, load: Load, mut log: FaultLog, data_centers: usize) -> Outcome {
    let fail = |log: FaultLog, why: String| (log.into_lines(), String::new(), vec![why]);
    madsim::time::sleep(secs(1..4)).await;
    let Some(leader) = faults::await_leader(&world).await else {
        return fail(log, "setup: no leader to start from".to_owned());
    };
    let members: Vec<u64> = (0..data_centers).flat_map(|dc| world.nodes_in(dc)).collect();
    let mut followers: Vec<u64> = members.iter().copied().filter(|id| *id != leader).collect();
    if followers.len() < 4 {
        return fail(log, format!("setup: the drill needs five voters, the world has {members:?}"));
    }
    // A seeded shuffle: which follower is wiped and which two fall behind.
    for index in (1..followers.len()).rev() {
        followers.swap(index, thread_rng().gen_range(0..=index));
    }
    let (wiped, laggards) = (followers[0], [followers[2], followers[3]]);
    let Some(spare) = world.nodes_in(data_centers).first().copied() else {
        return fail(log, "setup: the world has no spare node".to_owned());
    };

    let cut = world.group_links(&laggards);
    world.clog_links(&cut);
    log.push(format!("cut nodes {laggards:?} off the other nodes (leader {leader})"));
    madsim::time::sleep(secs(2..5)).await;
    log.push(faults::crash(&world, wiped));
    world.replace_disk(wiped);
    log.push(format!("replace node {wiped}'s disk by a blank one"));
    madsim::time::sleep(secs(0..1)).await;
    log.push(faults::crash(&world, leader));
    world.unclog_links(&cut);
    log.push(format!("reconnect nodes {laggards:?}"));
    world.restart(wiped).await;
    log.push(format!("restart node {wiped} under its old id on the blank disk"));
    madsim::time::sleep(secs(3..8)).await;
    world.restart(leader).await;
    log.push(format!("restart node {leader}"));
    madsim::time::sleep(secs(1..3)).await;

    // The operator's procedure for a lost disk: a new node under a new id takes its place.
    let staying: Vec<u64> = members.iter().copied().filter(|id| *id != wiped).collect();
    let mut violations = Vec::new();
    match add_learners(&world, &staying, &[spare]).await {
        Ok(line) => log.push(format!("add learner: {line}")),
        Err(error) => violations.push(format!("replacing the wiped node: {error}")),
    }
    match replace(&world, &staying, &[wiped], &[spare]).await {
        Ok(line) => log.push(format!("replace node: {line}")),
        Err(error) => violations.push(format!("replacing the wiped node: {error}")),
    }
    world.retire(wiped);
    log.push(format!("stop node {wiped}"));
    log.push(faults::heal(&world));
    log.push(faults::restart_crashed(&world).await);

    let remaining: Vec<u64> = staying.iter().copied().chain([spare]).collect();
    let (load_line, checked) = load.finish(&world, &remaining, &mut log).await;
    violations.extend(checked);
    let views: Vec<membership::View> =
        remaining.iter().map(|id| (*id, world.membership(*id))).collect();
    violations.extend(membership::check(&views, &[wiped], &[spare]));
    (log.into_lines(), load_line, violations)
}
