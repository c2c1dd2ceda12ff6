//! The signed direct-connect protocol (银企直连), JSON as Chinese banks offer it: every
//! request, answer and callback is an [`Envelope`] whose `biz_content` is the business body as
//! an exact JSON string, signed with SM2 (over SM3) or Ed25519. The HTTP transport that
//! carries envelopes comes with the bank simulator in the next slice; this module is the part
//! both sides share.
//!
//! ## Envelope
//!
//! ```json
//! {"app_id":"tianping-1","timestamp_ms":1715851800123,"nonce":"9f…","key_id":"tp-2024-05",
//!  "sign_type":"SM2","kind":"REQUEST","biz_content":"{\"end_to_end_id\":\"42\",…}",
//!  "signature":"base64 of the 64-byte signature"}
//! ```
//!
//! ## Canonical bytes (what is signed)
//!
//! The UTF-8 bytes of, with `\n` after every line but the body:
//!
//! ```text
//! TIANPING-DC-1
//! <kind>            REQUEST | ANSWER | CALLBACK
//! <app_id>
//! <timestamp_ms>    decimal, no leading zeros
//! <nonce>
//! <key_id>
//! <sign_type>       SM2 | ED25519
//! <body length>     decimal byte length of biz_content
//! <biz_content>     the exact bytes, unparsed
//! ```
//!
//! Why this and not sorted JSON keys: the body is signed byte for byte as sent, so no JSON
//! canonicalization (number forms, escapes, key order) can differ between two
//! implementations; header fields are restricted to visible ASCII without blanks and the body
//! is length-prefixed, so no two envelopes share canonical bytes. The kind is signed so an
//! answer cannot be replayed as a callback.
//!
//! ## Verification ([`Verifier::verify`]), in order; the first failure is the answer
//!
//! 1. the envelope is well-formed JSON within [`ENVELOPE_BYTES_MAX`] → else `Malformed`;
//! 2. the signature is present → else `MissingSignature`;
//! 3. the app id is the one configured and the header fields are well-formed → else `Malformed`;
//! 4. the timestamp is within ±`window_ms` of the caller's `now_ms` → else `StaleTimestamp`;
//! 5. the key id and scheme are in the key ring → else `UnknownKey`;
//! 6. the signature verifies over the canonical bytes → else `BadSignature`;
//! 7. the `(app_id, nonce)` pair was not seen within the window → else `Replayed`; the nonce
//!    cache has room → else `NonceCacheFull`.
//!
//! Each refusal increments its counter in [`VerifierStats`]. Nonces are remembered only after
//! the signature verified (a forger cannot fill the cache) and forgotten once their timestamp
//! leaves the window (a message that old is refused by step 4 anyway), so the cache is bounded
//! by the number of genuine messages per window, and by [`VerifierConfig::nonce_capacity`]:
//! when full it refuses rather than forgets, because forgetting would open a replay.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, KeyRing, SignScheme, Signer};
use crate::money::Money;
use crate::payment::{
    EndToEndId, PayoutInstruction, PayoutOutcome, PayoutQuery, ReasonCode, ReasonKind,
};

/// The first line of the canonical bytes: names the format so a change of format is a change
/// of tag.
pub const PROTOCOL_TAG: &str = "TIANPING-DC-1";

/// The largest envelope accepted.
pub const ENVELOPE_BYTES_MAX: usize = 1024 * 1024;

/// The longest header field (app id, nonce, key id).
pub const HEADER_FIELD_BYTES_MAX: usize = 64;

/// Random bytes in a fresh nonce (hex-encoded): 128 bits.
pub const NONCE_RANDOM_BYTES: usize = 16;

const _: () = assert!(NONCE_RANDOM_BYTES * 2 <= HEADER_FIELD_BYTES_MAX);

/// What an envelope is, signed so one kind cannot be replayed as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Tianping → bank.
    Request,
    /// Bank → Tianping, the answer to a request.
    Answer,
    /// Bank → Tianping, unsolicited (a status change, an incoming credit).
    Callback,
}

