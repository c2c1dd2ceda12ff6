//! A follower whose data directory is wiped catches up through a snapshot: with a low
//! snapshot policy the leader snapshots and purges its log while the follower is down, so the
//! early entries exist nowhere but in the snapshot; the restarted follower (same id, same
//! addresses, empty disk) must install it to answer lookups of those early transfers.

use std::time::Duration;

use crate::processes::ProcessCluster;
use crate::support::bounded;
use crate::workload::{Attempt, audit, create_accounts, send_transfer};

/// The test's snapshot policy: a snapshot every `SNAPSHOT_EVERY` applied entries, and no log
/// kept below it.
const SNAPSHOT_EVERY: u64 = 20;

/// Transfers written while every node is up (each its own log entry).
const EARLY_WRITES: u128 = 10;

/// Transfers written while the follower is down: several snapshots' worth.
const LATER_WRITES: u128 = 80;

const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

async fn write(cluster: &ProcessCluster, node_id: u64, ids: std::ops::Range<u128>) -> Vec<Attempt> {
    let mut client = cluster.ledger(node_id);
    let mut attempts = Vec::new();
    for id in ids {
        let attempt = send_transfer(&mut client, node_id, id, WRITE_TIMEOUT).await;
        assert!(attempt.acknowledged(), "a healthy leader acknowledges: {attempt:?}");
        attempts.push(attempt);
    }
    attempts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_follower_catches_up_through_a_snapshot() {
    bounded(async {
        let mut cluster = ProcessCluster::start_on_loopback(3, |settings| {
            let every = i64::try_from(SNAPSHOT_EVERY).expect("a small number");
            settings.set("snapshot_logs_since_last", every);
            settings.set("logs_kept_after_snapshot", 0);
        })
        .await;
        let leader = cluster.initialize().await;
        create_accounts(&cluster, leader).await;
        let mut attempts = write(&cluster, leader, 1..1 + EARLY_WRITES).await;
        let early_index = attempts
            .iter()
            .filter_map(|a| a.outcome.as_ref().ok())
            .map(|ack| ack.log_index)
            .max()
            .expect("early writes");
        let all: Vec<u64> = cluster.nodes.iter().map(|node| node.node_id).collect();
        cluster.wait_converged(&all).await;

        // Stop a follower and wipe its disk; the other two keep committing.
        let follower = all.iter().copied().find(|id| *id != leader).expect("a follower");
        cluster.node_mut(follower).kill();
        cluster.node_mut(follower).wipe_data().expect("wipe the data directory");
        let later = 1 + EARLY_WRITES..1 + EARLY_WRITES + LATER_WRITES;
        attempts.extend(write(&cluster, leader, later).await);

        // The leader's log no longer holds the early entries: only a snapshot has them.
        let purged = cluster
            .wait_status(leader, "log purged past the early writes", |status| {
                status.purged_index > early_index
            })
            .await;
        assert!(purged.snapshot_index >= purged.purged_index, "{purged:?}");

        // Restart the follower empty, with the same id and addresses.
        cluster.restart(follower).await;
        let leader_status = cluster.status(leader).await.expect("leader status");
        let caught_up = cluster
            .wait_status(follower, "caught up with the leader", |status| {
                status.applied_index >= leader_status.applied_index
            })
            .await;
        assert!(
            caught_up.snapshot_index > early_index,
            "the follower installed a snapshot holding the early entries: {caught_up:?}"
        );
        eprintln!(
            "snapshot catch-up: leader purged its log up to {}, follower {follower} installed a \
             snapshot up to {} and applied up to {}",
            purged.purged_index, caught_up.snapshot_index, caught_up.applied_index
        );
        cluster.wait_converged(&all).await;

        // The follower answers for early and late transfers alike, as the leader does.
        let on_leader = audit(&cluster, leader, &attempts).await;
        let on_follower = audit(&cluster, follower, &attempts).await;
        assert_eq!(on_follower, on_leader, "the follower holds the leader's ledger");
        assert_eq!(on_follower.transfers.len() as u128, EARLY_WRITES + LATER_WRITES);
    })
    .await;
}
