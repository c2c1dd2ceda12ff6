//! Money out through a bank, end to end on real parts: an in-process three-node cluster, the
//! bank simulator over HTTP and a bank worker with the real ISO 20022 gateway (issue 12).
//!
//! - a payout ends `succeeded`, paid once at the bank, and the bank's balances and the
//!   ledger's agree;
//! - the 2024-05-16 incident: an internal prepayment account without enough balance refuses
//!   the payout at creation with `exceeds_credits`, nothing reaches the bank, nothing is left
//!   non-final, and the low-balance alert (metric) fired before the account ran dry;
//! - `tianping bank-fault … drop-booking`: the bank answers "executed" and books nothing, so
//!   the ledger and the bank now differ by that payout, and `tianping reconcile serve` finds it
//!   (`missing_at_bank`), the customer's next payout is refused with the block code, and after
//!   an operator resolves the discrepancy it pays again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tianping_bank_adapters::connection::{BankConnection, connect};
use tianping_bank_adapters::gateway::EndToEndId;
use tianping_bank_sim::config::SimConfig;
use tianping_bank_worker::{WorkerConfig, WorkerMetrics};
use tianping_client::{
    AccountFlags, Client, ClientConfig, DiscrepancyClass, DiscrepancyQuery, Error, NewAccount,
    NewPayout, NewTransfer, PayoutQuery, PayoutState, ResolveDiscrepancy, ResultCode,
};
use tianping_node::{NodeConfig, NodeHandle};

/// Longest the whole test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest a payout may take to become final with a healthy bank.
const FINAL_WITHIN: Duration = Duration::from_secs(30);

const LEDGER: u32 = 1;
const BANK: u32 = 1;
/// The funding account (no balance limit), the customer, and the bank's ledger accounts.
const FUNDING: u128 = 1;
const CUSTOMER: u128 = 10;
const PREPAYMENT: u128 = 20;
const BANK_IN_TRANSIT: u128 = 1000;
const SETTLEMENT: u128 = 1001;
const SUSPENSE: u128 = 1002;
/// Our custody account at the simulated bank, and a beneficiary there.
const CUSTODY: &str = "110060149018000123";
const BENEFICIARY: &str = "6222020200001234567";
/// The prepayment account's low-balance threshold (minor units).
const LOW_BALANCE_THRESHOLD: u128 = 5_000;

const SIM_CONFIG: &str = r#"
seed = 7
[[banks]]
id = "iso-a"
name = "Simulated ISO 20022 bank A"
protocol = "iso20022"
[[banks.accounts]]
number = "110060149018000123"
name = "Tianping custody A"
currency = "CNY"
opening_balance = "10000.00"
[[banks.accounts]]
number = "6222020200001234567"
name = "Merchant one"
currency = "CNY"
opening_balance = "0.00"
"#;

fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Three nodes, one per data center, made one cluster; returns them and their API addresses.
async fn start_cluster(directory: &std::path::Path) -> (Vec<NodeHandle>, Vec<String>) {
    let mut nodes = Vec::new();
    for node_id in 1..=3_u64 {
        let mut config = NodeConfig::new(
            node_id,
            loopback_any_port(),
            loopback_any_port(),
            directory.join(format!("node-{node_id}")),
        );
        config.data_center = format!("dc-{node_id}");
        config.insecure = true;
        nodes.push(
            tianping_node::start(config, tianping_node::Production).await.expect("node starts"),
        );
    }
    let members: BTreeMap<_, _> =
        nodes.iter().map(|node| (node.node_id(), node.info().clone())).collect();
    nodes[0].initialize(members).await.expect("initialize");
    let addresses = nodes.iter().map(|node| node.info().api_address.clone()).collect();
    (nodes, addresses)
}

fn account(id: u128, flags: AccountFlags) -> NewAccount {
    NewAccount { id, ledger: LEDGER, code: 1, flags, ..NewAccount::default() }
}

