//! Group commit: concurrent client batches share log entries, yet every client gets exactly
//! its own results, and an open chain never reaches into another client's batch.

use std::collections::BTreeSet;

use tianping_proto::v1::{
    CreateAccountsRequest, CreateEventsResponse, CreateTransfersRequest, NewAccount, NewTransfer,
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
