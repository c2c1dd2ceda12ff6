//! Signing keys, bank public keys, and their rotation.
//!
//! - [`Signer`] is the interface every signature goes through, so the payment team's separate
//!   signing server can replace [`LocalKeySigner`] (the default: a private key loaded into this
//!   process) without touching the protocol code.
//! - Keys load from files or environment variables ([`KeySource`]), never from the
//!   repository: private keys as PKCS#8 PEM/DER, SEC1 PEM/DER (SM2) or hex of the raw 32-byte
//!   scalar/seed; public keys as SPKI PEM/DER or hex (SM2: SEC1 `04‖x‖y`, or gmssl's bare
//!   `x‖y`; Ed25519: the 32 bytes). Key material never reaches a log: every type holding it
//!   has a redacted `Debug` and no `Display`.
//! - A [`KeyRing`] holds one or two keys (oldest first). Signing uses the newest; verification
//!   accepts any key of the ring by key id. A rotation is two reloads: add the new key as
//!   newest (both verify, the new one signs), then drop the old one once its signatures have
//!   drained. [`KeyRing::reload`] re-reads every source and swaps the whole set atomically, or
//!   keeps the old set when anything fails to load; [`FileWatcher`] reloads when a watched
//!   file's modification time or size changes (the binary calls [`KeyRing::reload`] on SIGHUP).
//!
//! SM2 (GM/T 0003-2012 part 2) signs `SM3(Z ‖ M)` where `Z` hashes the signer's distinguishing
//! id with the curve and the public key; this crate always uses the standard's default id
//! [`SM2_DEFAULT_DISTINGUISHING_ID`] (`"1234567812345678"`, GM/T 0009), as the Chinese banks'
//! direct-connect specifications and gmssl do. A signature is the 64 bytes `r ‖ s` (big-endian,
//! 32 each) — not DER.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use sm2::dsa::signature::{Signer as _, Verifier as _};

/// The SM2 distinguishing id of GM/T 0009-2012 (the bytes of `"1234567812345678"`): banks
/// and gmssl use it when no other id was agreed, and so does every SM2 key here.
pub const SM2_DEFAULT_DISTINGUISHING_ID: &str = "1234567812345678";

/// How many keys a ring holds at most: the current one and, during a rotation, one other.
pub const KEY_RING_KEYS_MAX: usize = 2;

/// The longest key id: ids travel in signed headers and logs.
pub const KEY_ID_BYTES_MAX: usize = 64;

/// The largest key file or variable read (a PEM certificate chain is a few KiB).
pub const KEY_TEXT_BYTES_MAX: usize = 64 * 1024;

/// A signature scheme, as named in the direct-connect envelope's `sign_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignScheme {
    /// SM2 over an SM3 digest with the default distinguishing id (`"SM2"`).
    Sm2Sm3,
    /// Ed25519 (`"ED25519"`).
    Ed25519,
}

impl SignScheme {
    /// The name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            SignScheme::Sm2Sm3 => "SM2",
            SignScheme::Ed25519 => "ED25519",
        }
    }

    /// The scheme with this wire name.
    pub fn from_name(name: &str) -> Option<SignScheme> {
        match name {
            "SM2" => Some(SignScheme::Sm2Sm3),
            "ED25519" => Some(SignScheme::Ed25519),
            _ => None,
        }
    }
}