impl MessageKind {
    /// The wire name.
    pub const fn name(self) -> &'static str {
        match self {
            MessageKind::Request => "REQUEST",
            MessageKind::Answer => "ANSWER",
            MessageKind::Callback => "CALLBACK",
        }
    }

    fn from_name(name: &str) -> Option<MessageKind> {
        match name {
            "REQUEST" => Some(MessageKind::Request),
            "ANSWER" => Some(MessageKind::Answer),
            "CALLBACK" => Some(MessageKind::Callback),
            _ => None,
        }
    }
}

/// A signed message as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The merchant / client id the bank assigned.
    pub app_id: String,
    /// The sender's clock at signing, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Unique per message (replay protection).
    pub nonce: String,
    /// The signing key's id.
    pub key_id: String,
    /// `SM2` or `ED25519`.
    pub sign_type: String,
    /// `REQUEST`, `ANSWER` or `CALLBACK`.
    pub kind: String,
    /// The business body: a JSON document, as a string, signed byte for byte.
    pub biz_content: String,
    /// Base64 of the signature; absent on an unsigned (refused) message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The canonical bytes of the module doc.
pub fn canonical_bytes(envelope: &Envelope) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(envelope.biz_content.len() + 160);
    for line in [
        PROTOCOL_TAG,
        &envelope.kind,
        &envelope.app_id,
        &envelope.timestamp_ms.to_string(),
        &envelope.nonce,
        &envelope.key_id,
        &envelope.sign_type,
        &envelope.biz_content.len().to_string(),
    ] {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(envelope.biz_content.as_bytes());
    bytes
}

fn header_field_ok(field: &str) -> bool {
    !field.is_empty()
        && field.len() <= HEADER_FIELD_BYTES_MAX
        && field.bytes().all(|byte| byte.is_ascii_graphic())
}

/// A fresh nonce: 128 random bits from the operating system, in hex.
pub fn fresh_nonce() -> Result<String, KeyError> {
    let mut bytes = [0u8; NONCE_RANDOM_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|error| KeyError::NoRandomness { detail: error.to_string() })?;
    Ok(hex::encode(bytes))
}

/// Signs `biz_content` into an envelope with `signer`. `timestamp_ms` is the caller's clock
/// and `nonce` a [`fresh_nonce`] (both passed in so the simulation controls them).
pub fn seal(
    signer: &dyn Signer,
    app_id: &str,
    kind: MessageKind,
    timestamp_ms: u64,
    nonce: &str,
    biz_content: String,
) -> Result<Envelope, KeyError> {
    for field in [app_id, nonce, signer.key_id()] {
        if !header_field_ok(field) {
            return Err(KeyError::BadKeyId { key_id: field.to_owned() });
        }
    }
    let mut envelope = Envelope {
        app_id: app_id.to_owned(),
        timestamp_ms,
        nonce: nonce.to_owned(),
        key_id: signer.key_id().to_owned(),
        sign_type: signer.scheme().name().to_owned(),
        kind: kind.name().to_owned(),
        biz_content,
        signature: None,
    };
    let signature = signer.sign(&canonical_bytes(&envelope))?;
    envelope.signature = Some(BASE64.encode(signature));
    Ok(envelope)
}

/// Why an envelope was refused (each is counted in [`VerifierStats`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not JSON, not an envelope, too large, a bad header field, another app id, or an
    /// unknown kind or sign type.
    #[error("malformed envelope: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// No `signature` field, or an empty one.
    #[error("envelope is not signed")]
    MissingSignature,
    /// The timestamp is outside the window around the verifier's clock.
    #[error("timestamp {timestamp_ms} is outside ±{window_ms} ms of {now_ms}")]
    StaleTimestamp {
        /// The envelope's timestamp.
        timestamp_ms: u64,
        /// The verifier's clock.
        now_ms: u64,
        /// The window.
        window_ms: u64,
    },
    /// The key id or scheme is not in the ring.
    #[error("unknown key {key_id} ({sign_type})")]
    UnknownKey {
        /// The envelope's key id.
        key_id: String,
        /// The envelope's sign type.
        sign_type: String,
    },
    /// The signature does not verify.
    #[error("bad signature with key {key_id}")]
    BadSignature {
        /// The envelope's key id.
        key_id: String,
    },
    /// The nonce was already seen within the window.
    #[error("replayed nonce {nonce}")]
    Replayed {
        /// The nonce.
        nonce: String,
    },
    /// The nonce cache is full of nonces still inside the window.
    #[error("nonce cache full ({capacity} nonces within the window)")]
    NonceCacheFull {
        /// The configured capacity.
        capacity: usize,
    },
}