/// The ledger side of the bank: accounts, and money on the customer and prepayment accounts.
async fn open_accounts(client: &Client) {
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let accounts = [
        account(FUNDING, AccountFlags::NONE),
        account(CUSTOMER, limited),
        account(PREPAYMENT, limited),
        account(BANK_IN_TRANSIT, AccountFlags::NONE),
        account(SETTLEMENT, AccountFlags::NONE),
        account(SUSPENSE, AccountFlags::NONE),
    ];
    for result in client.create_accounts(&accounts).await.expect("accounts") {
        assert_eq!(result.code, ResultCode::Ok, "{result:?}");
    }
    for (id, to, amount) in [(1, CUSTOMER, 100_000), (2, PREPAYMENT, 10_000)] {
        let funding = NewTransfer {
            id,
            debit_account_id: FUNDING,
            credit_account_id: to,
            amount,
            ledger: LEDGER,
            code: 1,
            ..NewTransfer::default()
        };
        let result = client.create_transfer(funding).await.expect("funding");
        assert_eq!(result.code, ResultCode::Ok, "{result:?}");
    }
}

fn worker_config(cluster: &[String], bank_url: &str) -> WorkerConfig {
    let cluster: Vec<String> = cluster.iter().map(|address| format!("{address:?}")).collect();
    let text = format!(
        r#"
cluster = [{cluster}]
worker_id = "77"
lease_ms = 20000
claim_batch = 16

[[banks]]
bank = {BANK}
ledger = {LEDGER}
currency = "CNY"
bank_in_transit_account = "{BANK_IN_TRANSIT}"
settlement_account = "{SETTLEMENT}"
suspense_account = "{SUSPENSE}"
collection_code = 4
reversal_code = 5
debtor_account = "{CUSTODY}"
debtor_name = "Tianping custody A"
[banks.connection]
protocol = "iso20022"
url = "{bank_url}"
initiating_party = "Tianping"

[[low_balance]]
name = "prepayment"
account = "{PREPAYMENT}"
threshold = "{LOW_BALANCE_THRESHOLD}"
"#,
        cluster = cluster.join(", ")
    );
    WorkerConfig::from_toml(&text).expect("worker configuration")
}

/// The reconciler's lateness in this test: seconds, so its window closes within the test.
const RECONCILER_LATENESS: Duration = Duration::from_secs(2);
/// Longest the reconciler may take to find a difference here: a few periods past the lateness.
const RECONCILER_FINDS_WITHIN: Duration = Duration::from_secs(20);

fn reconciler_toml(cluster: &[String], bank_url: &str) -> String {
    let cluster: Vec<String> = cluster.iter().map(|address| format!("{address:?}")).collect();
    format!(
        r#"
name = "reconciler-test"
cluster = [{cluster}]
balance_period_ms = 1000
lateness_ms = {lateness}

[[banks]]
bank = {BANK}
currency = "CNY"
account = "{CUSTODY}"
bank_in_transit_account = "{BANK_IN_TRANSIT}"
settlement_account = "{SETTLEMENT}"
suspense_account = "{SUSPENSE}"
reversal_code = 5
opening_baseline = "10000.00"
[banks.connection]
protocol = "iso20022"
url = "{bank_url}"
initiating_party = "Tianping"
"#,
        cluster = cluster.join(", "),
        lateness = RECONCILER_LATENESS.as_millis()
    )
}

fn payout(id: u128, debit: u128, amount: u128) -> NewPayout {
    NewPayout {
        id,
        debit_account_id: debit,
        credit_account_id: BANK_IN_TRANSIT,
        amount,
        ledger: LEDGER,
        code: 2,
        bank: BANK,
        beneficiary: BENEFICIARY.to_owned(),
        ..NewPayout::default()
    }
}