/// Why a key could not be loaded or used. Messages name the source and the key id, never
/// the material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A file or variable could not be read.
    #[error("key {key_id}: cannot read {source_name}: {detail}")]
    Unreadable {
        /// The key id.
        key_id: String,
        /// The file or variable.
        source_name: String,
        /// Why.
        detail: String,
    },
    /// The text is not a key of the expected scheme in a supported encoding.
    #[error("key {key_id}: {source_name} holds no {scheme:?} {visibility} key in PEM, DER or hex")]
    Undecodable {
        /// The key id.
        key_id: String,
        /// The file or variable.
        source_name: String,
        /// The expected scheme.
        scheme: SignScheme,
        /// "private" or "public".
        visibility: &'static str,
    },
    /// A key ring manifest is malformed or lists too many or no keys.
    #[error("key ring manifest {path}: {detail}")]
    Manifest {
        /// The manifest.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A key id that is empty, too long, duplicated or holds blanks or control characters.
    #[error("bad key id {key_id:?}")]
    BadKeyId {
        /// The id.
        key_id: String,
    },
    /// A ring of public keys cannot sign.
    #[error("this key ring holds public keys only and cannot sign")]
    NoSigningKey,
    /// Signing failed (a remote signer down, a key that refuses).
    #[error("signing with key {key_id} failed: {detail}")]
    SigningFailed {
        /// The key id.
        key_id: String,
        /// Why.
        detail: String,
    },
    /// The signature does not verify (or the key id is not in the ring).
    #[error("signature does not verify with key {key_id}")]
    BadSignature {
        /// The key id named by the message.
        key_id: String,
    },
    /// The key id is not in the ring, or its scheme differs from the message's.
    #[error("no {scheme:?} key {key_id} in the ring")]
    UnknownKey {
        /// The key id named by the message.
        key_id: String,
        /// The scheme named by the message.
        scheme: SignScheme,
    },
    /// The operating system's random source failed while generating a key.
    #[error("no randomness: {detail}")]
    NoRandomness {
        /// Why.
        detail: String,
    },
}

/// Where a key's text comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file (PEM, DER or hex).
    File(PathBuf),
    /// An environment variable (PEM or hex text).
    Environment(String),
}

impl KeySource {
    fn name(&self) -> String {
        match self {
            KeySource::File(path) => path.display().to_string(),
            KeySource::Environment(variable) => format!("${variable}"),
        }
    }

    fn read(&self, key_id: &str) -> Result<Vec<u8>, KeyError> {
        let unreadable = |detail: String| KeyError::Unreadable {
            key_id: key_id.to_owned(),
            source_name: self.name(),
            detail,
        };
        let bytes = match self {
            KeySource::File(path) => {
                std::fs::read(path).map_err(|error| unreadable(error.to_string()))?
            }
            KeySource::Environment(variable) => {
                std::env::var(variable).map_err(|error| unreadable(error.to_string()))?.into_bytes()
            }
        };
        if bytes.len() > KEY_TEXT_BYTES_MAX {
            return Err(unreadable(format!("over {KEY_TEXT_BYTES_MAX} bytes")));
        }
        Ok(bytes)
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The location is not secret; the contents are never read here.
        formatter.write_str(&self.name())
    }
}

/// One key of a ring: its id, scheme and where it loads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The id the envelope's `key_id` names.
    pub key_id: String,
    /// Its scheme.
    pub scheme: SignScheme,
    /// Where the key text is.
    pub source: KeySource,
}

fn check_key_id(key_id: &str) -> Result<(), KeyError> {
    let valid = !key_id.is_empty()
        && key_id.len() <= KEY_ID_BYTES_MAX
        && key_id.bytes().all(|byte| byte.is_ascii_graphic());
    if valid { Ok(()) } else { Err(KeyError::BadKeyId { key_id: key_id.to_owned() }) }
}

/// Key text in one of the accepted encodings.
enum Encoded<'a> {
    Pem(&'a str),
    Hex(Vec<u8>),
    Der(&'a [u8]),
}

fn classify(bytes: &[u8]) -> Encoded<'_> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let trimmed = text.trim();
        if trimmed.starts_with("-----BEGIN") {
            return Encoded::Pem(trimmed);
        }
        if !trimmed.is_empty()
            && trimmed.bytes().all(|byte| byte.is_ascii_hexdigit())
            && let Ok(decoded) = hex::decode(trimmed)
        {
            return Encoded::Hex(decoded);
        }
    }
    Encoded::Der(bytes)
}

