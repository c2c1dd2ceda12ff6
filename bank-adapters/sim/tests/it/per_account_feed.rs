//! The notification feed is per account, over real HTTP, for both protocols: a cursor is
//! bound to the account whose feed handed it out, an account the bank does not hold is
//! refused, the camt.054 names the account asked for, an answer about another account is
//! refused by the gateway (never returned), and the direct-connect request's account is
//! covered by its signature.

use std::sync::Arc;

use tianping_bank_adapters::bank_api::iso20022::Iso20022Gateway;
use tianping_bank_adapters::bank_api::{Clock, NEXT_CURSOR_HEADER, SystemClock, paths};
use tianping_bank_adapters::direct::{Envelope, MessageKind, fresh_nonce, seal};
use tianping_bank_adapters::direct_bodies::NotificationsBody;
use tianping_bank_adapters::gateway::{
    BankGateway, GatewayError, NotificationCursor, PayoutOutcome, ReferenceError,
};
use tianping_bank_adapters::iso20022::camt;
use tianping_bank_adapters::keys::{KeyRing, KeyRingSource, KeyRole};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_adapters::transport::http::HttpTransport;
use tianping_bank_adapters::transport::{BankRequest, BankResponse, Transport, TransportError};
use tianping_bank_sim::config::dev_key_files;

use crate::harness::{CUSTODY, DIRECT_BANK, Harness, ISO_BANK, MERCHANT, payout};

/// A transport between the gateway and the bank that edits what passes: every request before
/// it is sent, every answer before the gateway reads it — a bank or a proxy that gets the
/// account wrong.
struct Tamper<R, A> {
    inner: HttpTransport,
    request: R,
    answer: A,
}

impl<R, A> Transport for Tamper<R, A>
where
    R: Fn(BankRequest) -> BankRequest + Send + Sync,
    A: Fn(BankResponse) -> BankResponse + Send + Sync,
{
    async fn send(&self, request: BankRequest) -> Result<BankResponse, TransportError> {
        let answer = self.inner.send((self.request)(request)).await?;
        Ok((self.answer)(answer))
    }
}

fn cny(minor_units: u128) -> Money {
    Money { minor_units, currency: Currency::Cny }
}

/// Our payout to the merchant (a debit on our feed, a credit on the merchant's) and a credit
/// to the merchant from outside.
async fn merchant_business<G: BankGateway>(harness: &Harness, bank: &str, gateway: &G) {
    let paid = gateway.submit_payout(&payout(9001, 12_500, MERCHANT)).await.expect("answers");
    assert!(matches!(paid, PayoutOutcome::Executed { .. }), "{paid:?}");
    let now = SystemClock.now_unix_ms();
    harness
        .with_bank(bank, |hosted| {
            let lines = vec!["INVOICE 7".to_owned()];
            hosted.bank.inject_credit(MERCHANT, cny(6_000), "Outside payer", lines, None, now)
        })
        .expect("credits");
}

