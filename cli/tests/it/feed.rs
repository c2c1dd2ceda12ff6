//! The change feed on a cluster of real processes (issue 16): a consumer dropped and resumed
//! 100 times while clients write — across a `kill -9` of the leader and its restart — sees
//! every event exactly once in log order; the Redis publisher, with its `redis-server`
//! killed mid-stream and restarted empty, rebuilds a stream and a balance view equal to the
//! ledger's; `tianping feed tail` prints the same events as JSON lines with every field.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tianping_client::{
    Client, ClientConfig, Command, FeedEvent, FeedPosition, NewAccount, NewTransfer, ResultCode,
    RetryPolicy,
};

use crate::processes::ProcessCluster;

/// Longest the feed test may run (100 resumes, a leader kill and a restart).
const FEED_TEST_TIMEOUT: Duration = Duration::from_secs(240);

/// Longest one event may take to arrive while the cluster fails over.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

const LEDGER: u32 = 716;
/// Accounts 1..=ACCOUNTS; transfers to `MISSING_ACCOUNT` are refused (a recorded refusal).
const ACCOUNTS: u128 = 6;
const MISSING_ACCOUNT: u128 = 99;

/// Transfers per request of the load.
const LOAD_BATCH: u128 = 8;

/// Consumer rounds: each subscribes from the stored position, reads some events, drops.
const ROUNDS: usize = 100;

fn client(addresses: &[String], first: usize) -> Client {
    let mut rotated: Vec<String> = addresses.to_vec();
    rotated.rotate_left(first % addresses.len());
    let mut config = ClientConfig::new(rotated);
    config.request_timeout = Duration::from_secs(3);
    config.connect_timeout = Duration::from_millis(500);
    config.retry = RetryPolicy {
        delay_min: Duration::from_millis(20),
        delay_max: Duration::from_millis(500),
        elapsed_max: Duration::from_secs(30),
        attempts_max: 200,
    };
    Client::new(config).expect("a valid configuration")
}

/// Transfer `id`: between two of the accounts, distinct amounts; every fifth names a missing
/// debit account and is refused.
fn transfer(id: u128) -> NewTransfer {
    let debit = if id.is_multiple_of(5) { MISSING_ACCOUNT } else { 1 + id % ACCOUNTS };
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: 1 + (id + 1) % ACCOUNTS,
        amount: 100 + id,
        ledger: LEDGER,
        code: 1,
        ..NewTransfer::default()
    }
}

async fn create_accounts(client: &Client) {
    let accounts: Vec<NewAccount> = (1..=ACCOUNTS)
        .map(|id| NewAccount { id, ledger: LEDGER, code: 1, ..NewAccount::default() })
        .collect();
    let results = client.create_accounts(&accounts).await.expect("accounts");
    assert!(results.iter().all(|r| matches!(r.code, ResultCode::Ok | ResultCode::Exists)));
}

/// Writes batches of transfers through `client` until `stop`; the ids whose batch was
/// answered, with their result codes.
fn start_load(
    client: Client,
    stop: Arc<AtomicBool>,
    next_id: Arc<AtomicU64>,
    answered: Arc<Mutex<BTreeMap<u128, ResultCode>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let first = u128::from(next_id.fetch_add(LOAD_BATCH as u64, Ordering::SeqCst));
            let batch: Vec<NewTransfer> = (first..first + LOAD_BATCH).map(transfer).collect();
            if let Ok(results) = client.create_transfers(&batch).await {
                let mut answered = answered.lock().expect("answered");
                for (transfer, result) in batch.iter().zip(results) {
                    answered.insert(transfer.id, result.code);
                }
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    })
}

/// Every event of the feed from `from` up to what the node read has applied.
async fn read_to_end(client: &Client, from: FeedPosition) -> Vec<FeedEvent> {
    let mut subscription = client.subscribe(from);
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(EVENT_TIMEOUT, subscription.next_until_caught_up())
        .await
        .expect("the feed answers")
        .expect("the feed reads")
    {
        events.push(event);
    }
    events
}

