//! Tianping's drills on real processes (issue 14): what the simulation proves on models of
//! nodes, disks and links, proved again on `tianping node` processes, real disks and real
//! sockets.
//!
//! - `latency` — the simulation's inter-data-center latency profiles (metro, national,
//!   cross-border) as delays on real bytes, with a seeded jitter.
//! - `proxy` — the user-space fault proxy (this machine's kernel has no `netem`): one
//!   `FaultNetwork` holding every directed link's delay and flow (open, blocked: a one-way
//!   partition, refused: a cut), and an `Ingress` in front of each receiver that finds each
//!   caller's data center (`proxy::owner`: the process holding the socket) and pumps bytes as
//!   the link says.
//! - `cluster` — `ChaosCluster`: the supervisor's local cluster with an ingress in front of
//!   every node's Raft listener, advertised in its place, so Raft traffic between data
//!   centers crosses the fault network; kill and restart keep the proxies' process table true.
//! - `drill` — the drills (`tianping drill <name>`): a `ChaosCluster`, a client workload from
//!   every data center, a fault on the leader or its data center, healed; then the verdict
//!   (the history checkers and the ledger's invariants on the state read back, every
//!   replica's digest) and a Markdown report.
//! - `unavailability` — a fault's client-side unavailability: from the first write that failed
//!   after it struck to the first commit after that, per data center's clients or all.
//!
//! This is operator and test tooling, not node code: it runs on the real runtime only. It
//! never links the server, openraft or RocksDB (ARCHITECTURE.md's crate map).

pub mod cluster;
pub mod drill;
pub mod latency;
pub mod proxy;
pub mod unavailability;

pub use cluster::{ChaosCluster, ChaosConfig};
pub use drill::{DrillConfig, DrillError, DrillName, DrillOutcome};
pub use latency::{Delay, Jitter, LatencyProfile};
pub use proxy::{FaultNetwork, Flow, Ingress, LinkStats, ProcessTable, Source};
