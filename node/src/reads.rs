//! Read consistency for every client read: linearizable by default, bounded staleness on
//! request. A read first passes `Reader::barrier`, then runs on this node's replica in the
//! state machine's task (`Reader::read_ledger`), so it never sees half an entry.
//!
//! The rule, per consistency:
//!
//! - **Linearizable** (`max_staleness_ms` 0 or absent): the read sees every write acknowledged
//!   before it started. On the leader: openraft's `Raft::get_read_linearizer` with
//!   `ReadPolicy::ReadIndex` (the leader confirms with a quorum that it still leads and returns
//!   the read index, `max(its no-op entry, its commit index)`), then a wait, bounded by the
//!   read's deadline, until that entry is applied here (what `Linearizer::try_await_ready`
//!   does; `ensure_linearizable` would wait without a deadline, and `get_read_log_id` is the
//!   legacy shape of the same call). On a follower: real ReadIndex — it asks the leader for its read index
//!   over the Raft transport (`tianping.raft.v1.Raft/ReadIndex`, served by `raft_service` with
//!   the same linearizer call), then waits, through openraft's metrics watch (`Raft::wait`),
//!   until its own applied index reaches it. The RPC lives on the Raft address, not the client
//!   one, because it is node-to-node protocol: clients never call it, it needs no forwarding
//!   mark, and it answers only to members that know the leader's Raft address.
//! - **Bounded staleness** (`max_staleness_ms` = S > 0): the node may answer from its replica
//!   without a round trip when it can prove the replica misses no write acknowledged more than
//!   S ago. On the leader: the same linearizer with `LinearizerOption::new(Some(S), false)` and
//!   no wait — openraft accepts it when a quorum acknowledged the leader less than S ago
//!   (capped at its leader lease), so no other leader can have committed anything before that
//!   acknowledgement. On a follower: the last read index it learned from the leader (by any
//!   ReadIndex round trip, linearizable or not), if that request was *sent* less than S ago —
//!   every write acknowledged before the send is at or below that index — and the replica has
//!   applied it. Otherwise the read falls back to ReadIndex, which refreshes that record, so a
//!   follower serving only bounded reads asks the leader at most about once per S.
//!   Heartbeat arrival times are deliberately not used: a deposed leader cut off with a
//!   minority keeps heartbeating it, so "recently heard from a leader" bounds nothing.
//!
//! Every phase shares one deadline (`NodeConfig::forward_timeout_ms`); past it the read fails
//! with `DEADLINE_EXCEEDED`. No leader, or a leader that lost its quorum, is `UNAVAILABLE`.
//! Every read response carries the applied index the read saw (at least the read index).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::alias::InstantOf;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{LinearizableReadError, RaftError};
use openraft::raft::ReadPolicy;
use openraft::raft::linearizable_read::LinearizerOption;
use tianping_raft_store::{LogId, NodeId, TypeConfig};
use tonic::Status;
use tonic::transport::Channel;

use crate::identity::NodeIdentity;
use crate::network::lazy_channel;
use crate::{LedgerRaft, StateMachineStore};
use tianping_proto::convert as pb_convert;
use tianping_proto::raft::RaftPayload;
use tianping_proto::raft::raft_client::RaftClient;

pub use tianping_proto::ReadConsistency;

/// A point in openraft's runtime clock (madsim's in the simulation).
type Moment = InstantOf<TypeConfig>;

/// Makes this node's replica fit to serve reads of a given consistency, and reads it.
pub(crate) struct Reader {
    raft: LedgerRaft,
    node_id: NodeId,
    /// One deadline for the whole barrier (asking the leader and waiting to apply).
    read_timeout: Duration,
    /// The channel to the last leader's Raft address asked for a read index.
    leader_channel: Mutex<Option<(String, Channel)>>,
    /// The newest read index learned from a leader, and when it was asked for (before send).
    learned: Mutex<Option<(Moment, u64)>>,
    /// This node's cluster, named on the Raft transport's ReadIndex call (`identity`).
    identity: Arc<NodeIdentity>,
    /// How the channel to the leader is secured.
    channels: tianping_tls::Channels,
}

