//! `tianping dev up` as a user runs it: a real process that starts five node processes,
//! prints their endpoints when the cluster is healthy, and stops every one on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{CreateAccountsRequest, LookupRequest, NewAccount};

use tianping_client::{Client, ClientConfig, NewPayout, PayoutState};
use tianping_supervisor::banks::{
    BANKS, CUSTOMER_ACCOUNT, EXAMPLE_BENEFICIARY, LEDGER, PAYOUT_CODE,
};

use crate::support::{bounded, retry_unavailable, sample, scrape};

/// Longest a payout may take to become final through the local bank.
const PAYOUT_FINAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest `dev up` may take to print its ready banner.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest `dev up` may take to stop everything after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Most lookups while a replica catches up with a write (each waits `LOOKUP_PAUSE`).
const LOOKUP_ATTEMPTS_MAX: usize = 100;
const LOOKUP_PAUSE: Duration = Duration::from_millis(50);

/// One node line of the ready banner.
#[derive(Debug)]
struct Endpoint {
    node_id: u64,
    data_center: String,
    api_address: String,
    /// `host:port` of the node's `/metrics` endpoint.
    metrics_address: String,
    pid: u32,
}

fn parse_endpoint(line: &str) -> Option<Endpoint> {
    let mut words = line.split_whitespace();
    if words.next()? != "node" {
        return None;
    }
    let node_id = words.next()?.parse().ok()?;
    let mut endpoint = Endpoint {
        node_id,
        data_center: String::new(),
        api_address: String::new(),
        metrics_address: String::new(),
        pid: 0,
    };
    for word in words {
        let (key, value) = word.split_once('=')?;
        match key {
            "dc" => endpoint.data_center = value.to_owned(),
            "api" => endpoint.api_address = value.to_owned(),
            "metrics" => {
                let address = value.strip_prefix("http://")?.strip_suffix("/metrics")?;
                endpoint.metrics_address = address.to_owned();
            }
            "pid" => endpoint.pid = value.parse().ok()?,
            _ => {}
        }
    }
    Some(endpoint)
}

