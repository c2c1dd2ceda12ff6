//! `tianping collections suspense|assign`: the suspense desk. A bank credit the worker could
//! not book to its beneficiary (no such account, frozen, closed, another currency) was booked
//! to the bank's suspense account instead; an operator lists those credits and assigns each to
//! the account it belongs to — a posted transfer suspense → account, once, audited with the
//! operator's reason.

use serde_json::json;
use tianping_client::{AssignSuspense, Client, Collection, Cursor, ResultCode};

use super::GlobalOptions;

/// The most collections one `suspense` listing reads (its `--limit`'s ceiling).
const LISTING_MAX: usize = 100_000;

/// The page size the listing reads with: the server's page ceiling.
const PAGE_MAX: usize = 8_190;

/// `tianping collections …`.
#[derive(Debug, clap::Subcommand)]
pub enum CollectionsCommand {
    /// List the credits waiting in suspense, oldest first, per bank.
    ///
    /// Each line: bank, the bank's reference, amount (minor units), why it is in suspense,
    /// the beneficiary the bank's credit named, the collection id and when it was booked.
    ///
    ///   tianping collections suspense
    ///   tianping collections suspense --bank 1 --limit 20 --json
    #[command(verbatim_doc_comment)]
    Suspense {
        /// Only this bank's credits.
        #[arg(long)]
        bank: Option<u32>,
        /// At most this many (1..=100000).
        #[arg(long, default_value_t = 1_000, value_parser = parse_limit)]
        limit: usize,
    },
    /// Assign one credit waiting in suspense to the account it belongs to. Audited.
    ///
    /// Moves the credit's amount from the bank's suspense account to --account as a posted
    /// transfer whose id is --id: a retry with the same --id answers `exists`; assigning an
    /// already assigned credit again is refused (`suspense_already_assigned`).
    ///
    ///   tianping collections assign --id 8001 --bank 1 --reference CAMT-2024-000123 \
    ///       --account 42 --reason "remittance names the customer, ticket 77"
    #[command(verbatim_doc_comment)]
    Assign {
        /// The assignment's id (u128, decimal), also the id of the transfer it posts.
        #[arg(long)]
        id: u128,
        /// The bank the credit came from.
        #[arg(long)]
        bank: u32,
        /// The bank's reference of the credit (as `collections suspense` shows it).
        #[arg(long, value_name = "BANK_REFERENCE")]
        reference: String,
        /// The account that receives the money.
        #[arg(long)]
        account: u128,
        /// Why this account (required, at most 256 bytes); kept in the audit record.
        #[arg(long)]
        reason: String,
        /// Who (at most 256 bytes). Default: `operator:$USER`.
        #[arg(long)]
        actor: Option<String>,
    },
}

fn parse_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(limit) if (1..=LISTING_MAX).contains(&limit) => Ok(limit),
        _ => Err(format!("{text:?} is not a count in 1..={LISTING_MAX}")),
    }
}

/// Runs one `tianping collections` command.
pub async fn run(options: &GlobalOptions, command: CollectionsCommand) -> anyhow::Result<()> {
    let client = super::sdk_client(options)?;
    match command {
        CollectionsCommand::Suspense { bank, limit } => {
            suspense(options, &client, bank, limit).await
        }
        CollectionsCommand::Assign { id, bank, reference, account, reason, actor } => {
            let assignment = AssignSuspense {
                id,
                bank,
                bank_reference: reference,
                account_id: account,
                reason,
                actor: actor.unwrap_or_else(super::account_controls::default_actor),
            };
            assign(options, &client, assignment).await
        }
    }
}

/// Reads up to `limit` waiting credits, page by page, then prints them.
async fn suspense(
    options: &GlobalOptions,
    client: &Client,
    bank: Option<u32>,
    limit: usize,
) -> anyhow::Result<()> {
    let mut waiting: Vec<Collection> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let more = loop {
        let page_size = PAGE_MAX.min(limit - waiting.len());
        let page = client.list_suspense(bank, page_size, cursor.as_ref()).await?;
        waiting.extend(page.items);
        match page.next {
            Some(next) if waiting.len() < limit => cursor = Some(next),
            Some(_) => break true,
            None => break false,
        }
    };
    if options.json {
        let items: Vec<_> =
            waiting.iter().map(tianping_proto::convert::suspense_collection).collect();
        return super::print_json(
            &json!({ "suspense": serde_json::to_value(items)?, "more": more }),
        );
    }
    for collection in &waiting {
        println!("{}", collection_line(collection));
    }
    let total = waiting
        .iter()
        .try_fold(0u128, |total, collection| total.checked_add(collection.request.amount))
        .map_or_else(|| "more than u128 holds of".to_owned(), |total| total.to_string());
    match (waiting.len(), more) {
        (0, _) => println!("no credits waiting in suspense"),
        (count, false) => println!("{count} credit(s) waiting, {total} minor units in all"),
        (count, true) => {
            println!("{count} credit(s) shown, {total} minor units; more wait (raise --limit)")
        }
    }
    Ok(())
}

async fn assign(
    options: &GlobalOptions,
    client: &Client,
    assignment: AssignSuspense,
) -> anyhow::Result<()> {
    let (id, reference) = (assignment.id, assignment.bank_reference.clone());
    let account = assignment.account_id;
    let results = client.assign_suspense_batch(&[assignment]).await?;
    let result =
        results.first().ok_or_else(|| anyhow::anyhow!("the cluster answered no result"))?;
    let name = tianping_proto::convert::result_code_name(result.code);
    if options.json {
        super::print_json(&json!({
            "id": id.to_string(),
            "bank_reference": reference,
            "account_id": account.to_string(),
            "result": name,
            "timestamp": result.timestamp,
        }))?;
    } else {
        println!("assignment {id} of {reference} to account {account}: {name}");
    }
    match result.code {
        ResultCode::Ok | ResultCode::Exists => Ok(()),
        _ => anyhow::bail!("assignment {id} refused: {name}"),
    }
}

fn collection_line(collection: &Collection) -> String {
    let request = &collection.request;
    format!(
        "bank {} {} amount {} {} beneficiary {} collection {} booked {}",
        request.bank,
        request.bank_reference,
        request.amount,
        collection.suspense.map_or("assigned", |reason| reason.name()),
        request.beneficiary_account_id,
        request.id,
        collection.timestamp
    )
}
