//! A simulator with one bank of each protocol, served on 127.0.0.1:0, and gateways to it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tianping_bank_adapters::bank_api::direct::DirectGateway;
use tianping_bank_adapters::bank_api::iso20022::Iso20022Gateway;
use tianping_bank_adapters::bank_api::{Clock, SystemClock};
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::direct::{Verifier, VerifierConfig};
use tianping_bank_adapters::gateway::{AttemptIds, EndToEndId, Party, PayoutInstruction};
use tianping_bank_adapters::keys::{KeyRing, KeyRingSource, KeyRole, SignScheme};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_adapters::transport::Transport;
use tianping_bank_adapters::transport::http::HttpTransport;
use tianping_bank_sim::bank::records::Protocol;
use tianping_bank_sim::config::{
    AccountConfig, BankConfig, CollectionConfig, DirectConfig, SimConfig, dev_key_files,
    generate_dev_keys,
};
use tianping_bank_sim::server::{BankSimServer, start};

pub const ISO_BANK: &str = "iso-a";
pub const DIRECT_BANK: &str = "direct-b";
pub const APP_ID: &str = "tianping";
/// Our custody account at each bank: 1 000 000.00 CNY.
pub const CUSTODY: &str = "110060149018000123";
/// A second account at each bank, empty.
pub const MERCHANT: &str = "6222020200001234567";
/// An account elsewhere.
pub const EXTERNAL: &str = "9999000011112222";
pub const OPENING_MINOR_UNITS: u128 = 100_000_000;
/// The gateways' per-request deadline.
pub const DEADLINE: Duration = Duration::from_millis(700);

pub fn accounts() -> Vec<AccountConfig> {
    vec![
        AccountConfig {
            number: CUSTODY.to_owned(),
            name: "Tianping custody".to_owned(),
            currency: "CNY".to_owned(),
            opening_balance: "1000000.00".to_owned(),
            callback_url: None,
        },
        AccountConfig {
            number: MERCHANT.to_owned(),
            name: "Merchant".to_owned(),
            currency: "CNY".to_owned(),
            opening_balance: "0.00".to_owned(),
            callback_url: None,
        },
    ]
}

pub fn config(keys: &Path, pain002_version: u8) -> SimConfig {
    SimConfig {
        seed: 7,
        banks: vec![
            BankConfig {
                id: ISO_BANK.to_owned(),
                name: "ISO bank".to_owned(),
                protocol: Protocol::Iso20022,
                pain002_version: Some(pain002_version),
                direct: None,
                accounts: accounts(),
                collections: Vec::new(),
                faults: Default::default(),
            },
            BankConfig {
                id: DIRECT_BANK.to_owned(),
                name: "Direct bank".to_owned(),
                protocol: Protocol::Direct,
                pain002_version: None,
                direct: Some(DirectConfig {
                    app_id: APP_ID.to_owned(),
                    signing_keys: keys.join(DIRECT_BANK).join(dev_key_files::BANK_SIGNING_MANIFEST),
                    client_public_keys: keys
                        .join(DIRECT_BANK)
                        .join(dev_key_files::CLIENT_PUBLIC_MANIFEST),
                    window_ms: None,
                }),
                accounts: accounts(),
                collections: Vec::new(),
                faults: Default::default(),
            },
        ],
    }
}

/// What a test changes about the simulator it starts.
pub struct Setup {
    /// The pain.002 version the ISO 20022 bank answers with (10 or 12).
    pub pain002_version: u8,
    /// Incoming credits the ISO 20022 bank posts on a schedule.
    pub iso_collections: Vec<CollectionConfig>,
    /// The server's clock (the simulator starts at its `now`).
    pub clock: Arc<dyn Clock>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup { pain002_version: 10, iso_collections: Vec::new(), clock: Arc::new(SystemClock) }
    }
}

