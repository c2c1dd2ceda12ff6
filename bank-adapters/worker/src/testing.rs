//! What the worker's tests share: the ledger's own state machine over a memory store behind
//! the worker's ledger traits ([`MemoryLedger`]), and the bank simulator served over HTTP
//! with one bank of each protocol, each holding our custody account and a merchant's — the
//! real pieces on both sides, no mock of either.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tianping_bank_adapters::bank_api::{Clock, SystemClock};
use tianping_bank_adapters::connection::BankConnection;
use tianping_bank_adapters::gateway::Party;
use tianping_bank_adapters::keys::SignScheme;
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_sim::bank::records::Protocol;
use tianping_bank_sim::config::{
    AccountConfig, BankConfig as SimBankConfig, DirectConfig, SimConfig, dev_key_files,
    generate_dev_keys,
};
use tianping_bank_sim::server::{BankSimServer, start};
use tianping_client::{
    ClaimAnswer, Error, EventResult, NewCollection, NewPayout, Payout, PayoutBatchClaim,
    RecordPayoutOutcome,
};
use tianping_ledger::{
    Batch, Collection, CollectionKey, Command, Detail, LedgerConfig, LedgerStore, LedgerStoreMut,
    MemoryStore, NewAccount, ResultCode, StateMachine,
};

use crate::collections::CollectionAccounts;
use crate::config::BankConfig;
use crate::ledger::{CollectionsLedger, WorkerLedger};

pub(crate) const ISO_BANK: &str = "iso-a";
pub(crate) const DIRECT_BANK: &str = "direct-b";
pub(crate) const APP_ID: &str = "tianping";
/// Our custody account, at each bank.
pub(crate) const CUSTODY: &str = "110060149018000123";
/// A merchant's account at the same bank: the beneficiary of one of our payouts.
pub(crate) const MERCHANT: &str = "6222020200001234567";
pub(crate) const LEDGER: u32 = 1;
pub(crate) const CUSTOMER: u128 = 1_001;

/// The ledger accounts of bank `bank`: (settlement, suspense, in transit).
pub(crate) fn bank_accounts(bank: u32) -> (u128, u128, u128) {
    let base = u128::from(bank) * 100;
    (base + 1, base + 2, base + 3)
}

/// The ledger's state machine over a memory store, behind the worker's ledger traits: the
/// ledger's own rules (fencing, leases, per-reference keys), without a cluster.
pub(crate) struct MemoryLedger {
    machine: StateMachine,
    /// The store and the last batch timestamp.
    state: Mutex<(MemoryStore, u64)>,
}

impl MemoryLedger {
    /// A ledger with the customer and every bank's settlement, suspense and in-transit
    /// accounts.
    pub(crate) fn new(banks: &[u32]) -> MemoryLedger {
        let machine = StateMachine::new(LedgerConfig::default()).expect("the default config");
        let ledger = MemoryLedger { machine, state: Mutex::new((MemoryStore::default(), 0)) };
        let mut ids = vec![CUSTOMER];
        for bank in banks {
            let (settlement, suspense, in_transit) = bank_accounts(*bank);
            ids.extend([settlement, suspense, in_transit]);
        }
        let commands = ids
            .into_iter()
            .map(|id| {
                Command::CreateAccount(NewAccount {
                    id,
                    ledger: LEDGER,
                    code: 1,
                    ..NewAccount::default()
                })
            })
            .collect();
        ledger.apply(commands);
        ledger
    }

    pub(crate) fn apply(&self, commands: Vec<Command>) -> Vec<EventResult> {
        let mut state = self.state.lock().expect("lock");
        let (store, timestamp) = &mut *state;
        *timestamp += 1;
        let batch = Batch { timestamp: *timestamp, commands };
        let (results, writes) = self.machine.apply(store, &batch).expect("a valid batch");
        store.commit(&writes);
        results
    }

    /// (debits posted, credits posted) of account `id`.
    pub(crate) fn posted(&self, id: u128) -> (u128, u128) {
        let state = self.state.lock().expect("lock");
        let account = state.0.account(id).expect("the account exists");
        (account.debits_posted, account.credits_posted)
    }

    pub(crate) fn collection(&self, bank: u32, bank_reference: &str) -> Option<Collection> {
        let state = self.state.lock().expect("lock");
        state.0.collection(&CollectionKey { bank, bank_reference: bank_reference.to_owned() })
    }
}

impl CollectionsLedger for MemoryLedger {
    async fn lookup_payouts(&self, ids: &[u128]) -> Result<Vec<Payout>, Error> {
        let state = self.state.lock().expect("lock");
        Ok(ids.iter().filter_map(|id| state.0.payout(*id)).collect())
    }

    async fn book_collections(
        &self,
        collections: &[NewCollection],
    ) -> Result<Vec<EventResult>, Error> {
        Ok(self.apply(collections.iter().cloned().map(Command::BookCollection).collect()))
    }
}

impl WorkerLedger for MemoryLedger {
    async fn claim_payouts(&self, claim: PayoutBatchClaim) -> Result<ClaimAnswer, Error> {
        let result = single(self.apply(vec![Command::ClaimPayoutBatch(claim)]));
        match (result.code, result.detail) {
            (ResultCode::Ok, Detail::Claims(claims)) => Ok(ClaimAnswer::Claimed(claims)),
            (ResultCode::Exists, Detail::Claims(claims)) => Ok(ClaimAnswer::Exists(claims)),
            (code, _) => Err(Error::Refused { code, timestamp: result.timestamp }),
        }
    }

