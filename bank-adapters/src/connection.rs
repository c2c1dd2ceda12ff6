//! How a process reaches one bank over the network: the `[banks.connection]` table its
//! configuration carries, and [`NetworkGateway`], the one gateway type over both protocols
//! (`ProtocolGateway` over HTTP) that [`connect`] builds from it.
//!
//! Shared by every process that speaks to banks: the bank worker (`tianping-bank-worker`) and
//! the reconciler (`tianping-reconcile`) read the same table and build the same gateway, so a
//! bank is configured one way wherever it is named.
//!
//! The simulation builds its gateways over its own transport and never reads this table;
//! the HTTP side is therefore compiled only outside `--cfg madsim`.

#[cfg(not(madsim))]
use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;

/// The deadline of one bank call when the configuration names none: long enough for a slow
/// bank, short enough that an unanswered call turns into a status query soon.
pub const BANK_CALL_TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// The accepted clock difference of a direct-connect bank's answers when none is configured.
pub const DIRECT_WINDOW_MS_DEFAULT: u64 = 300_000;

/// Most nonces a direct-connect verifier remembers (bounded memory; replays of older ones
/// fall outside the window anyway).
pub const DIRECT_NONCE_CAPACITY: usize = 100_000;

/// Where one bank is and how to speak to it. Relative key paths are relative to the
/// configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case", deny_unknown_fields)]
pub enum BankConnection {
    /// ISO 20022 XML over HTTP: pain.001 in, pain.002 / camt.054 / camt.053 out.
    Iso20022 {
        /// The bank's base URL (`http://127.0.0.1:7400/banks/iso-a`).
        url: String,
        /// One call's deadline, in milliseconds.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
        /// Our name as the initiating party of every pain.001.
        initiating_party: String,
    },
    /// Signed direct-connect JSON over HTTP (SM2 over SM3, or Ed25519).
    Direct {
        /// The bank's base URL.
        url: String,
        /// One call's deadline, in milliseconds.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
        /// The app id the bank assigned us; every envelope both ways carries it.
        app_id: String,
        /// Key ring manifest of our private signing keys (`KEY_ID SCHEME file:PATH` lines).
        signing_keys: PathBuf,
        /// Key ring manifest of the bank's public keys, which its answers must verify with.
        bank_public_keys: PathBuf,
        /// Accepted clock difference either way, in milliseconds.
        #[serde(default = "default_window_ms")]
        window_ms: u64,
    },
}

fn default_timeout_ms() -> u64 {
    BANK_CALL_TIMEOUT_MS_DEFAULT
}

fn default_window_ms() -> u64 {
    DIRECT_WINDOW_MS_DEFAULT
}

impl BankConnection {
    /// The protocol's name, for logs.
    pub fn protocol(&self) -> &'static str {
        match self {
            BankConnection::Iso20022 { .. } => "iso20022",
            BankConnection::Direct { .. } => "direct",
        }
    }

    /// The bank's base URL.
    pub fn url(&self) -> &str {
        match self {
            BankConnection::Iso20022 { url, .. } | BankConnection::Direct { url, .. } => url,
        }
    }
}

#[cfg(not(madsim))]
pub use network::{ConnectError, NetworkGateway, connect};

#[cfg(not(madsim))]
mod network {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::bank_api::direct::DirectGateway;
    use crate::bank_api::iso20022::Iso20022Gateway;
    use crate::bank_api::{ProtocolGateway, SystemClock};
    use crate::direct::{Verifier, VerifierConfig};
    use crate::keys::{KeyError, KeyRing, KeyRingSource, KeyRole};
    use crate::transport::TransportError;
    use crate::transport::http::HttpTransport;

    use super::{BankConnection, DIRECT_NONCE_CAPACITY, Path};

    /// Why a bank connection cannot be set up.
    #[derive(Debug, thiserror::Error)]
    pub enum ConnectError {
        /// The URL is not one the HTTP transport can use.
        #[error("bank {bank}: url {url:?}: {source}")]
        Url {
            /// The bank.
            bank: u32,
            /// The refused URL.
            url: String,
            /// Why.
            source: TransportError,
        },
        /// A key ring did not load.
        #[error("bank {bank}: keys {path}: {source}")]
        Keys {
            /// The bank.
            bank: u32,
            /// The manifest.
            path: String,
            /// Why.
            source: KeyError,
        },
    }

    /// A gateway to one bank over HTTP, whichever protocol it speaks.
    pub type NetworkGateway = ProtocolGateway<HttpTransport>;

    /// Builds the gateway of `bank` from its connection settings; relative key paths are
    /// read from `base` (the configuration file's directory).
    pub fn connect(
        bank: u32,
        connection: &BankConnection,
        base: &Path,
    ) -> Result<NetworkGateway, ConnectError> {
        let transport = |url: &str, timeout_ms: u64| {
            HttpTransport::new(url, Duration::from_millis(timeout_ms))
                .map_err(|source| ConnectError::Url { bank, url: url.to_owned(), source })
        };
        match connection {
            BankConnection::Iso20022 { url, timeout_ms, initiating_party } => {
                Ok(ProtocolGateway::Iso20022(Box::new(Iso20022Gateway::new(
                    transport(url, *timeout_ms)?,
                    initiating_party,
                ))))
            }
            BankConnection::Direct {
                url,
                timeout_ms,
                app_id,
                signing_keys,
                bank_public_keys,
                window_ms,
            } => {
                let ring = |manifest: &Path, role: KeyRole| {
                    let path = base.join(manifest);
                    KeyRing::load(KeyRingSource::Manifest(path.clone()), role).map_err(|source| {
                        ConnectError::Keys { bank, path: path.display().to_string(), source }
                    })
                };
                let signing = ring(signing_keys, KeyRole::Signing)?;
                let bank_keys = ring(bank_public_keys, KeyRole::VerifyingOnly)?;
                let verifier = Verifier::new(
                    VerifierConfig {
                        app_id: app_id.clone(),
                        window_ms: *window_ms,
                        nonce_capacity: DIRECT_NONCE_CAPACITY,
                    },
                    Arc::new(bank_keys),
                );
                Ok(ProtocolGateway::Direct(Box::new(DirectGateway::new(
                    transport(url, *timeout_ms)?,
                    app_id,
                    Arc::new(signing),
                    verifier,
                    Arc::new(SystemClock),
                ))))
            }
        }
    }
}