pub struct Harness {
    pub server: BankSimServer,
    pub keys: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(Setup::default()).await
    }

    pub async fn start_with(setup: Setup) -> Harness {
        let keys = tempfile::tempdir().expect("temporary directory");
        generate_dev_keys(keys.path(), &[(DIRECT_BANK, SignScheme::Sm2Sm3)]).expect("dev keys");
        let mut config = config(keys.path(), setup.pain002_version);
        config
            .banks
            .iter_mut()
            .find(|bank| bank.id == ISO_BANK)
            .expect("the ISO 20022 bank")
            .collections = setup.iso_collections;
        let simulator = config.build(setup.clock.now_unix_ms()).expect("builds");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = start(
            Arc::new(std::sync::Mutex::new(simulator)),
            setup.clock,
            "127.0.0.1:0".parse().expect("address"),
            async move {
                let _ = stopped.await;
            },
        )
        .await
        .expect("serves");
        Harness { server, keys, stop: Some(stop) }
    }

    pub fn transport(&self, bank: &str) -> HttpTransport {
        HttpTransport::new(&self.server.bank_url(bank), DEADLINE).expect("transport")
    }

    pub fn iso_gateway(&self) -> Iso20022Gateway<HttpTransport> {
        Iso20022Gateway::new(self.transport(ISO_BANK), "Tianping")
    }

    pub fn direct_gateway(&self) -> DirectGateway<HttpTransport> {
        self.direct_gateway_over(self.transport(DIRECT_BANK))
    }

    /// A gateway to the direct-connect bank, with our dev keys, over `transport`.
    pub fn direct_gateway_over<T: Transport>(&self, transport: T) -> DirectGateway<T> {
        let folder = self.keys.path().join(DIRECT_BANK);
        let signing = KeyRing::load(
            KeyRingSource::Manifest(folder.join(dev_key_files::CLIENT_SIGNING_MANIFEST)),
            KeyRole::Signing,
        )
        .expect("client keys");
        let bank_keys = KeyRing::load(
            KeyRingSource::Manifest(folder.join(dev_key_files::BANK_PUBLIC_MANIFEST)),
            KeyRole::VerifyingOnly,
        )
        .expect("bank keys");
        let verifier = Verifier::new(
            VerifierConfig {
                app_id: APP_ID.to_owned(),
                window_ms: 300_000,
                nonce_capacity: 10_000,
            },
            Arc::new(bank_keys),
        );
        DirectGateway::new(transport, APP_ID, Arc::new(signing), verifier, Arc::new(SystemClock))
    }

    /// Runs `change` on bank `bank` under the simulator's lock.
    pub fn with_bank<T>(
        &self,
        bank: &str,
        change: impl FnOnce(&mut tianping_bank_sim::simulator::HostedBank) -> T,
    ) -> T {
        let mut simulator = self.server.simulator().lock().expect("lock");
        change(simulator.bank_mut(bank).expect("bank"))
    }

    pub fn balance(&self, bank: &str, account: &str) -> u128 {
        self.with_bank(bank, |hosted| hosted.bank.accounts()[account].balance)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.server.wait())
            .await
            .expect("shuts down in time")
            .expect("shuts down cleanly");
    }
}

pub fn today() -> Date {
    Date::from_unix_ms(SystemClock.now_unix_ms())
}

/// A payout of `minor_units` CNY from our custody account to `creditor`, with fresh attempt
/// ids.
pub fn payout(payout_id: u128, minor_units: u128, creditor: &str) -> PayoutInstruction {
    PayoutInstruction {
        end_to_end_id: EndToEndId::from_payout_id(payout_id).expect("id"),
        attempt: AttemptIds::fresh().expect("ids"),
        amount: Money { minor_units, currency: Currency::Cny },
        debtor: Party::new(CUSTODY, "Tianping custody").expect("party"),
        creditor: Party::new(creditor, "Beneficiary 张三").expect("party"),
        requested_execution_date: today(),
        created_at_unix_ms: 1_715_851_800_000,
    }
}
