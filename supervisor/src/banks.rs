//! `LocalBanks`: the money's way to and from banks beside a local cluster — one
//! `tianping bank-sim` process hosting two simulated banks (one of each protocol), one
//! `tianping bank-worker` per data center serving both, and one `tianping reconcile serve`
//! per data center checking both — with the configurations they run on, written under
//! `<data dir>/banks/`.
//!
//! The bank simulator keeps its state in memory: every `dev up` starts its banks afresh. So
//! that a restarted local cluster's books agree with its banks, the caller passes each custody
//! account's balance as the ledger explains it ([`custody_balance`]) and the simulator opens
//! the account with it: the bank starts where the ledger's durable books say it stands,
//! instead of at its first opening balance with every earlier payout forgotten (which the
//! reconcilers would rightly report as a difference). Its direct-connect bank's keys are
//! throwaway SM2 keys the simulator writes once under `banks/keys/` (`--generate-dev-keys`);
//! nothing here is for real money. The ledger accounts these configurations name are the
//! [`LedgerAccounts`] constants; `dev up` creates them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tianping_tls::TlsFiles;

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

/// The workers' transfer code of a collection booked from a bank's credit.
const COLLECTION_CODE: u16 = 4;

/// The workers' transfer code of a returned payout booked back; the reconcilers recognise
/// returns by it.
const REVERSAL_CODE: u16 = 5;

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

/// The reconcilers' balance period (账证核对): seconds, so that a difference an operator plants
/// with `tianping bank-fault` shows within one period of trying it.
pub const RECONCILER_BALANCE_PERIOD_MS: u64 = 10_000;

/// The reconcilers' lateness: how long an unmatched movement waits for its partner before it
/// is a difference. At least the workers' lease ([`WORKER_LEASE_MS`]) and twice the balance
/// period (the reconciler's rule), so that a payout whose worker died is not reported while
/// another worker may still send it.
pub const RECONCILER_LATENESS_MS: u64 = 60_000;

/// The workers' payout lease: how long a claimed payout stays with a worker that stopped.
pub const WORKER_LEASE_MS: u64 = 30_000;

const _: () = assert!(RECONCILER_LATENESS_MS >= WORKER_LEASE_MS);
const _: () = assert!(RECONCILER_LATENESS_MS >= 2 * RECONCILER_BALANCE_PERIOD_MS);

/// Minor units per major unit of CNY, the local banks' currency.
const CNY_MINOR_PER_MAJOR: u128 = 100;

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
    /// Its balance at the bank when the ledger's mirror accounts stood at zero (minor units):
    /// the reconcilers' opening baseline.
    pub custody_opening: u128,
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
        custody_opening: 10_000_000,
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
        custody_opening: 5_000_000,
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
    reconcilers: Vec<(String, ChildProcess)>,
    directory: PathBuf,
}

/// The posted sums of a ledger account that mirrors a bank account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorSums {
    /// Sum of posted debits.
    pub debits_posted: u128,
    /// Sum of posted credits.
    pub credits_posted: u128,
}

/// The balance of `bank`'s custody account as the ledger explains it: the opening baseline,
/// plus what the ledger booked in (settlement's posted debits less credits), less what it
/// booked out (bank-in-transit's posted credits less debits) — the reconciler's balance check
/// with nothing in flight. Checked arithmetic; an overdrawn or overflowing result is an error
/// (the simulator opens no such account).
pub fn custody_balance(
    bank: &LedgerAccounts,
    settlement: MirrorSums,
    in_transit: MirrorSums,
) -> Result<u128, SupervisorError> {
    let signed = |value: u128| i128::try_from(value).ok();
    let booked_in = signed(settlement.debits_posted)
        .zip(signed(settlement.credits_posted))
        .and_then(|(debits, credits)| debits.checked_sub(credits));
    let booked_out = signed(in_transit.credits_posted)
        .zip(signed(in_transit.debits_posted))
        .and_then(|(credits, debits)| credits.checked_sub(debits));
    let balance = signed(bank.custody_opening)
        .zip(booked_in)
        .and_then(|(opening, booked_in)| opening.checked_add(booked_in))
        .zip(booked_out)
        .and_then(|(balance, booked_out)| balance.checked_sub(booked_out));
    balance.and_then(|balance| u128::try_from(balance).ok()).ok_or_else(|| {
        SupervisorError::Usage(format!(
            "bank {}: the ledger's mirror accounts explain no custody balance the simulator can open (settlement {settlement:?}, in transit {in_transit:?}); start over with --fresh",
            bank.bank
        ))
    })
}

/// Minor units of CNY as the simulator's decimal text (`12345.67`).
fn cny_text(minor_units: u128) -> String {
    format!("{}.{:02}", minor_units / CNY_MINOR_PER_MAJOR, minor_units % CNY_MINOR_PER_MAJOR)
}

