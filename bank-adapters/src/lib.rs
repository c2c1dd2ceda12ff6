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
//! The payout worker and the bank simulator are the sibling crates `tianping-bank-worker`
//! (`bank-adapters/worker/`) and `tianping-bank-sim` (`bank-adapters/sim/`); the reconciler is
//! `tianping-reconcile`. What more than one of them needs lives here.
//!
//! Module map:
//! - [`payment`] — the typed references, parties, instructions, outcomes, entries and
//!   statements every protocol and the gateway speak (a leaf: it names no other module).
//! - [`gateway`] — the [`gateway::BankGateway`] trait every bank connection implements and
//!   its errors, which the payout workers and collection pollers use.
//! - [`money`] — decimal text ⇄ integer minor units per ISO 4217 currency, exactly.
//! - [`calendar`] — dates and UTC instants as bank documents write them, from caller-supplied
//!   Unix milliseconds (no clock reads).
//! - [`iso20022`] — ISO 20022 XML: `pain.001.001.09` out, `pain.002.001.10`,
//!   `camt.054.001.08` and `camt.053.001.08` in (and out, for the bank simulator).
//! - [`direct`] — the signed direct-connect JSON protocol (银企直连): envelopes, their
//!   canonical signed bytes, and a [`direct::Verifier`] that refuses and counts missing or bad
//!   signatures and replays.
//! - [`direct_bodies`] — the direct-connect bodies of status queries, notifications and
//!   statements.
//! - [`transport`] — the runtime-agnostic [`transport::Transport`] (one request, one answer,
//!   errors that say whether the bank may have acted) and its HTTP/1.1 implementation over
//!   hyper (real network only).
//! - [`bank_api`] — the bank API's paths, and the two gateways over a transport:
//!   [`bank_api::iso20022::Iso20022Gateway`] and [`bank_api::direct::DirectGateway`].
//! - [`connection`] — a bank's `[banks.connection]` table (protocol, URL, keys) and
//!   [`connection::connect`], which builds the HTTP gateway from it (real network only), for
//!   the worker and the reconciler alike.
//! - [`collection_id`] — the transfer id a bank credit is booked under, which the worker books
//!   by and the reconciler matches by.
//! - [`keys`] — the [`keys::Signer`] interface, local SM2/Ed25519 keys from files or the
//!   environment, and [`keys::KeyRing`]: two keys during a rotation, reloadable while in use.

pub mod bank_api;
pub mod calendar;
pub mod collection_id;
pub mod connection;
pub mod direct;
pub mod direct_bodies;
pub mod gateway;
pub mod iso20022;
pub mod keys;
pub mod money;
pub mod payment;
pub mod transport;
