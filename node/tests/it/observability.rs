//! Observability seen from outside: `/metrics` scraped over HTTP reflects what the cluster
//! did, and a request id travels from the client through a forward to the leader and back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tianping_node::REQUEST_ID_HEADER;
use tianping_proto::v1::{
    ClusterStatusRequest, CreateAccountsRequest, CreateTransfersRequest, LookupRequest, NewAccount,
    NewTransfer,
};
use tonic::metadata::MetadataValue;

use crate::support::{Cluster, WRITE_ATTEMPTS_MAX, bounded, retry_unavailable};

/// Longest a scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

fn account(id: &str) -> NewAccount {
    NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() }
}

fn transfer(id: &str, debit: &str, credit: &str) -> NewTransfer {
    NewTransfer {
        id: id.into(),
        debit_account_id: debit.into(),
        credit_account_id: credit.into(),
        amount: "5".into(),
        ledger: 156,
        code: 1,
        ..Default::default()
    }
}

/// `GET /metrics` over plain HTTP/1.1; the status line and body.
pub async fn scrape(address: SocketAddr) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect_timeout(&address, SCRAPE_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).expect("read timeout");
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send the request");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read the reply");
        let (head, body) = reply.split_once("\r\n\r\n").expect("headers end");
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, body.to_owned())
    })
    .await
    .expect("scrape task")
}

/// The value of the sample `series` (name with its labels, exactly as exposed), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

