//! `tianping account block|unblock|freeze|close|limits|audit`: the risk desk's commands.
//! Every change carries a reason and an actor and leaves an audit record in the replicated
//! ledger; `audit` reads those records back. Every change also carries an id (a retry answers
//! `exists`) and the account's controls version it was decided on: if someone else changed
//! the account's status or limits in between, it is refused `controls_version_stale` and
//! changes nothing, so an old decision never overwrites a newer one.

use serde_json::json;
use tianping_client::AccountStatus;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
    AccountLimits, AccountLimitsChange, AccountStatusChange, AuditRecord, AuditRecordsRequest,
    CreateEventsResponse, LookupRequest, SetAccountLimitsRequest, SetAccountStatusRequest,
    audit_record,
};
use tonic::transport::Channel;

use super::GlobalOptions;

/// Who a change is recorded as when `--actor` is not given: the operating-system user.
pub(super) fn default_actor() -> String {
    std::env::var("USER").map_or_else(|_| "operator".to_owned(), |user| format!("operator:{user}"))
}

/// The reason and actor every control command takes.
#[derive(Debug, clap::Args)]
pub struct Why {
    /// Why (required, at most 256 bytes): kept in the account's audit record.
    #[arg(long)]
    reason: String,
    /// Who (at most 256 bytes). Default: `operator:$USER`.
    #[arg(long)]
    actor: Option<String>,
}

impl Why {
    fn actor(&self) -> String {
        self.actor.clone().unwrap_or_else(default_actor)
    }
}

/// Which change this is and what it was decided on.
#[derive(Debug, clap::Args)]
pub struct Decision {
    /// The change's id (u128, decimal, not 0): sending the same id again answers `exists`
    /// instead of changing anything twice. Default: a fresh random id, printed with the
    /// result so the change can be retried by hand.
    #[arg(long, value_name = "ID")]
    change_id: Option<u128>,
    /// The account's controls version this change is decided on (`tianping account lookup`
    /// shows it as controls_version). Default: the version read just before sending; if the
    /// account's status or limits change in between, the change is refused
    /// controls_version_stale.
    #[arg(long, value_name = "VERSION")]
    expected_version: Option<u64>,
}

impl Decision {
    /// The change id to send.
    fn change_id(&self) -> anyhow::Result<u128> {
        if let Some(id) = self.change_id {
            return Ok(id);
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|error| anyhow::anyhow!("no randomness for a change id: {error}"))?;
        // Never 0 or u128::MAX, which the ledger refuses as ids.
        Ok(u128::from_le_bytes(bytes).clamp(1, u128::MAX - 1))
    }

    /// The expected controls version: given, or the account's version read now.
    async fn expected_version(
        &self,
        address: &str,
        client: &LedgerClient<Channel>,
        account_id: u128,
    ) -> anyhow::Result<u64> {
        if let Some(version) = self.expected_version {
            return Ok(version);
        }
        let request = LookupRequest { ids: vec![account_id.to_string()], read: None };
        let response = super::request(address, || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.lookup_accounts(request).await }
        })
        .await?;
        let wanted = account_id.to_string();
        match response.accounts.iter().find(|account| account.id == wanted) {
            Some(account) => Ok(account.controls_version),
            None => anyhow::bail!("account {account_id} not found at {address}"),
        }
    }
}

/// A status change of one account.
#[derive(Debug, clap::Args)]
pub struct StatusChange {
    /// The account id (u128, decimal).
    #[arg(value_name = "ID")]
    id: u128,
    #[command(flatten)]
    why: Why,
    #[command(flatten)]
    decision: Decision,
}

/// `tianping account limits` options.
#[derive(Debug, clap::Args)]
pub struct LimitsChange {
    /// The account id (u128, decimal).
    #[arg(value_name = "ID")]
    id: u128,
    /// Largest single debit, in minor units. Left out: unlimited.
    #[arg(long, value_name = "MINOR_UNITS")]
    per_transfer: Option<u128>,
    /// Largest sum of debits per day, in minor units. Left out: unlimited.
    #[arg(long, value_name = "MINOR_UNITS")]
    per_day_amount: Option<u128>,
    /// Most debits per day. Left out: unlimited.
    #[arg(long, value_name = "COUNT")]
    per_day_count: Option<u32>,
    #[command(flatten)]
    why: Why,
    #[command(flatten)]
    decision: Decision,
}

