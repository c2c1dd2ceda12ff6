//! The gateways of `tianping-bank-adapters` against the simulator over real HTTP on
//! 127.0.0.1, for both protocols, the simulator's properties, and its ISO 20022 documents
//! against the official XSDs (which need what `cargo xtask test` prepares, like the
//! bank-adapters interop tests).

mod booking_faults;
mod callbacks;
mod example_config;
mod harness;
mod over_http;
mod per_account_feed;
mod properties;
// The XSDs and xmllint, shared with the bank-adapters interop tests.
#[path = "../../../tests/interop/schemas.rs"]
mod schemas;
mod xsd;
