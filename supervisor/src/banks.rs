//! `LocalBanks`: the money's way to and from banks beside a local cluster — one
//! `tianping bank-sim` process hosting two simulated banks (one of each protocol) and one
//! `tianping bank-worker` per data center serving both — with the configurations they run
//! on, written under `<data dir>/banks/`.
//!
//! The bank simulator keeps its state in memory: every `dev up` starts its banks afresh from
//! their opening balances (the ledger keeps its own). Its direct-connect bank's keys are
//! throwaway SM2 keys the simulator writes once under `banks/keys/` (`--generate-dev-keys`);
//! nothing here is for real money. The ledger accounts these configurations name are the
//! [`LedgerAccounts`] constants; `dev up` creates them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::SupervisorError;
use crate::child::{ChildProcess, POLL_INTERVAL, Stopped};

/// Longest the bank simulator may take to serve.
const BANK_SIM_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest a bank process may take to stop after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The ledger (currency) every local bank account is on: CNY in minor units (fen).
pub const LEDGER: u32 = 1;

/// The transfer code of a payout's reservation in the examples.
pub const PAYOUT_CODE: u16 = 2;

/// A customer account `dev up` opens and funds, to pay payouts from.
pub const CUSTOMER_ACCOUNT: u128 = 9_010;

/// What `dev up` puts on the customer account (minor units): 10 000.00 CNY.
pub const CUSTOMER_FUNDS: u128 = 1_000_000;

/// The account the customer's funds come from (no balance limit).
pub const FUNDING_ACCOUNT: u128 = 9_000;

/// The id of the transfer that funds the customer (fixed: a restart answers `exists`).
pub const FUNDING_TRANSFER: u128 = 9_000;

/// A beneficiary outside both banks (paid through clearing), for the examples.
pub const EXAMPLE_BENEFICIARY: &str = "6228480000000000001";

/// One simulated bank: its number in the ledger, its id at the simulator, its protocol, our
/// custody account there and the ledger accounts that mirror it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerAccounts {
    /// The ledger's bank number (a payout's `bank`).
    pub bank: u32,
    /// The simulator's bank id (its path `/banks/{id}`).
    pub bank_id: &'static str,
    /// `iso20022` or `direct`.
    pub protocol: &'static str,
    /// Our custody account at the bank, which pays the payouts.
    pub custody: &'static str,
    /// The custody account's holder name.
    pub custody_name: &'static str,
    /// Its opening balance at the bank, as decimal text.
    pub custody_opening: &'static str,
    /// Payouts reserve into it (customer → bank in transit).
    pub bank_in_transit: u128,
    /// Collections are debited from it.
    pub settlement: u128,
    /// Credits that cannot reach their beneficiary land here.
    pub suspense: u128,
}

/// The two local banks.
pub const BANKS: [LedgerAccounts; 2] = [
    LedgerAccounts {
        bank: 1,
        bank_id: "iso-a",
        protocol: "iso20022",
        custody: "110060149018000123",
        custody_name: "Tianping custody A",
        custody_opening: "100000.00",
        bank_in_transit: 9_100,
        settlement: 9_101,
        suspense: 9_102,
    },
    LedgerAccounts {
        bank: 2,
        bank_id: "direct-b",
        protocol: "direct",
        custody: "440001234567890",
        custody_name: "Tianping custody B",
        custody_opening: "50000.00",
        bank_in_transit: 9_200,
        settlement: 9_201,
        suspense: 9_202,
    },
];

/// The bank simulator and the workers of a local cluster; dropping it stops them all.
#[derive(Debug)]
pub struct LocalBanks {
    /// The simulator's address, `127.0.0.1:PORT`.
    bank_sim_address: String,
    bank_sim: ChildProcess,
    workers: Vec<(String, ChildProcess)>,
    directory: PathBuf,
}

