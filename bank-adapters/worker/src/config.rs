//! The worker's configuration (TOML): where the cluster is, who this worker is, and per bank
//! the ledger accounts and codes it uses. Ids and amounts are `u128`, which TOML integers
//! (i64) cannot hold, so they are decimal strings. Every value is checked once, here.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use tianping_bank_adapters::gateway::{Party, ReferenceError};
use tianping_bank_adapters::money::{Currency, MoneyError};
use tianping_ledger::{PAYOUT_CLAIM_MAX, PAYOUT_LEASE_MS_MAX, PAYOUT_LEASE_MS_MIN};

use crate::collections::CollectionAccounts;
use crate::decision::LEASE_MARGIN_MS;
use tianping_bank_adapters::connection::BankConnection;

/// Most banks one worker serves: each runs its own loops.
pub const BANKS_PER_WORKER_MAX: usize = 64;

/// Most accounts the low-balance watch reads (one lookup per interval).
pub const WATCHED_ACCOUNTS_MAX: usize = 256;

/// Shortest lease a worker asks for: the margin before its end plus a bank round trip or two.
pub const WORKER_LEASE_MS_MIN: u64 = 4 * LEASE_MARGIN_MS;

const _: () = assert!(WORKER_LEASE_MS_MIN >= PAYOUT_LEASE_MS_MIN);

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or not this shape.
    #[error("configuration: {0}")]
    Toml(#[from] toml::de::Error),
    /// A field whose value is out of range; `field` names it.
    #[error("configuration: {field}: {reason}")]
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), reason: reason.into() }
}

/// The file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    cluster: Vec<String>,
    #[serde(default)]
    tls: Option<tianping_client::TlsFiles>,
    worker_id: String,
    lease_ms: u64,
    claim_batch: u32,
    banks: Vec<RawBank>,
    #[serde(default)]
    low_balance: Vec<RawWatch>,
    #[serde(default)]
    callbacks: Option<CallbacksConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBank {
    bank: u32,
    ledger: u32,
    currency: String,
    bank_in_transit_account: String,
    settlement_account: String,
    suspense_account: String,
    collection_code: u16,
    reversal_code: u16,
    debtor_account: String,
    debtor_name: String,
    #[serde(default)]
    connection: Option<BankConnection>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    name: String,
    account: String,
    threshold: String,
}

/// One bank this worker serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankConfig {
    /// How collections are booked (bank id, ledger, currency, settlement, suspense, codes).
    pub collections: CollectionAccounts,
    /// The bank-in-transit account payouts of this bank reserve into: a claimed payout naming
    /// another is reported (a misrouted payout), though still sent.
    pub bank_in_transit_account_id: u128,
    /// Our custody account at the bank that pays, and its holder's name.
    pub debtor: Party,
    /// Where the bank is and how to speak to it: required by the `tianping bank-worker`
    /// binary, absent where the caller builds gateways itself (the simulation).
    pub connection: Option<BankConnection>,
}

impl BankConfig {
    /// The bank id.
    pub fn bank(&self) -> u32 {
        self.collections.bank
    }

    /// Our custody account at the bank: the debtor of every payout and the one account whose
    /// notifications the collections poller reads. The bank's other accounts belong to other
    /// customers (a merchant our payouts pay may bank there), and their credits are not ours.
    pub fn custody_account(&self) -> &str {
        self.debtor.account()
    }
}

/// `[callbacks]`: the listener direct-connect banks push their callbacks to
/// (`POST http://{listen}/callbacks/{bank}`, `crate::callbacks`). Absent: no listener, and
/// the worker learns everything by polling, as before.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Where to listen, `HOST:PORT` (port 0: any free port, logged and written to
    /// `bound_address_file`).
    pub listen: SocketAddr,
    /// Once bound, the address (`HOST:PORT`) is written here, for supervisors.
    #[serde(default)]
    pub bound_address_file: Option<PathBuf>,
}