    async fn record_payout_outcome(
        &self,
        outcome: RecordPayoutOutcome,
    ) -> Result<EventResult, Error> {
        let result = single(self.apply(vec![Command::RecordPayoutOutcome(outcome)]));
        match result.code {
            ResultCode::Ok | ResultCode::Exists => Ok(result),
            code => Err(Error::Refused { code, timestamp: result.timestamp }),
        }
    }
}

impl MemoryLedger {
    /// Creates payout `id` of `amount` from the customer into bank `bank`'s in-transit
    /// account, to `beneficiary`.
    pub(crate) fn create_payout(&self, id: u128, bank: u32, amount: u128, beneficiary: &str) {
        let (_, _, in_transit) = bank_accounts(bank);
        let result = single(self.apply(vec![Command::CreatePayout(NewPayout {
            id,
            debit_account_id: CUSTOMER,
            credit_account_id: in_transit,
            amount,
            ledger: LEDGER,
            code: 1,
            bank,
            beneficiary: beneficiary.to_owned(),
            ..NewPayout::default()
        })]));
        assert_eq!(result.code, ResultCode::Ok, "payout {id}: {result:?}");
    }

    /// Payout `id` as the ledger has it.
    pub(crate) fn payout(&self, id: u128) -> Option<Payout> {
        self.state.lock().expect("lock").0.payout(id)
    }
}

fn single(results: Vec<EventResult>) -> EventResult {
    results.into_iter().next().expect("one event, one result")
}

pub(crate) fn sim_accounts() -> Vec<AccountConfig> {
    let account = |number: &str, name: &str, opening: &str| AccountConfig {
        number: number.to_owned(),
        name: name.to_owned(),
        currency: "CNY".to_owned(),
        opening_balance: opening.to_owned(),
        callback_url: None,
    };
    vec![account(CUSTODY, "Tianping custody", "1000000.00"), account(MERCHANT, "Merchant", "0.00")]
}

/// The simulator with one bank of each protocol, both holding the custody and the merchant
/// account, served on 127.0.0.1:0 until `stop` is sent.
pub(crate) async fn simulator(keys: &Path) -> (BankSimServer, tokio::sync::oneshot::Sender<()>) {
    generate_dev_keys(keys, &[(DIRECT_BANK, SignScheme::Sm2Sm3)]).expect("dev keys");
    let bank = |id: &str, protocol, direct| SimBankConfig {
        id: id.to_owned(),
        name: format!("bank {id}"),
        protocol,
        pain002_version: None,
        direct,
        accounts: sim_accounts(),
        collections: Vec::new(),
        faults: Default::default(),
    };
    let direct = DirectConfig {
        app_id: APP_ID.to_owned(),
        signing_keys: keys.join(DIRECT_BANK).join(dev_key_files::BANK_SIGNING_MANIFEST),
        client_public_keys: keys.join(DIRECT_BANK).join(dev_key_files::CLIENT_PUBLIC_MANIFEST),
        window_ms: None,
    };
    let config = SimConfig {
        seed: 11,
        banks: vec![
            bank(ISO_BANK, Protocol::Iso20022, None),
            bank(DIRECT_BANK, Protocol::Direct, Some(direct)),
        ],
    };
    let simulator = config.build(SystemClock.now_unix_ms()).expect("the simulator builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = start(
        Arc::new(Mutex::new(simulator)),
        Arc::new(SystemClock),
        "127.0.0.1:0".parse().expect("address"),
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("serves");
    (server, stop)
}

/// The `[banks.connection]` the worker binary would read for bank `bank_id`.
pub(crate) fn connection(server: &BankSimServer, bank_id: &str, keys: &Path) -> BankConnection {
    let url = server.bank_url(bank_id);
    if bank_id == ISO_BANK {
        return BankConnection::Iso20022 {
            url,
            timeout_ms: 5_000,
            initiating_party: "Tianping".to_owned(),
        };
    }
    BankConnection::Direct {
        url,
        timeout_ms: 5_000,
        app_id: APP_ID.to_owned(),
        signing_keys: keys.join(bank_id).join(dev_key_files::CLIENT_SIGNING_MANIFEST),
        bank_public_keys: keys.join(bank_id).join(dev_key_files::BANK_PUBLIC_MANIFEST),
        window_ms: 300_000,
    }
}

/// The worker's configuration of bank `bank`: custody account [`CUSTODY`].
pub(crate) fn bank_config(bank: u32) -> BankConfig {
    let (settlement, suspense, in_transit) = bank_accounts(bank);
    BankConfig {
        collections: CollectionAccounts {
            bank,
            ledger: LEDGER,
            currency: Currency::Cny,
            settlement_account_id: settlement,
            suspense_account_id: suspense,
            collection_code: 4,
            reversal_code: 5,
        },
        bank_in_transit_account_id: in_transit,
        debtor: Party::new(CUSTODY, "Tianping custody").expect("party"),
        connection: None,
    }
}

pub(crate) fn cny(minor_units: u128) -> Money {
    Money { minor_units, currency: Currency::Cny }
}
