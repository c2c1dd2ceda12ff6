//! The voter rules on real nodes (issue 11 item 6): a change that would leave fewer than three
//! voters, an even count, or a new configuration whose majority is down is refused with
//! FAILED_PRECONDITION naming the rule, and nothing changes; `force` with a reason overrides.
//! The case: two of five nodes down, removing two healthy voters would leave a joint
//! configuration that can never commit.

use std::time::Duration;

use tianping_proto::v1::{ForceChange, RemoveRequest};

use crate::admin::{admin, voters, write_through};
use crate::support::{Cluster, bounded};

fn force(reason: &str) -> Option<ForceChange> {
    Some(ForceChange { reason: reason.to_owned(), actor: "membership-test".to_owned() })
}

/// Asks `node_id` to remove `ids`; the refusal's status, or the voters after the change.
async fn remove(
    cluster: &Cluster,
    node_id: u64,
    ids: &[u64],
    force: Option<ForceChange>,
) -> Result<Vec<u64>, tonic::Status> {
    let request = RemoveRequest { node_ids: ids.to_vec(), force };
    let answer = admin(cluster.node(node_id)).await.remove(request).await?;
    Ok(voters(&answer.into_inner().members))
}

/// The voters as `node_id` sees them.
async fn voters_on(cluster: &Cluster, node_id: u64) -> Vec<u64> {
    voters(&crate::admin::status(cluster.node(node_id)).await.members)
}

/// Asserts `refused` is FAILED_PRECONDITION naming `rule`.
fn assert_refused(refused: Result<Vec<u64>, tonic::Status>, rule: &str) {
    let status = refused.expect_err(rule);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{rule}: {status:?}");
    assert!(status.message().contains(rule), "{rule}: {}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_voter_changes_are_refused_and_force_with_a_reason_overrides() {
    bounded(async {
        // Five voters, each in its own data center (`Cluster::start`: node N in dc-N).
        let (mut cluster, leader) = Cluster::start_initialized(5).await;
        let followers = cluster.followers(leader);
        write_through(&cluster, leader, 1).await;

        // Three of five removed would leave two.
        let refused = remove(&cluster, followers[0], &followers[..3], None).await;
        assert_refused(refused, "fewer_than_three_voters");
        // One removed would leave four.
        assert_refused(remove(&cluster, leader, &followers[..1], None).await, "even_voter_count");
        assert_eq!(voters_on(&cluster, leader).await, [1, 2, 3, 4, 5]);

        // Two followers go down. Removing the two healthy ones would leave the leader and the
        // two down nodes: a majority that cannot answer.
        let (down, healthy) = (&followers[2..], &followers[..2]);
        for node_id in down {
            cluster.stop(*node_id).await;
        }
        // Until the leader's last acknowledgement from them is older than the bound (one
        // election timeout), they still count as reachable.
        let bound = cluster.node(leader).raft().config().election_timeout_max;
        tokio::time::sleep(Duration::from_millis(bound * 2 + 200)).await;
        let refused = remove(&cluster, healthy[0], healthy, None).await;
        assert_refused(refused, "majority_not_reachable_and_caught_up");
        let status = remove(&cluster, leader, healthy, None).await.expect_err("refused");
        let not_ready = format!("not ready: {down:?}");
        assert!(status.message().contains(&not_ready), "{}", status.message());
        assert_eq!(voters_on(&cluster, leader).await, [1, 2, 3, 4, 5]);
        write_through(&cluster, healthy[0], 2).await;

        // `force` needs a reason.
        let refused = remove(&cluster, leader, &down[..1], force("  ")).await;
        assert_eq!(refused.expect_err("no reason").code(), tonic::Code::InvalidArgument);

        // Removing one down node leaves four voters (even), refused; forced with a reason, it
        // is made (three of the four answer), and writes go on.
        assert_refused(remove(&cluster, leader, &down[..1], None).await, "even_voter_count");
        let after = remove(&cluster, leader, &down[..1], force("host lost, rebuilding it"))
            .await
            .expect("forced removal");
        let mut expected = vec![leader, healthy[0], healthy[1], down[1]];
        expected.sort_unstable();
        assert_eq!(after, expected);
        write_through(&cluster, healthy[1], 3).await;

        // The other down node leaves without force: three voters, all reachable.
        let after = remove(&cluster, healthy[0], &down[1..], None).await.expect("removal");
        expected.retain(|id| *id != down[1]);
        assert_eq!(after, expected);
        write_through(&cluster, healthy[0], 4).await;
        cluster.shutdown().await;
    })
    .await;
}