impl LocalBanks {
    /// Starts the bank simulator and one worker per data center in `data_centers`, the
    /// workers talking to the cluster at `cluster` (client API addresses); files go under
    /// `data_dir/banks`. Returns once the simulator serves and every worker started.
    pub async fn up(
        binary: &Path,
        data_dir: &Path,
        cluster: &[String],
        data_centers: &[&str],
        progress: &mut dyn FnMut(String),
    ) -> Result<LocalBanks, SupervisorError> {
        let directory = data_dir.join("banks");
        std::fs::create_dir_all(&directory)
            .map_err(SupervisorError::file("creating", &directory))?;
        let sim_config = directory.join("bank-sim.toml");
        write(&sim_config, &bank_sim_toml())?;
        let address_file = directory.join("bank-sim.address");
        match std::fs::remove_file(&address_file) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(SupervisorError::file("removing", &address_file)(error));
            }
            _ => {}
        }
        let mut bank_sim = ChildProcess::new("bank simulator", directory.join("bank-sim.log"));
        let mut command = Command::new(binary);
        command
            .arg("bank-sim")
            .arg("--config")
            .arg(&sim_config)
            .args(["--listen", "127.0.0.1:0", "--generate-dev-keys"])
            .arg("--bound-address-file")
            .arg(&address_file);
        bank_sim.start(command)?;
        let bank_sim_address = wait_for_address(&mut bank_sim, &address_file).await?;
        progress(format!("bank simulator serving at http://{bank_sim_address}"));
        let mut banks = LocalBanks {
            bank_sim_address,
            bank_sim,
            workers: Vec::new(),
            directory: directory.clone(),
        };
        for (index, data_center) in data_centers.iter().enumerate() {
            let config = directory.join(format!("worker-{data_center}.toml"));
            let worker_id = u64::try_from(index).map_or(u64::MAX, |index| index + 1);
            write(&config, &banks.worker_toml(cluster, worker_id))?;
            let mut worker = ChildProcess::new(
                format!("bank worker of {data_center}"),
                directory.join(format!("worker-{data_center}.log")),
            );
            let mut command = Command::new(binary);
            command.arg("bank-worker").arg("--config").arg(&config);
            worker.start(command)?;
            banks.workers.push(((*data_center).to_owned(), worker));
        }
        progress(format!("bank workers started in {}", data_centers.join(", ")));
        Ok(banks)
    }

    /// The simulator's base URL of bank `bank_id`.
    pub fn bank_url(&self, bank_id: &str) -> String {
        format!("http://{}/banks/{bank_id}", self.bank_sim_address)
    }

    /// Where the configurations and logs are.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Names the first bank process that exited, with the end of its log.
    pub fn check_running(&mut self) -> Result<(), SupervisorError> {
        let processes =
            std::iter::once(&mut self.bank_sim).chain(self.workers.iter_mut().map(|(_, w)| w));
        for process in processes {
            if let Some(status) = process.exit_status() {
                return Err(SupervisorError::Usage(format!(
                    "{} exited ({status}); see {}:\n{}",
                    process.what(),
                    process.log().display(),
                    process.log_tail()
                )));
            }
        }
        Ok(())
    }

    /// Stops the workers, then the simulator (SIGINT, then SIGKILL after a timeout); names
    /// the ones that had to be killed.
    pub fn stop(&mut self) -> Vec<String> {
        let mut killed = Vec::new();
        for (_, worker) in &mut self.workers {
            if worker.stop(STOP_TIMEOUT) == Stopped::Killed {
                killed.push(worker.what().to_owned());
            }
        }
        if self.bank_sim.stop(STOP_TIMEOUT) == Stopped::Killed {
            killed.push(self.bank_sim.what().to_owned());
        }
        killed
    }

    /// A worker's configuration: the cluster, its id, both banks with their ledger accounts
    /// and connections, and the low-balance watch on the customer account.
    fn worker_toml(&self, cluster: &[String], worker_id: u64) -> String {
        let cluster: Vec<String> = cluster.iter().map(|address| format!("{address:?}")).collect();
        let mut text = format!(
            "# Written by `tianping dev up` on every start.\ncluster = [{}]\nworker_id = \"{worker_id}\"\nlease_ms = 30000\nclaim_batch = 32\n",
            cluster.join(", ")
        );
        let keys = self.directory.join("keys");
        for bank in &BANKS {
            text.push_str(&format!(
                "\n[[banks]]\nbank = {}\nledger = {LEDGER}\ncurrency = \"CNY\"\nbank_in_transit_account = \"{}\"\nsettlement_account = \"{}\"\nsuspense_account = \"{}\"\ncollection_code = 4\nreversal_code = 5\ndebtor_account = \"{}\"\ndebtor_name = \"{}\"\n[banks.connection]\nprotocol = \"{}\"\nurl = \"{}\"\n",
                bank.bank,
                bank.bank_in_transit,
                bank.settlement,
                bank.suspense,
                bank.custody,
                bank.custody_name,
                bank.protocol,
                self.bank_url(bank.bank_id),
            ));
            if bank.protocol == "direct" {
                let bank_keys = keys.join(bank.bank_id);
                text.push_str(&format!(
                    "app_id = \"tianping\"\nsigning_keys = {:?}\nbank_public_keys = {:?}\n",
                    bank_keys.join("client-signing.keys").display().to_string(),
                    bank_keys.join("bank-public.keys").display().to_string(),
                ));
            } else {
                text.push_str("initiating_party = \"Tianping\"\n");
            }
        }
        text.push_str(&format!(
            "\n[[low_balance]]\nname = \"customer-{CUSTOMER_ACCOUNT}\"\naccount = \"{CUSTOMER_ACCOUNT}\"\nthreshold = \"100000\"\n"
        ));
        text
    }
}

