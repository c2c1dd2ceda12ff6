//! Group commit: concurrent client batches share log entries, yet every client gets exactly
//! its own results, and an open chain never reaches into another client's batch.

use std::collections::BTreeSet;

use prost::Message;
use tianping_proto::v1::{
    CreateAccountsRequest, CreateEventsResponse, CreatePayoutsRequest, CreateTransfersRequest,
    NewAccount, NewPayout, NewTransfer,
};

use crate::support::{Cluster, bounded, retry_unavailable};

/// Concurrent client batches; each has three transfers.
const CLIENTS: u64 = 120;

/// `TransferFlags::LINKED`.
const LINKED: u32 = 1;

fn transfer(id: u64, debit: u64, credit: u64, flags: u32) -> NewTransfer {
    NewTransfer {
        id: id.to_string(),
        debit_account_id: debit.to_string(),
        credit_account_id: credit.to_string(),
        amount: "5".into(),
        ledger: 156,
        code: 1,
        flags,
        ..Default::default()
    }
}

/// Client `client`'s batch. Every third client's batch ends inside a chain (refused as
/// `linked_event_chain_open`); every other one ends with a transfer to a missing account, so
/// each client's expected codes are known and differ by position.
fn batch(client: u64) -> (CreateTransfersRequest, Vec<&'static str>) {
    let id = 1_000 + client * 10;
    if client.is_multiple_of(3) {
        let transfers = vec![
            transfer(id, 1, 2, 0),
            transfer(id + 1, 1, 2, LINKED),
            transfer(id + 2, 2, 1, LINKED),
        ];
        (
            CreateTransfersRequest { transfers },
            vec!["ok", "linked_event_failed", "linked_event_chain_open"],
        )
    } else if client % 3 == 1 {
        let transfers =
            vec![transfer(id, 1, 2, 0), transfer(id + 1, 2, 1, 0), transfer(id + 2, 1, 9, 0)];
        (CreateTransfersRequest { transfers }, vec!["ok", "ok", "credit_account_not_found"])
    } else {
        let transfers =
            vec![transfer(id, 9, 1, 0), transfer(id + 1, 2, 1, 0), transfer(id + 2, 1, 2, 0)];
        (CreateTransfersRequest { transfers }, vec!["debit_account_not_found", "ok", "ok"])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_share_entries_and_each_client_gets_its_own_results() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let client = cluster.client(leader).await;
        let accounts = CreateAccountsRequest {
            accounts: ["1", "2"]
                .map(|id| NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() })
                .into(),
        };
        let created = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        assert!(created.results.iter().all(|result| result.code == 0));

        let mut sends = Vec::new();
        for index in 0..CLIENTS {
            let (request, expected) = batch(index);
            let mut client = client.clone();
            sends.push(tokio::spawn(async move {
                let response: CreateEventsResponse =
                    client.create_transfers(request).await.expect("write").into_inner();
                (index, expected, response)
            }));
        }
        let mut entries = BTreeSet::new();
        for send in sends {
            let (index, expected, response) = send.await.expect("client task");
            let codes: Vec<&str> =
                response.results.iter().map(|result| result.code_name.as_str()).collect();
            assert_eq!(codes, expected, "client {index} got another client's results");
            entries.insert(response.log_index);
        }
        // Every batch reached the leader at once; the group-commit queue must have merged
        // them into far fewer entries than batches.
        assert!(
            entries.len() < (CLIENTS as usize) / 2,
            "{CLIENTS} concurrent batches took {} log entries",
            entries.len()
        );
        cluster.shutdown().await;
    })
    .await;
}

/// The largest valid payout: every number at 39 decimal digits, the beneficiary at the
/// ledger's 256-byte limit. `seed` keeps ids apart between batches.
fn largest_payout(seed: u128, index: u128) -> NewPayout {
    let id = u128::MAX - seed * 100_000 - index;
    NewPayout {
        id: id.to_string(),
        debit_account_id: (u128::MAX - 1).to_string(),
        credit_account_id: (u128::MAX - 2).to_string(),
        amount: (u128::MAX - 3).to_string(),
        user_data: (u128::MAX - 4).to_string(),
        ledger: u32::MAX,
        code: 65_535,
        flags: 0,
        bank: u32::MAX,
        beneficiary: "b".repeat(256),
    }
}

fn largest_payout_batch(seed: u128, count: usize) -> CreatePayoutsRequest {
    let count = u128::try_from(count).expect("count fits");
    CreatePayoutsRequest { payouts: (0..count).map(|index| largest_payout(seed, index)).collect() }
}

