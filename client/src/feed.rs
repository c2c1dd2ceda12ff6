//! The change feed (`Client::subscribe`, issue 16): every committed event in log order, each
//! once, across disconnects, node failures and leader changes.
//!
//! A [`Subscription`] holds the position of the next event it will deliver. It reads one
//! node's `tianping.v1.Feed/Subscribe` stream; when that stream fails (the node died, paused
//! past the keepalive, restarted, or answered an error), it connects to the next known node
//! and subscribes again from exactly that position. Every node serves the same events at the
//! same positions (the committed log, answered by the same deterministic state machine), so
//! the consumer sees no gap and no repeat. Only a position that no node retains any more is
//! the caller's problem: [`Error::FeedNotRetained`] names the oldest position a node serves.
//!
//! Back-pressure is the caller's reading: nothing is read from the node until the buffered
//! page is consumed, and the node reads ahead only a couple of pages.

use std::collections::VecDeque;
use std::time::Duration;

use tianping_ledger::feed::{FeedEvent, FeedPosition};
use tianping_proto::convert as wire;
use tianping_proto::v1 as pb;
use tianping_proto::v1::feed_client::FeedClient;

use crate::client::Client;
use crate::error::Error;

/// Longest silence (no events, no keepalive) before a stream is taken for stalled and the
/// subscription moves to another node: nodes send a keepalive every second.
pub const FEED_SILENCE_MAX: Duration = Duration::from_secs(4);

/// Longest a subscription waits for a cluster status when it learns the members.
const LEARN_TIMEOUT: Duration = Duration::from_secs(2);

/// A running subscription to the change feed; see the module documentation.
pub struct Subscription {
    client: Client,
    /// The position of the next event to deliver.
    next: FeedPosition,
    /// Events received and not yet delivered.
    buffered: VecDeque<FeedEvent>,
    /// The stream being read, and the node it comes from.
    stream: Option<(String, tonic::Streaming<pb::SubscribeResponse>)>,
    /// Which known address to try next.
    turn: usize,
    /// Reconnections made (for tests and metrics).
    reconnects: u64,
    /// The last message read carried no event: the node had nothing more applied.
    idle: bool,
    /// Whether the cluster's members were learned (a cluster status answered), so a failed
    /// node can be replaced by any member, not only by the configured addresses.
    members_learned: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("next", &self.next)
            .field("buffered", &self.buffered.len())
            .field("node", &self.stream.as_ref().map(|(address, _)| address))
            .field("reconnects", &self.reconnects)
            .finish()
    }
}

/// The change feed's entry point, defined beside the subscription it opens (so `client`
/// never names `feed`, and the two modules do not import each other).
impl Client {
    /// Subscribes to the change feed from `from` (inclusive): every committed event in log
    /// order, read from any node (followers too), reconnecting to another node and resuming
    /// at the next undelivered position whenever a stream fails, so each event is delivered
    /// once. Resume a stored consumer with the `next()` of the last position it handled.
    ///
    /// ```no_run
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::FeedPosition;
    ///
    /// let mut feed = client.subscribe(FeedPosition::default());
    /// let event = feed.next().await?;
    /// println!("{} {:?} {:?}", event.position, event.command, event.outcome);
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe(&self, from: FeedPosition) -> Subscription {
        Subscription::new(self.clone(), from)
    }
}

impl Subscription {
    pub(crate) fn new(client: Client, from: FeedPosition) -> Subscription {
        Subscription {
            client,
            next: from,
            buffered: VecDeque::new(),
            stream: None,
            turn: 0,
            reconnects: 0,
            idle: false,
            members_learned: false,
        }
    }

    /// The position of the next event `next` returns: store the position of the last event
    /// handled and subscribe again from its `next()` to resume exactly.
    pub fn position(&self) -> FeedPosition {
        self.next
    }

    /// How many times the subscription connected again after a failed stream.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The next event, waiting for one to be committed and applied if need be. Fails only
    /// when no node can serve the position (`FeedNotRetained`), a node's answer does not
    /// parse, or no node could be reached for the client's retry budget (`Unavailable`).
    pub async fn next(&mut self) -> Result<FeedEvent, Error> {
        loop {
            if let Some(event) = self.advance(false).await? {
                return Ok(event);
            }
        }
    }

    /// An event already received, without waiting (`None` when none is buffered): lets a
    /// consumer batch its own writes.
    pub fn next_buffered(&mut self) -> Option<FeedEvent> {
        let event = self.buffered.pop_front()?;
        self.next = event.position.next();
        Some(event)
    }

    /// The next event, or `None` once the node being read has nothing more applied (it says
    /// so as soon as it reaches its end): for reading up to "now" and stopping.
    pub async fn next_until_caught_up(&mut self) -> Result<Option<FeedEvent>, Error> {
        self.advance(true).await
    }

