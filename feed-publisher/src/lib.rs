//! The per-data-center Redis publisher (issue 16): reads the ledger's change feed through the
//! SDK (`Client::subscribe`) and writes it into a Redis Stream, with a per-account balance
//! view beside it for dashboards (店东看账). Redis is a cache: the ledger never reads it, and
//! losing or flushing it loses nothing — the publisher rebuilds both from the feed.
//!
//! Idempotent by construction: each event's stream entry id is its feed position
//! (`<log_index>-<event_index>`, `stream_id`), and a publisher (re)starting resumes from the
//! position after the stream's last entry id. So a publisher killed anywhere and restarted
//! neither skips nor repeats an event, and a Redis that lost its data (restarted empty) is
//! refilled from `PublisherConfig::start`. Each batch of events is written in one
//! `MULTI`/`EXEC` transaction together with the balances it changed, so the stream and the
//! view never disagree about how far they are.
//!
//! The balance view: one hash per account (`<account_key_prefix><id>`) with its four
//! balances (decimal strings) and `log_index`, the ledger log index the balances reflect (the
//! read's applied index: every entry up to at least there). The publisher takes the accounts
//! an event names (a transfer's two, a payout's, a collection's credited and settlement
//! accounts, an account whose controls changed, a discrepancy's) and reads their balances
//! from the ledger with one lookup per batch, so the view is exactly the ledger's for them,
//! including effects no command names (a pending transfer's expiry shows at the account's
//! next event).

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use tianping_client::{Client, FeedEvent, FeedPosition, FeedRecord, TransferFlags};
use tianping_ledger::{Command, Detail, ResultCode};

/// Most events written to Redis in one transaction.
pub const BATCH_EVENTS_MAX: usize = 1024;

/// Most ids in one ledger lookup.
const LOOKUP_IDS_MAX: usize = 1000;

/// The first wait after Redis failed, doubled up to `REDIS_RETRY_DELAY_MAX`.
const REDIS_RETRY_DELAY_MIN: Duration = Duration::from_millis(100);
const REDIS_RETRY_DELAY_MAX: Duration = Duration::from_secs(2);

/// Where and how to publish.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub redis_url: String,
    /// The stream's key.
    pub stream_key: String,
    /// The balance view's hashes are `<prefix><account id>`.
    pub account_key_prefix: String,
    /// Where an empty stream starts (the first event of the ledger by default).
    pub start: FeedPosition,
}

impl PublisherConfig {
    /// The defaults for a Redis at `redis_url`: stream `tianping:feed`, hashes
    /// `tianping:account:<id>`, from the beginning of the feed.
    pub fn new(redis_url: impl Into<String>) -> PublisherConfig {
        PublisherConfig {
            redis_url: redis_url.into(),
            stream_key: "tianping:feed".to_owned(),
            account_key_prefix: "tianping:account:".to_owned(),
            start: FeedPosition::default(),
        }
    }
}

/// Why publishing stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The feed could not be read (e.g. no node retains the position any more).
    #[error("reading the feed: {0}")]
    Feed(#[from] tianping_client::Error),
    /// Redis failed (the publisher retries these itself; `publish_until_caught_up` returns
    /// them).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The stream holds an entry id that is no feed position (another writer's?).
    #[error("stream entry id {0:?} is not a feed position")]
    ForeignEntry(String),
}

/// An event's stream entry id: its position, `<log_index>-<event_index>`.
pub fn stream_id(position: FeedPosition) -> String {
    format!("{}-{}", position.log_index, position.event_index)
}

/// The position a stream entry id stands for.
pub fn position_of_stream_id(id: &str) -> Option<FeedPosition> {
    let (log_index, event_index) = id.split_once('-')?;
    Some(FeedPosition {
        log_index: log_index.parse().ok()?,
        event_index: event_index.parse().ok()?,
    })
}

/// The publisher: see the crate documentation.
#[derive(Clone, Debug)]
pub struct Publisher {
    client: Client,
    config: PublisherConfig,
}

