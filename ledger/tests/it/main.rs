//! Integration tests of `tianping-ledger`, one binary grouped by area:
//!
//! - `result_codes`: a table of small scenarios, one per result code (and a few for the
//!   documented check order), plus a test that every `ResultCode` is reached.
//! - `auditor` + `properties`: proptest batches against an independent reference model of
//!   the ledger, with the ledger's invariant checkers, replay and determinism checks.
//! - `fuzz`: arbitrary bytes decoded into extreme command batches; nothing may panic and no
//!   invariant may break.
//! - `formats`: golden bytes of the batch format and the refusal of an unknown version.
//! - `scenarios`: focused walkthroughs (two-phase transfers, expiry, the payout lifecycle
//!   with fencing, collections, queries).
//!
//! Every test drives the ledger through `support`, so an API change is fixed in one place.

mod auditor;
mod formats;
mod fuzz;
mod properties;
mod result_codes;
mod scenarios;
mod support;
