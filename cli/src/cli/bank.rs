//! `tianping bank-sim` and `tianping bank-worker`: the simulated banks and the worker process
//! between the ledger's payout outbox and the banks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tianping_bank_adapters::connection::connect;
use tianping_bank_adapters::keys::SignScheme;
use tianping_bank_sim::config::{SimConfig, generate_dev_keys};
use tianping_bank_worker::{WorkerConfig, WorkerMetrics};

/// `tianping bank-sim` options.
#[derive(Debug, clap::Args)]
pub struct BankSimOptions {
    /// The simulator's TOML file: its banks (ISO 20022 or direct-connect), their accounts and
    /// opening balances, scheduled incoming credits and faults. A documented example is
    /// bank-adapters/sim/bank-sim.example.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Where to serve, HOST:PORT (port 0: any free port, printed and written to
    /// --bound-address-file).
    #[arg(long, default_value = "127.0.0.1:7400", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// First write a throwaway SM2 key set for every direct-connect bank that has none yet,
    /// under keys/{bank id}/ beside the configuration (where the example's paths point).
    /// For development only: the keys are fresh randomness, never for real use.
    #[arg(long)]
    generate_dev_keys: bool,
    /// Once serving, write the bound address (HOST:PORT) to this file, for supervisors.
    #[arg(long, value_name = "FILE")]
    bound_address_file: Option<PathBuf>,
}

/// Runs the bank simulator until Ctrl-C.
pub async fn bank_sim(options: BankSimOptions) -> anyhow::Result<()> {
    if options.generate_dev_keys {
        let text = std::fs::read_to_string(&options.config)
            .with_context(|| format!("reading {}", options.config.display()))?;
        let config: SimConfig = toml::from_str(&text)
            .with_context(|| format!("parsing {}", options.config.display()))?;
        let keys = config_directory(&options.config).join("keys");
        let missing: Vec<(&str, SignScheme)> = config
            .banks
            .iter()
            .filter(|bank| bank.direct.is_some() && !keys.join(&bank.id).exists())
            .map(|bank| (bank.id.as_str(), SignScheme::Sm2Sm3))
            .collect();
        if !missing.is_empty() {
            generate_dev_keys(&keys, &missing).context("writing dev keys")?;
            for (bank, _) in &missing {
                println!(
                    "bank-sim: wrote throwaway SM2 dev keys for {bank} under {}",
                    keys.display()
                );
            }
        }
    }
    let config = SimConfig::load(&options.config)
        .with_context(|| format!("loading {}", options.config.display()))?;
    let server = tianping_bank_sim::server::serve(&config, options.listen, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("starting the bank simulator")?;
    let address = server.local_addr();
    for bank in &config.banks {
        println!("bank-sim: {} ({:?}) at {}", bank.id, bank.protocol, server.bank_url(&bank.id));
    }
    println!("bank-sim: admin at http://{address}/banks/{{id}}/admin/…; Ctrl-C stops");
    if let Some(path) = &options.bound_address_file {
        write_atomically(path, &address.to_string())?;
    }
    server.wait().await.context("bank simulator")?;
    println!("bank-sim: stopped");
    Ok(())
}

/// `tianping bank-worker` options.
#[derive(Debug, clap::Args)]
pub struct BankWorkerOptions {
    /// The worker's TOML file: the cluster's addresses, this worker's id, lease and batch,
    /// and per bank the ledger accounts it uses and `[banks.connection]` (where the bank is,
    /// its protocol, keys). A documented example is
    /// bank-adapters/worker/bank-worker.example.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Serve Prometheus metrics (GET /metrics) on this address: per bank and direction the
    /// outcomes, success rate inputs, payouts by state, oldest non-final payout, gateway
    /// errors (signatures among them), bank latency, low-balance alerts.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_address: Option<SocketAddr>,
}

/// Runs one bank worker until Ctrl-C.
pub async fn bank_worker(options: BankWorkerOptions) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&options.config)
        .with_context(|| format!("reading {}", options.config.display()))?;
    let config = WorkerConfig::from_toml(&text)
        .with_context(|| format!("loading {}", options.config.display()))?;
    let base = config_directory(&options.config);
    let mut gateways = BTreeMap::new();
    for bank in &config.banks {
        let connection = bank.connection.as_ref().with_context(|| {
            format!(
                "bank {} has no [banks.connection] (protocol, url, keys) in {}",
                bank.bank(),
                options.config.display()
            )
        })?;
        println!(
            "bank-worker: bank {} over {} at {}",
            bank.bank(),
            connection.protocol(),
            connection.url()
        );
        gateways.insert(bank.bank(), connect(bank.bank(), connection, &base)?);
    }
    let metrics = std::sync::Arc::new(WorkerMetrics::new());
    if let Some(address) = options.metrics_address {
        let bound =
            serve_metrics(address, std::sync::Arc::clone(&metrics), WorkerMetrics::registry)
                .await?;
        println!("bank-worker: metrics at http://{bound}/metrics");
    }
    println!(
        "bank-worker: worker {} serving {} bank(s); Ctrl-C stops",
        config.worker_id,
        gateways.len()
    );
    tianping_bank_worker::run(config, gateways, &metrics, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("bank worker")?;
    println!("bank-worker: stopped");
    Ok(())
}

