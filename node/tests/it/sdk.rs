//! The Rust SDK (`tianping-client`) against real in-process nodes: the flows an application
//! runs (a transfer, a two-phase transfer, a payout), the SDK following a new leader after
//! the old one stopped while retrying with the same ids, bad input answered as `BadRequest`
//! naming the field, and reads that see the SDK's own writes.

use std::time::Duration;

use tianping_client::{
    AccountFlags, ClaimAnswer, Client, ClientConfig, Detail, Error, HistoryFilter, NewAccount,
    NewPayout, NewTransfer, PayoutBatchClaim, PayoutOutcome, PayoutQuery, PayoutState,
    RecordPayoutOutcome, ResultCode, RetryPolicy, TransferFlags,
};

use crate::support::{Cluster, bounded};

const LEDGER: u32 = 156;

/// A client of every node of `cluster`, with attempts short enough for a test and a budget
/// long enough to ride out an election.
pub(crate) fn sdk(cluster: &Cluster) -> Client {
    let addresses = cluster.nodes.iter().map(|node| node.info().api_address.clone());
    client_of(ClientConfig::new(addresses))
}

/// A client that knows only node `node_id` of `cluster` (reads are answered there).
pub(crate) fn sdk_of(cluster: &Cluster, node_id: u64) -> Client {
    client_of(ClientConfig::new([cluster.node(node_id).info().api_address.clone()]))
}

fn client_of(mut config: ClientConfig) -> Client {
    config.request_timeout = Duration::from_secs(3);
    config.request_id_prefix = "sdk-test".into();
    config.retry = RetryPolicy {
        delay_min: Duration::from_millis(20),
        delay_max: Duration::from_millis(500),
        elapsed_max: Duration::from_secs(20),
        attempts_max: 200,
    };
    Client::new(config).expect("a valid client configuration")
}

fn account(id: u128, flags: AccountFlags) -> NewAccount {
    NewAccount { id, ledger: LEDGER, code: 1, flags, ..NewAccount::default() }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: LEDGER,
        code: 1,
        ..NewTransfer::default()
    }
}

