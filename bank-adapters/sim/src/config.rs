//! The simulator's configuration file (TOML) and what it builds: banks with their accounts,
//! keys, collection schedules and faults. `bank-adapters/sim/bank-sim.example.toml` is the
//! documented example; [`generate_dev_keys`] writes the throwaway key files it names.
//!
//! Relative paths in the file are relative to the file's directory. Amounts are decimal text
//! in the account's currency (TOML integers stop at `i64`; text is exact). Times of scheduled
//! collections are relative to the moment the simulator starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tianping_bank_adapters::direct::{Verifier, VerifierConfig};
use tianping_bank_adapters::iso20022::pain002::Pain002Version;
use tianping_bank_adapters::keys::{
    KeyError, KeyRing, KeyRingSource, KeyRole, SignScheme, generate_key_pair,
};
use tianping_bank_adapters::money::{Currency, Money, MoneyError};

use crate::bank::records::{Account, CollectionSchedule, Protocol};
use crate::bank::{Bank, BankError, BankSetup};
use crate::faults::{FaultConfig, FaultError};
use crate::simulator::{BankSimulator, DirectSide, HostError, HostedBank};

/// The default timestamp window of a direct-connect bank: ±5 minutes.
pub const DEFAULT_WINDOW_MS: u64 = 300_000;

/// The nonces a direct-connect bank remembers at most (within its window).
pub const NONCE_CAPACITY: usize = 1_000_000;

/// The file names [`generate_dev_keys`] writes per bank, and the manifests that list them.
pub mod dev_key_files {
    /// The bank's private key (hex).
    pub const BANK_PRIVATE: &str = "bank.key";
    /// The bank's public key (hex).
    pub const BANK_PUBLIC: &str = "bank.pub";
    /// The client's (Tianping's) private key (hex).
    pub const CLIENT_PRIVATE: &str = "client.key";
    /// The client's public key (hex).
    pub const CLIENT_PUBLIC: &str = "client.pub";
    /// Manifest: the bank signs with its private key (the simulator's `signing_keys`).
    pub const BANK_SIGNING_MANIFEST: &str = "bank-signing.keys";
    /// Manifest: the bank's public key (the gateway's verifier).
    pub const BANK_PUBLIC_MANIFEST: &str = "bank-public.keys";
    /// Manifest: the client signs with its private key (the gateway's signer).
    pub const CLIENT_SIGNING_MANIFEST: &str = "client-signing.keys";
    /// Manifest: the client's public key (the simulator's `client_public_keys`).
    pub const CLIENT_PUBLIC_MANIFEST: &str = "client-public.keys";
}

/// Why a configuration cannot be loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {detail}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// Not valid TOML for this schema.
    #[error("{path}: {detail}")]
    Toml {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// A bad amount or currency.
    #[error("bank {bank}: {source}")]
    Money {
        /// The bank.
        bank: String,
        /// Why.
        source: MoneyError,
    },
    /// Bad faults.
    #[error("bank {bank}: {source}")]
    Faults {
        /// The bank.
        bank: String,
        /// Why.
        source: FaultError,
    },
    /// Keys that do not load.
    #[error("bank {bank}: {source}")]
    Keys {
        /// The bank.
        bank: String,
        /// Why.
        source: KeyError,
    },
    /// A protocol section that does not fit (a direct bank without `[banks.direct]`).
    #[error("bank {bank}: {detail}")]
    Protocol {
        /// The bank.
        bank: String,
        /// Why.
        detail: String,
    },
    /// The bank refuses its setup.
    #[error("bank {bank}: {source}")]
    Bank {
        /// The bank.
        bank: String,
        /// Why.
        source: BankError,
    },
    /// The simulator refuses the bank.
    #[error(transparent)]
    Host(#[from] HostError),
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// The seed every bank's generator derives from (bank `i` gets `seed + i`).
    #[serde(default)]
    pub seed: u64,
    /// The banks.
    pub banks: Vec<BankConfig>,
}

/// One bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankConfig {
    /// The id: `[a-z0-9-]{1,12}`, the path prefix `/banks/{id}`.
    pub id: String,
    /// A display name.
    pub name: String,
    /// `iso20022` or `direct`.
    pub protocol: Protocol,
    /// ISO 20022 banks: the pain.002 version answered, `10` (default) or `12`.
    #[serde(default)]
    pub pain002_version: Option<u8>,
    /// Direct-connect banks: keys and app id.
    #[serde(default)]
    pub direct: Option<DirectConfig>,
    /// The accounts.
    pub accounts: Vec<AccountConfig>,
    /// Scheduled incoming credits.
    #[serde(default)]
    pub collections: Vec<CollectionConfig>,
    /// Standing faults.
    #[serde(default)]
    pub faults: FaultConfig,
}