/// Serves the worker's registry as Prometheus text on `GET /metrics`.
pub(super) async fn serve_metrics<M: Send + Sync + 'static>(
    address: SocketAddr,
    metrics: std::sync::Arc<M>,
    registry: fn(&M) -> &prometheus_client::registry::Registry,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics address {address}"))?;
    let bound = listener.local_addr()?;
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = std::sync::Arc::clone(&metrics);
            async move {
                let mut text = String::new();
                match prometheus_client::encoding::text::encode(&mut text, registry(&metrics)) {
                    Ok(()) => (axum::http::StatusCode::OK, text),
                    Err(error) => {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
                    }
                }
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the metrics server stopped");
        }
    });
    Ok(bound)
}

fn config_directory(path: &Path) -> PathBuf {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader never sees half.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// `tianping bank-fault` options.
#[derive(Debug, clap::Args)]
pub struct BankFaultOptions {
    /// The payout the bank is to mishandle (its id is its end-to-end id at the bank).
    #[arg(long, value_name = "ID")]
    payout: u128,
    /// The simulated bank's id (`iso-a`, `direct-b` under `cargo xtask up`).
    #[arg(long, value_name = "BANK_ID")]
    bank: String,
    /// The bank simulator, http://HOST:PORT. Default: the one `tianping dev up` started
    /// (read from tianping-dev/banks/bank-sim.address, or under $TIANPING_DEV_DATA_DIR).
    #[arg(long, value_name = "URL")]
    sim: Option<String>,
    /// The faults, comma-separated, as the simulator's x-bank-sim-fault header spells them.
    /// Booking errors reconciliation must catch: drop-booking, execute-report-rejected,
    /// amount-off=N, execute-twice, return-unnotified=MS. Errors a correct worker survives:
    /// timeout-before-execute, timeout-after-execute, reject=CODE, answer-late=MS, pending=MS,
    /// pending-reject=MS, lose-answer, duplicate-notification, reorder-notification,
    /// lose-notification, return=MS, bad-signature.
    #[arg(value_name = "FAULTS")]
    faults: String,
}

/// The address `tianping dev up`'s bank simulator wrote, as a URL.
fn dev_bank_sim_url() -> anyhow::Result<String> {
    let data_dir = std::env::var_os("TIANPING_DEV_DATA_DIR")
        .map_or_else(|| PathBuf::from("tianping-dev"), PathBuf::from);
    let path = data_dir.join("banks").join("bank-sim.address");
    let address = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no bank simulator address: pass --sim http://HOST:PORT, or start one with \
             `cargo xtask up` ({} could not be read)",
            path.display()
        )
    })?;
    Ok(format!("http://{}", address.trim()))
}

/// Tells the bank simulator what to do wrong with one payout, before it is sent.
pub async fn bank_fault(options: BankFaultOptions) -> anyhow::Result<()> {
    let faults = tianping_bank_sim::faults::parse_fault_header(&options.faults)
        .context("reading the faults")?;
    let end_to_end_id = tianping_bank_adapters::gateway::EndToEndId::from_payout_id(options.payout)
        .map_err(|error| {
            anyhow::anyhow!("payout {} has no end-to-end id: {error}", options.payout)
        })?;
    let sim = match options.sim {
        Some(sim) => sim,
        None => dev_bank_sim_url()?,
    };
    tianping_bank_sim::admin::client::send_directive(&sim, &options.bank, &end_to_end_id, &faults)
        .await
        .with_context(|| format!("telling {} at {sim}", options.bank))?;
    println!(
        "bank-fault: {} will mishandle payout {} ({}) the next time it is sent",
        options.bank, options.payout, options.faults
    );
    Ok(())
}