/// The checks of a feed read from the start: strictly increasing positions; each entry's
/// events numbered 0, 1, 2, … without a gap; every transfer answered to the load present with
/// the result it was answered; no transfer accepted twice; and the balances its accepted
/// transfers add up to are the ledger's (read back through the API).
async fn check_against_ledger(
    seen: &[FeedEvent],
    answered: &BTreeMap<u128, ResultCode>,
    client: &Client,
) {
    for pair in seen.windows(2) {
        assert!(pair[0].position < pair[1].position, "out of order: {pair:?}");
        let (a, b) = (pair[0].position, pair[1].position);
        if a.log_index == b.log_index {
            assert_eq!(b.event_index, a.event_index + 1, "a gap inside entry {}", a.log_index);
        } else {
            assert_eq!(b.event_index, 0, "entry {} starts at event 0", b.log_index);
        }
    }
    let mut accepted: BTreeSet<u128> = BTreeSet::new();
    let mut first_result: BTreeMap<u128, ResultCode> = BTreeMap::new();
    let mut balances: BTreeMap<u128, (u128, u128)> = BTreeMap::new();
    for event in seen {
        let Command::CreateTransfer(transfer) = &event.command else { continue };
        let result = event.outcome.as_ref().expect("no batch is refused whole");
        first_result.entry(transfer.id).or_insert(result.code);
        if result.code == ResultCode::Ok {
            assert!(accepted.insert(transfer.id), "transfer {} accepted twice", transfer.id);
            let debit = balances.entry(transfer.debit_account_id).or_default();
            debit.0 += transfer.amount;
            let credit = balances.entry(transfer.credit_account_id).or_default();
            credit.1 += transfer.amount;
        }
    }
    for (id, code) in answered {
        // A retried batch answers `exists` for what its first attempt created, and
        // `id_already_failed` for what it refused: the feed holds the first attempt's event.
        let first = match code {
            ResultCode::Exists => ResultCode::Ok,
            ResultCode::IdAlreadyFailed => ResultCode::DebitAccountNotFound,
            code => *code,
        };
        assert_eq!(first_result.get(id).copied(), Some(first), "transfer {id}: answered {code:?}");
        assert_eq!(
            first == ResultCode::DebitAccountNotFound,
            id.is_multiple_of(5),
            "transfer {id}"
        );
    }
    let ids: Vec<u128> = (1..=ACCOUNTS).collect();
    for account in client.lookup_accounts(&ids).await.expect("accounts read") {
        let (debits, credits) = balances.get(&account.id).copied().unwrap_or_default();
        assert_eq!(account.debits_posted, debits, "account {}: debits", account.id);
        assert_eq!(account.credits_posted, credits, "account {}: credits", account.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_resumed_100_times_across_a_leader_kill_sees_every_event_once_in_order() {
    tokio::time::timeout(FEED_TEST_TIMEOUT, async {
        let mut cluster = ProcessCluster::start_on_loopback(3, |_| {}).await;
        let leader = cluster.initialize().await;
        let addresses: Vec<String> = cluster.nodes.iter().map(|node| node.api_address()).collect();
        create_accounts(&client(&addresses, 0)).await;

        let stop = Arc::new(AtomicBool::new(false));
        let answered: Arc<Mutex<BTreeMap<u128, ResultCode>>> = Arc::default();
        let next_id = Arc::new(AtomicU64::new(1));
        let load = start_load(client(&addresses, 1), stop.clone(), next_id, answered.clone());

        let mut seen: Vec<FeedEvent> = Vec::new();
        let mut next = FeedPosition::default();
        let mut reconnects = 0;
        for round in 0..ROUNDS {
            if round == ROUNDS * 2 / 5 {
                cluster.node_mut(leader).kill();
                eprintln!("feed: killed leader node {leader} at round {round}");
            }
            if round == ROUNDS * 7 / 10 {
                cluster.restart(leader).await;
                eprintln!("feed: restarted node {leader} at round {round}");
            }
            // A new consumer process each round, its first node in turn (followers too).
            let consumer = client(&addresses, round);
            let mut subscription = consumer.subscribe(next);
            let wanted = 1 + (round * 37) % 60;
            for _ in 0..wanted {
                let event = tokio::time::timeout(EVENT_TIMEOUT, subscription.next())
                    .await
                    .expect("an event in time")
                    .expect("the feed reads");
                next = event.position.next();
                seen.push(event);
            }
            reconnects += subscription.reconnects();
            drop(subscription);
        }
        stop.store(true, Ordering::SeqCst);
        load.await.expect("load task");
        let ids: Vec<u64> = cluster.nodes.iter().map(|node| node.node_id).collect();
        cluster.wait_converged(&ids).await;
        let reader = client(&addresses, 2);
        seen.extend(read_to_end(&reader, next).await);
        eprintln!(
            "feed: {} events over {ROUNDS} resumes ({reconnects} reconnections inside them), \
             through entry {}",
            seen.len(),
            seen.last().map_or(0, |event| event.position.log_index)
        );
        let answered = answered.lock().expect("answered").clone();
        assert!(answered.len() > 100, "the load wrote: {}", answered.len());
        check_against_ledger(&seen, &answered, &reader).await;
        // Every node serves the same feed: the one pieced together equals each node's whole.
        for first in 0..addresses.len() {
            let whole =
                read_to_end(&client(&addresses[first..=first], 0), FeedPosition::default()).await;
            assert_eq!(whole, seen, "node at {} serves another feed", addresses[first]);
        }
    })
    .await
    .expect("the feed test ran past its bound");
}

/// A `redis-server` on a loopback port, without persistence (a restart comes back empty, as
/// a flushed or replaced Redis would); killed when dropped.
struct RedisServer {
    port: u16,
    child: std::process::Child,
}

impl RedisServer {
    /// Starts one on `port` (a free one when `None`) and waits until it answers.
    async fn start(port: Option<u16>) -> RedisServer {
        let port = port.unwrap_or_else(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        });
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--protected-mode", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (install the Debian package redis-server)");
        let server = RedisServer { port, child };
        for _ in 0..200 {
            if let Ok(mut connection) = server.connection().await
                && redis::cmd("PING").query_async::<String>(&mut connection).await.is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not answer on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?.get_multiplexed_async_connection().await
    }

    /// `kill -9`, and waits for the process to end.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The stream's entries: id and fields.
async fn stream_entries(server: &RedisServer) -> Vec<(String, BTreeMap<String, String>)> {
    let mut connection = server.connection().await.expect("redis answers");
    redis::cmd("XRANGE")
        .arg("tianping:feed")
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .expect("the stream reads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_publisher_rebuilds_stream_and_balances_after_redis_loses_everything() {
    use tianping_feed_publisher::{Publisher, PublisherConfig, stream_id};

    tokio::time::timeout(FEED_TEST_TIMEOUT, async {
        let cluster = ProcessCluster::start_on_loopback(3, |_| {}).await;
        cluster.initialize().await;
        let addresses: Vec<String> = cluster.nodes.iter().map(|node| node.api_address()).collect();
        create_accounts(&client(&addresses, 0)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let answered: Arc<Mutex<BTreeMap<u128, ResultCode>>> = Arc::default();
        let load = start_load(
            client(&addresses, 1),
            stop.clone(),
            Arc::new(AtomicU64::new(1)),
            answered.clone(),
        );

        let mut redis = RedisServer::start(None).await;
        let publisher = Publisher::new(client(&addresses, 2), PublisherConfig::new(redis.url()));
        let (stop_publisher, stopped) = tokio::sync::oneshot::channel::<()>();
        let publishing = tokio::spawn(async move {
            publisher
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        // Mid-stream: Redis dies and comes back empty on the same port.
        loop {
            if stream_entries(&redis).await.len() > 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        redis.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let port = redis.port;
        drop(redis);
        let redis = RedisServer::start(Some(port)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::SeqCst);
        load.await.expect("load task");
        let ids: Vec<u64> = cluster.nodes.iter().map(|node| node.node_id).collect();
        cluster.wait_converged(&ids).await;

        let reader = client(&addresses, 0);
        let expected = read_to_end(&reader, FeedPosition::default()).await;
        let last_id = stream_id(expected.last().expect("events").position);
        let mut entries = Vec::new();
        for _ in 0..600 {
            entries = stream_entries(&redis).await;
            if entries.last().map(|(id, _)| id) == Some(&last_id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = stop_publisher.send(());
        publishing.await.expect("publisher task").expect("the publisher ends cleanly");

        // The stream is the feed: one entry per event, id = position, the event's record.
        assert_eq!(entries.len(), expected.len(), "one stream entry per event");
        for ((id, fields), event) in entries.iter().zip(&expected) {
            assert_eq!(id, &stream_id(event.position));
            let record =
                serde_json::to_string(&tianping_client::FeedRecord::of(event)).expect("encodes");
            assert_eq!(fields.get("event"), Some(&record), "entry {id}");
        }
        // The balance view is the ledger's.
        let mut connection = redis.connection().await.expect("redis answers");
        let account_ids: Vec<u128> = (1..=ACCOUNTS).collect();
        let (accounts, applied) =
            reader.lookup_accounts_applied(&account_ids).await.expect("accounts read");
        assert_eq!(accounts.len(), account_ids.len());
        for account in accounts {
            let view: BTreeMap<String, String> = redis::cmd("HGETALL")
                .arg(format!("tianping:account:{}", account.id))
                .query_async(&mut connection)
                .await
                .expect("the view reads");
            assert_eq!(view.get("debits_posted"), Some(&account.debits_posted.to_string()));
            assert_eq!(view.get("credits_posted"), Some(&account.credits_posted.to_string()));
            assert_eq!(view.get("debits_pending"), Some(&account.debits_pending.to_string()));
            assert_eq!(view.get("credits_pending"), Some(&account.credits_pending.to_string()));
            let reflects: u64 =
                view.get("log_index").expect("log_index").parse().expect("a number");
            assert!(
                reflects <= applied,
                "account {}: view at {reflects} past {applied}",
                account.id
            );
        }
        eprintln!("feed publisher: {} entries rebuilt after the Redis restart", entries.len());
    })
    .await
    .expect("the publisher test ran past its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_tail_prints_every_event_as_a_json_line_with_every_field() {
    tokio::time::timeout(FEED_TEST_TIMEOUT, async {
        let cluster = ProcessCluster::start_on_loopback(1, |_| {}).await;
        cluster.initialize().await;
        let addresses: Vec<String> = cluster.nodes.iter().map(|node| node.api_address()).collect();
        let sdk = client(&addresses, 0);
        create_accounts(&sdk).await;
        let batch: Vec<NewTransfer> = (1..=10).map(transfer).collect();
        sdk.create_transfers(&batch).await.expect("transfers");
        let output =
            crate::support::tianping(Some(&addresses[0]), &["feed", "tail", "--from", "0.0"]).await;
        assert!(output.status.success(), "{output:?}");
        let text = crate::support::stdout(&output);
        let lines: Vec<serde_json::Value> =
            text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
        // The accounts, then the ten transfers (two refused: ids 5 and 10).
        assert_eq!(lines.len(), ACCOUNTS as usize + 10, "{text}");
        let fields = [
            "position",
            "log_index",
            "event_index",
            "batch_timestamp",
            "kind",
            "command",
            "result_code",
            "result",
            "event_timestamp",
            "detail",
            "batch_refusal",
        ];
        for line in &lines {
            let object = line.as_object().expect("an object");
            for field in fields {
                assert!(object.contains_key(field), "{field} missing from {line}");
            }
        }
        let refused: Vec<&serde_json::Value> =
            lines.iter().filter(|line| line["result"] == "debit_account_not_found").collect();
        assert_eq!(refused.len(), 2, "{text}");
        assert!(lines.iter().any(|line| line["kind"] == "create_account"));
        // Resuming after the fourth line prints exactly the rest.
        let fourth = lines[3]["position"].as_str().expect("a position");
        let resume = tianping_client::parse_position(fourth).expect("parses").next().to_string();
        let rest =
            crate::support::tianping(Some(&addresses[0]), &["feed", "tail", "--from", &resume])
                .await;
        assert_eq!(crate::support::stdout(&rest).lines().count(), lines.len() - 4);
    })
    .await
    .expect("the tail test ran past its bound");
}
