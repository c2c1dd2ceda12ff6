//! Read an account's balance (linearizable: it reflects every write acknowledged before the
//! read began) and its latest transfers, newest first.
//!
//! ```text
//! cargo run -p tianping-client --example balance -- --account 1001 127.0.0.1:7001
//! ```

mod common;

use tianping_client::HistoryFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = common::arguments();
    let mut account_id: u128 = 1_001;
    if let Some(position) = arguments.iter().position(|argument| argument == "--account") {
        let value = arguments.get(position + 1).ok_or("--account needs an account id")?;
        account_id = value.parse().map_err(|_| format!("{value:?} is not an account id"))?;
        arguments.drain(position..=position + 1);
    }
    let client = common::client(&arguments)?;
    let Some(account) = client.lookup_account(account_id).await? else {
        println!("account {account_id} does not exist (run the transfer example first)");
        return Ok(());
    };
    let credits = account.credits_posted;
    let debits = account.debits_posted;
    println!("account {account_id} (ledger {}, {:?})", account.ledger, account.status);
    let net = if credits >= debits {
        (credits - debits).to_string()
    } else {
        format!("-{}", debits - credits)
    };
    println!("  posted:    credits {credits}, debits {debits}, net {net}");
    println!("  pending:   credits {}, debits {}", account.credits_pending, account.debits_pending);

    let latest = HistoryFilter {
        account_id,
        timestamp_min: 0,
        timestamp_max: u64::MAX,
        limit: 5,
        reversed: true,
    };
    let page = client.account_transfers(&latest, None).await?;
    println!("  latest transfers (read at log index {}):", page.applied_index);
    for transfer in &page.items {
        let direction = if transfer.debit_account_id == account_id { "out" } else { "in " };
        println!(
            "    {direction} {:>12}  id {}  at {}",
            transfer.amount, transfer.id, transfer.timestamp
        );
    }
    if page.next.is_some() {
        println!("    ... (more pages: follow `page.next`)");
    }
    Ok(())
}
