//! `tianping node`'s configuration: a TOML file, `TIANPING_*` environment variables and flags.
//!
//! `figment` lays the three over each other, in that order (a flag beats a variable, a variable
//! beats the file, the file beats `NodeConfig`'s defaults), and deserializes the result into
//! `NodeConfig` once, so one set of rules — required keys, unknown keys, types — applies
//! whatever the source, and an error names the key and where its value came from. A key is
//! declared by `NodeConfig` (serde) and, for `--help`, by its flag here; the variables and the
//! merging follow from those two.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use figment::providers::{Env, Format};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use tianping_node::NodeConfig;

/// The prefix of the environment variables that set configuration keys (`TIANPING_NODE_ID`).
const ENV_PREFIX: &str = "TIANPING_";

/// Options of `tianping node`. Every field but `config` and `bound_addresses_file` is a key of
/// `NodeConfig` under the same name, given as a flag (serialized into the top layer).
#[derive(Debug, Default, clap::Args, serde::Serialize)]
pub struct NodeOptions {
    /// The node's TOML configuration file. Optional when flags or environment variables give
    /// every required key (node_id, raft_address, api_address, data_directory).
    #[arg(long, env = "TIANPING_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The node's id: unique in the cluster, never reused.
    #[arg(long, value_name = "ID")]
    pub node_id: Option<u64>,
    /// Region, e.g. cn-east.
    #[arg(long)]
    pub region: Option<String>,
    /// Data center within the region, e.g. dc-a.
    #[arg(long, value_name = "DC")]
    pub data_center: Option<String>,
    /// Where the Raft transport listens (port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT")]
    pub raft_address: Option<SocketAddr>,
    /// Where the client API listens (port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT")]
    pub api_address: Option<SocketAddr>,
    /// The node's data: its RocksDB store and snapshot staging.
    #[arg(long, value_name = "DIR")]
    pub data_directory: Option<PathBuf>,
    /// Longest round trip between two of the cluster's data centers (default 50); every Raft
    /// timing not given derives from it, and those given are checked against it at start.
    #[arg(long, value_name = "MS")]
    pub inter_dc_round_trip_ms: Option<u64>,
    /// How often the leader sends heartbeats (default: max(100, 2 × round trip)).
    #[arg(long, value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Shortest election timeout (default: max(300, 3 × heartbeat)).
    #[arg(long, value_name = "MS")]
    pub election_timeout_ms_min: Option<u64>,
    /// Longest election timeout (default: 2 × the shortest).
    #[arg(long, value_name = "MS")]
    pub election_timeout_ms_max: Option<u64>,
    /// Longest the leader waits for a peer's append-entries answer (default: max(1000,
    /// 4 × round trip)).
    #[arg(long, value_name = "MS")]
    pub raft_rpc_timeout_ms: Option<u64>,
    /// Longest a follower waits for the leader when it forwards a request (default 5000).
    #[arg(long, value_name = "MS")]
    pub forward_timeout_ms: Option<u64>,
    /// Entries applied between snapshots (default 10000).
    #[arg(long, value_name = "N")]
    pub snapshot_logs_since_last: Option<u64>,
    /// Entries kept in the log below the latest snapshot (default 1000).
    #[arg(long, value_name = "N")]
    pub logs_kept_after_snapshot: Option<u64>,
    /// Largest offset between the leader's clock and a majority of the voters' at which it
    /// still stamps writes (default 500).
    #[arg(long, value_name = "MS")]
    pub max_clock_offset_ms: Option<u64>,
    /// Where Prometheus scrapes GET /metrics (default: not served).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_address: Option<SocketAddr>,
    /// The data center the leader should be in (default: no preference).
    #[arg(long, value_name = "DC")]
    pub preferred_leader_data_center: Option<String>,
    /// Once serving, write the addresses the node bound (raft_address, api_address,
    /// metrics_address; TOML) to this file, atomically: for supervisors that start nodes on
    /// port 0. Not a configuration key: it says where this process reports, not what the node
    /// is. Default: no file.
    #[arg(long, env = "TIANPING_BOUND_ADDRESSES_FILE", value_name = "PATH")]
    #[serde(skip)]
    pub bound_addresses_file: Option<PathBuf>,
}

