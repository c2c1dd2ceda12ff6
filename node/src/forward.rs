//! Forwarding a request one hop to the leader: shared by the client API (`ledger_service`)
//! and the membership admin RPCs (`admin_service`), which both may only run on the leader.
//!
//! A node that is not the leader sends the request, unchanged, to the leader's client
//! address, marked with `FORWARDED_HEADER` so the receiver never forwards it again (a leader
//! that changed in between answers `UNAVAILABLE` instead of bouncing it on), and bounded by
//! `NodeConfig::forward_timeout_ms`. One channel to the last leader is kept and reused; gRPC
//! clients of any service are built on it.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use tianping_raft_store::{NodeId, NodeInfo};
use tianping_tls::Channels;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::LedgerRaft;
use crate::headers::FORWARDED_HEADER;
use crate::network::lazy_channel;

/// Sends requests to the leader, one hop, for one node.
pub(crate) struct LeaderForwarder {
    raft: LedgerRaft,
    forward_timeout: Duration,
    /// The channel to the last leader forwarded to, by its client address.
    channel: Mutex<Option<(String, Channel)>>,
    /// How channels to the leader are secured.
    channels: Channels,
}

impl LeaderForwarder {
    pub(crate) fn new(raft: LedgerRaft, forward_timeout: Duration, channels: Channels) -> Self {
        LeaderForwarder { raft, forward_timeout, channel: Mutex::new(None), channels }
    }

    /// The leader's `NodeInfo` to forward to, unless this request was forwarded already (one
    /// hop only) or the leader's address is not known here: then `UNAVAILABLE` naming it.
    pub(crate) fn leader_node(&self, leader: NodeId, forwarded: bool) -> Result<NodeInfo, Status> {
        let node =
            self.raft.metrics().borrow_watched().membership_config.get_node(&leader).cloned();
        match node {
            Some(node) if !forwarded => Ok(node),
            Some(node) => Err(Status::unavailable(format!(
                "not the leader; the leader is node {leader} at {}",
                node.api_address
            ))),
            None => Err(Status::unavailable(format!(
                "not the leader; the leader is node {leader}, whose address is not known here"
            ))),
        }
    }

    /// A channel to `leader`'s client address (the cached one when the leader is the same).
    pub(crate) fn channel(&self, leader: &NodeInfo) -> Result<Channel, Status> {
        let mut cached = self.channel.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some((address, channel)) = cached.as_ref()
            && *address == leader.api_address
        {
            return Ok(channel.clone());
        }
        let channel = lazy_channel(&self.channels, &leader.api_address).map_err(|error| {
            Status::unavailable(format!("leader address {:?}: {error}", leader.api_address))
        })?;
        *cached = Some((leader.api_address.clone(), channel.clone()));
        Ok(channel)
    }

    /// The request to send to the leader: same message, marked forwarded, with a deadline.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(FORWARDED_HEADER, tonic::metadata::MetadataValue::from(1));
        request.set_timeout(self.forward_timeout);
        crate::request_id::on_forward(&mut request);
        request
    }

    /// Runs a forwarded call within the forwarding deadline.
    pub(crate) async fn call<T>(
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
