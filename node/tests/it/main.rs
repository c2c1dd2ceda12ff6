//! Integration tests of `tianping-node`: real nodes (RocksDB, gRPC on loopback) in this
//! process, started through the production entry point `tianping_node::start`. The fault tests
//! on real `tianping node` processes (`failover`, `wiped_voter`, `partition`) and the
//! command-line tests live with the binary, in `cli/tests/it/`. Every test is bounded in time
//! (`TEST_TIMEOUT`) and in request count.

mod admin;
mod cluster;
mod discrepancies;
mod group_commit;
mod history;
mod identity;
mod malformed_input;
mod membership;
mod observability;
mod payout_history;
mod payouts;
mod reads;
mod sdk;
mod status;
mod support;
mod tls;