/// Refusal and acceptance counters, for the metrics of the next slice (`signature failures`
/// per bank). Plain atomics, so reading them never blocks verification.
#[derive(Debug, Default)]
pub struct VerifierStats {
    /// Envelopes accepted.
    pub accepted: AtomicU64,
    /// Refused as [`VerifyError::Malformed`].
    pub malformed: AtomicU64,
    /// Refused as [`VerifyError::MissingSignature`].
    pub missing_signature: AtomicU64,
    /// Refused as [`VerifyError::StaleTimestamp`].
    pub stale_timestamp: AtomicU64,
    /// Refused as [`VerifyError::UnknownKey`].
    pub unknown_key: AtomicU64,
    /// Refused as [`VerifyError::BadSignature`].
    pub bad_signature: AtomicU64,
    /// Refused as [`VerifyError::Replayed`].
    pub replayed: AtomicU64,
    /// Refused as [`VerifyError::NonceCacheFull`].
    pub nonce_cache_full: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifierCounts {
    /// See [`VerifierStats::accepted`].
    pub accepted: u64,
    /// See [`VerifierStats::malformed`].
    pub malformed: u64,
    /// See [`VerifierStats::missing_signature`].
    pub missing_signature: u64,
    /// See [`VerifierStats::stale_timestamp`].
    pub stale_timestamp: u64,
    /// See [`VerifierStats::unknown_key`].
    pub unknown_key: u64,
    /// See [`VerifierStats::bad_signature`].
    pub bad_signature: u64,
    /// See [`VerifierStats::replayed`].
    pub replayed: u64,
    /// See [`VerifierStats::nonce_cache_full`].
    pub nonce_cache_full: u64,
}

impl VerifierStats {
    /// The counters now.
    pub fn snapshot(&self) -> VerifierCounts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        VerifierCounts {
            accepted: load(&self.accepted),
            malformed: load(&self.malformed),
            missing_signature: load(&self.missing_signature),
            stale_timestamp: load(&self.stale_timestamp),
            unknown_key: load(&self.unknown_key),
            bad_signature: load(&self.bad_signature),
            replayed: load(&self.replayed),
            nonce_cache_full: load(&self.nonce_cache_full),
        }
    }