fn is_running(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn send_sigint(pid: u32) {
    let status = Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -INT {pid}");
}

/// Kills `dev up` and every node it reported if the test ends early (a failed assertion).
struct Cleanup {
    dev_up: Child,
    node_pids: Vec<u32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.dev_up.kill();
        let _ = self.dev_up.wait();
        for pid in &self.node_pids {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_up_serves_five_nodes_in_three_data_centers_and_stops_them_all_on_sigint() {
    bounded(async {
        let started = Instant::now();
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut dev_up = Command::new(env!("CARGO_BIN_EXE_tianping"))
            .args(["dev", "up", "--fresh", "--timeout", "30", "--data-dir"])
            .arg(directory.path().join("cluster"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tianping dev up");
        let stdout = dev_up.stdout.take().expect("stdout");
        let mut cleanup = Cleanup { dev_up, node_pids: Vec::new() };
        let (lines_in, lines) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("dev up | {line}");
                if lines_in.send(line).is_err() {
                    break;
                }
            }
        });

        // The banner: the ready line, one line per node, the example, "Ctrl-C stops …".
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut ready = false;
        let mut endpoints = Vec::new();
        let mut output = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|error| {
                panic!("no complete ready banner in {READY_TIMEOUT:?} ({error}): {output:#?}")
            });
            output.push(line.clone());
            if line.starts_with("tianping dev: ready") {
                ready = true;
            } else if ready && let Some(endpoint) = parse_endpoint(&line) {
                cleanup.node_pids.push(endpoint.pid);
                endpoints.push(endpoint);
            } else if ready && line.contains("Ctrl-C stops all nodes") {
                break;
            }
        }
        eprintln!("dev up ready after {:.1}s", started.elapsed().as_secs_f64());
        let ids: Vec<u64> = endpoints.iter().map(|endpoint| endpoint.node_id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        let data_centers: Vec<&str> =
            endpoints.iter().map(|endpoint| endpoint.data_center.as_str()).collect();
        assert_eq!(data_centers, ["dc-a", "dc-a", "dc-b", "dc-b", "dc-c"]);
        assert!(output.iter().any(|line| line.trim_start().starts_with("try: ")), "{output:#?}");
        assert!(
            output.iter().any(|line| line.contains("bank simulator serving at")),
            "{output:#?}"
        );
        for endpoint in &endpoints {
            assert!(is_running(endpoint.pid), "node {} runs", endpoint.node_id);
        }

        // A write through the lone dc-c node, then every printed endpoint reads it back.
        let writer = LedgerClient::connect(format!("http://{}", endpoints[4].api_address))
            .await
            .expect("connect to node 5");
        let request = CreateAccountsRequest {
            accounts: vec![NewAccount {
                id: "7".into(),
                ledger: 156,
                code: 1,
                ..Default::default()
            }],
        };
        let created = retry_unavailable(|| {
            let (mut client, request) = (writer.clone(), request.clone());
            async move { client.create_accounts(request).await }
        })
        .await;
        assert_eq!(created.results[0].code_name, "ok");
        for endpoint in &endpoints {
            let mut reader = LedgerClient::connect(format!("http://{}", endpoint.api_address))
                .await
                .expect("connect");
            let mut found = false;
            for _ in 0..LOOKUP_ATTEMPTS_MAX {
                let accounts = reader
                    .lookup_accounts(LookupRequest { ids: vec!["7".into()], read: None })
                    .await
                    .expect("lookup accounts")
                    .into_inner()
                    .accounts;
                if accounts.len() == 1 {
                    found = true;
                    break;
                }
                tokio::time::sleep(LOOKUP_PAUSE).await;
            }
            assert!(found, "node {} reads the account", endpoint.node_id);
            // Every node serves Prometheus metrics on the printed endpoint.
            let address = endpoint.metrics_address.parse().expect("metrics address printed");
            let (status, text) = scrape(address).await;
            assert!(status.contains("200"), "node {}: {status}", endpoint.node_id);
            let applied = sample(&text, "tianping_applied_index").expect("applied index");
            assert!(applied >= created.log_index as f64, "node {}: {text}", endpoint.node_id);
        }

        // Money out through the local bank, as the banner suggests: the payout ends
        // `succeeded` through one of the workers and the simulated ISO 20022 bank.
        let addresses = endpoints.iter().map(|endpoint| endpoint.api_address.clone());
        let client = Client::new(ClientConfig::new(addresses)).expect("client");
        let bank = BANKS[0];
        let payout = NewPayout {
            id: 90_001,
            debit_account_id: CUSTOMER_ACCOUNT,
            credit_account_id: bank.bank_in_transit,
            amount: 12_500,
            ledger: LEDGER,
            code: PAYOUT_CODE,
            bank: bank.bank,
            beneficiary: EXAMPLE_BENEFICIARY.to_owned(),
            ..NewPayout::default()
        };
        client.create_payout(payout).await.expect("payout reserved");
        let deadline = Instant::now() + PAYOUT_FINAL_TIMEOUT;
        loop {
            let state = client.get_payout(90_001).await.expect("lookup").expect("stored").state;
            if state.is_final() {
                assert_eq!(state, PayoutState::Succeeded);
                break;
            }
            assert!(Instant::now() < deadline, "payout still {state:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // SIGINT, as Ctrl-C sends it: dev up stops every node and exits successfully.
        let stop_started = Instant::now();
        send_sigint(cleanup.dev_up.id());
        let status = loop {
            if let Some(status) = cleanup.dev_up.try_wait().expect("wait for dev up") {
                break status;
            }
            assert!(stop_started.elapsed() < STOP_TIMEOUT, "dev up did not exit after SIGINT");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "dev up exited with {status}");
        for endpoint in &endpoints {
            assert!(!is_running(endpoint.pid), "node {} still runs", endpoint.node_id);
        }
        // The reader thread ends when dev up's stdout closes (the nodes log to files).
        let mut rest = Vec::new();
        while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        assert!(rest.iter().any(|line| line.contains("all nodes stopped")), "{rest:#?}");
        eprintln!(
            "dev up stopped in {:.1}s; whole test {:.1}s",
            stop_started.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        cleanup.node_pids.clear();
    })
    .await;
}
