//! Issue 12's operator views through the SDK against real in-process nodes: a payout's
//! history read back in order after create → claim → sent → succeeded (what `tianping payout
//! show` will print), and the suspense desk: an unmatched collection listed, assigned to its
//! account once, audited, with the balances moved.

use tianping_client::{
    AccountFlags, AssignSuspense, AuditAction, AuditQuery, CollectionKey, Detail, Error,
    NewAccount, NewCollection, NewPayout, NewTransfer, PayoutBatchClaim, PayoutOutcome,
    PayoutState, RecordPayoutOutcome, ResultCode, new_claim_id,
};

use crate::sdk::sdk;
use crate::support::{Cluster, bounded};

const LEDGER: u32 = 156;
const BANK: u32 = 7;
const CUSTOMER: u128 = 1;
const TRANSIT: u128 = 2;
const FUNDING: u128 = 3;
const SETTLEMENT: u128 = 4;
const SUSPENSE: u128 = 5;
const WORKER: u128 = 55;

fn account(id: u128) -> NewAccount {
    NewAccount { id, ledger: LEDGER, code: 1, flags: AccountFlags::NONE, ..NewAccount::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payout_history_and_the_suspense_desk_through_the_sdk() {
    bounded(async {
        let (cluster, _leader) = Cluster::start_initialized(3).await;
        let client = sdk(&cluster);
        let accounts: Vec<NewAccount> =
            [CUSTOMER, TRANSIT, FUNDING, SETTLEMENT, SUSPENSE].map(account).to_vec();
        let results = client.create_accounts(&accounts).await.expect("accounts created");
        assert!(results.iter().all(|result| result.code == ResultCode::Ok), "{results:?}");
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

        // A payout's life, then its history read back in order.
        let payout = NewPayout {
            id: 900,
            debit_account_id: CUSTOMER,
            credit_account_id: TRANSIT,
            amount: 300,
            ledger: LEDGER,
            code: 1,
            bank: BANK,
            beneficiary: "6222020200112233445".into(),
            ..NewPayout::default()
        };
        client.create_payout(payout).await.expect("payout created");
        let round = PayoutBatchClaim {
            claim_id: new_claim_id().expect("the OS gives randomness"),
            worker_id: WORKER,
            bank: BANK,
            max: 1,
            lease_ms: 60_000,
        };
        let claims = client.claim_payouts(round).await.expect("claimed").into_claims();
        assert_eq!(claims.len(), 1);
        let token = claims[0].payout.fencing_token;
        let lease_until = claims[0].payout.lease_until;
        for outcome in [PayoutOutcome::Sent, PayoutOutcome::Succeeded] {
            let report = RecordPayoutOutcome {
                payout_id: 900,
                worker_id: WORKER,
                fencing_token: token,
                outcome,
            };
            client.record_payout_outcome(report).await.expect("outcome recorded");
        }
        let history = client.payout_history(900).await.expect("history read");
        let told: Vec<(PayoutState, u128, u64)> =
            history.iter().map(|r| (r.state, r.worker_id, r.fencing_token)).collect();
        assert_eq!(
            told,
            [
                (PayoutState::Reserved, 0, 0),
                (PayoutState::Claimed, WORKER, token),
                (PayoutState::Sent, WORKER, token),
                (PayoutState::Succeeded, WORKER, token),
            ]
        );
        assert!(history.windows(2).all(|pair| pair[0].timestamp < pair[1].timestamp));
        assert_eq!(history[1].lease_until, lease_until);
        let first_page = client.payout_history_page(900, 3, None).await.expect("first page");
        let next = first_page.next.as_ref().expect("a full page has a cursor");
        let rest = client.payout_history_page(900, 3, Some(next)).await.expect("second page");
        assert_eq!([first_page.items, rest.items].concat(), history);
        assert!(client.payout_history(901).await.expect("unknown payout").is_empty());
        match client.payout_history_page(900, 8_191, None).await {
            Err(Error::BadRequest { field, .. }) => assert_eq!(field, "limit"),
            other => panic!("an oversized page must be a bad request: {other:?}"),
        }

        // An unmatched collection lands in suspense and waits on the desk.
        let credit = NewCollection {
            id: 700,
            bank: BANK,
            bank_reference: "CAMT-2024-000123".into(),
            beneficiary_account_id: 404,
            settlement_account_id: SETTLEMENT,
            suspense_account_id: SUSPENSE,
            amount: 120,
            ledger: LEDGER,
            code: 4,
            ..NewCollection::default()
        };
        let booked = client.book_collection(credit.clone()).await.expect("booked");
        assert!(matches!(booked.detail, Detail::Collection { suspense: Some(_), .. }));
        let desk = client.list_suspense(Some(BANK), 10, None).await.expect("desk listed");
        assert_eq!(desk.items.len(), 1);
        assert_eq!(
            (&desk.items[0].request, desk.items[0].credited_account_id),
            (&credit, SUSPENSE)
        );

        // The operator assigns it to the customer: once, audited, balances moved.
        let assignment = AssignSuspense {
            id: 800,
            bank: BANK,
            bank_reference: credit.bank_reference.clone(),
            account_id: CUSTOMER,
            reason: "remittance names the customer".into(),
            actor: "ops:li.wei".into(),
        };
        let assigned = client.assign_suspense(assignment.clone()).await.expect("assigned");
        assert_eq!((assigned.code, assigned.detail), (ResultCode::Ok, Detail::Amount(120)));
        let again = client.assign_suspense(assignment.clone()).await.expect("a retry");
        assert_eq!(again.code, ResultCode::Exists);
        match client.assign_suspense(AssignSuspense { id: 801, ..assignment }).await {
            Err(Error::Refused { code, .. }) => {
                assert_eq!(code, ResultCode::SuspenseAlreadyAssigned)
            }
            other => panic!("a second assignment must be refused: {other:?}"),
        }
        assert!(client.list_suspense(Some(BANK), 10, None).await.expect("desk").items.is_empty());
        let suspense = client.lookup_account(SUSPENSE).await.expect("lookup").expect("exists");
        assert_eq!((suspense.debits_posted, suspense.credits_posted), (120, 120));
        let customer = client.lookup_account(CUSTOMER).await.expect("lookup").expect("exists");
        assert_eq!((customer.debits_posted, customer.credits_posted), (300, 1_120));
        let query = AuditQuery { account_id: Some(CUSTOMER), ..AuditQuery::default() };
        let audit = client.audit_records(&query, None).await.expect("audit listed");
        assert_eq!(audit.items.len(), 1);
        assert_eq!(
            (audit.items[0].actor.as_str(), audit.items[0].reason.as_str()),
            ("ops:li.wei", "remittance names the customer")
        );
        assert_eq!(
            audit.items[0].action,
            AuditAction::SuspenseAssigned {
                assignment_id: 800,
                collection: CollectionKey { bank: BANK, bank_reference: credit.bank_reference },
                suspense_account_id: SUSPENSE,
                amount: 120,
            }
        );
        cluster.shutdown().await;
    })
    .await;
}
