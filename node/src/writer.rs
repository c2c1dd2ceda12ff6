//! The one write path of the client API, shared by `tianping.v1.Ledger` and
//! `tianping.v1.Payouts`: every batch of commands any client service accepts goes through
//! `Writer::write`. On the leader it goes to `group_commit`, which holds the node's single
//! `client_write` call: it stamps the batch with the leader's clock (the `Clock` its environment gave the node,
//! once `clock_guard` finds it within the bound of a majority of the voters) and
//! proposes it, possibly in one log entry with other clients' batches; the client is answered
//! once the entry is applied. A follower forwards the request, unchanged, to
//! the leader's client API — one hop, marked with `FORWARDED_HEADER` so the leader never
//! forwards again, and bounded by `NodeConfig::forward_timeout_ms`. When no leader is known, or
//! the one hop found no leader, the answer is `UNAVAILABLE` naming the leader if known:
//! retrying with the same ids is always safe, because every id-keyed command answers `exists`
//! when replayed.
//!
//! Forwarding is per service (each forwards to the same RPC of the leader), so the writer
//! hands out the channel to the leader's client API and the request framing; the service
//! builds its own client on that channel.

use std::sync::Arc;
use std::time::Duration;

use tianping_ledger::{Command, EventResult};
use tianping_raft_store::{NodeId, NodeInfo};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::LedgerRaft;
use crate::clock_guard::ClockGuard;
use crate::forward::LeaderForwarder;
use crate::group_commit::{GroupCommit, ProposeError};
use crate::headers::is_forwarded;

/// A batch this node applied as the leader.
pub(crate) struct Applied {
    /// One result per command, in order.
    pub(crate) results: Vec<EventResult>,
    /// The Raft log index of the entry that holds the batch (0 for an empty batch).
    pub(crate) log_index: u64,
}

/// Where a write goes.
enum Route {
    /// Applied here (this node is the leader).
    Applied(Applied),
    /// To the leader's client API.
    Forward(NodeInfo),
}

/// Proposes batches on the leader or routes them to it, for every client service of a node.
pub(crate) struct Writer {
    raft: LedgerRaft,
    node_id: NodeId,
    /// Sends writes to the leader, one hop, over one reused channel.
    forwarder: LeaderForwarder,
    /// Where the leader's writes go: grouped with other clients' into one log entry.
    group_commit: GroupCommit,
}

impl Writer {
    pub(crate) fn new(
        raft: LedgerRaft,
        node_id: NodeId,
        forward_timeout: Duration,
        guard: Arc<ClockGuard>,
        channels: tianping_tls::Channels,
    ) -> Self {
        let group_commit = GroupCommit::start(raft.clone(), guard);
        let forwarder = LeaderForwarder::new(raft.clone(), forward_timeout, channels);
        Writer { raft, node_id, forwarder, group_commit }
    }

    /// Proposes `commands` as one batch here, or says where the leader is.
    async fn write(&self, commands: Vec<Command>, forwarded: bool) -> Result<Route, Status> {
        if commands.is_empty() {
            return Ok(Route::Applied(Applied { results: Vec::new(), log_index: 0 }));
        }
        match self.raft.current_leader().await {
            None => return Err(Status::unavailable("no leader is known yet; retry")),
            Some(leader) if leader != self.node_id => return self.route_to(leader, forwarded),
            Some(_) => {}
        }
        // Measured here, in the request's own task (where its metrics context lives), not in
        // the group-commit task.
        let proposal = crate::request_id::Proposal::start(&commands);
        match self.group_commit.propose(commands).await {
            Ok(committed) => {
                proposal.applied(committed.log_index, &committed.results);
                Ok(Route::Applied(Applied {
                    results: committed.results,
                    log_index: committed.log_index,
                }))
            }
            Err(ProposeError::Refused(refused)) => {
                Err(Status::failed_precondition(refused.to_string()))
            }
            // Never forwarded now: the batch may have reached this node's log before it lost
            // leadership, and the client may have given up and retried meanwhile. Replaying it
            // at the new leader could commit it after the client saw its retry refused (found
            // by the split-brain drill, seed 5). The client retries; its ids keep that safe.
            Err(ProposeError::NotLeader { reason, .. }) => Err(Status::unavailable(format!(
                "leadership changed while the batch was proposed ({reason}); its outcome is \
                 unknown: retry with the same ids"
            ))),
            Err(ProposeError::Stopped(reason)) => Err(Status::unavailable(reason)),
            Err(ProposeError::ClockOffset(reason)) => Err(Status::unavailable(reason)),
            Err(ProposeError::TooLarge { bytes }) => Err(Status::invalid_argument(format!(
                "the batch encodes to {bytes} bytes; one log entry holds at most {} \
                 (ENTRY_BYTES_MAX): split it into smaller batches",
                crate::ENTRY_BYTES_MAX
            ))),
            Err(ProposeError::Overloaded { bytes }) => Err(Status::resource_exhausted(format!(
                "the leader's group-commit queue cannot take {bytes} more bytes (at most {} \
                 queued, GROUP_COMMIT_QUEUED_BYTES_MAX); nothing was applied: retry later \
                 with the same ids",
                crate::GROUP_COMMIT_QUEUED_BYTES_MAX
            ))),
        }
    }

    /// Forwards to `leader` unless this request was forwarded already (one hop only).
    fn route_to(&self, leader: NodeId, forwarded: bool) -> Result<Route, Status> {
        self.forwarder.leader_node(leader, forwarded).map(Route::Forward)
    }

    /// Runs a client write end to end: proposes `commands` here and answers with `respond`,
    /// or sends `request` on to the leader with `forward` (given the leader's channel).
    pub(crate) async fn write_or_forward<Q, A, F, Fut>(
        &self,
        request: Request<Q>,
        commands: Vec<Command>,
        respond: impl FnOnce(Applied) -> A,
        forward: F,
    ) -> Result<Response<A>, Status>
    where
        F: FnOnce(Channel, Request<Q>) -> Fut,
        Fut: Future<Output = Result<Response<A>, Status>>,
    {
        match self.write(commands, is_forwarded(&request)).await? {
            Route::Applied(applied) => Ok(Response::new(respond(applied))),
            Route::Forward(leader) => {
                let channel = self.forwarder.channel(&leader)?;
                let forwarded = self.forwarder.request(request.into_inner());
                self.forwarder.call(forward(channel, forwarded)).await
            }
        }
    }
}