async fn scrape_node(cluster: &Cluster, node_id: u64) -> String {
    let address = cluster.node(node_id).metrics_address().expect("metrics served");
    let (status, body) = scrape(address).await;
    assert!(status.contains("200"), "{status}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_events_forwards_and_commits() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let follower =
            cluster.nodes.iter().map(|node| node.node_id()).find(|id| *id != leader).expect("f");
        let client = cluster.client(follower).await;

        let accounts = CreateAccountsRequest { accounts: vec![account("1"), account("2")] };
        retry_unavailable(|| {
            let (mut client, request) = (client.clone(), accounts.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        // Three transfers that succeed and one whose credit account does not exist.
        let transfers = CreateTransfersRequest {
            transfers: vec![
                transfer("10", "1", "2"),
                transfer("11", "1", "2"),
                transfer("12", "2", "1"),
                transfer("13", "1", "404"),
            ],
        };
        let moved = retry_unavailable(|| {
            let (mut client, request) = (client.clone(), transfers.clone());
            async move { client.create_transfers(request).await }
        })
        .await;
        let names: Vec<&str> = moved.results.iter().map(|r| r.code_name.as_str()).collect();
        assert_eq!(names, ["ok", "ok", "ok", "credit_account_not_found"]);
        cluster.wait_applied(moved.log_index).await;

        // The leader applied the batches it proposed: per-event results and commit latency.
        let text = scrape_node(&cluster, leader).await;
        let events = |command: &str, result: &str| {
            sample(
                &text,
                &format!(r#"tianping_events_total{{command="{command}",result="{result}"}}"#),
            )
        };
        assert_eq!(events("create_account", "ok"), Some(2.0), "{text}");
        assert_eq!(events("create_transfer", "ok"), Some(3.0), "{text}");
        assert_eq!(events("create_transfer", "credit_account_not_found"), Some(1.0), "{text}");
        let commits = sample(&text, "tianping_commit_latency_seconds_count").expect("histogram");
        assert!(commits >= 2.0, "{text}");
        let commit_seconds = sample(&text, "tianping_commit_latency_seconds_sum").expect("sum");
        assert!(commit_seconds > 0.0, "{text}");
        assert_eq!(sample(&text, "tianping_is_leader"), Some(1.0), "{text}");
        // The leader reports each follower's replication lag (not its own) and its placement.
        for peer in cluster.nodes.iter().map(|node| node.node_id()).filter(|id| *id != leader) {
            let lag = format!(r#"tianping_replication_lag_entries{{peer="{peer}"}}"#);
            assert!(sample(&text, &lag).is_some(), "{text}");
        }
        let own_lag = format!(r#"tianping_replication_lag_entries{{peer="{leader}"}}"#);
        assert_eq!(sample(&text, &own_lag), None, "{text}");
        let info = format!(
            r#"tianping_node_info{{node_id="{leader}",data_center="dc-{leader}",region=""}}"#
        );
        assert_eq!(sample(&text, &info), Some(1.0), "{text}");
        let applied = sample(&text, "tianping_applied_index").expect("applied index");
        assert!(applied >= moved.log_index as f64, "{text}");
        assert!(sample(&text, "tianping_last_log_index").expect("last") >= applied, "{text}");
        assert!(sample(&text, "tianping_term").expect("term") >= 1.0, "{text}");
        assert!(sample(&text, "tianping_leader_changes_total").expect("changes") >= 1.0, "{text}");
        // The leader answered the forwarded requests, and forwarded none itself.
        let leader_ok = r#"tianping_requests_total{rpc="CreateTransfers",code="OK"}"#;
        assert!(sample(&text, leader_ok).expect("leader answered") >= 1.0, "{text}");
        assert_eq!(
            sample(&text, r#"tianping_forwarded_requests_total{rpc="CreateTransfers"}"#),
            None,
            "{text}"
        );

        // The follower forwarded the writes, answered them, and applied no batch as leader.
        let text = scrape_node(&cluster, follower).await;
        let forwarded = r#"tianping_forwarded_requests_total{rpc="CreateTransfers"}"#;
        assert!(sample(&text, forwarded).expect("forward counted") >= 1.0, "{text}");
        let forwarded = r#"tianping_forwarded_requests_total{rpc="CreateAccounts"}"#;
        assert!(sample(&text, forwarded).expect("forward counted") >= 1.0, "{text}");
        assert!(sample(&text, leader_ok).expect("follower answered") >= 1.0, "{text}");
        assert_eq!(sample(&text, "tianping_is_leader"), Some(0.0), "{text}");
        assert!(!text.contains("tianping_replication_lag_entries{"), "{text}");
        let info = format!(
            r#"tianping_node_info{{node_id="{follower}",data_center="dc-{follower}",region=""}}"#
        );
        assert_eq!(sample(&text, &info), Some(1.0), "{text}");
        assert_eq!(sample(&text, "tianping_commit_latency_seconds_count"), Some(0.0), "{text}");
        assert!(!text.contains("tianping_events_total{"), "{text}");
        let applied = sample(&text, "tianping_applied_index").expect("applied index");
        assert!(applied >= moved.log_index as f64, "{text}");

        // A refused request is counted under its status code.
        let mut leader_client = cluster.client(leader).await;
        let refused = leader_client
            .lookup_accounts(LookupRequest { ids: vec!["not a number".into()], read: None })
            .await
            .expect_err("an invalid id is refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        let text = scrape_node(&cluster, leader).await;
        let invalid = r#"tianping_requests_total{rpc="LookupAccounts",code="INVALID_ARGUMENT"}"#;
        assert_eq!(sample(&text, invalid), Some(1.0), "{text}");

        cluster.shutdown().await;
    })
    .await;
}

/// Sends `CreateAccounts` with `id` (if any) as `x-request-id` to `client`, retrying while the
/// cluster settles; the id the answer carries.
async fn create_with_id(
    client: &tianping_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>,
    accounts: CreateAccountsRequest,
    id: Option<&str>,
) -> String {
    for _ in 0..WRITE_ATTEMPTS_MAX {
        let mut request = tonic::Request::new(accounts.clone());
        if let Some(id) = id {
            let value = MetadataValue::try_from(id).expect("ascii id");
            request.metadata_mut().insert(REQUEST_ID_HEADER, value);
        }
        match client.clone().create_accounts(request).await {
            Ok(response) => {
                let value = response.metadata().get(REQUEST_ID_HEADER).expect("id returned");
                return value.to_str().expect("ascii").to_owned();
            }
            Err(status) if status.code() == tonic::Code::Unavailable => {
                let value = status.metadata().get(REQUEST_ID_HEADER).expect("id on errors too");
                assert!(!value.is_empty());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("write failed: {status:?}"),
        }
    }
    panic!("write still unavailable after {WRITE_ATTEMPTS_MAX} attempts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_come_back_directly_and_through_a_forward() {
    bounded(async {
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let follower =
            cluster.nodes.iter().map(|node| node.node_id()).find(|id| *id != leader).expect("f");
        let via_follower = cluster.client(follower).await;
        let direct = cluster.client(leader).await;
        let accounts = |id: &str| CreateAccountsRequest { accounts: vec![account(id)] };

        // The client's id comes back, whether the leader answers or a follower forwards.
        assert_eq!(
            create_with_id(&direct, accounts("1"), Some("client-abc-1")).await,
            "client-abc-1"
        );
        assert_eq!(
            create_with_id(&via_follower, accounts("2"), Some("client-abc-2")).await,
            "client-abc-2"
        );

        // Without one (or with an unacceptable one) the receiving node makes one: its node id
        // first, and a different one each time.
        let made = create_with_id(&via_follower, accounts("3"), None).await;
        assert!(made.starts_with(&format!("{follower}-")), "{made}");
        let refused = "has spaces in it";
        let replaced = create_with_id(&via_follower, accounts("4"), Some(refused)).await;
        assert!(replaced.starts_with(&format!("{follower}-")), "{replaced}");
        assert_ne!(made, replaced);
        let too_long = "x".repeat(tianping_node::REQUEST_ID_BYTES_MAX + 1);
        let replaced = create_with_id(&direct, accounts("5"), Some(&too_long)).await;
        assert!(replaced.starts_with(&format!("{leader}-")), "{replaced}");

        // Errors carry it as well.
        let mut request = tonic::Request::new(LookupRequest { ids: vec!["x".into()], read: None });
        request.metadata_mut().insert(REQUEST_ID_HEADER, MetadataValue::from_static("bad-read"));
        let status = direct.clone().lookup_accounts(request).await.expect_err("refused");
        assert_eq!(
            status.metadata().get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()),
            Some("bad-read")
        );

        // Operators' calls too: an admin call keeps its id, and one without gets the node's.
        let follower_node =
            cluster.nodes.iter().find(|node| node.node_id() == follower).expect("follower");
        let mut admin = tianping_proto::v1::admin_client::AdminClient::connect(format!(
            "http://{}",
            follower_node.info().api_address
        ))
        .await
        .expect("admin connects");
        let mut request = tonic::Request::new(ClusterStatusRequest {});
        request.metadata_mut().insert(REQUEST_ID_HEADER, MetadataValue::from_static("sre-7"));
        let response = admin.cluster_status(request).await.expect("status");
        assert_eq!(
            response.metadata().get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()),
            Some("sre-7")
        );
        let response =
            admin.cluster_status(ClusterStatusRequest {}).await.expect("status without an id");
        let made = response.metadata().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
        assert!(made.is_some_and(|id| id.starts_with(&format!("{follower}-"))), "{made:?}");

        cluster.shutdown().await;
    })
    .await;
}

/// Log lines written by every node in this test process (`tianping_node` events at debug).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// A writer appending to `LOGS`.
struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|poison| poison.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the process-wide log capture once (other tests' nodes log into it too).
fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("tianping_node=debug"))
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init()
            .expect("no other logger in this test binary");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_request_is_logged_under_one_id_from_follower_to_apply() {
    bounded(async {
        capture_logs();
        let (cluster, leader) = Cluster::start_initialized(3).await;
        let follower =
            cluster.nodes.iter().map(|node| node.node_id()).find(|id| *id != leader).expect("f");
        let client = cluster.client(follower).await;
        let id = "trace-me-7f3a";
        let accounts = CreateAccountsRequest { accounts: vec![account("1")] };
        assert_eq!(create_with_id(&client, accounts, Some(id)).await, id);

        let logs = String::from_utf8_lossy(&LOGS.lock().expect("logs")).into_owned();
        let lines: Vec<&str> = logs.lines().filter(|line| line.contains(id)).collect();
        let on = |node: u64, message: &str| {
            lines
                .iter()
                .any(|line| line.contains(&format!("node_id={node}")) && line.contains(message))
        };
        assert!(on(follower, "forwarding to the leader"), "{lines:#?}");
        assert!(on(leader, "proposing"), "{lines:#?}");
        assert!(
            lines.iter().any(|line| line.contains(&format!("node_id={leader}"))
                && line.contains("applied")
                && line.contains("log_index=")),
            "{lines:#?}"
        );
        assert!(on(follower, "answered"), "{lines:#?}");

        cluster.shutdown().await;
    })
    .await;
}
