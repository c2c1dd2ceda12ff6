//! Membership administration on real nodes: a learner joins, replaces a voter in one change
//! (promoting it alone would make an even count, refused), leadership moves, a retried
//! replacement and removal are answered — and writes keep committing throughout. Also gRPC
//! health, and the preferred leader data center. The voter rules' refusals and `force` are
//! `membership.rs`'s.

use std::time::Duration;

use tianping_node::{NodeConfig, NodeHandle};
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{
    AddLearnerRequest, ClusterStatusRequest, ClusterStatusResponse, CreateAccountsRequest,
    LookupRequest, Member, NewAccount, PromoteRequest, RemoveRequest, ReplaceNodeRequest,
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

pub(crate) async fn admin(node: &NodeHandle) -> AdminClient<Channel> {
    AdminClient::connect(format!("http://{}", node.info().api_address))
        .await
        .expect("connect to the admin API")
}

pub(crate) async fn status(node: &NodeHandle) -> ClusterStatusResponse {
    admin(node).await.cluster_status(ClusterStatusRequest {}).await.expect("status").into_inner()
}

/// Creates account `id` through `node` and waits until `node` has applied it.
pub(crate) async fn write_through(cluster: &Cluster, node_id: u64, id: u64) -> u64 {
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

pub(crate) fn voters(members: &[Member]) -> Vec<u64> {
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
async fn a_learner_replaces_the_leader_in_one_change_leadership_moves_and_retries_are_answered() {
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
        config.insecure = true;
        let fourth =
            tianping_node::start(config, tianping_node::Production).await.expect("node 4 starts");
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

        // Promoting it alone would make four voters: refused, naming the rule, nothing changed.
        let refused = admin(cluster.node(follower))
            .await
            .promote(PromoteRequest { node_ids: vec![4], force: None })
            .await
            .expect_err("3 -> 4 voters");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains("even_voter_count"), "{}", refused.message());
        assert_eq!(voters(&status(cluster.node(leader)).await.members).len(), 3);

        // Node 4 replaces the leader in one joint change (asked of a follower): three voters
        // before and after, and the old leader steps down once it commits.
        let replace = ReplaceNodeRequest { old_node_id: leader, new_node_id: 4, force: None };
        let replaced = admin(cluster.node(follower))
            .await
            .replace_node(replace.clone())
            .await
            .expect("replace node")
            .into_inner();
        assert_eq!(replaced.leader_id, leader);
        let mut expected: Vec<u64> = vec![1, 2, 3, 4];
        expected.retain(|id| *id != leader);
        assert_eq!(voters(&replaced.members), expected);
        assert!(learners(&replaced.members).is_empty(), "the old leader left the membership");
        let index = write_through(&cluster, 4, 3).await;
        for node_id in &expected {
            cluster
                .node(*node_id)
                .raft()
                .wait(Some(CONVERGE_TIMEOUT))
                .applied_index_at_least(Some(index), "applied by every remaining voter")
                .await
                .expect("applied in time");
        }

        // Leadership moves to node 4 (asked of a follower), and writes still commit.
        let moved = retry_unavailable(|| async {
            admin(cluster.node(follower))
                .await
                .transfer_leader(TransferLeaderRequest { to_node_id: 4 })
                .await
        })
        .await;
        assert_eq!(moved.leader_id, 4);
        for node_id in &expected {
            cluster
                .node(*node_id)
                .raft()
                .wait(Some(CONVERGE_TIMEOUT))
                .current_leader(4, "every remaining node follows node 4")
                .await
                .expect("node 4 leads everywhere");
        }
        write_through(&cluster, follower, 4).await;

        // Retries of the replacement and of a removal of the old leader (their first answers
        // lost) are answered, not refused: the node is gone already, and nothing changes.
        for attempt in ["replace", "remove"] {
            let mut retried = None;
            for _ in 0..100 {
                let mut client = admin(cluster.node(4)).await;
                let answer = if attempt == "replace" {
                    client.replace_node(replace.clone()).await
                } else {
                    client.remove(RemoveRequest { node_ids: vec![leader], force: None }).await
                };
                match answer {
                    Ok(answer) => {
                        retried = Some(answer.into_inner());
                        break;
                    }
                    // The change is still being committed: the node asks for a retry.
                    Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(status) => panic!("a retried {attempt} was refused: {status}"),
                }
            }
            let retried = retried.unwrap_or_else(|| panic!("the retried {attempt} was answered"));
            assert_eq!(retried.already_absent, vec![leader], "{attempt}");
            assert_eq!(voters(&retried.members), expected, "{attempt}");
        }
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
        // Refusals are clear: an unknown node cannot be promoted, replace a voter or lead; a
        // learner cannot be replaced.
        let mut client = admin(cluster.node(4)).await;
        let refused = client.promote(PromoteRequest { node_ids: vec![9], force: None }).await;
        assert_eq!(refused.expect_err("unknown").code(), tonic::Code::NotFound);
        let unknown = ReplaceNodeRequest { old_node_id: follower, new_node_id: 9, force: None };
        let refused = client.replace_node(unknown).await;
        assert_eq!(refused.expect_err("unknown new").code(), tonic::Code::NotFound);
        let refused = client.transfer_leader(TransferLeaderRequest { to_node_id: 9 }).await;
        assert_eq!(refused.expect_err("not a voter").code(), tonic::Code::InvalidArgument);
        let same = ReplaceNodeRequest { old_node_id: 4, new_node_id: 4, force: None };
        let refused = client.replace_node(same).await;
        assert_eq!(refused.expect_err("same id").code(), tonic::Code::InvalidArgument);
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
