//! [`run`]: every loop of the worker on the caller's task — per bank the payout loop, the
//! collections poller and the payout census (counts by state, oldest non-final age); once the
//! low-balance watch; and, when the configuration has `[callbacks]`, the callback desk
//! ([`crate::callbacks`]) with its HTTP listener — until `shutdown` resolves, then each loop
//! stops starting work.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use tianping_bank_adapters::gateway::BankGateway;
use tianping_client::{Client, ClientConfig, PayoutQuery, PayoutState};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::callbacks::{CallbackDesk, ClaimDesk, callback_loop, inbox};
use crate::clock;
use crate::collections_poller::collections_loop;
use crate::config::{CallbacksConfig, WorkerConfig};
use crate::low_balance::{Crossing, LowBalanceState, available_balance};
use crate::metrics::WorkerMetrics;
use crate::payout_worker::{BankContext, payout_loop};

/// How often the watched accounts are read.
pub const LOW_BALANCE_INTERVAL: Duration = Duration::from_secs(10);

/// How often each bank's non-final payouts are counted.
pub const CENSUS_INTERVAL: Duration = Duration::from_secs(15);

/// Most payouts counted per state and census (one page): beyond it the gauge saturates.
pub const CENSUS_PAGE_MAX: usize = 1_024;

/// Why the worker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A configured bank has no gateway.
    #[error("bank {bank} is configured but has no gateway")]
    MissingGateway {
        /// The bank.
        bank: u32,
    },
    /// The SDK refused its configuration.
    #[error("cluster client: {0}")]
    Client(#[from] tianping_client::Error),
    /// The callback listener could not be bound (or its address written).
    #[error("callbacks: {0}")]
    Callbacks(String),
}

/// Runs the worker until `shutdown` resolves. `gateways` holds one gateway per configured
/// bank (built by the caller from its own key and transport settings; one type, so a caller
/// with several protocols passes an enum over them). `metrics` is what the binary serves.
pub async fn run<G: BankGateway>(
    config: WorkerConfig,
    gateways: BTreeMap<u32, G>,
    metrics: &WorkerMetrics,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    for bank in &config.banks {
        if !gateways.contains_key(&bank.bank()) {
            return Err(RunError::MissingGateway { bank: bank.bank() });
        }
    }
    let mut client_config = ClientConfig::new(config.cluster.iter().cloned());
    client_config.request_id_prefix = format!("bank-worker-{}", config.worker_id);
    client_config.tls = config.tls.clone();
    let client = Client::new(client_config)?;
    // One token for every loop and claim: its waiters wake in the order they waited, so the
    // simulation replays a stop exactly (a tokio `watch` draws its wake order unseeded).
    let stop = CancellationToken::new();
    let origin = Instant::now();
    let claims = ClaimDesk::default();
    let desk = CallbackDesk::new(&client, &config.banks, &gateways, &claims, metrics);
    let (callbacks, requests) = inbox();
    if let Some(callbacks_config) = &config.callbacks {
        let banks: Vec<u32> = desk.banks().collect();
        listen(callbacks_config, callbacks, &banks, stop.clone()).await?;
    } else {
        drop(callbacks);
    }
    let contexts: Vec<BankContext<'_, G, Client>> = config
        .banks
        .iter()
        .filter_map(|bank| {
            Some(BankContext {
                ledger: &client,
                gateway: gateways.get(&bank.bank())?,
                claims: &claims,
                bank,
                metrics,
                worker_id: config.worker_id,
                lease_ms: config.lease_ms,
                origin,
                stop: stop.clone(),
            })
        })
        .collect();
    let mut loops: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>> = Vec::new();
    for context in &contexts {
        loops.push(Box::pin(payout_loop(context, config.claim_batch)));
        loops.push(Box::pin(collections_loop(context)));
        loops.push(Box::pin(census_loop(&client, context.bank.bank(), metrics, stop.clone())));
    }
    loops.push(Box::pin(low_balance_loop(&client, &config, metrics, stop.clone())));
    loops.push(Box::pin(callback_loop(&desk, requests, stop.clone())));
    tracing::info!(worker_id = config.worker_id, banks = config.banks.len(), "bank worker started");
    let signal = async {
        shutdown.await;
        tracing::info!("bank worker stopping");
        stop.cancel();
    };
    tokio::join!(join_all(loops), signal);
    Ok(())
}

