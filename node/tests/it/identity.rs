//! Node identity across clusters: a node that belongs to one cluster is never admitted to
//! another, every member of a cluster names the same cluster, and a Raft message naming
//! another cluster — or none — is refused before openraft sees it.

use tianping_node::identity::{CLUSTER_ID_HEADER, TARGET_NODE_HEADER, id_text};
use tianping_proto::raft::RaftPayload;
use tianping_proto::raft::raft_client::RaftClient;
use tianping_proto::v1::{AddLearnerRequest, Member};
use tonic::Code;
use tonic::metadata::MetadataValue;

use crate::admin::{admin, status};
use crate::support::{Cluster, bounded};

/// A read-index request to `node`'s Raft address naming `cluster_id` (or no cluster).
async fn read_index(
    node: &tianping_node::NodeHandle,
    cluster_id: Option<u128>,
) -> Result<(), tonic::Status> {
    let mut client = RaftClient::connect(format!("http://{}", node.info().raft_address))
        .await
        .expect("connect to the Raft service");
    let mut request = tonic::Request::new(RaftPayload { payload: Vec::new() });
    if let Some(cluster_id) = cluster_id {
        let value = MetadataValue::try_from(id_text(cluster_id)).expect("ascii");
        request.metadata_mut().insert(CLUSTER_ID_HEADER, value);
    }
    request.metadata_mut().insert(TARGET_NODE_HEADER, MetadataValue::from(node.node_id()));
    client.read_index(request).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_one_cluster_is_never_admitted_to_another_nor_heard_by_it() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let ours = status(cluster.node(leader)).await;
        assert_eq!(ours.cluster_id.len(), 32, "{ours:?}");
        for node in &cluster.nodes {
            let theirs = status(node).await;
            assert_eq!(theirs.cluster_id, ours.cluster_id, "one cluster id for every member");
            assert_eq!(theirs.incarnation_id.len(), 32);
        }
        let incarnations: std::collections::BTreeSet<String> = {
            let mut seen = std::collections::BTreeSet::new();
            for node in &cluster.nodes {
                seen.insert(status(node).await.incarnation_id);
            }
            seen
        };
        assert_eq!(incarnations.len(), 3, "every store its own incarnation");

        // A second, one-node cluster of its own.
        let other = Cluster::start(1).await;
        let stranger = other.node(1);
        stranger.initialize([(1, stranger.info().clone())].into()).await.expect("initialize");
        let theirs = status(stranger).await;
        assert_eq!(theirs.cluster_id.len(), 32);
        assert_ne!(theirs.cluster_id, ours.cluster_id, "each Initialize makes a new cluster");

        // Adding it to ours: its store holds the other cluster's state, so Admit refuses.
        let info = stranger.info().clone();
        let member = Member {
            node_id: 9,
            region: info.region.clone(),
            data_center: "dc-9".to_owned(),
            raft_address: info.raft_address.clone(),
            api_address: info.api_address.clone(),
            ..Default::default()
        };
        let refused = admin(cluster.node(leader))
            .await
            .add_learner(AddLearnerRequest { member: Some(member.clone()) })
            .await
            .expect_err("a node id the stranger is not");
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains("Admit is for node 9"), "{}", refused.message());
        let refused = admin(cluster.node(leader))
            .await
            .add_learner(AddLearnerRequest { member: Some(Member { node_id: 1, ..member }) })
            .await
            .expect_err("node 1 is a voter of ours already");
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

        // Raft messages naming another cluster, or none, are refused; ours are heard.
        let ours_id = u128::from_str_radix(&ours.cluster_id, 16).expect("hex");
        let leader_node = cluster.node(leader);
        read_index(leader_node, Some(ours_id)).await.expect("our own cluster's read index");
        let foreign = read_index(leader_node, Some(ours_id ^ 1)).await.expect_err("foreign");
        assert_eq!(foreign.code(), Code::FailedPrecondition);
        assert!(foreign.message().contains("belongs to cluster"), "{}", foreign.message());
        let unnamed = read_index(leader_node, None).await.expect_err("no cluster named");
        assert!(unnamed.message().contains(CLUSTER_ID_HEADER), "{}", unnamed.message());

        other.shutdown().await;
        cluster.shutdown().await;
    })
    .await;
}
