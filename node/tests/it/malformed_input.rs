//! Malformed input is INVALID_ARGUMENT naming the field, and changes nothing.

use tianping_proto::v1::{
    AccountLimits, AccountLimitsChange, AccountStatusChange, AccountTransfersRequest,
    BookCollectionsRequest, ClaimPayoutsRequest, CreatePayoutsRequest, CreateTransfersRequest,
    ListPayoutsRequest, LookupRequest, NewCollection, NewPayout, NewTransfer, PayoutOutcomeReport,
    RecordPayoutOutcomesRequest, SetAccountLimitsRequest, SetAccountStatusRequest,
};

use crate::support::{Cluster, bounded};

fn check_invalid(status: tonic::Status, field: &str) {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(field), "{field} not named in {:?}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_decimal_is_invalid_argument_naming_the_field() {
    bounded(async {
        // Input is checked before any routing, so a node that is in no cluster yet answers.
        let cluster = Cluster::start(1).await;
        let mut client = cluster.client(1).await;
        let good = NewTransfer { id: "1".into(), amount: "5".into(), ..Default::default() };
        let cases = [
            (NewTransfer { id: "12x".into(), ..good.clone() }, "transfers[1].id"),
            (NewTransfer { amount: "-5".into(), ..good.clone() }, "transfers[1].amount"),
            (
                NewTransfer {
                    debit_account_id: "340282366920938463463374607431768211456".into(),
                    ..good.clone()
                },
                "transfers[1].debit_account_id",
            ),
            (NewTransfer { code: 65_536, ..good.clone() }, "transfers[1].code"),
        ];
        for (bad, field) in cases {
            let request = CreateTransfersRequest { transfers: vec![good.clone(), bad] };
            let status = client.create_transfers(request).await.expect_err("refused");
            check_invalid(status, field);
        }
        let status = client
            .lookup_accounts(LookupRequest { ids: vec!["1".into(), "0x1".into()], read: None })
            .await
            .expect_err("refused");
        check_invalid(status, "ids[1]");

        let history = |cursor: &str, account_id: &str, limit: u32| AccountTransfersRequest {
            account_id: account_id.into(),
            cursor: cursor.into(),
            limit,
            ..Default::default()
        };
        for (request, field) in [
            (history("12ab", "1", 0), "cursor"),
            (history("", "-1", 0), "account_id"),
            (history("", "1", 8_191), "limit"),
        ] {
            let status = client.get_account_transfers(request).await.expect_err("refused");
            check_invalid(status, field);
        }
        let status = client
            .set_account_status(SetAccountStatusRequest {
                changes: vec![AccountStatusChange {
                    id: "9".into(),
                    account_id: "1".into(),
                    status: "blocked".into(),
                    reason: "r".into(),
                    actor: "a".into(),
                    ..Default::default()
                }],
            })
            .await
            .expect_err("refused");
        check_invalid(status, "changes[0].status");
        let status = client
            .set_account_limits(SetAccountLimitsRequest {
                changes: vec![AccountLimitsChange {
                    id: "9".into(),
                    account_id: "1".into(),
                    limits: Some(AccountLimits {
                        per_transfer_amount_max: "10.00".into(),
                        ..Default::default()
                    }),
                    reason: "r".into(),
                    actor: "a".into(),
                    ..Default::default()
                }],
            })
            .await
            .expect_err("refused");
        check_invalid(status, "changes[0].limits.per_transfer_amount_max");

        let mut payouts = cluster.payouts_client(1).await;
        let status = payouts
            .create_payouts(CreatePayoutsRequest {
                payouts: vec![NewPayout {
                    id: "1".into(),
                    amount: "1e3".into(),
                    ..Default::default()
                }],
            })
            .await
            .expect_err("refused");
        check_invalid(status, "payouts[0].amount");
        let status = payouts
            .claim_payouts(ClaimPayoutsRequest {
                worker_id: "worker-1".into(),
                ..Default::default()
            })
            .await
            .expect_err("refused");
        check_invalid(status, "worker_id");
        let status = payouts
            .claim_payouts(ClaimPayoutsRequest {
                worker_id: "1".into(),
                claim_id: "round-1".into(),
                ..Default::default()
            })
            .await
            .expect_err("refused");
        check_invalid(status, "claim_id");
        let status = payouts
            .record_payout_outcomes(RecordPayoutOutcomesRequest {
                outcomes: vec![PayoutOutcomeReport {
                    payout_id: "1".into(),
                    worker_id: "2".into(),
                    fencing_token: 1,
                    outcome: "paid".into(),
                }],
            })
            .await
            .expect_err("refused");
        check_invalid(status, "outcomes[0].outcome");
        let status = payouts
            .book_collections(BookCollectionsRequest {
                collections: vec![NewCollection {
                    id: "1".into(),
                    suspense_account_id: " 6".into(),
                    ..Default::default()
                }],
            })
            .await
            .expect_err("refused");
        check_invalid(status, "collections[0].suspense_account_id");
        let status = payouts
            .list_payouts(ListPayoutsRequest { state: "pending".into(), ..Default::default() })
            .await
            .expect_err("refused");
        check_invalid(status, "state");
        let status = payouts
            .list_payouts(ListPayoutsRequest {
                state: "reserved".into(),
                cursor: "1.2.3".into(),
                ..Default::default()
            })
            .await
            .expect_err("refused");
        check_invalid(status, "cursor");
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_text_is_refused_at_the_boundary_naming_the_field() {
    bounded(async {
        // Refused before any routing or replication: a node in no cluster yet answers.
        let cluster = Cluster::start(1).await;
        let mut ledger = cluster.client(1).await;
        let over = "x".repeat(tianping_ledger::TEXT_BYTES_MAX + 1);
        // A 15 MiB reason (the careless client of issue 11 item 2) is over the request cap
        // itself: refused before it is even decoded, with nothing replicated or stored.
        let fifteen_mib = AccountStatusChange {
            id: "9".into(),
            account_id: "1".into(),
            status: "frozen".into(),
            reason: "r".repeat(15 << 20),
            actor: String::new(),
            ..Default::default()
        };
        let status = ledger
            .set_account_status(SetAccountStatusRequest { changes: vec![fifteen_mib] })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
        assert!(status.message().contains("too large"), "{status:?}");
        for (reason, actor, field) in [
            (over.clone(), String::new(), "changes[0].reason"),
            (String::new(), over.clone(), "changes[0].actor"),
        ] {
            let change = AccountStatusChange {
                id: "9".into(),
                account_id: "1".into(),
                status: "frozen".into(),
                reason: reason.clone(),
                actor: actor.clone(),
                ..Default::default()
            };
            let status = ledger
                .set_account_status(SetAccountStatusRequest { changes: vec![change] })
                .await
                .expect_err("refused");
            check_invalid(status, field);
            let change = AccountLimitsChange {
                id: "9".into(),
                account_id: "1".into(),
                limits: Some(AccountLimits::default()),
                reason,
                actor,
                ..Default::default()
            };
            let status = ledger
                .set_account_limits(SetAccountLimitsRequest { changes: vec![change] })
                .await
                .expect_err("refused");
            check_invalid(status, field);
        }
        let mut payouts = cluster.payouts_client(1).await;
        let payout = NewPayout { id: "7".into(), beneficiary: over.clone(), ..Default::default() };
        let status = payouts
            .create_payouts(CreatePayoutsRequest { payouts: vec![payout] })
            .await
            .expect_err("refused");
        check_invalid(status, "payouts[0].beneficiary");
        let collection =
            NewCollection { id: "8".into(), bank_reference: over, ..Default::default() };
        let status = payouts
            .book_collections(BookCollectionsRequest { collections: vec![collection] })
            .await
            .expect_err("refused");
        check_invalid(status, "collections[0].bank_reference");
        cluster.shutdown().await;
    })
    .await;
}
