//! Tianping's wire format: the `.proto` files (`tianping/v1/*.proto`, the client and admin
//! API; `tianping/raft/v1/raft.proto`, the transport between nodes), the gRPC code generated
//! from them, and the conversions between the wire and the ledger's types (`convert`).
//!
//! Every crate that talks to a node — the server, the `tianping` command, the Rust SDK, bank
//! workers, drills — reaches the wire through this crate and only this crate, so a client
//! builds neither the server nor openraft nor RocksDB, and a change of the wire is a change
//! here. Under `--cfg madsim` the generated code is madsim-tonic's in-memory variant (same
//! types, messages passed without encoding).
//!
//! Module map: `v1` and `raft` (generated), `convert` (wire ⇄ ledger: strict decimal 128-bit
//! values, field-path errors, result codes, read options, payouts, account controls; and the
//! Raft transport's postcard frames), `request_id` (the `x-request-id` metadata rule clients
//! and nodes share).

pub mod convert;
pub mod request_id;

/// `tianping.v1`: the client and admin API.
pub mod v1 {
    // madsim-tonic's simulated codegen unwraps (messages there are in-memory and typed).
    #![allow(missing_docs, clippy::all, clippy::unwrap_used)]
    tonic::include_proto!("tianping.v1");
}

/// `tianping.raft.v1`: the Raft transport between nodes (internal; never a client's).
pub mod raft {
    #![allow(missing_docs, clippy::all, clippy::unwrap_used)]
    tonic::include_proto!("tianping.raft.v1");
}

/// The encoded `FileDescriptorSet` of every Tianping proto (written by `build.rs`), which a
/// node's server reflection serves so generic clients need no `.proto` files.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tianping_descriptor.bin"));

pub use convert::{InvalidField, ReadConsistency, format_u128, parse_u128};