/// Reads payout `id` until it is final.
async fn final_state(client: &Client, id: u128) -> PayoutState {
    let deadline = tokio::time::Instant::now() + FINAL_WITHIN;
    loop {
        let payout = client.get_payout(id).await.expect("lookup").expect("payout stored");
        if payout.state.is_final() {
            return payout.state;
        }
        assert!(tokio::time::Instant::now() < deadline, "payout {id} still {:?}", payout.state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn metric(metrics: &WorkerMetrics, line_start: &str) -> Option<String> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, metrics.registry()).expect("encode");
    text.lines().find(|line| line.starts_with(line_start)).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_is_paid_once_and_the_bank_and_the_ledger_agree_and_a_short_prepayment_refuses_early()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let directory = tempfile::tempdir().expect("temporary directory");
        let (nodes, addresses) = start_cluster(directory.path()).await;
        let client = Client::new(ClientConfig::new(addresses.clone())).expect("client");
        open_accounts(&client).await;

        let sim_config: SimConfig = toml::from_str(SIM_CONFIG).expect("simulator configuration");
        let (stop_bank, bank_stopped) = tokio::sync::oneshot::channel::<()>();
        let bank = tianping_bank_sim::server::serve(&sim_config, loopback_any_port(), async {
            let _ = bank_stopped.await;
        })
        .await
        .expect("bank simulator serves");

        let config = worker_config(&addresses, &bank.bank_url("iso-a"));
        let connection: BankConnection =
            config.banks[0].connection.clone().expect("connection configured");
        let gateway = connect(BANK, &connection, directory.path()).expect("gateway");
        let metrics = WorkerMetrics::new();
        let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
        let worker =
            tianping_bank_worker::run(config, BTreeMap::from([(BANK, gateway)]), &metrics, async {
                let _ = worker_stopped.await;
            });

        let scenario = async {
            // A payout from the customer: succeeded, paid once, both sides agree.
            let created = client.create_payout(payout(9_001, CUSTOMER, 12_500)).await;
            assert_eq!(created.expect("create").code, ResultCode::Ok);
            assert_eq!(final_state(&client, 9_001).await, PayoutState::Succeeded);
            {
                let simulator = bank.simulator().lock().expect("simulator lock");
                let hosted = simulator.bank("iso-a").expect("bank iso-a");
                let e2e = EndToEndId::from_payout_id(9_001).expect("end-to-end id");
                let record = hosted.bank.instructions().get(&e2e).expect("the bank got it");
                assert_eq!(record.attempts, 1, "sent once: {record:?}");
                assert_eq!(hosted.bank.accounts()[BENEFICIARY].balance, 12_500);
                assert_eq!(hosted.bank.accounts()[CUSTODY].balance, 1_000_000 - 12_500);
            }
            let accounts =
                client.lookup_accounts(&[CUSTOMER, BANK_IN_TRANSIT]).await.expect("accounts");
            assert_eq!(accounts[0].debits_posted, 12_500);
            assert_eq!(accounts[0].debits_pending, 0);
            assert_eq!(accounts[1].credits_posted, 12_500);

            // The 2024-05-16 incident: the prepayment account holds 10 000. A payout of 6 000
            // goes through and leaves 4 000, at or below the 5 000 threshold: the alert fires.
            let created = client.create_payout(payout(9_101, PREPAYMENT, 6_000)).await;
            assert_eq!(created.expect("create").code, ResultCode::Ok);
            assert_eq!(final_state(&client, 9_101).await, PayoutState::Succeeded);
            let alert = "tianping_bank_low_balance{account=\"prepayment\"} 1";
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while metric(&metrics, "tianping_bank_low_balance{").as_deref() != Some(alert) {
                assert!(tokio::time::Instant::now() < deadline, "no low-balance alert");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // The next 6 000 cannot be covered: refused at creation with a clear code...
            let refused = client.create_payout(payout(9_102, PREPAYMENT, 6_000)).await;
            assert!(
                matches!(refused, Err(Error::Refused { code: ResultCode::ExceedsCredits, .. })),
                "{refused:?}"
            );
            // ... nothing reaches the bank ...
            tokio::time::sleep(Duration::from_secs(1)).await;
            {
                let simulator = bank.simulator().lock().expect("simulator lock");
                let hosted = simulator.bank("iso-a").expect("bank iso-a");
                let e2e = EndToEndId::from_payout_id(9_102).expect("end-to-end id");
                assert!(hosted.bank.instructions().get(&e2e).is_none(), "the bank never saw it");
                hosted.bank.check_conservation().expect("the bank's money is conserved");
            }
            // ... and nothing is left non-final.
            for state in [
                PayoutState::Reserved,
                PayoutState::Claimed,
                PayoutState::Sent,
                PayoutState::Unknown,
            ] {
                let page = client.list_payouts(&PayoutQuery::new(state), None).await.expect("list");
                assert!(page.items.is_empty(), "{state:?} payouts left: {:?}", page.items);
            }
            assert!(client.get_payout(9_102).await.expect("lookup").is_none());

            // `tianping bank-fault`: the bank is told to drop payout 9 003's booking. It answers
            // "executed", so the ledger books the payout as paid, while the bank's books never
            // move: exactly the difference reconciliation exists to find.
            let sim = format!("http://{}", bank.local_addr());
            let told = tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_tianping"))
                    .args(["bank-fault", "--sim", &sim, "--bank", "iso-a", "--payout", "9003"])
                    .arg("drop-booking")
                    .output()
            })
            .await
            .expect("join")
            .expect("run tianping bank-fault");
            assert!(told.status.success(), "{}", String::from_utf8_lossy(&told.stderr));
            let created = client.create_payout(payout(9_003, CUSTOMER, 700)).await;
            assert_eq!(created.expect("create").code, ResultCode::Ok);
            assert_eq!(final_state(&client, 9_003).await, PayoutState::Succeeded);
            {
                let simulator = bank.simulator().lock().expect("simulator lock");
                let hosted = simulator.bank("iso-a").expect("bank iso-a");
                assert_eq!(
                    hosted.bank.accounts()[CUSTODY].balance,
                    1_000_000 - 12_500 - 6_000,
                    "the dropped booking never left custody"
                );
                hosted.bank.check_conservation().expect("the bank's own books still balance");
            }
            let transit = client.lookup_accounts(&[BANK_IN_TRANSIT]).await.expect("account");
            assert_eq!(transit[0].credits_posted, 12_500 + 6_000 + 700, "the ledger says paid");

            // The reconciler (`tianping reconcile serve`, one period a second) finds it within a
            // few periods: missing at the bank, recorded in the ledger, the customer's account
            // outflow-blocked; the next payout is refused with the block code; once an operator
            // resolves the discrepancy, the account pays again.
            let reconciler_config = directory.path().join("reconciler.toml");
            std::fs::write(
                &reconciler_config,
                reconciler_toml(&addresses, &bank.bank_url("iso-a")),
            )
            .expect("write the reconciler's configuration");
            let mut reconciler = std::process::Command::new(env!("CARGO_BIN_EXE_tianping"))
                .args(["reconcile", "serve", "--config"])
                .arg(&reconciler_config)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start tianping reconcile serve");
            let dropped = |found: &tianping_client::Discrepancy| {
                found.request.class == DiscrepancyClass::MissingAtBank
                    && found.request.ledger_amount == Some(700)
                    && found.request.account_ids == vec![CUSTOMER]
            };
            let deadline = tokio::time::Instant::now() + RECONCILER_FINDS_WITHIN;
            let found = loop {
                let listed = client
                    .list_discrepancies(&DiscrepancyQuery::default(), None)
                    .await
                    .expect("listed")
                    .items;
                if let Some(found) = listed.iter().find(|found| dropped(found)) {
                    break found.clone();
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the dropped booking was not found: {listed:?}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            };
            reconciler.kill().expect("stop the reconciler");
            reconciler.wait().expect("the reconciler stopped");
            assert_eq!(found.blocked_account_ids, vec![CUSTOMER], "{found:?}");
            let refused = client.create_payout(payout(9_004, CUSTOMER, 100)).await;
            assert!(
                matches!(
                    refused,
                    Err(Error::Refused { code: ResultCode::DebitAccountOutflowBlocked, .. })
                ),
                "{refused:?}"
            );
            let resolution = ResolveDiscrepancy {
                id: found.request.id,
                reason: "bank rebooked the payout".into(),
                actor: "ops:test".into(),
            };
            client.resolve_discrepancies(&[resolution]).await.expect("resolved");
            let created = client.create_payout(payout(9_005, CUSTOMER, 100)).await;
            assert_eq!(created.expect("create").code, ResultCode::Ok);
            assert_eq!(final_state(&client, 9_005).await, PayoutState::Succeeded);
            let _ = stop_worker.send(());
        };
        let (ran, ()) = tokio::join!(worker, scenario);
        ran.expect("the worker stops cleanly");
        let _ = stop_bank.send(());
        bank.wait().await.expect("the bank simulator stops");
        for node in nodes {
            node.shutdown().await.expect("clean shutdown");
        }
    })
    .await
    .expect("test ran past TEST_TIMEOUT");
}
