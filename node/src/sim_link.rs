//! Simulated distance between data centers: the delay a message pays crossing from one data
//! center to another (simulation only; the real build has no such module).
//!
//! madsim 0.2 draws every message's delay from one range for the whole network (no per-link
//! latency), and madsim-tonic ignores tower layers. So the simulation sets madsim's range to
//! an intra-data-center hop and this module adds the rest where every gRPC call enters a node:
//!
//! - The simulation installs a `LinkTable` at the start of every seed (`install`): which data
//!   center each machine's IP is in, and per pair of data centers the one-way delay a message
//!   between them adds, drawn per message (the jitter is the width of the range).
//! - `start` serves each of the node's gRPC services wrapped in `Delayed`, at the
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
//! Why a wrapper in `start` and not a call in each handler: one place covers every service,
//! present and future, and no handler changes; the module and the three lines that wrap the
//! services are `#[cfg(madsim)]`, so the real build compiles none of it (no cost, no
//! behaviour). Why thread-local: a madsim simulation runs on one thread, so simulations
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
    delays: BTreeMap<(usize, usize), Range<Duration>>,
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
    /// way), drawn per message from `one_way`; an empty range means its start, always.
    pub fn set_delay(&mut self, a: usize, b: usize, one_way: Range<Duration>) {
        self.delays.insert((a.min(b), a.max(b)), one_way);
    }

    /// The extra one-way delay range between the machines at `from` and `to`: none when either
    /// is not placed, or their data centers have no delay set (the same data center, unless
    /// set on purpose).
    pub fn delay(&self, from: IpAddr, to: IpAddr) -> Option<Range<Duration>> {
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

/// The extra one-way delay range of `request`'s link, if it has one.
fn link_of<T>(request: &Request<T>) -> Option<Range<Duration>> {
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
            madsim::time::sleep(draw(&one_way)).await;
            let answer = inner.call(call).await;
            madsim::time::sleep(draw(&one_way)).await;
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
        let far = Duration::from_millis(20)..Duration::from_millis(40);
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
}
