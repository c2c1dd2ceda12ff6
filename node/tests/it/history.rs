//! An account's history pages: walking it with the cursor returns every transfer once, in
//! order, both ways.

use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
    AccountTransfersRequest, CreateAccountsRequest, CreateTransfersRequest, NewAccount,
    NewTransfer, ReadOptions,
};
use tonic::transport::Channel;

use crate::support::{Cluster, bounded, retry_unavailable};

/// Transfers touching account 1 (the history walked), spread over several batches.
const HISTORY: u64 = 23;
/// Most pages one walk may take before the test calls it a loop.
const PAGES_MAX: usize = 50;

fn account(id: &str) -> NewAccount {
    NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() }
}

fn transfer(id: u64, debit: &str, credit: &str) -> NewTransfer {
    NewTransfer {
        id: id.to_string(),
        debit_account_id: debit.into(),
        credit_account_id: credit.into(),
        amount: "1".into(),
        ledger: 156,
        code: 1,
        ..Default::default()
    }
}

/// Walks account 1's history page by page; the transfer ids in the order returned.
async fn walk(
    client: &mut LedgerClient<Channel>,
    limit: u32,
    reversed: bool,
    read: Option<ReadOptions>,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    for _ in 0..PAGES_MAX {
        let page = client
            .get_account_transfers(AccountTransfersRequest {
                account_id: "1".into(),
                limit,
                reversed,
                cursor: cursor.clone(),
                read,
                ..Default::default()
            })
            .await
            .expect("a page")
            .into_inner();
        assert!(limit == 0 || page.transfers.len() <= limit as usize);
        ids.extend(page.transfers.iter().map(|transfer| transfer.id.clone()));
        if page.next_cursor.is_empty() {
            return ids;
        }
        cursor = page.next_cursor;
    }
    panic!("history walk did not end within {PAGES_MAX} pages: {ids:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_walks_an_account_history_with_no_duplicates_or_gaps() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let follower = cluster.followers(leader)[0];
        let mut client = cluster.client(follower).await;
        let accounts = CreateAccountsRequest {
            accounts: vec![account("1"), account("2"), account("3"), account("4")],
        };
        retry_unavailable(|| {
            let (mut client, request) = (client.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        // Account 1 is debited and credited in turn; 3 → 4 transfers are interleaved and must
        // not appear in its history.
        let mut expected = Vec::new();
        let mut next_id = 1000;
        for batch in 0..5 {
            let mut transfers = Vec::new();
            for slot in 0..5 {
                if expected.len() as u64 == HISTORY {
                    break;
                }
                next_id += 1;
                let (debit, credit) = if (batch + slot) % 2 == 0 { ("1", "2") } else { ("2", "1") };
                transfers.push(transfer(next_id, debit, credit));
                expected.push(next_id.to_string());
                next_id += 1;
                transfers.push(transfer(next_id, "3", "4"));
            }
            let request = CreateTransfersRequest { transfers };
            let moved = retry_unavailable(|| {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.create_transfers(request).await }
            })
            .await;
            assert!(moved.results.iter().all(|result| result.code_name == "ok"), "{moved:?}");
        }
        assert_eq!(expected.len() as u64, HISTORY);

        for limit in [1, 4, 7, 23, 0] {
            let forward = walk(&mut client, limit, false, None).await;
            assert_eq!(forward, expected, "forward, limit {limit}");
            let mut backward = walk(&mut client, limit, true, None).await;
            backward.reverse();
            assert_eq!(backward, expected, "reversed, limit {limit}");
        }
        let bounded_read = Some(ReadOptions { max_staleness_ms: 5_000 });
        assert_eq!(walk(&mut client, 5, false, bounded_read).await, expected);

        // A time window: only transfers inside it, still paged.
        let everything = client
            .get_account_transfers(AccountTransfersRequest {
                account_id: "1".into(),
                ..Default::default()
            })
            .await
            .expect("whole history")
            .into_inner()
            .transfers;
        let (low, high) = (everything[3].timestamp, everything[9].timestamp);
        let window = client
            .get_account_transfers(AccountTransfersRequest {
                account_id: "1".into(),
                timestamp_min: low,
                timestamp_max: high,
                ..Default::default()
            })
            .await
            .expect("window")
            .into_inner();
        let window: Vec<&str> = window.transfers.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(window, expected[3..=9].iter().map(String::as_str).collect::<Vec<_>>());
        cluster.shutdown().await;
    })
    .await;
}