/// Posted (debits, credits) of an account, read linearizably.
async fn posted(client: &Client, id: u128) -> (u128, u128) {
    let account = client.lookup_account(id).await.expect("lookup").expect("account exists");
    (account.debits_posted, account.credits_posted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_and_a_two_phase_transfer_through_the_sdk() {
    bounded(async {
        let (cluster, _leader) = Cluster::start_initialized(3).await;
        let client = sdk(&cluster);
        let accounts = [account(1, AccountFlags::NONE), account(2, AccountFlags::NONE)];
        let results = client.create_accounts(&accounts).await.expect("accounts created");
        assert!(results.iter().all(|result| result.code == ResultCode::Ok), "{results:?}");

        let moved = client.create_transfer(transfer(10, 1, 2, 250)).await.expect("transfer");
        assert_eq!((moved.code, moved.detail), (ResultCode::Ok, Detail::Amount(250)));
        assert_eq!(posted(&client, 2).await, (0, 250), "the read sees the SDK's own write");

        // Two-phase: reserve 100, post 60 of it; reserve 40 more and void it.
        let hold = NewTransfer { flags: TransferFlags::PENDING, ..transfer(11, 1, 2, 100) };
        client.create_transfer(hold).await.expect("reserved");
        let account = client.lookup_account(1).await.expect("lookup").expect("exists");
        assert_eq!((account.debits_pending, account.debits_posted), (100, 250));
        let post = NewTransfer {
            pending_id: 11,
            flags: TransferFlags::POST_PENDING,
            ..transfer(12, 1, 2, 60)
        };
        let posted_result = client.create_transfer(post).await.expect("posted");
        assert_eq!(posted_result.detail, Detail::Amount(60));
        let hold = NewTransfer { flags: TransferFlags::PENDING, ..transfer(13, 1, 2, 40) };
        client.create_transfer(hold).await.expect("reserved");
        let void = NewTransfer {
            pending_id: 13,
            flags: TransferFlags::VOID_PENDING,
            ..transfer(14, 1, 2, 0)
        };
        client.create_transfer(void).await.expect("voided");
        let account = client.lookup_account(1).await.expect("lookup").expect("exists");
        assert_eq!((account.debits_pending, account.debits_posted), (0, 310));
        // A post of a pending transfer that was voided is refused with the ledger's code;
        // the refusal is final for its id, and the SDK resends the same id, never a new one.
        let late = NewTransfer {
            pending_id: 13,
            flags: TransferFlags::POST_PENDING,
            ..transfer(15, 1, 2, 0)
        };
        let refused = client.create_transfer(late).await;
        assert!(
            matches!(
                refused,
                Err(Error::Refused { code: ResultCode::PendingTransferAlreadyVoided, .. })
            ),
            "{refused:?}"
        );
        let again = client.create_transfer(late).await;
        assert!(
            matches!(again, Err(Error::Refused { code: ResultCode::IdAlreadyFailed, .. })),
            "{again:?}"
        );
        assert_eq!(client.lookup_transfer(15).await.expect("lookup"), None);

        // Account history, one transfer per page, followed by its cursor.
        let filter = HistoryFilter {
            account_id: 2,
            timestamp_min: 0,
            timestamp_max: u64::MAX,
            limit: 1,
            reversed: false,
        };
        let mut ids = Vec::new();
        let mut cursor = None;
        for _ in 0..10 {
            let page = client.account_transfers(&filter, cursor.as_ref()).await.expect("page");
            ids.extend(page.items.iter().map(|transfer| transfer.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(ids, [10, 11, 12, 13, 14]);
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_follows_a_new_leader_and_a_retried_transfer_answers_exists() {
    bounded(async {
        let (mut cluster, leader) = Cluster::start_initialized(3).await;
        let client = sdk(&cluster);
        let accounts = [account(1, AccountFlags::NONE), account(2, AccountFlags::NONE)];
        client.create_accounts(&accounts).await.expect("accounts created");
        let first = client.create_transfer(transfer(20, 1, 2, 75)).await.expect("transfer");
        assert_eq!(first.code, ResultCode::Ok);
        assert_eq!(client.leader().map(|(node_id, _)| node_id), Some(leader));

        // The leader stops while a retry of the same transfer is underway: the SDK loses it,
        // finds the new one, and the retry answers `exists` with the original timestamp.
        let retry = {
            let client = client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                client.create_transfer(transfer(20, 1, 2, 75)).await
            })
        };
        cluster.stop(leader).await;
        let retried = retry.await.expect("the retry task ran").expect("the retry answered");
        assert_eq!((retried.code, retried.timestamp), (ResultCode::Exists, first.timestamp));
        let again = client.create_transfer(transfer(20, 1, 2, 75)).await.expect("answered");
        assert_eq!((again.code, again.timestamp), (ResultCode::Exists, first.timestamp));
        let new_leader = client.leader().map(|(node_id, _)| node_id);
        assert!(new_leader.is_some_and(|node_id| node_id != leader), "{new_leader:?}");
        assert_eq!(posted(&client, 2).await, (0, 75), "moved once, not twice");
        let status = client.cluster_status().await.expect("cluster status");
        assert_eq!(status.leader_id, new_leader);
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_bad_request_naming_the_field() {
    bounded(async {
        let (cluster, _leader) = Cluster::start_initialized(3).await;
        let client = sdk(&cluster);
        // Too many events for one batch: the node refuses the request as a whole.
        let transfers: Vec<NewTransfer> = (1..=8_191).map(|id| transfer(id, 1, 2, 1)).collect();
        let error = client.create_transfers(&transfers).await.err();
        assert!(
            matches!(&error, Some(Error::BadRequest { field, .. }) if field == "transfers"),
            "{error:?}"
        );
        let ids: Vec<u128> = (1..=8_191).collect();
        let error = client.lookup_accounts(&ids).await.err();
        assert!(
            matches!(&error, Some(Error::BadRequest { field, .. }) if field == "ids"),
            "{error:?}"
        );
        // What the wire cannot say is refused before sending, naming the field too.
        let filter = HistoryFilter {
            account_id: 1,
            timestamp_min: 0,
            timestamp_max: u64::MAX,
            limit: 0,
            reversed: false,
        };
        let error = client.account_transfers(&filter, None).await.err();
        assert!(
            matches!(&error, Some(Error::BadRequest { field, .. }) if field == "limit"),
            "{error:?}"
        );
        assert!(matches!(
            client.with_request_id("has spaces"),
            Err(Error::BadRequest { field, .. }) if field == "x-request-id"
        ));
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_through_the_sdk() {
    bounded(async {
        let (cluster, _leader) = Cluster::start_initialized(3).await;
        let client = sdk(&cluster).with_request_id("payout-flow").expect("a valid request id");
        // 1 customer (funded from 9), 2 bank-in-transit.
        let accounts = [
            account(1, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(2, AccountFlags::NONE),
            account(9, AccountFlags::NONE),
        ];
        client.create_accounts(&accounts).await.expect("accounts created");
        client.create_transfer(transfer(100, 9, 1, 1_000)).await.expect("funded");
        let payout = NewPayout {
            id: 500,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: 400,
            ledger: LEDGER,
            code: 1,
            bank: 7,
            beneficiary: "6222020200112233445".into(),
            ..NewPayout::default()
        };
        let reserved = client.create_payout(payout.clone()).await.expect("reserved");
        assert_eq!(reserved.detail, Detail::Amount(400));
        assert_eq!(client.create_payout(payout).await.map(|r| r.code), Ok(ResultCode::Exists));
        let listed = client.list_payouts(&PayoutQuery::new(PayoutState::Reserved), None).await;
        assert_eq!(listed.map(|page| page.items.len()), Ok(1));

        let round =
            PayoutBatchClaim { claim_id: 0x5eed, worker_id: 55, bank: 7, max: 8, lease_ms: 60_000 };
        let answer = client.claim_payouts(round).await.expect("claimed");
        // The round asked again (its answer lost, say): the same payout and token, nothing new.
        let again = client.claim_payouts(round).await.expect("asked again");
        assert_eq!(again, ClaimAnswer::Exists(answer.claims().to_vec()));
        let claims = answer.into_claims();
        let [claim] = claims.as_slice() else { panic!("one claim expected: {claims:?}") };
        assert!(!claim.must_inquire_first);
        for outcome in [PayoutOutcome::Sent, PayoutOutcome::Succeeded] {
            let report = RecordPayoutOutcome {
                payout_id: 500,
                worker_id: 55,
                fencing_token: claim.payout.fencing_token,
                outcome,
            };
            client.record_payout_outcome(report).await.expect("outcome recorded");
        }
        let payout = client.get_payout(500).await.expect("read").expect("payout exists");
        assert_eq!(payout.state, PayoutState::Succeeded);
        assert_eq!(posted(&client, 2).await, (0, 400));
        cluster.shutdown().await;
    })
    .await;
}
