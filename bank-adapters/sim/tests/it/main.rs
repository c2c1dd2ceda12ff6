//! The gateways of `tianping-bank-adapters` against the simulator over real HTTP on
//! 127.0.0.1, for both protocols, and the simulator's properties.

mod example_config;
mod harness;
mod over_http;
mod properties;
