//! The operator and client commands of `tianping`: `account`, `transfer`, `cluster` and
//! `payout` (over the SDK), and the bank processes `bank-sim` and `bank-worker`
//! (and `node`'s configuration from file, flags and environment). Each
//! talks to one node's client API over gRPC (any node: writes and membership changes are
//! forwarded to the leader by the node).
//!
//! Shared here: the global options (`--addr`, `--json`), finding the node to talk to (the
//! `--addr` flag or `TIANPING_ADDR`, else node 1 of a local `tianping dev up` cluster), and
//! turning gRPC failures into one clear line. Every command returns an `anyhow::Error`
//! instead of panicking; `main` prints it and exits non-zero.
//!
//! These commands speak the wire crate's generated clients rather than the Rust SDK
//! (`tianping-client`): they print what one addressed node answered — the log index of a
//! create, the addressed replica's reads, the admin API — which the SDK, built to hide which
//! node answers, does not return.

pub mod account;
pub mod account_controls;
pub mod bank;
pub mod cluster;
pub mod cluster_init;
pub mod collections;
pub mod drill;
pub mod feed;
pub mod health;
pub mod node;
pub mod payout;
pub mod reconcile;
pub mod transfer;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tianping_client::TlsFiles;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_tls::Channels;
use tonic::transport::Channel;

/// Longest a command waits to connect to a node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest one request may take (membership changes wait for commits).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Attempts of a request the cluster answers UNAVAILABLE (no leader yet, leadership moving).
/// Safe to repeat: writes carry client-chosen ids, membership changes are idempotent.
const UNAVAILABLE_ATTEMPTS: usize = 5;
const UNAVAILABLE_PAUSE: Duration = Duration::from_millis(400);

/// Options every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOptions {
    /// A node's client API address, HOST:PORT. Any node will do. Default: node 1 of the local
    /// `tianping dev up` cluster (read from tianping-dev/node-1/addresses.toml, or from
    /// $TIANPING_DEV_DATA_DIR/node-1/addresses.toml).
    #[arg(long, global = true, env = "TIANPING_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Print machine-readable JSON (one document on standard output) instead of lines.
    #[arg(long, global = true)]
    pub json: bool,
    /// Mutual TLS: the CA bundle (PEM) that signs the other side's certificates. With --cert
    /// and --key. Default for client commands: the local `dev up` cluster's certificates
    /// (tianping-dev/certs, or $TIANPING_DEV_DATA_DIR/certs) when they exist. For
    /// `tianping node`: the node's own files (overriding `[tls]` of its config).
    #[arg(long, global = true, env = "TIANPING_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Mutual TLS: this party's certificate (PEM): a client certificate for client commands,
    /// the node certificate for `tianping node`.
    #[arg(long, global = true, env = "TIANPING_CERT", value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Mutual TLS: this party's private key (PEM, keep it 0600).
    #[arg(long, global = true, env = "TIANPING_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Plaintext, no certificates: for client commands, to talk to nodes started with
    /// --insecure; for `tianping node` and `tianping dev up`, to serve plaintext on purpose
    /// (the node warns at start; anyone who reaches its ports can call it).
    #[arg(long, global = true, env = "TIANPING_INSECURE")]
    pub insecure: bool,
}

impl GlobalOptions {
    /// The TLS files given as flags (or variables): all three, or none (`None`); one or two
    /// of them is an error naming the missing flags.
    pub fn tls_flags(&self) -> anyhow::Result<Option<TlsFiles>> {
        match (&self.ca, &self.cert, &self.key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => {
                Ok(Some(TlsFiles { ca: ca.clone(), cert: cert.clone(), key: key.clone() }))
            }
            (ca, cert, key) => {
                let missing: Vec<&str> = [("--ca", ca), ("--cert", cert), ("--key", key)]
                    .into_iter()
                    .filter(|(_, given)| given.is_none())
                    .map(|(flag, _)| flag)
                    .collect();
                Err(anyhow::anyhow!(
                    "TLS needs --ca, --cert and --key together (or TIANPING_CA, TIANPING_CERT, \
                     TIANPING_KEY); missing {}",
                    missing.join(" and ")
                ))
            }
        }
    }

