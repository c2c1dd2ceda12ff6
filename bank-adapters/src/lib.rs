//! Tianping's bank protocol layer: how the ledger's payouts and collections are spoken to
//! banks, without knowing anything of the ledger's replication or storage (issue 12, DESIGN
//! §5). This crate depends on no other Tianping crate, and never on the server, openraft or
//! RocksDB: the payout workers, the bank simulator and reconciliation all build on it.
//!
//! What it holds to: money is integer minor units everywhere and decimal text only at the
//! wire; the payout id is the end-to-end id on every attempt while message ids are fresh; an
//! unknown outcome is an error that obliges the caller to query by the same end-to-end id;
//! every signed message is verified before its body is read, and refusals are counted; no
//! clock is read inside (instants are passed in).
//!
//! Not here yet (the next slices of issue 12): the bank simulator, the HTTP transport and the
//! `BankGateway` implementations over it, payout workers, and collections.
//!
//! Module map:
//! - [`gateway`] — the [`gateway::BankGateway`] trait every bank connection implements, and
//!   the typed requests, outcomes and errors the payout workers and collection pollers use.
//! - [`money`] — decimal text ⇄ integer minor units per ISO 4217 currency, exactly.
//! - [`calendar`] — dates and UTC instants as bank documents write them, from caller-supplied
//!   Unix milliseconds (no clock reads).
//! - [`iso20022`] — ISO 20022 XML: `pain.001.001.09` out, `pain.002.001.10`,
//!   `camt.054.001.08` and `camt.053.001.08` in (and out, for the bank simulator).
//! - [`direct`] — the signed direct-connect JSON protocol (银企直连): envelopes, their
//!   canonical signed bytes, and a [`direct::Verifier`] that refuses and counts missing or bad
//!   signatures and replays.
//! - [`keys`] — the [`keys::Signer`] interface, local SM2/Ed25519 keys from files or the
//!   environment, and [`keys::KeyRing`]: two keys during a rotation, reloadable while in use.

pub mod calendar;
pub mod direct;
pub mod gateway;
pub mod iso20022;
pub mod keys;
pub mod money;
