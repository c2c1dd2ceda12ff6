//! Every scenario of the brief, over real HTTP, for both protocols: the same scenario
//! functions run against the ISO 20022 gateway and the direct-connect gateway.

use std::time::Duration;

use tianping_bank_adapters::bank_api::paths;
use tianping_bank_adapters::direct::{MessageKind, VerifyError, fresh_nonce, seal};
use tianping_bank_adapters::direct_bodies::PayoutQueryBody;
use tianping_bank_adapters::gateway::{
    BankGateway, Direction, EndToEndId, GatewayError, NotificationCursor, PayoutOutcome,
    PayoutQuery, StatementPeriod,
};
use tianping_bank_adapters::keys::{KeyRing, KeyRingSource, KeyRole};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_adapters::transport::{BankRequest, Transport};
use tianping_bank_sim::faults::{Fault, PendingEnd};

use crate::harness::{
    CUSTODY, DIRECT_BANK, EXTERNAL, Harness, ISO_BANK, MERCHANT, OPENING_MINOR_UNITS, payout, today,
};

fn direct(harness: &Harness, bank: &str, id: u128, faults: Vec<Fault>) {
    let id = EndToEndId::from_payout_id(id).expect("id");
    harness.with_bank(bank, |hosted| hosted.bank.add_directive(id, faults));
}

fn executed(outcome: &PayoutOutcome) -> bool {
    matches!(outcome, PayoutOutcome::Executed { .. })
}

async fn submit_and_duplicate_pay_once<G: BankGateway>(harness: &Harness, bank: &str, gateway: &G) {
    let before = harness.balance(bank, CUSTODY);
    let first = gateway.submit_payout(&payout(1001, 12_345, EXTERNAL)).await.expect("answers");
    assert!(executed(&first), "{first:?}");
    // A resend: fresh message ids, the same end-to-end id.
    let second = gateway.submit_payout(&payout(1001, 12_345, EXTERNAL)).await.expect("answers");
    assert_eq!(second, first, "the duplicate is answered with the first one's status");
    assert_eq!(harness.balance(bank, CUSTODY), before - 12_345, "paid once");
    let attempts = harness.with_bank(bank, |hosted| {
        hosted.bank.instructions()[&EndToEndId::from_payout_id(1001).expect("id")].attempts
    });
    assert_eq!(attempts, 2);
    // Internal: the merchant is credited.
    let internal = gateway.submit_payout(&payout(1002, 500, MERCHANT)).await.expect("answers");
    assert!(executed(&internal));
    assert_eq!(harness.balance(bank, MERCHANT), 500);
}

async fn timeouts_then_query_by_the_same_id<G: BankGateway>(
    harness: &Harness,
    bank: &str,
    gateway: &G,
) {
    let before = harness.balance(bank, CUSTODY);
    // Executed, then no answer: the caller must query, and finds it executed.
    direct(harness, bank, 2001, vec![Fault::TimeoutAfterExecute]);
    let error = gateway.submit_payout(&payout(2001, 700, EXTERNAL)).await.expect_err("times out");
    assert!(error.outcome_unknown(), "{error:?}");
    let found = gateway.query_payout(&EndToEndId::from_payout_id(2001).expect("id")).await;
    assert!(matches!(found, Ok(PayoutQuery::Known(ref outcome)) if executed(outcome)), "{found:?}");
    // Executed, then the connection drops.
    direct(harness, bank, 2002, vec![Fault::LoseAnswer]);
    let error = gateway.submit_payout(&payout(2002, 300, EXTERNAL)).await.expect_err("dropped");
    assert!(error.outcome_unknown(), "{error:?}");
    let found = gateway.query_payout(&EndToEndId::from_payout_id(2002).expect("id")).await;
    assert!(matches!(found, Ok(PayoutQuery::Known(ref outcome)) if executed(outcome)), "{found:?}");
    // Never executed: the query says not found, and a resend with the same id pays.
    direct(harness, bank, 2003, vec![Fault::TimeoutBeforeExecute]);
    let error = gateway.submit_payout(&payout(2003, 100, EXTERNAL)).await.expect_err("times out");
    assert!(error.outcome_unknown());
    let id = EndToEndId::from_payout_id(2003).expect("id");
    assert_eq!(gateway.query_payout(&id).await.expect("answers"), PayoutQuery::NotFound);
    assert!(executed(&gateway.submit_payout(&payout(2003, 100, EXTERNAL)).await.expect("answers")));
    assert_eq!(harness.balance(bank, CUSTODY), before - 700 - 300 - 100, "each paid once");
}

