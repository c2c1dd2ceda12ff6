//! `tianping transfer create|lookup`.

use serde_json::json;
use tianping_proto::v1::{
    CreateTransfersRequest, EventResult, LookupRequest, NewTransfer, Transfer,
};

use super::GlobalOptions;

/// Result code numbers that mean success: `ok` and `exists` (a replay of the same event).
const SUCCESS_CODES: [u32; 2] = [0, 3];

/// `tianping transfer …`.
#[derive(Debug, clap::Subcommand)]
pub enum TransferCommand {
    /// Move an amount from a debit account to a credit account (same ledger).
    ///
    /// Amounts are u128 minor units (cents, fen), in decimal. The id is chosen by the client,
    /// so repeating the same command is safe: the second time the result is `exists`. A
    /// business refusal (unknown account, insufficient funds, ...) is a result code, printed
    /// with its name, and exit status 1.
    ///
    /// Flags (add the numbers): 1 linked (with the next event), 2 pending (reserve only),
    /// 4 post a pending transfer (--pending-id), 8 void a pending transfer (--pending-id),
    /// 16 balancing debit, 32 balancing credit (move at most what the account allows).
    ///
    /// Examples:
    ///
    ///   tianping transfer create --id 1 --debit 10 --credit 20 --amount 500 --ledger 156 --code 1
    ///   # two-phase: reserve, then post
    ///   tianping transfer create --id 2 --debit 10 --credit 20 --amount 700 --ledger 156 --code 1 --flags 2
    ///   tianping transfer create --id 3 --pending-id 2 --amount 700 --ledger 156 --code 1 --flags 4
    #[command(verbatim_doc_comment)]
    Create(CreateTransfer),
    /// Show transfers by id.
    ///
    /// Reads the addressed node's replica. Refused transfers were never stored, so they are
    /// not found.
    ///
    /// Examples:
    ///
    ///   tianping transfer lookup 1
    ///   tianping transfer lookup 1 2 3 --json
    ///
    /// Exit status: 0 when every id was found, 1 otherwise.
    #[command(verbatim_doc_comment)]
    Lookup {
        /// Transfer ids (u128, decimal).
        #[arg(required = true, value_name = "ID")]
        ids: Vec<u128>,
    },
}

/// `tianping transfer create` options.
#[derive(Debug, clap::Args)]
pub struct CreateTransfer {
    /// The transfer id (u128, decimal).
    #[arg(long)]
    id: u128,
    /// The account debited (money leaves it). Optional when posting or voiding.
    #[arg(long, value_name = "ACCOUNT_ID", default_value_t = 0)]
    debit: u128,
    /// The account credited (money arrives). Optional when posting or voiding.
    #[arg(long, value_name = "ACCOUNT_ID", default_value_t = 0)]
    credit: u128,
    /// The amount in minor units (u128, decimal).
    #[arg(long, default_value_t = 0)]
    amount: u128,
    /// The ledger of both accounts, e.g. 156.
    #[arg(long)]
    ledger: u32,
    /// The transfer type, your own numbering (at most 65535).
    #[arg(long)]
    code: u16,
    /// TransferFlags bits (see above).
    #[arg(long, default_value_t = 0)]
    flags: u16,
    /// The pending transfer to post or void (flags 4 or 8).
    #[arg(long, default_value_t = 0)]
    pending_id: u128,
    /// Seconds until a pending transfer expires; 0 = never.
    #[arg(long, default_value_t = 0)]
    timeout: u32,
    /// Your own reference (u128).
    #[arg(long, default_value_t = 0)]
    user_data: u128,
}

/// Err (exit status 1) unless `result` is a success (`ok` or `exists`).
pub fn check_result(what: &str, id: u128, result: &EventResult) -> anyhow::Result<()> {
    if SUCCESS_CODES.contains(&result.code) {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{what} {id} was refused: {} (code {})", result.code_name, result.code))
    }
}

/// Runs `tianping transfer …`.
pub async fn run(options: &GlobalOptions, command: TransferCommand) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let client = super::ledger(&address).await?;
    match command {
        TransferCommand::Create(transfer) => {
            let request = CreateTransfersRequest {
                transfers: vec![NewTransfer {
                    id: transfer.id.to_string(),
                    debit_account_id: transfer.debit.to_string(),
                    credit_account_id: transfer.credit.to_string(),
                    amount: transfer.amount.to_string(),
                    pending_id: transfer.pending_id.to_string(),
                    user_data: transfer.user_data.to_string(),
                    timeout: transfer.timeout,
                    ledger: transfer.ledger,
                    code: transfer.code.into(),
                    flags: transfer.flags.into(),
                }],
            };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.create_transfers(request).await }
            })
            .await?;
            let result = response
                .results
                .first()
                .ok_or_else(|| anyhow::anyhow!("{address} answered without a result"))?;
            if options.json {
                super::print_json(&json!({
                    "id": transfer.id.to_string(),
                    "code": result.code,
                    "code_name": result.code_name,
                    "amount": result.amount,
                    "timestamp": result.timestamp,
                    "log_index": response.log_index,
                }))?;
            } else if SUCCESS_CODES.contains(&result.code) {
                println!(
                    "transfer {}: {}, amount {} (timestamp {}, log index {})",
                    transfer.id,
                    result.code_name,
                    result.amount,
                    result.timestamp,
                    response.log_index
                );
            } else {
                println!("transfer {}: {} (code {})", transfer.id, result.code_name, result.code);
            }
            check_result("transfer", transfer.id, result)
        }
        TransferCommand::Lookup { ids } => {
            let request =
                LookupRequest { ids: ids.iter().map(u128::to_string).collect(), read: None };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.lookup_transfers(request).await }
            })
            .await?;
            let report = super::LookupReport {
                noun: ("transfer", "transfers"),
                id_of: |transfer: &Transfer| transfer.id.as_str(),
                line: transfer_line,
            };
            super::report_lookup(options, &report, &ids, &response.transfers)
        }
    }
}

fn transfer_line(transfer: &Transfer) -> String {
    format!(
        "transfer {} debit={} credit={} amount={} requested={} ledger={} code={} flags={} \
         pending_id={} timeout={} user_data={} timestamp={}",
        transfer.id,
        transfer.debit_account_id,
        transfer.credit_account_id,
        transfer.amount,
        transfer.amount_requested,
        transfer.ledger,
        transfer.code,
        transfer.flags,
        transfer.pending_id,
        transfer.timeout,
        transfer.user_data,
        transfer.timestamp
    )
}
