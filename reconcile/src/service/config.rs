//! The reconciler's configuration (TOML): who it is, where the cluster is, how often it checks,
//! and per bank the account reconciled and the ledger accounts that mirror it. Ids and amounts
//! are decimal strings (a `u128` does not fit a TOML integer). Every value is checked once,
//! here, and a wrong one is refused naming its field.
//!
//! The example beside the worker's (`bank-adapters/worker/reconciler.example.toml`) documents
//! every key and is tested to parse.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tianping_bank_adapters::connection::BankConnection;
use tianping_bank_adapters::gateway::Party;
use tianping_bank_adapters::money::{Currency, parse_minor_units};
use tianping_ledger::TEXT_BYTES_MAX;
use tianping_ledger::discrepancy::DISCREPANCY_ACCOUNTS_MAX;

use crate::{LATENESS_NS_DEFAULT, LATENESS_NS_MAX};

/// Most banks one reconciler serves: each is reconciled every period.
pub const BANKS_PER_RECONCILER_MAX: usize = 64;

/// The balance check's period when none is configured: a difference is found within minutes
/// (issue 13), and a minute is one statement fetch per bank per minute.
pub const BALANCE_PERIOD_MS_DEFAULT: u64 = 60_000;

/// The shortest balance period accepted: a drill's (seconds of simulated time), never a tight
/// loop against the bank.
pub const BALANCE_PERIOD_MS_MIN: u64 = 100;

/// The longest balance period accepted: an hour, the matching run's own default.
pub const BALANCE_PERIOD_MS_MAX: u64 = 3_600_000;

/// How often the matching run is reported when none is configured: hourly, as DESIGN §5 has
/// it (the matcher itself runs every balance period; this is when its figures are summed up
/// in a log line and the closed statement days are counted).
pub const MATCHING_PERIOD_MS_DEFAULT: u64 = 3_600_000;

/// The longest matching period accepted: a day.
pub const MATCHING_PERIOD_MS_MAX: u64 = 86_400_000;

/// The lateness when none is configured: the matcher's [`LATENESS_NS_DEFAULT`], in ms.
pub const LATENESS_MS_DEFAULT: u64 = LATENESS_NS_DEFAULT / NS_PER_MS;

/// The widest time zone offset of a bank's statement day: ±14 hours.
pub const UTC_OFFSET_SECONDS_MAX: i32 = 14 * 3600;

const NS_PER_MS: u64 = 1_000_000;

