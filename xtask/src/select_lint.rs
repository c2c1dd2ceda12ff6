//! Every `select!` in the workspace is `biased;`, checked (a test, so CI fails on one that
//! is not).
//!
//! Why: without `biased;`, tokio's `select!` (and futures') polls its branches in a random
//! order drawn from a generator seeded by a process-wide counter, not by madsim's seed. Under
//! the simulation, one seed then runs differently the second time in a process: the
//! determinism check (which runs each seed twice) failed on the lost-callbacks drill, seed 3,
//! national latency, where two branches of the bank worker's select were ready at once; and a
//! seed failing in a sweep might not fail when run alone. A fixed order costs nothing here:
//! each select says which branch wins a tie. Tooling that only ever runs on the real runtime
//! (`REAL_RUNTIME_ONLY`) is not checked.

use std::path::{Path, PathBuf};

/// Top-level folders whose code never runs under the simulation (operator and build tooling
/// on the real runtime only): not checked.
const REAL_RUNTIME_ONLY: [&str; 5] = ["chaos", "cli", "loadgen", "supervisor", "xtask"];

/// The places (file:line) of `select!` invocations whose first token is not `biased;`, among
/// the Rust files under `root` (the `target` directories, hidden folders and
/// `REAL_RUNTIME_ONLY` skipped).
pub fn unbiased_selects(root: &Path) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let skipped: Vec<PathBuf> = REAL_RUNTIME_ONLY.iter().map(|folder| root.join(folder)).collect();
    for file in rust_files(root)? {
        if skipped.iter().any(|folder| file.starts_with(folder)) {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|error| format!("{}: {error}", file.display()))?;
        for line in unbiased_in(&text) {
            found.push(format!("{}:{line}", file.display()));
        }
    }
    Ok(found)
}

/// The 1-based lines of `text` where a `select!` opens without `biased;` as its first token.
pub fn unbiased_in(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let Some(at) = code.find("select!") else { continue };
        // `select_biased!` and the like are other macros; only a bare `select!` counts.
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        // The first token after the opening brace, on this line or the next non-empty one.
        let after = code[at + "select!".len()..].trim_start();
        let Some(body) = after.strip_prefix(['{', '(']) else { continue };
        let first = if body.trim().is_empty() {
            lines[index + 1..]
                .iter()
                .map(|line| line.split("//").next().unwrap_or_default().trim())
                .find(|line| !line.is_empty())
                .unwrap_or_default()
        } else {
            body.trim()
        };
        if !first.starts_with("biased;") {
            found.push(index + 1);
        }
    }
    found
}

fn rust_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).map_err(|error| format!("{}: {error}", folder.display()))?;
        for entry in entries {
            let path = entry.map_err(|error| format!("{}: {error}", folder.display()))?.path();
            let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    folders.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::workspace_root;

    #[test]
    fn every_select_in_the_workspace_is_biased() {
        let found = unbiased_selects(&workspace_root()).expect("the workspace is readable");
        assert!(
            found.is_empty(),
            "select! without `biased;` (its random branch order is not the seed's, so a \
             simulated seed would not replay; give the branches a fixed order):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn an_unbiased_select_is_found_and_a_biased_one_is_not() {
        let text = "fn f() {\n    tokio::select! {\n        () = a => {}\n    }\n    \
                    tokio::select! {\n        biased;\n        () = a => {}\n    }\n    \
                    futures::select_biased! {\n        () = a => {}\n    }\n    \
                    // tokio::select! { in a comment }\n    \
                    let x = tokio::select! { biased; () = a => 1 };\n}\n";
        assert_eq!(unbiased_in(text), vec![2]);
    }
}