impl NodeOptions {
    /// The node's configuration: the file (if any), then the `TIANPING_*` variables of the
    /// configuration keys, then the flags given.
    pub fn node_config(&self) -> anyhow::Result<NodeConfig> {
        let keys = configuration_keys()?;
        let env = Env::prefixed(ENV_PREFIX)
            .filter(move |key| keys.iter().any(|known| known.as_str() == key));
        let mut layers = Figment::new();
        if let Some(path) = &self.config {
            // Said here, with the path: figment's own error for a missing file names neither.
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
            layers = layers.merge(TomlFile::file_exact(path));
        }
        layers
            .merge(env)
            .merge(self)
            .extract::<NodeConfig>()
            .map_err(|error| anyhow::anyhow!("node configuration: {}", explain(error)))
    }
}

/// The configuration keys a flag (and so a `TIANPING_*` variable) can set: the flags' own
/// names, so a variable that names no key (`TIANPING_LOG`, `TIANPING_ADDR`, ...) is never
/// mistaken for an unknown one.
fn configuration_keys() -> anyhow::Result<Vec<String>> {
    match Value::serialize(NodeOptions::default()) {
        Ok(Value::Dict(_, keys)) => Ok(keys.into_keys().collect()),
        Ok(_) => Err(anyhow::anyhow!("the node's flags are not a table")),
        Err(error) => Err(anyhow::anyhow!("the node's flags: {error}")),
    }
}

/// The flags: the keys given on the command line, named as their `NodeConfig` keys.
impl Provider for NodeOptions {
    fn metadata(&self) -> Metadata {
        Metadata::named("the command line's flags")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let Value::Dict(_, mut given) = Value::serialize(self)? else {
            return Err(figment::Error::from("the node's flags are not a table".to_owned()));
        };
        // A flag not given serializes as "none", which would hide the layers below.
        given.retain(|_, value| !matches!(value, Value::Empty(..)));
        Ok(Profile::Default.collect(given))
    }
}

/// The TOML file layer, parsed by the workspace's `toml` (figment's own `Toml` provider would
/// bring a second, older `toml` into the build).
struct TomlFile;

impl Format for TomlFile {
    type Error = toml::de::Error;

    const NAME: &'static str = "TOML";

    fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Self::Error> {
        toml::from_str(text)
    }
}

