//! `tianping dev up`: a local 5-node (or 3-node) / 3-data-center cluster of `tianping node`
//! child processes on loopback, kept up until Ctrl-C.
//!
//! The cluster itself — configs, ports, initialization, health, stopping — is
//! `tianping_supervisor::LocalCluster` (shared with `cargo xtask` and the tests); this module
//! is the command: its flags, its progress lines, the ready banner, and waiting for Ctrl-C.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tianping_client::{AccountFlags, Client, ClientConfig, NewAccount, NewTransfer, ResultCode};
use tianping_supervisor::banks::{
    BANKS, CUSTOMER_ACCOUNT, CUSTOMER_FUNDS, EXAMPLE_BENEFICIARY, FUNDING_ACCOUNT,
    FUNDING_TRANSFER, LEDGER, MirrorSums, PAYOUT_CODE, RECONCILER_BALANCE_PERIOD_MS,
    custody_balance,
};
use tianping_supervisor::{
    ClusterSecurity, LocalBanks, LocalCluster, NODES_3, NODES_5, REGION, Shape, UpConfig,
};

/// Options of `tianping dev up`.
#[derive(Debug, clap::Args)]
pub struct UpOptions {
    /// Directory holding every node's data, configuration and log (`node-1` … `node-5`).
    /// Kept between runs: a second `dev up` restarts the same cluster on the same ports.
    #[arg(long, env = "TIANPING_DEV_DATA_DIR", value_name = "DIR", default_value = "tianping-dev")]
    pub data_dir: PathBuf,
    /// Delete the data directory first and start a brand-new cluster.
    #[arg(long)]
    pub fresh: bool,
    /// Longest to wait for the cluster to become healthy, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// How many voters: 5 (2 + 2 + 1 in dc-a, dc-b, dc-c) or 3 (one per data center). Fixed
    /// when the cluster is first made; a restart must name the same number.
    #[arg(long, value_name = "N", value_enum, default_value = "5")]
    pub voters: Voters,
    /// Start only the nodes: no bank simulator, no bank workers, no bank accounts.
    #[arg(long)]
    pub no_banks: bool,
}

/// The cluster sizes `dev up` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Voters {
    /// One voter in each of dc-a, dc-b, dc-c.
    #[value(name = "3")]
    Three,
    /// 2 + 2 + 1 voters in dc-a, dc-b, dc-c.
    #[value(name = "5")]
    Five,
}

impl UpOptions {
    /// The nodes to run: id and data center.
    fn shape(&self) -> Shape {
        match self.voters {
            Voters::Three => NODES_3,
            Voters::Five => NODES_5,
        }
    }
}

