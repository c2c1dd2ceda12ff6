//! `tianping dev up` as a user runs it: a real process that starts five node processes,
//! prints their endpoints when the cluster is healthy, and stops every one on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{CreateAccountsRequest, LookupRequest, NewAccount};

use tianping_client::{
    Client, ClientConfig, DiscrepancyClass, DiscrepancyQuery, Error, NewPayout, PayoutState,
    ResultCode,
};
use tianping_supervisor::banks::{
    BANKS, CUSTOMER_ACCOUNT, EXAMPLE_BENEFICIARY, LEDGER, PAYOUT_CODE, RECONCILER_BALANCE_PERIOD_MS,
};

use crate::support::{bounded, retry_unavailable, sample, scrape};

/// Longest a payout may take to become final through the local bank.
const PAYOUT_FINAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest the reconcilers may take to report a dropped booking: one balance period, and as
/// much again for a slow machine (the figure is printed).
const RECONCILER_FINDS_WITHIN: Duration = Duration::from_millis(2 * RECONCILER_BALANCE_PERIOD_MS);

/// Longest `dev up` may take to print its ready banner.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest `dev up` may take to stop everything after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Most lookups while a replica catches up with a write (each waits `LOOKUP_PAUSE`).
const LOOKUP_ATTEMPTS_MAX: usize = 100;
const LOOKUP_PAUSE: Duration = Duration::from_millis(50);

/// Waits for payout `id` to become final and returns its state.
async fn final_state(client: &Client, id: u128) -> PayoutState {
    let deadline = Instant::now() + PAYOUT_FINAL_TIMEOUT;
    loop {
        let state = client.get_payout(id).await.expect("lookup").expect("stored").state;
        if state.is_final() {
            return state;
        }
        assert!(Instant::now() < deadline, "payout {id} still {state:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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

        // `dev up` runs mutual TLS with the certificates it made: a client without one is
        // refused at the handshake; with the operator's it writes through the lone dc-c node,
        // then every printed endpoint reads it back.
        let data_dir = directory.path().join("cluster");
        let operator = tianping_supervisor::cluster::operator_files(&data_dir)
            .expect("dev up made the operator's certificate");
        let channels = tianping_tls::Channels::from_files(Some(&operator)).expect("load TLS");
        let connect = |address: &str| {
            let endpoint = tianping_tls::Channels::endpoint(address).expect("endpoint");
            let channels = channels.clone();
            async move { channels.connect(endpoint).await.map(LedgerClient::new) }
        };
        let plaintext = match LedgerClient::connect(format!("http://{}", endpoints[4].api_address))
            .await
        {
            Err(_) => None,
            Ok(mut client) => Some(
                client.lookup_accounts(LookupRequest { ids: vec!["7".into()], read: None }).await,
            ),
        };
        assert!(
            plaintext.as_ref().is_none_or(Result::is_err),
            "a plaintext client is refused: {plaintext:?}"
        );
        let writer = connect(&endpoints[4].api_address).await.expect("connect to node 5");
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
            let mut reader = connect(&endpoint.api_address).await.expect("connect");
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
        let mut config = ClientConfig::new(addresses);
        config.tls = Some(operator.clone());
        let client = Client::new(config).expect("client");
        let bank = BANKS[0];
        let payout = NewPayout {
            id: 0,
            debit_account_id: CUSTOMER_ACCOUNT,
            credit_account_id: bank.bank_in_transit,
            amount: 12_500,
            ledger: LEDGER,
            code: PAYOUT_CODE,
            bank: bank.bank,
            beneficiary: EXAMPLE_BENEFICIARY.to_owned(),
            ..NewPayout::default()
        };
        let payout_of = |id: u128| NewPayout { id, ..payout.clone() };
        client.create_payout(payout_of(90_001)).await.expect("payout reserved");
        assert_eq!(final_state(&client, 90_001).await, PayoutState::Succeeded);

        // The README's reconciliation walkthrough, with the CLI as a user types it: the bank
        // drops the booking of payout 90002; within a balance period the reconcilers report
        // the difference and the customer's next payout is refused with the block code; after
        // `tianping account unblock` it pays again.
        let tianping = |arguments: &[&str]| {
            let output = Command::new(env!("CARGO_BIN_EXE_tianping"))
                .env("TIANPING_DEV_DATA_DIR", &data_dir)
                .args(["--addr", &endpoints[0].api_address])
                .args(arguments)
                .output()
                .expect("run tianping");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(
                output.status.success(),
                "tianping {arguments:?}: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            stdout
        };
        let listed = client.list_discrepancies(&DiscrepancyQuery::default(), None).await;
        assert!(listed.expect("listed").items.is_empty(), "a clean payout made a discrepancy");
        tianping(&["bank-fault", "--bank", "iso-a", "--payout", "90002", "drop-booking"]);
        client.create_payout(payout_of(90_002)).await.expect("payout reserved");
        assert_eq!(final_state(&client, 90_002).await, PayoutState::Succeeded);
        let paid = Instant::now();
        let found = loop {
            let listed = client
                .list_discrepancies(&DiscrepancyQuery::default(), None)
                .await
                .expect("listed")
                .items;
            let blocking = listed.into_iter().find(|found| {
                found.request.class == DiscrepancyClass::BalanceMismatch
                    && found.blocked_account_ids == vec![CUSTOMER_ACCOUNT]
            });
            if let Some(found) = blocking {
                break found;
            }
            assert!(paid.elapsed() < RECONCILER_FINDS_WITHIN, "no discrepancy reported");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        eprintln!(
            "the reconcilers found the dropped booking {:.1}s after it was paid",
            paid.elapsed().as_secs_f64()
        );
        assert_eq!(
            (found.request.ledger_amount, found.request.bank_amount),
            (Some(10_000_000 - 2 * 12_500), Some(10_000_000 - 12_500)),
            "{found:?}"
        );
        let report = tianping(&["reconcile", "report", "--since", "1h"]);
        assert!(report.contains("balance_mismatch"), "{report}");
        assert!(report.contains(&CUSTOMER_ACCOUNT.to_string()), "{report}");
        let refused = client.create_payout(payout_of(90_003)).await;
        assert!(
            matches!(
                refused,
                Err(Error::Refused { code: ResultCode::DebitAccountOutflowBlocked, .. })
            ),
            "{refused:?}"
        );
        tianping(&[
            "account",
            "unblock",
            &CUSTOMER_ACCOUNT.to_string(),
            "--reason",
            "bank confirmed the rebooking",
        ]);
        client.create_payout(payout_of(90_004)).await.expect("payout reserved");
        assert_eq!(final_state(&client, 90_004).await, PayoutState::Succeeded);

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
