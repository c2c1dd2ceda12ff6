//! Where one client task's requests go: the SDK (to the leader), or one named node through the
//! wire crate's generated client (`Target::AllMembers`: followers forward, which the SDK, by
//! design, never asks of them).

use tianping_client::{Client, NewTransfer, ResultCode};
use tianping_proto::convert as wire;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_tls::Channels;
use tonic::transport::Channel;

use crate::{LoadgenError, REQUEST_TIMEOUT};

/// A connection the tasks share (cloning shares it).
#[derive(Clone)]
pub(crate) enum Sender {
    /// The SDK, one attempt per call, to the leader.
    Sdk(Client),
    /// One node, whoever leads.
    Node {
        /// The node's client API address, for messages.
        address: String,
        /// The connection.
        client: LedgerClient<Channel>,
    },
}

impl Sender {
    /// A lazily connecting sender to the node at `address`.
    pub(crate) fn node(address: &str, channels: &Channels) -> Result<Sender, LoadgenError> {
        let endpoint = Channels::endpoint(address)
            .map_err(|error| LoadgenError::Config(format!("address {address:?}: {error}")))?
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT);
        let channel = channels.lazy(endpoint);
        Ok(Sender::Node { address: address.to_owned(), client: LedgerClient::new(channel) })
    }

    /// Sends one batch; the result code of every transfer, in order, or the failure in words.
    pub(crate) async fn send(&self, transfers: &[NewTransfer]) -> Result<Vec<ResultCode>, String> {
        match self {
            Sender::Sdk(client) => match client.create_transfers(transfers).await {
                Ok(results) => Ok(results.iter().map(|result| result.code).collect()),
                Err(error) => Err(error.to_string()),
            },
            Sender::Node { address, client } => {
                let request = wire::create_transfers_request(transfers);
                let response = client
                    .clone()
                    .create_transfers(request)
                    .await
                    .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?
                    .into_inner();
                let (results, _log_index) = wire::parse_events_response(&response, transfers.len())
                    .map_err(|error| format!("malformed answer from {address}: {error}"))?;
                Ok(results.iter().map(|result| result.code).collect())
            }
        }
    }
}
