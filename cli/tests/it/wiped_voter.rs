//! A voter's disk is lost: the node comes back under its old id on an empty data directory.
//! It must not take part again — it has lost its vote and its log, and with one more crash it
//! could elect a leader that lacks acknowledged entries — so its blank store belongs to no
//! cluster and it refuses every Raft message (node identity). The operator's procedure
//! replaces it: a new node under a new id is added as a learner, catches up through a
//! snapshot (the leader purged its log meanwhile, so the early entries exist nowhere but in
//! the snapshot), and takes the wiped voter's place in one `ReplaceNode`.

use std::time::Duration;

use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{AddLearnerRequest, ReplaceNodeRequest};

use crate::processes::{CALL_TIMEOUT, ProcessCluster, channel};
use crate::support::bounded;
use crate::workload::{Attempt, audit, create_accounts, send_transfer};

/// The test's snapshot policy: a snapshot every `SNAPSHOT_EVERY` applied entries, and no log
/// kept below it.
const SNAPSHOT_EVERY: u64 = 20;

/// Transfers written while every node is up (each its own log entry).
const EARLY_WRITES: u128 = 10;

/// Transfers written while the wiped node is down: several snapshots' worth.
const LATER_WRITES: u128 = 80;

/// The voters; node `SPARE` runs beside them, not a member, until it replaces the wiped one.
const VOTERS: [u64; 3] = [1, 2, 3];
const SPARE: u64 = 4;

/// How long the wiped node is watched refusing to take part while the others commit.
const REFUSAL_WATCH: Duration = Duration::from_secs(2);

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
async fn a_wiped_voter_is_refused_and_replaced_under_a_new_id() {
    bounded(async {
        let mut cluster = ProcessCluster::start_on_loopback(4, |settings| {
            let every = i64::try_from(SNAPSHOT_EVERY).expect("a small number");
            settings.set("snapshot_logs_since_last", every);
            settings.set("logs_kept_after_snapshot", 0);
        })
        .await;
        let leader = cluster.initialize_members(&VOTERS).await;
        let cluster_id = cluster.status(leader).await.expect("leader status").cluster_id;
        assert_eq!(cluster_id.len(), 32, "the leader names its cluster: {cluster_id:?}");
        create_accounts(&cluster, leader).await;
        let mut attempts = write(&cluster, leader, 1..1 + EARLY_WRITES).await;
        let early_index = attempts
            .iter()
            .filter_map(|a| a.outcome.as_ref().ok())
            .map(|ack| ack.log_index)
            .max()
            .expect("early writes");
        cluster.wait_converged(&VOTERS).await;

        // Kill a follower and lose its disk; the other two keep committing.
        let wiped = VOTERS.iter().copied().find(|id| *id != leader).expect("a follower");
        let before = cluster.status(wiped).await.expect("the follower's status");
        assert_eq!(before.cluster_id, cluster_id, "every voter was admitted to the cluster");
        cluster.node_mut(wiped).kill();
        cluster.node_mut(wiped).wipe_data().expect("wipe the data directory");
        let later = 1 + EARLY_WRITES..1 + EARLY_WRITES + LATER_WRITES;
        attempts.extend(write(&cluster, leader, later.clone()).await);
        let purged = cluster
            .wait_status(leader, "log purged past the early writes", |status| {
                status.purged_index > early_index
            })
            .await;

        // Back under the same id on the blank disk: a new incarnation of no cluster, which
        // takes no part however long the leader keeps sending to it.
        cluster.restart(wiped).await;
        let more = later.end..later.end + 5;
        attempts.extend(write(&cluster, leader, more).await);
        tokio::time::sleep(REFUSAL_WATCH).await;
        let blank = cluster.status(wiped).await.expect("the wiped node's status");
        assert_eq!(blank.cluster_id, "", "a blank store belongs to no cluster: {blank:?}");
        assert_ne!(blank.incarnation_id, before.incarnation_id, "a new disk, a new incarnation");
        assert_eq!(
            (blank.last_log_index, blank.applied_index, blank.term),
            (0, 0, 0),
            "the wiped node took no part: {blank:?}"
        );
        let log = cluster.node(wiped).log_tail();
        assert!(
            log.contains("belongs to no cluster") && log.contains("replace-node"),
            "the wiped node says why it refuses and what to do:\n{log}"
        );

        // The operator's procedure: the spare joins under its own id and takes the place.
        let mut admin = AdminClient::new(channel(&cluster.node(leader).api_address()));
        let refused = admin
            .add_learner(AddLearnerRequest { member: Some(cluster.node(wiped).member()) })
            .await
            .expect_err("a voter's id is never added again as a learner");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
        let request = AddLearnerRequest { member: Some(cluster.node(SPARE).member()) };
        tokio::time::timeout(CALL_TIMEOUT, admin.add_learner(request))
            .await
            .expect("AddLearner in time")
            .expect("AddLearner");
        let leader_status = cluster.status(leader).await.expect("leader status");
        let caught_up = cluster
            .wait_status(SPARE, "caught up with the leader", |status| {
                status.applied_index >= leader_status.applied_index
            })
            .await;
        assert_eq!(caught_up.cluster_id, cluster_id, "the spare was admitted to the cluster");
        assert!(
            caught_up.snapshot_index > early_index,
            "the spare installed a snapshot holding the early entries: {caught_up:?}"
        );
        let request = ReplaceNodeRequest { old_node_id: wiped, new_node_id: SPARE, force: None };
        let replaced = tokio::time::timeout(CALL_TIMEOUT * 3, admin.replace_node(request))
            .await
            .expect("ReplaceNode in time")
            .expect("ReplaceNode")
            .into_inner();
        let mut voters: Vec<u64> =
            replaced.members.iter().filter(|m| m.voter).map(|m| m.node_id).collect();
        voters.sort_unstable();
        let mut expected: Vec<u64> =
            VOTERS.iter().copied().filter(|id| *id != wiped).chain([SPARE]).collect();
        expected.sort_unstable();
        assert_eq!(voters, expected, "the spare took the wiped voter's place: {replaced:?}");
        assert!(replaced.members.iter().all(|m| m.node_id != wiped), "{replaced:?}");
        eprintln!(
            "wiped voter: node {wiped} refused on its blank disk; leader purged its log up to \
             {}, spare {SPARE} installed a snapshot up to {} and replaced it",
            purged.purged_index, caught_up.snapshot_index
        );
        cluster.node_mut(wiped).kill();
        cluster.wait_converged(&expected).await;

        // The spare answers for early and late transfers alike, as the leader does.
        let on_leader = audit(&cluster, leader, &attempts).await;
        let on_spare = audit(&cluster, SPARE, &attempts).await;
        assert_eq!(on_spare, on_leader, "the spare holds the leader's ledger");
        assert_eq!(on_spare.transfers.len(), attempts.len());
    })
    .await;
}
