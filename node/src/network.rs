//! The Raft transport's client side: openraft's `RaftNetworkV2` over gRPC.
//!
//! Each peer gets a lazily connecting channel to its `NodeInfo::raft_address`; messages are
//! openraft's own types in postcard bytes (`pb_convert::raft_payload`). A snapshot goes as one
//! client stream: a header (vote and metadata), then raft-store's bounded chunks read one at a
//! time, so a sender never holds more than one chunk of a snapshot in memory.
//! `TransferLeader` tells the target of a leadership transfer to campaign at once, so it (and not
//! whichever voter times out first) becomes the leader.
//!
//! Every message names this node's cluster and the peer it is for (`identity`), and the peer
//! refuses one that does not match it.
//!
//! Clock offsets (`peer_clocks`): every append-entries (heartbeats included) carries this
//! node's clock reading as it leaves; the peer answers with its readings as the request arrived
//! and as the answer left, and the peer's offset from this node is recorded in `PeerClocks` and
//! the node's metrics.
//!
//! Error mapping: a peer that cannot be reached (`UNAVAILABLE`) is `Unreachable`, so openraft
//! backs off; a request that runs past the node's Raft RPC deadline is `Timeout`; anything else
//! (a status from the peer, a message that does not decode) is a `NetworkError`, retried.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream;
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RPCTypes};
use tianping_raft_store::{NodeId, NodeInfo, RaftSnapshot, SnapshotData, TypeConfig, Vote};
use tianping_tls::Channels;
use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::clock::Clock;
use crate::identity::NodeIdentity;
use crate::metrics::NodeMetrics;
use crate::peer_clocks::{
    CLOCK_RECEIVED_HEADER, CLOCK_REPLIED_HEADER, CLOCK_SENT_HEADER, PeerClocks, RoundTrip,
};

use tianping_proto::convert as pb_convert;
use tianping_proto::raft::raft_client::RaftClient;
use tianping_proto::raft::{SnapshotFrame, SnapshotHeader, snapshot_frame};

/// Longest a whole snapshot transfer may take before the leader gives up and retries. Sized
/// for a snapshot of a few GiB over a data-center link; openraft's own `hard_ttl` for
/// snapshots bounds only the setup.
const SNAPSHOT_SEND_TIMEOUT: Duration = Duration::from_secs(600);

/// Opens a lazily connecting gRPC channel to `address` (`host:port`), secured as `channels`
/// says (TLS with the node's certificate, or plaintext for an `insecure` node).
pub(crate) fn lazy_channel(
    channels: &Channels,
    address: &str,
) -> Result<Channel, tonic::transport::Error> {
    Ok(channels.lazy(Channels::endpoint(address)?))
}

/// Makes one `GrpcPeer` per replication target.
#[derive(Clone, Debug)]
pub struct GrpcNetworkFactory {
    /// This node's id, for error reports.
    node_id: NodeId,
    /// How long a peer has to answer (`RaftTimings::rpc_timeout`).
    rpc_timeout: Duration,
    /// This node's cluster, named on every message (`identity`).
    identity: Arc<NodeIdentity>,
    /// What append-entries round trips are timed with.
    clock: Clock,
    /// Where each peer's measured clock offset goes.
    peer_clocks: PeerClocks,
    /// The node's metrics, which show each peer's offset too.
    metrics: Arc<NodeMetrics>,
    /// How channels to peers are secured.
    channels: Channels,
}

