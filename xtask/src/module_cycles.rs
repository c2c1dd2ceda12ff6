//! No two top-level modules of a crate import each other, directly or around a loop, checked
//! (a test, so CI fails on a cycle).
//!
//! Why: a cycle means neither module can be read, tested or moved without the other — the
//! workspace issue found `forward` ↔ `request_id` ↔ `writer` in the node and `client` ↔ `world`
//! in the simulation, and each was broken by moving the shared piece into a leaf module (a
//! module that names no sibling). This keeps it so: every crate's modules form a DAG.
//!
//! What counts as an import: a path `crate::m…` or an entry `m` of a `crate::{…}` group, in
//! code outside comments and outside the test module at the end of a file (`#[cfg(test)]
//! mod …`); files named `tests.rs` or `testing.rs` are test code too. A module is a crate's
//! top-level module: `src/m.rs` with everything under `src/m/`. Within one module, submodules
//! may refer to each other freely. Binaries under `src/bin/` are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import of a sibling module: the importing module, the imported one, and the first
/// file seen doing it (the evidence a reader starts from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub file: String,
}

/// Every module cycle in every crate under `root`: per crate folder, the modules of each
/// strongly connected component of more than one module, with the edges inside it.
pub fn workspace_cycles(root: &Path) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for source in crate_sources(root)? {
        let files = module_files(&source)?;
        let mut texts = Vec::new();
        for (module, file) in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|error| format!("{}: {error}", file.display()))?;
            let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
            texts.push((module, shown, text));
        }
        for cycle in cycles(&texts) {
            let mut line = format!(
                "{}: {}",
                source.strip_prefix(root).unwrap_or(&source).display(),
                cycle.iter().map(|edge| edge.from.as_str()).collect::<BTreeSet<_>>().len()
            );
            line.push_str(" modules in a cycle:");
            for edge in cycle {
                line.push_str(&format!("\n    {} -> {} ({})", edge.from, edge.to, edge.file));
            }
            found.push(line);
        }
    }
    Ok(found)
}

/// The cycles among modules given as (module, file shown, text) triples: for each strongly
/// connected component of two or more modules, the edges between its members.
pub fn cycles(files: &[(String, String, String)]) -> Vec<Vec<Edge>> {
    let modules: BTreeSet<&str> = files.iter().map(|(module, _, _)| module.as_str()).collect();
    let mut edges: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (module, shown, text) in files {
        let targets = edges.entry(module.as_str()).or_default();
        for imported in imported_modules(text) {
            if imported != *module && modules.contains(imported.as_str()) {
                targets.entry(imported).or_insert_with(|| shown.clone());
            }
        }
    }
    let graph: BTreeMap<&str, Vec<&str>> = modules
        .iter()
        .map(|module| {
            let targets = edges.get(module).map(|targets| targets.keys().map(String::as_str));
            (*module, targets.into_iter().flatten().collect())
        })
        .collect();
    strongly_connected(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let mut inside = Vec::new();
            for from in &component {
                for (to, file) in edges.get(from).into_iter().flatten() {
                    if component.contains(&to.as_str()) {
                        inside.push(Edge {
                            from: (*from).to_owned(),
                            to: to.clone(),
                            file: file.clone(),
                        });
                    }
                }
            }
            inside
        })
        .collect()
}

/// The first path segments this file's code names after `crate::`.
pub fn imported_modules(text: &str) -> BTreeSet<String> {
    let code = code_of(text);
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        // `tianping_crate::` or `$crate::` are other paths; only a bare `crate::` counts.
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            let name: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The first segment of every path in a `{…}` group (the text after its `{`), to its `}`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 1usize;
    let mut at_path_start = true;
    let mut word = String::new();
    for c in group.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            if at_path_start && depth == 1 {
                heads.push(std::mem::take(&mut word));
            }
            word.clear();
            at_path_start = false;
        }
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => at_path_start = true,
            _ => {}
        }
    }
    heads
}

/// `text` without line comments (doc comments included) and without the test module that
/// ends a file.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("#[cfg(test)]")
            && lines.peek().is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        code.push_str(line.split("//").next().unwrap_or_default());
        code.push('\n');
    }
    code
}