/// A private key in memory.
#[derive(Clone)]
enum PrivateKey {
    Sm2(Box<sm2::dsa::SigningKey>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

fn decode_private(scheme: SignScheme, bytes: &[u8]) -> Option<PrivateKey> {
    match scheme {
        SignScheme::Sm2Sm3 => {
            let secret = match classify(bytes) {
                Encoded::Pem(text) if text.contains("EC PRIVATE KEY") => {
                    sm2::SecretKey::from_sec1_pem(text).ok()?
                }
                Encoded::Pem(text) => sm2::SecretKey::from_pkcs8_pem(text).ok()?,
                Encoded::Hex(raw) => sm2::SecretKey::from_slice(&raw).ok()?,
                Encoded::Der(der) => sm2::SecretKey::from_pkcs8_der(der)
                    .ok()
                    .or_else(|| sm2::SecretKey::from_sec1_der(der).ok())?,
            };
            let key = sm2::dsa::SigningKey::new(SM2_DEFAULT_DISTINGUISHING_ID, &secret).ok()?;
            Some(PrivateKey::Sm2(Box::new(key)))
        }
        SignScheme::Ed25519 => {
            let key = match classify(bytes) {
                Encoded::Pem(text) => ed25519_dalek::SigningKey::from_pkcs8_pem(text).ok()?,
                Encoded::Hex(raw) => ed25519_dalek::SigningKey::from_bytes(&raw.try_into().ok()?),
                Encoded::Der(der) => ed25519_dalek::SigningKey::from_pkcs8_der(der).ok()?,
            };
            Some(PrivateKey::Ed25519(Box::new(key)))
        }
    }
}

/// A public key that verifies one scheme's signatures.
#[derive(Clone)]
pub struct PublicKey(PublicKeyInner);

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.scheme() == other.scheme() && self.to_hex() == other.to_hex()
    }
}

impl Eq for PublicKey {}

#[derive(Clone)]
enum PublicKeyInner {
    Sm2(Box<sm2::dsa::VerifyingKey>),
    Ed25519(Box<ed25519_dalek::VerifyingKey>),
}

impl PublicKey {
    /// Decodes a public key of `scheme` from PEM, DER or hex bytes.
    pub fn decode(scheme: SignScheme, bytes: &[u8]) -> Option<PublicKey> {
        let inner = match scheme {
            SignScheme::Sm2Sm3 => {
                let public = match classify(bytes) {
                    Encoded::Pem(text) => sm2::PublicKey::from_public_key_pem(text).ok()?,
                    // gmssl writes the point as bare x‖y (64 bytes); SEC1 prefixes 04.
                    Encoded::Hex(raw) if raw.len() == 64 => {
                        sm2::PublicKey::from_sec1_bytes(&[&[0x04], raw.as_slice()].concat()).ok()?
                    }
                    Encoded::Hex(raw) => sm2::PublicKey::from_sec1_bytes(&raw).ok()?,
                    Encoded::Der(der) => sm2::PublicKey::from_public_key_der(der).ok()?,
                };
                let key =
                    sm2::dsa::VerifyingKey::new(SM2_DEFAULT_DISTINGUISHING_ID, public).ok()?;
                PublicKeyInner::Sm2(Box::new(key))
            }
            SignScheme::Ed25519 => {
                let key = match classify(bytes) {
                    Encoded::Pem(text) => {
                        ed25519_dalek::VerifyingKey::from_public_key_pem(text).ok()?
                    }
                    Encoded::Hex(raw) => {
                        ed25519_dalek::VerifyingKey::from_bytes(&raw.try_into().ok()?).ok()?
                    }
                    Encoded::Der(der) => {
                        ed25519_dalek::VerifyingKey::from_public_key_der(der).ok()?
                    }
                };
                PublicKeyInner::Ed25519(Box::new(key))
            }
        };
        Some(PublicKey(inner))
    }

    /// The scheme this key verifies.
    pub fn scheme(&self) -> SignScheme {
        match self.0 {
            PublicKeyInner::Sm2(_) => SignScheme::Sm2Sm3,
            PublicKeyInner::Ed25519(_) => SignScheme::Ed25519,
        }
    }