/// Binds the callback listener of `config` and serves it until the stop signal; logs the
/// bound address and writes it to `bound_address_file` when one is named.
#[cfg(not(madsim))]
async fn listen(
    config: &CallbacksConfig,
    callbacks: crate::callbacks::CallbackInbox,
    banks: &[u32],
    stop: CancellationToken,
) -> Result<(), RunError> {
    let listener = crate::callback_server::CallbackListener::bind(config.listen)
        .await
        .map_err(|error| RunError::Callbacks(format!("binding {}: {error}", config.listen)))?;
    let address = listener.local_addr();
    if let Some(path) = &config.bound_address_file {
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, address.to_string())
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|error| RunError::Callbacks(format!("{}: {error}", path.display())))?;
    }
    tracing::info!(%address, ?banks, "bank callbacks served at http://{address}/callbacks/{{bank}}");
    drop(crate::callback_server::serve(listener, callbacks, stop));
    Ok(())
}

/// Under the simulation there is no socket to bind: a configuration asking for a callback
/// listener is refused rather than silently served by polling alone.
#[cfg(madsim)]
async fn listen(
    config: &CallbacksConfig,
    _callbacks: crate::callbacks::CallbackInbox,
    _banks: &[u32],
    _stop: CancellationToken,
) -> Result<(), RunError> {
    Err(RunError::Callbacks(format!(
        "no listener on {} under the simulation: leave [callbacks] out",
        config.listen
    )))
}

/// Sleeps `delay` or until the stop signal; true when stopping.
async fn pause(stop: &CancellationToken, delay: Duration) -> bool {
    if stop.is_cancelled() {
        return true;
    }
    // Biased (fixed order), so a simulated seed replays.
    tokio::select! {
        biased;
        () = stop.cancelled() => {}
        () = tokio::time::sleep(delay) => {}
    }
    stop.is_cancelled()
}

async fn census_loop(client: &Client, bank: u32, metrics: &WorkerMetrics, stop: CancellationToken) {
    let states =
        [PayoutState::Reserved, PayoutState::Claimed, PayoutState::Sent, PayoutState::Unknown];
    loop {
        let mut oldest: Option<u64> = None;
        for state in states {
            let query = PayoutQuery { state, bank: Some(bank), limit: CENSUS_PAGE_MAX };
            match client.list_payouts(&query, None).await {
                Ok(page) => {
                    metrics.payouts_in_state(bank, state.name(), page.items.len());
                    let created = page.items.iter().map(|payout| payout.created_at).min();
                    oldest = match (oldest, created) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                Err(error) => tracing::warn!(bank, %error, "payout census failed"),
            }
        }
        let age_ns = oldest.map_or(0, |created_at| clock::unix_ns().saturating_sub(created_at));
        metrics.oldest_non_final(bank, Duration::from_nanos(age_ns));
        if pause(&stop, CENSUS_INTERVAL).await {
            return;
        }
    }
}

async fn low_balance_loop(
    client: &Client,
    config: &WorkerConfig,
    metrics: &WorkerMetrics,
    stop: CancellationToken,
) {
    if config.low_balance.is_empty() {
        return;
    }
    let ids: Vec<u128> = config.low_balance.iter().map(|watch| watch.account_id).collect();
    let mut states = vec![LowBalanceState::default(); config.low_balance.len()];
    loop {
        match client.lookup_accounts(&ids).await {
            Ok(accounts) => {
                for (watch, state) in config.low_balance.iter().zip(states.iter_mut()) {
                    let Some(account) = accounts.iter().find(|a| a.id == watch.account_id) else {
                        tracing::warn!(account = %watch.name, "watched account not found");
                        continue;
                    };
                    let available = match available_balance(account) {
                        Ok(available) => available,
                        Err(error) => {
                            tracing::error!(account = %watch.name, %error, "balance unreadable");
                            continue;
                        }
                    };
                    let crossing = state.observe(available, watch.threshold);
                    metrics.balance(&watch.name, available, state.is_low());
                    match crossing {
                        Some(Crossing::Fell) => tracing::warn!(
                            account = %watch.name,
                            account_id = watch.account_id,
                            available,
                            threshold = watch.threshold,
                            "low balance: payouts from this account may be refused soon"
                        ),
                        Some(Crossing::Recovered) => tracing::info!(
                            account = %watch.name,
                            available,
                            threshold = watch.threshold,
                            "balance recovered above the threshold"
                        ),
                        None => {}
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "low-balance watch could not read accounts"),
        }
        if pause(&stop, LOW_BALANCE_INTERVAL).await {
            return;
        }
    }
}
