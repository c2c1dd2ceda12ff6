//! Account status and limits: audited changes that the ledger enforces on transfers.

use tianping_node::pb::v1::{
    AccountLimits, AccountLimitsChange, AccountStatusChange, CreateAccountsRequest,
    CreateTransfersRequest, LookupRequest, NewAccount, NewTransfer, SetAccountLimitsRequest,
    SetAccountStatusRequest,
};

use crate::support::{Cluster, bounded, retry_unavailable};

fn account(id: &str) -> NewAccount {
    NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() }
}

fn transfer(id: &str, debit: &str, credit: &str, amount: &str) -> NewTransfer {
    NewTransfer {
        id: id.into(),
        debit_account_id: debit.into(),
        credit_account_id: credit.into(),
        amount: amount.into(),
        ledger: 156,
        code: 1,
        ..Default::default()
    }
}

fn status_change(account_id: &str, status: &str, reason: &str) -> AccountStatusChange {
    AccountStatusChange {
        account_id: account_id.into(),
        status: status.into(),
        reason: reason.into(),
        actor: "ops:alice".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_limits_changes_block_transfers_with_the_right_result_codes() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let client = cluster.client(cluster.followers(leader)[0]).await;
        let accounts = CreateAccountsRequest { accounts: vec![account("1"), account("2")] };
        retry_unavailable(|| {
            let (mut client, request) = (client.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        let transfers = |request: CreateTransfersRequest| {
            let client = client.clone();
            async move {
                retry_unavailable(|| {
                    let (mut client, request) = (client.clone(), request.clone());
                    async move { client.create_transfers(request).await }
                })
                .await
            }
        };

        // Blocking outflow: one result per change, the reasonless one refused.
        let request = SetAccountStatusRequest {
            changes: vec![
                status_change("1", "outflow_blocked", "reconciliation break #42"),
                status_change("2", "frozen", ""),
                status_change("999", "frozen", "no such account"),
            ],
        };
        let changed = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.set_account_status(request).await }
        })
        .await;
        let names: Vec<&str> = changed.results.iter().map(|r| r.code_name.as_str()).collect();
        assert_eq!(names, ["ok", "reason_must_not_be_empty", "account_not_found"]);

        let moved = transfers(CreateTransfersRequest {
            transfers: vec![transfer("10", "1", "2", "5"), transfer("11", "2", "1", "5")],
        })
        .await;
        assert_eq!(moved.results[0].code_name, "debit_account_outflow_blocked");
        assert_eq!(moved.results[0].code, 75);
        assert_eq!(moved.results[1].code_name, "ok", "credits still reach a blocked account");

        // Unblock, then a per-transfer limit.
        let request = SetAccountStatusRequest {
            changes: vec![status_change("1", "active", "break resolved")],
        };
        let changed = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.set_account_status(request).await }
        })
        .await;
        assert_eq!(changed.results[0].code_name, "ok");
        let request = SetAccountLimitsRequest {
            changes: vec![AccountLimitsChange {
                account_id: "1".into(),
                limits: Some(AccountLimits {
                    per_transfer_amount_max: "3".into(),
                    per_day_amount_max: String::new(),
                    per_day_count_max: Some(10),
                }),
                reason: "new customer".into(),
                actor: "ops:bob".into(),
            }],
        };
        let limited = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.set_account_limits(request).await }
        })
        .await;
        assert_eq!(limited.results[0].code_name, "ok");
        let moved = transfers(CreateTransfersRequest {
            transfers: vec![transfer("12", "1", "2", "4"), transfer("13", "1", "2", "3")],
        })
        .await;
        assert_eq!(moved.results[0].code_name, "exceeds_per_transfer_limit");
        assert_eq!(moved.results[1].code_name, "ok");

        let mut reader = cluster.client(leader).await;
        let found = reader
            .lookup_accounts(LookupRequest { ids: vec!["1".into()], read: None })
            .await
            .expect("lookup")
            .into_inner()
            .accounts;
        assert_eq!(found[0].status, "active");
        let limits = found[0].limits.clone().expect("limits");
        assert_eq!(limits.per_transfer_amount_max, "3");
        assert_eq!(limits.per_day_amount_max, "", "unlimited stays empty");
        assert_eq!(limits.per_day_count_max, Some(10));
        assert_eq!(found[0].debits_posted, "3");
        cluster.shutdown().await;
    })
    .await;
}
