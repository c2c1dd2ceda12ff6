//! `tianping account create|lookup`, and the risk desk's controls (`account_controls.rs`).

use tianping_proto::v1::{Account, CreateAccountsRequest, LookupRequest, NewAccount};

use super::GlobalOptions;
use super::account_controls::{self, AuditQuery, Control, LimitsChange, StatusChange};

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
    /// Outflow-block an account: debits (transfers, payouts) are refused, credits still arrive.
    ///
    /// What reconciliation does automatically to the accounts of a discrepancy; an operator
    /// does it by hand while a case is investigated. Audited (see `account audit`).
    ///
    ///   tianping account block 9010 --reason "case 4711: chargeback fraud suspected"
    ///
    /// Exit status: 0 when the result is `ok` (also when already blocked), 1 otherwise.
    #[command(verbatim_doc_comment)]
    Block(StatusChange),
    /// Make a blocked or frozen account active again. Audited.
    ///
    /// Lifting a block reconciliation set does not resolve its discrepancy: the discrepancy
    /// stays open in `tianping reconcile report` until resolved.
    ///
    ///   tianping account unblock 9010 --reason "bank confirmed the booking, ticket 812"
    #[command(verbatim_doc_comment)]
    Unblock(StatusChange),
    /// Freeze an account: nothing moves, in or out, until it is unblocked. Audited.
    ///
    ///   tianping account freeze 9010 --reason "court order 2026-118"
    #[command(verbatim_doc_comment)]
    Freeze(StatusChange),
    /// Close an account for good. Only at zero balance with nothing pending. Audited.
    ///
    ///   tianping account close 9010 --reason "customer left"
    #[command(verbatim_doc_comment)]
    Close(StatusChange),
    /// Replace an account's outflow limits (限额限次); a limit left out is unlimited. Audited.
    ///
    /// Limits count every accepted debit at the moment it is made, per day in the cluster's
    /// time zone.
    ///
    ///   tianping account limits 9010 --per-transfer 500000 --per-day-count 20 --reason "KYC tier 2"
    ///   tianping account limits 9010 --reason "limits lifted after review"
    #[command(verbatim_doc_comment)]
    Limits(LimitsChange),
    /// Show an account's audit trail: every status and limits change with its reason and actor,
    /// and suspense assignments, oldest first (ID 0: every account's).
    ///
    ///   tianping account audit 9010
    ///   tianping account audit 0 --limit 20 --json
    #[command(verbatim_doc_comment)]
    Audit(AuditQuery),
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
    match command {
        AccountCommand::Create(account) => create(options, account).await,
        AccountCommand::Lookup { ids } => lookup(options, &ids).await,
        AccountCommand::Block(change) => {
            account_controls::set_status(options, Control::Block, change).await
        }
        AccountCommand::Unblock(change) => {
            account_controls::set_status(options, Control::Unblock, change).await
        }
        AccountCommand::Freeze(change) => {
            account_controls::set_status(options, Control::Freeze, change).await
        }
        AccountCommand::Close(change) => {
            account_controls::set_status(options, Control::Close, change).await
        }
        AccountCommand::Limits(change) => account_controls::set_limits(options, change).await,
        AccountCommand::Audit(query) => account_controls::audit(options, query).await,
    }
}

async fn create(options: &GlobalOptions, account: CreateAccount) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let client = super::ledger(&address).await?;
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
    account_controls::report(options, &address, account.id, None, &response)
}

async fn lookup(options: &GlobalOptions, ids: &[u128]) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let client = super::ledger(&address).await?;
    let request = LookupRequest { ids: ids.iter().map(u128::to_string).collect(), read: None };
    let response = super::request(&address, || {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.lookup_accounts(request).await }
    })
    .await?;
    let report = super::LookupReport {
        noun: ("account", "accounts"),
        id_of: |account: &Account| account.id.as_str(),
        line: account_line,
    };
    super::report_lookup(options, &report, ids, &response.accounts)
}

fn account_line(account: &Account) -> String {
    format!(
        "account {} ledger={} code={} flags={} status={} debits_posted={} credits_posted={} \
         debits_pending={} credits_pending={} credit_line={} user_data={} timestamp={} \
         controls_version={}",
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
        account.timestamp,
        account.controls_version
    )
}
