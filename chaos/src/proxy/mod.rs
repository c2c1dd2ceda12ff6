//! The user-space fault proxy between data centers. This machine's kernel has no `netem`, so
//! delay, loss and partitions between the data centers of a local cluster come from here: every
//! byte a node sends to a node of another data center passes through an `Ingress` in front of
//! the receiving node, which asks the `FaultNetwork` what the directed link (caller's data
//! center → receiver's) does now.
//!
//! What a directed link can do (`Flow`), changed at runtime by the drill:
//! - `Open`: forward, each chunk late by the link's `Delay` (in order: TCP is a stream).
//! - `Blocked`: read and discard — a one-way partition. A connection carries bytes both ways,
//!   so blocking a→b loses the requests a's nodes send to b's and the answers b's nodes send
//!   back to a's, while b→a still delivers: b hears a, a never hears b. That is the message
//!   loss the simulation's one-way partition makes. (A one-way partition of IP packets would
//!   be cruder: TCP needs both directions, so every connection would stall both ways.) A
//!   connection that lost bytes is corrupt mid-stream, so healing closes it and its callers
//!   reconnect.
//! - `Refused` (`cut`): existing connections between the two data centers are closed and new
//!   ones are closed as soon as accepted, as a link that answers connection attempts with a
//!   reset.
//!
//! Connections within one data center pass through untouched.

mod ingress;
pub mod owner;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub use ingress::{Ingress, ProcessTable, Source};

use crate::latency::Delay;

/// What a directed link does with the bytes it carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flow {
    /// Forward them, late by the link's delay.
    #[default]
    Open,
    /// Read and discard them: a one-way partition.
    Blocked,
    /// Close every connection and refuse new ones: a cut link.
    Refused,
}

/// What a directed link has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Connections accepted whose caller is at the link's start.
    pub connections: u64,
    /// Connections refused because the link was cut (or the caller was unknown, counted on the
    /// link from `UNKNOWN` to the receiver).
    pub refused: u64,
    /// Bytes forwarded along the link.
    pub bytes_forwarded: u64,
    /// Bytes discarded along the link while it was blocked or cut.
    pub bytes_discarded: u64,
}

/// The data center a caller the proxy could not identify is counted under.
pub const UNKNOWN: &str = "?";

/// The fault network: the state of every directed link between data centers, and the
/// connections it carries. Cloning shares it; every `Ingress` made from it obeys it.
#[derive(Clone, Debug)]
pub struct FaultNetwork {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    seed: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The delay of a link without one of its own.
    default_delay: Option<Delay>,
    links: BTreeMap<(String, String), Link>,
    connections: BTreeMap<u64, Connection>,
    next_connection: u64,
}

#[derive(Debug, Default)]
struct Link {
    delay: Option<Delay>,
    flow: Flow,
    stats: LinkStats,
}

/// A proxied connection between two data centers.
#[derive(Debug)]
struct Connection {
    caller: String,
    receiver: String,
    /// Bytes were discarded: the streams are corrupt, so healing closes it.
    lost_bytes: bool,
    /// Stops the task that pumps it (dropping both sockets).
    task: Option<tokio::task::AbortHandle>,
}

/// What to do with a chunk read from one side of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Deliver it after this delay.
    Forward(Delay),
    /// Drop it.
    Discard,
}

impl FaultNetwork {
    /// A network with every link open and undelayed; `seed` seeds every delay drawn.
    pub fn new(seed: u64) -> FaultNetwork {
        FaultNetwork { shared: Arc::new(Shared { seed, state: Mutex::new(State::default()) }) }
    }

