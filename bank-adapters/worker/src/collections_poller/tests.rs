//! The poller end to end on the bank side: the bank simulator served over HTTP, the gateway
//! the worker binary builds (`connection::connect`), and the ledger's own state machine over
//! a memory store — a real ledger, without a cluster.
//!
//! The bank holds our custody account and a merchant's account. A payout of ours to the
//! merchant and a credit to the merchant from outside are the merchant's money: the bank
//! notifies them on the merchant's account, and the poller must never book them as
//! collections (they would be money the company never received). A credit to the custody
//! account is a collection and is booked, for both protocols.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tianping_bank_adapters::bank_api::{Clock, SystemClock};
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::connection::{BankConnection, NetworkGateway, connect};
use tianping_bank_adapters::gateway::{
    AttemptIds, BankGateway, EndToEndId, GatewayError, NotificationCursor, NotificationPage, Party,
    PayoutInstruction, PayoutOutcome,
};
use tianping_bank_adapters::keys::SignScheme;
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_sim::bank::records::Protocol;
use tianping_bank_sim::config::{
    AccountConfig, BankConfig as SimBankConfig, DirectConfig, SimConfig, dev_key_files,
    generate_dev_keys,
};
use tianping_bank_sim::server::{BankSimServer, start};
use tianping_ledger::{
    Batch, Collection, CollectionKey, Command, LedgerConfig, LedgerStore, LedgerStoreMut,
    MemoryStore, NewAccount, StateMachine,
};

use super::*;
use crate::collections::CollectionAccounts;

const ISO_BANK: &str = "iso-a";
const DIRECT_BANK: &str = "direct-b";
const APP_ID: &str = "tianping";
/// Our custody account, at each bank.
const CUSTODY: &str = "110060149018000123";
/// A merchant's account at the same bank: the beneficiary of one of our payouts.
const MERCHANT: &str = "6222020200001234567";
const LEDGER: u32 = 1;
const CUSTOMER: u128 = 1_001;

/// The ledger accounts of bank `bank`: (settlement, suspense, in transit).
fn bank_accounts(bank: u32) -> (u128, u128, u128) {
    let base = u128::from(bank) * 100;
    (base + 1, base + 2, base + 3)
}

/// The ledger's state machine over a memory store, behind the poller's ledger trait.
struct MemoryLedger {
    machine: StateMachine,
    /// The store and the last batch timestamp.
    state: Mutex<(MemoryStore, u64)>,
}

