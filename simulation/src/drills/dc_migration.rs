//! The data-center migration drill: under load, move every replica out of one data center
//! into a new one, as an operator would through the admin API — boot as many of the new data
//! center's nodes (parked spares of the world, not members yet) as the old one has, `AddLearner`
//! each, `ReplaceNode` the first old node by a new one (one joint change inside openraft's
//! change_membership, so the voter count stays odd: a promote-then-remove would pass through
//! an even count, which the voter rules refuse), `TransferLeader` to a new node if the leader
//! is still in the old data center, `ReplaceNode` the other old nodes, and stop them. In most
//! seeds a fault strikes mid-migration and lasts 1–5 s while the next step runs: a crash of a
//! node outside both data centers, or a partition of a data center outside both.
//!
//! What must hold: every remaining node's final membership has no old node and every new node
//! as a voter (`tianping_history::checker::membership`), plus the liveness probe and every
//! ledger checker over the remaining nodes.

use std::sync::Arc;

use madsim::rand::{Rng, thread_rng};
use tianping_history::checker::membership;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{AddLearnerRequest, ReplaceNodeRequest, TransferLeaderRequest};
use tonic::transport::Channel;

use super::Report;
use super::harness::{FaultLog, Load, Outcome, run_loaded, secs};
use crate::world::{World, WorldConfig};
use crate::{faults, operator};

/// The world this drill needs: `base` plus a spare data center of two nodes (as many as the
/// largest data center of the default 2+2+1; a smaller one moves into part of it).
pub fn world_config(base: WorldConfig) -> WorldConfig {
    WorldConfig { spare_data_centers: vec![2], ..base }
}

/// Runs one seed of the drill on a world shaped by `config` (which needs a spare data center).
pub async fn run(config: &WorldConfig) -> Report {
    let data_centers = config.data_centers.len();
    run_loaded(config, move |world, load, log| drive(world, load, log, data_centers)).await
}

/// The migration's steps, in order; a fault may strike just before any of the last three.
const STEPS: [&str; 4] =
    ["add learners", "replace the first node", "transfer leadership", "replace the other nodes"];

async fn drive(world: Arc<World>, load: Load, mut log: FaultLog, data_centers: usize) -> Outcome {
    // Long enough for snapshots and purged logs, so the new nodes catch up by snapshot.
    madsim::time::sleep(secs(2..6)).await;

    // Half the seeds move the leader's data center out (so leadership must move), half any.
    let leader_dc = world.leader().and_then(|id| world.node(id)).map(|node| node.data_center);
    let from = match leader_dc {
        Some(dc) if thread_rng().gen_bool(0.5) => dc,
        _ => thread_rng().gen_range(0..data_centers),
    };
    let into = data_centers;
    let old = world.nodes_in(from);
    // One new node per old one: each replacement swaps a pair, so the voter count never
    // changes (the rest of the spare data center stays parked).
    let new: Vec<u64> = world.nodes_in(into).into_iter().take(old.len()).collect();
    if new.len() < old.len() || new.is_empty() {
        return (
            log.into_lines(),
            String::new(),
            vec!["setup: the world's spare data center is smaller than the one moved".to_owned()],
        );
    }
    let staying: Vec<u64> =
        (0..data_centers).filter(|dc| *dc != from).flat_map(|dc| world.nodes_in(dc)).collect();
    let members: Vec<u64> = old.iter().chain(&staying).copied().collect();
    log.push(format!(
        "migrate data center {} (nodes {old:?}) into data center {} (nodes {new:?})",
        from + 1,
        into + 1
    ));
    let fault_before = thread_rng().gen_bool(0.7).then(|| thread_rng().gen_range(1..STEPS.len()));

    let mut violations = Vec::new();
    for (step, name) in STEPS.iter().enumerate() {
        let ending = if fault_before == Some(step) {
            Some(strike(&world, from, into, data_centers, &mut log))
        } else {
            None
        };
        let outcome = match step {
            0 => add_learners(&world, &members, &new).await,
            1 => replace(&world, &staying, &old[..1], &new[..1]).await,
            2 => transfer_leadership(&world, &members, &old[1..], &new[..1]).await,
            _ => replace(&world, &staying, &old[1..], &new[1..]).await,
        };
        match outcome {
            Ok(line) => log.push(format!("{name}: {line}")),
            Err(error) => violations.push(format!("migration step `{name}` failed: {error}")),
        }
        // An operator's pace between steps, during which the load (and any fault) goes on.
        madsim::time::sleep(secs(0..2)).await;
        if let Some(ending) = ending {
            let line = ending.await.unwrap_or_else(|error| format!("fault task failed: {error}"));
            log.push(line);
        }
    }
    for node_id in &old {
        world.retire(*node_id);
    }
    log.push(format!("stop nodes {old:?}"));
    log.push(faults::heal(&world));
    log.push(faults::restart_crashed(&world).await);

    let remaining: Vec<u64> = staying.iter().chain(&new).copied().collect();
    let (load_line, checked) = load.finish(&world, &remaining, &mut log).await;
    violations.extend(checked);
    let views: Vec<membership::View> =
        remaining.iter().map(|id| (*id, world.membership(*id))).collect();
    violations.extend(membership::check(&views, &old, &new));
    (log.into_lines(), load_line, violations)
}