impl LocalBanks {
    /// Starts the bank simulator, then one worker and one reconciler per data center in
    /// `data_centers`, talking to the cluster at `cluster` (client API addresses); files go
    /// under `data_dir/banks`. `custody_balances` are the [`BANKS`]' custody balances in
    /// order, as [`custody_balance`] computes them from the ledger: the simulator opens the
    /// accounts with them. The workers and reconcilers present `tls` (the cluster's client
    /// certificate) when given. Returns once the simulator serves and every process started.
    #[allow(clippy::too_many_arguments)]
    pub async fn up(
        binary: &Path,
        data_dir: &Path,
        cluster: &[String],
        tls: Option<&TlsFiles>,
        data_centers: &[&str],
        custody_balances: [u128; BANKS.len()],
        progress: &mut dyn FnMut(String),
    ) -> Result<LocalBanks, SupervisorError> {
        let directory = data_dir.join("banks");
        std::fs::create_dir_all(&directory)
            .map_err(SupervisorError::file("creating", &directory))?;
        let sim_config = directory.join("bank-sim.toml");
        write(&sim_config, &bank_sim_toml(custody_balances))?;
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
            reconcilers: Vec::new(),
            directory: directory.clone(),
        };
        for (index, data_center) in data_centers.iter().enumerate() {
            let config = directory.join(format!("worker-{data_center}.toml"));
            let worker_id = u64::try_from(index).map_or(u64::MAX, |index| index + 1);
            write(&config, &banks.worker_toml(cluster, worker_id, tls))?;
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
        for data_center in data_centers {
            let config = directory.join(format!("reconciler-{data_center}.toml"));
            write(&config, &banks.reconciler_toml(cluster, data_center, tls))?;
            let mut reconciler = ChildProcess::new(
                format!("reconciler of {data_center}"),
                directory.join(format!("reconciler-{data_center}.log")),
            );
            let mut command = Command::new(binary);
            command.args(["reconcile", "serve", "--config"]).arg(&config);
            reconciler.start(command)?;
            banks.reconcilers.push(((*data_center).to_owned(), reconciler));
        }
        progress(format!(
            "reconcilers started in {} (balance check every {} s)",
            data_centers.join(", "),
            RECONCILER_BALANCE_PERIOD_MS / 1_000
        ));
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
        let processes = std::iter::once(&mut self.bank_sim)
            .chain(self.workers.iter_mut().map(|(_, worker)| worker))
            .chain(self.reconcilers.iter_mut().map(|(_, reconciler)| reconciler));
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

    /// Stops the reconcilers and the workers, then the simulator (SIGINT, then SIGKILL after
    /// a timeout); names the ones that had to be killed.
    pub fn stop(&mut self) -> Vec<String> {
        let mut killed = Vec::new();
        for (_, process) in self.reconcilers.iter_mut().chain(self.workers.iter_mut()) {
            if process.stop(STOP_TIMEOUT) == Stopped::Killed {
                killed.push(process.what().to_owned());
            }
        }
        if self.bank_sim.stop(STOP_TIMEOUT) == Stopped::Killed {
            killed.push(self.bank_sim.what().to_owned());
        }
        killed
    }

    /// A worker's configuration: the cluster, its id, both banks with their ledger accounts
    /// and connections, and the low-balance watch on the customer account.
    fn worker_toml(&self, cluster: &[String], worker_id: u64, tls: Option<&TlsFiles>) -> String {
        let cluster: Vec<String> = cluster.iter().map(|address| format!("{address:?}")).collect();
        let mut text = format!(
            "# Written by `tianping dev up` on every start.\ncluster = [{}]\nworker_id = \"{worker_id}\"\nlease_ms = {WORKER_LEASE_MS}\nclaim_batch = 32\n",
            cluster.join(", ")
        );
        text.push_str(&tls_toml(tls));
        for bank in &BANKS {
            text.push_str(&format!(
                "\n[[banks]]\nbank = {}\nledger = {LEDGER}\ncurrency = \"CNY\"\nbank_in_transit_account = \"{}\"\nsettlement_account = \"{}\"\nsuspense_account = \"{}\"\ncollection_code = {COLLECTION_CODE}\nreversal_code = {REVERSAL_CODE}\ndebtor_account = \"{}\"\ndebtor_name = \"{}\"\n",
                bank.bank,
                bank.bank_in_transit,
                bank.settlement,
                bank.suspense,
                bank.custody,
                bank.custody_name,
            ));
            text.push_str(&self.connection_toml(bank));
        }
        text.push_str(&format!(
            "\n[[low_balance]]\nname = \"customer-{CUSTOMER_ACCOUNT}\"\naccount = \"{CUSTOMER_ACCOUNT}\"\nthreshold = \"100000\"\n"
        ));
        text
    }
}

impl LocalBanks {
    /// `[banks.connection]` of `bank`, the same for its worker and its reconciler.
    fn connection_toml(&self, bank: &LedgerAccounts) -> String {
        let mut text = format!(
            "[banks.connection]\nprotocol = \"{}\"\nurl = \"{}\"\n",
            bank.protocol,
            self.bank_url(bank.bank_id)
        );
        if bank.protocol == "direct" {
            let bank_keys = self.directory.join("keys").join(bank.bank_id);
            text.push_str(&format!(
                "app_id = \"tianping\"\nsigning_keys = {:?}\nbank_public_keys = {:?}\n",
                bank_keys.join("client-signing.keys").display().to_string(),
                bank_keys.join("bank-public.keys").display().to_string(),
            ));
        } else {
            text.push_str("initiating_party = \"Tianping\"\n");
        }
        text
    }

