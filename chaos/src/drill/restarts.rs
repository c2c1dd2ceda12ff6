//! The operator's procedures besides a migration, under the clients' load:
//!
//! - `rolling-restart` — every node in turn (followers in id order, the leader last, its
//!   leadership handed to another voter first): a graceful stop (SIGINT), a start on its own
//!   data, and a wait until the cluster is healthy again before the next.
//! - `wipe-and-replace` — a follower's disk is lost: the node is killed and its data
//!   directory deleted. Started again under its old id on the blank disk, it must take no
//!   part (it belongs to no cluster: no term, no log, nothing applied) and `AddLearner` of
//!   its old id must be refused; then, as the README's lost-disk procedure says, a new node
//!   (a new id, same data center) is started, added as a learner, caught up and swapped in
//!   for the lost voter with `ReplaceNode`, and the old process is stopped.

use std::time::{Duration, Instant};

use tianping_proto::v1::ClusterStatusResponse;
use tianping_supervisor::cluster::status_of;

use super::{CLUSTER_TIMEOUT, DrillError, Driver, Membership, Phase, admin, migration};
use crate::cluster::ChaosCluster;

/// `rolling-restart`'s phase.
pub const ROLLING: Phase = Phase::Change("restarts");

/// `wipe-and-replace`'s phase.
pub const REPLACING: Phase = Phase::Change("replacement");

/// Longest a node may take to serve after a start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the node on the blank disk is watched taking no part while the others commit.
const REFUSAL_WATCH: Duration = Duration::from_secs(3);

/// Restarts every node in turn: the steps' failures (empty: done).
pub(super) async fn rolling_restart(
    driver: &mut Driver,
    cluster: &mut ChaosCluster,
    progress: &mut dyn FnMut(String),
) -> Vec<String> {
    match restart_each(driver, cluster, progress).await {
        Ok(()) => Vec::new(),
        Err(failure) => {
            driver.mark(format!("rolling restart stopped: {failure}"), false, progress);
            vec![failure]
        }
    }
}

async fn restart_each(
    driver: &mut Driver,
    cluster: &mut ChaosCluster,
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let leader = driver.wait_for_leader(&[], progress).await.map_err(|error| error.to_string())?;
    let mut order: Vec<u64> =
        driver.nodes.iter().map(|(id, _, _)| *id).filter(|id| *id != leader).collect();
    order.push(leader);
    for node_id in order {
        let leader = driver.wait_for_leader(&[], progress).await.map_err(|e| e.to_string())?;
        if leader == node_id {
            // Hand leadership over first, to a voter in another data center if there is one.
            let data_center = cluster.data_center_of(node_id).unwrap_or_default().to_owned();
            let to = driver
                .nodes
                .iter()
                .filter(|(id, _, _)| *id != node_id)
                .min_by_key(|(_, dc, _)| *dc == data_center)
                .map(|(id, _, _)| *id)
                .ok_or("no other voter to lead")?;
            let members = driver.addresses();
            let moved = admin::transfer_leader(&members, to);
            let moved = driver.during(ROLLING, "transferring leadership", moved, progress).await?;
            driver.mark(
                format!("leadership transferred from node {node_id} to node {}", moved.leader_id),
                false,
                progress,
            );
        }
        let stopped = cluster.stop_node(node_id).map_err(|error| error.to_string())?;
        driver.mark(format!("node {node_id} stopped (SIGINT: {stopped:?})"), true, progress);
        let started = Instant::now();
        let restart = cluster.restart(node_id, START_TIMEOUT);
        driver
            .during(ROLLING, &format!("restarting node {node_id}"), restart, progress)
            .await
            .map_err(|error| format!("restarting node {node_id}: {error}"))?;
        wait_healthy(driver, ROLLING, progress).await?;
        driver.mark(
            format!(
                "node {node_id} back on its data, cluster healthy {:.1} s after the start",
                started.elapsed().as_secs_f64()
            ),
            false,
            progress,
        );
    }
    Ok(())
}

