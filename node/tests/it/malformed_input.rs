//! Malformed input is INVALID_ARGUMENT naming the field, and changes nothing.

use tianping_node::pb::v1::{CreateTransfersRequest, LookupRequest, NewTransfer};

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
            .lookup_accounts(LookupRequest { ids: vec!["1".into(), "0x1".into()] })
            .await
            .expect_err("refused");
        check_invalid(status, "ids[1]");
        cluster.shutdown().await;
    })
    .await;
}