    /// The key as hex: SM2 as SEC1 uncompressed `04‖x‖y`, Ed25519 as its 32 bytes. Public
    /// keys may be shown; this is how they are handed to a bank or a test peer.
    pub fn to_hex(&self) -> String {
        match &self.0 {
            PublicKeyInner::Sm2(key) => hex::encode(key.to_sec1_bytes()),
            PublicKeyInner::Ed25519(key) => hex::encode(key.to_bytes()),
        }
    }

    /// True when `signature` (64 bytes `r‖s` or `R‖S`) signs `message` under this key. SM2
    /// hashes `Z ‖ message` with SM3 first (module doc); Ed25519 uses the strict check, which
    /// refuses malleable and small-order signatures.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.0 {
            PublicKeyInner::Sm2(key) => sm2::dsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            PublicKeyInner::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok()),
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublicKey({}:{})", self.scheme().name(), self.to_hex())
    }
}

/// Signs bytes: the one interface signatures go through, so a signing server can replace the
/// local key. Implementations must be cheap to call concurrently.
pub trait Signer: Send + Sync {
    /// The id verifiers look the public key up by.
    fn key_id(&self) -> &str;
    /// The scheme of the signatures.
    fn scheme(&self) -> SignScheme;
    /// The signature of `message`: 64 bytes (`r‖s` for SM2 over `SM3(Z‖message)`, `R‖S` for
    /// Ed25519).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// The default [`Signer`]: a private key held in this process.
#[derive(Clone)]
pub struct LocalKeySigner {
    key_id: String,
    key: PrivateKey,
}

impl LocalKeySigner {
    /// Loads the private key `spec` names.
    pub fn load(spec: &KeySpec) -> Result<LocalKeySigner, KeyError> {
        check_key_id(&spec.key_id)?;
        let bytes = spec.source.read(&spec.key_id)?;
        let key = decode_private(spec.scheme, &bytes).ok_or_else(|| KeyError::Undecodable {
            key_id: spec.key_id.clone(),
            source_name: spec.source.name(),
            scheme: spec.scheme,
            visibility: "private",
        })?;
        Ok(LocalKeySigner { key_id: spec.key_id.clone(), key })
    }

    /// The public half, to hand to the bank (or a test peer).
    pub fn public_key(&self) -> PublicKey {
        match &self.key {
            PrivateKey::Sm2(key) => {
                PublicKey(PublicKeyInner::Sm2(Box::new(key.verifying_key().clone())))
            }
            PrivateKey::Ed25519(key) => {
                PublicKey(PublicKeyInner::Ed25519(Box::new(key.verifying_key())))
            }
        }
    }
}

impl Signer for LocalKeySigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn scheme(&self) -> SignScheme {
        match self.key {
            PrivateKey::Sm2(_) => SignScheme::Sm2Sm3,
            PrivateKey::Ed25519(_) => SignScheme::Ed25519,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed =
            |detail: String| KeyError::SigningFailed { key_id: self.key_id.clone(), detail };
        match &self.key {
            PrivateKey::Sm2(key) => {
                let signature: sm2::dsa::Signature =
                    key.try_sign(message).map_err(|error| failed(error.to_string()))?;
                Ok(signature.to_bytes().to_vec())
            }
            PrivateKey::Ed25519(key) => {
                let signature: ed25519_dalek::Signature =
                    key.try_sign(message).map_err(|error| failed(error.to_string()))?;
                Ok(signature.to_bytes().to_vec())
            }
        }
    }
}

impl fmt::Debug for LocalKeySigner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "LocalKeySigner {{ key_id: {:?}, scheme: {}, key: <redacted> }}",
            self.key_id,
            self.scheme().name()
        )
    }
}

/// A freshly generated private key as hex, for writing key files (the bank simulator's keys,
/// tests' temporary keys). `Debug` is redacted; [`SecretHex::expose`] is the only way out.
pub struct SecretHex(String);

