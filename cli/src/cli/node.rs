//! `tianping node`'s configuration: a TOML file, flags and `TIANPING_*` environment variables.
//!
//! Every key of `NodeConfig` can come from any of the three. A flag (or its environment
//! variable) overrides the file, and the file overrides the defaults. The merged table then goes
//! through the same `NodeConfig` deserializer a file alone would, so one set of rules — required
//! keys, unknown keys, types — applies whatever the source.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tianping_node::NodeConfig;

/// Options of `tianping node`.
#[derive(Debug, Default, clap::Args)]
pub struct NodeOptions {
    /// The node's TOML configuration file. Optional when flags or environment variables give
    /// every required key (node_id, raft_address, api_address, data_directory).
    #[arg(long, env = "TIANPING_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The node's id: unique in the cluster, never reused.
    #[arg(long, env = "TIANPING_NODE_ID", value_name = "ID")]
    pub node_id: Option<u64>,
    /// Region, e.g. cn-east.
    #[arg(long, env = "TIANPING_REGION")]
    pub region: Option<String>,
    /// Data center within the region, e.g. dc-a.
    #[arg(long, env = "TIANPING_DATA_CENTER", value_name = "DC")]
    pub data_center: Option<String>,
    /// Where the Raft transport listens (port 0 picks a free one).
    #[arg(long, env = "TIANPING_RAFT_ADDRESS", value_name = "HOST:PORT")]
    pub raft_address: Option<SocketAddr>,
    /// Where the client API listens (port 0 picks a free one).
    #[arg(long, env = "TIANPING_API_ADDRESS", value_name = "HOST:PORT")]
    pub api_address: Option<SocketAddr>,
    /// The node's data: its RocksDB store and snapshot staging.
    #[arg(long, env = "TIANPING_DATA_DIRECTORY", value_name = "DIR")]
    pub data_directory: Option<PathBuf>,
    /// Longest round trip between two of the cluster's data centers (default 50); every Raft
    /// timing not given derives from it, and those given are checked against it at start.
    #[arg(long, env = "TIANPING_INTER_DC_ROUND_TRIP_MS", value_name = "MS")]
    pub inter_dc_round_trip_ms: Option<u64>,
    /// How often the leader sends heartbeats (default: max(100, 2 × round trip)).
    #[arg(long, env = "TIANPING_HEARTBEAT_INTERVAL_MS", value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Shortest election timeout (default: max(300, 3 × heartbeat)).
    #[arg(long, env = "TIANPING_ELECTION_TIMEOUT_MS_MIN", value_name = "MS")]
    pub election_timeout_ms_min: Option<u64>,
    /// Longest election timeout (default: 2 × the shortest).
    #[arg(long, env = "TIANPING_ELECTION_TIMEOUT_MS_MAX", value_name = "MS")]
    pub election_timeout_ms_max: Option<u64>,
    /// Longest the leader waits for a peer's append-entries answer (default: max(1000,
    /// 4 × round trip)).
    #[arg(long, env = "TIANPING_RAFT_RPC_TIMEOUT_MS", value_name = "MS")]
    pub raft_rpc_timeout_ms: Option<u64>,
    /// Longest a follower waits for the leader when it forwards a request (default 5000).
    #[arg(long, env = "TIANPING_FORWARD_TIMEOUT_MS", value_name = "MS")]
    pub forward_timeout_ms: Option<u64>,
    /// Entries applied between snapshots (default 10000).
    #[arg(long, env = "TIANPING_SNAPSHOT_LOGS_SINCE_LAST", value_name = "N")]
    pub snapshot_logs_since_last: Option<u64>,
    /// Entries kept in the log below the latest snapshot (default 1000).
    #[arg(long, env = "TIANPING_LOGS_KEPT_AFTER_SNAPSHOT", value_name = "N")]
    pub logs_kept_after_snapshot: Option<u64>,
    /// Largest offset between the leader's clock and a majority of the voters' at which it
    /// still stamps writes (default 500).
    #[arg(long, env = "TIANPING_MAX_CLOCK_OFFSET_MS", value_name = "MS")]
    pub max_clock_offset_ms: Option<u64>,
    /// Where Prometheus scrapes GET /metrics (default: not served).
    #[arg(long, env = "TIANPING_METRICS_ADDRESS", value_name = "HOST:PORT")]
    pub metrics_address: Option<SocketAddr>,
    /// The data center the leader should be in (default: no preference).
    #[arg(long, env = "TIANPING_PREFERRED_LEADER_DATA_CENTER", value_name = "DC")]
    pub preferred_leader_data_center: Option<String>,
    /// Once serving, write the addresses the node bound (raft_address, api_address,
    /// metrics_address; TOML) to this file, atomically: for supervisors that start nodes on
    /// port 0. Not a configuration key: it says where this process reports, not what the node
    /// is. Default: no file.
    #[arg(long, env = "TIANPING_BOUND_ADDRESSES_FILE", value_name = "PATH")]
    pub bound_addresses_file: Option<PathBuf>,
}

