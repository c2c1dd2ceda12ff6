//! `dc-migration`: under the clients' load, move a data center's voters into a new data
//! center through the real admin path, as an operator would:
//!
//! 1. start as many new nodes in `dc-d` as the old data center has (blank disks, their Raft
//!    listeners behind the fault proxy like every other node) and `AddLearner` each;
//! 2. wait until the leader sees every learner caught up, printing each one's lag;
//! 3. `Promote` the learners in one joint change (2 + 2 + 1 + 2 = 7 voters: an odd count, no
//!    data center holding a majority, so the voter rules accept it);
//! 4. `TransferLeader` to a new node if the leader is one of the old data center's;
//! 5. `Remove` the old data center's nodes in one joint change (back to 5 voters), and stop
//!    them.
//!
//! The data center moved is the leader's when it holds an even number of voters (so
//! leadership has to move), else the first that does: promoting an odd number of learners
//! would make the voter count even, which the rules refuse. What must hold afterwards, besides
//! the common verdict: every remaining node's membership, read once the cluster converged, has
//! no old node, every new node as a voter, and no change in flight
//! (`tianping_history::checker::membership`).

use std::time::{Duration, Instant};

use super::{CLUSTER_TIMEOUT, DrillError, Driver, Phase, admin};
use crate::cluster::ChaosCluster;

/// The data center the nodes move into.
pub const NEW_DATA_CENTER: &str = "dc-d";

/// A learner counts as caught up when the leader's last log index is at most this far ahead
/// of it (`Promote` refuses a learner more than 1000 behind).
const CAUGHT_UP_LAG: u64 = 50;

/// Longest a new node may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The phase's name.
pub const PHASE: Phase = Phase::Change("migration");

/// Which nodes move where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The data center moved out of.
    pub from: String,
    /// Its nodes, which leave.
    pub old: Vec<u64>,
    /// The new nodes, one per old one, in `NEW_DATA_CENTER`.
    pub new: Vec<u64>,
}

impl Plan {
    /// The plan for `cluster` while `leader` leads (see the module's comment).
    pub fn new(cluster: &ChaosCluster, leader: u64) -> Result<Plan, DrillError> {
        let nodes = cluster.api_addresses();
        let even = |dc: &str| {
            let count = nodes.iter().filter(|(_, other, _)| other == dc).count();
            count > 0 && count % 2 == 0
        };
        let leader_dc = cluster.data_center_of(leader).unwrap_or_default().to_owned();
        let from = if even(&leader_dc) {
            leader_dc
        } else {
            let mut data_centers: Vec<&str> = nodes.iter().map(|(_, dc, _)| dc.as_str()).collect();
            data_centers.sort_unstable();
            data_centers.into_iter().find(|dc| even(dc)).map(str::to_owned).ok_or_else(|| {
                DrillError::Client(
                    "no data center holds an even number of voters to move".to_owned(),
                )
            })?
        };
        let old = cluster.nodes_in(&from);
        let first_new = nodes.iter().map(|(id, _, _)| *id).max().unwrap_or(0) + 1;
        let new = (first_new..).take(old.len()).collect();
        Ok(Plan { from, old, new })
    }
}

/// Runs the migration under the clients' load: the plan, and the steps' failures (empty: it
/// completed). Every step is a timeline event; the progress line runs throughout.
pub(super) async fn run(
    driver: &mut Driver,
    cluster: &mut ChaosCluster,
    leader: u64,
    progress: &mut dyn FnMut(String),
) -> Result<(Plan, Vec<String>), DrillError> {
    let plan = Plan::new(cluster, leader)?;
    driver.mark(
        format!(
            "migration: {} (nodes {:?}) into {NEW_DATA_CENTER} (nodes {:?}); node {leader} leads",
            plan.from, plan.old, plan.new
        ),
        true,
        progress,
    );
    let failures = match steps(driver, cluster, &plan, progress).await {
        Ok(()) => Vec::new(),
        Err(failure) => {
            driver.mark(format!("migration stopped: {failure}"), false, progress);
            vec![failure]
        }
    };
    Ok((plan, failures))
}

