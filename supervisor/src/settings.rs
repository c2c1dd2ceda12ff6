//! `NodeSettings`: the node configuration file a supervisor writes for `tianping node --config`.
//!
//! Why not `tianping_node::NodeConfig`: that type lives in the node crate, which links
//! openraft and RocksDB, and the supervisor must not (xtask uses it; a 20-minute C++ build for
//! a process launcher would be absurd). The node's TOML keys are its documented, stable
//! interface — operators write them by hand — so the supervisor writes them as an operator
//! does: the keys it decides (identity, addresses, data directory, metrics) as typed fields,
//! and any other key (`snapshot_logs_since_last`, timings, ...) passed through in `tuning`
//! untouched. The node parses the file with `deny_unknown_fields`, so a misspelt key stops the
//! node at start with its name; a test in `cli/tests/it/processes.rs` parses what this writes
//! as a `NodeConfig`, so a renamed key turns CI red rather than a cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tianping_tls::TlsFiles;

use crate::SupervisorError;

/// One node's configuration file, as far as a supervisor is concerned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSettings {
    /// The node's id, unique in the cluster and never reused.
    pub node_id: u64,
    /// Region, e.g. `local`.
    #[serde(default)]
    pub region: String,
    /// Data center within the region, e.g. `dc-a`.
    #[serde(default)]
    pub data_center: String,
    /// Where the Raft transport listens (port 0: the node picks and reports it).
    pub raft_address: SocketAddr,
    /// Where the client API listens (port 0: the node picks and reports it).
    pub api_address: SocketAddr,
    /// The node's store and snapshots.
    pub data_directory: PathBuf,
    /// Where `/metrics` is served, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<SocketAddr>,
    /// The node's TLS files (`[tls]`: CA bundle, node certificate, key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Plaintext on purpose (`insecure = true`); a node with neither this nor `tls` refuses
    /// to start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Every other key of the file, written back as it was read.
    #[serde(flatten)]
    pub tuning: toml::Table,
}

impl NodeSettings {
    /// A node with these addresses and data directory, no region or data center, no tuning,
    /// no TLS and not `insecure` (set one before it is started).
    pub fn new(
        node_id: u64,
        raft_address: SocketAddr,
        api_address: SocketAddr,
        data_directory: PathBuf,
    ) -> NodeSettings {
        NodeSettings {
            node_id,
            region: String::new(),
            data_center: String::new(),
            raft_address,
            api_address,
            data_directory,
            metrics_address: None,
            tls: None,
            insecure: false,
            tuning: toml::Table::new(),
        }
    }

    /// Sets another configuration key (`snapshot_logs_since_last`, `heartbeat_interval_ms`,
    /// ...; `tianping node --help` lists them).
    pub fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        self.tuning.insert(key.to_owned(), value.into());
    }

    /// The settings in the file at `path`.
    pub fn read(path: &Path) -> Result<NodeSettings, SupervisorError> {
        let text = std::fs::read_to_string(path).map_err(SupervisorError::file("reading", path))?;
        toml::from_str(&text).map_err(|error| SupervisorError::Parse {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })
    }

    /// Writes the settings to `path`.
    pub fn write(&self, path: &Path) -> Result<(), SupervisorError> {
        let text = toml::to_string(self).map_err(|error| SupervisorError::Parse {
            path: path.to_path_buf(),
            reason: format!("encoding the node config: {error}"),
        })?;
        std::fs::write(path, text).map_err(SupervisorError::file("writing", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_keys_pass_through_a_read_and_a_write() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("node.toml");
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut settings = NodeSettings::new(3, any_port, any_port, directory.path().join("data"));
        settings.data_center = "dc-b".into();
        settings.set("snapshot_logs_since_last", 50);
        settings.write(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("snapshot_logs_since_last = 50"), "{text}");
        assert!(!text.contains("metrics_address"), "unset keys are left out: {text}");
        assert_eq!(NodeSettings::read(&path).expect("parses"), settings);
    }
}