fn reason_of(outcome: &PayoutOutcome) -> Option<String> {
    match outcome {
        PayoutOutcome::Rejected { reason } => reason.as_ref().map(|reason| reason.code.clone()),
        _ => None,
    }
}

async fn rejections_carry_reasons<G: BankGateway>(harness: &Harness, bank: &str, gateway: &G) {
    let before = harness.balance(bank, CUSTODY);
    direct(harness, bank, 3001, vec![Fault::Reject { reason_code: "AC04".to_owned() }]);
    let rejected = gateway.submit_payout(&payout(3001, 100, EXTERNAL)).await.expect("answers");
    assert_eq!(reason_of(&rejected).as_deref(), Some("AC04"), "{rejected:?}");
    let too_much = gateway
        .submit_payout(&payout(3002, OPENING_MINOR_UNITS * 10, EXTERNAL))
        .await
        .expect("answers");
    assert_eq!(reason_of(&too_much).as_deref(), Some("AM04"), "{too_much:?}");
    let mut dollars = payout(3003, 100, EXTERNAL);
    dollars.amount = Money { minor_units: 100, currency: Currency::Usd };
    let wrong_currency = gateway.submit_payout(&dollars).await.expect("answers");
    assert_eq!(reason_of(&wrong_currency).as_deref(), Some("AM03"));
    // A rejection is final and kept: the query says the same; no money moved.
    let queried = gateway.query_payout(&EndToEndId::from_payout_id(3001).expect("id")).await;
    assert!(matches!(queried, Ok(PayoutQuery::Known(PayoutOutcome::Rejected { .. }))));
    assert_eq!(harness.balance(bank, CUSTODY), before);
}

async fn pending_then_final<G: BankGateway>(harness: &Harness, bank: &str, gateway: &G) {
    direct(harness, bank, 4001, vec![Fault::Pending { ms: 300, then: PendingEnd::Execute }]);
    direct(harness, bank, 4002, vec![Fault::Pending { ms: 300, then: PendingEnd::Reject }]);
    let first = gateway.submit_payout(&payout(4001, 100, EXTERNAL)).await.expect("answers");
    let second = gateway.submit_payout(&payout(4002, 100, EXTERNAL)).await.expect("answers");
    assert_eq!((first, second), (PayoutOutcome::Pending, PayoutOutcome::Pending));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let id = |payout_id| EndToEndId::from_payout_id(payout_id).expect("id");
    assert!(matches!(
        gateway.query_payout(&id(4001)).await,
        Ok(PayoutQuery::Known(ref outcome)) if executed(outcome)
    ));
    assert!(matches!(
        gateway.query_payout(&id(4002)).await,
        Ok(PayoutQuery::Known(PayoutOutcome::Rejected { .. }))
    ));
}

