//! Account status and limits: audited changes that the ledger enforces on transfers.

use tianping_proto::v1::{
    AccountLimits, AccountLimitsChange, AccountStatusChange, AuditRecordsRequest,
    CreateAccountsRequest, CreateTransfersRequest, LookupRequest, NewAccount, NewTransfer,
    SetAccountLimitsRequest, SetAccountStatusRequest, audit_record,
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

/// Change `id` of `account_id`'s status, decided on controls version `expected`.
fn status_change(
    (id, expected): (&str, u64),
    account_id: &str,
    status: &str,
    reason: &str,
) -> AccountStatusChange {
    AccountStatusChange {
        id: id.into(),
        expected_controls_version: expected,
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
                status_change(("701", 0), "1", "outflow_blocked", "reconciliation break #42"),
                status_change(("702", 0), "2", "frozen", ""),
                status_change(("703", 0), "999", "frozen", "no such account"),
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
            changes: vec![status_change(("704", 1), "1", "active", "break resolved")],
        };
        let changed = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.set_account_status(request).await }
        })
        .await;
        assert_eq!(changed.results[0].code_name, "ok");
        let request = SetAccountLimitsRequest {
            changes: vec![AccountLimitsChange {
                id: "705".into(),
                expected_controls_version: 2,
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
        assert_eq!(found[0].controls_version, 3, "a block, an unblock and a limit");

        // A late copy of the first unblock (decided on version 1) and a retry of the limit
        // (same id): the copy is refused and changes nothing, the retry answers `exists`.
        let late = SetAccountStatusRequest {
            changes: vec![status_change(("706", 1), "1", "outflow_blocked", "old decision")],
        };
        let refused = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), late.clone());
            async move { client.set_account_status(request).await }
        })
        .await;
        assert_eq!(refused.results[0].code_name, "controls_version_stale");
        let again = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.set_account_limits(request).await }
        })
        .await;
        assert_eq!(again.results[0].code_name, "exists");
        assert_eq!(again.results[0].timestamp, limited.results[0].timestamp);

        // The audit trail: account 1's three changes, walked one record per page; the refused
        // change to account 2 left none.
        let mut trail = Vec::new();
        let mut cursor = String::new();
        for _ in 0..10 {
            let page = reader
                .list_audit_records(AuditRecordsRequest {
                    account_id: "1".into(),
                    limit: 1,
                    cursor: cursor.clone(),
                    ..Default::default()
                })
                .await
                .expect("audit page")
                .into_inner();
            trail.extend(page.records);
            cursor = page.next_cursor;
            if cursor.is_empty() {
                break;
            }
        }
        let summary: Vec<String> = trail
            .iter()
            .map(|record| match &record.change {
                Some(audit_record::Change::Status(change)) => {
                    format!(
                        "{}:{}->{}:{}",
                        record.account_id, change.from, change.to, record.reason
                    )
                }
                Some(audit_record::Change::Limits(change)) => format!(
                    "{}:limits->{}:{}",
                    record.account_id,
                    change.to.as_ref().map_or("", |to| to.per_transfer_amount_max.as_str()),
                    record.actor
                ),
                Some(audit_record::Change::SuspenseAssigned(change)) => {
                    format!("{}:suspense->{}", record.account_id, change.bank_reference)
                }
                None => "none".to_owned(),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "1:active->outflow_blocked:reconciliation break #42",
                "1:outflow_blocked->active:break resolved",
                "1:limits->3:ops:bob",
            ]
        );
        assert!(trail.windows(2).all(|pair| pair[0].timestamp < pair[1].timestamp));
        let everyone = reader
            .list_audit_records(AuditRecordsRequest::default())
            .await
            .expect("all audit records")
            .into_inner();
        assert_eq!(everyone.records.len(), 3);
        assert!(everyone.next_cursor.is_empty());
        cluster.shutdown().await;
    })
    .await;
}
