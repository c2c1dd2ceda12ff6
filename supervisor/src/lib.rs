//! Tianping's one process supervisor: `tianping node` child processes and the local cluster
//! made of them. `tianping dev up`, the binary's integration tests (fault tests that kill,
//! pause, wipe and restart nodes) and `cargo xtask` (benchmarks, the generic-client check) all
//! start nodes through it, so there is one copy of the spawn / wait / kill logic.
//!
//! - `settings` — `NodeSettings`: the node TOML keys a supervisor writes (the node's
//!   documented configuration keys; see "Why not `NodeConfig`" there).
//! - `addresses` — reading the file a node writes when started with
//!   `--bound-addresses-file` (the ports it bound when configured with port 0).
//! - `child` — `ChildProcess`: any supervised child (a node, the bank simulator, a bank
//!   worker): start with its output in a log, signals, graceful stop, kill on drop.
//! - `banks` — `LocalBanks`: the bank simulator and one bank worker per data center beside a
//!   local cluster (`dev up`), their generated configurations.
//! - `process` — `NodeProcess`: one node child: start, wait until it serves, SIGKILL, SIGSTOP /
//!   SIGCONT, graceful stop (SIGINT, then SIGKILL after a timeout), wipe its data, restart.
//! - `cluster` — `LocalCluster`: `dev up`'s logic: write configs, start N nodes in three data
//!   centers, initialize a new cluster, wait until it is healthy (`health`), stop them all.
//!
//! This is operator and test tooling, not node code: it runs on the real runtime only, reads
//! the wall clock and signals processes (through `kill(1)`: the workspace forbids `unsafe`,
//! and a signal is all it needs).

pub mod addresses;
pub mod banks;
pub mod child;
pub mod cluster;
mod error;
pub mod health;
pub mod process;
pub mod settings;

pub use addresses::{ADDRESSES_FILE, BoundAddresses};
pub use banks::LocalBanks;
pub use child::{ChildProcess, Stopped};
pub use cluster::{
    ClusterSecurity, LocalCluster, NODES_3, NODES_5, REGION, Shape, Started, Up, UpConfig,
};
pub use error::SupervisorError;
pub use process::{NodeFiles, NodeProcess};
pub use settings::NodeSettings;
