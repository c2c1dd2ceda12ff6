//! The entry points: [`run_once`] (one pass, for `tianping reconcile run`) and [`serve`] (the
//! long-running service), over the SDK and the HTTP gateways; and [`run_once_with`] and
//! [`serve_with`], the same over any ledger and bank sides (the simulation's, a test's).

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::future::join_all;
use tianping_bank_adapters::bank_api::Clock;
use tianping_client::{Client, ClientConfig};

use crate::service::bank_side::BankSide;
use crate::service::config::Config;
use crate::service::ledger_side::LedgerSide;
use crate::service::metrics::ReconcileMetrics;
use crate::service::reconciler::{BankReconciler, Sides};
use crate::service::summary::Summary;

/// Why the reconciler cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A configured bank has no bank side.
    #[error("bank {bank} is configured but has no bank side")]
    MissingBank {
        /// The bank.
        bank: u32,
    },
    /// A configured bank has no `[banks.connection]`, which `serve` and `run_once` need.
    #[error("bank {bank} has no [banks.connection] (protocol, url, keys)")]
    NoConnection {
        /// The bank.
        bank: u32,
    },
    /// A bank's connection could not be set up (a bad URL, keys that do not load).
    #[cfg(not(madsim))]
    #[error(transparent)]
    Connect(#[from] tianping_bank_adapters::connection::ConnectError),
    /// The SDK refused its configuration.
    #[error("cluster client: {0}")]
    Client(#[from] tianping_client::Error),
    /// The matcher refused the lateness.
    #[error("bank {bank}: {source}")]
    Matcher {
        /// The bank.
        bank: u32,
        /// Why.
        source: crate::matcher::ConfigError,
    },
}

/// The SDK client the reconciler of `config` uses: linearizable reads, request ids
/// `recon-<name>-<n>` (the name's letters, digits and `-_.`).
pub fn client(config: &Config) -> Result<Client, ServiceError> {
    let mut client_config = ClientConfig::new(config.cluster.iter().cloned());
    let name: String = config
        .name
        .chars()
        .filter(|character| character.is_ascii_alphanumeric() || "-_.".contains(*character))
        .take(32)
        .collect();
    client_config.request_id_prefix = format!("recon-{name}");
    client_config.tls = config.tls.clone();
    Ok(Client::new(client_config)?)
}

/// One reconciler per configured bank, with its bank side.
fn reconcilers<'a, B: BankSide, C: Clock>(
    config: &Config,
    banks: &'a BTreeMap<u32, B>,
    clock: &C,
) -> Result<Vec<(BankReconciler, &'a B)>, ServiceError> {
    let now_ns = clock.now_unix_ms().saturating_mul(1_000_000);
    config
        .banks
        .iter()
        .map(|bank| {
            let side =
                banks.get(&bank.bank).ok_or(ServiceError::MissingBank { bank: bank.bank })?;
            let reconciler = BankReconciler::new(config, bank, now_ns)
                .map_err(|source| ServiceError::Matcher { bank: bank.bank, source })?;
            Ok((reconciler, side))
        })
        .collect()
}

/// One period of every bank, concurrently (each bank's own periods never overlap).
async fn pass<L: LedgerSide, B: BankSide, C: Clock>(
    reconcilers: &mut [(BankReconciler, &B)],
    ledger: &L,
    clock: &C,
    metrics: &ReconcileMetrics,
) {
    join_all(reconcilers.iter_mut().map(|(reconciler, bank)| async move {
        // A failure is logged and counted by `period`; the next period retries.
        let _failed = reconciler.period(&Sides { ledger, bank: *bank, clock, metrics }).await;
    }))
    .await;
}

/// One pass over every bank with the given sides: catch up, match, check the balance, report.
/// Keys younger than the lateness stay undecided (a pass decides only what is past it).
pub async fn run_once_with<L: LedgerSide, B: BankSide, C: Clock>(
    config: &Config,
    ledger: &L,
    banks: &BTreeMap<u32, B>,
    clock: &C,
    metrics: &ReconcileMetrics,
) -> Result<Summary, ServiceError> {
    let mut reconcilers = reconcilers(config, banks, clock)?;
    pass(&mut reconcilers, ledger, clock, metrics).await;
    Ok(Summary { banks: reconcilers.iter().map(|(reconciler, _)| reconciler.summary()).collect() })
}

/// The service with the given sides, until `shutdown` resolves: every balance period one
/// pass over every bank (`tokio::time::interval`, missed ticks skipped, a pass never
/// overlapping the next). A failed period is logged and counted and retried next period; the
/// service itself never stops for it.
pub async fn serve_with<L: LedgerSide, B: BankSide, C: Clock>(
    config: &Config,
    ledger: &L,
    banks: &BTreeMap<u32, B>,
    clock: &C,
    metrics: &ReconcileMetrics,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let mut reconcilers = reconcilers(config, banks, clock)?;
    tracing::info!(
        name = %config.name,
        banks = reconcilers.len(),
        balance_period_ms = config.balance_period.as_millis(),
        lateness_ms = config.lateness_ns / 1_000_000,
        "reconciler started"
    );
    let mut interval = tokio::time::interval(config.balance_period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = interval.tick() => {}
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = pass(&mut reconcilers, ledger, clock, metrics) => {}
        }
    }
    tracing::info!(name = %config.name, "reconciler stopped");
    Ok(())
}

#[cfg(not(madsim))]
pub use network::{run_once, serve};

#[cfg(not(madsim))]
mod network {
    use std::collections::BTreeMap;
    use std::future::Future;

    use tianping_bank_adapters::bank_api::SystemClock;
    use tianping_bank_adapters::connection::{NetworkGateway, connect};

    use super::{ServiceError, client, run_once_with, serve_with};
    use crate::service::bank_side::GatewayBank;
    use crate::service::config::Config;
    use crate::service::metrics::ReconcileMetrics;
    use crate::service::summary::Summary;

    /// Every bank's HTTP gateway, from its `[banks.connection]`.
    fn gateways(
        config: &Config,
    ) -> Result<BTreeMap<u32, GatewayBank<NetworkGateway>>, ServiceError> {
        let mut gateways = BTreeMap::new();
        for bank in &config.banks {
            let connection =
                bank.connection.as_ref().ok_or(ServiceError::NoConnection { bank: bank.bank })?;
            let gateway = connect(bank.bank, connection, &config.base_directory)?;
            gateways.insert(bank.bank, GatewayBank(gateway));
        }
        Ok(gateways)
    }

    /// `tianping reconcile run`: one pass over every bank of `config` through the cluster and
    /// the banks' HTTP APIs; findings are recorded as discrepancies. The caller prints the
    /// summary and exits non-zero unless [`Summary::is_clean`].
    pub async fn run_once(config: &Config) -> Result<Summary, ServiceError> {
        let ledger = client(config)?;
        let banks = gateways(config)?;
        run_once_with(config, &ledger, &banks, &SystemClock, &ReconcileMetrics::new()).await
    }

    /// The reconciler service of `config` until `shutdown` resolves (Ctrl-C in the binary),
    /// recording into `metrics` (which the binary serves on `--metrics-address`).
    pub async fn serve(
        config: &Config,
        metrics: &ReconcileMetrics,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServiceError> {
        let ledger = client(config)?;
        let banks = gateways(config)?;
        serve_with(config, &ledger, &banks, &SystemClock, metrics, shutdown).await
    }
}