    fn count(&self, error: &VerifyError) {
        let counter = match error {
            VerifyError::Malformed { .. } => &self.malformed,
            VerifyError::MissingSignature => &self.missing_signature,
            VerifyError::StaleTimestamp { .. } => &self.stale_timestamp,
            VerifyError::UnknownKey { .. } => &self.unknown_key,
            VerifyError::BadSignature { .. } => &self.bad_signature,
            VerifyError::Replayed { .. } => &self.replayed,
            VerifyError::NonceCacheFull { .. } => &self.nonce_cache_full,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How a verifier judges envelopes from one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The only app id accepted.
    pub app_id: String,
    /// Accepted clock difference either way, in milliseconds (5 minutes is usual).
    pub window_ms: u64,
    /// The most nonces remembered at once (bounded memory; see the module doc).
    pub nonce_capacity: usize,
}

/// Nonces seen within the window, ordered by timestamp for eviction.
#[derive(Debug, Default)]
struct NonceCache {
    by_time: BTreeSet<(u64, String)>,
    seen: HashSet<String>,
}

impl NonceCache {
    fn forget_before(&mut self, oldest_ms: u64) {
        while let Some((timestamp_ms, _)) = self.by_time.first() {
            if *timestamp_ms >= oldest_ms {
                break;
            }
            if let Some((_, nonce)) = self.by_time.pop_first() {
                self.seen.remove(&nonce);
            }
        }
    }
}

/// A verified message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its kind.
    pub kind: MessageKind,
    /// The key that signed it.
    pub key_id: String,
    /// The business body.
    pub biz_content: String,
}

/// Checks envelopes from one peer against its key ring (module doc lists the checks).
#[derive(Debug)]
pub struct Verifier {
    config: VerifierConfig,
    keys: Arc<KeyRing>,
    nonces: Mutex<NonceCache>,
    stats: VerifierStats,
}

impl Verifier {
    /// A verifier for the peer whose keys `keys` holds.
    pub fn new(config: VerifierConfig, keys: Arc<KeyRing>) -> Verifier {
        Verifier {
            config,
            keys,
            nonces: Mutex::new(NonceCache::default()),
            stats: VerifierStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &VerifierStats {
        &self.stats
    }

    /// A fresh verifier of the same peer (same app id, window and key ring, so a key rotation
    /// or reload reaches both) with a nonce cache and counters of its own: the worker verifies
    /// a bank's pushed callbacks with a sibling of the verifier of its answers, and counts
    /// their refusals apart.
    pub fn sibling(&self) -> Verifier {
        Verifier::new(self.config.clone(), Arc::clone(&self.keys))
    }

    /// Verifies the envelope in `bytes` at the verifier's clock `now_ms`; every refusal is
    /// counted.
    pub fn verify(&self, bytes: &[u8], now_ms: u64) -> Result<Verified, VerifyError> {
        let verdict = self.check(bytes, now_ms);
        match &verdict {
            Ok(_) => {
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.stats.count(error),
        }
        verdict
    }

    fn check(&self, bytes: &[u8], now_ms: u64) -> Result<Verified, VerifyError> {
        let malformed = |detail: String| VerifyError::Malformed { detail };
        if bytes.len() > ENVELOPE_BYTES_MAX {
            return Err(malformed(format!("{} bytes, over {ENVELOPE_BYTES_MAX}", bytes.len())));
        }
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|error| malformed(error.to_string()))?;
        let signature = match envelope.signature.as_deref() {
            Some(signature) if !signature.is_empty() => signature,
            _ => return Err(VerifyError::MissingSignature),
        };
        if envelope.app_id != self.config.app_id {
            return Err(malformed(format!(
                "app id {:?} is not {:?}",
                envelope.app_id, self.config.app_id
            )));
        }
        if ![&envelope.nonce, &envelope.key_id].into_iter().all(|field| header_field_ok(field)) {
            return Err(malformed(
                "nonce or key id is not 1..=64 visible ASCII characters".to_owned(),
            ));
        }
        let kind = MessageKind::from_name(&envelope.kind)
            .ok_or_else(|| malformed(format!("unknown kind {:?}", envelope.kind)))?;
        let scheme = SignScheme::from_name(&envelope.sign_type)
            .ok_or_else(|| malformed(format!("unknown sign type {:?}", envelope.sign_type)))?;
        if envelope.timestamp_ms.abs_diff(now_ms) > self.config.window_ms {
            return Err(VerifyError::StaleTimestamp {
                timestamp_ms: envelope.timestamp_ms,
                now_ms,
                window_ms: self.config.window_ms,
            });
        }
        let signature = BASE64
            .decode(signature)
            .map_err(|_| VerifyError::BadSignature { key_id: envelope.key_id.clone() })?;
        match self.keys.verify(&envelope.key_id, scheme, &canonical_bytes(&envelope), &signature) {
            Ok(()) => {}
            Err(KeyError::UnknownKey { .. }) => {
                return Err(VerifyError::UnknownKey {
                    key_id: envelope.key_id,
                    sign_type: envelope.sign_type,
                });
            }
            Err(_) => return Err(VerifyError::BadSignature { key_id: envelope.key_id }),
        }
        self.remember_nonce(&envelope, now_ms)?;
        Ok(Verified { kind, key_id: envelope.key_id, biz_content: envelope.biz_content })
    }

    fn remember_nonce(&self, envelope: &Envelope, now_ms: u64) -> Result<(), VerifyError> {
        // A poisoned lock means a panic mid-update of a set of strings; the sets stay usable.
        let mut cache = self.nonces.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.forget_before(now_ms.saturating_sub(self.config.window_ms));
        // Nonces are scoped by app id: one verifier serves one app id, so the nonce alone is
        // the key here.
        if cache.seen.contains(&envelope.nonce) {
            return Err(VerifyError::Replayed { nonce: envelope.nonce.clone() });
        }
        if cache.seen.len() >= self.config.nonce_capacity {
            return Err(VerifyError::NonceCacheFull { capacity: self.config.nonce_capacity });
        }
        cache.seen.insert(envelope.nonce.clone());
        cache.by_time.insert((envelope.timestamp_ms, envelope.nonce.clone()));
        Ok(())
    }

    /// How many nonces are remembered now (for tests and a gauge).
    pub fn nonces_remembered(&self) -> usize {
        self.nonces.lock().unwrap_or_else(std::sync::PoisonError::into_inner).seen.len()
    }
}

/// Why a business body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Not the expected JSON.
    #[error("body is not the expected JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An amount or currency the money module refuses.
    #[error("body amount: {0}")]
    Money(#[from] crate::money::MoneyError),
    /// An id the gateway refuses.
    #[error("body reference: {0}")]
    Reference(#[from] crate::payment::ReferenceError),
    /// A status this crate does not know.
    #[error("unknown status {0:?}")]
    UnknownStatus(String),
    /// A code this crate does not know in a field other than the status.
    #[error("{field} has unknown code {value:?}")]
    UnknownCode {
        /// The field.
        field: &'static str,
        /// The code found.
        value: String,
    },
    /// A statement period whose first day is after its last.
    #[error("statement period {from}..{to} is reversed")]
    ReversedPeriod {
        /// The first day.
        from: crate::calendar::Date,
        /// The last day.
        to: crate::calendar::Date,
    },
    /// A date that is not `YYYY-MM-DD`.
    #[error("body date: {0}")]
    Date(#[from] crate::calendar::CalendarError),
}

/// The body of a payout request: amounts as decimal text with their currency, as the banks'
/// JSON specifications write them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRequestBody {
    /// The payout id in decimal: the bank's idempotency key.
    pub end_to_end_id: String,
    /// Fresh per attempt.
    pub request_id: String,
    /// Fresh per attempt.
    pub instruction_id: String,
    /// Decimal text, e.g. `"1234.50"`.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Our paying account.
    pub debtor_account: String,
    /// Its holder.
    pub debtor_name: String,
    /// The beneficiary's account.
    pub creditor_account: String,
    /// The beneficiary.
    pub creditor_name: String,
    /// `YYYY-MM-DD`.
    pub requested_execution_date: String,
}

impl PayoutRequestBody {
    /// The body of one attempt of `instruction`.
    pub fn from_instruction(instruction: &PayoutInstruction) -> PayoutRequestBody {
        PayoutRequestBody {
            end_to_end_id: instruction.end_to_end_id.as_str().to_owned(),
            request_id: instruction.attempt.message_id.as_str().to_owned(),
            instruction_id: instruction.attempt.instruction_id.as_str().to_owned(),
            amount: instruction.amount.to_decimal_text(),
            currency: instruction.amount.currency.code().to_owned(),
            debtor_account: instruction.debtor.account().to_owned(),
            debtor_name: instruction.debtor.name().to_owned(),
            creditor_account: instruction.creditor.account().to_owned(),
            creditor_name: instruction.creditor.name().to_owned(),
            requested_execution_date: instruction.requested_execution_date.to_string(),
        }
    }

    /// The amount, exactly (the bank simulator's side of the request).
    pub fn money(&self) -> Result<Money, BodyError> {
        Ok(Money::parse(&self.amount, &self.currency)?)
    }
}

/// The body of an answer or callback about one payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutStatusBody {
    /// The payout's end-to-end id.
    pub end_to_end_id: String,
    /// `ACCEPTED`, `PENDING`, `SUCCEEDED`, `FAILED` or `NOT_FOUND`.
    pub status: String,
    /// The bank's reason code for `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The bank's free-text reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_message: Option<String>,
    /// The bank's reference for an executed payout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_reference: Option<String>,
}

impl PayoutStatusBody {
    /// What the body says, as the gateway's query answer. Unknown statuses are an error, not
    /// a guess: the caller treats the outcome as unknown and queries again.
    pub fn to_query(&self) -> Result<(EndToEndId, PayoutQuery), BodyError> {
        let id = EndToEndId::parse(&self.end_to_end_id)?;
        let outcome = match self.status.as_str() {
            "NOT_FOUND" => return Ok((id, PayoutQuery::NotFound)),
            "ACCEPTED" => PayoutOutcome::Accepted,
            "PENDING" => PayoutOutcome::Pending,
            "SUCCEEDED" => PayoutOutcome::Executed { bank_reference: self.bank_reference.clone() },
            "FAILED" => PayoutOutcome::Rejected {
                reason: self.reason_code.as_ref().map(|code| ReasonCode {
                    code: code.clone(),
                    kind: ReasonKind::Proprietary,
                    additional_info: self.reason_message.clone(),
                }),
            },
            other => return Err(BodyError::UnknownStatus(other.to_owned())),
        };
        Ok((id, PayoutQuery::Known(outcome)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyRingSource, KeyRole, KeySource, KeySpec, generate_key_pair};

    const NOW_MS: u64 = 1_715_851_800_000;
    const WINDOW_MS: u64 = 300_000;

    struct Peer {
        _directory: tempfile::TempDir,
        signing: KeyRing,
        verifier: Verifier,
    }

    /// A signer's ring and a verifier holding only its public key, from a key of `scheme`.
    fn peer(scheme: SignScheme, nonce_capacity: usize) -> Peer {
        let directory = tempfile::tempdir().expect("temporary directory");
        let (secret, public) = generate_key_pair(scheme).expect("generates");
        let private_path = directory.path().join("private");
        let public_path = directory.path().join("public");
        std::fs::write(&private_path, secret.expose()).expect("write");
        std::fs::write(&public_path, public.to_hex()).expect("write");
        let spec = |source| KeySpec { key_id: "bank-1".to_owned(), scheme, source };
        let signing = KeyRing::load(
            KeyRingSource::Fixed(vec![spec(KeySource::File(private_path))]),
            KeyRole::Signing,
        )
        .expect("loads");
        let public_ring = KeyRing::load(
            KeyRingSource::Fixed(vec![spec(KeySource::File(public_path))]),
            KeyRole::VerifyingOnly,
        )
        .expect("loads");
        let config =
            VerifierConfig { app_id: "tianping".to_owned(), window_ms: WINDOW_MS, nonce_capacity };
        Peer {
            _directory: directory,
            signing,
            verifier: Verifier::new(config, Arc::new(public_ring)),
        }
    }

    fn sealed(peer: &Peer, timestamp_ms: u64, nonce: &str) -> Envelope {
        let signer = peer.signing.signer().expect("signer");
        seal(
            signer.as_ref(),
            "tianping",
            MessageKind::Callback,
            timestamp_ms,
            nonce,
            r#"{"status":"SUCCEEDED"}"#.to_owned(),
        )
        .expect("seals")
    }

    fn bytes(envelope: &Envelope) -> Vec<u8> {
        serde_json::to_vec(envelope).expect("serializes")
    }

    #[test]
    fn each_check_refuses_and_counts() {
        for scheme in [SignScheme::Sm2Sm3, SignScheme::Ed25519] {
            let peer = peer(scheme, 100);
            let good = sealed(&peer, NOW_MS, "n1");
            let verified = peer.verifier.verify(&bytes(&good), NOW_MS + 1).expect("verifies");
            assert_eq!(
                (verified.kind, verified.biz_content.as_str()),
                (MessageKind::Callback, r#"{"status":"SUCCEEDED"}"#)
            );

            let check = |envelope: &Envelope, now_ms: u64, expected: &str| {
                let error = peer.verifier.verify(&bytes(envelope), now_ms).expect_err(expected);
                assert!(format!("{error:?}").starts_with(expected), "{expected}: {error:?}");
            };
            check(&good, NOW_MS, "Replayed");
            check(
                &Envelope { signature: None, ..sealed(&peer, NOW_MS, "n2") },
                NOW_MS,
                "MissingSignature",
            );
            check(
                &Envelope { app_id: "other".into(), ..sealed(&peer, NOW_MS, "n3") },
                NOW_MS,
                "Malformed",
            );
            check(&sealed(&peer, NOW_MS - WINDOW_MS - 1, "n4"), NOW_MS, "StaleTimestamp");
            check(&sealed(&peer, NOW_MS + WINDOW_MS + 1, "n5"), NOW_MS, "StaleTimestamp");
            check(
                &Envelope { key_id: "bank-2".into(), ..sealed(&peer, NOW_MS, "n6") },
                NOW_MS,
                "UnknownKey",
            );
            check(
                &Envelope {
                    biz_content: r#"{"status":"FAILED"}"#.into(),
                    ..sealed(&peer, NOW_MS, "n7")
                },
                NOW_MS,
                "BadSignature",
            );
            check(
                &Envelope { kind: "ANSWER".into(), ..sealed(&peer, NOW_MS, "n8") },
                NOW_MS,
                "BadSignature",
            );
            check(
                &Envelope { timestamp_ms: NOW_MS + 1, ..sealed(&peer, NOW_MS, "n9") },
                NOW_MS,
                "BadSignature",
            );
            check(
                &Envelope { signature: Some("!!".into()), ..sealed(&peer, NOW_MS, "n10") },
                NOW_MS,
                "BadSignature",
            );
            assert!(matches!(
                peer.verifier.verify(b"{not json", NOW_MS),
                Err(VerifyError::Malformed { .. })
            ));
            // A refused message leaves its nonce unused: the genuine one still passes.
            assert!(peer.verifier.verify(&bytes(&sealed(&peer, NOW_MS, "n7")), NOW_MS).is_ok());
            assert_eq!(
                peer.verifier.stats().snapshot(),
                VerifierCounts {
                    accepted: 2,
                    malformed: 2,
                    missing_signature: 1,
                    stale_timestamp: 2,
                    unknown_key: 1,
                    bad_signature: 4,
                    replayed: 1,
                    nonce_cache_full: 0,
                }
            );
        }
    }

    #[test]
    fn the_nonce_cache_is_bounded_and_forgets_only_what_the_window_refuses() {
        let peer = peer(SignScheme::Ed25519, 3);
        for (index, nonce) in ["a", "b", "c"].into_iter().enumerate() {
            let timestamp = NOW_MS + index as u64;
            assert!(
                peer.verifier.verify(&bytes(&sealed(&peer, timestamp, nonce)), timestamp).is_ok()
            );
        }
        // Full of nonces still inside the window: refuse rather than forget.
        let fourth = sealed(&peer, NOW_MS + 3, "d");
        assert!(matches!(
            peer.verifier.verify(&bytes(&fourth), NOW_MS + 3),
            Err(VerifyError::NonceCacheFull { .. })
        ));
        // Once "a" leaves the window it is forgotten, and a replay of it is refused by its
        // timestamp instead.
        let later = NOW_MS + WINDOW_MS + 1;
        assert!(peer.verifier.verify(&bytes(&sealed(&peer, later, "d")), later).is_ok());
        assert_eq!(peer.verifier.nonces_remembered(), 3);
        let replay_of_a = sealed(&peer, NOW_MS, "a");
        assert!(matches!(
            peer.verifier.verify(&bytes(&replay_of_a), later),
            Err(VerifyError::StaleTimestamp { .. })
        ));
    }

    #[test]
    fn canonical_bytes_are_exactly_as_documented() {
        let envelope = Envelope {
            app_id: "app".into(),
            timestamp_ms: 5,
            nonce: "n".into(),
            key_id: "k".into(),
            sign_type: "SM2".into(),
            kind: "REQUEST".into(),
            biz_content: "{\"a\":\"元\"}".into(),
            signature: None,
        };
        assert_eq!(
            canonical_bytes(&envelope),
            "TIANPING-DC-1\nREQUEST\napp\n5\nn\nk\nSM2\n11\n{\"a\":\"元\"}".as_bytes()
        );
    }

    #[test]
    fn status_bodies_map_to_queries() {
        let body = |status: &str| PayoutStatusBody {
            end_to_end_id: "42".into(),
            status: status.into(),
            reason_code: Some("E01".into()),
            reason_message: None,
            bank_reference: Some("R".into()),
        };
        assert!(matches!(body("NOT_FOUND").to_query(), Ok((_, PayoutQuery::NotFound))));
        assert!(matches!(
            body("SUCCEEDED").to_query(),
            Ok((_, PayoutQuery::Known(PayoutOutcome::Executed { bank_reference: Some(_) })))
        ));
        assert!(matches!(
            body("FAILED").to_query(),
            Ok((_, PayoutQuery::Known(PayoutOutcome::Rejected { reason: Some(_) })))
        ));
        assert!(matches!(body("DONE").to_query(), Err(BodyError::UnknownStatus(_))));
        let json = serde_json::to_string(&body("PENDING")).expect("serializes");
        let back: PayoutStatusBody = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, body("PENDING"));
    }
}
