//! A payout's life through the SDK, playing both sides: the application creates the payout
//! (the funds are reserved at once), then a bank worker claims it (lease + fencing token),
//! reports it sent and then succeeded, and the reservation posts.
//!
//! ```text
//! cargo run -p tianping-client --example payout -- 127.0.0.1:7001
//! ```

mod common;

use tianping_client::{
    AccountFlags, NewAccount, NewPayout, NewTransfer, PayoutBatchClaim, PayoutOutcome,
    RecordPayoutOutcome, new_claim_id,
};

const FUNDING: u128 = 3_000;
const CUSTOMER: u128 = 3_001;
const BANK_IN_TRANSIT: u128 = 3_002;
/// The bank the payout goes through, and the worker that sends to it.
const BANK: u32 = 99;
const WORKER: u128 = 3_099;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client(&common::arguments())?;
    let account = |id, flags| NewAccount {
        id,
        ledger: common::LEDGER,
        code: 1,
        flags,
        ..NewAccount::default()
    };
    client
        .create_accounts(&[
            account(FUNDING, AccountFlags::NONE),
            account(CUSTOMER, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(BANK_IN_TRANSIT, AccountFlags::NONE),
        ])
        .await?;
    let funding = NewTransfer {
        id: common::fresh_id(),
        debit_account_id: FUNDING,
        credit_account_id: CUSTOMER,
        amount: 20_000,
        ledger: common::LEDGER,
        code: 1,
        ..NewTransfer::default()
    };
    client.create_transfer(funding).await?;

    let id = common::fresh_id();
    let payout = NewPayout {
        id,
        debit_account_id: CUSTOMER,
        credit_account_id: BANK_IN_TRANSIT,
        amount: 12_000,
        ledger: common::LEDGER,
        code: 1,
        bank: BANK,
        beneficiary: "6222020200112233445".into(),
        ..NewPayout::default()
    };
    let reserved = client.create_payout(payout).await?;
    println!("payout {id}: {:?}, reserved {:?}", reserved.code, reserved.detail);

    // The worker's side.
    // One claim id per claim round: a retry of the round reuses it and gets the same payouts.
    let round = PayoutBatchClaim {
        claim_id: new_claim_id()?,
        worker_id: WORKER,
        bank: BANK,
        max: 16,
        lease_ms: 30_000,
    };
    let claims = client.claim_payouts(round).await?.into_claims();
    println!("worker {WORKER} claimed {} payout(s) of bank {BANK}", claims.len());
    let Some(claim) = claims.iter().find(|claim| claim.payout.id == id) else {
        println!("payout {id} was not among them (another worker holds it?)");
        return Ok(());
    };
    println!(
        "  payout {id}: fencing token {}, must inquire first: {}",
        claim.payout.fencing_token, claim.must_inquire_first
    );
    for outcome in [PayoutOutcome::Sent, PayoutOutcome::Succeeded] {
        let report = RecordPayoutOutcome {
            payout_id: id,
            worker_id: WORKER,
            fencing_token: claim.payout.fencing_token,
            outcome,
        };
        client.record_payout_outcome(report).await?;
        if let Some(now) = client.get_payout(id).await? {
            println!("  reported {outcome:?}: payout is {:?}", now.state);
        }
    }
    if let Some(customer) = client.lookup_account(CUSTOMER).await? {
        println!(
            "customer {CUSTOMER}: debits posted {}, pending {}",
            customer.debits_posted, customer.debits_pending
        );
    }
    Ok(())
}
