//! Simulated distance between data centers: the delay a message pays crossing from one data
//! center to another (simulation only; the real build has no such module).
//!
//! madsim 0.2 draws every message's delay from one range for the whole network (no per-link
//! latency), and madsim-tonic ignores tower layers. So the simulation sets madsim's range to
//! an intra-data-center hop and this module adds the rest where every gRPC call enters a node:
//!
//! - The simulation installs a `LinkTable` at the start of every seed (`install`): which data
//!   center each machine's IP is in, and per pair of data centers the one-way delay a message
//!   between them adds (`LinkDelay`), drawn per message: the jitter is the width of the range,
//!   and a link may also spike now and then (a congested route, a retransmission), adding a
//!   second draw to a share of its messages.
//! - The simulation's environment (`environment::Simulated`) serves each of the node's gRPC
//!   services wrapped in `Delayed`, at the
//!   service level where a tower layer would sit: one wrapper for every RPC a node receives
//!   — peers' Raft messages and ReadIndex calls, clients' calls, followers' forwards, admin
//!   calls. When the caller's IP (`Request::remote_addr`) and the node's (`local_addr`, the
//!   address its server bound) are in different data centers, the call sleeps one drawn
//!   one-way delay before the handler runs and another before the answer leaves, so a round
//!   trip across data centers costs two draws on top of madsim's two hops. A machine the
//!   table does not place (the drills' controller, a test's own machine) pays no extra delay.
//!
//! The delays come from `madsim::rand::thread_rng` and madsim's clock, so a seed replays
//! byte for byte. Only the server side delays: both directions of a call are paid there, and
//! a client needs no change.
//!
//! Why a wrapper where the environment builds its routers and not a call in each handler: one
//! place covers every service, present and future, and no handler changes; the module and the
//! simulated environment are `#[cfg(madsim)]`, so the real build compiles none of it (no cost,
//! no behaviour). Why thread-local: a madsim simulation runs on one thread, so simulations
//! running side by side (parallel tests, `--check-determinism`) never share a table; a seed
//! installs its own, replacing the last seed's (see `runtime`'s simulated disks).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::task::{Context, Poll};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{BoxFuture, BoxMessageStream, Service};
use tonic::transport::NamedService;
use tonic::{Request, Response, Status};

/// Where each machine is and how far apart the data centers are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkTable {
    /// Each placed machine's data center, by IP.
    data_centers: BTreeMap<IpAddr, usize>,
    /// The extra one-way delay between two data centers, keyed by the pair in order (lower
    /// first): links are symmetric.
    delays: BTreeMap<(usize, usize), LinkDelay>,
}

/// The extra one-way delay of the link between two data centers, drawn per message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkDelay {
    /// Every message pays one draw from this range (an empty range: its start, always).
    pub one_way: Range<Duration>,
    /// How many messages in 1 000 pay a spike on top (0: the link never spikes).
    pub spikes_per_mille: u32,
    /// A spike's extra delay, drawn per spiking message.
    pub spike: Range<Duration>,
}

impl LinkDelay {
    /// A link whose delay stays within `one_way`: no spikes.
    pub fn steady(one_way: Range<Duration>) -> LinkDelay {
        LinkDelay { one_way, spikes_per_mille: 0, spike: Duration::ZERO..Duration::ZERO }
    }

    /// The longest one-way delay a message can pay, spike included.
    pub fn worst(&self) -> Duration {
        let spike = if self.spikes_per_mille == 0 { Duration::ZERO } else { self.spike.end };
        self.one_way.end.max(self.one_way.start).saturating_add(spike)
    }

    /// One message's delay, from the seed's randomness. A link that never spikes draws once
    /// per message, so adding spikes to one profile changes no other profile's seeds.
    fn draw(&self) -> Duration {
        let base = draw(&self.one_way);
        if self.spikes_per_mille == 0 || thread_rng().gen_range(0..1_000) >= self.spikes_per_mille {
            return base;
        }
        base.saturating_add(draw(&self.spike))
    }
}

impl LinkTable {
    /// A table that places no machine: no link pays an extra delay.
    pub fn new() -> LinkTable {
        LinkTable::default()
    }

    /// Places the machine at `ip` in data center `data_center`.
    pub fn place(&mut self, ip: IpAddr, data_center: usize) {
        self.data_centers.insert(ip, data_center);
    }

    /// Sets the extra one-way delay of a message between data centers `a` and `b` (either
    /// way), drawn per message from `delay`.
    pub fn set_delay(&mut self, a: usize, b: usize, delay: LinkDelay) {
        self.delays.insert((a.min(b), a.max(b)), delay);
    }

