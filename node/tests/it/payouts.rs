//! The payout outbox through the API: create → claim → outcome, listings by state, and
//! collections booked once per bank reference.

use tianping_proto::v1::{
    BookCollectionsRequest, ClaimPayoutsRequest, CreateAccountsRequest, CreatePayoutsRequest,
    CreateTransfersRequest, ListPayoutsRequest, LookupRequest, NewAccount, NewCollection,
    NewPayout, NewTransfer, PayoutOutcomeReport, RecordPayoutOutcomesRequest,
};

use crate::support::{Cluster, bounded, retry_unavailable};

/// Payouts created for the listing walk.
const PAYOUTS: u64 = 5;
const BANK: u32 = 7;
const WORKER: &str = "55";

fn account(id: &str) -> NewAccount {
    NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() }
}

fn payout(id: u64, amount: &str) -> NewPayout {
    NewPayout {
        id: id.to_string(),
        debit_account_id: "1".into(),
        credit_account_id: "2".into(),
        amount: amount.into(),
        ledger: 156,
        code: 1,
        bank: BANK,
        beneficiary: "6222020200112233445".into(),
        ..Default::default()
    }
}

fn outcome(payout_id: &str, fencing_token: u64, outcome: &str) -> RecordPayoutOutcomesRequest {
    RecordPayoutOutcomesRequest {
        outcomes: vec![PayoutOutcomeReport {
            payout_id: payout_id.into(),
            worker_id: WORKER.into(),
            fencing_token,
            outcome: outcome.into(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_goes_from_create_to_claim_to_outcome_through_the_api() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let follower = cluster.followers(leader)[0];
        let ledger = cluster.client(follower).await;
        let payouts = cluster.payouts_client(follower).await;
        // 1 customer, 2 bank-in-transit, 8 bank settlement, 6 suspense, 9 funding.
        let accounts = CreateAccountsRequest {
            accounts: ["1", "2", "6", "8", "9"].into_iter().map(account).collect(),
        };
        retry_unavailable(|| {
            let (mut client, request) = (ledger.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        let funding = CreateTransfersRequest {
            transfers: vec![NewTransfer {
                id: "500".into(),
                debit_account_id: "9".into(),
                credit_account_id: "1".into(),
                amount: "1000".into(),
                ledger: 156,
                code: 1,
                ..Default::default()
            }],
        };
        retry_unavailable(|| {
            let (mut client, request) = (ledger.clone(), funding.clone());
            async move { client.create_transfers(request).await }
        })
        .await;

        let request = CreatePayoutsRequest {
            payouts: vec![payout(100, "300"), NewPayout { bank: 0, ..payout(101, "1") }],
        };
        let created = retry_unavailable(|| {
            let (mut client, request) = (payouts.clone(), request.clone());
            async move { client.create_payouts(request).await }
        })
        .await;
        assert_eq!(created.results[0].code_name, "ok");
        assert_eq!(created.results[0].amount, "300");
        assert_eq!(created.results[1].code_name, "bank_must_not_be_zero");

        let claim = ClaimPayoutsRequest {
            worker_id: WORKER.into(),
            bank: BANK,
            max: 10,
            lease_ms: 60_000,
            claim_id: "4242".into(),
        };
        let claimed = retry_unavailable(|| {
            let (mut client, request) = (payouts.clone(), claim.clone());
            async move { client.claim_payouts(request).await }
        })
        .await;
        assert_eq!(claimed.result.as_ref().map(|r| r.code_name.as_str()), Some("ok"));
        assert_eq!(claimed.claims.len(), 1);
        let held = claimed.claims[0].payout.clone().expect("payout");
        assert_eq!((held.id.as_str(), held.state.as_str()), ("100", "claimed"));
        assert_eq!(held.worker_id, WORKER);
        assert!(!claimed.claims[0].must_inquire_first);
        let token = held.fencing_token;
        assert!(token > 0);
        // The same claim round again: `exists`, the payout it holds, the same token.
        let again = retry_unavailable(|| {
            let (mut client, request) = (payouts.clone(), claim.clone());
            async move { client.claim_payouts(request).await }
        })
        .await;
        assert_eq!(again.result.as_ref().map(|r| r.code_name.as_str()), Some("exists"));
        assert_eq!(again.claims, claimed.claims);

        for (step, request) in [
            ("sent", outcome("100", token, "sent")),
            ("stale", outcome("100", token + 1, "failed")),
            ("succeeded", outcome("100", token, "succeeded")),
        ] {
            let recorded = retry_unavailable(|| {
                let (mut client, request) = (payouts.clone(), request.clone());
                async move { client.record_payout_outcomes(request).await }
            })
            .await;
            let expected = if step == "stale" { "fencing_token_stale" } else { "ok" };
            assert_eq!(recorded.results[0].code_name, expected, "{step}");
        }

        let mut reader = cluster.payouts_client(leader).await;
        let found = reader
            .lookup_payouts(LookupRequest { ids: vec!["100".into(), "101".into()], read: None })
            .await
            .expect("lookup payouts")
            .into_inner()
            .payouts;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].state, "succeeded");
        let balances = cluster
            .client(leader)
            .await
            .lookup_accounts(LookupRequest { ids: vec!["1".into(), "2".into()], read: None })
            .await
            .expect("lookup accounts")
            .into_inner()
            .accounts;
        assert_eq!(
            (balances[0].debits_posted.as_str(), balances[0].debits_pending.as_str()),
            ("300", "0")
        );
        assert_eq!(balances[1].credits_posted, "300");

        // Listing reserved payouts pages through all of them exactly once.
        let request = CreatePayoutsRequest {
            payouts: (0..PAYOUTS).map(|index| payout(200 + index, "1")).collect(),
        };
        retry_unavailable(|| {
            let (mut client, request) = (payouts.clone(), request.clone());
            async move { client.create_payouts(request).await }
        })
        .await;
        let mut listed = Vec::new();
        let mut cursor = String::new();
        for _ in 0..=PAYOUTS {
            let page = reader
                .list_payouts(ListPayoutsRequest {
                    state: "reserved".into(),
                    bank: BANK,
                    limit: 2,
                    cursor: cursor.clone(),
                    read: None,
                })
                .await
                .expect("list payouts")
                .into_inner();
            listed.extend(page.payouts.iter().map(|payout| payout.id.clone()));
            cursor = page.next_cursor;
            if cursor.is_empty() {
                break;
            }
        }
        let expected: Vec<String> = (0..PAYOUTS).map(|index| (200 + index).to_string()).collect();
        assert_eq!(listed, expected);
        let succeeded = reader
            .list_payouts(ListPayoutsRequest { state: "succeeded".into(), ..Default::default() })
            .await
            .expect("list succeeded")
            .into_inner();
        let ids: Vec<&str> = succeeded.payouts.iter().map(|payout| payout.id.as_str()).collect();
        assert_eq!(ids, ["100"]);
        assert!(succeeded.next_cursor.is_empty());

        // Money in: to the beneficiary, to suspense when there is none, once per reference.
        let collection = |id: &str, reference: &str, beneficiary: &str| NewCollection {
            id: id.into(),
            bank: BANK,
            bank_reference: reference.into(),
            beneficiary_account_id: beneficiary.into(),
            settlement_account_id: "8".into(),
            suspense_account_id: "6".into(),
            amount: "40".into(),
            ledger: 156,
            code: 1,
            ..Default::default()
        };
        let request = BookCollectionsRequest {
            collections: vec![
                collection("700", "ref-a", "1"),
                collection("701", "ref-b", "999"),
                collection("700", "ref-a", "1"),
            ],
        };
        let booked = retry_unavailable(|| {
            let (mut client, request) = (payouts.clone(), request.clone());
            async move { client.book_collections(request).await }
        })
        .await;
        let codes: Vec<&str> = booked
            .results
            .iter()
            .map(|r| r.result.as_ref().map_or("", |r| r.code_name.as_str()))
            .collect();
        assert_eq!(codes, ["ok", "ok", "exists"]);
        assert_eq!(booked.results[0].credited_account_id, "1");
        assert_eq!(booked.results[0].suspense, "");
        assert_eq!(booked.results[1].credited_account_id, "6");
        assert_eq!(booked.results[1].suspense, "beneficiary_not_found");
        cluster.shutdown().await;
    })
    .await;
}
