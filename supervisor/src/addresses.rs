//! The file a node writes, when started with `tianping node --bound-addresses-file PATH`, once
//! it serves: the addresses it bound (TOML). The node defines and writes it
//! (`tianping_node::probes::bound_addresses`); this is the reader, kept here so a supervisor
//! never links the server. The keys are the interface; `cli/tests/it/processes.rs` checks that
//! what the node writes is what this reads.

use std::path::Path;

use serde::Deserialize;

use crate::SupervisorError;

/// The name the supervisor gives the file, in the node's data directory.
pub const ADDRESSES_FILE: &str = "addresses.toml";

/// What the file holds: `HOST:PORT` of each listener.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BoundAddresses {
    /// The Raft transport's address.
    pub raft_address: String,
    /// The client API's address.
    pub api_address: String,
    /// Where Prometheus scrapes `/metrics`, if the node serves it.
    #[serde(default)]
    pub metrics_address: Option<String>,
}

impl BoundAddresses {
    /// The addresses in the file at `path`, or `None` while there is no file yet (the node
    /// writes it whole, by rename, so an existing file is complete).
    pub fn read(path: &Path) -> Result<Option<BoundAddresses>, SupervisorError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(SupervisorError::file("reading", path)(error)),
        };
        toml::from_str(&text).map(Some).map_err(|error| SupervisorError::Parse {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_not_yet_and_a_present_one_parses() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join(ADDRESSES_FILE);
        assert_eq!(BoundAddresses::read(&path).expect("no file is fine"), None);
        std::fs::write(&path, "raft_address = \"127.0.0.1:1\"\napi_address = \"127.0.0.1:2\"\n")
            .expect("write");
        let addresses = BoundAddresses::read(&path).expect("parses").expect("present");
        assert_eq!(addresses.api_address, "127.0.0.1:2");
        assert_eq!(addresses.metrics_address, None);
        std::fs::write(&path, "api_address = 7\n").expect("write");
        assert!(BoundAddresses::read(&path).is_err());
    }
}
