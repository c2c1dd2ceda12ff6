//! A cluster commits writes sent to any node and every replica reads them back.

use tianping_proto::v1::{
    CreateAccountsRequest, CreateTransfersRequest, LookupRequest, NewAccount, NewTransfer,
};

use crate::support::{Cluster, bounded, retry_unavailable};

fn account(id: &str) -> NewAccount {
    NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_commit_through_a_follower_and_every_replica_reads_it() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let follower = cluster
            .nodes
            .iter()
            .map(|node| node.node_id())
            .find(|node_id| *node_id != leader)
            .expect("a follower");
        let client = cluster.client(follower).await;

        // 128-bit ids and amounts as decimal strings, beyond u64 to prove they are lossless.
        let big_id = "340282366920938463463374607431768211454"; // u128::MAX - 1
        let accounts = CreateAccountsRequest { accounts: vec![account("1"), account(big_id)] };
        let created = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        let names: Vec<&str> =
            created.results.iter().map(|result| result.code_name.as_str()).collect();
        assert_eq!(names, ["ok", "ok"]);
        assert!(created.results.iter().all(|result| result.code == 0));

        let amount = "18446744073709551616"; // 2^64
        let transfers = CreateTransfersRequest {
            transfers: vec![
                NewTransfer {
                    id: "10".into(),
                    debit_account_id: "1".into(),
                    credit_account_id: big_id.into(),
                    amount: amount.into(),
                    ledger: 156,
                    code: 1,
                    ..Default::default()
                },
                // A business refusal is a result code, not a gRPC error.
                NewTransfer {
                    id: "11".into(),
                    debit_account_id: "1".into(),
                    credit_account_id: "999".into(),
                    amount: "1".into(),
                    ledger: 156,
                    code: 1,
                    ..Default::default()
                },
            ],
        };
        let moved = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), transfers.clone());
            async move { client.create_transfers(request).await }
        })
        .await;
        assert_eq!(moved.results[0].code_name, "ok");
        assert_eq!(moved.results[0].amount, amount);
        assert_eq!(moved.results[1].code_name, "credit_account_not_found");
        assert_eq!(moved.results[1].code, 52);

        // Replaying the same request is safe: the ledger answers `exists`.
        let replayed = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), transfers.clone());
            async move { client.create_transfers(request).await }
        })
        .await;
        assert_eq!(replayed.results[0].code_name, "exists");

        cluster.wait_applied(replayed.log_index.max(moved.log_index)).await;
        for node in &cluster.nodes {
            let mut reader = cluster.client(node.node_id()).await;
            let found = reader
                .lookup_accounts(LookupRequest {
                    ids: vec!["1".into(), big_id.into(), "5".into()],
                    read: None,
                })
                .await
                .expect("lookup accounts")
                .into_inner()
                .accounts;
            assert_eq!(found.len(), 2, "node {}", node.node_id());
            assert_eq!(found[0].debits_posted, amount);
            assert_eq!(found[1].id, big_id);
            assert_eq!(found[1].credits_posted, amount);
            let found = reader
                .lookup_transfers(LookupRequest { ids: vec!["10".into(), "11".into()], read: None })
                .await
                .expect("lookup transfers")
                .into_inner()
                .transfers;
            assert_eq!(found.len(), 1, "node {}: the refused transfer is absent", node.node_id());
            assert_eq!(found[0].amount, amount);
            assert_eq!(found[0].credit_account_id, big_id);
        }
        cluster.shutdown().await;
    })
    .await;
}