/// `tianping account audit` options.
#[derive(Debug, clap::Args)]
pub struct AuditQuery {
    /// The account id (u128, decimal); 0 lists every account's records.
    #[arg(value_name = "ID")]
    id: u128,
    /// Most records to print.
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// The status each control command sets, by its one name (`AccountStatus::name`).
pub const fn status_name(control: Control) -> &'static str {
    let status = match control {
        Control::Block => AccountStatus::OutflowBlocked,
        Control::Unblock => AccountStatus::Active,
        Control::Freeze => AccountStatus::Frozen,
        Control::Close => AccountStatus::Closed,
    };
    status.name()
}

/// The four status controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop money leaving (credits still arrive).
    Block,
    /// Back to active.
    Unblock,
    /// Nothing moves.
    Freeze,
    /// Final, at zero balance.
    Close,
}

/// Sends one status change; prints and checks its result.
pub async fn set_status(
    options: &GlobalOptions,
    control: Control,
    change: StatusChange,
) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let client = super::ledger(&address).await?;
    let change_id = change.decision.change_id()?;
    let expected = change.decision.expected_version(&address, &client, change.id).await?;
    let request = SetAccountStatusRequest {
        changes: vec![AccountStatusChange {
            id: change_id.to_string(),
            expected_controls_version: expected,
            account_id: change.id.to_string(),
            status: status_name(control).to_owned(),
            reason: change.why.reason.clone(),
            actor: change.why.actor(),
        }],
    };
    let response = super::request(&address, || {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.set_account_status(request).await }
    })
    .await?;
    let decided = Decided { change_id, expected_version: expected };
    report(options, &address, change.id, Some((status_name(control), decided)), &response)
}

/// The id and the expected version a change was sent with, shown with its result.
#[derive(Clone, Copy, Debug)]
pub(super) struct Decided {
    change_id: u128,
    expected_version: u64,
}

/// Sends one limits change; prints and checks its result.
pub async fn set_limits(options: &GlobalOptions, change: LimitsChange) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let client = super::ledger(&address).await?;
    let change_id = change.decision.change_id()?;
    let expected = change.decision.expected_version(&address, &client, change.id).await?;
    let limits = AccountLimits {
        per_transfer_amount_max: change.per_transfer.map_or_else(String::new, |v| v.to_string()),
        per_day_amount_max: change.per_day_amount.map_or_else(String::new, |v| v.to_string()),
        per_day_count_max: change.per_day_count,
    };
    let request = SetAccountLimitsRequest {
        changes: vec![AccountLimitsChange {
            id: change_id.to_string(),
            expected_controls_version: expected,
            account_id: change.id.to_string(),
            limits: Some(limits),
            reason: change.why.reason.clone(),
            actor: change.why.actor(),
        }],
    };
    let response = super::request(&address, || {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.set_account_limits(request).await }
    })
    .await?;
    let decided = Decided { change_id, expected_version: expected };
    report(options, &address, change.id, Some(("limits", decided)), &response)
}

