//! Issue 13's containment through the SDK against real in-process nodes: a reconciler records a
//! discrepancy (the account is outflow-blocked in the same event), a second reconciler reporting
//! the same difference changes nothing, a payout from the blocked account is refused with the
//! block code, the discrepancy is listed and looked up through a follower, and an operator's
//! resolution lifts the block so the next payout is accepted.

use tianping_client::{
    AccountFlags, AccountStatus, DiscrepancyClass, DiscrepancyQuery, DiscrepancyState, Error,
    NewAccount, NewDiscrepancy, NewPayout, NewTransfer, ResolveDiscrepancy, ResultCode,
};

use crate::sdk::sdk;
use crate::support::{Cluster, bounded};

const LEDGER: u32 = 156;
const BANK: u32 = 7;
const CUSTOMER: u128 = 1;
const TRANSIT: u128 = 2;
const FUNDING: u128 = 3;

fn account(id: u128) -> NewAccount {
    NewAccount { id, ledger: LEDGER, code: 1, flags: AccountFlags::NONE, ..NewAccount::default() }
}

fn payout(id: u128) -> NewPayout {
    NewPayout {
        id,
        debit_account_id: CUSTOMER,
        credit_account_id: TRANSIT,
        amount: 100,
        ledger: LEDGER,
        code: 1,
        bank: BANK,
        beneficiary: "6222020200112233445".into(),
        ..NewPayout::default()
    }
}

fn found(actor: &str) -> NewDiscrepancy {
    NewDiscrepancy {
        id: 0x5eed_0001,
        bank: BANK,
        class: DiscrepancyClass::MissingAtBank,
        reference: "900".into(),
        account_ids: vec![CUSTOMER],
        ledger_amount: Some(100),
        bank_amount: None,
        ledger_evidence: "payout 900 succeeded 1.00".into(),
        bank_evidence: "no entry for end-to-end id 900".into(),
        cutoff: 1,
        actor: actor.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discrepancy_blocks_its_account_until_resolved() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let client = sdk(&cluster);
        let accounts: Vec<NewAccount> = [CUSTOMER, TRANSIT, FUNDING].map(account).to_vec();
        client.create_accounts(&accounts).await.expect("accounts created");
        let funding = NewTransfer {
            id: 10,
            debit_account_id: FUNDING,
            credit_account_id: CUSTOMER,
            amount: 1_000,
            ledger: LEDGER,
            code: 1,
            ..NewTransfer::default()
        };
        client.create_transfer(funding).await.expect("customer funded");

        let recorded = client.record_discrepancy(found("reconciler:dc-1")).await.expect("recorded");
        assert_eq!(recorded.code, ResultCode::Ok);
        // The second reconciler finds the same difference: one record, no second block.
        let again = client.record_discrepancy(found("reconciler:dc-2")).await.expect("answered");
        assert_eq!((again.code, again.timestamp), (ResultCode::Exists, recorded.timestamp));
        let customer = client.lookup_account(CUSTOMER).await.expect("read").expect("exists");
        assert_eq!(customer.status, AccountStatus::OutflowBlocked);

        match client.create_payout(payout(901)).await {
            Err(Error::Refused { code: ResultCode::DebitAccountOutflowBlocked, .. }) => {}
            other => panic!("a payout from a blocked account must be refused, got {other:?}"),
        }

        // Listed and looked up through a follower's client API too.
        let follower = cluster.followers(leader)[0];
        let through_follower = crate::sdk::sdk_of(&cluster, follower);
        let open = DiscrepancyQuery { open_only: true, ..DiscrepancyQuery::default() };
        let page = through_follower.list_discrepancies(&open, None).await.expect("listed");
        assert_eq!(page.items.len(), 1, "{:?}", page.items);
        let listed = &page.items[0];
        assert_eq!(listed.request, found("reconciler:dc-1"), "the first report is the record");
        assert_eq!(listed.blocked_account_ids, vec![CUSTOMER]);
        assert_eq!(listed.state, DiscrepancyState::Open);
        let looked_up = client.lookup_discrepancies(&[0x5eed_0001, 404]).await.expect("looked up");
        assert_eq!(looked_up, page.items);

        let resolution = ResolveDiscrepancy {
            id: 0x5eed_0001,
            reason: "bank confirmed the booking, ticket 812".into(),
            actor: "ops:li.wei".into(),
        };
        let results = client.resolve_discrepancies(&[resolution]).await.expect("resolved");
        assert_eq!(results[0].code, ResultCode::Ok);
        let customer = client.lookup_account(CUSTOMER).await.expect("read").expect("exists");
        assert_eq!(customer.status, AccountStatus::Active, "the block is lifted");
        assert!(
            client.list_discrepancies(&open, None).await.expect("listed").items.is_empty(),
            "nothing is open any more"
        );
        let every = client.list_discrepancies(&DiscrepancyQuery::default(), None).await;
        let every = every.expect("listed").items;
        assert_eq!(every.len(), 1);
        assert_eq!(every[0].state, DiscrepancyState::Resolved);
        assert_eq!(every[0].resolved_by, "ops:li.wei");

        let accepted = client.create_payout(payout(902)).await.expect("pays again");
        assert_eq!(accepted.code, ResultCode::Ok);
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_discrepancies_are_refused_before_the_log() {
    bounded(async {
        let (cluster, _leader) = Cluster::start_initialized(3).await;
        let client = sdk(&cluster);
        let too_long = NewDiscrepancy {
            bank_evidence: "x".repeat(tianping_ledger::EVIDENCE_BYTES_MAX + 1),
            ..found("reconciler")
        };
        match client.record_discrepancy(too_long).await {
            Err(Error::BadRequest { .. }) | Err(Error::Status { .. }) => {}
            other => panic!("over-long evidence must be refused on the wire, got {other:?}"),
        }
        // A well-formed report naming an account that does not exist: the ledger's code.
        match client.record_discrepancy(found("reconciler")).await {
            Err(Error::Refused { code: ResultCode::AccountNotFound, .. }) => {}
            other => panic!("an unknown account is the ledger's refusal, got {other:?}"),
        }
        cluster.shutdown().await;
    })
    .await;
}