impl SecretHex {
    /// The hex text, to write to a key file or variable.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHex {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretHex(<redacted>)")
    }
}

/// Generates a key pair of `scheme` from the operating system's randomness: the private key
/// as hex (32 bytes) and the public key.
pub fn generate_key_pair(scheme: SignScheme) -> Result<(SecretHex, PublicKey), KeyError> {
    // A random 32-byte string is a valid SM2 scalar unless it is zero or ≥ n (odds ≈ 2^-32);
    // a few tries bound the loop.
    for _ in 0..8 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|error| KeyError::NoRandomness { detail: error.to_string() })?;
        let text = hex::encode(bytes);
        if let Some(key) = decode_private(scheme, text.as_bytes()) {
            let signer = LocalKeySigner { key_id: "generated".to_owned(), key };
            return Ok((SecretHex(text), signer.public_key()));
        }
    }
    Err(KeyError::NoRandomness { detail: "no valid scalar in 8 draws".to_owned() })
}

/// Whether a ring holds private keys (our signing keys) or public keys only (a bank's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// Private keys: the ring signs with the newest and verifies with any.
    Signing,
    /// Public keys: the ring only verifies.
    VerifyingOnly,
}

/// Where a ring's list of keys comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRingSource {
    /// A fixed list (oldest first), e.g. from the binary's configuration; reloading re-reads
    /// the key files and variables.
    Fixed(Vec<KeySpec>),
    /// A manifest file listing the keys, one per line, oldest first:
    /// `KEY_ID SCHEME file:PATH` or `KEY_ID SCHEME env:VARIABLE` (`SCHEME` is `SM2` or
    /// `ED25519`; a relative `PATH` is relative to the manifest's directory; `#` starts a
    /// comment). Rotating is editing this file (best written to a temporary file and renamed
    /// over it).
    Manifest(PathBuf),
}

/// One loaded key of a ring.
struct RingKey {
    key_id: String,
    public: PublicKey,
    signer: Option<Arc<dyn Signer>>,
}

/// The set of keys a ring serves at one moment; replaced whole on reload.
struct KeySet {
    keys: Vec<RingKey>,
}

/// One or two keys, reloadable while in use (module doc).
pub struct KeyRing {
    source: KeyRingSource,
    role: KeyRole,
    current: RwLock<Arc<KeySet>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("KeyRing")
            .field("source", &self.source)
            .field("role", &self.role)
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

fn parse_manifest(path: &Path) -> Result<Vec<KeySpec>, KeyError> {
    let manifest_error =
        |detail: String| KeyError::Manifest { path: path.display().to_string(), detail };
    let text = std::fs::read_to_string(path).map_err(|error| manifest_error(error.to_string()))?;
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut specs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [key_id, scheme, location] = fields.as_slice() else {
            return Err(manifest_error(format!(
                "line {}: want KEY_ID SCHEME file:PATH|env:VAR",
                index + 1
            )));
        };
        let scheme = SignScheme::from_name(scheme).ok_or_else(|| {
            manifest_error(format!("line {}: unknown scheme {scheme:?}", index + 1))
        })?;
        let source = if let Some(file) = location.strip_prefix("file:") {
            KeySource::File(directory.join(file))
        } else if let Some(variable) = location.strip_prefix("env:") {
            KeySource::Environment(variable.to_owned())
        } else {
            return Err(manifest_error(format!(
                "line {}: source must start with file: or env:",
                index + 1
            )));
        };
        specs.push(KeySpec { key_id: (*key_id).to_owned(), scheme, source });
    }
    Ok(specs)
}

impl KeyRing {
    /// Loads a ring; fails unless it holds 1..=[`KEY_RING_KEYS_MAX`] keys with distinct ids,
    /// all decodable for `role`.
    pub fn load(source: KeyRingSource, role: KeyRole) -> Result<KeyRing, KeyError> {
        let set = Self::load_set(&source, role)?;
        Ok(KeyRing { source, role, current: RwLock::new(Arc::new(set)) })
    }

