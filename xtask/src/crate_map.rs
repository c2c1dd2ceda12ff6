//! The crate map's rules, checked: `ARCHITECTURE.md` opens with a table saying, per crate,
//! which Tianping crates it may depend on and which crates it must never reach; this module
//! reads that table and holds `cargo metadata`'s resolved graph to it (a test, so `cargo test
//! --workspace` — and CI — fails on a wrong dependency).
//!
//! Only normal dependencies count (what ships), resolved for the host platform; the madsim
//! build's `cfg(madsim)` dependencies are not in that graph. A workspace crate the table does
//! not name fails too, so a new crate cannot slip in without its line.

use std::collections::{BTreeMap, BTreeSet};

/// One row of the crate map.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// The package name.
    pub krate: String,
    /// Tianping crates it may depend on directly.
    pub may: BTreeSet<String>,
    /// Crates that must not appear anywhere among its normal dependencies.
    pub never: BTreeSet<String>,
}

/// The names between backticks in a table cell (`—` or no backticks: none).
fn names(cell: &str) -> BTreeSet<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The rules of the crate map: the first markdown table under `## Crate map`, whose columns
/// are crate, folder, owns, may depend on, must never depend on.
pub fn parse_rules(architecture: &str) -> Result<Vec<Rule>, String> {
    let section = architecture
        .split("\n## ")
        .find(|section| section.starts_with("Crate map"))
        .ok_or("ARCHITECTURE.md has no `## Crate map` section")?;
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    let header = rows.first().ok_or("the crate map has no table")?;
    if header.len() != 5 || header[3] != "may depend on" || header[4] != "must never depend on" {
        return Err(format!("the crate map's header is not the expected five columns: {header:?}"));
    }
    let mut rules = Vec::new();
    for row in rows.iter().skip(2) {
        let [krate, _folder, _owns, may, never] = row.as_slice() else {
            return Err(format!("a crate map row has {} cells, not 5: {row:?}", row.len()));
        };
        let krate = names(krate)
            .into_iter()
            .next()
            .ok_or_else(|| format!("a crate map row names no crate: {row:?}"))?;
        rules.push(Rule { krate, may: names(may), never: names(never) });
    }
    Ok(rules)
}

/// The resolved workspace: members, and per package id its name and normal dependencies.
pub struct Graph {
    /// Workspace members: name → package id.
    pub members: BTreeMap<String, String>,
    /// Package id → (name, ids of its normal dependencies).
    pub packages: BTreeMap<String, (String, Vec<String>)>,
}

