//! The interop Python that `cargo xtask test` prepares (`xtask/src/interop.rs`): a virtualenv
//! with the packages pinned in `bank-adapters/tests/interop/requirements.txt`, which runs the
//! scripts beside that file. The XSDs and `xmllint` are in [`crate::schemas`].

use std::path::Path;
use std::process::{Command, Stdio};

use crate::schemas::{missing, path_from_env};

/// The variable naming the interop Python (`xtask/src/interop.rs` sets it).
pub const PYTHON: &str = "TIANPING_INTEROP_PYTHON";

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
