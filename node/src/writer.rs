//! The one write path of the client API, shared by `tianping.v1.Ledger` and
//! `tianping.v1.Payouts`: every batch of commands any client service accepts goes through
//! `Writer::write`. On the leader it goes to `group_commit`, which holds the node's single
//! `client_write` call: it stamps the batch with the leader's clock (`clock::now_ns`) and
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

use std::sync::Mutex;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use tianping_ledger::{Command, EventResult};
use tianping_raft_store::{NodeId, NodeInfo};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::LedgerRaft;
use crate::group_commit::{GroupCommit, ProposeError};
use crate::network::lazy_channel;

/// Metadata key a node sets on a request it forwards, so the receiver does not forward again.
pub const FORWARDED_HEADER: &str = "x-tianping-forwarded";

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
    forward_timeout: Duration,
    /// Where the leader's writes go: grouped with other clients' into one log entry.
    group_commit: GroupCommit,
    /// The channel to the last leader forwarded to, kept so forwarding reuses one connection.
    leader_channel: Mutex<Option<(String, Channel)>>,
}

impl Writer {
    pub(crate) fn new(raft: LedgerRaft, node_id: NodeId, forward_timeout: Duration) -> Self {
        let group_commit = GroupCommit::start(raft.clone());
        Writer { raft, node_id, forward_timeout, group_commit, leader_channel: Mutex::new(None) }
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
            Err(ProposeError::NotLeader { leader: Some(leader), .. }) if leader != self.node_id => {
                self.route_to(leader, forwarded)
            }
            Err(ProposeError::NotLeader { reason, .. }) => Err(Status::unavailable(format!(
                "leadership is changing ({reason}); retry with the same ids"
            ))),
            Err(ProposeError::Stopped(reason)) => Err(Status::unavailable(reason)),
        }
    }

    /// Forwards to `leader` unless this request was forwarded already (one hop only).
    fn route_to(&self, leader: NodeId, forwarded: bool) -> Result<Route, Status> {
        let node =
            self.raft.metrics().borrow_watched().membership_config.get_node(&leader).cloned();
        match node {
            Some(node) if !forwarded => Ok(Route::Forward(node)),
            Some(node) => Err(Status::unavailable(format!(
                "not the leader; the leader is node {leader} at {}",
                node.api_address
            ))),
            None => Err(Status::unavailable(format!(
                "not the leader; the leader is node {leader}, whose address is not known here"
            ))),
        }
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
                let channel = self.leader_channel(&leader)?;
                let forwarded = self.forwarded_request(request.into_inner());
                self.forward(forward(channel, forwarded)).await
            }
        }
    }

    /// The channel to `leader`'s client API (reused while the leader stays the same).
    fn leader_channel(&self, leader: &NodeInfo) -> Result<Channel, Status> {
        let mut cached = self.leader_channel.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some((address, channel)) = cached.as_ref()
            && *address == leader.api_address
        {
            return Ok(channel.clone());
        }
        let channel = lazy_channel(&leader.api_address).map_err(|error| {
            Status::unavailable(format!("leader address {:?}: {error}", leader.api_address))
        })?;
        *cached = Some((leader.api_address.clone(), channel.clone()));
        Ok(channel)
    }

    /// The request to send to the leader: same message, marked forwarded, with a deadline.
    fn forwarded_request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(FORWARDED_HEADER, tonic::metadata::MetadataValue::from(1));
        request.set_timeout(self.forward_timeout);
        crate::request_id::on_forward(&mut request);
        request
    }

    /// Runs a forwarded call within the forwarding deadline.
    async fn forward<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<Response<T>, Status> {
        match crate::runtime::timeout(self.forward_timeout, call).await {
            Ok(reply) => reply,
            Err(_elapsed) => Err(Status::deadline_exceeded(format!(
                "the leader did not answer within {} ms; retry with the same ids",
                self.forward_timeout.as_millis()
            ))),
        }
    }
}

/// True when another node forwarded this request (so it must not be forwarded again).
fn is_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED_HEADER)
}