    async fn advance(&mut self, stop_when_idle: bool) -> Result<Option<FeedEvent>, Error> {
        let retry = self.client.retry_policy();
        let mut delay = retry.delay_min;
        let mut failing_since: Option<tokio::time::Instant> = None;
        let mut attempts = 0u32;
        let mut not_retained: Option<FeedPosition> = None;
        let mut nodes_refusing = 0usize;
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.next = event.position.next();
                return Ok(Some(event));
            }
            let failure = match self.read_more().await {
                Ok(()) => {
                    failing_since = None;
                    attempts = 0;
                    delay = retry.delay_min;
                    nodes_refusing = 0;
                    if stop_when_idle && self.idle && self.buffered.is_empty() {
                        return Ok(None);
                    }
                    continue;
                }
                Err(failure) => failure,
            };
            self.stream = None;
            attempts = attempts.saturating_add(1);
            let addresses = self.client.known_addresses().len().max(1);
            match failure {
                Failure::NotRetained(oldest) => {
                    // Another node may have kept more of its log: ask each before giving up.
                    nodes_refusing += 1;
                    not_retained = Some(match not_retained {
                        Some(known) => known.min(oldest),
                        None => oldest,
                    });
                    if nodes_refusing >= addresses {
                        return Err(Error::FeedNotRetained {
                            requested: self.next,
                            oldest: not_retained.unwrap_or(oldest),
                        });
                    }
                    self.turn = self.turn.wrapping_add(1);
                    continue;
                }
                Failure::Malformed(error) => return Err(error),
                Failure::Lost { code, message } => {
                    let started = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if started.elapsed() > retry.elapsed_max {
                        return Err(Error::Unavailable { attempts, code, message });
                    }
                    self.turn = self.turn.wrapping_add(1);
                    self.reconnects += 1;
                    // Every node tried once: wait before the next round.
                    if (attempts as usize).is_multiple_of(addresses) {
                        tokio::time::sleep(delay).await;
                        delay = delay.saturating_mul(2).min(retry.delay_max);
                    }
                }
            }
        }
    }

    /// Reads the next message of the current stream (connecting first if there is none) into
    /// the buffer. A keepalive buffers nothing and still counts as progress.
    async fn read_more(&mut self) -> Result<(), Failure> {
        if self.stream.is_none() {
            self.stream = Some(self.connect().await?);
        }
        let Some((address, stream)) = self.stream.as_mut() else {
            return Err(Failure::lost(tonic::Code::Internal, "no stream"));
        };
        let message = match tokio::time::timeout(FEED_SILENCE_MAX, stream.message()).await {
            Err(_silent) => {
                return Err(Failure::lost(
                    tonic::Code::DeadlineExceeded,
                    format!("{address}: no feed message for {FEED_SILENCE_MAX:?}"),
                ));
            }
            Ok(Err(status)) => return Err(Failure::from_status(address, &status)),
            Ok(Ok(None)) => {
                return Err(Failure::lost(
                    tonic::Code::Unavailable,
                    format!("{address}: the feed stream ended"),
                ));
            }
            Ok(Ok(Some(message))) => message,
        };
        self.idle = message.events.is_empty();
        for (index, event) in message.events.iter().enumerate() {
            let event = wire::parse_feed_event(&format!("events[{index}]"), event)
                .map_err(|error| Failure::Malformed(Error::malformed(address, error)))?;
            // The stream is in order from the position subscribed at; anything else is a
            // node's bug, refused rather than delivered twice or out of order.
            let expected = self.buffered.back().map_or(self.next, |last| last.position.next());
            if event.position < expected {
                return Err(Failure::Malformed(Error::MalformedAnswer {
                    address: address.clone(),
                    field: format!("events[{index}].position"),
                    reason: format!("{} is before the expected {expected}", event.position),
                }));
            }
            self.buffered.push_back(event);
        }
        Ok(())
    }

    /// Subscribes at the next known node in turn, from `self.next`.
    async fn connect(
        &mut self,
    ) -> Result<(String, tonic::Streaming<pb::SubscribeResponse>), Failure> {
        if !self.members_learned {
            // Best effort: any node's cluster status names every member's address.
            let asked = tokio::time::timeout(LEARN_TIMEOUT, self.client.cluster_status()).await;
            self.members_learned = matches!(asked, Ok(Ok(_)));
        }
        let addresses = self.client.known_addresses();
        let Some(address) = addresses.get(self.turn % addresses.len().max(1)).cloned() else {
            return Err(Failure::lost(tonic::Code::Unavailable, "no node address known"));
        };
        let channel = self
            .client
            .channel_to(&address)
            .map_err(|error| Failure::lost(tonic::Code::Unavailable, error.to_string()))?;
        let request = pb::SubscribeRequest { from: Some(wire::feed_position(self.next)) };
        let subscribed = tokio::time::timeout(
            self.client.request_timeout(),
            FeedClient::new(channel).subscribe(request),
        )
        .await;
        match subscribed {
            Err(_elapsed) => Err(Failure::lost(
                tonic::Code::DeadlineExceeded,
                format!("{address}: no answer to subscribe"),
            )),
            Ok(Err(status)) => Err(Failure::from_status(&address, &status)),
            Ok(Ok(response)) => Ok((address, response.into_inner())),
        }
    }
}

