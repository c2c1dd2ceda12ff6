//! The node's runtime glue, the same in production and in the simulation.
//!
//! `timeout`: a deadline on a future: tokio's outside the simulation; inside it the one
//! raft-store's simulation runtime gives openraft, a future of our own over madsim's clock
//! (madsim's own `timeout` is not `Send`, and gRPC handlers and the Raft transport need `Send`
//! futures). What else differs between the two worlds (store, sockets, clock, serving) is the
//! node's `Environment`.

/// `future`, or `Err` once `duration` has passed without it finishing: tokio's.
#[cfg(not(madsim))]
pub use tokio::time::timeout;

/// `future`, or `Err` once `duration` has passed without it finishing: the project's own,
/// `Send` whenever the future is.
#[cfg(madsim)]
pub use tianping_raft_store::runtime::timeout;
