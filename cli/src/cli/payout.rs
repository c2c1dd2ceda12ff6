//! `tianping payout create|show|list`: the payout outbox from the command line, over the Rust
//! SDK (`tianping-client`), which finds the leader and retries with the same id.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tianping_client::{
    Client, NewPayout, Payout, PayoutHistoryRecord, PayoutQuery, PayoutState, ResultCode,
};
use tianping_proto::convert;

use super::GlobalOptions;

/// How often `payout create --wait` reads the payout.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// `tianping payout …`.
#[derive(Debug, clap::Subcommand)]
pub enum PayoutCommand {
    /// Pay money out through a bank: reserve it now, let a bank worker send it.
    ///
    /// Reserves --amount from the customer account --debit into the bank-in-transit account
    /// --credit (a pending transfer) and records the payout for bank --bank, to be paid to
    /// --beneficiary (an account number at that bank). A bank worker claims it, records
    /// `sent` with its fencing token, asks the bank, and records `succeeded` (the reservation
    /// posts) or `failed` (it voids). The id is the bank's end-to-end id too, so repeating
    /// the command never pays twice: the second time the result is `exists`.
    ///
    /// A refusal (not enough money, unknown account, blocked account, ...) is a result code,
    /// printed with its name, exit status 1: nothing was reserved and nothing reaches a bank.
    ///
    /// With --wait, follows the payout until it is final (or --wait-timeout passes), printing
    /// each state it passes through; exit status 0 only if it succeeded.
    ///
    /// Example, against `cargo xtask up` (its banner prints the account ids):
    ///
    ///   tianping payout create --id 9001 --debit 10 --credit 1000 --amount 12500 \
    ///       --ledger 1 --code 2 --bank 1 --beneficiary 6222020200001234567 --wait
    #[command(verbatim_doc_comment)]
    Create(CreatePayout),
    /// Show a payout: where it stands and how it got there.
    ///
    /// Prints the payout (amount, bank, beneficiary, state, fencing token, worker, lease) and
    /// its history, one line per state change, oldest first.
    ///
    ///   tianping payout show 9001
    ///   tianping payout show 9001 --json
    #[command(verbatim_doc_comment)]
    Show {
        /// The payout id (u128, decimal).
        #[arg(value_name = "ID")]
        id: u128,
    },
    /// List payouts in one state (oldest first), optionally of one bank.
    ///
    ///   tianping payout list --state sent
    ///   tianping payout list --state reserved --bank 1 --limit 50
    #[command(verbatim_doc_comment)]
    List {
        /// reserved, claimed, sent, unknown, succeeded or failed.
        #[arg(long, value_parser = parse_state)]
        state: PayoutState,
        /// Only this bank's payouts.
        #[arg(long)]
        bank: Option<u32>,
        /// At most this many (1..=8190).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// `tianping payout create` options.
#[derive(Debug, clap::Args)]
pub struct CreatePayout {
    /// The payout id (u128, decimal): also its reservation transfer's id and the bank's
    /// end-to-end id (at most 35 digits).
    #[arg(long)]
    id: u128,
    /// The customer account paying.
    #[arg(long)]
    debit: u128,
    /// The bank-in-transit account of --bank, holding the money until the bank answers.
    #[arg(long)]
    credit: u128,
    /// Amount in minor units (u128, decimal).
    #[arg(long)]
    amount: u128,
    /// The ledger (currency) of both accounts.
    #[arg(long)]
    ledger: u32,
    /// The reservation's transfer code.
    #[arg(long)]
    code: u16,
    /// The bank that executes it.
    #[arg(long)]
    bank: u32,
    /// The beneficiary's account number at the bank (at most 34 characters for ISO 20022).
    #[arg(long)]
    beneficiary: String,
    /// Opaque client data (u128).
    #[arg(long, default_value_t = 0)]
    user_data: u128,
    /// Follow the payout until it is final.
    #[arg(long)]
    wait: bool,
    /// How long --wait follows it.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    wait_timeout: Duration,
}

fn parse_state(text: &str) -> Result<PayoutState, String> {
    tianping_proto::convert::parse_payout_state("--state", text).map_err(|error| error.reason)
}

/// Runs one `tianping payout` command.
pub async fn run(options: &GlobalOptions, command: PayoutCommand) -> anyhow::Result<()> {
    let client = super::sdk_client(options)?;
    match command {
        PayoutCommand::Create(create) => create_payout(options, &client, create).await,
        PayoutCommand::Show { id } => show(options, &client, id).await,
        PayoutCommand::List { state, bank, limit } => {
            let mut query = PayoutQuery::new(state);
            query.bank = bank;
            query.limit = limit;
            let page = client.list_payouts(&query, None).await?;
            if options.json {
                let payouts: Vec<_> = page.items.iter().map(convert::payout).collect();
                println!("{}", json!({ "payouts": serde_json::to_value(payouts)? }));
            } else {
                for payout in &page.items {
                    println!("{}", payout_line(payout));
                }
                if page.items.is_empty() {
                    println!("no {} payouts", state.name());
                }
            }
            Ok(())
        }
    }
}

async fn create_payout(
    options: &GlobalOptions,
    client: &Client,
    create: CreatePayout,
) -> anyhow::Result<()> {
    let payout = NewPayout {
        id: create.id,
        debit_account_id: create.debit,
        credit_account_id: create.credit,
        amount: create.amount,
        user_data: create.user_data,
        ledger: create.ledger,
        code: create.code,
        bank: create.bank,
        beneficiary: create.beneficiary,
        ..NewPayout::default()
    };
    let result = client.create_payouts(&[payout]).await?;
    let result = result.first().context("the cluster answered no result")?;
    let name = tianping_proto::convert::result_code_name(result.code);
    if !options.json {
        println!("payout {}: {name}", create.id);
    }
    if !matches!(result.code, ResultCode::Ok | ResultCode::Exists) {
        if options.json {
            println!("{}", json!({ "id": create.id.to_string(), "result": name }));
        }
        anyhow::bail!("payout {} refused: {name}", create.id);
    }
    if !create.wait {
        if options.json {
            println!("{}", json!({ "id": create.id.to_string(), "result": name }));
        }
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + create.wait_timeout;
    let mut last = None;
    loop {
        if let Some(payout) = client.get_payout(create.id).await? {
            if last != Some(payout.state) {
                last = Some(payout.state);
                if !options.json {
                    println!("payout {}: {}", create.id, payout.state.name());
                }
            }
            if payout.state.is_final() {
                if options.json {
                    println!("{}", serde_json::to_string(&convert::payout(&payout))?);
                }
                return match payout.state {
                    PayoutState::Succeeded => Ok(()),
                    _ => anyhow::bail!("payout {} failed at the bank", create.id),
                };
            }
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "payout {} is still {} after {}: is a bank worker running for bank {}? \
                 (`tianping payout show {}` tells its history)",
                create.id,
                last.map_or("unknown", PayoutState::name),
                humantime::format_duration(create.wait_timeout),
                create.bank,
                create.id
            );
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

async fn show(options: &GlobalOptions, client: &Client, id: u128) -> anyhow::Result<()> {
    let Some(payout) = client.get_payout(id).await? else {
        anyhow::bail!("payout {id} not found (a refused payout is never stored)");
    };
    let history = client.payout_history(id).await?;
    if options.json {
        let history: Vec<_> = history.iter().map(convert::payout_history_record).collect();
        let payout = serde_json::to_value(convert::payout(&payout))?;
        println!("{}", json!({ "payout": payout, "history": serde_json::to_value(history)? }));
    } else {
        println!("{}", payout_line(&payout));
        for record in &history {
            println!("  {}", history_line(record));
        }
    }
    Ok(())
}

fn payout_line(payout: &Payout) -> String {
    format!(
        "payout {} {} amount {} ledger {} from {} via {} bank {} to {} (token {}, worker {})",
        payout.id,
        payout.state.name(),
        payout.amount,
        payout.ledger,
        payout.debit_account_id,
        payout.credit_account_id,
        payout.bank,
        payout.beneficiary,
        payout.fencing_token,
        payout.worker_id
    )
}

fn history_line(record: &PayoutHistoryRecord) -> String {
    let at = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + Duration::from_nanos(record.timestamp),
    );
    match record.state {
        PayoutState::Reserved => format!("{at} reserved"),
        state => format!(
            "{at} {} (worker {}, token {})",
            state.name(),
            record.worker_id,
            record.fencing_token
        ),
    }
}
