//! Integration tests of `tianping-node`: real nodes (RocksDB, gRPC on loopback) in this
//! process, started through the production entry point `tianping_node::start`. Every test is
//! bounded in time (`TEST_TIMEOUT`) and in request count.

mod admin;
mod cli;
mod cluster;
mod dev_up;
mod malformed_input;
mod support;
