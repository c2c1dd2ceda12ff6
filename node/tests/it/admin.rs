//! Membership administration on real nodes: a learner joins, is promoted, leadership moves,
//! members leave — and writes keep committing throughout. Also gRPC health, and the preferred
//! leader data center.

use std::time::Duration;

use tianping_node::{NodeConfig, NodeHandle};
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{
    AddLearnerRequest, ClusterStatusRequest, ClusterStatusResponse, CreateAccountsRequest,
    LookupRequest, Member, NewAccount, PromoteRequest, RemoveRequest,
    SetPreferredLeaderDataCenterRequest, TransferLeaderRequest,
};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{CONVERGE_TIMEOUT, Cluster, bounded, retry_unavailable};

/// Longest the preferred-leader task may take to move leadership: its cool-down (10 checks
/// of 1 s) plus an election's worth of slack.
const PREFERRED_LEADER_TIMEOUT: Duration = Duration::from_secs(25);

async fn admin(node: &NodeHandle) -> AdminClient<Channel> {
    AdminClient::connect(format!("http://{}", node.info().api_address))
        .await
        .expect("connect to the admin API")
}

async fn status(node: &NodeHandle) -> ClusterStatusResponse {
    admin(node).await.cluster_status(ClusterStatusRequest {}).await.expect("status").into_inner()
}

/// Creates account `id` through `node` and waits until `node` has applied it.
async fn write_through(cluster: &Cluster, node_id: u64, id: u64) -> u64 {
    let client = cluster.client(node_id).await;
    let request = CreateAccountsRequest {
        accounts: vec![NewAccount {
            id: id.to_string(),
            ledger: 156,
            code: 1,
            ..Default::default()
        }],
    };
    let created = retry_unavailable(|| {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.create_accounts(request).await }
    })
    .await;
    assert_eq!(created.results[0].code_name, "ok", "account {id} through node {node_id}");
    created.log_index
}

fn voters(members: &[Member]) -> Vec<u64> {
    members.iter().filter(|member| member.voter).map(|member| member.node_id).collect()
}

fn learners(members: &[Member]) -> Vec<u64> {
    members.iter().filter(|member| !member.voter).map(|member| member.node_id).collect()
}