/// Starts a fault outside both data centers and a task that ends it 1–5 s later; the task
/// returns the ending's log line.
fn strike(
    world: &Arc<World>,
    from: usize,
    into: usize,
    data_centers: usize,
    log: &mut FaultLog,
) -> madsim::task::JoinHandle<String> {
    let others: Vec<usize> = (0..data_centers).filter(|dc| *dc != from && *dc != into).collect();
    let lasting = secs(1..5);
    let world = world.clone();
    let victim_dc = others.get(thread_rng().gen_range(0..others.len().max(1))).copied();
    let partition = thread_rng().gen_bool(0.5);
    match victim_dc {
        Some(dc) if partition => {
            log.push(faults::partition(&world, dc));
            madsim::task::spawn(async move {
                madsim::time::sleep(lasting).await;
                faults::heal(&world)
            })
        }
        Some(dc) if !world.nodes_in(dc).is_empty() => {
            let nodes = world.nodes_in(dc);
            let victim = nodes[thread_rng().gen_range(0..nodes.len())];
            log.push(faults::crash(&world, victim));
            madsim::task::spawn(async move {
                madsim::time::sleep(lasting).await;
                faults::restart_crashed(&world).await
            })
        }
        _ => madsim::task::spawn(async { "no data center to fault".to_owned() }),
    }
}

/// Boots the new nodes and adds each as a learner.
pub(crate) async fn add_learners(
    world: &World,
    members: &[u64],
    new: &[u64],
) -> Result<String, String> {
    for node_id in new {
        world.boot(*node_id).await;
        let info = world.info(*node_id).ok_or_else(|| format!("node {node_id} did not boot"))?;
        let request = AddLearnerRequest {
            member: Some(tianping_node::members::member(*node_id, &info, false)),
        };
        operator::call(world, "AddLearner", members, |mut admin: AdminClient<Channel>| {
            let request = request.clone();
            async move { admin.add_learner(request).await }
        })
        .await?;
    }
    Ok(format!("nodes {new:?} booted and added"))
}

/// Moves leadership to a new node while the leader is an old one.
async fn transfer_leadership(
    world: &World,
    members: &[u64],
    old: &[u64],
    new: &[u64],
) -> Result<String, String> {
    let leader = faults::await_leader(world).await;
    if !leader.is_some_and(|leader| old.contains(&leader)) {
        return Ok(format!("not needed (leader {leader:?})"));
    }
    let to = new[thread_rng().gen_range(0..new.len())]; // `drive` checked `new` is not empty
    let request = TransferLeaderRequest { to_node_id: to };
    let response = operator::call(
        world,
        "TransferLeader",
        members,
        |mut admin: AdminClient<Channel>| async move { admin.transfer_leader(request).await },
    )
    .await?;
    Ok(format!("from {leader:?} to {} in term {}", response.leader_id, response.term))
}

/// Replaces each old node by the new node at the same position, one `ReplaceNode` (one joint
/// change) per pair, asking the nodes that stay and the new ones.
pub(crate) async fn replace(
    world: &World,
    staying: &[u64],
    old: &[u64],
    new: &[u64],
) -> Result<String, String> {
    if old.is_empty() {
        return Ok("no node left to replace".to_owned());
    }
    let ask: Vec<u64> = staying.iter().chain(new).copied().collect();
    let mut lines = Vec::new();
    for (old, new) in old.iter().zip(new) {
        let request = ReplaceNodeRequest { old_node_id: *old, new_node_id: *new, force: None };
        let response =
            operator::call(world, "ReplaceNode", &ask, |mut admin: AdminClient<Channel>| {
                let request = request.clone();
                async move { admin.replace_node(request).await }
            })
            .await?;
        let voters: Vec<u64> =
            response.members.iter().filter(|m| m.voter).map(|m| m.node_id).collect();
        lines.push(format!(
            "{old} -> {new} by leader {}, voters now {voters:?}",
            response.leader_id
        ));
    }
    Ok(lines.join("; "))
}