/// A cursor of our feed is refused on the merchant's, even where its position would be in
/// range there; an unknown account is refused by the bank, a malformed one never sent.
async fn cursors_and_accounts_are_checked<G: BankGateway>(
    harness: &Harness,
    bank: &str,
    gateway: &G,
) {
    merchant_business(harness, bank, gateway).await;
    let start = NotificationCursor(String::new());
    let ours = gateway.fetch_notifications(CUSTODY, &start, 1).await.expect("answers");
    assert_eq!(ours.entries.len(), 1, "our debit");
    let theirs = gateway.fetch_notifications(MERCHANT, &start, 10).await.expect("answers");
    assert_eq!(theirs.entries.len(), 2, "the payout's credit and the outside credit");
    // Our cursor is at position 1, a position the merchant's feed has.
    let refused = gateway.fetch_notifications(MERCHANT, &ours.next_cursor, 10).await;
    assert!(
        matches!(refused, Err(GatewayError::BankStatus { status: 400, .. })),
        "{bank}: another account's cursor: {refused:?}"
    );
    let refused = gateway.fetch_notifications(CUSTODY, &theirs.next_cursor, 10).await;
    assert!(matches!(refused, Err(GatewayError::BankStatus { status: 400, .. })), "{refused:?}");
    // Each cursor still works on its own feed.
    let next = gateway.fetch_notifications(CUSTODY, &ours.next_cursor, 10).await.expect("ours");
    assert!(next.entries.is_empty(), "nothing after our debit: {next:?}");
    let unknown = gateway.fetch_notifications("6200000000000000000", &start, 10).await;
    assert!(
        matches!(unknown, Err(GatewayError::BankStatus { status: 400, .. })),
        "{bank}: an account the bank does not hold: {unknown:?}"
    );
    let malformed = gateway.fetch_notifications("12 34", &start, 10).await;
    assert!(
        matches!(malformed, Err(GatewayError::NotSent(ReferenceError::BadReference { .. }))),
        "{malformed:?}"
    );
}

#[tokio::test]
async fn cursors_are_bound_to_their_account_and_accounts_are_checked() {
    let harness = Harness::start().await;
    cursors_and_accounts_are_checked(&harness, ISO_BANK, &harness.iso_gateway()).await;
    cursors_and_accounts_are_checked(&harness, DIRECT_BANK, &harness.direct_gateway()).await;
    harness.stop().await;
}

#[tokio::test]
async fn the_camt_054_names_the_account_asked_for() {
    let harness = Harness::start().await;
    merchant_business(&harness, ISO_BANK, &harness.iso_gateway()).await;
    let transport = harness.transport(ISO_BANK);
    for (account, entries) in [(CUSTODY, 1), (MERCHANT, 2), (CUSTODY, 1)] {
        let path = format!("{}?account={account}&cursor=&limit=10", paths::ISO_NOTIFICATIONS);
        let answer = transport.send(BankRequest::get(path)).await.expect("answers");
        assert_eq!(answer.status, 200);
        assert!(answer.header(NEXT_CURSOR_HEADER).is_some());
        let text = std::str::from_utf8(&answer.body).expect("UTF-8");
        let document = camt::read_notifications(text).expect("reads");
        assert_eq!(document.notifications.len(), 1, "one Ntfctn: {text}");
        assert_eq!(document.notifications[0].account, account, "Ntfctn/Acct/Id");
        assert_eq!(document.notifications[0].entries.len(), entries);
        assert!(text.contains(&format!("<Acct><Id><Othr><Id>{account}</Id></Othr></Id>")));
    }
    // A request without an account is refused: there is no bank-wide feed.
    let path = format!("{}?cursor=&limit=10", paths::ISO_NOTIFICATIONS);
    assert_eq!(transport.send(BankRequest::get(path)).await.expect("answers").status, 400);
    harness.stop().await;
}

#[tokio::test]
async fn an_iso_20022_page_of_another_account_is_refused() {
    let harness = Harness::start().await;
    merchant_business(&harness, ISO_BANK, &harness.iso_gateway()).await;
    // Whatever we ask for, the request reaches the bank as the merchant's.
    let tamper = Tamper {
        inner: harness.transport(ISO_BANK),
        request: |mut request: BankRequest| {
            request.path =
                request.path.replace(&format!("account={CUSTODY}"), &format!("account={MERCHANT}"));
            request
        },
        answer: |answer| answer,
    };
    let gateway = Iso20022Gateway::new(tamper, "Tianping");
    let page = gateway.fetch_notifications(CUSTODY, &NotificationCursor(String::new()), 10).await;
    assert!(
        matches!(
            page,
            Err(GatewayError::WrongAccount { ref asked, ref answered })
                if asked == CUSTODY && answered == MERCHANT
        ),
        "{page:?}"
    );
    assert!(page.is_err_and(|error| error.outcome_unknown()));
    harness.stop().await;
}