impl Graph {
    /// Reads `cargo metadata --format-version 1` output.
    pub fn from_metadata(json: &str) -> Result<Graph, String> {
        let metadata: serde_json::Value =
            serde_json::from_str(json).map_err(|error| format!("cargo metadata: {error}"))?;
        let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
        let mut names = BTreeMap::new();
        for package in metadata["packages"].as_array().ok_or("cargo metadata: no packages")? {
            if let (Some(id), Some(name)) = (text(&package["id"]), text(&package["name"])) {
                names.insert(id, name);
            }
        }
        let members = metadata["workspace_members"]
            .as_array()
            .ok_or("cargo metadata: no workspace_members")?
            .iter()
            .filter_map(text)
            .filter_map(|id| names.get(&id).map(|name| (name.clone(), id)))
            .collect();
        let mut packages = BTreeMap::new();
        let nodes = metadata["resolve"]["nodes"].as_array().ok_or("cargo metadata: no resolve")?;
        for node in nodes {
            let Some(id) = text(&node["id"]) else { continue };
            let normal = node["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|kind| kind["kind"].is_null())
                })
                .filter_map(|dep| text(&dep["pkg"]))
                .collect();
            let name = names.get(&id).cloned().unwrap_or_else(|| id.clone());
            packages.insert(id, (name, normal));
        }
        Ok(Graph { members, packages })
    }

    /// Names of every package `id` reaches through normal dependencies, with one path to each
    /// (for the error message).
    fn reachable(&self, id: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stack = vec![(id.to_owned(), Vec::new())];
        let mut visited = BTreeSet::new();
        while let Some((current, path)) = stack.pop() {
            if !visited.insert(current.clone()) {
                continue;
            }
            let Some((name, deps)) = self.packages.get(&current) else { continue };
            let mut path = path;
            path.push(name.clone());
            if current != id {
                seen.entry(name.clone()).or_insert_with(|| path.clone());
            }
            for dep in deps {
                stack.push((dep.clone(), path.clone()));
            }
        }
        seen
    }

    /// Every breach of `rules`, one line each (empty: the workspace keeps to the map).
    pub fn breaches(&self, rules: &[Rule]) -> Vec<String> {
        let mut breaches = Vec::new();
        let by_name: BTreeMap<&str, &Rule> =
            rules.iter().map(|rule| (rule.krate.as_str(), rule)).collect();
        for (name, id) in &self.members {
            let Some(rule) = by_name.get(name.as_str()) else {
                breaches.push(format!("{name} is a workspace crate with no line in the crate map"));
                continue;
            };
            let direct = self.packages.get(id).map(|(_, deps)| deps.clone()).unwrap_or_default();
            for dep in direct {
                let Some(dep_name) = self.packages.get(&dep).map(|(name, _)| name) else {
                    continue;
                };
                if self.members.contains_key(dep_name) && !rule.may.contains(dep_name) {
                    breaches.push(format!(
                        "{name} depends on {dep_name}, which the crate map does not allow it"
                    ));
                }
            }
            for (reached, path) in self.reachable(id) {
                if rule.never.contains(&reached) {
                    breaches.push(format!(
                        "{name} must never depend on {reached}, but does: {}",
                        path.join(" -> ")
                    ));
                }
            }
        }
        for rule in rules {
            if !self.members.contains_key(&rule.krate) {
                breaches.push(format!(
                    "the crate map names {}, which is no workspace crate",
                    rule.krate
                ));
            }
        }
        breaches
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn workspace_root() -> std::path::PathBuf {
        crate::process::workspace_root()
    }

    fn metadata() -> String {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let host = String::from_utf8(
            Command::new("rustc").arg("-vV").output().expect("rustc -vV runs").stdout,
        )
        .expect("rustc -vV prints text")
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host");
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &host])
            .current_dir(workspace_root())
            .output()
            .expect("cargo metadata runs");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("cargo metadata prints UTF-8")
    }

    #[test]
    fn every_crate_keeps_to_the_crate_map() {
        let architecture = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md is readable");
        let rules = parse_rules(&architecture).expect("the crate map parses");
        let graph = Graph::from_metadata(&metadata()).expect("cargo metadata parses");
        let breaches = graph.breaches(&rules);
        assert!(breaches.is_empty(), "the crate map is broken:\n{}", breaches.join("\n"));
    }

    #[test]
    fn a_breach_is_reported_with_its_path() {
        let id = |name: &str| format!("path+file:///w/{name}#0.1.0");
        let packages = [
            ("client", vec!["proto"]),
            ("proto", vec!["store"]),
            ("store", vec!["rocksdb"]),
            ("rocksdb", vec![]),
        ]
        .into_iter()
        .map(|(name, deps)| (id(name), (name.to_owned(), deps.into_iter().map(id).collect())))
        .collect();
        let members = ["client", "proto", "store"].map(|name| (name.to_owned(), id(name)));
        let graph = Graph { members: members.into_iter().collect(), packages };
        let rule = |krate: &str, may: &[&str], never: &[&str]| Rule {
            krate: krate.to_owned(),
            may: may.iter().map(|name| (*name).to_owned()).collect(),
            never: never.iter().map(|name| (*name).to_owned()).collect(),
        };
        let rules = [
            rule("client", &["proto"], &["rocksdb"]),
            rule("proto", &[], &[]),
            rule("store", &[], &[]),
        ];
        let breaches = graph.breaches(&rules);
        assert_eq!(
            breaches,
            vec![
                "client must never depend on rocksdb, but does: client -> proto -> store -> rocksdb"
                    .to_owned(),
                "proto depends on store, which the crate map does not allow it".to_owned(),
            ]
        );
        assert_eq!(
            graph.breaches(&rules[..2]).last().map(String::as_str),
            Some("store is a workspace crate with no line in the crate map")
        );
    }

    #[test]
    fn the_table_is_read_from_its_section() {
        let text = "# A\n\n## Crate map\n\n| crate | folder | owns | may depend on | must never depend on |\n|---|---|---|---|---|\n| `a` | `a/` | x | `b`, `c` | — |\n| `b` | `b/` | y | — | `rocksdb` |\n\n## Next\n| not | a | rule |\n";
        let rules = parse_rules(text).expect("parses");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].may, names("`b`, `c`"));
        assert!(rules[1].may.is_empty());
        assert_eq!(rules[1].never, names("`rocksdb`"));
        assert!(parse_rules("# no map").is_err());
    }
}
