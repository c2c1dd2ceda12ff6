//! Mutual TLS for Tianping's two gRPC ports (issue 15 item 1): the client API and the Raft
//! transport between nodes.
//!
//! Every party presents a certificate signed by a CA the other side trusts: nodes present
//! node certificates (to clients and to each other), clients present client certificates.
//! A party's three files — the trusted CA bundle, its certificate chain and its private key,
//! all PEM (`TlsFiles`) — are read again whenever a connection is made or accepted, and a
//! change (a rotation) is taken up then, without a restart; a bundle may hold several CAs,
//! so during a rotation both the old and the new CA are trusted. Files that do not load (a
//! rotation caught half-written) leave the last good configuration in force, with a warning.
//!
//! - `TlsFiles`: where the three files are (paths only: safe to log and to print).
//! - `ServerTls` and `incoming` (real network only): a node's TLS listener, handshakes off the
//!   accept loop, each connection carrying `TlsConnectInfo` (the peer's certificate chain)
//!   into every request's extensions, so a request handler can see who called.
//! - `Channels`: how a client opens gRPC channels, plaintext or TLS; the TLS connector builds
//!   each connection from the files as they are at connect time.
//! - `dev` (real network only): `tianping certs dev`'s local CA and certificates.
//! - `expiry` (real network only): a certificate's `notAfter`, for the node's expiry metric.
//!
//! Role convention (for `tianping certs dev` and the later roles slice): a certificate's
//! subject carries its holder's name as the common name (CN) and its role as the
//! organizational unit (OU): `OU=node` for nodes, `OU=operator`, `OU=client`, ... for clients.
//!
//! In the simulation (`--cfg madsim`) there is no TLS: only `TlsFiles` and plaintext
//! `Channels` exist, so the same node and SDK code builds in both.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod channels;
#[cfg(not(madsim))]
pub mod dev;
#[cfg(not(madsim))]
pub mod expiry;
#[cfg(not(madsim))]
mod material;
#[cfg(not(madsim))]
mod server;

pub use channels::Channels;
#[cfg(not(madsim))]
pub use channels::ClientTls;
#[cfg(not(madsim))]
pub use server::{ServerTls, TlsConnectInfo, TlsConnection, TlsIncoming, incoming};

/// Where a party's TLS files are: the CA bundle it trusts, its certificate chain and its
/// private key, each PEM. Only paths: no key material, so it may be logged and printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The CA certificates trusted to sign the other side's certificate (one or more: two
    /// during a CA rotation).
    pub ca: PathBuf,
    /// This party's certificate, then any intermediates.
    pub cert: PathBuf,
    /// This party's private key (PKCS#8, SEC1 or PKCS#1 PEM). Keep it `0600`.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The three paths, named by what they are for.
    pub fn paths(&self) -> [(&'static str, &PathBuf); 3] {
        [("CA bundle", &self.ca), ("certificate", &self.cert), ("private key", &self.key)]
    }

    /// The files that do not exist (or cannot be inspected), named, for a start-up error that
    /// says exactly what is missing.
    pub fn missing(&self) -> Vec<String> {
        self.paths()
            .into_iter()
            .filter(|(_, path)| !path.is_file())
            .map(|(what, path)| format!("{what} {}", path.display()))
            .collect()
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading the {what} {path}: {error}")]
    Read {
        /// Which file (`CA bundle`, `certificate`, `private key`).
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A file holds nothing usable (no PEM block of the kind expected, or a malformed one).
    #[error("the {what} {path} holds no usable PEM {expected}: {detail}")]
    Pem {
        /// Which file.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// What it should hold.
        expected: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// rustls refused the configuration (a key that does not match the certificate, a CA
    /// certificate it cannot use, ...).
    #[error("TLS configuration from {files}: {detail}")]
    Config {
        /// The files, as `ca=..., cert=..., key=...`.
        files: String,
        /// rustls's reason.
        detail: String,
    },
    /// Making or writing development certificates failed.
    #[error("development certificates: {0}")]
    Dev(String),
    /// TLS was asked for in the simulation, which has none.
    #[error("TLS is not available in the simulation (--cfg madsim)")]
    Simulated,
}
