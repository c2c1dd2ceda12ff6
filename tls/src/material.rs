//! The three files read, parsed and turned into a rustls configuration; read again on every
//! use and rebuilt only when their bytes changed.

use std::sync::{Arc, Mutex};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::{TlsError, TlsFiles};

/// The parsed contents of a party's files. No `Debug`: it holds the private key.
pub(crate) struct Material {
    /// The trusted CAs, as a root store.
    pub(crate) roots: Arc<RootCertStore>,
    /// The party's certificate chain.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// The party's private key.
    pub(crate) key: PrivateKeyDer<'static>,
}

/// The one crypto provider: ring (no C or cmake build of aws-lc). rustls 0.23.48 deprecates
/// it for lacking post-quantum key exchange, which only its aws-lc provider has; classical
/// X25519 / P-256 key exchange is what this deployment accepts until that build is affordable.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// HTTP/2 is the only protocol either port speaks (gRPC).
pub(crate) const ALPN_H2: &[u8] = b"h2";

/// `files` as `ca=..., cert=..., key=...`, for errors.
pub(crate) fn describe(files: &TlsFiles) -> String {
    format!("ca={}, cert={}, key={}", files.ca.display(), files.cert.display(), files.key.display())
}

/// The three files' bytes and their digest (what a reload compares).
struct Read {
    digest: [u8; 32],
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn read(files: &TlsFiles) -> Result<Read, TlsError> {
    let one = |what: &'static str, path: &std::path::PathBuf| {
        std::fs::read(path).map_err(|error| TlsError::Read { what, path: path.clone(), error })
    };
    let ca = one("CA bundle", &files.ca)?;
    let cert = one("certificate", &files.cert)?;
    let key = one("private key", &files.key)?;
    let mut hasher = Sha256::new();
    for bytes in [&ca, &cert, &key] {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    Ok(Read { digest: hasher.finalize().into(), ca, cert, key })
}

fn parse(files: &TlsFiles, read: &Read) -> Result<Material, TlsError> {
    let pem = |what, path: &std::path::PathBuf, expected, detail: String| TlsError::Pem {
        what,
        path: path.clone(),
        expected,
        detail,
    };
    let certificates = |what, path, bytes: &[u8]| {
        let certificates = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| pem(what, path, "CERTIFICATE", error.to_string()))?;
        if certificates.is_empty() {
            return Err(pem(what, path, "CERTIFICATE", "no CERTIFICATE block".to_owned()));
        }
        Ok(certificates)
    };
    let cas = certificates("CA bundle", &files.ca, &read.ca)?;
    let chain = certificates("certificate", &files.cert, &read.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read.key).map_err(|error| {
        // The error names the PEM problem, never the key's bytes.
        pem("private key", &files.key, "PRIVATE KEY", error.to_string())
    })?;
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(ca).map_err(|error| {
            pem("CA bundle", &files.ca, "CA CERTIFICATE", format!("unusable CA: {error}"))
        })?;
    }
    Ok(Material { roots: Arc::new(roots), chain, key })
}

/// A rustls configuration built from `files`, rebuilt when they change.
pub(crate) struct Reloading<C> {
    files: TlsFiles,
    build: fn(&TlsFiles, Material) -> Result<C, TlsError>,
    /// The digest of the files the configuration was built from, the configuration, and its
    /// certificate's `notAfter` (seconds since the epoch; none if it does not parse).
    current: Mutex<([u8; 32], Arc<C>, Option<i64>)>,
}

impl<C> Reloading<C> {
    /// Loads `files` now: an error here (missing or unusable files) is a start-up error.
    pub(crate) fn load(
        files: TlsFiles,
        build: fn(&TlsFiles, Material) -> Result<C, TlsError>,
    ) -> Result<Reloading<C>, TlsError> {
        let read = read(&files)?;
        let material = parse(&files, &read)?;
        let not_after = not_after(&material);
        let config = build(&files, material)?;
        Ok(Reloading {
            current: Mutex::new((read.digest, Arc::new(config), not_after)),
            files,
            build,
        })
    }

    /// The files this configuration is read from.
    pub(crate) fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The configuration for a new connection: the files are read again and, if they changed,
    /// the configuration is rebuilt from them. Files that cannot be read or used leave the last
    /// good configuration in force (logged): a rotation caught half-written must not stop the
    /// node from accepting connections.
    pub(crate) fn current(&self) -> Arc<C> {
        self.current_with_expiry().0
    }

    /// `current`, with the certificate's `notAfter` (seconds since the Unix epoch).
    pub(crate) fn current_with_expiry(&self) -> (Arc<C>, Option<i64>) {
        let mut current = self.current.lock().unwrap_or_else(|poison| poison.into_inner());
        let rebuilt = read(&self.files).and_then(|read| {
            if read.digest == current.0 {
                return Ok(None);
            }
            let material = parse(&self.files, &read)?;
            let not_after = not_after(&material);
            let config = (self.build)(&self.files, material)?;
            Ok(Some((read.digest, Arc::new(config), not_after)))
        });
        match rebuilt {
            Ok(None) => {}
            Ok(Some(fresh)) => {
                tracing::info!(files = %describe(&self.files), "TLS files changed; reloaded");
                *current = fresh;
            }
            Err(error) => {
                tracing::warn!(%error, "TLS files changed but do not load; keeping the last good ones");
            }
        }
        (Arc::clone(&current.1), current.2)
    }
}

/// The `notAfter` of the party's own certificate (the chain's first).
fn not_after(material: &Material) -> Option<i64> {
    crate::expiry::not_after_unix_seconds(material.chain.first()?.as_ref())
}

/// rustls's error as a configuration error naming the files.
pub(crate) fn config_error(files: &TlsFiles, error: impl std::fmt::Display) -> TlsError {
    TlsError::Config { files: describe(files), detail: error.to_string() }
}