/// Prints one account event's result — `account ID[ CHANGE]: CODE (timestamp, log index[,
/// change id, expected version])`, or JSON — and fails unless it is `ok` or `exists`. Shared
/// by `account create` (no change) and the controls.
pub(super) fn report(
    options: &GlobalOptions,
    address: &str,
    id: u128,
    change: Option<(&str, Decided)>,
    response: &CreateEventsResponse,
) -> anyhow::Result<()> {
    let result = response
        .results
        .first()
        .ok_or_else(|| anyhow::anyhow!("{address} answered without a result"))?;
    if options.json {
        let mut document = json!({
            "id": id.to_string(),
            "code": result.code,
            "code_name": result.code_name,
            "timestamp": result.timestamp,
            "log_index": response.log_index,
        });
        if let Some((change, decided)) = change {
            document["change"] = json!(change);
            document["change_id"] = json!(decided.change_id.to_string());
            document["expected_controls_version"] = json!(decided.expected_version);
        }
        super::print_json(&document)?;
    } else {
        let (change, decided) = match change {
            Some((change, decided)) => (
                format!(" {change}"),
                format!(
                    ", change id {}, decided on controls version {}",
                    decided.change_id, decided.expected_version
                ),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "account {id}{change}: {} (timestamp {}, log index {}{decided})",
            result.code_name, result.timestamp, response.log_index
        );
    }
    super::transfer::check_result("account", id, result)
}

/// Prints an account's audit records (every account's for id 0), oldest first, following
/// pages until `limit` records are printed or none are left.
pub async fn audit(options: &GlobalOptions, query: AuditQuery) -> anyhow::Result<()> {
    let address = super::resolve_address(options)?;
    let client = super::ledger(&address).await?;
    let mut printed: Vec<AuditRecord> = Vec::new();
    let mut cursor = String::new();
    let wanted = usize::try_from(query.limit).unwrap_or(usize::MAX);
    loop {
        let request = AuditRecordsRequest {
            account_id: if query.id == 0 { String::new() } else { query.id.to_string() },
            timestamp_min: 0,
            limit: 0,
            cursor: cursor.clone(),
            read: None,
        };
        let response = super::request(&address, || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.list_audit_records(request).await }
        })
        .await?;
        printed.extend(response.records.into_iter().take(wanted.saturating_sub(printed.len())));
        if printed.len() >= wanted || response.next_cursor.is_empty() {
            break;
        }
        cursor = response.next_cursor;
    }
    if options.json {
        let records: Vec<serde_json::Value> = printed.iter().map(audit_json).collect();
        return super::print_json(&json!({ "records": records }));
    }
    if printed.is_empty() {
        println!("no audit records");
    }
    for record in &printed {
        println!(
            "{} account {} {} reason={:?} actor={:?}",
            record.timestamp,
            record.account_id,
            change_text(record),
            record.reason,
            record.actor
        );
    }
    Ok(())
}

fn limits_text(limits: Option<&AccountLimits>) -> String {
    let Some(limits) = limits else { return "unlimited".to_owned() };
    if limits.per_transfer_amount_max.is_empty()
        && limits.per_day_amount_max.is_empty()
        && limits.per_day_count_max.is_none()
    {
        return "unlimited".to_owned();
    }
    let or_unlimited =
        |value: &str| if value.is_empty() { "-".to_owned() } else { value.to_owned() };
    format!(
        "per_transfer={} per_day_amount={} per_day_count={}",
        or_unlimited(&limits.per_transfer_amount_max),
        or_unlimited(&limits.per_day_amount_max),
        limits.per_day_count_max.map_or_else(|| "-".to_owned(), |count| count.to_string())
    )
}

fn change_text(record: &AuditRecord) -> String {
    match &record.change {
        Some(audit_record::Change::Status(status)) => {
            format!("status {} -> {}", status.from, status.to)
        }
        Some(audit_record::Change::Limits(limits)) => format!(
            "limits [{}] -> [{}]",
            limits_text(limits.from.as_ref()),
            limits_text(limits.to.as_ref())
        ),
        Some(audit_record::Change::SuspenseAssigned(assignment)) => format!(
            "suspense assigned: {} from bank {} reference {} (assignment {})",
            assignment.amount, assignment.bank, assignment.bank_reference, assignment.assignment_id
        ),
        None => "change not understood by this tianping (newer server?)".to_owned(),
    }
}

fn audit_json(record: &AuditRecord) -> serde_json::Value {
    json!({
        "timestamp": record.timestamp,
        "account_id": record.account_id,
        "change": change_text(record),
        "reason": record.reason,
        "actor": record.actor,
    })
}