/// How a publishing session ended.
enum Ended {
    CaughtUp,
    Stopped,
}

impl Publisher {
    /// A publisher of `client`'s cluster into the Redis of `config`.
    pub fn new(client: Client, config: PublisherConfig) -> Publisher {
        Publisher { client, config }
    }

    /// Publishes until `stop` completes, riding out Redis failures (reconnects and resumes
    /// from the stream's last entry, refilling a Redis that came back empty). Returns an
    /// error only for a feed failure.
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<(), PublishError> {
        let mut stop = std::pin::pin!(stop);
        let mut delay = REDIS_RETRY_DELAY_MIN;
        loop {
            match self.session(false, stop.as_mut()).await {
                Ok(_) => return Ok(()),
                Err(PublishError::Redis(error)) => {
                    tracing::warn!(%error, ?delay, "redis failed; resuming from the stream's last entry");
                    tokio::select! {
                        biased;
                        () = stop.as_mut() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = delay.saturating_mul(2).min(REDIS_RETRY_DELAY_MAX);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One pass: resumes from the stream's last entry and publishes until the node read has
    /// nothing more applied. Any failure is returned.
    pub async fn publish_until_caught_up(&self) -> Result<(), PublishError> {
        self.session(true, std::pin::pin!(std::future::pending::<()>())).await.map(|_| ())
    }

    /// The position after the stream's last entry (the configured start when it is empty).
    pub async fn resume_position(
        &self,
        redis: &mut redis::aio::MultiplexedConnection,
    ) -> Result<FeedPosition, PublishError> {
        let last: Vec<(String, Vec<String>)> = redis::cmd("XREVRANGE")
            .arg(&self.config.stream_key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(redis)
            .await?;
        match last.first() {
            None => Ok(self.config.start),
            Some((id, _)) => position_of_stream_id(id)
                .map(FeedPosition::next)
                .ok_or_else(|| PublishError::ForeignEntry(id.clone())),
        }
    }

    async fn session(
        &self,
        stop_when_caught_up: bool,
        mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Ended, PublishError> {
        let redis_client = redis::Client::open(self.config.redis_url.as_str())?;
        let mut redis = redis_client.get_multiplexed_async_connection().await?;
        let from = self.resume_position(&mut redis).await?;
        tracing::info!(%from, "publishing the feed");
        let mut subscription = self.client.subscribe(from);
        loop {
            let first = if stop_when_caught_up {
                match subscription.next_until_caught_up().await? {
                    Some(event) => event,
                    None => return Ok(Ended::CaughtUp),
                }
            } else {
                tokio::select! {
                    biased;
                    () = stop.as_mut() => return Ok(Ended::Stopped),
                    event = subscription.next() => event?,
                }
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_EVENTS_MAX
                && let Some(event) = subscription.next_buffered()
            {
                batch.push(event);
            }
            self.write_batch(&mut redis, &batch).await?;
        }
    }

    /// Writes `batch` to the stream and the balances it changed to the view, in one
    /// transaction.
    async fn write_batch(
        &self,
        redis: &mut redis::aio::MultiplexedConnection,
        batch: &[FeedEvent],
    ) -> Result<(), PublishError> {
        let accounts = self.touched_accounts(batch).await?;
        let mut balances = Vec::new();
        let ids: Vec<u128> = accounts.into_iter().collect();
        for chunk in ids.chunks(LOOKUP_IDS_MAX) {
            let (found, applied_index) = self.client.lookup_accounts_applied(chunk).await?;
            balances.extend(found.into_iter().map(|account| (account, applied_index)));
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for event in batch {
            let record = FeedRecord::of(event);
            let json = serde_json::to_string(&record).map_err(|error| {
                PublishError::Redis(redis::RedisError::from((
                    redis::ErrorKind::ClientError,
                    "encoding an event",
                    error.to_string(),
                )))
            })?;
            pipe.cmd("XADD")
                .arg(&self.config.stream_key)
                .arg(stream_id(event.position))
                .arg("position")
                .arg(&record.position)
                .arg("kind")
                .arg(record.kind)
                .arg("result")
                .arg(&record.result)
                .arg("event")
                .arg(json)
                .ignore();
        }
        for (account, applied_index) in balances {
            pipe.cmd("HSET")
                .arg(format!("{}{}", self.config.account_key_prefix, account.id))
                .arg("debits_pending")
                .arg(account.debits_pending.to_string())
                .arg("debits_posted")
                .arg(account.debits_posted.to_string())
                .arg("credits_pending")
                .arg(account.credits_pending.to_string())
                .arg("credits_posted")
                .arg(account.credits_posted.to_string())
                .arg("log_index")
                .arg(applied_index)
                .ignore();
        }
        pipe.query_async::<()>(redis).await?;
        Ok(())
    }

    /// The accounts whose balances `batch`'s accepted events may have changed.
    async fn touched_accounts(&self, batch: &[FeedEvent]) -> Result<BTreeSet<u128>, PublishError> {
        let mut accounts = BTreeSet::new();
        let mut transfers = Vec::new();
        let mut payouts = Vec::new();
        for event in batch {
            let Ok(result) = &event.outcome else { continue };
            if result.code != ResultCode::Ok {
                continue;
            }
            match &event.command {
                Command::CreateAccount(account) => {
                    accounts.insert(account.id);
                }
                Command::CreateTransfer(transfer) => {
                    let settles_pending = transfer.flags.contains(TransferFlags::POST_PENDING)
                        || transfer.flags.contains(TransferFlags::VOID_PENDING);
                    if settles_pending || transfer.debit_account_id == 0 {
                        // A post or void names its accounts through the pending transfer.
                        transfers.push(transfer.id);
                    } else {
                        accounts.insert(transfer.debit_account_id);
                        accounts.insert(transfer.credit_account_id);
                    }
                }
                Command::CreatePayout(payout) => {
                    accounts.insert(payout.debit_account_id);
                    accounts.insert(payout.credit_account_id);
                }
                Command::RecordPayoutOutcome(outcome) => payouts.push(outcome.payout_id),
                Command::BookCollection(collection) => {
                    accounts.insert(collection.settlement_account_id);
                    if let Detail::Collection { credited_account_id, .. } = result.detail {
                        accounts.insert(credited_account_id);
                    }
                }
                // The assignment's id is the id of the transfer that moved the money.
                Command::AssignSuspense(assignment) => transfers.push(assignment.id),
                Command::SetAccountStatus(change) => {
                    accounts.insert(change.account_id);
                }
                Command::ChangeAccountStatus(change) => {
                    accounts.insert(change.account_id);
                }
                Command::ChangeAccountLimits(change) => {
                    accounts.insert(change.account_id);
                }
                Command::SetAccountLimits(change) => {
                    accounts.insert(change.account_id);
                }
                Command::RecordDiscrepancy(discrepancy) => {
                    accounts.extend(discrepancy.account_ids.iter().copied());
                }
                Command::ClaimPayouts(_)
                | Command::ClaimPayoutBatch(_)
                | Command::ResolveDiscrepancy(_) => {}
            }
        }
        for chunk in transfers.chunks(LOOKUP_IDS_MAX) {
            for transfer in self.client.lookup_transfers(chunk).await? {
                accounts.insert(transfer.debit_account_id);
                accounts.insert(transfer.credit_account_id);
            }
        }
        for chunk in payouts.chunks(LOOKUP_IDS_MAX) {
            for payout in self.client.lookup_payouts(chunk).await? {
                accounts.insert(payout.debit_account_id);
                accounts.insert(payout.credit_account_id);
            }
        }
        accounts.remove(&0);
        Ok(accounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_positions() {
        let position = FeedPosition { log_index: 12, event_index: 3 };
        assert_eq!(stream_id(position), "12-3");
        assert_eq!(position_of_stream_id("12-3"), Some(position));
        assert_eq!(position_of_stream_id("12"), None);
        assert_eq!(position_of_stream_id("x-3"), None);
    }
}
