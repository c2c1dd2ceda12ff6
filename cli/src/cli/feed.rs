//! `tianping feed tail`: the change feed as JSON lines (over the SDK's `Client::subscribe`,
//! which resumes on another node when one fails); `tianping feed publish`: the feed into a
//! data center's Redis (over `tianping-feed-publisher`).

use std::io::Write as _;

use anyhow::Context as _;
use tianping_client::{FeedRecord, parse_position};
use tianping_feed_publisher::{Publisher, PublisherConfig};

use super::{GlobalOptions, sdk_client};

/// `tianping feed …`.
#[derive(Debug, clap::Subcommand)]
pub enum FeedCommand {
    /// Print committed events from a position on, one JSON object per line.
    ///
    /// Every committed event in log order — accounts, transfers with their results
    /// (refusals included), status and limit changes, payouts' transitions, collections,
    /// discrepancies — each with its position `<log_index>.<event_index>`. Store the last
    /// position handled and resume from the one after it (same log index, event index + 1)
    /// to see every event exactly once. Without --follow, stops once the node has nothing
    /// more applied. Every field is always present.
    ///
    ///   tianping feed tail --from 0.0
    ///   tianping --addr 127.0.0.1:40123 feed tail --from 1200.17 --follow
    #[command(verbatim_doc_comment)]
    Tail {
        /// The first position to print, `<log_index>.<event_index>` (`0.0`: the beginning,
        /// if the node still has it).
        #[arg(long, value_name = "POSITION", default_value = "0.0")]
        from: String,
        /// Keep printing new events as they are committed, until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// Publish the feed into a Redis Stream and a per-account balance view, until Ctrl-C.
    ///
    /// One per data center, beside that data center's Redis (a cache: the ledger never reads
    /// it). Each event is a stream entry whose id is its position (`<log_index>-<event_index>`)
    /// with fields position, kind, result and event (the JSON of `feed tail`); each account an
    /// event touched is a hash `<account-prefix><id>` with debits_pending, debits_posted,
    /// credits_pending, credits_posted and log_index (the ledger index the balances reflect).
    /// Restarted, it resumes after the stream's last entry; a Redis that lost its data is
    /// refilled from --from. Redis failures are ridden out (reconnect and resume).
    ///
    ///   tianping feed publish --redis redis://127.0.0.1:6379
    #[command(verbatim_doc_comment)]
    Publish {
        /// The Redis to publish to, `redis://HOST:PORT[/DB]`.
        #[arg(long, value_name = "URL")]
        redis: String,
        /// The stream's key.
        #[arg(long, default_value = "tianping:feed")]
        stream: String,
        /// The prefix of the balance view's hashes.
        #[arg(long, default_value = "tianping:account:")]
        account_prefix: String,
        /// Where an empty stream starts, `<log_index>.<event_index>`.
        #[arg(long, value_name = "POSITION", default_value = "0.0")]
        from: String,
    },
}

/// Runs a `tianping feed` command.
pub async fn run(options: &GlobalOptions, command: FeedCommand) -> anyhow::Result<()> {
    match command {
        FeedCommand::Tail { from, follow } => tail(options, &from, follow).await,
        FeedCommand::Publish { redis, stream, account_prefix, from } => {
            let mut config = PublisherConfig::new(redis);
            config.stream_key = stream;
            config.account_key_prefix = account_prefix;
            config.start = position(&from)?;
            let publisher = Publisher::new(sdk_client(options)?, config);
            publisher
                .run(async {
                    // An error installing the handler: stop at once rather than never.
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .context("publishing the feed")
        }
    }
}

fn position(text: &str) -> anyhow::Result<tianping_client::FeedPosition> {
    parse_position(text)
        .with_context(|| format!("{text:?}: a position is <log_index>.<event_index>, e.g. 1200.17"))
}

async fn tail(options: &GlobalOptions, from: &str, follow: bool) -> anyhow::Result<()> {
    let from = position(from)?;
    let client = sdk_client(options)?;
    let mut subscription = client.subscribe(from);
    let stdout = std::io::stdout();
    loop {
        let event = if follow {
            Some(subscription.next().await?)
        } else {
            subscription.next_until_caught_up().await?
        };
        let Some(event) = event else { return Ok(()) };
        let line = serde_json::to_string(&FeedRecord::of(&event)).context("encoding an event")?;
        let mut out = stdout.lock();
        // A closed pipe (`| head`) ends the command quietly.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}