    fn specs(source: &KeyRingSource) -> Result<Vec<KeySpec>, KeyError> {
        match source {
            KeyRingSource::Fixed(specs) => Ok(specs.clone()),
            KeyRingSource::Manifest(path) => parse_manifest(path),
        }
    }

    fn load_set(source: &KeyRingSource, role: KeyRole) -> Result<KeySet, KeyError> {
        let specs = Self::specs(source)?;
        let count_error = || KeyError::Manifest {
            path: format!("{source:?}"),
            detail: format!("{} keys; a ring holds 1..={KEY_RING_KEYS_MAX}", specs.len()),
        };
        if specs.is_empty() || specs.len() > KEY_RING_KEYS_MAX {
            return Err(count_error());
        }
        let mut seen = BTreeSet::new();
        let mut keys = Vec::with_capacity(specs.len());
        for spec in &specs {
            check_key_id(&spec.key_id)?;
            if !seen.insert(spec.key_id.clone()) {
                return Err(KeyError::BadKeyId { key_id: spec.key_id.clone() });
            }
            let key = match role {
                KeyRole::Signing => {
                    let signer = LocalKeySigner::load(spec)?;
                    RingKey {
                        key_id: spec.key_id.clone(),
                        public: signer.public_key(),
                        signer: Some(Arc::new(signer)),
                    }
                }
                KeyRole::VerifyingOnly => {
                    let bytes = spec.source.read(&spec.key_id)?;
                    let public = PublicKey::decode(spec.scheme, &bytes).ok_or_else(|| {
                        KeyError::Undecodable {
                            key_id: spec.key_id.clone(),
                            source_name: spec.source.name(),
                            scheme: spec.scheme,
                            visibility: "public",
                        }
                    })?;
                    RingKey { key_id: spec.key_id.clone(), public, signer: None }
                }
            };
            keys.push(key);
        }
        Ok(KeySet { keys })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        // A poisoned lock only means a reader panicked while holding it; the Arc inside is
        // always a complete set, so it is safe to keep serving it.
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads every source and replaces the key set in one step. On any error the ring
    /// keeps serving the old set and the error is returned, so a half-written key file
    /// never takes signing down.
    pub fn reload(&self) -> Result<(), KeyError> {
        let set = Arc::new(Self::load_set(&self.source, self.role)?);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }

    /// The signer of the newest key.
    pub fn signer(&self) -> Result<Arc<dyn Signer>, KeyError> {
        self.snapshot().keys.last().and_then(|key| key.signer.clone()).ok_or(KeyError::NoSigningKey)
    }

    /// Checks `signature` over `message` with the ring's key `key_id` of `scheme`.
    pub fn verify(
        &self,
        key_id: &str,
        scheme: SignScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        let set = self.snapshot();
        let key = set
            .keys
            .iter()
            .find(|key| key.key_id == key_id && key.public.scheme() == scheme)
            .ok_or_else(|| KeyError::UnknownKey { key_id: key_id.to_owned(), scheme })?;
        if key.public.verifies(message, signature) {
            Ok(())
        } else {
            Err(KeyError::BadSignature { key_id: key_id.to_owned() })
        }
    }

    /// The key ids, oldest first.
    pub fn key_ids(&self) -> Vec<String> {
        self.snapshot().keys.iter().map(|key| key.key_id.clone()).collect()
    }

    /// The public key of `key_id`, to hand to a peer.
    pub fn public_key(&self, key_id: &str) -> Option<PublicKey> {
        self.snapshot().keys.iter().find(|key| key.key_id == key_id).map(|key| key.public.clone())
    }

    /// The files a change of which should trigger a reload: the manifest and every key file.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let KeyRingSource::Manifest(path) = &self.source {
            files.push(path.clone());
        }
        if let Ok(specs) = Self::specs(&self.source) {
            files.extend(specs.into_iter().filter_map(|spec| match spec.source {
                KeySource::File(path) => Some(path),
                KeySource::Environment(_) => None,
            }));
        }
        files
    }
}