/// Each error of the layering with its key as `NodeConfig` names it and the layer its value
/// came from (figment's own wording would say `default.node_id` for a file's key and
/// `NODE_ID` for a variable's).
fn explain(error: figment::Error) -> String {
    let lines: Vec<String> = error
        .into_iter()
        .map(|error| {
            let mut line = error.kind.to_string();
            if !error.path.is_empty() {
                line.push_str(&format!(" for key `{}`", error.path.join(".")));
            }
            match error.metadata {
                Some(Metadata { name, source: Some(source), .. }) => {
                    line.push_str(&format!(" in {source} ({name})"));
                }
                Some(Metadata { name, source: None, .. }) => line.push_str(&format!(" in {name}")),
                None => {}
            }
            line
        })
        .collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `check` with exactly `variables` set (figment's `Jail` restores the environment
    /// afterwards and runs one jail at a time), in a temporary directory for files.
    // `Jail`'s closure returns figment's own (large) error type; nothing here can change that.
    #[allow(clippy::result_large_err)]
    fn with_environment(variables: &[(&str, &str)], check: impl FnOnce(&std::path::Path)) {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            for (name, value) in variables {
                jail.set_env(name, value);
            }
            check(jail.directory());
            Ok(())
        });
    }

    fn addresses_and_directory(node_id: u64) -> NodeOptions {
        NodeOptions {
            node_id: Some(node_id),
            raft_address: Some("127.0.0.1:0".parse().expect("address")),
            api_address: Some("127.0.0.1:0".parse().expect("address")),
            data_directory: Some(PathBuf::from(format!("/tmp/node-{node_id}"))),
            ..NodeOptions::default()
        }
    }

    #[test]
    fn flags_override_the_variables_the_variables_the_file_and_the_file_the_defaults() {
        let variables = [
            ("TIANPING_NODE_ID", "5"),
            ("TIANPING_REGION", "cn-north"),
            ("TIANPING_DATA_CENTER", "dc-b"),
            // Not configuration keys: left alone rather than refused as unknown.
            ("TIANPING_LOG", "debug"),
            ("TIANPING_ADDR", "127.0.0.1:8001"),
        ];
        with_environment(&variables, |directory| {
            let file = directory.join("node.toml");
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
            assert_eq!(config.node_id, 7, "the flag beats the variable and the file");
            assert_eq!(config.region, "cn-north", "the variable beats the file");
            assert_eq!(config.data_center, "dc-b", "a variable alone");
            assert_eq!(config.api_address.to_string(), "127.0.0.1:9009");
            assert_eq!(config.raft_address.to_string(), "127.0.0.1:7001");
            assert_eq!(config.heartbeat_interval_ms, Some(50));
            assert_eq!(config.election_timeout_ms_min, None, "derived unless given");
            let timings = tianping_node::RaftTimings::of(&config).expect("timings fit 20 ms");
            assert_eq!(timings.heartbeat_interval.as_millis(), 50);
            assert_eq!(timings.election_timeout_min.as_millis(), 300, "defaults still apply");
        });
    }

    #[test]
    fn flags_alone_make_a_configuration_and_missing_keys_are_named() {
        with_environment(&[], |_| {
            let mut options = addresses_and_directory(2);
            options.data_directory = None;
            let error = options.node_config().expect_err("data_directory missing").to_string();
            assert!(error.contains("data_directory"), "{error}");
            options.data_directory = Some(PathBuf::from("/tmp/node-2"));
            let config = options.node_config().expect("valid");
            assert_eq!(config.node_id, 2);
            assert_eq!(config.data_directory, PathBuf::from("/tmp/node-2"));
        });
    }

    #[test]
    fn a_bad_value_is_named_with_its_key_and_its_source() {
        with_environment(&[("TIANPING_FORWARD_TIMEOUT_MS", "soon")], |_| {
            let error = addresses_and_directory(4).node_config().expect_err("not a number");
            let error = error.to_string();
            assert!(
                error.contains("`forward_timeout_ms`") && error.contains("TIANPING_"),
                "{error}"
            );
        });
        with_environment(&[], |directory| {
            let file = directory.join("bad.toml");
            std::fs::write(&file, "node_id = \"four\"\n").expect("write");
            let options = NodeOptions { config: Some(file), ..NodeOptions::default() };
            let error = options.node_config().expect_err("a string id").to_string();
            assert!(error.contains("`node_id`"), "{error}");
            // The file's path as given, relative to the working directory when it is in it.
            assert!(error.contains("bad.toml") && error.contains("TOML file"), "{error}");

            let file = directory.join("node.toml");
            std::fs::write(&file, "log_level = 3\n").expect("write");
            let options = NodeOptions { config: Some(file), ..addresses_and_directory(4) };
            let error = options.node_config().expect_err("an unknown key").to_string();
            assert!(error.contains("log_level"), "{error}");
            let missing = directory.join("absent.toml");
            let options = NodeOptions { config: Some(missing), ..addresses_and_directory(4) };
            let error = options.node_config().expect_err("no such file").to_string();
            assert!(error.contains("absent.toml"), "{error}");
        });
    }

    #[test]
    fn timings_that_cannot_cross_the_distance_are_named() {
        with_environment(&[], |_| {
            let options = NodeOptions {
                inter_dc_round_trip_ms: Some(240),
                heartbeat_interval_ms: Some(100),
                ..addresses_and_directory(3)
            };
            let config = options.node_config().expect("parses: the check runs at start");
            let error = tianping_node::RaftTimings::of(&config)
                .expect_err("100 ms heartbeats cannot cross 240 ms");
            assert_eq!(error.key, "heartbeat_interval_ms", "{error}");
        });
    }

    #[test]
    fn ids_beyond_what_toml_holds_are_taken_from_flags() {
        // The flags no longer pass through a TOML table, whose integers stop at i64::MAX.
        with_environment(&[], |_| {
            let options = addresses_and_directory(u64::MAX);
            assert_eq!(options.node_config().expect("valid").node_id, u64::MAX);
        });
    }
}
