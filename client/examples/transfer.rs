//! A single-phase transfer through the SDK, sent twice to show that a retry with the same id
//! is safe: the second answer is `exists`, with the first one's timestamp, and money moved once.
//!
//! ```text
//! cargo run -p tianping-client --example transfer -- 127.0.0.1:7001 [HOST:PORT ...]
//! TIANPING_ADDR=127.0.0.1:7001 cargo run -p tianping-client --example transfer
//! ```

mod common;

use tianping_client::{AccountFlags, Error, NewAccount, NewTransfer, ResultCode};

const FUNDING: u128 = 1_000;
const CUSTOMER: u128 = 1_001;
const MERCHANT: u128 = 1_002;

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
    // `exists` on a second run: creating an account is idempotent too.
    for result in client
        .create_accounts(&[
            account(FUNDING, AccountFlags::NONE),
            account(CUSTOMER, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(MERCHANT, AccountFlags::NONE),
        ])
        .await?
    {
        println!("account: {:?}", result.code);
    }
    let transfer = |id, debit_account_id, credit_account_id, amount| NewTransfer {
        id,
        debit_account_id,
        credit_account_id,
        amount,
        ledger: common::LEDGER,
        code: 1,
        ..NewTransfer::default()
    };
    client.create_transfer(transfer(common::fresh_id(), FUNDING, CUSTOMER, 10_000)).await?;
    println!("funded customer {CUSTOMER} with 10000");

    let payment = transfer(common::fresh_id(), CUSTOMER, MERCHANT, 2_500);
    let first = client.create_transfer(payment).await?;
    println!(
        "transfer {}: {:?} at {} ({:?})",
        payment.id, first.code, first.timestamp, first.detail
    );
    let retried = client.create_transfer(payment).await?;
    println!("same transfer again: {:?} at {} (moved once)", retried.code, retried.timestamp);

    // More than the customer has: refused with the ledger's code, nothing moved.
    match client
        .create_transfer(transfer(common::fresh_id(), CUSTOMER, MERCHANT, u64::MAX.into()))
        .await
    {
        Err(Error::Refused { code: ResultCode::ExceedsCredits, .. }) => {
            println!("an overdraft is refused: exceeds_credits");
        }
        other => println!("unexpected answer to an overdraft: {other:?}"),
    }
    if let Some(customer) = client.lookup_account(CUSTOMER).await? {
        println!(
            "customer {CUSTOMER}: credits {} debits {}",
            customer.credits_posted, customer.debits_posted
        );
    }
    Ok(())
}