const _: () = assert!(LATENESS_MS_DEFAULT * NS_PER_MS == LATENESS_NS_DEFAULT);
const _: () = assert!(
    2 * BALANCE_PERIOD_MS_DEFAULT <= LATENESS_MS_DEFAULT,
    "the default lateness must cover the default period twice (Config::from_toml's rule)"
);

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or not this shape (an unknown key among them).
    #[error("configuration: {0}")]
    Toml(#[from] toml::de::Error),
    /// A field whose value is out of range; `field` names it.
    #[error("configuration: {field}: {reason}")]
    Invalid {
        /// The field's path (`banks[0].opening_baseline`).
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
    name: String,
    cluster: Vec<String>,
    #[serde(default)]
    tls: Option<tianping_client::TlsFiles>,
    #[serde(default = "default_balance_period_ms")]
    balance_period_ms: u64,
    #[serde(default = "default_matching_period_ms")]
    matching_period_ms: u64,
    #[serde(default = "default_lateness_ms")]
    lateness_ms: u64,
    #[serde(default)]
    utc_offset_seconds: i32,
    banks: Vec<RawBank>,
}

fn default_balance_period_ms() -> u64 {
    BALANCE_PERIOD_MS_DEFAULT
}

fn default_matching_period_ms() -> u64 {
    MATCHING_PERIOD_MS_DEFAULT
}

fn default_lateness_ms() -> u64 {
    LATENESS_MS_DEFAULT
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBank {
    bank: u32,
    currency: String,
    account: String,
    bank_in_transit_account: String,
    settlement_account: String,
    suspense_account: String,
    reversal_code: u16,
    opening_baseline: String,
    #[serde(default)]
    block_accounts: Vec<String>,
    #[serde(default)]
    connection: Option<BankConnection>,
}

/// One bank account reconciled: the account at the bank and the ledger accounts that mirror it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankConfig {
    /// The bank (a payout's `bank` number).
    pub bank: u32,
    /// The account's currency.
    pub currency: Currency,
    /// Our custody account at the bank (its number, as statements name it).
    pub account: String,
    /// The bank-in-transit account this bank's payouts reserve into and post to.
    pub bank_in_transit_account_id: u128,
    /// The bank-settlement account every collection and returned payout is booked out of.
    pub settlement_account_id: u128,
    /// Where the worker books credits nobody can take: collections booked to it are counted
    /// in the summary (the operator's suspense desk), and it must differ from the mirror
    /// accounts.
    pub suspense_account_id: u128,
    /// The transfer code the worker books a returned payout back with.
    pub reversal_code: u16,
    /// The custody balance at the bank that corresponds to the ledger's zero (minor units,
    /// signed: an overdrawn start is negative): the balance when the mirror accounts were
    /// opened with nothing on them.
    pub opening_baseline: i128,
    /// The ledger accounts a balance mismatch outflow-blocks. None by default, because a
    /// balance difference belongs to no one customer: blocking every customer of the bank
    /// would stop all payouts on a rounding error, and the movement classes (which name the
    /// customer) block the right account when the difference is one movement. An operator
    /// who wants a mismatch to stop money leaving names the accounts that fund payouts here.
    pub block_account_ids: Vec<u128>,
    /// Where the bank is: required by `serve` and `run_once`, absent where the caller builds
    /// the bank side itself (the simulation).
    pub connection: Option<BankConnection>,
}

/// A checked reconciler configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The reconciler's name: the actor of every discrepancy it records (1..=`TEXT_BYTES_MAX`
    /// bytes, no control characters), one per data center (`reconciler-dc-a`).
    pub name: String,
    /// Client API addresses of some cluster nodes.
    pub cluster: Vec<String>,
    /// How often each bank is caught up and balance-checked.
    pub balance_period: Duration,
    /// How often the matching run's figures are reported.
    pub matching_period: Duration,
    /// How long an unmatched item waits for its partner (ns): the matcher's lateness.
    pub lateness_ns: u64,
    /// The banks' statement day, and the ledger's business day for value dates, as an offset
    /// from UTC in seconds (0 by default: statements by UTC day).
    pub utc_offset_seconds: i32,
    /// The banks, ids unique.
    pub banks: Vec<BankConfig>,
    /// The directory relative key paths of `[banks.connection]` are read from: the
    /// configuration file's own.
    pub base_directory: PathBuf,
    /// Mutual TLS to the cluster: `[tls]` with `ca`, `cert`, `key` (PEM paths, absolute or
    /// relative to the working directory); none: plaintext (only `--insecure` nodes accept it).
    pub tls: Option<tianping_client::TlsFiles>,
}

fn id(field: &str, text: &str) -> Result<u128, ConfigError> {
    let value: u128 = text.parse().map_err(|_| invalid(field, "not a decimal u128"))?;
    if value == 0 || value == u128::MAX {
        return Err(invalid(field, "must not be 0 or u128::MAX"));
    }
    Ok(value)
}

