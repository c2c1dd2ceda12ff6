//! SM2 signatures and SM3 digests interoperate with gmssl (PyPI), an independent pure-Python
//! implementation of GM/T 0003 / 0004: gmssl signs and Tianping verifies, Tianping signs and
//! gmssl verifies, and both agree on public keys and digests. Driven by
//! `bank-adapters/tests/interop/sm2_gmssl.py`; the signature encoding is the same on both
//! sides (r‖s, 64 bytes, hex at this boundary), so no conversion is needed.

use sm3::{Digest, Sm3};
use tianping_bank_adapters::keys::{
    KeySource, KeySpec, LocalKeySigner, PublicKey, SignScheme, Signer,
};

use crate::interop::run_python;

/// Messages of the kinds that get signed: empty, ASCII, UTF-8 JSON, longer than a block.
fn messages() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"abc".to_vec(),
        "TIANPING-DC-1\nREQUEST\napp-1\n1715851800123\nn0nce\nk1\nSM2\n28\n{\"amount\":\"1234.50\",\"名\":1}".as_bytes().to_vec(),
        (0..=255u8).cycle().take(1000).collect(),
    ]
}

fn gmssl_key_pair() -> (String, String) {
    let output = run_python("sm2_gmssl.py", &["keygen"]);
    let (private_hex, public_hex) = output.split_once(' ').expect("PRIVATE PUBLIC");
    (private_hex.to_owned(), public_hex.to_owned())
}

fn signer_from_hex(private_hex: &str) -> (tempfile::TempDir, LocalKeySigner) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("sm2.key");
    std::fs::write(&path, private_hex).expect("write key");
    let spec = KeySpec {
        key_id: "k1".to_owned(),
        scheme: SignScheme::Sm2Sm3,
        source: KeySource::File(path),
    };
    (directory, LocalKeySigner::load(&spec).expect("loads the private key"))
}

#[test]
fn both_derive_the_same_public_key() {
    let (private_hex, public_hex) = gmssl_key_pair();
    let (_directory, signer) = signer_from_hex(&private_hex);
    assert_eq!(signer.public_key().to_hex(), format!("04{public_hex}"));
}

#[test]
fn gmssl_signs_and_tianping_verifies() {
    let (private_hex, public_hex) = gmssl_key_pair();
    let public =
        PublicKey::decode(SignScheme::Sm2Sm3, public_hex.as_bytes()).expect("gmssl's x‖y decodes");
    for message in messages() {
        let signature_hex = run_python(
            "sm2_gmssl.py",
            &["sign", &private_hex, &public_hex, &hex::encode(&message)],
        );
        let signature = hex::decode(signature_hex.trim()).expect("hex signature");
        assert!(
            public.verifies(&message, &signature),
            "gmssl's signature of {message:?} must verify"
        );
        let mut tampered = message.clone();
        tampered.push(b'!');
        assert!(!public.verifies(&tampered, &signature), "a tampered message must not verify");
    }
}

#[test]
fn tianping_signs_and_gmssl_verifies() {
    let (private_hex, public_hex) = gmssl_key_pair();
    let (_directory, signer) = signer_from_hex(&private_hex);
    for message in messages() {
        let signature = hex::encode(signer.sign(&message).expect("signs"));
        let verdict = run_python(
            "sm2_gmssl.py",
            &["verify", &public_hex, &signature, &hex::encode(&message)],
        );
        assert_eq!(verdict, "true", "gmssl must accept Tianping's signature of {message:?}");
        let mut tampered = message.clone();
        tampered.push(b'!');
        let verdict = run_python(
            "sm2_gmssl.py",
            &["verify", &public_hex, &signature, &hex::encode(&tampered)],
        );
        assert_eq!(verdict, "false", "gmssl must refuse a tampered message (the check bites)");
    }
}

#[test]
fn sm3_digests_agree() {
    for message in messages() {
        let theirs = run_python("sm2_gmssl.py", &["sm3", &hex::encode(&message)]);
        assert_eq!(theirs, hex::encode(Sm3::digest(&message)), "SM3 of {message:?}");
    }
}