/// A direct-connect bank's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectConfig {
    /// The client's app id, carried by every envelope.
    pub app_id: String,
    /// Key ring manifest of the bank's private signing keys.
    pub signing_keys: PathBuf,
    /// Key ring manifest of the client's public keys.
    pub client_public_keys: PathBuf,
    /// The accepted clock difference, ms (default [`DEFAULT_WINDOW_MS`]).
    #[serde(default)]
    pub window_ms: Option<u64>,
}

/// An account with its opening balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The account number.
    pub number: String,
    /// The holder's name.
    pub name: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Decimal text, e.g. `"1000000.00"`.
    pub opening_balance: String,
    /// Direct-connect banks: where this account's callbacks are pushed
    /// (`http://host:port/path`, e.g. a bank worker's `/callbacks/{bank}`); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// Credits posted on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// The credited account.
    pub account: String,
    /// Decimal text in the account's currency.
    pub amount: String,
    /// The payer's name.
    pub payer_name: String,
    /// The remittance text (each credit's number is appended).
    pub remittance: String,
    /// The first credit, ms after the simulator starts.
    #[serde(default)]
    pub first_after_ms: u64,
    /// Time between credits, ms.
    pub every_ms: u64,
    /// How many.
    pub count: u32,
}

impl SimConfig {
    /// Reads and parses `path`; relative key paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<SimConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.display().to_string(),
            detail: error.to_string(),
        })?;
        let mut config: SimConfig = toml::from_str(&text).map_err(|error| ConfigError::Toml {
            path: path.display().to_string(),
            detail: error.to_string(),
        })?;
        let directory = path.parent().unwrap_or(Path::new("."));
        for bank in &mut config.banks {
            if let Some(direct) = &mut bank.direct {
                direct.signing_keys = directory.join(&direct.signing_keys);
                direct.client_public_keys = directory.join(&direct.client_public_keys);
            }
        }
        Ok(config)
    }

    /// Builds the simulator, started at `started_at_ms` (scheduled collections count from it).
    pub fn build(&self, started_at_ms: u64) -> Result<BankSimulator, ConfigError> {
        let mut simulator = BankSimulator::new();
        for (index, bank) in self.banks.iter().enumerate() {
            let seed = self.seed.wrapping_add(index as u64);
            simulator.add(build_bank(bank, seed, started_at_ms)?)?;
        }
        Ok(simulator)
    }
}

fn build_bank(
    config: &BankConfig,
    seed: u64,
    started_at_ms: u64,
) -> Result<HostedBank, ConfigError> {
    let bank_id = config.id.clone();
    let money_error = |source| ConfigError::Money { bank: bank_id.clone(), source };
    config
        .faults
        .validate()
        .map_err(|source| ConfigError::Faults { bank: bank_id.clone(), source })?;
    let mut accounts = Vec::new();
    for account in &config.accounts {
        let currency = Currency::from_code(&account.currency).map_err(money_error)?;
        let opening =
            Money::parse(&account.opening_balance, currency.code()).map_err(money_error)?;
        accounts.push(Account {
            number: account.number.clone(),
            name: account.name.clone(),
            currency,
            opening_balance: opening.minor_units,
            balance: opening.minor_units,
        });
    }
    let mut collections = Vec::new();
    for collection in &config.collections {
        let currency = accounts
            .iter()
            .find(|account| account.number == collection.account)
            .map(|account| account.currency)
            .ok_or_else(|| ConfigError::Bank {
                bank: bank_id.clone(),
                source: BankError::UnknownAccount(collection.account.clone()),
            })?;
        let amount = Money::parse(&collection.amount, currency.code()).map_err(money_error)?;
        collections.push(CollectionSchedule {
            account: collection.account.clone(),
            minor_units: amount.minor_units,
            payer_name: collection.payer_name.clone(),
            remittance: collection.remittance.clone(),
            first_at_ms: started_at_ms.saturating_add(collection.first_after_ms),
            every_ms: collection.every_ms,
            count: collection.count,
        });
    }
    let bank = Bank::new(BankSetup {
        id: config.id.clone(),
        name: config.name.clone(),
        protocol: config.protocol,
        accounts,
        collections,
        faults: config.faults.clone(),
        seed,
    })
    .map_err(|source| ConfigError::Bank { bank: bank_id.clone(), source })?;
    let mut bank = bank;
    let protocol_error =
        |detail: &str| ConfigError::Protocol { bank: bank_id.clone(), detail: detail.to_owned() };
    let direct = match (config.protocol, &config.direct) {
        (Protocol::Direct, Some(direct)) => Some(
            direct_side(direct)
                .map_err(|source| ConfigError::Keys { bank: bank_id.clone(), source })?,
        ),
        (Protocol::Direct, None) => {
            return Err(protocol_error("a direct bank needs [banks.direct]"));
        }
        (Protocol::Iso20022, Some(_)) => {
            return Err(protocol_error("an iso20022 bank takes no [banks.direct]"));
        }
        (Protocol::Iso20022, None) => None,
    };
    let pain002_version = match config.pain002_version {
        None | Some(10) => Pain002Version::V10,
        Some(12) => Pain002Version::V12,
        Some(other) => {
            return Err(protocol_error(&format!("pain002_version {other}: 10 or 12")));
        }
    };
    for account in &config.accounts {
        if let Some(url) = &account.callback_url {
            if config.protocol != Protocol::Direct {
                return Err(protocol_error("only a direct bank pushes callbacks (callback_url)"));
            }
            bank.register_callback(&account.number, Some(url))
                .map_err(|source| ConfigError::Bank { bank: bank_id.clone(), source })?;
        }
    }
    Ok(HostedBank { bank, direct, pain002_version })
}