    /// The reconciler of `data_center`: both banks, a balance check every
    /// [`RECONCILER_BALANCE_PERIOD_MS`], and the customer account as the account a balance
    /// mismatch blocks — it is the one account that pays through these banks, so a bank
    /// whose books do not reconcile stops its payouts within one period.
    fn reconciler_toml(
        &self,
        cluster: &[String],
        data_center: &str,
        tls: Option<&TlsFiles>,
    ) -> String {
        let cluster: Vec<String> = cluster.iter().map(|address| format!("{address:?}")).collect();
        let mut text = format!(
            "# Written by `tianping dev up` on every start.\nname = \"reconciler-{data_center}\"\ncluster = [{}]\nbalance_period_ms = {RECONCILER_BALANCE_PERIOD_MS}\nlateness_ms = {RECONCILER_LATENESS_MS}\n",
            cluster.join(", ")
        );
        text.push_str(&tls_toml(tls));
        for bank in &BANKS {
            text.push_str(&format!(
                "\n[[banks]]\nbank = {}\ncurrency = \"CNY\"\naccount = \"{}\"\nbank_in_transit_account = \"{}\"\nsettlement_account = \"{}\"\nsuspense_account = \"{}\"\nreversal_code = {REVERSAL_CODE}\nopening_baseline = \"{}\"\nblock_accounts = [\"{CUSTOMER_ACCOUNT}\"]\n",
                bank.bank,
                bank.custody,
                bank.bank_in_transit,
                bank.settlement,
                bank.suspense,
                cny_text(bank.custody_opening),
            ));
            text.push_str(&self.connection_toml(bank));
        }
        text
    }
}

/// A client's `[tls]` table (before any array of tables), or nothing in plaintext.
fn tls_toml(tls: Option<&TlsFiles>) -> String {
    let Some(files) = tls else { return String::new() };
    let quoted = |path: &Path| toml::Value::from(path.display().to_string()).to_string();
    format!(
        "\n[tls]\nca = {}\ncert = {}\nkey = {}\n",
        quoted(&files.ca),
        quoted(&files.cert),
        quoted(&files.key)
    )
}

impl Drop for LocalBanks {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The simulator's configuration: the two banks with our custody accounts, opened with
/// `custody_balances`.
fn bank_sim_toml(custody_balances: [u128; BANKS.len()]) -> String {
    let mut text = String::from("# Written by `tianping dev up` on every start.\nseed = 1\n");
    for (bank, balance) in BANKS.iter().zip(custody_balances) {
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
            bank.custody,
            bank.custody_name,
            cny_text(balance)
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOTHING: MirrorSums = MirrorSums { debits_posted: 0, credits_posted: 0 };

    #[test]
    fn custody_balance_is_the_opening_plus_booked_in_less_booked_out() {
        let bank = BANKS[0];
        assert_eq!(custody_balance(&bank, NOTHING, NOTHING).ok(), Some(bank.custody_opening));
        // In transit: 125.00 posted out, 30.00 posted back. Settlement: 7.00 booked in, 30.00
        // credited. Only the mirror accounts' posted sums count (suspense and customers are
        // the other legs of the same transfers).
        let in_transit = MirrorSums { debits_posted: 3_000, credits_posted: 12_500 };
        let settlement = MirrorSums { debits_posted: 700, credits_posted: 3_000 };
        assert_eq!(
            custody_balance(&bank, settlement, in_transit).ok(),
            Some(bank.custody_opening + 700 - 3_000 - (12_500 - 3_000))
        );
    }

    #[test]
    fn custody_balance_refuses_an_overdrawn_or_overflowing_account() {
        let bank = BANKS[1];
        let paid_more = MirrorSums { debits_posted: 0, credits_posted: bank.custody_opening + 1 };
        assert!(custody_balance(&bank, NOTHING, paid_more).is_err());
        let huge = MirrorSums { debits_posted: u128::MAX, credits_posted: 0 };
        assert!(custody_balance(&bank, huge, NOTHING).is_err());
    }

    #[test]
    fn cny_text_has_two_decimals() {
        assert_eq!(cny_text(10_000_000), "100000.00");
        assert_eq!(cny_text(5), "0.05");
        assert_eq!(cny_text(12_345), "123.45");
    }
}