    /// The seed delays are drawn from.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left plain data behind; the table is still usable.
        self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every link without a delay of its own is late by `delay` (a latency profile's).
    pub fn set_default_delay(&self, delay: Delay) {
        self.state().default_delay = Some(delay);
    }

    /// The link `from` → `to` is late by `delay`.
    pub fn set_delay(&self, from: &str, to: &str, delay: Delay) {
        self.state().link(from, to).delay = Some(delay);
    }

    /// What the link `from` → `to` does now.
    pub fn flow(&self, from: &str, to: &str) -> Flow {
        self.state().links.get(&key(from, to)).map(|link| link.flow).unwrap_or_default()
    }

    /// What the link `from` → `to` has done so far.
    pub fn stats(&self, from: &str, to: &str) -> LinkStats {
        self.state().links.get(&key(from, to)).map(|link| link.stats).unwrap_or_default()
    }

    /// A one-way partition: what `from`'s nodes send to `to`'s is lost from now on; the other
    /// direction still delivers.
    pub fn block(&self, from: &str, to: &str) {
        self.state().link(from, to).flow = Flow::Blocked;
    }

    /// A partition both ways between `a` and `b`.
    pub fn partition(&self, a: &str, b: &str) {
        let mut state = self.state();
        state.link(a, b).flow = Flow::Blocked;
        state.link(b, a).flow = Flow::Blocked;
    }

    /// Cuts the link between `a` and `b`: closes every connection between them and refuses new
    /// ones until healed. The number of connections closed.
    pub fn cut(&self, a: &str, b: &str) -> usize {
        let mut state = self.state();
        state.link(a, b).flow = Flow::Refused;
        state.link(b, a).flow = Flow::Refused;
        state.close_where(|connection| connection.between(a, b))
    }

    /// Opens both directions between `a` and `b` again; connections that lost bytes are closed
    /// (their callers reconnect). The number of connections closed.
    pub fn heal(&self, a: &str, b: &str) -> usize {
        let mut state = self.state();
        state.link(a, b).flow = Flow::Open;
        state.link(b, a).flow = Flow::Open;
        state.close_where(|connection| connection.lost_bytes && connection.between(a, b))
    }

    /// Opens every link; connections that lost bytes are closed. The number closed.
    pub fn heal_all(&self) -> usize {
        let mut state = self.state();
        for link in state.links.values_mut() {
            link.flow = Flow::Open;
        }
        state.close_where(|connection| connection.lost_bytes)
    }

    /// Registers a connection from `caller`'s data center to `receiver`'s: its id, or `None`
    /// if the link between them is cut (counted as refused).
    pub(crate) fn admit(&self, caller: &str, receiver: &str) -> Option<u64> {
        let mut state = self.state();
        let cut = state.link(caller, receiver).flow == Flow::Refused
            || state.link(receiver, caller).flow == Flow::Refused;
        let link = state.link(caller, receiver);
        if cut {
            link.stats.refused = link.stats.refused.saturating_add(1);
            return None;
        }
        link.stats.connections = link.stats.connections.saturating_add(1);
        let id = state.next_connection;
        state.next_connection = state.next_connection.wrapping_add(1);
        let connection = Connection {
            caller: caller.to_owned(),
            receiver: receiver.to_owned(),
            lost_bytes: false,
            task: None,
        };
        state.connections.insert(id, connection);
        Some(id)
    }

    /// Counts a connection refused because its caller could not be identified.
    pub(crate) fn refuse_unknown(&self, receiver: &str) {
        let mut state = self.state();
        let link = state.link(UNKNOWN, receiver);
        link.stats.refused = link.stats.refused.saturating_add(1);
    }

    /// Hands the network the handle that stops connection `id`'s task. A connection cut
    /// before its task was registered is stopped at once.
    pub(crate) fn attach(&self, id: u64, task: tokio::task::AbortHandle) {
        let mut state = self.state();
        match state.connections.get_mut(&id) {
            Some(connection) => connection.task = Some(task),
            None => task.abort(),
        }
    }

    /// Forgets connection `id` (its task ended).
    pub(crate) fn forget(&self, id: u64) {
        self.state().connections.remove(&id);
    }

    /// What to do with `bytes` bytes read on connection `id`, going `from` → `to`.
    pub(crate) fn verdict(&self, id: u64, from: &str, to: &str, bytes: usize) -> Verdict {
        let mut state = self.state();
        let default_delay = state.default_delay.clone();
        let link = state.link(from, to);
        let count = u64::try_from(bytes).unwrap_or(u64::MAX);
        if link.flow == Flow::Open {
            link.stats.bytes_forwarded = link.stats.bytes_forwarded.saturating_add(count);
            let delay = link.delay.clone().or(default_delay).unwrap_or(Delay::NONE);
            return Verdict::Forward(delay);
        }
        link.stats.bytes_discarded = link.stats.bytes_discarded.saturating_add(count);
        if let Some(connection) = state.connections.get_mut(&id) {
            connection.lost_bytes = true;
        }
        Verdict::Discard
    }
}

impl State {
    fn link(&mut self, from: &str, to: &str) -> &mut Link {
        self.links.entry(key(from, to)).or_default()
    }

    /// Stops and forgets every connection `close` selects; how many.
    fn close_where(&mut self, close: impl Fn(&Connection) -> bool) -> usize {
        let ids: Vec<u64> = self
            .connections
            .iter()
            .filter(|(_, connection)| close(connection))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(task) = self.connections.remove(id).and_then(|connection| connection.task) {
                task.abort();
            }
        }
        ids.len()
    }
}

impl Connection {
    fn between(&self, a: &str, b: &str) -> bool {
        (self.caller == a && self.receiver == b) || (self.caller == b && self.receiver == a)
    }
}

fn key(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}
