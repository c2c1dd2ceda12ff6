//! Tianping's deterministic simulation harness (issue 5): whole clusters of the real node code
//! — booted through `tianping_node::start`, as the `tianping` binary does — run under the
//! madsim simulator, where network, clock, randomness and disks are the simulator's, so one
//! seed replays one exact history.
//!
//! Everything lives behind `--cfg madsim` (build with `RUSTFLAGS="--cfg madsim"` into a target
//! directory of its own); a normal build compiles this crate empty.
//!
//! Module map:
//! - `latency`: the named distances between data centers (metro, national, cross-border)
//!   every drill can run under.
//! - `world`: the simulated machines — nodes in data centers on `MemoryDisk`s that survive
//!   a crash with exactly their synced data, client machines, the network between them.
//! - `client`: clients in every data center sending random valid and invalid transfer
//!   batches with deadlines and retries that reuse ids, recording what was acknowledged.
//! - `faults`: crash + restart, leader (and leader data center) kill, power loss, data-center
//!   partition (both ways or one way), node pause, flapping links, network weather (packet
//!   loss, latency spikes) and slow fsync.
//! - `planted`: the bugs the clients can plant to prove the checkers bite (a leaf: the
//!   world's configuration names one, the clients act on it).
//! - `operator`: admin calls (add learner, promote, transfer leader, remove) with retries.
//! - `risk`: the risk desk, blocking, freezing, reactivating accounts and changing their
//!   limits mid-load, so the checkers have blocks and limits to hold the cluster to.
//! - `sampler`: the tasks that sample leaders and replicas while a seed runs.
//! - `bank`: the bank side (issue 12): a bank machine outside the data centers hosting the
//!   deterministic `BankSimulator` (one ISO 20022 bank, one SM2 direct-connect bank) over
//!   madsim's network, and one bank worker per data center running the real
//!   `tianping_bank_worker::run` with the real gateways, through the SDK; the payout and
//!   collection workload and the evidence the bank checkers judge; the reconciler service
//!   (`tianping_reconcile`) on the worker machines of two data centers.
//! - `drills`: scenarios over the above (`failover`, `split-brain`,
//!   `dc-migration`, `soak`, and the bank drills `bank-outage`, `lost-callbacks`,
//!   `worker-split-brain`, `reconciliation`), each a test over many seeds
//!   (`tests/drills.rs`, driven by `cargo xtask sim`).
//!
//! The client history and every checker live in `tianping-history`, which knows no simulator:
//! this crate produces the history and converts what it reads from its madsim world (replicas,
//! log entries from the `MemoryDisk`s, leader samples, times since the seed began) into that
//! crate's plain inputs.

#[cfg(madsim)]
pub mod bank;
#[cfg(madsim)]
pub mod client;
#[cfg(madsim)]
pub mod drills;
#[cfg(madsim)]
pub mod faults;
#[cfg(madsim)]
pub mod latency;
#[cfg(madsim)]
pub mod operator;
#[cfg(madsim)]
pub mod planted;
#[cfg(madsim)]
pub mod risk;
#[cfg(madsim)]
pub mod sampler;
#[cfg(madsim)]
pub mod world;
