//! The change feed (`tianping.v1.Feed`, issue 16): `Subscribe(from)` streams every committed
//! event from this node's own applied state, in log order — a follower serves it as well as
//! the leader, and every node serves the same events at the same positions (they are the
//! same committed entries, answered by the same deterministic state machine).
//!
//! One task per subscriber reads pages from the store's feed source
//! (`tianping_raft_store::FeedSource`) and hands them to gRPC through a channel of
//! `PAGES_AHEAD_MAX` pages: when the consumer stops reading, the channel fills, the task
//! waits, and the node holds at most that many pages for it. With nothing new applied, the
//! task waits on openraft's metrics for the applied index to move (or the consumer to
//! leave). A position older than the node retains is `OUT_OF_RANGE`, naming the oldest
//! position it serves in the message and in the `tianping-feed-oldest` metadata.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use openraft::async_runtime::watch::WatchReceiver;
use tianping_proto::convert as pb_convert;
use tianping_proto::v1::feed_server::Feed;
use tianping_proto::v1::{SubscribeRequest, SubscribeResponse};
use tianping_raft_store::{FeedError, FeedSource};
use tokio::sync::mpsc;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::LedgerRaft;

/// Most events one streamed message carries (whole entries are read, so a message may carry
/// up to one batch more).
pub(crate) const PAGE_EVENTS_MAX: usize = 1024;

/// Pages read ahead of the consumer, at most: the bound on what a slow consumer makes the
/// node hold (with `PAGE_EVENTS_MAX` and the batch bound, a few MiB).
pub(crate) const PAGES_AHEAD_MAX: usize = 2;

/// How often a subscriber hears a keepalive (an empty message) while nothing is applied:
/// the SDK takes a longer silence for a stalled node and reconnects elsewhere.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

/// Serves `tianping.v1.Feed` for one node.
pub(crate) struct FeedService {
    raft: LedgerRaft,
    source: Arc<dyn FeedSource>,
}

impl FeedService {
    pub(crate) fn new(raft: LedgerRaft, source: Arc<dyn FeedSource>) -> FeedService {
        FeedService { raft, source }
    }
}

/// The `OUT_OF_RANGE` status of a position the node no longer holds.
fn not_retained(error: &FeedError) -> Status {
    let mut status = Status::out_of_range(error.to_string());
    if let FeedError::NotRetained { oldest, .. } = error
        && let Ok(value) = MetadataValue::try_from(oldest.to_string())
    {
        status.metadata_mut().insert(pb_convert::FEED_OLDEST_HEADER, value);
    }
    status
}

/// Reads the feed from `from` into `sender` until the consumer leaves or the node stops.
async fn pump(
    raft: LedgerRaft,
    source: Arc<dyn FeedSource>,
    mut from: tianping_ledger::feed::FeedPosition,
    sender: mpsc::Sender<Result<SubscribeResponse, Status>>,
) {
    let mut applied = raft.metrics();
    // Whether the consumer was told it has caught up since the last events it was sent.
    let mut told_caught_up = false;
    loop {
        let page = match source.read(from, PAGE_EVENTS_MAX) {
            Ok(page) => page,
            Err(error @ FeedError::NotRetained { .. }) => {
                let _gone = sender.send(Err(not_retained(&error))).await;
                return;
            }
            Err(FeedError::Storage(error)) => {
                let _gone =
                    sender.send(Err(Status::internal(format!("reading the feed: {error}")))).await;
                return;
            }
        };
        let scanned_all = page.next.log_index > page.last_applied;
        from = page.next;
        if !page.events.is_empty() {
            let response = SubscribeResponse {
                events: page.events.iter().map(pb_convert::feed_event).collect(),
                last_applied: page.last_applied,
            };
            if sender.send(Ok(response)).await.is_err() {
                return;
            }
            told_caught_up = false;
            continue;
        }
        if !scanned_all {
            // Entries without events (blank, membership) filled the read: go on.
            continue;
        }
        // Nothing applied past `from` yet: say so at once (an empty message: the consumer has
        // caught up), then wait for the applied index to move.
        if !told_caught_up {
            let caught_up =
                SubscribeResponse { events: Vec::new(), last_applied: page.last_applied };
            if sender.send(Ok(caught_up)).await.is_err() {
                return;
            }
            told_caught_up = true;
        }
        loop {
            let last_applied = applied.borrow_watched().last_applied.map_or(0, |id| id.index);
            if last_applied > page.last_applied {
                break;
            }
            tokio::select! {
                biased;
                () = sender.closed() => return,
                changed = applied.changed() => {
                    if changed.is_err() {
                        // openraft stopped: the consumer reconnects elsewhere.
                        let _gone = sender.send(Err(Status::unavailable("raft node stopped"))).await;
                        return;
                    }
                }
                () = tokio::time::sleep(KEEPALIVE_INTERVAL) => {
                    let keepalive =
                        SubscribeResponse { events: Vec::new(), last_applied: page.last_applied };
                    if sender.send(Ok(keepalive)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The stream a subscriber reads: the channel's receiving end.
type Events = Pin<Box<dyn Stream<Item = Result<SubscribeResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Feed for FeedService {
    type SubscribeStream = Events;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let from = pb_convert::parse_feed_position(request.get_ref().from.as_ref());
        // Refuse an unretained position at once, as a status rather than a stream item.
        if let Err(error @ FeedError::NotRetained { .. }) = self.source.read(from, 0) {
            return Err(not_retained(&error));
        }
        let (sender, receiver) = mpsc::channel(PAGES_AHEAD_MAX);
        tokio::spawn(pump(self.raft.clone(), Arc::clone(&self.source), from, sender));
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