/// Signed decimal text in `currency`'s minor units (`-12.50`).
fn signed_amount(field: &str, text: &str, currency: Currency) -> Result<i128, ConfigError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude =
        parse_minor_units(digits, currency).map_err(|error| invalid(field, error.to_string()))?;
    let magnitude =
        i128::try_from(magnitude).map_err(|_| invalid(field, "out of range for a balance"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

impl Config {
    /// Reads and checks the configuration file at `path`; relative key paths in it are read
    /// from its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let mut config = Config::from_toml(&text)?;
        config.base_directory = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(config)
    }

    /// Reads and checks a TOML configuration (key paths relative to the working directory).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        let name_ok = !raw.name.trim().is_empty()
            && raw.name.len() <= TEXT_BYTES_MAX
            && !raw.name.chars().any(char::is_control);
        if !name_ok {
            return Err(invalid("name", format!("1..={TEXT_BYTES_MAX} bytes, no control chars")));
        }
        if raw.cluster.is_empty() {
            return Err(invalid("cluster", "name at least one node address"));
        }
        if !(BALANCE_PERIOD_MS_MIN..=BALANCE_PERIOD_MS_MAX).contains(&raw.balance_period_ms) {
            return Err(invalid(
                "balance_period_ms",
                format!("must be {BALANCE_PERIOD_MS_MIN}..={BALANCE_PERIOD_MS_MAX}"),
            ));
        }
        if !(raw.balance_period_ms..=MATCHING_PERIOD_MS_MAX).contains(&raw.matching_period_ms) {
            return Err(invalid(
                "matching_period_ms",
                format!("must be balance_period_ms..={MATCHING_PERIOD_MS_MAX}"),
            ));
        }
        let lateness_ns = raw.lateness_ms.saturating_mul(NS_PER_MS);
        if raw.lateness_ms == 0 || lateness_ns > LATENESS_NS_MAX {
            return Err(invalid(
                "lateness_ms",
                format!("must be 1..={}", LATENESS_NS_MAX / NS_PER_MS),
            ));
        }
        // A statement entry's instant is when the reconciler first saw it, up to one period
        // after the bank booked it (`bank_stream`): the lateness must cover that twice over.
        if raw.lateness_ms < raw.balance_period_ms.saturating_mul(2) {
            return Err(invalid("lateness_ms", "must be at least twice balance_period_ms"));
        }
        if raw.utc_offset_seconds.unsigned_abs() > UTC_OFFSET_SECONDS_MAX.unsigned_abs() {
            return Err(invalid("utc_offset_seconds", "must be within ±14 hours"));
        }
        if raw.banks.is_empty() || raw.banks.len() > BANKS_PER_RECONCILER_MAX {
            return Err(invalid("banks", format!("name 1..={BANKS_PER_RECONCILER_MAX} banks")));
        }
        let mut seen = BTreeSet::new();
        let mut banks = Vec::with_capacity(raw.banks.len());
        for (index, bank) in raw.banks.iter().enumerate() {
            let field = |name: &str| format!("banks[{index}].{name}");
            if bank.bank == 0 || !seen.insert(bank.bank) {
                return Err(invalid(field("bank"), "must be non-zero and unique"));
            }
            banks.push(Config::bank(bank, &field)?);
        }
        Ok(Config {
            name: raw.name,
            cluster: raw.cluster,
            balance_period: Duration::from_millis(raw.balance_period_ms),
            matching_period: Duration::from_millis(raw.matching_period_ms),
            lateness_ns,
            utc_offset_seconds: raw.utc_offset_seconds,
            banks,
            base_directory: PathBuf::from("."),
            tls: raw.tls,
        })
    }

    fn bank(bank: &RawBank, field: &dyn Fn(&str) -> String) -> Result<BankConfig, ConfigError> {
        let currency = Currency::from_code(&bank.currency)
            .map_err(|error| invalid(field("currency"), error.to_string()))?;
        // The account number by the rules every bank document carries it under.
        Party::new(&bank.account, "custody")
            .map_err(|error| invalid(field("account"), error.to_string()))?;
        let bank_in_transit_account_id =
            id(&field("bank_in_transit_account"), &bank.bank_in_transit_account)?;
        let settlement_account_id = id(&field("settlement_account"), &bank.settlement_account)?;
        let suspense_account_id = id(&field("suspense_account"), &bank.suspense_account)?;
        let distinct: BTreeSet<u128> =
            [bank_in_transit_account_id, settlement_account_id, suspense_account_id].into();
        if distinct.len() != 3 {
            return Err(invalid(
                field("suspense_account"),
                "in-transit, settlement and suspense must be three different accounts",
            ));
        }
        if bank.reversal_code == 0 {
            return Err(invalid(field("reversal_code"), "must not be 0"));
        }
        let opening_baseline =
            signed_amount(&field("opening_baseline"), &bank.opening_baseline, currency)?;
        if bank.block_accounts.len() > DISCREPANCY_ACCOUNTS_MAX {
            return Err(invalid(
                field("block_accounts"),
                format!("at most {DISCREPANCY_ACCOUNTS_MAX} (one discrepancy's accounts)"),
            ));
        }
        let mut block_account_ids = Vec::with_capacity(bank.block_accounts.len());
        for (index, text) in bank.block_accounts.iter().enumerate() {
            let account = id(&field(&format!("block_accounts[{index}]")), text)?;
            if block_account_ids.contains(&account) {
                return Err(invalid(field(&format!("block_accounts[{index}]")), "named twice"));
            }
            block_account_ids.push(account);
        }
        Ok(BankConfig {
            bank: bank.bank,
            currency,
            account: bank.account.clone(),
            bank_in_transit_account_id,
            settlement_account_id,
            suspense_account_id,
            reversal_code: bank.reversal_code,
            opening_baseline,
            block_account_ids,
            connection: bank.connection.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../bank-adapters/worker/reconciler.example.toml");

    #[test]
    fn the_documented_example_is_a_valid_configuration() {
        let config = Config::from_toml(EXAMPLE).expect("the example parses");
        assert_eq!(config.name, "reconciler-dc-a");
        assert_eq!(config.balance_period, Duration::from_secs(60));
        assert_eq!(config.matching_period, Duration::from_secs(3600));
        assert_eq!(config.lateness_ns, LATENESS_NS_DEFAULT);
        assert_eq!(config.banks.len(), 2);
        let first = &config.banks[0];
        assert_eq!((first.bank, first.currency), (1, Currency::Cny));
        assert_eq!(first.opening_baseline, 1_000_000_000);
        assert!(first.block_account_ids.is_empty());
        assert_eq!(first.connection.as_ref().map(BankConnection::protocol), Some("iso20022"));
        assert_eq!(
            config.banks[1].connection.as_ref().map(BankConnection::protocol),
            Some("direct")
        );
    }

    #[test]
    fn defaults_apply_when_left_out() {
        let text = EXAMPLE
            .replace("balance_period_ms = 60000\n", "")
            .replace("matching_period_ms = 3600000\n", "")
            .replace("lateness_ms = 3900000\n", "");
        let config = Config::from_toml(&text).expect("parses");
        assert_eq!(config.balance_period, Duration::from_millis(BALANCE_PERIOD_MS_DEFAULT));
        assert_eq!(config.matching_period, Duration::from_millis(MATCHING_PERIOD_MS_DEFAULT));
        assert_eq!(config.lateness_ns, LATENESS_NS_DEFAULT);
    }

    #[test]
    fn a_negative_baseline_is_an_overdrawn_start() {
        let text = EXAMPLE.replacen(
            "opening_baseline = \"10000000.00\"",
            "opening_baseline = \"-0.05\"",
            1,
        );
        assert_eq!(Config::from_toml(&text).expect("parses").banks[0].opening_baseline, -5);
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let cases = [
            ("name = \"reconciler-dc-a\"", "name = \"\"", "name"),
            ("balance_period_ms = 60000", "balance_period_ms = 10", "balance_period_ms"),
            ("matching_period_ms = 3600000", "matching_period_ms = 1000", "matching_period_ms"),
            ("lateness_ms = 3900000", "lateness_ms = 0", "lateness_ms"),
            ("lateness_ms = 3900000", "lateness_ms = 90000", "lateness_ms"),
            ("lateness_ms = 3900000", "lateness_ms = 86400001", "lateness_ms"),
            ("utc_offset_seconds = 0", "utc_offset_seconds = 50401", "utc_offset_seconds"),
            ("currency = \"CNY\"", "currency = \"XXX\"", "banks[0].currency"),
            ("account = \"110060149018000123\"", "account = \"12 34\"", "banks[0].account"),
            (
                "suspense_account = \"1002\"",
                "suspense_account = \"1001\"",
                "banks[0].suspense_account",
            ),
            (
                "settlement_account = \"1001\"",
                "settlement_account = \"0\"",
                "banks[0].settlement_account",
            ),
            ("reversal_code = 5", "reversal_code = 0", "banks[0].reversal_code"),
            (
                "opening_baseline = \"10000000.00\"",
                "opening_baseline = \"10000000.001\"",
                "banks[0].opening_baseline",
            ),
            (
                "block_accounts = []",
                "block_accounts = [\"7\", \"7\"]",
                "banks[0].block_accounts[1]",
            ),
            (
                "block_accounts = []",
                "block_accounts = [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]",
                "banks[0].block_accounts",
            ),
            ("bank = 2", "bank = 1", "banks[1].bank"),
        ];
        for (from, to, field) in cases {
            assert!(EXAMPLE.contains(from), "{from}");
            let text = EXAMPLE.replacen(from, to, 1);
            match Config::from_toml(&text) {
                Err(ConfigError::Invalid { field: found, .. }) => assert_eq!(found, field, "{to}"),
                other => panic!("{to}: expected an invalid {field}, got {other:?}"),
            }
        }
        assert!(matches!(
            Config::from_toml(&EXAMPLE.replacen("lateness_ms", "latenes_ms", 1)),
            Err(ConfigError::Toml(_))
        ));
    }

    #[test]
    fn loading_a_file_reads_keys_beside_it() {
        let directory =
            std::env::temp_dir().join(format!("reconciler-config-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temporary directory");
        let path = directory.join("reconciler.toml");
        std::fs::write(&path, EXAMPLE).expect("written");
        let config = Config::load(&path).expect("loads");
        assert_eq!(config.base_directory, directory);
        assert!(matches!(
            Config::load(&directory.join("missing.toml")),
            Err(ConfigError::Read { .. })
        ));
        std::fs::remove_dir_all(&directory).expect("removed");
    }
}