impl MemoryLedger {
    /// A ledger with the customer and every bank's settlement, suspense and in-transit
    /// accounts.
    fn new(banks: &[u32]) -> MemoryLedger {
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

    fn apply(&self, commands: Vec<Command>) -> Vec<EventResult> {
        let mut state = self.state.lock().expect("lock");
        let (store, timestamp) = &mut *state;
        *timestamp += 1;
        let batch = Batch { timestamp: *timestamp, commands };
        let (results, writes) = self.machine.apply(store, &batch).expect("a valid batch");
        store.commit(&writes);
        results
    }

    /// (debits posted, credits posted) of account `id`.
    fn posted(&self, id: u128) -> (u128, u128) {
        let state = self.state.lock().expect("lock");
        let account = state.0.account(id).expect("the account exists");
        (account.debits_posted, account.credits_posted)
    }

    fn collection(&self, bank: u32, bank_reference: &str) -> Option<Collection> {
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

fn sim_accounts() -> Vec<AccountConfig> {
    let account = |number: &str, name: &str, opening: &str| AccountConfig {
        number: number.to_owned(),
        name: name.to_owned(),
        currency: "CNY".to_owned(),
        opening_balance: opening.to_owned(),
    };
    vec![account(CUSTODY, "Tianping custody", "1000000.00"), account(MERCHANT, "Merchant", "0.00")]
}

/// The simulator with one bank of each protocol, both holding the custody and the merchant
/// account, served on 127.0.0.1:0 until `stop` is sent.
async fn simulator(keys: &Path) -> (BankSimServer, tokio::sync::oneshot::Sender<()>) {
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
fn connection(server: &BankSimServer, bank_id: &str, keys: &Path) -> BankConnection {
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
fn bank_config(bank: u32) -> BankConfig {
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

fn cny(minor_units: u128) -> Money {
    Money { minor_units, currency: Currency::Cny }
}

/// Polls until the feed has nothing new; every page must settle.
async fn drain<G: BankGateway>(poller: &Poller<'_, G, MemoryLedger>) {
    let mut cursor = NotificationCursor(String::new());
    loop {
        let outcome = poll_page(poller, &cursor).await.expect("the page is fetched and booked");
        assert!(outcome.settled, "every entry settles");
        if outcome.entries == 0 {
            return;
        }
        cursor = outcome.next_cursor;
    }
}

/// One bank's scenario: our payout of 12 500 to the merchant, 6 000 credited to the
/// merchant from outside (naming our customer, even), 9 900 credited to our custody account
/// for the customer; then the poller drains the feed.
async fn only_custody_credits_are_booked(
    server: &BankSimServer,
    keys: &Path,
    bank_id: &str,
    bank: u32,
) {
    let gateway: NetworkGateway =
        connect(bank, &connection(server, bank_id, keys), keys).expect("the gateway");
    let payout = PayoutInstruction {
        end_to_end_id: EndToEndId::from_payout_id(7_001).expect("id"),
        attempt: AttemptIds::fresh().expect("ids"),
        amount: cny(12_500),
        debtor: Party::new(CUSTODY, "Tianping custody").expect("party"),
        creditor: Party::new(MERCHANT, "Merchant").expect("party"),
        requested_execution_date: Date::from_unix_ms(SystemClock.now_unix_ms()),
        created_at_unix_ms: SystemClock.now_unix_ms(),
    };
    let outcome = gateway.submit_payout(&payout).await.expect("answers");
    assert!(matches!(outcome, PayoutOutcome::Executed { .. }), "{outcome:?}");
    let now = SystemClock.now_unix_ms();
    let credit = |account: &str, minor_units, payer: &str| {
        let mut simulator = server.simulator().lock().expect("lock");
        let hosted = simulator.bank_mut(bank_id).expect("the bank");
        hosted
            .bank
            .inject_credit(
                account,
                cny(minor_units),
                payer,
                vec![format!("TP{CUSTOMER}")],
                None,
                now,
            )
            .expect("credits")
    };
    let to_merchant = credit(MERCHANT, 6_000, "Outside payer");
    let to_custody = credit(CUSTODY, 9_900, "Customer Li");
    let merchant_entries: Vec<String> = {
        let simulator = server.simulator().lock().expect("lock");
        let hosted = simulator.bank(bank_id).expect("the bank");
        hosted
            .bank
            .journal()
            .iter()
            .filter(|entry| entry.account == MERCHANT)
            .map(|entry| entry.bank_reference.clone())
            .collect()
    };
    assert_eq!(merchant_entries.len(), 2, "the payout's credit and the outside credit");
    assert!(merchant_entries.contains(&to_merchant));

    let ledger = MemoryLedger::new(&[bank]);
    let config = bank_config(bank);
    let metrics = WorkerMetrics::new();
    let poller = Poller { gateway: &gateway, ledger: &ledger, bank: &config, metrics: &metrics };
    drain(&poller).await;

    let (settlement, suspense, _) = bank_accounts(bank);
    for reference in &merchant_entries {
        assert_eq!(ledger.collection(bank, reference), None, "{bank_id}: {reference} is not ours");
    }
    let booked = ledger.collection(bank, &to_custody).expect("the custody credit is booked");
    assert_eq!(booked.request.id, collection_id(bank, &to_custody));
    assert_eq!(ledger.posted(CUSTOMER), (0, 9_900), "{bank_id}: only the custody credit");
    assert_eq!(ledger.posted(suspense), (0, 0), "{bank_id}: nothing to suspense");
    assert_eq!(ledger.posted(settlement), (9_900, 0), "{bank_id}");
}

/// A gateway that reads the merchant's feed whatever account it is asked for: the mistake
/// the poller's own check exists for (the real gateways refuse an answer about another account,
/// but this one asked for it, so the answer is consistent with its request).
struct MerchantFeed<'a>(&'a NetworkGateway);

impl BankGateway for MerchantFeed<'_> {
    async fn submit_payout(
        &self,
        instruction: &PayoutInstruction,
    ) -> Result<PayoutOutcome, GatewayError> {
        self.0.submit_payout(instruction).await
    }

    async fn query_payout(
        &self,
        end_to_end_id: &EndToEndId,
    ) -> Result<tianping_bank_adapters::gateway::PayoutQuery, GatewayError> {
        self.0.query_payout(end_to_end_id).await
    }

    async fn fetch_notifications(
        &self,
        _account: &str,
        cursor: &NotificationCursor,
        limit: usize,
    ) -> Result<NotificationPage, GatewayError> {
        self.0.fetch_notifications(MERCHANT, cursor, limit).await
    }

    async fn fetch_statement(
        &self,
        account: &str,
        period: tianping_bank_adapters::gateway::StatementPeriod,
    ) -> Result<tianping_bank_adapters::gateway::Statement, GatewayError> {
        self.0.fetch_statement(account, period).await
    }
}

/// A page of another account reaches the poller anyway: refused whole, counted as
/// `wrong_account`, nothing booked.
async fn a_page_of_another_account_is_never_booked(
    server: &BankSimServer,
    keys: &Path,
    bank_id: &str,
    bank: u32,
) {
    let gateway: NetworkGateway =
        connect(bank, &connection(server, bank_id, keys), keys).expect("the gateway");
    let ledger = MemoryLedger::new(&[bank]);
    let config = bank_config(bank);
    let metrics = WorkerMetrics::new();
    let wrong = MerchantFeed(&gateway);
    let poller = Poller { gateway: &wrong, ledger: &ledger, bank: &config, metrics: &metrics };
    let refused = poll_page(&poller, &NotificationCursor(String::new())).await;
    assert!(
        matches!(
            refused,
            Err(PollError::Gateway(GatewayError::WrongAccount { ref asked, ref answered }))
                if asked == CUSTODY && answered == MERCHANT
        ),
        "{bank_id}: {:?}",
        refused.map(|outcome| outcome.entries)
    );
    let (settlement, suspense, _) = bank_accounts(bank);
    assert_eq!(ledger.posted(settlement), (0, 0), "{bank_id}: nothing booked");
    assert_eq!(ledger.posted(suspense), (0, 0), "{bank_id}: nothing booked");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, metrics.registry()).expect("encodes");
    let counted = format!(
        "tianping_bank_gateway_errors_total{{bank=\"{bank}\",direction=\"in\",kind=\"wrong_account\"}} 1"
    );
    assert!(text.contains(&counted), "{counted} missing from\n{text}");
}

#[tokio::test]
async fn credits_to_other_accounts_at_the_bank_are_never_collections() {
    let keys = tempfile::tempdir().expect("temporary directory");
    let (server, stop) = simulator(keys.path()).await;
    only_custody_credits_are_booked(&server, keys.path(), ISO_BANK, 1).await;
    only_custody_credits_are_booked(&server, keys.path(), DIRECT_BANK, 2).await;
    a_page_of_another_account_is_never_booked(&server, keys.path(), ISO_BANK, 1).await;
    a_page_of_another_account_is_never_booked(&server, keys.path(), DIRECT_BANK, 2).await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("shuts down in time")
        .expect("shuts down cleanly");
}
