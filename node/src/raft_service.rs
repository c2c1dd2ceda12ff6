//! The Raft transport's server side: hands peers' messages to the local openraft node, once
//! `identity` found them from this node's cluster and for this node; admits this node's
//! store to a cluster when an initializing node or a leader asks (`Admit`).
//!
//! A snapshot arrives as a stream (header, then chunks); each chunk is checked by raft-store's
//! `SnapshotWriter` as it lands (bound, decoding, order), and only a stream that ends with a
//! valid trailer becomes a snapshot openraft installs. Outside the simulation the chunks go to
//! a file under `<data>/incoming-snapshots/`, so a receiver's memory stays bounded by one chunk.
//!
//! An append-entries answer carries this node's clock readings as the request arrived and as
//! the answer left, so the sender can measure how far our clocks are apart (`peer_clocks`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use openraft::Snapshot;
use openraft::raft::{AppendEntriesRequest, ReadPolicy, TransferLeaderRequest, VoteRequest};
use tianping_raft_store::{SnapshotMeta, SnapshotWriter, TypeConfig, Vote};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::LedgerRaft;
use crate::clock::Clock;
use crate::identity::{NodeIdentity, id_text};
use crate::peer_clocks::{CLOCK_RECEIVED_HEADER, CLOCK_REPLIED_HEADER};
use tianping_proto::convert as pb_convert;
use tianping_proto::raft::raft_server::Raft;
use tianping_proto::raft::{
    AdmitRequest, AdmitResponse, RaftPayload, SnapshotFrame, snapshot_frame,
};

/// Serves `tianping.raft.v1.Raft` for one node.
pub(crate) struct RaftService {
    raft: LedgerRaft,
    /// Which cluster this node belongs to: every message but `Admit` must come from it.
    identity: Arc<NodeIdentity>,
    /// Where received snapshots are assembled before openraft installs them.
    incoming_directory: PathBuf,
    /// Numbers incoming snapshot files so concurrent streams never share one.
    incoming_sequence: AtomicU64,
    /// This node's clock: append-entries answers carry its readings (`peer_clocks`).
    clock: Clock,
}

impl RaftService {
    pub(crate) fn new(
        raft: LedgerRaft,
        identity: Arc<NodeIdentity>,
        incoming_directory: PathBuf,
        clock: Clock,
    ) -> RaftService {
        RaftService {
            raft,
            identity,
            incoming_directory,
            incoming_sequence: AtomicU64::new(0),
            clock,
        }
    }
}

/// openraft refused to handle a message only when it is shutting down or has failed.
fn raft_stopped(error: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft node stopped: {error}"))
}