impl Drop for LocalBanks {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The simulator's configuration: the two banks with our custody accounts.
fn bank_sim_toml() -> String {
    let mut text = String::from("# Written by `tianping dev up` on every start.\nseed = 1\n");
    for bank in &BANKS {
        text.push_str(&format!(
            "\n[[banks]]\nid = \"{}\"\nname = \"Simulated bank {}\"\nprotocol = \"{}\"\n",
            bank.bank_id, bank.bank, bank.protocol
        ));
        if bank.protocol == "direct" {
            text.push_str(&format!(
                "[banks.direct]\napp_id = \"tianping\"\nsigning_keys = \"keys/{0}/bank-signing.keys\"\nclient_public_keys = \"keys/{0}/client-public.keys\"\n",
                bank.bank_id
            ));
        }
        text.push_str(&format!(
            "[[banks.accounts]]\nnumber = \"{}\"\nname = \"{}\"\ncurrency = \"CNY\"\nopening_balance = \"{}\"\n",
            bank.custody, bank.custody_name, bank.custody_opening
        ));
    }
    text
}

fn write(path: &Path, text: &str) -> Result<(), SupervisorError> {
    std::fs::write(path, text).map_err(SupervisorError::file("writing", path))
}

/// Waits for the simulator to write its bound address; an error if it exits first.
async fn wait_for_address(
    process: &mut ChildProcess,
    file: &Path,
) -> Result<String, SupervisorError> {
    let deadline = Instant::now() + BANK_SIM_START_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && !text.trim().is_empty()
        {
            return Ok(text.trim().to_owned());
        }
        if let Some(status) = process.exit_status() {
            return Err(SupervisorError::Usage(format!(
                "the bank simulator exited ({status}) before serving; see {}:\n{}",
                process.log().display(),
                process.log_tail()
            )));
        }
        if Instant::now() >= deadline {
            return Err(SupervisorError::Timeout(format!(
                "the bank simulator did not serve within {BANK_SIM_START_TIMEOUT:?}:\n{}",
                process.log_tail()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
