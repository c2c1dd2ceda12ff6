//! A key rotation under load: one thread seals and verifies envelopes continuously while the
//! main thread rotates the signing key five times through the manifests, in the documented
//! order (the verifier learns the new public key, the signer switches to it, in-flight
//! messages drain, the old key is dropped on both sides). Not one verification may fail.
//! Bounded: at most `ITERATIONS_MAX` messages and `DEADLINE` of wall time.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tianping_bank_adapters::direct::{self, MessageKind, Verifier, VerifierConfig};
use tianping_bank_adapters::keys::{
    KeyRing, KeyRingSource, KeyRole, SignScheme, generate_key_pair,
};

const ROTATIONS: usize = 5;
const ITERATIONS_MAX: u64 = 200_000;
const DEADLINE: Duration = Duration::from_secs(60);
const NOW_MS: u64 = 1_715_851_800_000;

/// Writes `text` to `path` atomically (temporary file and rename), as an operator's tooling
/// should, so a reload never reads half a file.
fn replace(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

fn scheme_of(index: usize) -> SignScheme {
    if index.is_multiple_of(2) { SignScheme::Sm2Sm3 } else { SignScheme::Ed25519 }
}

/// Manifest lines for keys `indices`, private or public files.
fn manifest(indices: &[usize], visibility: &str) -> String {
    indices
        .iter()
        .map(|index| {
            format!("key-{index} {} file:key-{index}.{visibility}\n", scheme_of(*index).name())
        })
        .collect()
}

fn new_key(directory: &Path, index: usize) {
    let (secret, public) = generate_key_pair(scheme_of(index)).expect("generates");
    replace(&directory.join(format!("key-{index}.private")), secret.expose());
    replace(&directory.join(format!("key-{index}.public")), &public.to_hex());
}

/// Waits until the worker has finished two more messages than now: every message sealed
/// before this call has then been verified.
fn drain(iterations: &AtomicU64, started: Instant) {
    let target = iterations.load(Ordering::SeqCst) + 2;
    while iterations.load(Ordering::SeqCst) < target {
        assert!(started.elapsed() < DEADLINE, "the worker stopped making progress");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn rotating_keys_under_load_loses_no_verification() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let signing_manifest = directory.path().join("signing.ring");
    let verifying_manifest = directory.path().join("verifying.ring");
    new_key(directory.path(), 0);
    replace(&signing_manifest, &manifest(&[0], "private"));
    replace(&verifying_manifest, &manifest(&[0], "public"));
    let signing = Arc::new(
        KeyRing::load(KeyRingSource::Manifest(signing_manifest.clone()), KeyRole::Signing)
            .expect("loads"),
    );
    let verifying = Arc::new(
        KeyRing::load(KeyRingSource::Manifest(verifying_manifest.clone()), KeyRole::VerifyingOnly)
            .expect("loads"),
    );
    let config = VerifierConfig {
        app_id: "tianping".to_owned(),
        window_ms: 300_000,
        nonce_capacity: ITERATIONS_MAX as usize,
    };
    let verifier = Arc::new(Verifier::new(config, Arc::clone(&verifying)));

    let stop = Arc::new(AtomicBool::new(false));
    let iterations = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let worker = {
        let (signing, verifier, stop, iterations) = (
            Arc::clone(&signing),
            Arc::clone(&verifier),
            Arc::clone(&stop),
            Arc::clone(&iterations),
        );
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut key_ids = std::collections::BTreeSet::new();
            for count in 0..ITERATIONS_MAX {
                if stop.load(Ordering::SeqCst) || started.elapsed() > DEADLINE {
                    break;
                }
                let signer = signing.signer().expect("a signing key");
                let envelope = direct::seal(
                    signer.as_ref(),
                    "tianping",
                    MessageKind::Request,
                    NOW_MS,
                    &format!("nonce-{count}"),
                    format!("{{\"sequence\":{count}}}"),
                )
                .expect("seals");
                let bytes = serde_json::to_vec(&envelope).expect("serializes");
                match verifier.verify(&bytes, NOW_MS) {
                    Ok(verified) => {
                        key_ids.insert(verified.key_id);
                    }
                    Err(error) => {
                        failures.push(format!("message {count} with {}: {error}", envelope.key_id))
                    }
                }
                iterations.fetch_add(1, Ordering::SeqCst);
            }
            (failures, key_ids)
        })
    };

    // The first key signs before the first rotation starts.
    drain(&iterations, started);
    for rotation in 1..=ROTATIONS {
        let (old, new) = (rotation - 1, rotation);
        new_key(directory.path(), new);
        // 1. The verifier learns the new public key.
        replace(&verifying_manifest, &manifest(&[old, new], "public"));
        verifying.reload().expect("verifier reloads");
        // 2. The signer switches to the new key (the newest of its ring).
        replace(&signing_manifest, &manifest(&[old, new], "private"));
        signing.reload().expect("signer reloads");
        drain(&iterations, started);
        // 3. The old key leaves the signer, then, once its messages drained, the verifier.
        replace(&signing_manifest, &manifest(&[new], "private"));
        signing.reload().expect("signer reloads");
        drain(&iterations, started);
        replace(&verifying_manifest, &manifest(&[new], "public"));
        verifying.reload().expect("verifier reloads");
        drain(&iterations, started);
        assert_eq!(signing.key_ids(), [format!("key-{new}")]);
    }
    stop.store(true, Ordering::SeqCst);
    let (failures, key_ids) = worker.join().expect("the worker does not panic");
    let counts = verifier.stats().snapshot();
    eprintln!(
        "rotation under load: {} messages in {:?}, keys used {key_ids:?}, counters {counts:?}",
        iterations.load(Ordering::SeqCst),
        started.elapsed()
    );
    assert!(failures.is_empty(), "verifications failed during rotation: {failures:?}");
    assert_eq!(key_ids.len(), ROTATIONS + 1, "every key signed something: {key_ids:?}");
    assert_eq!(counts.accepted, iterations.load(Ordering::SeqCst));
}