/// Why a stream stopped.
enum Failure {
    /// The node does not retain the position; it serves from `oldest` on.
    NotRetained(FeedPosition),
    /// The node's answer does not parse.
    Malformed(Error),
    /// The node could not be reached or stopped serving (try another).
    Lost { code: tonic::Code, message: String },
}

impl Failure {
    fn lost(code: tonic::Code, message: impl Into<String>) -> Failure {
        Failure::Lost { code, message: message.into() }
    }

    fn from_status(address: &str, status: &tonic::Status) -> Failure {
        if status.code() == tonic::Code::OutOfRange
            && let Some(oldest) = status
                .metadata()
                .get(wire::FEED_OLDEST_HEADER)
                .and_then(|value| value.to_str().ok())
                .and_then(parse_position)
        {
            return Failure::NotRetained(oldest);
        }
        Failure::lost(status.code(), format!("{address}: {}", status.message()))
    }
}

/// One event as a flat record for JSON consumers (`tianping feed tail`, the Redis
/// publisher): every field always present with an explicit value — no field is skipped when
/// empty or zero, the command and detail are the ledger's own values with every field (an
/// absent optional is `null`), and 128-bit ids and amounts are JSON integers written exactly.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FeedRecord<'a> {
    /// `<log_index>.<event_index>`.
    pub position: String,
    /// The entry's Raft log index.
    pub log_index: u64,
    /// The event's index in the entry's batch.
    pub event_index: u32,
    /// The entry's timestamp (ns since the Unix epoch).
    pub batch_timestamp: u64,
    /// The command kind, snake_case.
    pub kind: &'static str,
    /// The command.
    pub command: &'a tianping_ledger::Command,
    /// The result code's number (`4294967295` when the whole batch was refused).
    pub result_code: u32,
    /// The result code's name (`batch_refused` when the whole batch was refused).
    pub result: String,
    /// The event's timestamp (for `exists`, the original event's).
    pub event_timestamp: u64,
    /// The result's detail (`"None"` when there is none).
    pub detail: &'a tianping_ledger::Detail,
    /// Why the whole batch was refused; empty otherwise.
    pub batch_refusal: String,
}

impl<'a> FeedRecord<'a> {
    /// The record of `event`.
    pub fn of(event: &'a FeedEvent) -> FeedRecord<'a> {
        const NO_DETAIL: &tianping_ledger::Detail = &tianping_ledger::Detail::None;
        let (result_code, result, event_timestamp, detail, batch_refusal) = match &event.outcome {
            Ok(result) => (
                u32::from(result.code.value()),
                wire::result_code_name(result.code),
                result.timestamp,
                &result.detail,
                String::new(),
            ),
            Err(refusal) => (
                wire::BATCH_REFUSED_CODE,
                wire::BATCH_REFUSED_CODE_NAME.to_owned(),
                event.batch_timestamp,
                NO_DETAIL,
                refusal.to_string(),
            ),
        };
        FeedRecord {
            position: event.position.to_string(),
            log_index: event.position.log_index,
            event_index: event.position.event_index,
            batch_timestamp: event.batch_timestamp,
            kind: event.command.kind(),
            command: &event.command,
            result_code,
            result,
            event_timestamp,
            detail,
            batch_refusal,
        }
    }
}

/// Reads `<log_index>.<event_index>` (a position's `Display`).
pub fn parse_position(text: &str) -> Option<FeedPosition> {
    let (log_index, event_index) = text.split_once('.')?;
    Some(FeedPosition {
        log_index: log_index.parse().ok()?,
        event_index: event_index.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_back_from_their_text() {
        let position = FeedPosition { log_index: 42, event_index: 7 };
        assert_eq!(parse_position(&position.to_string()), Some(position));
        assert_eq!(parse_position("42"), None);
        assert_eq!(parse_position("a.1"), None);
        assert_eq!(position.next(), FeedPosition { log_index: 42, event_index: 8 });
    }
}
