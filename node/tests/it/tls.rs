//! Mutual TLS on both ports (issue 15): a cluster of nodes with development certificates
//! serves certified clients, forwards and replicates over TLS, and refuses a client or a node
//! whose certificate no trusted CA signed; a node without certificates does not start.

use std::net::SocketAddr;
use std::path::Path;

use tianping_client::{Client, ClientConfig, NewAccount, RetryPolicy};
use tianping_node::{NodeConfig, NodeHandle, StartError};
use tianping_proto::raft::RaftPayload;
use tianping_proto::raft::raft_client::RaftClient;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{AddLearnerRequest, ClusterStatusRequest, LookupRequest, Member};
use tianping_tls::dev::{self, DevCertificates};
use tianping_tls::{Channels, TlsFiles};

use crate::support::{bounded, initialize_all};

fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Starts node `node_id` with `tls`'s files under `directory`.
async fn start(node_id: u64, tls: &TlsFiles, directory: &Path) -> NodeHandle {
    let mut config = NodeConfig::new(
        node_id,
        loopback_any_port(),
        loopback_any_port(),
        directory.join(format!("node-{node_id}")),
    );
    config.data_center = format!("dc-{node_id}");
    config.tls = Some(tls.clone());
    tianping_node::start(config, tianping_node::Production).await.expect("node starts")
}

fn node_files(made: &DevCertificates, node_id: u64) -> TlsFiles {
    made.node(&format!("node-{node_id}")).expect("node certificate").clone()
}