impl GrpcNetworkFactory {
    /// A factory for the node `node_id` whose peers have `rpc_timeout` to answer. Not
    /// openraft's `RPCOption::soft_ttl`: that is ¾ of a heartbeat interval, under one round
    /// trip between distant data centers, so no append-entries across them would ever be
    /// answered in time (`timing`). openraft still cuts a heartbeat off after one interval
    /// and a vote after the shortest election timeout, whichever comes first.
    /// Each append-entries round trip is timed on `clock` and the peer's offset recorded in
    /// `peer_clocks` and `metrics`; every message names `identity`'s cluster. Channels to peers
    /// are opened through `channels`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node_id: NodeId,
        rpc_timeout: Duration,
        identity: Arc<NodeIdentity>,
        clock: Clock,
        peer_clocks: PeerClocks,
        metrics: Arc<NodeMetrics>,
        channels: Channels,
    ) -> GrpcNetworkFactory {
        GrpcNetworkFactory { node_id, rpc_timeout, identity, clock, peer_clocks, metrics, channels }
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetworkFactory {
    type Network = GrpcPeer;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> GrpcPeer {
        let client = lazy_channel(&self.channels, &node.raft_address).map(RaftClient::new).map_err(
            |error| {
                format!("peer {target} has an unusable address {:?}: {error}", node.raft_address)
            },
        );
        GrpcPeer {
            node_id: self.node_id,
            target,
            client,
            rpc_timeout: self.rpc_timeout,
            identity: Arc::clone(&self.identity),
            clock: self.clock.clone(),
            peer_clocks: self.peer_clocks.clone(),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The Raft transport to one peer.
#[derive(Clone, Debug)]
pub struct GrpcPeer {
    node_id: NodeId,
    target: NodeId,
    /// The client, or why there is none (an address that does not parse): every RPC then
    /// answers `Unreachable` until the membership names a usable address.
    client: Result<RaftClient<Channel>, String>,
    /// How long the peer has to answer one request.
    rpc_timeout: Duration,
    /// This node's cluster, named on every message.
    identity: Arc<NodeIdentity>,
    /// This node's clock, which times append-entries round trips.
    clock: Clock,
    /// Where the peer's measured clock offset goes.
    peer_clocks: PeerClocks,
    /// The node's metrics.
    metrics: Arc<NodeMetrics>,
}

impl GrpcPeer {
    fn client(&self) -> Result<RaftClient<Channel>, Unreachable<TypeConfig>> {
        self.client.clone().map_err(Unreachable::from_string)
    }

    /// `message` as a request that names this node's cluster and the peer (`identity`).
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.identity.stamp(self.target, &mut request);
        request
    }

    fn timeout(&self, action: RPCTypes, timeout: Duration) -> Timeout<TypeConfig> {
        Timeout { action, id: self.node_id, target: self.target, timeout }
    }

    /// Runs one request-response RPC within the node's Raft RPC deadline. `sent_ns`: this
    /// node's clock as the request left, when the request carried it (`CLOCK_SENT_HEADER`):
    /// the answer's clock readings then give the peer's offset (`peer_clocks`).
    async fn call<Response, Fut>(
        &self,
        action: RPCTypes,
        rpc: Fut,
        sent_ns: Option<u64>,
    ) -> Result<Response, RPCError<TypeConfig>>
    where
        Fut: Future<
            Output = Result<tonic::Response<tianping_proto::raft::RaftPayload>, tonic::Status>,
        >,
        Response: serde::de::DeserializeOwned,
    {
        let deadline = self.rpc_timeout;
        let reply = match crate::runtime::timeout(deadline, rpc).await {
            Err(_elapsed) => return Err(RPCError::Timeout(self.timeout(action, deadline))),
            Ok(Err(status)) => return Err(status_error(&status)),
            Ok(Ok(reply)) => {
                if let Some(sent_ns) = sent_ns {
                    self.record_offset(sent_ns, reply.metadata());
                }
                reply.into_inner()
            }
        };
        pb_convert::from_raft_bytes(action_name(action), &reply.payload)
            .map_err(|error| RPCError::Network(NetworkError::new(&error)))
    }
}

impl GrpcPeer {
    /// Records the peer's clock offset from an answer carrying its clock readings (a peer
    /// that does not send them, or sends garbage, is simply not measured).
    fn record_offset(&self, sent_ns: u64, answer: &tonic::metadata::MetadataMap) {
        let answered_ns = self.clock.now_ns();
        let reading = |key: &str| answer.get(key)?.to_str().ok()?.parse::<u64>().ok();
        let (Some(received_ns), Some(replied_ns)) =
            (reading(CLOCK_RECEIVED_HEADER), reading(CLOCK_REPLIED_HEADER))
        else {
            return;
        };
        let round_trip = RoundTrip { sent_ns, received_ns, replied_ns, answered_ns };
        let offset = self.peer_clocks.record(self.target, round_trip, Instant::now());
        self.metrics.record_peer_clock_offset(self.target, offset.offset_ns);
    }
}

fn action_name(action: RPCTypes) -> &'static str {
    match action {
        RPCTypes::Vote => "vote response",
        RPCTypes::AppendEntries => "append-entries response",
        RPCTypes::TransferLeader => "transfer-leader response",
        _ => "raft response",
    }
}

/// Maps a gRPC status from a peer to openraft's error kinds (see the module comment).
fn status_error(status: &tonic::Status) -> RPCError<TypeConfig> {
    let message = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        tonic::Code::Unavailable => RPCError::Unreachable(Unreachable::from_string(message)),
        _ => RPCError::Network(NetworkError::from_string(message)),
    }
}

impl RaftNetworkV2<TypeConfig> for GrpcPeer {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = pb_convert::raft_payload(&rpc)
            .map_err(|status| RPCError::Network(NetworkError::from_string(status.message())))?;
        let mut client = self.client()?;
        let mut request = self.request(request);
        let sent_ns = self.clock.now_ns();
        request.metadata_mut().insert(CLOCK_SENT_HEADER, MetadataValue::from(sent_ns));
        self.call(RPCTypes::AppendEntries, client.append_entries(request), Some(sent_ns)).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = pb_convert::raft_payload(&rpc)
            .map_err(|status| RPCError::Network(NetworkError::from_string(status.message())))?;
        let mut client = self.client()?;
        self.call(RPCTypes::Vote, client.vote(self.request(request)), None).await
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = pb_convert::raft_payload(&rpc)
            .map_err(|status| RPCError::Network(NetworkError::from_string(status.message())))?;
        let mut client = self.client()?;
        self.call(RPCTypes::TransferLeader, client.transfer_leader(self.request(request)), None)
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: RaftSnapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let header = SnapshotHeader {
            vote: encode_for_stream(&vote)?,
            meta: encode_for_stream(&snapshot.meta)?,
        };
        let frames = snapshot_frames(header, snapshot.snapshot);
        let mut client = self.client()?;
        let send = crate::runtime::timeout(
            SNAPSHOT_SEND_TIMEOUT,
            client.install_snapshot(self.request(frames)),
        );
        let reply = tokio::select! {
            biased;
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = send => reply,
        };
        let reply = match reply {
            Err(_elapsed) => {
                return Err(StreamingError::Timeout(
                    self.timeout(RPCTypes::InstallSnapshot, SNAPSHOT_SEND_TIMEOUT),
                ));
            }
            Ok(Err(status)) => {
                return Err(match status_error(&status) {
                    RPCError::Unreachable(error) => StreamingError::Unreachable(error),
                    other => StreamingError::Network(NetworkError::new(&other)),
                });
            }
            Ok(Ok(reply)) => reply.into_inner(),
        };
        pb_convert::from_raft_bytes("snapshot response", &reply.payload)
            .map_err(|error| StreamingError::Network(NetworkError::new(&error)))
    }
}

fn encode_for_stream<T: serde::Serialize>(
    value: &T,
) -> Result<Vec<u8>, StreamingError<TypeConfig>> {
    pb_convert::raft_payload(value)
        .map(|payload| payload.payload)
        .map_err(|status| StreamingError::Network(NetworkError::from_string(status.message())))
}

/// The header, then the snapshot's chunks read one at a time. A chunk that cannot be read
/// ends the stream early: the receiver then misses the trailer and refuses the snapshot, and
/// openraft sends it again later.
fn snapshot_frames(
    header: SnapshotHeader,
    data: SnapshotData,
) -> impl futures_util::Stream<Item = SnapshotFrame> + Send + 'static {
    let first = SnapshotFrame { frame: Some(snapshot_frame::Frame::Header(header)) };
    let chunks = stream::unfold(data.reader(), |mut reader| async move {
        match reader.next_chunk() {
            Ok(Some(chunk)) => {
                Some((SnapshotFrame { frame: Some(snapshot_frame::Frame::Chunk(chunk)) }, reader))
            }
            Ok(None) | Err(_) => None,
        }
    });
    futures_util::StreamExt::chain(stream::iter([first]), chunks)
}