impl Reader {
    pub(crate) fn new(
        raft: LedgerRaft,
        node_id: NodeId,
        read_timeout: Duration,
        identity: Arc<NodeIdentity>,
        channels: tianping_tls::Channels,
    ) -> Self {
        Reader {
            channels,
            raft,
            node_id,
            read_timeout,
            leader_channel: Mutex::new(None),
            learned: Mutex::new(None),
            identity,
        }
    }

    /// Waits until a read of `consistency` may run on this replica; the applied index then.
    pub(crate) async fn barrier(&self, consistency: ReadConsistency) -> Result<u64, Status> {
        match crate::runtime::timeout(self.read_timeout, self.barrier_within_deadline(consistency))
            .await
        {
            Ok(outcome) => outcome,
            Err(_elapsed) => Err(Status::deadline_exceeded(format!(
                "the read could not be made consistent within {} ms; retry",
                self.read_timeout.as_millis()
            ))),
        }
    }

    async fn barrier_within_deadline(&self, consistency: ReadConsistency) -> Result<u64, Status> {
        // PLANTED BUG `stale-read`: a linearizable read is served from this replica as it
        // stands, without ReadIndex — a follower behind, or a deposed leader, misses
        // acknowledged writes.
        #[cfg(feature = "planted-bugs")]
        if consistency == ReadConsistency::Linearizable
            && tianping_raft_store::planted::active(
                tianping_raft_store::planted::PlantedBug::StaleRead,
            )
        {
            return Ok(self.raft.metrics().borrow_watched().last_applied.map_or(0, |id| id.index));
        }
        let leader = self.raft.current_leader().await;
        if leader == Some(self.node_id) {
            let option = match consistency {
                ReadConsistency::Linearizable => LinearizerOption::from(ReadPolicy::ReadIndex),
                ReadConsistency::BoundedStaleness(bound) => {
                    LinearizerOption::new(Some(bound), false).with_wait_timeout(Duration::ZERO)
                }
            };
            match self.leader_read_index(option).await {
                Ok(index) => return self.wait_applied(index).await,
                // The lease is too old for this bound: fall back to a full ReadIndex.
                Err(_) if consistency != ReadConsistency::Linearizable => {
                    let index = self.leader_read_index(ReadPolicy::ReadIndex.into()).await?;
                    return self.wait_applied(index).await;
                }
                Err(status) => return Err(status),
            }
        }
        if let ReadConsistency::BoundedStaleness(bound) = consistency
            && let Some(index) = self.learned_within(bound)
        {
            return self.wait_applied(index).await;
        }
        let Some(leader) = leader else {
            return Err(Status::unavailable("no leader is known yet; retry"));
        };
        let index = self.ask_leader(leader).await?;
        self.wait_applied(index).await
    }

    /// This node's read index as the leader, under `option`.
    async fn leader_read_index(&self, option: LinearizerOption) -> Result<u64, Status> {
        let linearizer = self.raft.get_read_linearizer(option).await.map_err(|error| {
            // Leadership moved between the routing check and the call: the client retries.
            let status = read_refused(error);
            match status.code() {
                tonic::Code::FailedPrecondition => Status::unavailable(status.message()),
                _ => status,
            }
        })?;
        Ok(linearizer.read_log_id().index())
    }

    /// The read index learned from the leader, if it was asked for less than `bound` ago.
    fn learned_within(&self, bound: Duration) -> Option<u64> {
        let learned = *self.learned.lock().unwrap_or_else(|poison| poison.into_inner());
        learned
            .filter(|(asked_at, _)| openraft::Instant::elapsed(asked_at) < bound)
            .map(|(_, index)| index)
    }