async fn health(node: &NodeHandle, service: &str) -> ServingStatus {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", node.info().api_address))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to health");
    let mut client = HealthClient::new(channel);
    let response = client
        .check(HealthCheckRequest { service: service.to_owned() })
        .await
        .expect("health check")
        .into_inner();
    ServingStatus::try_from(response.status).expect("a known status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_joins_is_promoted_leadership_moves_and_members_leave_while_writes_commit() {
    bounded(async {
        let (mut cluster, leader) = Cluster::start_initialized(3).await;
        let follower = if leader == 1 { 2 } else { 1 };
        write_through(&cluster, follower, 1).await;

        // Node 4 starts on its own and joins as a learner, the request sent to a follower
        // (forwarded to the leader).
        let directory = tempfile::tempdir().expect("temporary directory");
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = NodeConfig::new(4, any_port, any_port, directory.path().join("node-4"));
        config.data_center = "dc-4".to_owned();
        let fourth = tianping_node::start(config).await.expect("node 4 starts");
        let info = fourth.info().clone();
        cluster.nodes.push(fourth);
        let added = admin(cluster.node(follower))
            .await
            .add_learner(AddLearnerRequest {
                member: Some(Member {
                    node_id: 4,
                    region: info.region.clone(),
                    data_center: info.data_center.clone(),
                    raft_address: info.raft_address.clone(),
                    api_address: info.api_address.clone(),
                    ..Default::default()
                }),
            })
            .await
            .expect("add learner")
            .into_inner();
        assert_eq!(added.leader_id, leader);
        assert_eq!(learners(&added.members), [4]);
        assert_eq!(voters(&added.members).len(), 3);

        // The learner catches up: it applies a write made after it joined.
        let index = write_through(&cluster, leader, 2).await;
        cluster.wait_applied(index).await;
        let on_leader = status(cluster.node(leader)).await;
        let learner = on_leader.members.iter().find(|member| member.node_id == 4).expect("4");
        assert!(learner.lag_known, "the leader reports the learner's lag");
        assert_eq!(learner.data_center, "dc-4");
        let on_follower = status(cluster.node(follower)).await;
        assert!(on_follower.members.iter().all(|member| !member.lag_known), "follower: unknown");

        // Promote through a follower; now four voters.
        let promoted = admin(cluster.node(follower))
            .await
            .promote(PromoteRequest { node_ids: vec![4] })
            .await
            .expect("promote")
            .into_inner();
        assert_eq!(voters(&promoted.members), [1, 2, 3, 4]);
        assert!(learners(&promoted.members).is_empty());
        let index = write_through(&cluster, 4, 3).await;
        cluster.wait_applied(index).await;

        // Leadership moves to node 4 (asked of a follower), and writes still commit.
        let moved = admin(cluster.node(follower))
            .await
            .transfer_leader(TransferLeaderRequest { to_node_id: 4 })
            .await
            .expect("transfer leader")
            .into_inner();
        assert_eq!(moved.leader_id, 4);
        for node in &cluster.nodes {
            node.raft()
                .wait(Some(CONVERGE_TIMEOUT))
                .current_leader(4, "every node follows node 4")
                .await
                .expect("node 4 leads everywhere");
        }
        let index = write_through(&cluster, leader, 4).await;
        cluster.wait_applied(index).await;

        // The old leader leaves; three voters remain and keep committing.
        let removed = admin(cluster.node(4))
            .await
            .remove(RemoveRequest { node_ids: vec![leader] })
            .await
            .expect("remove")
            .into_inner();
        let mut expected: Vec<u64> = vec![1, 2, 3, 4];
        expected.retain(|id| *id != leader);
        assert_eq!(voters(&removed.members), expected);
        assert!(learners(&removed.members).is_empty());
        assert!(removed.already_absent.is_empty());
        // A retry of the same removal (its first answer lost) is answered, not refused: the
        // node is gone already, and nothing changes.
        let mut retried = None;
        for _ in 0..100 {
            match admin(cluster.node(4))
                .await
                .remove(RemoveRequest { node_ids: vec![leader] })
                .await
            {
                Ok(answer) => {
                    retried = Some(answer.into_inner());
                    break;
                }
                // The removal is still being committed: the node asks for a retry.
                Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(status) => panic!("a retried removal was refused: {status}"),
            }
        }
        let retried = retried.expect("the retried removal was answered");
        assert_eq!(retried.already_absent, vec![leader]);
        assert_eq!(voters(&retried.members), expected);
        write_through(&cluster, follower, 5).await;
        let mut reader = cluster.client(4).await;
        let found = reader
            .lookup_accounts(LookupRequest {
                ids: (1..=5).map(|id| id.to_string()).collect(),
                read: None,
            })
            .await
            .expect("lookup")
            .into_inner()
            .accounts;
        assert_eq!(found.len(), 5, "every write survived the membership changes");

        // Health: every remaining member knows the leader.
        for node_id in &expected {
            let node = cluster.node(*node_id);
            assert_eq!(health(node, "tianping.v1.Ledger").await, ServingStatus::Serving);
            assert_eq!(health(node, "").await, ServingStatus::Serving);
        }
        // Refusals are clear: an unknown node cannot be promoted or lead.
        let mut client = admin(cluster.node(4)).await;
        let refused = client.promote(PromoteRequest { node_ids: vec![9] }).await;
        assert_eq!(refused.expect_err("unknown").code(), tonic::Code::NotFound);
        let refused = client.transfer_leader(TransferLeaderRequest { to_node_id: 9 }).await;
        assert_eq!(refused.expect_err("not a voter").code(), tonic::Code::InvalidArgument);
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_not_serving_until_the_node_knows_a_leader() {
    bounded(async {
        let cluster = Cluster::start(1).await;
        let node = cluster.node(1);
        assert_eq!(health(node, "tianping.v1.Ledger").await, ServingStatus::NotServing);
        assert_eq!(health(node, "").await, ServingStatus::NotServing);
        node.initialize([(1, node.info().clone())].into()).await.expect("initialize");
        let mut serving = false;
        for _ in 0..100 {
            if health(node, "tianping.v1.Ledger").await == ServingStatus::Serving {
                serving = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(serving, "SERVING once it leads");
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_moves_to_the_preferred_data_center() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let target = if leader == 3 { 2 } else { 3 };
        let preferred = format!("dc-{target}"); // `Cluster::start` puts node N in dc-N
        for node in &cluster.nodes {
            admin(node)
                .await
                .set_preferred_leader_data_center(SetPreferredLeaderDataCenterRequest {
                    data_center: preferred.clone(),
                })
                .await
                .expect("set preferred data center");
            assert_eq!(status(node).await.preferred_leader_data_center, preferred);
        }
        cluster
            .node(target)
            .raft()
            .wait(Some(PREFERRED_LEADER_TIMEOUT))
            .current_leader(target, "the preferred data center leads")
            .await
            .expect("leadership moved to the preferred data center");
        write_through(&cluster, leader, 1).await;
        cluster.shutdown().await;
    })
    .await;
}