/// The bank's signing keys, to forge what a bank that answers about the wrong account would
/// send: a validly signed answer.
fn bank_signing(harness: &Harness) -> Arc<KeyRing> {
    let manifest = harness.keys.path().join(DIRECT_BANK).join(dev_key_files::BANK_SIGNING_MANIFEST);
    Arc::new(KeyRing::load(KeyRingSource::Manifest(manifest), KeyRole::Signing).expect("keys"))
}

#[tokio::test]
async fn a_signed_direct_connect_page_of_another_account_is_refused() {
    let harness = Harness::start().await;
    merchant_business(&harness, DIRECT_BANK, &harness.direct_gateway()).await;
    let signing = bank_signing(&harness);
    // The bank answers our request, then the answer is re-signed by the bank naming the
    // merchant's account: valid signature, wrong account.
    let tamper = Tamper {
        inner: harness.transport(DIRECT_BANK),
        request: |request| request,
        answer: move |mut answer: BankResponse| {
            let envelope: Envelope = serde_json::from_slice(&answer.body).expect("an envelope");
            let mut body: NotificationsBody =
                serde_json::from_str(&envelope.biz_content).expect("a page");
            body.account = MERCHANT.to_owned();
            let signer = signing.signer().expect("signer");
            let resealed = seal(
                signer.as_ref(),
                &envelope.app_id,
                MessageKind::Answer,
                envelope.timestamp_ms,
                &fresh_nonce().expect("nonce"),
                serde_json::to_string(&body).expect("json"),
            )
            .expect("seals");
            answer.body = serde_json::to_vec(&resealed).expect("json");
            answer
        },
    };
    let gateway = harness.direct_gateway_over(tamper);
    let page = gateway.fetch_notifications(CUSTODY, &NotificationCursor(String::new()), 10).await;
    assert!(
        matches!(
            page,
            Err(GatewayError::WrongAccount { ref asked, ref answered })
                if asked == CUSTODY && answered == MERCHANT
        ),
        "{page:?}"
    );
    assert_eq!(gateway.verifier_counts().accepted, 1, "the signature itself was good");
    harness.stop().await;
}

#[tokio::test]
async fn the_direct_connect_account_is_covered_by_the_signature() {
    let harness = Harness::start().await;
    merchant_business(&harness, DIRECT_BANK, &harness.direct_gateway()).await;
    // Someone between us and the bank points our signed request at the merchant's feed.
    let tamper = Tamper {
        inner: harness.transport(DIRECT_BANK),
        request: |mut request: BankRequest| {
            let mut envelope: Envelope =
                serde_json::from_slice(&request.body).expect("an envelope");
            assert!(envelope.biz_content.contains(CUSTODY), "{}", envelope.biz_content);
            envelope.biz_content = envelope.biz_content.replace(CUSTODY, MERCHANT);
            request.body = serde_json::to_vec(&envelope).expect("json");
            request
        },
        answer: |answer| answer,
    };
    let gateway = harness.direct_gateway_over(tamper);
    let page = gateway.fetch_notifications(CUSTODY, &NotificationCursor(String::new()), 10).await;
    assert!(matches!(page, Err(GatewayError::BankStatus { status: 401, .. })), "{page:?}");
    let counts = harness.with_bank(DIRECT_BANK, |hosted| {
        hosted.direct.as_ref().expect("direct").verifier.stats().snapshot()
    });
    assert_eq!(counts.bad_signature, 1, "the bank refused the edited request: {counts:?}");
    // Untouched, the same call reads our feed: the payout's debit only.
    let page = harness
        .direct_gateway()
        .fetch_notifications(CUSTODY, &NotificationCursor(String::new()), 10)
        .await
        .expect("answers");
    assert_eq!(page.account, CUSTODY);
    assert_eq!(page.entries.len(), 1, "{page:?}");
    harness.stop().await;
}
