//! Generates the gRPC code of the client and admin API (`tianping.v1`) and the Raft transport
//! (`tianping.raft.v1`). One build script serves the normal build and the madsim simulation:
//! `madsim-tonic-build` emits both variants and `tonic::include_proto!` picks the right one.
//! `protoc` comes from `protoc-bin-vendored`, so neither developers nor CI install a system
//! `protobuf-compiler`.
//!
//! It also writes the file descriptor set of every proto to `$OUT_DIR/tianping_descriptor.bin`
//! (`FILE_DESCRIPTOR_SET` in the crate), which gRPC server reflection serves so generic clients
//! (grpcurl, Python's grpcio-reflection) can call the API without the `.proto` files.
//!
//! Every `tianping.v1` type derives `serde::Serialize`, so the `tianping` CLI prints `--json`
//! straight from the messages it received: ids and amounts are decimal strings on the wire, so
//! their JSON is exact (a u128 never passes through a JSON number).

use std::io;

const PROTOS: [&str; 6] = [
    "tianping/v1/feed.proto",
    "tianping/v1/ledger.proto",
    "tianping/v1/payouts.proto",
    "tianping/v1/reconciliation.proto",
    "tianping/v1/admin.proto",
    "tianping/raft/v1/raft.proto",
];

fn main() -> io::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(io::Error::other)?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    let out_dir = std::env::var_os("OUT_DIR").ok_or_else(|| io::Error::other("OUT_DIR unset"))?;
    tonic_build::configure()
        .type_attribute(".tianping.v1", "#[derive(serde::Serialize)]")
        .file_descriptor_set_path(std::path::Path::new(&out_dir).join("tianping_descriptor.bin"))
        .compile_protos_with_config(config, &PROTOS, &["."])
}
