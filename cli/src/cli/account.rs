//! `tianping account create|lookup`.

use serde_json::json;
use tianping_proto::v1::{Account, CreateAccountsRequest, LookupRequest, NewAccount};

use super::GlobalOptions;

/// `tianping account …`.
#[derive(Debug, clap::Subcommand)]
pub enum AccountCommand {
    /// Create one account.
    ///
    /// An account holds balances of one ledger (currency or asset) and is never deleted.
    /// Ids are chosen by the client (any u128 except 0 and 2^128-1), so repeating the same
    /// command is safe: the second time the result is `exists`.
    ///
    /// Flags (add the numbers): 1 linked (with the next event), 2 debits must not exceed
    /// credits (plus --credit-line), 4 credits must not exceed debits, 8 keep balance history.
    ///
    /// Examples:
    ///
    ///   tianping account create --id 10 --ledger 156 --code 1
    ///   tianping account create --id 20 --ledger 156 --code 1 --flags 2 --credit-line 100000
    ///
    /// Exit status: 0 when the result is `ok` or `exists`, 1 otherwise (the result code is
    /// printed, e.g. `exists_with_different_flags`).
    #[command(verbatim_doc_comment)]
    Create(CreateAccount),
    /// Show accounts by id, with their balances.
    ///
    /// Reads the addressed node's replica (it may trail the leader by a few milliseconds).
    ///
    /// Examples:
    ///
    ///   tianping account lookup 10
    ///   tianping --addr 127.0.0.1:8001 account lookup 10 20 --json
    ///
    /// Exit status: 0 when every id was found, 1 otherwise.
    #[command(verbatim_doc_comment)]
    Lookup {
        /// Account ids (u128, decimal).
        #[arg(required = true, value_name = "ID")]
        ids: Vec<u128>,
    },
}

/// `tianping account create` options.
#[derive(Debug, clap::Args)]
pub struct CreateAccount {
    /// The account id (u128, decimal; not 0, not 2^128-1).
    #[arg(long)]
    id: u128,
    /// The ledger (currency or asset) the account is in, e.g. 156.
    #[arg(long)]
    ledger: u32,
    /// The account type, your own numbering (at most 65535).
    #[arg(long)]
    code: u16,
    /// AccountFlags bits (see above).
    #[arg(long, default_value_t = 0)]
    flags: u16,
    /// How far debits may exceed credits with flag 2, in minor units.
    #[arg(long, default_value_t = 0)]
    credit_line: u128,
    /// Your own reference (u128).
    #[arg(long, default_value_t = 0)]
    user_data: u128,
}

/// Runs `tianping account …`.
pub async fn run(options: &GlobalOptions, command: AccountCommand) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let client = super::ledger(&address).await?;
    match command {
        AccountCommand::Create(account) => {
            let request = CreateAccountsRequest {
                accounts: vec![NewAccount {
                    id: account.id.to_string(),
                    ledger: account.ledger,
                    code: account.code.into(),
                    flags: account.flags.into(),
                    credit_line: account.credit_line.to_string(),
                    user_data: account.user_data.to_string(),
                }],
            };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.create_accounts(request).await }
            })
            .await?;
            let result = response
                .results
                .first()
                .ok_or_else(|| anyhow::anyhow!("{address} answered without a result"))?;
            if options.json {
                super::print_json(&json!({
                    "id": account.id.to_string(),
                    "code": result.code,
                    "code_name": result.code_name,
                    "timestamp": result.timestamp,
                    "log_index": response.log_index,
                }))?;
            } else {
                println!(
                    "account {}: {} (timestamp {}, log index {})",
                    account.id, result.code_name, result.timestamp, response.log_index
                );
            }
            super::transfer::check_result("account", account.id, result)
        }
        AccountCommand::Lookup { ids } => {
            let request =
                LookupRequest { ids: ids.iter().map(u128::to_string).collect(), read: None };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.lookup_accounts(request).await }
            })
            .await?;
            let report = super::LookupReport {
                noun: ("account", "accounts"),
                id_of: |account: &Account| account.id.as_str(),
                line: account_line,
                json: account_json,
            };
            super::report_lookup(options, &report, &ids, &response.accounts)
        }
    }
}

fn account_line(account: &Account) -> String {
    format!(
        "account {} ledger={} code={} flags={} status={} debits_posted={} credits_posted={} \
         debits_pending={} credits_pending={} credit_line={} user_data={} timestamp={}",
        account.id,
        account.ledger,
        account.code,
        account.flags,
        account.status,
        account.debits_posted,
        account.credits_posted,
        account.debits_pending,
        account.credits_pending,
        account.credit_line,
        account.user_data,
        account.timestamp
    )
}

fn account_json(account: &Account) -> serde_json::Value {
    json!({
        "id": account.id,
        "ledger": account.ledger,
        "code": account.code,
        "flags": account.flags,
        "status": account.status,
        "debits_posted": account.debits_posted,
        "credits_posted": account.credits_posted,
        "debits_pending": account.debits_pending,
        "credits_pending": account.credits_pending,
        "credit_line": account.credit_line,
        "user_data": account.user_data,
        "timestamp": account.timestamp,
    })
}