/// Runs `tianping dev up` until Ctrl-C: with mutual TLS from development certificates made
/// under the data directory, unless `insecure` (the global `--insecure`).
pub async fn up(options: UpOptions, insecure: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let executable = std::env::current_exe().context("finding the tianping binary")?;
    let config = UpConfig {
        data_dir: options.data_dir.clone(),
        fresh: options.fresh,
        shape: options.shape(),
        timeout: Duration::from_secs(options.timeout),
        security: if insecure {
            ClusterSecurity::Insecure
        } else {
            ClusterSecurity::DevCertificates
        },
    };
    let (mut cluster, up) =
        LocalCluster::up(&executable, &config, &mut |line| println!("tianping dev: {line}"))
            .await?;
    print_ready(&cluster, up.leader, started);
    let data_dir = cluster.data_dir().to_path_buf();
    let mut banks = if options.no_banks {
        None
    } else {
        let addresses = cluster.api_addresses();
        let mut client_config = ClientConfig::new(addresses.iter().cloned());
        client_config.tls = cluster.client_tls().cloned();
        let client = Client::new(client_config).context("cluster client")?;
        open_bank_accounts(&client).await?;
        let custody_balances = custody_balances(&client).await?;
        let data_centers: Vec<&str> = {
            let mut seen: Vec<&str> =
                cluster.nodes().iter().map(|node| node.settings.data_center.as_str()).collect();
            seen.dedup();
            seen
        };
        let banks = LocalBanks::up(
            &executable,
            &data_dir,
            &addresses,
            cluster.client_tls(),
            &data_centers,
            custody_balances,
            &mut |line| println!("tianping dev: {line}"),
        )
        .await?;
        print_banks(&banks, &addresses[0]);
        Some(banks)
    };
    println!(
        "tianping dev: Ctrl-C stops all nodes{}",
        if banks.is_some() { ", the bank simulator and the workers" } else { "" }
    );

    let mut report_exit = |node_id: u64, status: std::process::ExitStatus| {
        println!(
            "tianping dev: node {node_id} exited ({status}); see {}",
            data_dir.join(format!("node-{node_id}")).join("node.log").display()
        );
    };
    tokio::select! {
        biased;
        signal = tokio::signal::ctrl_c() => {
            signal.context("waiting for Ctrl-C")?;
            println!("tianping dev: Ctrl-C: stopping all nodes");
        }
        () = cluster.wait_all_exited(&mut report_exit) => {
            println!("tianping dev: every node exited; see the node-N/node.log files");
        }
    }
    if let Some(banks) = banks.as_mut() {
        for process in banks.stop() {
            println!("tianping dev: the {process} did not stop in time; killed it");
        }
    }
    for node_id in cluster.stop() {
        println!("tianping dev: node {node_id} did not stop in time; killed it");
    }
    println!("tianping dev: all nodes stopped");
    Ok(())
}