    /// The extra one-way delay range between the machines at `from` and `to`: none when either
    /// is not placed, or their data centers have no delay set (the same data center, unless
    /// set on purpose).
    pub fn delay(&self, from: IpAddr, to: IpAddr) -> Option<LinkDelay> {
        let a = *self.data_centers.get(&from)?;
        let b = *self.data_centers.get(&to)?;
        self.delays.get(&(a.min(b), a.max(b))).cloned()
    }
}

thread_local! {
    /// This simulation's table (see the module doc for why thread-local).
    static TABLE: RefCell<LinkTable> = RefCell::new(LinkTable::new());
}

/// Makes `table` the one every node of this simulation delays its calls by, replacing the
/// last one (a seed must install its own before its nodes serve).
pub fn install(table: LinkTable) {
    TABLE.with(|current| *current.borrow_mut() = table);
}

/// Forgets the table: no call pays an extra delay.
pub fn clear() {
    install(LinkTable::new());
}

/// The extra one-way delay of `request`'s link, if it has one.
fn link_of<T>(request: &Request<T>) -> Option<LinkDelay> {
    let (from, to) = (request.remote_addr()?, request.local_addr()?);
    TABLE.with(|table| table.borrow().delay(from.ip(), to.ip()))
}

/// One delay drawn from `one_way`, from the seed's randomness.
fn draw(one_way: &Range<Duration>) -> Duration {
    if one_way.start < one_way.end {
        thread_rng().gen_range(one_way.clone())
    } else {
        one_way.start
    }
}

/// A generated gRPC service (madsim-tonic's shape), served with its links' delays.
#[derive(Clone, Debug)]
pub(crate) struct Delayed<S> {
    inner: S,
}

impl<S> Delayed<S> {
    pub(crate) fn new(inner: S) -> Delayed<S> {
        Delayed { inner }
    }
}

impl<S> Service<(PathAndQuery, Request<BoxMessageStream>)> for Delayed<S>
where
    S: Service<
            (PathAndQuery, Request<BoxMessageStream>),
            Response = Response<BoxMessageStream>,
            Error = Status,
            Future = BoxFuture<Response<BoxMessageStream>, Status>,
        > + Clone
        + Send
        + 'static,
{
    type Response = Response<BoxMessageStream>;
    type Error = Status;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: (PathAndQuery, Request<BoxMessageStream>)) -> Self::Future {
        let Some(one_way) = link_of(&call.1) else { return self.inner.call(call) };
        // The handler is called only once the request has crossed: a clone of the service
        // (the generated ones share their handler through an `Arc`) makes the call then.
        let mut inner = self.inner.clone();
        Box::pin(async move {
            madsim::time::sleep(one_way.draw()).await;
            let answer = inner.call(call).await;
            madsim::time::sleep(one_way.draw()).await;
            answer
        })
    }
}

impl<S: NamedService> NamedService for Delayed<S> {
    const NAME: &'static str = S::NAME;
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn only_placed_machines_in_data_centers_with_a_delay_pay_it() {
        let mut table = LinkTable::new();
        table.place(ip(1), 0);
        table.place(ip(2), 0);
        table.place(ip(3), 2);
        let far = LinkDelay::steady(Duration::from_millis(20)..Duration::from_millis(40));
        table.set_delay(2, 0, far.clone());
        assert_eq!(table.delay(ip(1), ip(3)), Some(far.clone()));
        assert_eq!(table.delay(ip(3), ip(2)), Some(far));
        assert_eq!(table.delay(ip(1), ip(2)), None);
        assert_eq!(table.delay(ip(1), ip(9)), None);
    }

    #[test]
    fn an_empty_range_draws_its_start() {
        let fixed = Duration::from_millis(7)..Duration::from_millis(7);
        assert_eq!(draw(&fixed), Duration::from_millis(7));
    }

    #[test]
    fn the_worst_delay_counts_a_spike_only_where_the_link_spikes() {
        let one_way = Duration::from_millis(60)..Duration::from_millis(120);
        assert_eq!(LinkDelay::steady(one_way.clone()).worst(), Duration::from_millis(120));
        let spiky = LinkDelay {
            one_way,
            spikes_per_mille: 20,
            spike: Duration::from_millis(20)..Duration::from_millis(100),
        };
        assert_eq!(spiky.worst(), Duration::from_millis(220));
    }
}
