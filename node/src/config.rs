//! What a node is told at start: who it is, where it listens, where it keeps its data, and
//! its Raft timings. Read from TOML by the `tianping` binary; built in code by tests.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tianping_raft_store::NodeId;
pub use tianping_tls::TlsFiles;

/// A node's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's id, unique in the cluster and never reused.
    pub node_id: NodeId,
    /// Region, e.g. `cn-east`.
    #[serde(default)]
    pub region: String,
    /// Data center within the region, e.g. `dc-a`.
    #[serde(default)]
    pub data_center: String,
    /// Where the Raft transport listens (port 0 picks a free port).
    pub raft_address: SocketAddr,
    /// Where the client API listens (port 0 picks a free port).
    pub api_address: SocketAddr,
    /// The node's data: the RocksDB store and snapshot staging.
    pub data_directory: PathBuf,
    /// The longest round trip between two of the cluster's data centers in normal operation
    /// (p99.9 of a ping across the widest link, say), in milliseconds. Every Raft timing left
    /// unset derives from it (`timing::RaftTimings`), and the ones set are checked against
    /// it at start: timings that fit one data center but not the distance between them leave
    /// the leader unable to hear a quorum, so every write and read would be refused.
    #[serde(default = "default_inter_dc_round_trip_ms")]
    pub inter_dc_round_trip_ms: u64,
    /// How often the leader sends heartbeats; unset: derived from the round trip (at least
    /// 100 ms, twice the round trip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Shortest election timeout; unset: three heartbeats (at least 300 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_timeout_ms_min: Option<u64>,
    /// Longest election timeout (the randomisation range ends here); unset: twice the
    /// shortest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_timeout_ms_max: Option<u64>,
    /// Longest the leader waits for a peer's answer to an append-entries message before it
    /// retries; unset: four round trips (at least 1 s), room for a follower's fsync as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raft_rpc_timeout_ms: Option<u64>,
    /// Longest a follower waits for the leader when it forwards a client write.
    #[serde(default = "default_forward_timeout_ms")]
    pub forward_timeout_ms: u64,
    /// A node snapshots its state machine once this many entries were applied since its last
    /// snapshot; the snapshot lets it purge its log and is what a new or wiped replica
    /// catches up from. Lower means smaller logs but more snapshot work; at least 1.
    #[serde(default = "default_snapshot_logs_since_last")]
    pub snapshot_logs_since_last: u64,
    /// Entries a node keeps in its log below its latest snapshot, so a follower a little
    /// behind still catches up by append (cheap) rather than by a whole snapshot.
    #[serde(default = "default_logs_kept_after_snapshot")]
    pub logs_kept_after_snapshot: u64,
    /// Where Prometheus scrapes `GET /metrics` (port 0 picks a free port); none serves no
    /// metrics endpoint (the node still keeps them). Ignored in the simulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<SocketAddr>,
    /// The data center the leader should be in (e.g. the one nearest most clients); empty
    /// means no preference. While this node leads from elsewhere, it hands leadership to a
    /// caught-up voter there (`preferred_leader`). Changeable at runtime through
    /// `tianping.v1.Admin/SetPreferredLeaderDataCenter` (`tianping cluster preferred-dc`).
    #[serde(default)]
    pub preferred_leader_data_center: String,
    /// The largest offset, in milliseconds, between the leader's wall clock and a majority of
    /// the voters' at which it still stamps entries (issue 11 item 4). The leader's clock
    /// decides daily limits, pending-transfer expiry and payout leases; one further off than
    /// this from a majority (measured on Raft round trips, `peer_clocks`) refuses writes with
    /// `UNAVAILABLE` "clock offset" until its clock is set right (`clock_guard`).
    #[serde(default = "default_max_clock_offset_ms")]
    pub max_clock_offset_ms: u64,
    /// Mutual TLS on both ports (issue 15): the CA bundle the node trusts to sign its
    /// clients' and peers' certificates, and its own node certificate and key, which it
    /// presents to both and to the peers it calls. Read again when they change (rotation
    /// without a restart). Required unless `insecure`; ignored in the simulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Serve and call in plaintext: anyone who reaches a port can call it. Only on purpose
    /// (local experiments, tests); the node warns at start. A node with neither `tls` nor
    /// `insecure` refuses to start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// `NodeConfig::max_clock_offset_ms` unless configured.
pub const MAX_CLOCK_OFFSET_MS_DEFAULT: u64 = 500;

fn default_max_clock_offset_ms() -> u64 {
    MAX_CLOCK_OFFSET_MS_DEFAULT
}

fn default_inter_dc_round_trip_ms() -> u64 {
    50
}

fn default_forward_timeout_ms() -> u64 {
    5_000
}

fn default_snapshot_logs_since_last() -> u64 {
    10_000
}

fn default_logs_kept_after_snapshot() -> u64 {
    1_000
}

impl NodeConfig {
    /// A configuration with the default timings, neither TLS files nor `insecure` (set one).
    pub fn new(
        node_id: NodeId,
        raft_address: SocketAddr,
        api_address: SocketAddr,
        data_directory: PathBuf,
    ) -> NodeConfig {
        NodeConfig {
            node_id,
            region: String::new(),
            data_center: String::new(),
            raft_address,
            api_address,
            data_directory,
            inter_dc_round_trip_ms: default_inter_dc_round_trip_ms(),
            heartbeat_interval_ms: None,
            election_timeout_ms_min: None,
            election_timeout_ms_max: None,
            raft_rpc_timeout_ms: None,
            forward_timeout_ms: default_forward_timeout_ms(),
            snapshot_logs_since_last: default_snapshot_logs_since_last(),
            logs_kept_after_snapshot: default_logs_kept_after_snapshot(),
            metrics_address: None,
            preferred_leader_data_center: String::new(),
            max_clock_offset_ms: default_max_clock_offset_ms(),
            tls: None,
            insecure: false,
        }
    }

    /// This configuration in plaintext (`insecure`): for tests and local experiments.
    pub fn insecure(mut self) -> NodeConfig {
        self.insecure = true;
        self
    }

    /// The RocksDB store's root.
    pub fn store_directory(&self) -> PathBuf {
        self.data_directory.join("store")
    }

    /// Where received snapshots are assembled before they are installed.
    pub fn incoming_snapshot_directory(&self) -> PathBuf {
        self.data_directory.join("incoming-snapshots")
    }
}