async fn connect(channels: &Channels, address: &str) -> Result<tonic::transport::Channel, String> {
    let endpoint = Channels::endpoint(address).map_err(|error| error.to_string())?;
    channels.connect(endpoint).await.map_err(|error| format!("{error:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_serves_certified_callers_and_refuses_the_others() {
    bounded(async {
        let directory = tempfile::tempdir().expect("temporary directory");
        let names: Vec<String> = (1..=3).map(|node_id| format!("node-{node_id}")).collect();
        let made = dev::generate(&directory.path().join("certs"), &names, "operator")
            .expect("development certificates");
        let mut nodes = Vec::new();
        for node_id in 1..=3 {
            nodes.push(start(node_id, &node_files(&made, node_id), directory.path()).await);
        }
        // Initialize admits every member's store through its Raft port: over TLS.
        let leader = initialize_all(&nodes).await;

        // The SDK with the operator's certificate writes; a follower reads it back after the
        // write was replicated to it over TLS.
        let addresses: Vec<String> =
            nodes.iter().map(|node| node.info().api_address.clone()).collect();
        let mut config = ClientConfig::new(addresses.clone());
        config.tls = Some(made.client.clone());
        let client = Client::new(config).expect("client");
        client
            .create_accounts(&[NewAccount { id: 1, ledger: 1, code: 1, ..NewAccount::default() }])
            .await
            .expect("account created over TLS");
        let follower = nodes.iter().find(|node| node.node_id() != leader).expect("a follower");
        let operator = Channels::from_files(Some(&made.client)).expect("operator TLS");
        let mut reader = LedgerClient::new(
            connect(&operator, &follower.info().api_address).await.expect("connect"),
        );
        let found = reader
            .lookup_accounts(LookupRequest { ids: vec!["1".into()], read: None })
            .await
            .expect("a linearizable read through a follower (ReadIndex over TLS)")
            .into_inner()
            .accounts;
        assert_eq!(found.len(), 1);

        // A client without a certificate (plaintext) is refused.
        let mut plaintext = ClientConfig::new(addresses.clone());
        plaintext.retry = RetryPolicy { attempts_max: 1, ..RetryPolicy::default() };
        let plaintext = Client::new(plaintext).expect("client");
        assert!(plaintext.cluster_status().await.is_err(), "a plaintext client is refused");

        // A client whose certificate another CA signed is refused, though it trusts the
        // nodes' CA (so it is the node that refuses it).
        let other_names = ["node-4".to_owned()];
        let other = dev::generate(&directory.path().join("other"), &other_names, "intruder")
            .expect("another CA");
        let intruder = TlsFiles { ca: made.ca.clone(), ..other.client.clone() };
        let intruder = Channels::from_files(Some(&intruder)).expect("intruder TLS");
        let refused = match connect(&intruder, &addresses[0]).await {
            Err(error) => Err(error),
            Ok(channel) => AdminClient::new(channel)
                .cluster_status(ClusterStatusRequest {})
                .await
                .map(|_| ())
                .map_err(|status| format!("{status:?}")),
        };
        assert!(refused.is_err(), "another CA's client is refused");

        // A node with another CA's certificate cannot send Raft messages: its vote never
        // reaches the handler. The same message over a certified node's connection does reach
        // it (and is refused there, for carrying no cluster identity): so the refusal above is
        // TLS's.
        let rogue = TlsFiles { ca: made.ca.clone(), ..node_files(&other, 4) };
        let rogue = Channels::from_files(Some(&rogue)).expect("rogue TLS");
        let raft_address = nodes[0].info().raft_address.clone();
        let vote = RaftPayload { payload: Vec::new() };
        let rogue_vote = match connect(&rogue, &raft_address).await {
            Err(error) => Err(error),
            Ok(channel) => RaftClient::new(channel)
                .vote(vote.clone())
                .await
                .map(|_| ())
                .map_err(|status| format!("{status:?}")),
        };
        let rogue_vote = rogue_vote.expect_err("the rogue node's vote is refused");
        assert!(
            !rogue_vote.contains("FailedPrecondition"),
            "refused before the handler: {rogue_vote}"
        );
        let peer = Channels::from_files(Some(&node_files(&made, 2))).expect("peer TLS");
        let status = RaftClient::new(connect(&peer, &raft_address).await.expect("connect"))
            .vote(vote)
            .await
            .expect_err("no cluster identity on the message");
        assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");

        // Nor can it join: node 4 with another CA's certificate (trusting only that CA)
        // is asked to be a learner; the leader's Admit cannot reach it, and the membership
        // stays as it was.
        let rogue_node = start(4, &node_files(&other, 4), directory.path()).await;
        let leader_node = nodes.iter().find(|node| node.node_id() == leader).expect("leader");
        let mut admin = AdminClient::new(
            connect(&operator, &leader_node.info().api_address).await.expect("connect"),
        );
        let info = rogue_node.info().clone();
        let joined = admin
            .add_learner(AddLearnerRequest {
                member: Some(Member {
                    node_id: 4,
                    region: info.region.clone(),
                    data_center: info.data_center.clone(),
                    raft_address: info.raft_address.clone(),
                    api_address: info.api_address.clone(),
                    ..Member::default()
                }),
            })
            .await;
        assert!(joined.is_err(), "a node of another CA cannot join: {joined:?}");
        let status = admin
            .cluster_status(ClusterStatusRequest {})
            .await
            .expect("cluster status")
            .into_inner();
        assert!(
            status.members.iter().all(|member| member.node_id != 4),
            "node 4 is no member: {:?}",
            status.members
        );

        rogue_node.shutdown().await.expect("stop node 4");
        for node in nodes {
            node.shutdown().await.expect("clean shutdown");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_certificates_does_not_start() {
    bounded(async {
        let directory = tempfile::tempdir().expect("temporary directory");
        let config = NodeConfig::new(
            1,
            loopback_any_port(),
            loopback_any_port(),
            directory.path().join("node-1"),
        );
        let refused = tianping_node::start(config.clone(), tianping_node::Production).await;
        let Err(StartError::Tls(message)) = refused else {
            panic!("a node with neither TLS files nor insecure must not start")
        };
        assert!(message.contains("--insecure") && message.contains("certs dev"), "{message}");

        let missing = TlsFiles {
            ca: directory.path().join("ca.pem"),
            cert: directory.path().join("node-1.pem"),
            key: directory.path().join("node-1-key.pem"),
        };
        let with_missing = NodeConfig { tls: Some(missing), ..config.clone() };
        let refused = tianping_node::start(with_missing, tianping_node::Production).await;
        let Err(StartError::Tls(message)) = refused else {
            panic!("a node whose TLS files are missing must not start")
        };
        assert!(message.contains("ca.pem") && message.contains("node-1-key.pem"), "{message}");

        // Plaintext only on purpose.
        let node = tianping_node::start(config.insecure(), tianping_node::Production)
            .await
            .expect("an insecure node starts");
        node.shutdown().await.expect("clean shutdown");
    })
    .await;
}