    /// Asks `leader` for its read index over the Raft transport (real ReadIndex).
    async fn ask_leader(&self, leader: NodeId) -> Result<u64, Status> {
        let mut client = RaftClient::new(self.leader_channel(leader)?);
        let asked_at = <Moment as openraft::Instant>::now();
        let mut request = tonic::Request::new(RaftPayload { payload: Vec::new() });
        self.identity.stamp(leader, &mut request);
        let reply = client
            .read_index(request)
            .await
            .map_err(|status| {
                Status::unavailable(format!(
                    "the leader (node {leader}) gave no read index: {}; retry",
                    status.message()
                ))
            })?
            .into_inner();
        let log_id: LogId = pb_convert::from_raft_bytes("read index", &reply.payload)
            .map_err(|error| Status::internal(error.to_string()))?;
        let mut learned = self.learned.lock().unwrap_or_else(|poison| poison.into_inner());
        if learned.is_none_or(|(previous, _)| previous < asked_at) {
            *learned = Some((asked_at, log_id.index));
        }
        Ok(log_id.index)
    }

    fn leader_channel(&self, leader: NodeId) -> Result<Channel, Status> {
        let node =
            self.raft.metrics().borrow_watched().membership_config.get_node(&leader).cloned();
        let address = match node {
            Some(node) => node.raft_address,
            None => {
                return Err(Status::unavailable(format!(
                    "the leader is node {leader}, whose address is not known here; retry"
                )));
            }
        };
        let mut cached = self.leader_channel.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some((cached_address, channel)) = cached.as_ref()
            && *cached_address == address
        {
            return Ok(channel.clone());
        }
        let channel = lazy_channel(&self.channels, &address)
            .map_err(|error| Status::unavailable(format!("leader address {address:?}: {error}")))?;
        *cached = Some((address, channel.clone()));
        Ok(channel)
    }

    /// Waits (within the caller's deadline) until this replica applied `index`; the applied
    /// index then.
    async fn wait_applied(&self, index: u64) -> Result<u64, Status> {
        let metrics = self
            .raft
            .wait(Some(self.read_timeout))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map_err(|error| {
                Status::unavailable(format!("waiting to apply the read index: {error}"))
            })?;
        Ok(metrics.last_applied.map_or(0, |applied| applied.index).max(index))
    }

    /// Runs `read` on the state machine's ledger tables, in its task (between entries).
    pub(crate) async fn read_ledger<T, F>(&self, read: F) -> Result<T, Status>
    where
        F: FnOnce(&LedgerView) -> T + Send + 'static,
        T: Send + 'static,
    {
        let outcome = self
            .raft
            .with_state_machine(move |machine: &mut StateMachineStore| {
                Box::pin(async move { machine.with_ledger(read) })
            })
            .await
            .map_err(|error| Status::unavailable(format!("raft node stopped: {error}")))?;
        outcome.map_err(|error| Status::internal(format!("reading the ledger: {error}")))
    }

    /// A read of `consistency`: the barrier, then `read`; the value and the applied index.
    pub(crate) async fn read<T, F>(
        &self,
        consistency: ReadConsistency,
        read: F,
    ) -> Result<(T, u64), Status>
    where
        F: FnOnce(&LedgerView) -> T + Send + 'static,
        T: Send + 'static,
    {
        let applied = self.barrier(consistency).await?;
        Ok((self.read_ledger(read).await?, applied))
    }
}

/// Why a leader could not produce a read index, as a status.
pub(crate) fn read_refused(
    error: RaftError<TypeConfig, LinearizableReadError<TypeConfig>>,
) -> Status {
    match error.api_error() {
        Some(LinearizableReadError::ForwardToLeader(forward)) => {
            Status::failed_precondition(format!("not the leader ({forward}); retry"))
        }
        Some(LinearizableReadError::QuorumNotEnough(quorum)) => {
            Status::unavailable(format!("the leader cannot reach a quorum ({quorum}); retry"))
        }
        None => Status::unavailable(format!("raft node stopped: {error}")),
    }
}

/// The ledger tables a read sees: RocksDB's outside the simulation.
#[cfg(not(madsim))]
pub(crate) type LedgerView = tianping_raft_store::rocks::RocksLedger;
/// The ledger tables a read sees: the memory store's inside the simulation.
#[cfg(madsim)]
pub(crate) type LedgerView = tianping_ledger::MemoryStore;
