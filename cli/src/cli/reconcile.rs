//! `tianping reconcile run|serve|report|resolve`: the reconciler (over
//! `tianping_reconcile::service`) and what an operator reads and does about its findings (over
//! `tianping_reconcile::report` and the SDK).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tianping_client::{DiscrepancyQuery, ResolveDiscrepancy, ResultCode};
use tianping_reconcile::report::{
    AccountState, AmountStyle, Period, ReportBuilder, ReportHeader, TableOptions, Width,
    render_html, render_table, report_json,
};
use tianping_reconcile::service::{Config, ReconcileMetrics};

use super::{GlobalOptions, resolve_address};

/// Most account ids one lookup asks for while a report collects the accounts it names.
const LOOKUP_BATCH: usize = 1_000;

/// `tianping reconcile …`.
#[derive(Debug, clap::Subcommand)]
pub enum ReconcileCommand {
    /// One reconciliation pass over every configured bank, then exit.
    ///
    /// Reads the ledger's movements of each bank and the bank's statements, matches them
    /// (对账), checks the balance (账证核对) and records every difference as a discrepancy,
    /// which outflow-blocks the accounts involved. Prints a summary per bank.
    ///
    ///   tianping reconcile run --config bank-adapters/worker/reconciler.example.toml
    ///
    /// Exit status: 0 when nothing differs, 1 when a difference was found or a bank could
    /// not be read.
    #[command(verbatim_doc_comment)]
    Run {
        /// The reconciler's TOML file (documented example:
        /// bank-adapters/worker/reconciler.example.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the reconciler until Ctrl-C: a balance check every period, matching continuously.
    ///
    /// One per data center; two at once are safe (the same difference is recorded once).
    ///
    ///   tianping reconcile serve --config reconciler.toml --metrics-address 127.0.0.1:9500
    #[command(verbatim_doc_comment)]
    Serve {
        /// The reconciler's TOML file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Serve Prometheus metrics (GET /metrics) here: findings by class, matched, in
        /// flight, window items, last balance check, failed periods, per bank.
        #[arg(long, value_name = "HOST:PORT")]
        metrics_address: Option<SocketAddr>,
    },
    /// Show the discrepancies of a period: a table, JSON (--json) or an HTML page (--html).
    ///
    /// Lists every discrepancy open at any moment of the period, the accounts they hold and
    /// their status, counts by class, and (HTML) plots of discrepancies over time.
    ///
    ///   tianping reconcile report --since 1h
    ///   tianping reconcile report --since 7d --html report.html
    ///
    /// Exit status: 0, also when discrepancies are open (they are the report's content).
    #[command(verbatim_doc_comment)]
    Report {
        /// How far back the period starts (e.g. 15m, 1h, 7d). It ends now.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        since: Duration,
        /// Write a self-contained HTML report to this file (no network needed to view it).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Full discrepancy ids and references instead of a terminal's width.
        #[arg(long)]
        wide: bool,
    },
    /// Resolve a discrepancy: an operator explains it, and the outflow blocks it set are
    /// lifted on accounts no other open discrepancy holds. Audited.
    ///
    ///   tianping reconcile resolve 65245921 --reason "bank rebooked the entry, ticket 812"
    #[command(verbatim_doc_comment)]
    Resolve {
        /// The discrepancy id (u128, decimal, as `report --wide` shows it).
        #[arg(value_name = "ID")]
        id: u128,
        /// Why it may close (required, at most 256 bytes).
        #[arg(long)]
        reason: String,
        /// Who (at most 256 bytes). Default: `operator:$USER`.
        #[arg(long)]
        actor: Option<String>,
    },
}

/// Runs one `tianping reconcile` command.
pub async fn run(options: &GlobalOptions, command: ReconcileCommand) -> anyhow::Result<()> {
    match command {
        ReconcileCommand::Run { config } => {
            let config = load(&config)?;
            let summary =
                tianping_reconcile::service::run_once(&config).await.context("reconciling")?;
            print!("{summary}");
            if summary.is_clean() {
                Ok(())
            } else {
                anyhow::bail!("the ledger and the banks differ, or a bank could not be read")
            }
        }
        ReconcileCommand::Serve { config, metrics_address } => {
            let config = load(&config)?;
            let metrics = Arc::new(ReconcileMetrics::new());
            if let Some(address) = metrics_address {
                let bound = super::bank::serve_metrics(address, Arc::clone(&metrics), |metrics| {
                    metrics.registry()
                })
                .await?;
                println!("reconcile: metrics at http://{bound}/metrics");
            }
            println!(
                "reconcile: {} reconciling {} bank(s); Ctrl-C stops",
                config.name,
                config.banks.len()
            );
            tianping_reconcile::service::serve(&config, &metrics, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("reconciler")?;
            println!("reconcile: stopped");
            Ok(())
        }
        ReconcileCommand::Report { since, html, wide } => report(options, since, html, wide).await,
        ReconcileCommand::Resolve { id, reason, actor } => {
            let client = super::sdk_client(options)?;
            let actor = actor.unwrap_or_else(super::account_controls::default_actor);
            let results =
                client.resolve_discrepancies(&[ResolveDiscrepancy { id, reason, actor }]).await?;
            let result = results.first().context("the cluster answered no result")?;
            let name = tianping_proto::convert::result_code_name(result.code);
            println!("discrepancy {id}: {name}");
            match result.code {
                ResultCode::Ok | ResultCode::Exists => Ok(()),
                _ => anyhow::bail!("discrepancy {id} was not resolved: {name}"),
            }
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| format!("loading {}", path.display()))
}

fn now_ns() -> anyhow::Result<u64> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).context("the clock")?;
    u64::try_from(since_epoch.as_nanos()).context("the clock is past 2554")
}

/// Fetches every discrepancy (a report of a period needs the ones recorded before it that
/// were still open in it) and the accounts they hold, then renders.
async fn report(
    options: &GlobalOptions,
    since: Duration,
    html: Option<PathBuf>,
    wide: bool,
) -> anyhow::Result<()> {
    let client = super::sdk_client(options)?;
    let now = now_ns()?;
    let since_ns = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
    let period = Period::new(now.saturating_sub(since_ns), now).context("the period")?;
    let header = ReportHeader {
        period,
        generated_at: now,
        cluster: resolve_address(options)?,
        reconcilers: Vec::new(),
    };
    let mut builder = ReportBuilder::new(header).context("the report")?;
    let query = DiscrepancyQuery::default();
    let mut cursor = None;
    loop {
        let page = client.list_discrepancies(&query, cursor.as_ref()).await?;
        for discrepancy in &page.items {
            builder.add(discrepancy).context("the report")?;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let held: Vec<u128> = builder.held_account_ids().collect();
    let mut accounts = Vec::with_capacity(held.len());
    for ids in held.chunks(LOOKUP_BATCH) {
        let found = client.lookup_accounts(ids).await?;
        accounts.extend(found.iter().map(AccountState::from));
    }
    let report = builder.finish(&accounts).context("the report")?;
    if let Some(path) = &html {
        std::fs::write(path, render_html(&report, AmountStyle::MinorUnits))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("reconcile: HTML report written to {}", path.display());
    }
    if options.json {
        super::print_json(&report_json(&report, AmountStyle::MinorUnits))
    } else {
        let width = if wide { Width::Wide } else { Width::Narrow };
        print!(
            "{}",
            render_table(&report, &TableOptions { width, amounts: AmountStyle::MinorUnits })
        );
        Ok(())
    }
}
