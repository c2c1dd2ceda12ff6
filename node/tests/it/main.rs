//! Integration tests of `tianping-node`: real nodes (RocksDB, gRPC on loopback) in this
//! process, started through the production entry point `tianping_node::start`, and real
//! `tianping node` processes for the fault tests (`failover`, `snapshot_catch_up`,
//! `partition`). Every test is bounded in time (`TEST_TIMEOUT`) and in request count.

mod admin;
mod cli;
mod cluster;
mod dev_up;
mod failover;
mod group_commit;
mod history;
mod malformed_input;
mod netns;
mod observability;
mod partition;
mod payout_history;
mod payouts;
mod processes;
mod reads;
mod sdk;
mod snapshot_catch_up;
mod status;
mod support;
mod workload;