/// Tarjan's strongly connected components of `graph`.
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    struct Search<'a, 'g> {
        graph: &'g BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    impl<'a> Search<'a, '_> {
        fn visit(&mut self, node: &'a str) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            self.on_stack.insert(node);
            for &next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                component.sort_unstable();
                self.components.push(component);
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &node in graph.keys() {
        if !search.index.contains_key(node) {
            search.visit(node);
        }
    }
    search.components
}

/// The `src` folders of every crate under `root` (a folder with a `Cargo.toml` and a `src`),
/// skipping `target` directories and hidden folders.
fn crate_sources(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut sources = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        if folder.join("Cargo.toml").is_file() && folder.join("src").is_dir() {
            sources.push(folder.join("src"));
        }
        for entry in read_folder(&folder)? {
            let name = entry.file_name().and_then(|name| name.to_str()).unwrap_or_default();
            if entry.is_dir() && name != "target" && name != "src" && !name.starts_with('.') {
                folders.push(entry);
            }
        }
    }
    sources.sort();
    Ok(sources)
}

/// Every Rust file of a crate's `src` with its top-level module, test files and binaries left
/// out.
fn module_files(source: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut files = Vec::new();
    let mut folders = vec![(source.to_path_buf(), None::<String>)];
    while let Some((folder, module)) = folders.pop() {
        for entry in read_folder(&folder)? {
            let name = entry.file_name().and_then(|name| name.to_str()).unwrap_or_default();
            if entry.is_dir() {
                if module.is_none() && name == "bin" {
                    continue;
                }
                folders.push((entry.clone(), module.clone().or_else(|| Some(name.to_owned()))));
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let test_code = stem == "tests" || stem == "testing";
                let crate_root = module.is_none() && (stem == "lib" || stem == "main");
                if !test_code && !crate_root {
                    files.push((module.clone().unwrap_or_else(|| stem.to_owned()), entry));
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read_folder(folder: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(folder).map_err(|error| format!("{}: {error}", folder.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|error| format!("{}: {error}", folder.display()))?.path());
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::workspace_root;

    fn file(module: &str, text: &str) -> (String, String, String) {
        (module.to_owned(), format!("{module}.rs"), text.to_owned())
    }

    #[test]
    fn no_crate_of_the_workspace_has_a_module_cycle() {
        let found = workspace_cycles(&workspace_root()).expect("the workspace is readable");
        assert!(
            found.is_empty(),
            "modules importing each other (move what both need into a leaf module that names \
             neither):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn imports_are_read_from_paths_and_groups_not_comments_or_tests() {
        let text = "//! see crate::gamma\nuse crate::alpha::Thing;\nuse crate::{beta::{X, \
                    Y}, delta, self_named};\nfn f() { crate::epsilon::call(); $crate::no; \
                    other_crate::no; }\n// crate::zeta\n#[cfg(test)]\nmod tests {\n    use \
                    crate::eta;\n}\n";
        let found: Vec<String> = imported_modules(text).into_iter().collect();
        assert_eq!(found, ["alpha", "beta", "delta", "epsilon", "self_named"]);
    }

    #[test]
    fn a_loop_of_three_is_found_with_its_edges_and_a_chain_is_not() {
        let looped = [
            file("a", "use crate::b::B;"),
            file("b", "use crate::c::C;"),
            file("c", "use crate::{a, leaf};"),
            file("leaf", "pub struct Leaf;"),
        ];
        let found = cycles(&looped);
        assert_eq!(found.len(), 1);
        let mut pairs: Vec<(String, String)> =
            found[0].iter().map(|edge| (edge.from.clone(), edge.to.clone())).collect();
        pairs.sort();
        let expected = [("a", "b"), ("b", "c"), ("c", "a")].map(|(x, y)| (x.into(), y.into()));
        assert_eq!(pairs, expected);

        let chain = [file("a", "use crate::b::B;"), file("b", "use crate::c::C;"), file("c", "")];
        assert!(cycles(&chain).is_empty());
    }
}
