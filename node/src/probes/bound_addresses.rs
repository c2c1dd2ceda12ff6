//! The addresses a serving node bound, reported in a file for whatever supervises it.
//!
//! A node configured with port 0 (`127.0.0.1:0`) lets the OS pick a free port, which is the
//! race-free way for a supervisor — `tianping dev up`, a test harness, an orchestrator that
//! packs several nodes on one host — to start nodes; but then only the node knows where it
//! listens. `tianping node --bound-addresses-file PATH` asks the node to say so: once every
//! listener is bound and serving, the node writes `PATH` as TOML (`BoundAddresses`'s fields),
//! whole or not at all (a temporary file beside it, renamed into place), so a reader polling
//! for `PATH` never sees half a file. Without the flag nothing is written: a production node
//! with fixed ports has nothing to report.
//!
//! The file's keys are an interface: supervisors read them without linking this crate
//! (`tianping-supervisor` has its own reader; a test in `cli/tests/it/` checks the two agree).

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What the bound-addresses file holds: `HOST:PORT` of each listener the node serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundAddresses {
    /// The Raft transport's address (peers dial it).
    pub raft_address: String,
    /// The client API's address (clients, `tianping` commands, grpcurl dial it).
    pub api_address: String,
    /// Where Prometheus scrapes `GET /metrics`, if the node serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<String>,
}

impl BoundAddresses {
    /// The addresses of a started node.
    pub fn of(node: &crate::NodeHandle) -> BoundAddresses {
        let info = node.info();
        BoundAddresses {
            raft_address: info.raft_address.clone(),
            api_address: info.api_address.clone(),
            metrics_address: node.metrics_address().map(|address| address.to_string()),
        }
    }

    /// Writes the addresses to `path` atomically: to `<path>.tmp`, then renamed over `path`
    /// (a rename within one directory replaces the file in one step).
    pub fn write_atomically(&self, path: &Path) -> io::Result<()> {
        let text = toml::to_string(self).map_err(io::Error::other)?;
        let mut staging = path.as_os_str().to_owned();
        staging.push(".tmp");
        std::fs::write(&staging, text)?;
        std::fs::rename(&staging, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_whole_and_reads_back() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("addresses.toml");
        let addresses = BoundAddresses {
            raft_address: "127.0.0.1:40121".into(),
            api_address: "127.0.0.1:40123".into(),
            metrics_address: None,
        };
        addresses.write_atomically(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(toml::from_str::<BoundAddresses>(&text).expect("parse"), addresses);
        assert!(!text.contains("metrics_address"), "absent, not empty: {text}");
        let staging = directory.path().join("addresses.toml.tmp");
        assert!(!staging.exists(), "the staging file is renamed away");
    }
}