/// One account the low-balance watch reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchConfig {
    /// A name for logs and metrics (`prepayment-bank-1`).
    pub name: String,
    /// The ledger account.
    pub account_id: u128,
    /// Alert at or below this available balance (minor units).
    pub threshold: u128,
}

/// A checked worker configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Client API addresses of some cluster nodes.
    pub cluster: Vec<String>,
    /// This worker's id (never 0): the ledger fences records with it.
    pub worker_id: u128,
    /// The lease each claim asks for.
    pub lease_ms: u64,
    /// Most payouts held at once, per bank (one claim asks for at most the free room).
    pub claim_batch: u32,
    /// The banks served, ids unique.
    pub banks: Vec<BankConfig>,
    /// The accounts the low-balance watch reads.
    pub low_balance: Vec<WatchConfig>,
    /// The callback listener, if any.
    pub callbacks: Option<CallbacksConfig>,
    /// Mutual TLS to the cluster: `[tls]` with `ca`, `cert`, `key` (PEM paths, absolute or
    /// relative to the working directory); none: plaintext (only `--insecure` nodes accept it).
    pub tls: Option<tianping_client::TlsFiles>,
}

fn id(field: &str, text: &str) -> Result<u128, ConfigError> {
    let value: u128 = text.parse().map_err(|_| invalid(field, "not a decimal u128"))?;
    if value == 0 {
        return Err(invalid(field, "must not be 0"));
    }
    Ok(value)
}

