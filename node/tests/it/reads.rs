//! Read consistency: linearizable reads through any node, bounded-staleness reads served by a
//! follower's replica.

use std::time::Duration;

use tianping_proto::v1::{
    CreateAccountsRequest, CreateTransfersRequest, LookupRequest, NewAccount, NewTransfer,
    ReadOptions,
};

use crate::support::{Cluster, bounded, retry_unavailable};

/// Write-then-read rounds in the linearizability test.
const ROUNDS: u64 = 20;

fn account(id: &str) -> NewAccount {
    NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() }
}

fn transfer(id: u64) -> NewTransfer {
    NewTransfer {
        id: id.to_string(),
        debit_account_id: "1".into(),
        credit_account_id: "2".into(),
        amount: "1".into(),
        ledger: 156,
        code: 1,
        ..Default::default()
    }
}

fn lookup(ids: &[&str], max_staleness_ms: Option<u64>) -> LookupRequest {
    LookupRequest {
        ids: ids.iter().map(|id| (*id).to_owned()).collect(),
        read: max_staleness_ms.map(|max_staleness_ms| ReadOptions { max_staleness_ms }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linearizable_read_through_a_follower_sees_a_write_acknowledged_through_another_node() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let followers = cluster.followers(leader);
        let writer = cluster.client(followers[0]).await;
        let mut reader = cluster.client(followers[1]).await;
        let mut leader_reader = cluster.client(leader).await;
        let accounts = CreateAccountsRequest { accounts: vec![account("1"), account("2")] };
        retry_unavailable(|| {
            let (mut client, request) = (writer.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        // Each round: a write acknowledged through one follower, then at once a read through
        // the other follower (which may not have heard of it yet) must see it.
        for round in 1..=ROUNDS {
            let request = CreateTransfersRequest { transfers: vec![transfer(100 + round)] };
            let written = retry_unavailable(|| {
                let (mut client, request) = (writer.clone(), request.clone());
                async move { client.create_transfers(request).await }
            })
            .await;
            assert_eq!(written.results[0].code_name, "ok");
            let id = (100 + round).to_string();
            let read = reader
                .lookup_transfers(lookup(&[&id], None))
                .await
                .expect("linearizable read through a follower")
                .into_inner();
            assert_eq!(read.transfers.len(), 1, "round {round}: the follower missed the write");
            assert!(read.applied_index >= written.log_index, "round {round}: {read:?}");
            let accounts = reader
                .lookup_accounts(lookup(&["2"], Some(0)))
                .await
                .expect("max_staleness 0 is linearizable too")
                .into_inner()
                .accounts;
            assert_eq!(accounts[0].credits_posted, round.to_string());
            let on_leader = leader_reader
                .lookup_accounts(lookup(&["1"], None))
                .await
                .expect("linearizable read on the leader")
                .into_inner();
            assert_eq!(on_leader.accounts[0].debits_posted, round.to_string());
            assert!(on_leader.applied_index >= written.log_index);
            // The leader serves a bounded read from its quorum-acknowledged lease.
            let bounded_on_leader = leader_reader
                .lookup_accounts(lookup(&["1"], Some(5_000)))
                .await
                .expect("bounded read on the leader")
                .into_inner();
            assert_eq!(bounded_on_leader.accounts[0].debits_posted, round.to_string());
        }
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_staleness_read_on_a_follower_is_served_from_its_replica() {
    bounded(async {
        // Two voters: once the leader stops, the follower can elect no one, so only reads that
        // need no leader can succeed.
        let (mut cluster, leader) = Cluster::start_initialized(2).await;
        let follower = cluster.followers(leader)[0];
        let mut client = cluster.client(follower).await;
        let accounts = CreateAccountsRequest { accounts: vec![account("1"), account("2")] };
        let written = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        // A bounded read with nothing learned yet asks the leader (ReadIndex), like a
        // linearizable one, and records the index it learned.
        let first = client
            .lookup_accounts(lookup(&["1", "2"], Some(60_000)))
            .await
            .expect("bounded read")
            .into_inner();
        assert_eq!(first.accounts.len(), 2);
        assert!(first.applied_index >= written.log_index);

        cluster.stop(leader).await;
        // Within the bound, the follower answers from its replica without any leader.
        let stale = client
            .lookup_accounts(lookup(&["1", "2"], Some(60_000)))
            .await
            .expect("a bounded read needs no leader while its bound holds")
            .into_inner();
        assert_eq!(stale.accounts.len(), 2);
        assert!(stale.applied_index >= written.log_index);
        // A linearizable read needs the leader, and so does a bound the follower cannot prove.
        let status = client
            .lookup_accounts(lookup(&["1"], None))
            .await
            .expect_err("no leader, no linearizable read");
        assert!(
            matches!(status.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded),
            "{status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let status = client
            .lookup_accounts(lookup(&["1"], Some(10)))
            .await
            .expect_err("the replica's staleness is no longer bounded by 10 ms");
        assert!(
            matches!(status.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded),
            "{status:?}"
        );
        cluster.shutdown().await;
    })
    .await;
}
