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
use std::time::Duration;

use tianping_bank_adapters::bank_api::{Clock, SystemClock};
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::connection::{NetworkGateway, connect};
use tianping_bank_adapters::gateway::{
    AttemptIds, BankGateway, EndToEndId, GatewayError, NotificationCursor, NotificationPage, Party,
    PayoutInstruction, PayoutOutcome,
};
use tianping_bank_sim::server::BankSimServer;

use super::*;
use crate::testing::{
    CUSTODY, CUSTOMER, DIRECT_BANK, ISO_BANK, MERCHANT, MemoryLedger, bank_accounts, bank_config,
    cny, connection, simulator,
};

/// Polls until the feed has nothing new; every page must settle.
pub(crate) async fn drain<G: BankGateway>(poller: &Poller<'_, G, MemoryLedger>) {
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