impl NodeOptions {
    /// The node's configuration: the file (if any) with every given flag laid over it.
    pub fn node_config(&self) -> anyhow::Result<NodeConfig> {
        let (mut table, source) = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let table = text
                    .parse::<toml::Table>()
                    .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
                (table, path.display().to_string())
            }
            None => (toml::Table::new(), "the command line".to_owned()),
        };
        let mut overrides: Vec<(&str, toml::Value)> = Vec::new();
        let text = |value: &Option<String>| value.clone().map(toml::Value::String);
        let address =
            |value: &Option<SocketAddr>| value.map(|a| toml::Value::String(a.to_string()));
        let path = |value: &Option<PathBuf>| {
            value.as_ref().map(|p| toml::Value::String(p.to_string_lossy().into_owned()))
        };
        for (key, value) in [
            ("region", text(&self.region)),
            ("data_center", text(&self.data_center)),
            ("raft_address", address(&self.raft_address)),
            ("api_address", address(&self.api_address)),
            ("data_directory", path(&self.data_directory)),
            ("metrics_address", address(&self.metrics_address)),
            ("preferred_leader_data_center", text(&self.preferred_leader_data_center)),
        ] {
            if let Some(value) = value {
                overrides.push((key, value));
            }
        }
        for (key, value) in [
            ("node_id", self.node_id),
            ("inter_dc_round_trip_ms", self.inter_dc_round_trip_ms),
            ("heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("election_timeout_ms_min", self.election_timeout_ms_min),
            ("election_timeout_ms_max", self.election_timeout_ms_max),
            ("raft_rpc_timeout_ms", self.raft_rpc_timeout_ms),
            ("forward_timeout_ms", self.forward_timeout_ms),
            ("snapshot_logs_since_last", self.snapshot_logs_since_last),
            ("logs_kept_after_snapshot", self.logs_kept_after_snapshot),
            ("max_clock_offset_ms", self.max_clock_offset_ms),
        ] {
            if let Some(value) = value {
                // TOML integers are i64: the same limit a file has.
                let value = i64::try_from(value).map_err(|_| {
                    anyhow::anyhow!("--{}: {value} is larger than {}", flag(key), i64::MAX)
                })?;
                overrides.push((key, toml::Value::Integer(value)));
            }
        }
        let overridden = !overrides.is_empty();
        for (key, value) in overrides {
            table.insert(key.to_owned(), value);
        }
        let source = if overridden && self.config.is_some() {
            format!("{source} with the flags and TIANPING_* variables given")
        } else {
            source
        };
        toml::Value::Table(table)
            .try_into::<NodeConfig>()
            .map_err(|error| anyhow::anyhow!("node configuration from {source}: {error}"))
    }
}

/// The flag spelling of a configuration key.
fn flag(key: &str) -> String {
    key.replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_the_file_the_defaults() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let file = directory.path().join("node.toml");
        std::fs::write(
            &file,
            "node_id = 1\nregion = \"cn-east\"\nraft_address = \"127.0.0.1:7001\"\n\
             api_address = \"127.0.0.1:8001\"\ndata_directory = \"/var/lib/tianping\"\n\
             inter_dc_round_trip_ms = 20\nheartbeat_interval_ms = 50\n",
        )
        .expect("write");
        let options = NodeOptions {
            config: Some(file),
            node_id: Some(7),
            api_address: Some("127.0.0.1:9009".parse().expect("address")),
            ..NodeOptions::default()
        };
        let config = options.node_config().expect("valid");
        assert_eq!(config.node_id, 7);
        assert_eq!(config.api_address.to_string(), "127.0.0.1:9009");
        assert_eq!(config.raft_address.to_string(), "127.0.0.1:7001");
        assert_eq!(config.region, "cn-east");
        assert_eq!(config.heartbeat_interval_ms, Some(50));
        assert_eq!(config.election_timeout_ms_min, None, "derived unless given");
        let timings = config.raft_timings().expect("timings fit 20 ms");
        assert_eq!(timings.heartbeat_interval.as_millis(), 50);
        assert_eq!(timings.election_timeout_min.as_millis(), 300, "defaults still apply");
    }

    #[test]
    fn flags_alone_make_a_configuration_and_missing_keys_are_named() {
        let mut options = NodeOptions {
            node_id: Some(2),
            raft_address: Some("127.0.0.1:0".parse().expect("address")),
            api_address: Some("127.0.0.1:0".parse().expect("address")),
            ..NodeOptions::default()
        };
        let error = options.node_config().expect_err("data_directory missing").to_string();
        assert!(error.contains("data_directory"), "{error}");
        options.data_directory = Some(PathBuf::from("/tmp/node-2"));
        let config = options.node_config().expect("valid");
        assert_eq!(config.node_id, 2);
        assert_eq!(config.data_directory, PathBuf::from("/tmp/node-2"));
    }

    #[test]
    fn timings_that_cannot_cross_the_distance_are_named() {
        let options = NodeOptions {
            node_id: Some(3),
            raft_address: Some("127.0.0.1:0".parse().expect("address")),
            api_address: Some("127.0.0.1:0".parse().expect("address")),
            data_directory: Some(PathBuf::from("/tmp/node-3")),
            inter_dc_round_trip_ms: Some(240),
            heartbeat_interval_ms: Some(100),
            ..NodeOptions::default()
        };
        let config = options.node_config().expect("parses: the check runs at start");
        let error = config.raft_timings().expect_err("100 ms heartbeats cannot cross 240 ms");
        assert_eq!(error.key, "heartbeat_interval_ms", "{error}");
    }

    #[test]
    fn ids_beyond_what_toml_holds_are_refused() {
        let options = NodeOptions { node_id: Some(u64::MAX), ..NodeOptions::default() };
        let error = options.node_config().expect_err("too large").to_string();
        assert!(error.contains("--node-id"), "{error}");
    }
}
