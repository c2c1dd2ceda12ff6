//! The checkers, one module per property, run on what a seed left behind (`Evidence`). Each
//! returns its violations as sentences naming ids and nodes; an empty list means it holds.
//! They are the properties of issue 5 this slice covers; the chaos drills reuse them.
//!
//! - `ledger_invariants`: every replica's ledger passes `tianping_ledger::invariants`
//!   (conservation per ledger, balances equal their transfers, flags, limits, indexes).
//! - `acknowledged`: every acknowledged transfer is in the final state exactly as the client
//!   was told (timestamp, amount), every refused one is absent, no transfer nobody sent.
//! - `digests`: replicas at equal applied index have equal state digests.
//! - `reads`: every linearizable read-back of an acknowledged transfer found it.
//! - `leaders`: at most one leader per term, sampled while the faults run (the drills that
//!   partition a leader use it; its verdict joins the others').
//! - `state_sampler`: the `ledger_invariants` and `digests` properties sampled every 2 s
//!   of simulated time on every running replica while the seed runs, and digests compared
//!   across time too (equal applied index, equal digest, whenever and wherever).
//! - `membership`: after a data-center migration, every remaining node's membership has no
//!   node of the old data center, the new ones as voters, and no joint configuration.
//! - `liveness`: once faults stop, the cluster commits within a bound and every node catches
//!   up with everything acknowledged.

pub mod acknowledged;
pub mod digests;
pub mod leaders;
pub mod ledger_invariants;
pub mod liveness;
pub mod membership;
pub mod reads;
pub mod state_sampler;

use std::time::Duration;

use crate::client::History;
use crate::world::Replica;

/// What a seed left for the checkers.
pub struct Evidence {
    /// What the clients sent and were told.
    pub history: History,
    /// Every node's replica, read after the run.
    pub replicas: Vec<Replica>,
    /// Nodes that could not be read (down or failing), with why.
    pub unreadable: Vec<String>,
    /// How long after the faults stopped the first write committed (`None`: never, within
    /// the bound).
    pub recovery: Option<Duration>,
    /// The bound on `recovery`.
    pub recovery_bound: Duration,
    /// The log index every node had to reach, and the nodes that did not in time.
    pub target_index: u64,
    /// Nodes that did not apply `target_index` in time.
    pub lagging: Vec<u64>,
}

/// Runs every checker.
pub fn check_all(evidence: &Evidence) -> Vec<String> {
    let mut violations = Vec::new();
    violations.extend(evidence.history.anomalies.iter().map(|a| format!("client: {a}")));
    violations.extend(liveness::check(evidence));
    violations.extend(ledger_invariants::check(&evidence.replicas));
    violations.extend(digests::check(&evidence.replicas));
    violations.extend(acknowledged::check(&evidence.history, &evidence.replicas));
    violations.extend(reads::check(&evidence.history));
    violations
}