async fn steps(
    driver: &mut Driver,
    cluster: &mut ChaosCluster,
    plan: &Plan,
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    for node_id in &plan.new {
        let start = cluster.add_node(*node_id, NEW_DATA_CENTER, START_TIMEOUT);
        let member = driver
            .during(PHASE, &format!("starting node {node_id}"), start, progress)
            .await
            .map_err(|error| format!("starting node {node_id}: {error}"))?;
        let api = member.api_address.clone();
        let members = driver.addresses();
        let added = admin::add_learner(&members, member);
        let added =
            driver.during(PHASE, &format!("adding node {node_id}"), added, progress).await?;
        driver.nodes.push((*node_id, NEW_DATA_CENTER.to_owned(), api));
        driver.mark(
            format!(
                "node {node_id} started in {NEW_DATA_CENTER} and added as a learner (membership at log index {})",
                added.log_index
            ),
            false,
            progress,
        );
    }

    let catching_up = Instant::now();
    wait_caught_up(driver, PHASE, &plan.new, progress).await?;
    driver.mark(
        format!(
            "learners {:?} caught up (lag ≤ {CAUGHT_UP_LAG}) in {:.1} s",
            plan.new,
            catching_up.elapsed().as_secs_f64()
        ),
        false,
        progress,
    );

    let members = driver.addresses();
    let promoted = admin::promote(&members, &plan.new);
    let promoted = driver.during(PHASE, "promoting", promoted, progress).await?;
    let voters = promoted.members.iter().filter(|member| member.voter).count();
    driver.mark(
        format!(
            "promoted {:?}: {voters} voters (joint change, membership at log index {})",
            plan.new, promoted.log_index
        ),
        false,
        progress,
    );

    let leader = driver
        .wait_for_leader(&[], progress)
        .await
        .map_err(|error| format!("before the transfer: {error}"))?;
    if plan.old.contains(&leader)
        && let Some(to) = plan.new.first()
    {
        let members = driver.addresses();
        let moved = admin::transfer_leader(&members, *to);
        let moved = driver.during(PHASE, "transferring leadership", moved, progress).await?;
        driver.mark(
            format!(
                "leadership transferred from node {leader} to node {} (term {})",
                moved.leader_id, moved.term
            ),
            false,
            progress,
        );
    }

    let members = driver.addresses();
    let removed = admin::remove(&members, &plan.old);
    let removed = driver.during(PHASE, "removing", removed, progress).await?;
    let voters: Vec<u64> =
        removed.members.iter().filter(|member| member.voter).map(|member| member.node_id).collect();
    driver.mark(
        format!(
            "removed {:?}: voters {voters:?} (membership at log index {})",
            plan.old, removed.log_index
        ),
        false,
        progress,
    );
    for node_id in &plan.old {
        driver.nodes.retain(|(id, _, _)| id != node_id);
        let stopped = cluster.retire(*node_id).map_err(|error| format!("stopping: {error}"))?;
        driver.mark(format!("node {node_id} stopped ({stopped:?})"), false, progress);
    }
    Ok(())
}

/// Waits until the leader sees each of `learners` within `CAUGHT_UP_LAG` of its log, a
/// progress line with every lag each tick.
pub(super) async fn wait_caught_up(
    driver: &mut Driver,
    phase: Phase,
    learners: &[u64],
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let deadline = Instant::now() + CLUSTER_TIMEOUT;
    loop {
        let status = admin::leader_status(&driver.addresses()).await;
        let lags: Vec<(u64, Option<u64>)> = learners
            .iter()
            .map(|id| {
                let member = status
                    .as_ref()
                    .and_then(|status| status.members.iter().find(|member| member.node_id == *id));
                (*id, member.filter(|member| member.lag_known).map(|member| member.lag))
            })
            .collect();
        if lags.iter().all(|(_, lag)| lag.is_some_and(|lag| lag <= CAUGHT_UP_LAG)) {
            return Ok(());
        }
        let words: Vec<String> = lags
            .iter()
            .map(|(id, lag)| match lag {
                Some(lag) => format!("node {id} lag {lag}"),
                None => format!("node {id} lag ?"),
            })
            .collect();
        if Instant::now() >= deadline {
            return Err(format!(
                "the learners did not catch up within {CLUSTER_TIMEOUT:?}: {}",
                words.join(", ")
            ));
        }
        let doing = format!("catching up: {}", words.join(", "));
        driver.tick(phase, &doing, &[], progress).await;
        tokio::time::sleep(super::TICK).await;
    }
}
