//! A two-phase transfer: reserve (pending), then post part of it, and a second reservation
//! voided. Balances are printed after each step so the pending amounts can be seen moving.
//!
//! ```text
//! cargo run -p tianping-client --example two_phase -- 127.0.0.1:7001
//! ```

mod common;

use tianping_client::{AccountFlags, Client, NewAccount, NewTransfer, TransferFlags};

const FUNDING: u128 = 2_000;
const GUEST: u128 = 2_001;
const HOTEL: u128 = 2_002;

async fn show(client: &Client, step: &str) -> Result<(), tianping_client::Error> {
    if let Some(guest) = client.lookup_account(GUEST).await? {
        println!(
            "{step:<28} guest: posted debits {:>6}, pending debits {:>6}, credits {:>6}",
            guest.debits_posted, guest.debits_pending, guest.credits_posted
        );
    }
    Ok(())
}

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
            account(GUEST, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(HOTEL, AccountFlags::NONE),
        ])
        .await?;
    let transfer = |id, amount, pending_id, flags| NewTransfer {
        id,
        debit_account_id: GUEST,
        credit_account_id: HOTEL,
        amount,
        pending_id,
        ledger: common::LEDGER,
        code: 1,
        flags,
        ..NewTransfer::default()
    };
    let funding = NewTransfer {
        debit_account_id: FUNDING,
        credit_account_id: GUEST,
        ..transfer(common::fresh_id(), 50_000, 0, TransferFlags::NONE)
    };
    client.create_transfer(funding).await?;
    show(&client, "funded").await?;

    // Check-in: hold 30 000 for the stay; check-out: charge 21 500 of it.
    let hold = common::fresh_id();
    client.create_transfer(transfer(hold, 30_000, 0, TransferFlags::PENDING)).await?;
    show(&client, "reserved 30000").await?;
    let charged = client
        .create_transfer(transfer(common::fresh_id(), 21_500, hold, TransferFlags::POST_PENDING))
        .await?;
    println!("posted: {:?}", charged.detail);
    show(&client, "posted 21500 of it").await?;

    // A deposit held and released.
    let deposit = common::fresh_id();
    client.create_transfer(transfer(deposit, 5_000, 0, TransferFlags::PENDING)).await?;
    show(&client, "deposit of 5000 reserved").await?;
    client
        .create_transfer(transfer(common::fresh_id(), 0, deposit, TransferFlags::VOID_PENDING))
        .await?;
    show(&client, "deposit voided").await?;
    Ok(())
}