/// Reloads a ring when one of its files changes: call [`FileWatcher::poll`] on a timer (the
/// binary's; no thread or clock is hidden here). A change is a different modification time
/// or size of the manifest or a key file, or a file appearing or disappearing.
#[derive(Debug)]
pub struct FileWatcher {
    seen: Vec<(PathBuf, Option<(SystemTime, u64)>)>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

impl FileWatcher {
    /// A watcher that treats the files' current state as seen.
    pub fn new(ring: &KeyRing) -> FileWatcher {
        FileWatcher { seen: Self::observe(ring) }
    }

    fn observe(ring: &KeyRing) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
        ring.watched_files()
            .into_iter()
            .map(|path| {
                let stamp = stamp(&path);
                (path, stamp)
            })
            .collect()
    }

    /// Reloads `ring` if any watched file changed since the last poll. `Ok(true)` when it
    /// reloaded; an error leaves the ring on its old keys and is retried at the next change
    /// (so a half-written file followed by its completion is picked up).
    pub fn poll(&mut self, ring: &KeyRing) -> Result<bool, KeyError> {
        let now = Self::observe(ring);
        if now == self.seen {
            return Ok(false);
        }
        self.seen = now;
        ring.reload()?;
        // The manifest may name new files: watch what the reloaded ring names.
        self.seen = Self::observe(ring);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_key(directory: &Path, name: &str, text: &str) -> PathBuf {
        let path = directory.join(name);
        std::fs::write(&path, text).expect("write key");
        path
    }

    #[test]
    fn keys_sign_and_verify_in_both_schemes_and_never_print() {
        let directory = tempfile::tempdir().expect("temporary directory");
        for scheme in [SignScheme::Sm2Sm3, SignScheme::Ed25519] {
            let (secret, public) = generate_key_pair(scheme).expect("generates");
            let path = write_key(directory.path(), scheme.name(), secret.expose());
            let signer = LocalKeySigner::load(&KeySpec {
                key_id: "k1".into(),
                scheme,
                source: KeySource::File(path),
            })
            .expect("loads");
            assert_eq!(signer.public_key(), public);
            let signature = signer.sign(b"message").expect("signs");
            assert_eq!(signature.len(), 64);
            assert!(public.verifies(b"message", &signature));
            assert!(!public.verifies(b"messagf", &signature));
            let debug = format!("{signer:?} {secret:?}");
            assert!(!debug.contains(secret.expose()), "{debug}");
            // The public key round-trips through its hex form.
            assert_eq!(PublicKey::decode(scheme, public.to_hex().as_bytes()), Some(public));
        }
    }

    #[test]
    fn wrong_scheme_or_garbage_is_refused_with_the_source_named() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = write_key(directory.path(), "garbage", "not a key");
        let error = LocalKeySigner::load(&KeySpec {
            key_id: "k1".into(),
            scheme: SignScheme::Sm2Sm3,
            source: KeySource::File(path.clone()),
        })
        .expect_err("garbage");
        assert!(matches!(error, KeyError::Undecodable { .. }));
        assert!(error.to_string().contains(&path.display().to_string()));
        let missing = KeySpec {
            key_id: "k1".into(),
            scheme: SignScheme::Ed25519,
            source: KeySource::Environment("TIANPING_TEST_NO_SUCH_VARIABLE".into()),
        };
        assert!(matches!(LocalKeySigner::load(&missing), Err(KeyError::Unreadable { .. })));
    }