    /// What a client command secures its connections with: none under `--insecure`; the
    /// files given; else the local dev cluster's operator certificate; else an error saying
    /// what to pass.
    pub fn client_tls(&self) -> anyhow::Result<Option<TlsFiles>> {
        if self.insecure {
            if self.tls_flags()?.is_some() {
                anyhow::bail!("--insecure and --ca/--cert/--key together: choose one");
            }
            return Ok(None);
        }
        if let Some(files) = self.tls_flags()? {
            return Ok(Some(files));
        }
        let data_dir = dev_data_dir();
        match tianping_supervisor::cluster::operator_files(&data_dir) {
            Some(files) => Ok(Some(files)),
            None => Err(anyhow::anyhow!(
                "no client certificate: pass --ca, --cert and --key (or set TIANPING_CA, \
                 TIANPING_CERT, TIANPING_KEY; `tianping certs dev --out DIR` makes local ones), \
                 or --insecure for nodes started with --insecure (no local dev cluster \
                 certificates in {})",
                data_dir.join(tianping_supervisor::cluster::CERTS_DIR).display()
            )),
        }
    }

    /// Channels secured as `client_tls` says (the files loaded now, so a missing or
    /// unusable one is reported before any call).
    pub fn channels(&self) -> anyhow::Result<Channels> {
        Channels::from_files(self.client_tls()?.as_ref()).context("TLS")
    }
}

/// The security every client command of this process uses, set once by `main`.
static SECURITY: std::sync::OnceLock<GlobalOptions> = std::sync::OnceLock::new();

/// Records the global options whose TLS flags every connection of this process uses.
pub fn set_global_options(options: &GlobalOptions) {
    let _ = SECURITY.set(options.clone());
}

/// The channels of this process's client commands (plaintext only under `--insecure`).
fn channels() -> anyhow::Result<Channels> {
    match SECURITY.get() {
        Some(options) => options.channels(),
        None => Err(anyhow::anyhow!("internal: the global options were not recorded")),
    }
}

/// The local dev cluster's data directory: `$TIANPING_DEV_DATA_DIR`, else `tianping-dev`.
fn dev_data_dir() -> PathBuf {
    std::env::var_os("TIANPING_DEV_DATA_DIR")
        .map_or_else(|| PathBuf::from("tianping-dev"), PathBuf::from)
}

/// The SDK client of the node `resolve_address` names: it finds and follows the leader from
/// there, with the SDK's one retry policy.
pub fn sdk_client(options: &GlobalOptions) -> anyhow::Result<tianping_client::Client> {
    let address = resolve_address(options)?;
    let mut config = tianping_client::ClientConfig::new([address]);
    config.tls = options.client_tls()?;
    tianping_client::Client::new(config).context("cluster client")
}

/// The node address to use, saying on standard error when it came from the dev cluster.
pub fn resolve_address(options: &GlobalOptions) -> anyhow::Result<String> {
    if let Some(address) = &options.addr {
        return Ok(address.clone());
    }
    let data_dir = dev_data_dir();
    let path = data_dir.join("node-1").join(tianping_supervisor::ADDRESSES_FILE);
    let unreadable = |reason: String| {
        anyhow::anyhow!(
            "no node address: pass --addr HOST:PORT (or set TIANPING_ADDR), or start a local \
             cluster with `tianping dev up` ({} could not be read: {reason})",
            path.display()
        )
    };
    let addresses = match tianping_supervisor::BoundAddresses::read(&path) {
        Ok(Some(addresses)) => addresses,
        Ok(None) => return Err(unreadable("there is no such file".to_owned())),
        Err(tianping_supervisor::SupervisorError::File { source, .. }) => {
            return Err(unreadable(source.to_string()));
        }
        Err(error) => return Err(error.into()),
    };
    eprintln!(
        "tianping: no --addr given; using node 1 of the local dev cluster at {} (from {})",
        addresses.api_address,
        path.display()
    );
    Ok(addresses.api_address)
}