/// Opens the ledger accounts the local banks use and funds the customer account; a restart
/// finds them and answers `exists`.
async fn open_bank_accounts(client: &Client) -> anyhow::Result<()> {
    let account = |id: u128, flags: AccountFlags| NewAccount {
        id,
        ledger: LEDGER,
        code: 1,
        flags,
        ..NewAccount::default()
    };
    let mut accounts = vec![
        account(FUNDING_ACCOUNT, AccountFlags::NONE),
        account(CUSTOMER_ACCOUNT, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
    ];
    for bank in &BANKS {
        for id in [bank.bank_in_transit, bank.settlement, bank.suspense] {
            accounts.push(account(id, AccountFlags::NONE));
        }
    }
    for (account, result) in accounts.iter().zip(client.create_accounts(&accounts).await?) {
        if !matches!(result.code, ResultCode::Ok | ResultCode::Exists) {
            anyhow::bail!(
                "opening bank account {}: {}",
                account.id,
                tianping_proto::convert::result_code_name(result.code)
            );
        }
    }
    let funding = NewTransfer {
        id: FUNDING_TRANSFER,
        debit_account_id: FUNDING_ACCOUNT,
        credit_account_id: CUSTOMER_ACCOUNT,
        amount: CUSTOMER_FUNDS,
        ledger: LEDGER,
        code: 1,
        ..NewTransfer::default()
    };
    // `ok` the first time, `exists` on a restart: both answer Ok.
    client.create_transfer(funding).await.context("funding the customer account")?;
    Ok(())
}

/// Each local bank's custody balance as the ledger's mirror accounts explain it: the bank
/// simulator, which forgets everything when it stops, opens the accounts with it, so a
/// restarted cluster's books and banks agree (a fresh cluster's are the opening balances).
async fn custody_balances(client: &Client) -> anyhow::Result<[u128; BANKS.len()]> {
    let mut balances = [0; BANKS.len()];
    for (bank, balance) in BANKS.iter().zip(balances.iter_mut()) {
        let ids = [bank.settlement, bank.bank_in_transit];
        let accounts = client.lookup_accounts(&ids).await.context("reading the bank mirrors")?;
        let sums = |id: u128| {
            accounts.iter().find(|account| account.id == id).map(|account| MirrorSums {
                debits_posted: account.debits_posted,
                credits_posted: account.credits_posted,
            })
        };
        let (Some(settlement), Some(in_transit)) =
            (sums(bank.settlement), sums(bank.bank_in_transit))
        else {
            anyhow::bail!("bank {}: the ledger holds no mirror accounts {ids:?}", bank.bank);
        };
        *balance = custody_balance(bank, settlement, in_transit)?;
    }
    Ok(balances)
}

/// The banks' part of the banner: where they are and a payout to try.
fn print_banks(banks: &LocalBanks, address: &str) {
    for bank in &BANKS {
        println!(
            "  bank {} ({}) = {} custody {} ; ledger accounts in-transit {} settlement {} suspense {}",
            bank.bank,
            bank.protocol,
            banks.bank_url(bank.bank_id),
            bank.custody,
            bank.bank_in_transit,
            bank.settlement,
            bank.suspense
        );
    }
    println!("  workers: one per data center; configs and logs in {}", banks.directory().display());
    println!(
        "  customer account {CUSTOMER_ACCOUNT} on ledger {LEDGER} holds {CUSTOMER_FUNDS} (minor units, CNY)"
    );
    let bank = BANKS[0];
    println!(
        "  pay out: tianping --addr {address} payout create --id 90001 --debit {CUSTOMER_ACCOUNT} --credit {} --amount 12500 --ledger {LEDGER} --code {PAYOUT_CODE} --bank {} --beneficiary {EXAMPLE_BENEFICIARY} --wait",
        bank.bank_in_transit, bank.bank
    );
    println!("   then: tianping --addr {address} payout show 90001");
    println!(
        "  reconcilers: one per data center, a balance check every {} s; findings: tianping --addr {address} reconcile report --since 1h",
        RECONCILER_BALANCE_PERIOD_MS / 1_000
    );
    println!(
        "   bank: curl -s {}/admin/accounts   (custody {} down by 125.00)",
        banks.bank_url(bank.bank_id),
        bank.custody
    );
}

/// The ready banner: one line per node, a client example and how to stop.
fn print_ready(cluster: &LocalCluster, leader: u64, started: Instant) {
    let nodes = cluster.nodes();
    let data_centers: std::collections::BTreeSet<&str> =
        nodes.iter().map(|node| node.settings.data_center.as_str()).collect();
    println!(
        "tianping dev: ready in {:.1}s: {} voters in {} data centers, leader node {leader}",
        started.elapsed().as_secs_f64(),
        nodes.len(),
        data_centers.len()
    );
    let mut example_address = String::new();
    for node in nodes {
        let Some(addresses) = node.addresses.as_ref() else { continue };
        if example_address.is_empty() {
            example_address = addresses.api_address.clone();
        }
        println!(
            "  node {} region={REGION} dc={} api={} raft={} metrics={} pid={} log={}",
            node.node_id,
            node.settings.data_center,
            addresses.api_address,
            addresses.raft_address,
            addresses
                .metrics_address
                .as_ref()
                .map_or_else(|| "-".to_owned(), |address| format!("http://{address}/metrics")),
            node.pid().map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
            node.files().log.display()
        );
    }
    // Both need nothing but a running node: grpcurl learns the API from server reflection.
    println!(
        "  try: tianping --addr {example_address} account create --id 1 --ledger 156 --code 1"
    );
    let grpcurl_security = match cluster.client_tls() {
        Some(files) => {
            println!(
                "  tls: mutual TLS; certificates in {} (the CLI uses operator.pem when run from \
                 the directory holding {} or with TIANPING_DEV_DATA_DIR={})",
                files.ca.parent().map_or_else(String::new, |dir| dir.display().to_string()),
                cluster
                    .data_dir()
                    .file_name()
                    .map_or_else(String::new, |name| { name.to_string_lossy().into_owned() }),
                cluster.data_dir().display()
            );
            format!(
                "-cacert {} -cert {} -key {}",
                files.ca.display(),
                files.cert.display(),
                files.key.display()
            )
        }
        None => "-plaintext".to_owned(),
    };
    println!(
        "   or: grpcurl {grpcurl_security} -d '{{\"accounts\":[{{\"id\":\"1\",\"ledger\":156,\"code\":1}}]}}' {example_address} tianping.v1.Ledger/CreateAccounts"
    );
}