    #[test]
    fn a_ring_signs_with_the_newest_and_verifies_with_either() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let (old_secret, _) = generate_key_pair(SignScheme::Sm2Sm3).expect("generates");
        let (new_secret, _) = generate_key_pair(SignScheme::Ed25519).expect("generates");
        write_key(directory.path(), "old.key", old_secret.expose());
        write_key(directory.path(), "new.key", new_secret.expose());
        let manifest = write_key(directory.path(), "ring", "old SM2 file:old.key\n");
        let ring = KeyRing::load(KeyRingSource::Manifest(manifest.clone()), KeyRole::Signing)
            .expect("loads");
        let old_signature = ring.signer().expect("signer").sign(b"m").expect("signs");
        std::fs::write(
            &manifest,
            "# rotation\nold SM2 file:old.key\nnew ED25519 file:new.key # newest last\n",
        )
        .expect("write");
        ring.reload().expect("reloads");
        let signer = ring.signer().expect("signer");
        assert_eq!((signer.key_id(), signer.scheme()), ("new", SignScheme::Ed25519));
        let new_signature = signer.sign(b"m").expect("signs");
        assert_eq!(ring.verify("old", SignScheme::Sm2Sm3, b"m", &old_signature), Ok(()));
        assert_eq!(ring.verify("new", SignScheme::Ed25519, b"m", &new_signature), Ok(()));
        assert!(matches!(
            ring.verify("new", SignScheme::Sm2Sm3, b"m", &new_signature),
            Err(KeyError::UnknownKey { .. })
        ));
        assert!(matches!(
            ring.verify("old", SignScheme::Sm2Sm3, b"m", &new_signature),
            Err(KeyError::BadSignature { .. })
        ));
        // Three keys, a broken file: the reload fails and the ring keeps its keys.
        std::fs::write(&manifest, "a SM2 file:old.key\nb SM2 file:old.key\nc SM2 file:old.key\n")
            .expect("write");
        assert!(ring.reload().is_err());
        std::fs::write(&manifest, "new ED25519 file:missing.key\n").expect("write");
        assert!(ring.reload().is_err());
        assert_eq!(ring.key_ids(), ["old", "new"]);
        let debug = format!("{ring:?}");
        assert!(!debug.contains(old_secret.expose()) && !debug.contains(new_secret.expose()));
    }

    #[test]
    fn the_watcher_reloads_on_change_only() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let (first, _) = generate_key_pair(SignScheme::Ed25519).expect("generates");
        let (second, _) = generate_key_pair(SignScheme::Ed25519).expect("generates");
        write_key(directory.path(), "a.key", first.expose());
        write_key(directory.path(), "b.key", second.expose());
        let manifest = write_key(directory.path(), "ring", "a ED25519 file:a.key\n");
        let ring = KeyRing::load(KeyRingSource::Manifest(manifest.clone()), KeyRole::Signing)
            .expect("loads");
        let mut watcher = FileWatcher::new(&ring);
        assert_eq!(watcher.poll(&ring), Ok(false));
        std::fs::write(&manifest, "a ED25519 file:a.key\nb ED25519 file:b.key\n").expect("write");
        assert_eq!(watcher.poll(&ring), Ok(true));
        assert_eq!(ring.key_ids(), ["a", "b"]);
        assert_eq!(watcher.poll(&ring), Ok(false));
    }

    #[test]
    fn sm2_public_keys_accept_gmssl_bare_points() {
        let (_, public) = generate_key_pair(SignScheme::Sm2Sm3).expect("generates");
        // gmssl's bare x‖y form is accepted as well as SEC1's 04‖x‖y.
        let bare = public.to_hex()[2..].to_owned();
        assert_eq!(PublicKey::decode(SignScheme::Sm2Sm3, bare.as_bytes()), Some(public.clone()));
        assert_eq!(PublicKey::decode(SignScheme::Ed25519, bare.as_bytes()), None);
    }
}

#[cfg(test)]
mod sm3_vectors {
    use sm3::{Digest, Sm3};

    /// GM/T 0004-2012 appendix A: the two published examples.
    #[test]
    fn sm3_matches_the_standards_examples() {
        assert_eq!(
            hex::encode(Sm3::digest(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert_eq!(
            hex::encode(Sm3::digest(b"abcd".repeat(16))),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }
}