fn direct_side(config: &DirectConfig) -> Result<DirectSide, KeyError> {
    let signing =
        KeyRing::load(KeyRingSource::Manifest(config.signing_keys.clone()), KeyRole::Signing)?;
    let client = KeyRing::load(
        KeyRingSource::Manifest(config.client_public_keys.clone()),
        KeyRole::VerifyingOnly,
    )?;
    let verifier = Verifier::new(
        VerifierConfig {
            app_id: config.app_id.clone(),
            window_ms: config.window_ms.unwrap_or(DEFAULT_WINDOW_MS),
            nonce_capacity: NONCE_CAPACITY,
        },
        Arc::new(client),
    );
    Ok(DirectSide { app_id: config.app_id.clone(), signing: Arc::new(signing), verifier })
}

/// Writes a throwaway key set for each `(bank id, scheme)` into `directory/{bank id}/`: the
/// bank's and the client's key pairs (hex) and the four manifests of [`dev_key_files`]. For
/// development and tests only (`cargo xtask up`): the keys are fresh randomness, written with
/// owner-only permissions.
pub fn generate_dev_keys(
    directory: &Path,
    banks: &[(&str, SignScheme)],
) -> Result<(), ConfigError> {
    use dev_key_files::*;
    let io_error = |path: &Path, error: std::io::Error| ConfigError::Io {
        path: path.display().to_string(),
        detail: error.to_string(),
    };
    for (bank_id, scheme) in banks {
        let folder = directory.join(bank_id);
        std::fs::create_dir_all(&folder).map_err(|error| io_error(&folder, error))?;
        let keys_error = |source| ConfigError::Keys { bank: (*bank_id).to_owned(), source };
        let (bank_secret, bank_public) = generate_key_pair(*scheme).map_err(keys_error)?;
        let (client_secret, client_public) = generate_key_pair(*scheme).map_err(keys_error)?;
        let scheme_name = scheme.name();
        let files = [
            (BANK_PRIVATE, bank_secret.expose().to_owned(), true),
            (BANK_PUBLIC, bank_public.to_hex(), false),
            (CLIENT_PRIVATE, client_secret.expose().to_owned(), true),
            (CLIENT_PUBLIC, client_public.to_hex(), false),
            (
                BANK_SIGNING_MANIFEST,
                format!("{bank_id}-bank-1 {scheme_name} file:{BANK_PRIVATE}\n"),
                false,
            ),
            (
                BANK_PUBLIC_MANIFEST,
                format!("{bank_id}-bank-1 {scheme_name} file:{BANK_PUBLIC}\n"),
                false,
            ),
            (
                CLIENT_SIGNING_MANIFEST,
                format!("{bank_id}-client-1 {scheme_name} file:{CLIENT_PRIVATE}\n"),
                false,
            ),
            (
                CLIENT_PUBLIC_MANIFEST,
                format!("{bank_id}-client-1 {scheme_name} file:{CLIENT_PUBLIC}\n"),
                false,
            ),
        ];
        for (name, contents, secret) in files {
            let path = folder.join(name);
            write_file(&path, contents.as_bytes(), secret)
                .map_err(|error| io_error(&path, error))?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path)?;
    file.write_all(contents)
}