/// A channel to `address` (`HOST:PORT`), connected now so an unreachable node is reported
/// as such rather than as a failed request.
pub async fn connect(address: &str) -> anyhow::Result<Channel> {
    let channels = channels()?;
    let endpoint = Channels::endpoint(address)
        .map_err(|error| anyhow::anyhow!("{address:?} is not a usable address: {error}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, channels.connect(endpoint)).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(error)) => {
            let cause = std::error::Error::source(&error)
                .map_or_else(String::new, |cause| format!(" ({cause})"));
            Err(anyhow::anyhow!("cannot reach a node at {address}: {error}{cause}"))
        }
        Err(_elapsed) => Err(anyhow::anyhow!(
            "cannot reach a node at {address}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// A ledger client of the node at `address`.
pub async fn ledger(address: &str) -> anyhow::Result<LedgerClient<Channel>> {
    Ok(LedgerClient::new(connect(address).await?))
}

/// An admin client of the node at `address`.
pub async fn admin(address: &str) -> anyhow::Result<AdminClient<Channel>> {
    Ok(AdminClient::new(connect(address).await?))
}

/// One line for a failed request: where, the gRPC code and the server's message.
pub fn status_error(address: &str, status: &tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{address} answered {:?}: {}", status.code(), status.message())
}

/// Runs `call` (a request to `address`) within `REQUEST_TIMEOUT`, repeating it while the
/// cluster answers UNAVAILABLE, at most `UNAVAILABLE_ATTEMPTS` times.
pub async fn request<T, F, Fut>(address: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut attempt = 1;
    loop {
        let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, call()).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                return Err(anyhow::anyhow!(
                    "{address} did not answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ));
            }
        };
        match outcome {
            Ok(response) => return Ok(response.into_inner()),
            Err(status)
                if status.code() == tonic::Code::Unavailable && attempt < UNAVAILABLE_ATTEMPTS =>
            {
                attempt += 1;
                tokio::time::sleep(UNAVAILABLE_PAUSE).await;
            }
            Err(status) => return Err(status_error(address, &status)),
        }
    }
}

/// Prints `value` as pretty JSON on standard output: a wire message as it was received (its
/// serde derive, `tianping-proto`'s build script) or a view built for one command.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| anyhow::anyhow!("encoding JSON: {error}"))?;
    println!("{text}");
    Ok(())
}

/// How `report_lookup` shows one kind of record.
pub struct LookupReport<'a, T> {
    /// The record's name in messages, singular and plural ("account", "accounts").
    pub noun: (&'a str, &'a str),
    /// The record's id, as the wire spells it.
    pub id_of: fn(&T) -> &str,
    /// One human-readable line.
    pub line: fn(&T) -> String,
}

/// Prints what a lookup found — a line (or JSON object) per record, then a line per id not
/// found — and fails when any id was not found, so scripts can test the exit status.
pub fn report_lookup<T: serde::Serialize>(
    options: &GlobalOptions,
    report: &LookupReport<'_, T>,
    ids: &[u128],
    found: &[T],
) -> anyhow::Result<()> {
    let (singular, plural) = report.noun;
    let missing: Vec<String> = ids
        .iter()
        .map(u128::to_string)
        .filter(|id| !found.iter().any(|record| (report.id_of)(record) == id))
        .collect();
    if options.json {
        // `{"<plural>": [the records as received], "not_found": [ids]}`.
        let document = std::collections::BTreeMap::from([
            (plural, serde_json::to_value(found)?),
            ("not_found", serde_json::to_value(&missing)?),
        ]);
        print_json(&document)?;
    } else {
        for record in found {
            println!("{}", (report.line)(record));
        }
        for id in &missing {
            println!("{singular} {id}: not found");
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{} of {} {plural} not found", missing.len(), ids.len()))
    }
}