/// Small transfers between two accounts until `stop`; returns how many committed, panicking
/// on any failure but a transient leadership answer.
async fn ordinary_writes(
    client: tianping_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>,
    first_id: u64,
    count: u64,
) -> u64 {
    let mut committed = 0;
    for id in first_id..first_id + count {
        let request = CreateTransfersRequest { transfers: vec![transfer(id, 1, 2, 0)] };
        let response: CreateEventsResponse = retry_unavailable(|| {
            let mut client = client.clone();
            let request = request.clone();
            async move { client.create_transfers(request).await }
        })
        .await;
        assert_eq!(response.results.len(), 1);
        assert_eq!(response.results[0].code_name, "ok", "{response:?}");
        committed += 1;
    }
    committed
}

async fn create_accounts(
    client: &mut tianping_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>,
) {
    let accounts = CreateAccountsRequest {
        accounts: ["1", "2"]
            .into_iter()
            .map(|id| NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() })
            .collect(),
    };
    let _: CreateEventsResponse = retry_unavailable(|| {
        let mut client = client.clone();
        let request = accounts.clone();
        async move { client.create_accounts(request).await }
    })
    .await;
}

/// Sends `payout` alone: a payout whose id the ledger never saw is refused for its missing
/// account (`debit_account_not_found`), one that was already applied (and refused) answers
/// `id_already_failed`. So this proves no earlier request with this id reached the ledger.
async fn assert_never_seen(
    payouts: &mut tianping_proto::v1::payouts_client::PayoutsClient<tonic::transport::Channel>,
    payout: &NewPayout,
) {
    let alone = CreatePayoutsRequest { payouts: vec![payout.clone()] };
    let response = retry_unavailable(|| {
        let mut client = payouts.clone();
        let request = alone.clone();
        async move { client.create_payouts(request).await }
    })
    .await;
    assert_eq!(response.results[0].code_name, "debit_account_not_found", "{response:?}");
}

/// The wire's request cap holds the largest valid batch (8 190 payouts at every field's
/// limit) but nothing beyond it: one more than a batch may hold is refused before it is
/// decoded, nothing of it is applied, and ordinary writes go on (issue 11 item 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_wire_cap_is_refused_and_nothing_of_it_applies() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let mut client = cluster.client(leader).await;
        create_accounts(&mut client).await;
        let mut payouts = cluster.payouts_client(leader).await;

        let largest = largest_payout_batch(1, tianping_ledger::BATCH_EVENTS_MAX);
        assert!(largest.encoded_len() <= tianping_node::CLIENT_REQUEST_BYTES_MAX);
        let response = retry_unavailable(|| {
            let mut client = payouts.clone();
            let request = largest.clone();
            async move { client.create_payouts(request).await }
        })
        .await;
        assert_eq!(response.results.len(), tianping_ledger::BATCH_EVENTS_MAX);

        let oversized = largest_payout_batch(2, tianping_ledger::BATCH_EVENTS_MAX + 700);
        assert!(oversized.encoded_len() > tianping_node::CLIENT_REQUEST_BYTES_MAX);
        let status = payouts.create_payouts(oversized.clone()).await.expect_err("refused");
        assert!(
            matches!(status.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted),
            "{status:?}"
        );
        assert_never_seen(&mut payouts, &oversized.payouts[0]).await;

        assert_eq!(ordinary_writes(client, 50_000, 20).await, 20);
        cluster.shutdown().await;
    })
    .await;
}

/// Many of the largest batches at once: each is committed whole or refused whole with
/// RESOURCE_EXHAUSTED (the leader's group-commit byte budget), never cut or stuck, and small
/// writes sent meanwhile all commit (issue 11 item 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_batches_at_once_commit_or_are_refused_whole_while_small_writes_commit() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let mut client = cluster.client(leader).await;
        create_accounts(&mut client).await;
        const SENDERS: u128 = 14;
        let mut senders = tokio::task::JoinSet::new();
        for seed in 10..10 + SENDERS {
            let mut payouts = cluster.payouts_client(leader).await;
            let batch = largest_payout_batch(seed, tianping_ledger::BATCH_EVENTS_MAX);
            senders.spawn(async move {
                let first = batch.payouts[0].clone();
                (first, payouts.create_payouts(batch).await)
            });
        }
        let small = tokio::spawn(ordinary_writes(client, 60_000, 40));
        let (mut committed, mut exhausted) = (0, 0);
        let mut payouts = cluster.payouts_client(leader).await;
        while let Some(joined) = senders.join_next().await {
            let (first, answer) = joined.expect("sender task");
            match answer {
                Ok(response) => {
                    assert_eq!(
                        response.into_inner().results.len(),
                        tianping_ledger::BATCH_EVENTS_MAX
                    );
                    committed += 1;
                }
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                    assert!(status.message().contains("retry later"), "{status:?}");
                    assert_never_seen(&mut payouts, &first).await;
                    exhausted += 1;
                }
            }
        }
        assert_eq!(committed + exhausted, SENDERS);
        assert!(committed >= 1, "the budget always admits at least one largest batch");
        assert_eq!(small.await.expect("small writes task"), 40);
        eprintln!("largest batches at once: {committed} committed, {exhausted} refused");
        cluster.shutdown().await;
    })
    .await;
}