impl WorkerConfig {
    /// Reads and checks a TOML configuration.
    pub fn from_toml(text: &str) -> Result<WorkerConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        if raw.cluster.is_empty() {
            return Err(invalid("cluster", "name at least one node address"));
        }
        let worker_id = id("worker_id", &raw.worker_id)?;
        if !(WORKER_LEASE_MS_MIN..=PAYOUT_LEASE_MS_MAX).contains(&raw.lease_ms) {
            return Err(invalid(
                "lease_ms",
                format!("must be {WORKER_LEASE_MS_MIN}..={PAYOUT_LEASE_MS_MAX}"),
            ));
        }
        if raw.claim_batch == 0 || raw.claim_batch > PAYOUT_CLAIM_MAX {
            return Err(invalid("claim_batch", format!("must be 1..={PAYOUT_CLAIM_MAX}")));
        }
        if raw.banks.is_empty() || raw.banks.len() > BANKS_PER_WORKER_MAX {
            return Err(invalid("banks", format!("name 1..={BANKS_PER_WORKER_MAX} banks")));
        }
        let mut seen = BTreeSet::new();
        let mut banks = Vec::with_capacity(raw.banks.len());
        for (index, bank) in raw.banks.iter().enumerate() {
            let field = |name: &str| format!("banks[{index}].{name}");
            if bank.bank == 0 || !seen.insert(bank.bank) {
                return Err(invalid(field("bank"), "must be non-zero and unique"));
            }
            banks.push(Self::bank(bank, &field)?);
        }
        if raw.low_balance.len() > WATCHED_ACCOUNTS_MAX {
            return Err(invalid("low_balance", format!("at most {WATCHED_ACCOUNTS_MAX}")));
        }
        let mut low_balance = Vec::with_capacity(raw.low_balance.len());
        for (index, watch) in raw.low_balance.iter().enumerate() {
            let field = |name: &str| format!("low_balance[{index}].{name}");
            if watch.name.trim().is_empty() {
                return Err(invalid(field("name"), "must not be empty"));
            }
            let threshold = watch
                .threshold
                .parse()
                .map_err(|_| invalid(field("threshold"), "not a decimal u128"))?;
            low_balance.push(WatchConfig {
                name: watch.name.clone(),
                account_id: id(&field("account"), &watch.account)?,
                threshold,
            });
        }
        Ok(WorkerConfig {
            cluster: raw.cluster,
            worker_id,
            lease_ms: raw.lease_ms,
            claim_batch: raw.claim_batch,
            banks,
            low_balance,
            callbacks: raw.callbacks,
            tls: raw.tls,
        })
    }

    fn bank(bank: &RawBank, field: &dyn Fn(&str) -> String) -> Result<BankConfig, ConfigError> {
        if bank.ledger == 0 {
            return Err(invalid(field("ledger"), "must not be 0"));
        }
        if bank.collection_code == 0 || bank.reversal_code == 0 {
            return Err(invalid(field("collection_code"), "codes must not be 0"));
        }
        let currency = Currency::from_code(&bank.currency)
            .map_err(|error: MoneyError| invalid(field("currency"), error.to_string()))?;
        let settlement_account_id = id(&field("settlement_account"), &bank.settlement_account)?;
        let suspense_account_id = id(&field("suspense_account"), &bank.suspense_account)?;
        if settlement_account_id == suspense_account_id {
            return Err(invalid(field("suspense_account"), "must differ from the settlement"));
        }
        let debtor = Party::new(&bank.debtor_account, &bank.debtor_name)
            .map_err(|error: ReferenceError| invalid(field("debtor_account"), error.to_string()))?;
        Ok(BankConfig {
            collections: CollectionAccounts {
                bank: bank.bank,
                ledger: bank.ledger,
                currency,
                settlement_account_id,
                suspense_account_id,
                collection_code: bank.collection_code,
                reversal_code: bank.reversal_code,
            },
            bank_in_transit_account_id: id(
                &field("bank_in_transit_account"),
                &bank.bank_in_transit_account,
            )?,
            debtor,
            connection: bank.connection.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../bank-worker.example.toml");

    #[test]
    fn the_documented_example_is_a_valid_configuration() {
        let config = WorkerConfig::from_toml(EXAMPLE).expect("the example parses");
        assert_eq!(config.worker_id, 7_001);
        assert_eq!(config.banks.len(), 2);
        assert_eq!(config.banks[0].collections.currency, Currency::Cny);
        assert_eq!(config.low_balance[0].threshold, 5_000_000);
        let callbacks = config.callbacks.expect("the example has a callback listener");
        assert_eq!(callbacks.listen, "127.0.0.1:7700".parse().expect("address"));
        assert_eq!(callbacks.bound_address_file, None);
        let without = EXAMPLE.replacen("[callbacks]\nlisten = \"127.0.0.1:7700\"\n", "", 1);
        assert_eq!(WorkerConfig::from_toml(&without).expect("parses").callbacks, None);
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let cases = [
            ("worker_id = \"7001\"", "worker_id = \"0\"", "worker_id"),
            ("lease_ms = 30000", "lease_ms = 10", "lease_ms"),
            ("claim_batch = 32", "claim_batch = 0", "claim_batch"),
            ("currency = \"CNY\"", "currency = \"XXX\"", "banks[0].currency"),
            (
                "suspense_account = \"1002\"",
                "suspense_account = \"1001\"",
                "banks[0].suspense_account",
            ),
            (
                "debtor_account = \"110060149018000123\"",
                "debtor_account = \"12 34\"",
                "banks[0].debtor_account",
            ),
            ("threshold = \"5000000\"", "threshold = \"-1\"", "low_balance[0].threshold"),
            ("bank = 2", "bank = 1", "banks[1].bank"),
        ];
        for (from, to, field) in cases {
            assert!(EXAMPLE.contains(from), "{from}");
            let text = EXAMPLE.replacen(from, to, 1);
            match WorkerConfig::from_toml(&text) {
                Err(ConfigError::Invalid { field: found, .. }) => assert_eq!(found, field),
                other => panic!("{to}: expected an invalid {field}, got {other:?}"),
            }
        }
        assert!(matches!(
            WorkerConfig::from_toml(&EXAMPLE.replacen("lease_ms", "lease_msx", 1)),
            Err(ConfigError::Toml(_))
        ));
    }
}