async fn notifications_statement_and_return<G: BankGateway>(
    harness: &Harness,
    bank: &str,
    gateway: &G,
) {
    direct(harness, bank, 5001, vec![Fault::Return { after_ms: 200 }]);
    assert!(executed(
        &gateway.submit_payout(&payout(5001, 4_200, EXTERNAL)).await.expect("answers")
    ));
    let now = tianping_bank_adapters::bank_api::Clock::now_unix_ms(
        &tianping_bank_adapters::bank_api::SystemClock,
    );
    harness.with_bank(bank, |hosted| {
        hosted
            .bank
            .inject_credit(
                CUSTODY,
                Money { minor_units: 9_900, currency: Currency::Cny },
                "Customer Li",
                vec!["TOPUP-7".to_owned()],
                None,
                now,
            )
            .expect("credits")
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Page through each account's feed one entry at a time; the cursor stops moving at the
    // end. Each feed is exactly its account's journal entries, in order: the merchant's
    // credit from our payout 1002 is on the merchant's feed, never on ours.
    let mut feeds = Vec::new();
    for account in [CUSTODY, MERCHANT] {
        let mut cursor = NotificationCursor(String::new());
        let mut entries = Vec::new();
        loop {
            let page = gateway.fetch_notifications(account, &cursor, 1).await.expect("answers");
            assert_eq!(page.account, account);
            assert!(page.entries.len() <= 1);
            if page.entries.is_empty() {
                assert_eq!(page.next_cursor, cursor, "nothing new: the same cursor");
                break;
            }
            entries.extend(page.entries);
            cursor = page.next_cursor;
        }
        let journal: Vec<String> = harness.with_bank(bank, |hosted| {
            let on_account = hosted.bank.journal().iter().filter(|entry| entry.account == account);
            on_account.map(|entry| entry.bank_reference.clone()).collect()
        });
        let delivered: Vec<String> =
            entries.iter().map(|entry| entry.bank_reference.clone()).collect();
        assert_eq!(delivered, journal, "{account}: its booked entries, once each, in order");
        feeds.push(entries);
    }
    let merchant = feeds.pop().expect("the merchant's feed");
    let entries = feeds.pop().expect("the custody account's feed");
    let paid_to_merchant = EndToEndId::from_payout_id(1002).expect("id");
    assert!(merchant.iter().any(|entry| entry.direction == Direction::Credit
        && entry.end_to_end_id.as_ref() == Some(&paid_to_merchant)));
    assert!(
        entries.iter().all(|entry| entry.direction == Direction::Debit
            || entry.end_to_end_id.as_ref() != Some(&paid_to_merchant)),
        "the merchant's credit is not on our feed"
    );
    let returned = EndToEndId::from_payout_id(5001).expect("id");
    assert!(
        entries.iter().any(|entry| entry.reversal
            && entry.direction == Direction::Credit
            && entry.end_to_end_id.as_ref() == Some(&returned)),
        "the return shows as a reversal credit"
    );
    assert!(entries.iter().any(|entry| entry.remittance.iter().any(|line| line == "TOPUP-7")));
    // The statement: opening + entries = closing = the balance now.
    let period = StatementPeriod::new(today(), today()).expect("period");
    let statement = gateway.fetch_statement(CUSTODY, period).await.expect("answers");
    let opening = statement.opening_booked().expect("opening");
    let closing = statement.closing_booked().expect("closing");
    let signed = |amount: u128, direction: Direction| match direction {
        Direction::Credit => amount as i128,
        Direction::Debit => -(amount as i128),
    };
    let moved: i128 = statement
        .entries
        .iter()
        .map(|entry| signed(entry.amount.minor_units, entry.direction))
        .sum();
    assert_eq!(
        signed(opening.amount.minor_units, opening.direction) + moved,
        signed(closing.amount.minor_units, closing.direction)
    );
    assert_eq!(closing.amount.minor_units, harness.balance(bank, CUSTODY));
    assert_eq!(opening.amount.minor_units, OPENING_MINOR_UNITS, "nothing before today");
    assert!(statement.entries.iter().any(|entry| entry.reversal));
    harness.with_bank(bank, |hosted| hosted.bank.check_conservation().expect("conserved"));
}

async fn down_is_an_unknown_outcome<G: BankGateway>(harness: &Harness, bank: &str, gateway: &G) {
    let admin = harness.transport(bank);
    let answer = admin
        .send(BankRequest::post(
            "/admin/down".into(),
            "application/json",
            br#"{"for_ms":300}"#.to_vec(),
        ))
        .await
        .expect("admin answers");
    assert_eq!(answer.status, 200);
    let error = gateway.submit_payout(&payout(6001, 100, EXTERNAL)).await.expect_err("down");
    assert!(matches!(error, GatewayError::BankStatus { status: 503, .. }), "{error:?}");
    assert!(error.outcome_unknown());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(executed(
        &gateway.submit_payout(&payout(6001, 100, EXTERNAL)).await.expect("up again")
    ));
}

async fn every_scenario<G: BankGateway>(harness: &Harness, bank: &str, gateway: &G) {
    submit_and_duplicate_pay_once(harness, bank, gateway).await;
    timeouts_then_query_by_the_same_id(harness, bank, gateway).await;
    rejections_carry_reasons(harness, bank, gateway).await;
    pending_then_final(harness, bank, gateway).await;
    notifications_statement_and_return(harness, bank, gateway).await;
    down_is_an_unknown_outcome(harness, bank, gateway).await;
}

#[tokio::test]
async fn iso20022_gateway_against_the_simulator() {
    let harness = Harness::start().await;
    every_scenario(&harness, ISO_BANK, &harness.iso_gateway()).await;
    harness.stop().await;
}

#[tokio::test]
async fn direct_gateway_against_the_simulator() {
    let harness = Harness::start().await;
    every_scenario(&harness, DIRECT_BANK, &harness.direct_gateway()).await;
    harness.stop().await;
}

#[tokio::test]
async fn a_bad_answer_signature_is_refused_and_counted() {
    let harness = Harness::start().await;
    let gateway = harness.direct_gateway();
    assert!(executed(&gateway.submit_payout(&payout(7001, 100, EXTERNAL)).await.expect("answers")));
    direct(&harness, DIRECT_BANK, 7001, vec![Fault::BadSignature]);
    let error = gateway
        .query_payout(&EndToEndId::from_payout_id(7001).expect("id"))
        .await
        .expect_err("refused");
    assert!(
        matches!(error, GatewayError::Signature(VerifyError::BadSignature { .. })),
        "{error:?}"
    );
    assert!(error.outcome_unknown());
    let counts = gateway.verifier_counts();
    assert_eq!((counts.bad_signature, counts.accepted), (1, 1));
    harness.stop().await;
}

#[tokio::test]
async fn a_replayed_or_unsigned_request_is_refused_by_the_bank() {
    let harness = Harness::start().await;
    let signing = KeyRing::load(
        KeyRingSource::Manifest(
            harness
                .keys
                .path()
                .join(DIRECT_BANK)
                .join(tianping_bank_sim::config::dev_key_files::CLIENT_SIGNING_MANIFEST),
        ),
        KeyRole::Signing,
    )
    .expect("client keys");
    let body =
        serde_json::to_string(&PayoutQueryBody { end_to_end_id: "42".into() }).expect("json");
    let now = tianping_bank_adapters::bank_api::Clock::now_unix_ms(
        &tianping_bank_adapters::bank_api::SystemClock,
    );
    let signer = signing.signer().expect("signer");
    let envelope = seal(
        signer.as_ref(),
        crate::harness::APP_ID,
        MessageKind::Request,
        now,
        &fresh_nonce().expect("nonce"),
        body,
    )
    .expect("seals");
    let bytes = serde_json::to_vec(&envelope).expect("json");
    let transport = harness.transport(DIRECT_BANK);
    let send = |bytes: Vec<u8>| {
        let transport = transport.clone();
        async move {
            transport
                .send(BankRequest::post(
                    paths::DIRECT_PAYOUT_QUERY.into(),
                    "application/json",
                    bytes,
                ))
                .await
                .expect("answers")
        }
    };
    assert_eq!(send(bytes.clone()).await.status, 200);
    assert_eq!(send(bytes).await.status, 401, "the replay is refused");
    let mut unsigned = envelope.clone();
    unsigned.signature = None;
    unsigned.nonce = "another".into();
    assert_eq!(send(serde_json::to_vec(&unsigned).expect("json")).await.status, 401);
    let counts = harness.with_bank(DIRECT_BANK, |hosted| {
        hosted.direct.as_ref().expect("direct").verifier.stats().snapshot()
    });
    assert_eq!((counts.accepted, counts.replayed, counts.missing_signature), (1, 1, 1));
    harness.stop().await;
}

#[tokio::test]
async fn the_admin_interface_speaks_json() {
    let harness = Harness::start().await;
    let admin = harness.transport(ISO_BANK);
    let credit = br#"{"account":"110060149018000123","amount":"12.34","payer_name":"Payer","remittance":["R-1"]}"#;
    let answer = admin
        .send(BankRequest::post("/admin/credits".into(), "application/json", credit.to_vec()))
        .await
        .expect("answers");
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let accounts = admin.send(BankRequest::get("/admin/accounts".into())).await.expect("answers");
    let accounts: Vec<tianping_bank_sim::admin::AccountView> =
        serde_json::from_slice(&accounts.body).expect("json");
    let custody = accounts.iter().find(|account| account.number == CUSTODY).expect("custody");
    assert_eq!(custody.balance, "1000012.34");
    let faults = br#"{"reject_ppm":2000000}"#;
    let refused = admin
        .send(BankRequest::post("/admin/faults".into(), "application/json", faults.to_vec()))
        .await
        .expect("answers");
    assert_eq!(refused.status, 400, "a probability over one is refused");
    let listing = HttpTransportRoot::listing(&harness).await;
    assert_eq!(listing.len(), 2);
    harness.stop().await;
}

struct HttpTransportRoot;

impl HttpTransportRoot {
    async fn listing(harness: &Harness) -> Vec<serde_json::Value> {
        let root = tianping_bank_adapters::transport::http::HttpTransport::new(
            &format!("http://{}", harness.server.local_addr()),
            crate::harness::DEADLINE,
        )
        .expect("transport");
        let answer = root.send(BankRequest::get("/banks".into())).await.expect("answers");
        serde_json::from_slice(&answer.body).expect("json")
    }
}
