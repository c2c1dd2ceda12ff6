//! The client API (`tianping.v1.Ledger`): batches of commands in, one result per event out.
//!
//! Writes: any node accepts them. The leader stamps the batch with its clock
//! (`clock::now_ns`) and proposes it as one log entry; it answers once the entry is applied.
//! A follower forwards the request, unchanged, to the leader's client API — one hop, marked
//! with `FORWARDED_HEADER` so the leader never forwards again, and bounded by
//! `NodeConfig::forward_timeout_ms`. When no leader is known, or the one hop found no leader,
//! the answer is `UNAVAILABLE` naming the leader if known: retrying with the same ids is
//! always safe, because every id-keyed command answers `exists` when replayed.
//!
//! Reads (this slice): served from this node's replica as far as it has applied, in the state
//! machine's task so they never see half an entry. Linearizable reads (ReadIndex) and
//! explicit staleness bounds are a later step.

use std::time::Duration;

use tianping_ledger::{Batch, Command};
use tianping_raft_store::{NodeId, NodeInfo};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::clock;
use crate::forward::{LeaderForwarder, is_forwarded};
use crate::pb::v1::ledger_client::LedgerClient;
use crate::pb::v1::ledger_server::Ledger;
use crate::pb::v1::{
    CreateAccountsRequest, CreateEventsResponse, CreateTransfersRequest, LookupAccountsResponse,
    LookupRequest, LookupTransfersResponse,
};
use crate::{LedgerRaft, StateMachineStore, pb_convert};

pub use crate::forward::FORWARDED_HEADER;

/// Where a write goes.
enum Route {
    /// Applied here (this node is the leader): the response.
    Applied(CreateEventsResponse),
    /// To the leader's client API.
    Forward(NodeInfo),
}

/// Serves `tianping.v1.Ledger` for one node.
pub(crate) struct LedgerService {
    raft: LedgerRaft,
    node_id: NodeId,
    /// Sends writes to the leader, one hop (`forward`), over one reused channel.
    forwarder: LeaderForwarder,
}

impl LedgerService {
    pub(crate) fn new(raft: LedgerRaft, node_id: NodeId, forward_timeout: Duration) -> Self {
        let forwarder = LeaderForwarder::new(raft.clone(), forward_timeout);
        LedgerService { raft, node_id, forwarder }
    }

    /// Proposes `commands` as one batch here, or says where the leader is.
    async fn write(&self, commands: Vec<Command>, forwarded: bool) -> Result<Route, Status> {
        if commands.is_empty() {
            return Ok(Route::Applied(pb_convert::events_response(&[], 0)));
        }
        match self.raft.current_leader().await {
            None => return Err(Status::unavailable("no leader is known yet; retry")),
            Some(leader) if leader != self.node_id => return self.route_to(leader, forwarded),
            Some(_) => {}
        }
        let batch = Batch { timestamp: clock::now_ns(), commands };
        match self.raft.client_write(batch).await {
            Ok(written) => match written.data {
                Ok(results) => {
                    Ok(Route::Applied(pb_convert::events_response(&results, written.log_id.index)))
                }
                Err(refused) => Err(Status::failed_precondition(refused.to_string())),
            },
            Err(error) => match error.forward_to_leader() {
                Some(forward) => match &forward.leader_id {
                    Some(leader) if *leader != self.node_id => self.route_to(*leader, forwarded),
                    _ => Err(Status::unavailable(format!(
                        "leadership is changing ({forward}); retry with the same ids"
                    ))),
                },
                None => Err(Status::unavailable(format!("raft node stopped: {error}"))),
            },
        }
    }

    /// Forwards to `leader` unless this request was forwarded already (one hop only).
    fn route_to(&self, leader: NodeId, forwarded: bool) -> Result<Route, Status> {
        self.forwarder.leader_node(leader, forwarded).map(Route::Forward)
    }

    fn leader_client(&self, leader: &NodeInfo) -> Result<LedgerClient<Channel>, Status> {
        self.forwarder.channel(leader).map(LedgerClient::new)
    }

    /// The request to send to the leader: same message, marked forwarded, with a deadline.
    fn forwarded_request<T>(&self, message: T) -> Request<T> {
        self.forwarder.request(message)
    }

    /// Runs a forwarded call within the forwarding deadline.
    async fn forward<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<Response<T>, Status> {
        self.forwarder.call(call).await
    }
}

/// The ledger tables a read sees: RocksDB's outside the simulation.
#[cfg(not(madsim))]
type LedgerView = tianping_raft_store::rocks::RocksLedger;
/// The ledger tables a read sees: the memory store's inside the simulation.
#[cfg(madsim)]
type LedgerView = tianping_ledger::MemoryStore;

/// Reads from the state machine, in its task (so between entries, never inside one).
async fn read_ledger<T, F>(raft: &LedgerRaft, read: F) -> Result<T, Status>
where
    F: FnOnce(&LedgerView) -> T + Send + 'static,
    T: Send + 'static,
{
    #[cfg(madsim)]
    let outcome = raft
        .with_state_machine(move |machine: &mut StateMachineStore| {
            Box::pin(async move { machine.with_ledger(read) })
        })
        .await
        .map_err(|error| Status::unavailable(format!("raft node stopped: {error}")))?;
    #[cfg(not(madsim))]
    let outcome = raft
        .with_state_machine(move |machine: &mut StateMachineStore| {
            Box::pin(async move {
                let value = read(machine.ledger());
                match machine.ledger().take_read_error() {
                    Some(error) => Err(error),
                    None => Ok(value),
                }
            })
        })
        .await
        .map_err(|error| Status::unavailable(format!("raft node stopped: {error}")))?;
    outcome.map_err(|error| Status::internal(format!("reading the ledger: {error}")))
}

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn create_accounts(
        &self,
        request: Request<CreateAccountsRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::account_commands(request.get_ref())?;
        match self.write(commands, is_forwarded(&request)).await? {
            Route::Applied(response) => Ok(Response::new(response)),
            Route::Forward(leader) => {
                let mut client = self.leader_client(&leader)?;
                let forwarded = self.forwarded_request(request.into_inner());
                self.forward(client.create_accounts(forwarded)).await
            }
        }
    }

    async fn create_transfers(
        &self,
        request: Request<CreateTransfersRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::transfer_commands(request.get_ref())?;
        match self.write(commands, is_forwarded(&request)).await? {
            Route::Applied(response) => Ok(Response::new(response)),
            Route::Forward(leader) => {
                let mut client = self.leader_client(&leader)?;
                let forwarded = self.forwarded_request(request.into_inner());
                self.forward(client.create_transfers(forwarded)).await
            }
        }
    }

    async fn lookup_accounts(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupAccountsResponse>, Status> {
        let ids = pb_convert::lookup_ids(request.get_ref())?;
        let accounts = read_ledger(&self.raft, move |ledger| {
            tianping_ledger::query::lookup_accounts(ledger, &ids)
        })
        .await?;
        let accounts = accounts.iter().flatten().map(pb_convert::account).collect();
        Ok(Response::new(LookupAccountsResponse { accounts }))
    }

    async fn lookup_transfers(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupTransfersResponse>, Status> {
        let ids = pb_convert::lookup_ids(request.get_ref())?;
        let transfers = read_ledger(&self.raft, move |ledger| {
            tianping_ledger::query::lookup_transfers(ledger, &ids)
        })
        .await?;
        let transfers = transfers.iter().flatten().map(pb_convert::transfer).collect();
        Ok(Response::new(LookupTransfersResponse { transfers }))
    }
}
