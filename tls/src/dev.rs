//! Development certificates (`tianping certs dev`): a local CA, one certificate per node and
//! a client certificate, written as PEM files with the private keys `0600`.
//!
//! Layout under the output directory:
//!
//! - `ca.pem` — the CA certificate: the bundle every party trusts. `ca-key.pem` — its key,
//!   kept so more certificates can be issued later; never given to a node or a client.
//! - `<node>.pem`, `<node>-key.pem` — a node's certificate (subject `CN=<node>, OU=node`;
//!   names `<node>`, `localhost`, `127.0.0.1` and `::1`), good for serving and for calling
//!   other nodes.
//! - `<client>.pem`, `<client>-key.pem` — a client certificate (subject
//!   `CN=<client>, OU=<role>`), good for calling nodes only.
//!
//! The role is the subject's organizational unit (OU); see the crate documentation.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::{TlsError, TlsFiles};

/// The role in a node certificate's subject.
pub const NODE_ROLE: &str = "node";

/// The role `tianping certs dev` gives its client certificate.
pub const OPERATOR_ROLE: &str = "operator";

/// How long development certificates are valid.
const VALIDITY_DAYS: i64 = 365;

/// What `generate` wrote.
#[derive(Clone, Debug)]
pub struct DevCertificates {
    /// The CA bundle to trust (`ca.pem`).
    pub ca: PathBuf,
    /// The CA's private key (`ca-key.pem`).
    pub ca_key: PathBuf,
    /// Each node's files, by node name, in the order asked.
    pub nodes: Vec<(String, TlsFiles)>,
    /// The client certificate's files.
    pub client: TlsFiles,
}

impl DevCertificates {
    /// The files of the node named `name`.
    pub fn node(&self, name: &str) -> Option<&TlsFiles> {
        self.nodes.iter().find(|(node, _)| node == name).map(|(_, files)| files)
    }
}

/// A certificate authority that signs development certificates (kept in memory).
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    key_pem: String,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

fn error(context: &str, error: impl std::fmt::Display) -> TlsError {
    TlsError::Dev(format!("{context}: {error}"))
}

fn subject(name: &str, role: &str) -> DistinguishedName {
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, "Tianping development");
    subject.push(DnType::OrganizationalUnitName, role);
    subject.push(DnType::CommonName, name);
    subject
}

fn validity(params: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    // A little before now: a peer whose clock is behind still accepts it.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(VALIDITY_DAYS);
}

impl DevCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<DevCa, TlsError> {
        let key = KeyPair::generate().map_err(|e| error("generating the CA key", e))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(name, "ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params);
        let certificate = params.self_signed(&key).map_err(|e| error("signing the CA", e))?;
        let key_pem = key.serialize_pem();
        Ok(DevCa { pem: certificate.pem(), key_pem, issuer: Issuer::new(params, key) })
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.pem
    }

    /// A certificate for `name` with role `role`, valid for the `hosts` (DNS names or IP
    /// addresses; none for a client certificate); `server` certificates may also serve.
    /// Answers (certificate PEM, key PEM).
    pub fn issue(
        &self,
        name: &str,
        role: &str,
        hosts: &[String],
        server: bool,
    ) -> Result<(String, String), TlsError> {
        let key = KeyPair::generate().map_err(|e| error("generating a key", e))?;
        let mut params = CertificateParams::new(hosts.to_vec())
            .map_err(|e| error(&format!("the names of {name}"), e))?;
        params.distinguished_name = subject(name, role);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if server {
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| error(&format!("signing {name}'s certificate"), e))?;
        Ok((certificate.pem(), key.serialize_pem()))
    }
}

/// The names a development node certificate is valid for: the node's name and this machine.
pub fn node_hosts(name: &str) -> Vec<String> {
    [name, "localhost", "127.0.0.1", "::1"].map(str::to_owned).to_vec()
}

/// Makes a CA and certificates for `nodes` and a client `client` (role `OPERATOR_ROLE`)
/// under `out` (created if needed); existing files there are replaced.
pub fn generate(out: &Path, nodes: &[String], client: &str) -> Result<DevCertificates, TlsError> {
    let nodes: Vec<(String, Vec<String>)> =
        nodes.iter().map(|name| (name.clone(), Vec::new())).collect();
    generate_with_hosts(out, &nodes, client)
}

/// `generate`, each node certificate also valid for the further host names given with it
/// (a Service name clients dial, say).
pub fn generate_with_hosts(
    out: &Path,
    nodes: &[(String, Vec<String>)],
    client: &str,
) -> Result<DevCertificates, TlsError> {
    let names = nodes.iter().flat_map(|(name, hosts)| std::iter::once(name).chain(hosts));
    for name in names.map(String::as_str).chain([client]) {
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(TlsError::Dev(format!(
                "{name:?} is not a usable name (letters, digits, '-' and '.')"
            )));
        }
    }
    fs::create_dir_all(out).map_err(|e| error(&format!("creating {}", out.display()), e))?;
    let ca = DevCa::new("Tianping development CA")?;
    let ca_path = out.join("ca.pem");
    let ca_key = out.join("ca-key.pem");
    write(&ca_path, ca.certificate_pem(), false)?;
    write(&ca_key, &ca.key_pem, true)?;
    let mut written = Vec::new();
    for (name, extra) in nodes {
        let mut hosts = node_hosts(name);
        hosts.extend(extra.iter().cloned());
        let (cert, key) = ca.issue(name, NODE_ROLE, &hosts, true)?;
        written.push((name.clone(), write_pair(out, name, &ca_path, &cert, &key)?));
    }
    let (cert, key) = ca.issue(client, OPERATOR_ROLE, &[], false)?;
    let client = write_pair(out, client, &ca_path, &cert, &key)?;
    Ok(DevCertificates { ca: ca_path, ca_key, nodes: written, client })
}

fn write_pair(
    out: &Path,
    name: &str,
    ca: &Path,
    cert: &str,
    key: &str,
) -> Result<TlsFiles, TlsError> {
    let files = TlsFiles {
        ca: ca.to_path_buf(),
        cert: out.join(format!("{name}.pem")),
        key: out.join(format!("{name}-key.pem")),
    };
    write(&files.cert, cert, false)?;
    write(&files.key, key, true)?;
    Ok(files)
}

/// Writes `contents` to `path`; a private key is created `0600` (never readable by others,
/// not even for a moment) — and one left from before is made `0600` too.
pub fn write(path: &Path, contents: &str, private: bool) -> Result<(), TlsError> {
    let fail = |e| error(&format!("writing {}", path.display()), e);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(not(unix))]
    let _ = private;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(contents.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}
