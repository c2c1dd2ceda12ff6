//! The chaos crate's integration tests: the fault proxy on loopback.

mod proxy;