/// Waits until the cluster is healthy under load: every node answers, all know one leader
/// and every member, and each has applied at least what the leader had applied when the wait
/// began (the supervisor's `health::healthy` also wants the leader's whole log applied, which
/// a loaded leader never shows), a progress line each tick.
pub(super) async fn wait_healthy(
    driver: &mut Driver,
    phase: Phase,
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let deadline = Instant::now() + CLUSTER_TIMEOUT;
    let mut target = None;
    loop {
        if target.is_none() {
            target = admin::leader_status(&driver.addresses()).await.map(|s| s.applied_index);
        }
        let mut statuses = Vec::new();
        for (_, _, address) in &driver.nodes {
            if let Ok(status) = status_of(address).await {
                statuses.push(status);
            }
        }
        let missing = match target {
            None => "no leader answers yet".to_owned(),
            Some(target) => match healthy_under_load(&statuses, driver.nodes.len(), target) {
                Ok(()) => return Ok(()),
                Err(missing) => missing,
            },
        };
        if Instant::now() >= deadline {
            return Err(format!("not healthy within {CLUSTER_TIMEOUT:?}: {missing}"));
        }
        driver.tick(phase, &format!("waiting: {missing}"), &[], progress).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `expected` nodes answered, all know one leader and `expected` members, and each applied at
/// least `target`; what is missing otherwise.
fn healthy_under_load(
    statuses: &[ClusterStatusResponse],
    expected: usize,
    target: u64,
) -> Result<(), String> {
    if statuses.len() < expected {
        return Err(format!("{} of {expected} nodes answer", statuses.len()));
    }
    let leader = statuses.first().filter(|status| status.has_leader).map(|s| s.leader_id);
    let Some(leader) = leader else {
        return Err("no leader known".to_owned());
    };
    if let Some(status) =
        statuses.iter().find(|status| !status.has_leader || status.leader_id != leader)
    {
        return Err(format!("node {} does not know leader {leader}", status.node_id));
    }
    if let Some(status) = statuses.iter().find(|status| status.members.len() != expected) {
        return Err(format!("node {} knows {} members", status.node_id, status.members.len()));
    }
    if let Some(status) = statuses.iter().find(|status| status.applied_index < target) {
        return Err(format!(
            "node {} applied {} of the leader's {target}",
            status.node_id, status.applied_index
        ));
    }
    Ok(())
}

/// Loses a follower's disk and replaces it under a new id: the steps' failures and what the
/// node on the blank disk did wrong (empty: done, and refused as it must be), and the
/// membership to check once the cluster converged.
pub(super) async fn wipe_and_replace(
    driver: &mut Driver,
    cluster: &mut ChaosCluster,
    progress: &mut dyn FnMut(String),
) -> Result<(Vec<String>, Membership), DrillError> {
    let leader = driver.wait_for_leader(&[], progress).await?;
    let lost = driver
        .nodes
        .iter()
        .map(|(id, _, _)| *id)
        .find(|id| *id != leader)
        .ok_or_else(|| DrillError::Client("no follower to lose".to_owned()))?;
    let data_center = cluster.data_center_of(lost).unwrap_or_default().to_owned();
    let replacement = driver.nodes.iter().map(|(id, _, _)| *id).max().unwrap_or(0) + 1;
    let mut violations = Vec::new();
    if let Err(failure) =
        replace(driver, cluster, lost, replacement, &data_center, &mut violations, progress).await
    {
        driver.mark(format!("replacement stopped: {failure}"), false, progress);
        violations.push(failure);
    }
    Ok((violations, Membership { removed: vec![lost], added: vec![replacement] }))
}

async fn replace(
    driver: &mut Driver,
    cluster: &mut ChaosCluster,
    lost: u64,
    replacement: u64,
    data_center: &str,
    violations: &mut Vec<String>,
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let address = cluster.member(lost).map_err(|error| error.to_string())?.api_address;
    let before = status_of(&address).await.map_err(|error| format!("node {lost}: {error}"))?;
    cluster.kill(lost).map_err(|error| error.to_string())?;
    cluster.wipe(lost).map_err(|error| error.to_string())?;
    driver.mark(format!("node {lost} killed (SIGKILL) and its disk wiped"), true, progress);

    // Back under its old id on the blank disk: it must take no part.
    let restart = cluster.restart(lost, START_TIMEOUT);
    driver
        .during(REPLACING, &format!("starting node {lost} on a blank disk"), restart, progress)
        .await
        .map_err(|error| format!("starting node {lost} on its blank disk: {error}"))?;
    let watch = tokio::time::sleep(REFUSAL_WATCH);
    driver
        .during(REPLACING, &format!("watching node {lost} on its blank disk"), watch, progress)
        .await;
    let blank = status_of(&address).await.map_err(|error| format!("node {lost}: {error}"))?;
    if !blank.cluster_id.is_empty()
        || blank.term != 0
        || blank.last_log_index != 0
        || blank.applied_index != 0
    {
        violations.push(format!(
            "node {lost} on a blank disk took part under its old id: cluster {:?}, term {}, last log index {}, applied {}",
            blank.cluster_id, blank.term, blank.last_log_index, blank.applied_index
        ));
    }
    if blank.incarnation_id == before.incarnation_id {
        violations.push(format!("node {lost}'s blank disk kept its old incarnation id"));
    }
    let member = cluster.member(lost).map_err(|error| error.to_string())?;
    match admin::add_learner_once(&driver.addresses(), member).await {
        Ok(()) => violations.push(format!(
            "AddLearner of node {lost} (a voter's id, on a blank disk) was accepted"
        )),
        Err(tonic::Code::FailedPrecondition) => {}
        Err(code) => violations.push(format!(
            "AddLearner of node {lost} (a voter's id) answered {code:?}, not FailedPrecondition"
        )),
    }
    driver.mark(
        format!("node {lost} on its blank disk took no part; AddLearner of its id refused"),
        false,
        progress,
    );
    let stopped = cluster.stop_node(lost).map_err(|error| error.to_string())?;
    driver.mark(format!("node {lost} stopped ({stopped:?})"), false, progress);

    // The lost-disk procedure: a new node under a new id takes its place.
    let start = cluster.add_node(replacement, data_center, START_TIMEOUT);
    let member = driver
        .during(REPLACING, &format!("starting node {replacement}"), start, progress)
        .await
        .map_err(|error| format!("starting node {replacement}: {error}"))?;
    let api = member.api_address.clone();
    let members = driver.addresses();
    let added = admin::add_learner(&members, member);
    let added = driver.during(REPLACING, "adding the learner", added, progress).await?;
    driver.nodes.push((replacement, data_center.to_owned(), api));
    driver.mark(
        format!(
            "node {replacement} started in {data_center} and added as a learner (membership at log index {})",
            added.log_index
        ),
        false,
        progress,
    );
    migration::wait_caught_up(driver, REPLACING, &[replacement], progress).await?;
    let members = driver.addresses();
    let replaced = admin::replace_node(&members, lost, replacement);
    let replaced = driver.during(REPLACING, "replacing", replaced, progress).await?;
    let voters: Vec<u64> = replaced
        .members
        .iter()
        .filter(|member| member.voter)
        .map(|member| member.node_id)
        .collect();
    driver.mark(
        format!(
            "node {replacement} replaced node {lost}: voters {voters:?} (membership at log index {})",
            replaced.log_index
        ),
        true,
        progress,
    );
    driver.nodes.retain(|(id, _, _)| *id != lost);
    cluster.retire(lost).map_err(|error| error.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tianping_proto::v1::{ClusterStatusResponse, Member};

    use super::healthy_under_load;

    fn status(node_id: u64, leader: Option<u64>, applied: u64) -> ClusterStatusResponse {
        ClusterStatusResponse {
            node_id,
            has_leader: leader.is_some(),
            leader_id: leader.unwrap_or_default(),
            applied_index: applied,
            // A loaded leader's log always runs ahead of what it applied.
            last_log_index: applied + 5,
            members: (1..=3).map(|node_id| Member { node_id, ..Member::default() }).collect(),
            ..ClusterStatusResponse::default()
        }
    }

    #[test]
    fn healthy_under_load_wants_one_leader_and_everyone_past_the_target() {
        let up = [status(1, Some(2), 10), status(2, Some(2), 12), status(3, Some(2), 10)];
        assert_eq!(healthy_under_load(&up, 3, 10), Ok(()));
        let behind = healthy_under_load(&up, 3, 11).expect_err("nodes 1 and 3 behind");
        assert!(behind.contains("node 1 applied 10"), "{behind}");
        assert!(healthy_under_load(&up[..2], 3, 10).expect_err("one silent").contains("2 of 3"));
        let split = [status(1, Some(2), 10), status(2, Some(2), 12), status(3, Some(3), 10)];
        assert!(healthy_under_load(&split, 3, 10).expect_err("two").contains("node 3"));
        let electing = [status(1, None, 10), status(2, Some(2), 12), status(3, Some(2), 10)];
        assert!(healthy_under_load(&electing, 3, 10).is_err());
    }
}