#[tonic::async_trait]
impl Raft for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.identity.check(request.metadata())?;
        // This node's clock as the request arrived and as the answer leaves: with the sender's
        // readings they give its clock's offset from ours (`peer_clocks`).
        let received_ns = self.clock.now_ns();
        let message: AppendEntriesRequest<TypeConfig> =
            pb_convert::from_raft_bytes("append-entries request", &request.get_ref().payload)?;
        let reply = self.raft.append_entries(message).await.map_err(raft_stopped)?;
        let mut answer = Response::new(pb_convert::raft_payload(&reply)?);
        let metadata = answer.metadata_mut();
        metadata.insert(CLOCK_RECEIVED_HEADER, MetadataValue::from(received_ns));
        metadata.insert(CLOCK_REPLIED_HEADER, MetadataValue::from(self.clock.now_ns()));
        Ok(answer)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.identity.check(request.metadata())?;
        let message: VoteRequest<TypeConfig> =
            pb_convert::from_raft_bytes("vote request", &request.get_ref().payload)?;
        let reply = self.raft.vote(message).await.map_err(raft_stopped)?;
        Ok(Response::new(pb_convert::raft_payload(&reply)?))
    }

    /// A follower's ReadIndex: this node, if it leads, confirms its leadership with a quorum
    /// and answers the log id a linearizable read must see applied (see `reads`).
    async fn read_index(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.identity.check(request.metadata())?;
        let linearizer = self
            .raft
            .get_read_linearizer(ReadPolicy::ReadIndex)
            .await
            .map_err(crate::reads::read_refused)?;
        Ok(Response::new(pb_convert::raft_payload(linearizer.read_log_id().log_id())?))
    }

    async fn transfer_leader(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.identity.check(request.metadata())?;
        let message: TransferLeaderRequest<TypeConfig> =
            pb_convert::from_raft_bytes("transfer-leader request", &request.get_ref().payload)?;
        let reply = self.raft.handle_transfer_leader(message).await.map_err(raft_stopped)?;
        Ok(Response::new(pb_convert::raft_payload(&reply)?))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotFrame>>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.identity.check(request.metadata())?;
        let mut frames = request.into_inner();
        let header = match frames.next().await {
            Some(Ok(SnapshotFrame { frame: Some(snapshot_frame::Frame::Header(header)) })) => {
                header
            }
            Some(Err(status)) => return Err(status),
            _ => return Err(Status::invalid_argument("snapshot stream must start with a header")),
        };
        let vote: Vote = pb_convert::from_raft_bytes("header.vote", &header.vote)?;
        let meta: SnapshotMeta = pb_convert::from_raft_bytes("header.meta", &header.meta)?;
        let path = self.incoming_directory.join(format!(
            "incoming-{:020}.snap",
            self.incoming_sequence.fetch_add(1, Ordering::Relaxed)
        ));
        let received = receive_chunks(&mut frames, &path).await;
        let installed = match received {
            Ok(data) => self
                .raft
                .install_full_snapshot(vote, Snapshot { meta, snapshot: data })
                .await
                .map_err(raft_stopped),
            Err(status) => Err(status),
        };
        remove_staging(path);
        Ok(Response::new(pb_convert::raft_payload(&installed?)?))
    }

    async fn admit(
        &self,
        request: Request<AdmitRequest>,
    ) -> Result<Response<AdmitResponse>, Status> {
        let AdmitRequest { cluster_id, node_id } = request.into_inner();
        if node_id != self.identity.node_id() {
            return Err(Status::failed_precondition(format!(
                "Admit is for node {node_id}, but this is node {}",
                self.identity.node_id()
            )));
        }
        let cluster_id = crate::identity::parse_id("cluster_id", &cluster_id)?;
        let admitted = self.identity.admit(cluster_id)?;
        Ok(Response::new(AdmitResponse {
            cluster_id: id_text(cluster_id),
            node_id,
            incarnation_id: id_text(admitted.incarnation_id),
        }))
    }
}

/// Where a received snapshot is assembled: a file outside the simulation, so a receiver's
/// memory stays bounded by one chunk; memory inside it, where the node must not touch the
/// real filesystem (a simulated crash could not take such a file away, and seeds would share
/// the host's disk).
#[cfg(not(madsim))]
fn staging_writer(path: &std::path::Path) -> std::io::Result<SnapshotWriter> {
    SnapshotWriter::to_file(path)
}

/// Where a received snapshot is assembled: see the real build's variant.
#[cfg(madsim)]
fn staging_writer(_path: &std::path::Path) -> std::io::Result<SnapshotWriter> {
    Ok(SnapshotWriter::in_memory())
}

/// Removes a staging file and its partial twin: the state machine keeps its own copy.
#[cfg(not(madsim))]
fn remove_staging(path: std::path::PathBuf) {
    let _ = std::fs::remove_file(&path);
    let mut partial = path.into_os_string();
    partial.push(".partial");
    let _ = std::fs::remove_file(partial);
}

/// Nothing was staged on disk in the simulation.
#[cfg(madsim)]
fn remove_staging(_path: std::path::PathBuf) {}

/// Writes the chunks after the header to `path`, checking each; the finished snapshot once
/// the stream ended after a valid trailer.
async fn receive_chunks(
    frames: &mut Streaming<SnapshotFrame>,
    path: &std::path::Path,
) -> Result<tianping_raft_store::SnapshotData, Status> {
    let mut writer = staging_writer(path)
        .map_err(|error| Status::internal(format!("staging a snapshot: {error}")))?;
    while let Some(frame) = frames.next().await {
        match frame?.frame {
            Some(snapshot_frame::Frame::Chunk(chunk)) => writer
                .write_chunk(&chunk)
                .map_err(|error| Status::invalid_argument(format!("snapshot chunk: {error}")))?,
            _ => return Err(Status::invalid_argument("snapshot stream has a second header")),
        }
    }
    writer.finish().map_err(|error| Status::invalid_argument(format!("snapshot: {error}")))
}
