//! The commands the deployments run (`deploy/`), against `tianping node` processes:
//! `tianping health`, the container image's health check and the Kubernetes liveness probe,
//! and `tianping cluster initialize`, the Compose `init` service and the Kubernetes init Job.

use crate::processes::ProcessCluster;
use crate::support::{bounded, stdout, tianping};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_leader_and_initialize_makes_the_cluster_once() {
    bounded(async {
        let cluster = ProcessCluster::start_on_loopback(3, |_| {}).await;
        let first = cluster.node(1).api_address();

        // Before initialization the node answers, but knows no leader.
        let health = tianping(Some(&first), &["health"]).await;
        assert!(!health.status.success(), "not SERVING yet");
        assert!(stdout(&health).contains("NOT_SERVING"), "{}", stdout(&health));
        assert!(tianping(Some(&first), &["health", "--alive"]).await.status.success());

        let bad =
            tianping(Some(&first), &["cluster", "initialize", "--member", "x,dc-a,h:1,h:2"]).await;
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a number"));
        assert!(cluster.status(1).await.expect("status").members.is_empty(), "nothing sent");

        let members: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| {
                format!(
                    "--member={},{},{},{},{}",
                    node.node_id,
                    node.settings.data_center,
                    node.raft_address(),
                    node.api_address(),
                    node.settings.region
                )
            })
            .collect();
        let mut arguments = vec!["cluster", "initialize", "--wait", "30s"];
        arguments.extend(members.iter().map(String::as_str));
        let initialized = tianping(Some(&first), &arguments).await;
        assert!(initialized.status.success());
        assert!(stdout(&initialized).starts_with("initialized: 3 voters"));
        cluster.wait_converged(&[1, 2, 3]).await;
        let status = cluster.status(2).await.expect("status");
        assert_eq!(status.members.len(), 3);
        assert!(status.members.iter().all(|member| member.voter && member.region == "test"));

        // Run again (through another node, as a re-applied Job might): nothing changes.
        let third = cluster.node(3).api_address();
        let again = tianping(Some(&third), &arguments).await;
        assert!(again.status.success());
        assert!(stdout(&again).starts_with("already initialized"), "{}", stdout(&again));
        assert_eq!(cluster.status(3).await.expect("status").cluster_id, status.cluster_id);

        for node in &cluster.nodes {
            let health = tianping(Some(&node.api_address()), &["health"]).await;
            assert!(health.status.success(), "node {} SERVING", node.node_id);
            assert!(stdout(&health).contains(": SERVING"));
        }
    })
    .await;
}
