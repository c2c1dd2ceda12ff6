//! Integration tests of `tianping-reconcile`, one binary:
//!
//! - `streams`: builds both streams from a list of facts — what happened to each movement,
//!   consistent or with one injected difference — together with the findings each fact must
//!   produce and the ledger's payouts for answering questions.
//! - `properties`: proptest over random facts, skews up to the lateness and random
//!   interleavings of the two streams: consistent facts never produce a finding, and every
//!   injected difference is found exactly once, with its class, key and accounts.

mod properties;
mod streams;
