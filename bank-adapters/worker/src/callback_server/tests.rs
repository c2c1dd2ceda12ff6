//! Pushed callbacks end to end over loopback HTTP: the bank simulator pushes signed callbacks
//! (its own server's pusher, with its fault options) to the worker's listener, whose desk
//! books them into the ledger's own state machine over a memory store — and, for payouts,
//! hands them to the claim the worker's real payout loop holds. No mock of the bank or of the
//! ledger's rules: [`crate::testing`].
//!
//! - a credit pushed twice and out of order is booked once, and a poll of the same feed after
//!   it books nothing more;
//! - a payout's callback finalizes it through its claim, before the claim's first status
//!   query could have;
//! - callbacks with a bad or missing signature, a stale timestamp, a replayed nonce or of the
//!   wrong kind are refused (`401`) and counted, and book nothing; the bank's re-signed retry
//!   of a callback whose signature it broke is booked, once;
//! - a lost callback is caught by polling: a credit by the notification feed, a payout by the
//!   claim's status query.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tianping_bank_adapters::bank_api::{Clock, JSON_CONTENT_TYPE, SystemClock};
use tianping_bank_adapters::connection::{NetworkGateway, connect};
use tianping_bank_adapters::direct::{MessageKind, PayoutStatusBody, fresh_nonce, seal};
use tianping_bank_adapters::direct_bodies::{CallbackBody, EntryBody};
use tianping_bank_adapters::gateway::{BankEntry, Direction, EndToEndId, EntryStatus};
use tianping_bank_adapters::keys::{KeyRing, KeyRingSource, KeyRole};
use tianping_bank_adapters::transport::http::HttpTransport;
use tianping_bank_adapters::transport::{BankRequest, Transport};
use tianping_bank_sim::bank::Bank;
use tianping_bank_sim::bank::callbacks::CallbackStats;
use tianping_bank_sim::config::dev_key_files;
use tianping_bank_sim::faults::{Fault, FaultConfig, PPM_MAX, PendingEnd};
use tianping_bank_sim::server::BankSimServer;
use tianping_client::PayoutState;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CallbackListener, serve};
use crate::callbacks::{CallbackDesk, ClaimDesk, callback_loop, inbox};
use crate::collections_poller::Poller;
use crate::collections_poller::tests::drain;
use crate::config::BankConfig;
use crate::metrics::WorkerMetrics;
use crate::payout_worker::{BankContext, QUERY_INTERVAL, payout_loop};
use crate::testing::{
    APP_ID, CUSTODY, CUSTOMER, DIRECT_BANK, MERCHANT, MemoryLedger, bank_accounts, bank_config,
    cny, connection, simulator,
};

/// The worker's id of the direct-connect bank.
const BANK: u32 = 2;
/// A bank whose payouts no loop here claims.
const OTHER_BANK: u32 = 3;

/// Everything a test needs on both sides.
struct World {
    keys: tempfile::TempDir,
    server: BankSimServer,
    stop_bank: oneshot::Sender<()>,
    gateways: BTreeMap<u32, NetworkGateway>,
    ledger: MemoryLedger,
    banks: Vec<BankConfig>,
    metrics: WorkerMetrics,
    claims: ClaimDesk,
}

async fn world() -> World {
    let keys = tempfile::tempdir().expect("temporary directory");
    let (server, stop_bank) = simulator(keys.path()).await;
    let gateway = connect(BANK, &connection(&server, DIRECT_BANK, keys.path()), keys.path())
        .expect("the gateway");
    World {
        keys,
        server,
        stop_bank,
        gateways: BTreeMap::from([(BANK, gateway)]),
        ledger: MemoryLedger::new(&[BANK, OTHER_BANK]),
        banks: vec![bank_config(BANK)],
        metrics: WorkerMetrics::new(),
        claims: ClaimDesk::default(),
    }
}

impl World {
    /// Acts on the direct-connect bank of the running simulator.
    fn bank<T>(&self, act: impl FnOnce(&mut Bank) -> T) -> T {
        let mut simulator = self.server.simulator().lock().expect("lock");
        act(&mut simulator.bank_mut(DIRECT_BANK).expect("the bank").bank)
    }

    fn callback_stats(&self) -> CallbackStats {
        self.bank(|bank| bank.callback_stats())
    }

    /// Credits our custody account from outside, for the customer.
    fn credit(&self, minor_units: u128) -> String {
        let now = SystemClock.now_unix_ms();
        self.bank(|bank| {
            bank.inject_credit(
                CUSTODY,
                cny(minor_units),
                "Customer Li",
                vec![format!("TP{CUSTOMER}")],
                None,
                now,
            )
            .expect("credits")
        })
    }

    fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, self.metrics.registry())
            .expect("encodes");
        text
    }

    /// The value of the metric line `name{labels}`, 0 when absent.
    fn metric(&self, line: &str) -> u64 {
        let text = self.metrics_text();
        text.lines().find_map(|found| found.strip_prefix(line)?.trim().parse().ok()).unwrap_or(0)
    }

    /// Runs the worker's callback listener, its desk and the payout loop of the bank with
    /// callbacks registered for our custody account, while `body` runs; stops them after.
    async fn with_worker<F: Future<Output = ()>>(&self, body: impl FnOnce(SocketAddr) -> F) {
        let desk = CallbackDesk::new(
            &self.ledger,
            &self.banks,
            &self.gateways,
            &self.claims,
            &self.metrics,
        );
        let (callbacks, requests) = inbox();
        let listener =
            CallbackListener::bind("127.0.0.1:0".parse().expect("address")).await.expect("binds");
        let address = listener.local_addr();
        let stop = CancellationToken::new();
        let listening = serve(listener, callbacks, stop.clone());
        let url = format!("http://{address}/callbacks/{BANK}");
        self.bank(|bank| bank.register_callback(CUSTODY, Some(&url))).expect("registers");
        let context = BankContext {
            ledger: &self.ledger,
            gateway: self.gateways.get(&BANK).expect("the gateway"),
            claims: &self.claims,
            bank: &self.banks[0],
            metrics: &self.metrics,
            worker_id: 77,
            lease_ms: 30_000,
            origin: Instant::now(),
            stop: stop.clone(),
        };
        let run = async {
            body(address).await;
            stop.cancel();
        };
        tokio::join!(callback_loop(&desk, requests, stop.clone()), payout_loop(&context, 4), run);
        tokio::time::timeout(Duration::from_secs(10), listening)
            .await
            .expect("the listener stops in time")
            .expect("the listener's task");
    }

    async fn stop(self) {
        let _ = self.stop_bank.send(());
        tokio::time::timeout(Duration::from_secs(10), self.server.wait())
            .await
            .expect("shuts down in time")
            .expect("shuts down cleanly");
    }

    /// Drains the custody account's feed with the collections poller.
    async fn poll(&self) {
        let gateway = self.gateways.get(&BANK).expect("the gateway");
        let poller =
            Poller { gateway, ledger: &self.ledger, bank: &self.banks[0], metrics: &self.metrics };
        drain(&poller).await;
    }
}

/// Waits until `done` holds, checking every 20 ms, at most `deadline`.
async fn eventually(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_credit_pushed_twice_and_out_of_order_is_booked_once() {
    let world = world().await;
    world
        .with_worker(|_| async {
            // The first credit's callback is duplicated and held back; the second overtakes
            // both copies.
            world.bank(|bank| {
                bank.set_faults(FaultConfig {
                    duplicate_callback_ppm: PPM_MAX,
                    reorder_callback_ppm: PPM_MAX,
                    ..FaultConfig::default()
                });
            });
            let first = world.credit(9_900);
            world.bank(|bank| bank.set_faults(FaultConfig::default()));
            let second = world.credit(5_000);
            eventually("three deliveries", Duration::from_secs(10), || {
                world.callback_stats().delivered == 3
            })
            .await;
            let stats = world.callback_stats();
            assert_eq!((stats.queued, stats.duplicated, stats.attempts), (3, 1, 3), "{stats:?}");
            let booked = |reference: &str| {
                world.ledger.collection(BANK, reference).expect("booked by its callback")
            };
            assert!(
                booked(&second).timestamp < booked(&first).timestamp,
                "the second credit's callback came first"
            );
            assert_eq!(world.ledger.posted(CUSTOMER), (0, 14_900), "each credit once");
        })
        .await;
    let outcomes = "tianping_bank_outcomes_total{bank=\"2\",direction=\"in\",result=";
    assert_eq!(world.metric(&format!("{outcomes}\"booked\"}}")), 2);
    assert_eq!(world.metric(&format!("{outcomes}\"duplicate\"}}")), 1);
    assert_eq!(world.metric("tianping_bank_callbacks_total{bank=\"2\",result=\"settled\"}"), 3);
    // The feed carries the same two entries: polling after the callbacks books nothing more.
    world.poll().await;
    assert_eq!(world.ledger.posted(CUSTOMER), (0, 14_900), "exactly once across both paths");
    assert_eq!(world.metric(&format!("{outcomes}\"duplicate\"}}")), 3);
    let (settlement, suspense, _) = bank_accounts(BANK);
    assert_eq!(world.ledger.posted(settlement), (14_900, 0));
    assert_eq!(world.ledger.posted(suspense), (0, 0));
    world.stop().await;
}

#[tokio::test]
async fn a_payout_callback_finalizes_the_payout_through_its_claim() {
    let world = world().await;
    const PUSHED: u128 = 7_001;
    const LOST: u128 = 7_002;
    world.ledger.create_payout(PUSHED, BANK, 12_500, &format!("{MERCHANT} Merchant"));
    world.ledger.create_payout(LOST, BANK, 2_500, &format!("{MERCHANT} Merchant"));
    // Both stay pending a moment after the submit, so the claim waits its query interval;
    // the second one's callback is lost.
    let pending = Fault::Pending { ms: 300, then: PendingEnd::Execute };
    world.bank(|bank| {
        let id = |payout| EndToEndId::from_payout_id(payout).expect("id");
        bank.add_directive(id(PUSHED), vec![pending.clone()]);
        bank.add_directive(id(LOST), vec![pending.clone(), Fault::LoseCallback]);
    });
    let state = |id| world.ledger.payout(id).expect("the payout").state;
    let started = Instant::now();
    world
        .with_worker(|_| async {
            eventually("the pushed payout final", QUERY_INTERVAL, || {
                state(PUSHED) == PayoutState::Succeeded
            })
            .await;
            // Sooner than the claim's first status query: the callback did it.
            assert!(started.elapsed() < QUERY_INTERVAL, "{:?}", started.elapsed());
            assert_ne!(state(LOST), PayoutState::Succeeded, "its callback was lost");
            // The lost one is found by the claim's status query after its interval.
            eventually("the lost one final by its query", QUERY_INTERVAL * 2, || {
                state(LOST) == PayoutState::Succeeded
            })
            .await;
        })
        .await;
    assert_eq!(world.metric("tianping_bank_callbacks_total{bank=\"2\",result=\"recorded\"}"), 1);
    let outcomes = "tianping_bank_outcomes_total{bank=\"2\",direction=\"out\",result=";
    assert_eq!(world.metric(&format!("{outcomes}\"succeeded\"}}")), 2);
    let stats = world.callback_stats();
    assert_eq!((stats.lost, stats.delivered), (1, 1), "{stats:?}");
    world.bank(|bank| {
        for id in [PUSHED, LOST] {
            let record = &bank.instructions()[&EndToEndId::from_payout_id(id).expect("id")];
            assert_eq!((record.attempts, record.executions.len()), (1, 1), "{id}: one submit");
        }
    });
    let (_, _, in_transit) = bank_accounts(BANK);
    assert_eq!(world.ledger.posted(in_transit), (0, 15_000), "both reservations posted");
    assert_eq!(world.ledger.posted(CUSTOMER), (15_000, 0));
    world.stop().await;
}

/// A payout's status, as the bank would push it.
fn status_body(payout_id: u128, status: &str) -> String {
    let body = CallbackBody::PayoutStatus {
        status: PayoutStatusBody {
            end_to_end_id: payout_id.to_string(),
            status: status.to_owned(),
            reason_code: None,
            reason_message: None,
            bank_reference: Some("B-1".to_owned()),
        },
    };
    serde_json::to_string(&body).expect("serializes")
}

/// A credit entry of our custody account, as the bank would push it.
fn credit_body(reference: &str) -> String {
    let entry = BankEntry {
        bank_reference: reference.to_owned(),
        end_to_end_id: None,
        direction: Direction::Credit,
        amount: cny(700),
        status: EntryStatus::Booked,
        reversal: false,
        booking_date: None,
        value_date: None,
        remittance: vec![format!("TP{CUSTOMER}")],
        counterparty_name: Some("Customer Li".to_owned()),
    };
    let body = CallbackBody::AccountEntry {
        account: CUSTODY.to_owned(),
        entry: EntryBody::from_entry(&entry),
    };
    serde_json::to_string(&body).expect("serializes")
}

#[tokio::test]
async fn refused_callbacks_are_counted_and_book_nothing() {
    let world = world().await;
    let manifest = world.keys.path().join(DIRECT_BANK).join(dev_key_files::BANK_SIGNING_MANIFEST);
    let bank_keys =
        KeyRing::load(KeyRingSource::Manifest(manifest), KeyRole::Signing).expect("bank keys");
    let signer = bank_keys.signer().expect("signer");
    let sealed = |kind, timestamp_ms, body: String| {
        let nonce = fresh_nonce().expect("nonce");
        seal(signer.as_ref(), APP_ID, kind, timestamp_ms, &nonce, body).expect("seals")
    };
    let sealed = &sealed;
    let shared = &world;
    shared
        .with_worker(|address| async move {
            let world = shared;
            let transport =
                HttpTransport::new(&format!("http://{address}"), Duration::from_secs(20))
                    .expect("transport");
            let post = |bytes: Vec<u8>| {
                let transport = transport.clone();
                async move {
                    let request =
                        BankRequest::post(format!("/callbacks/{BANK}"), JSON_CONTENT_TYPE, bytes);
                    let response = transport.send(request).await.expect("answers");
                    (response.status, String::from_utf8_lossy(&response.body).into_owned())
                }
            };
            let now = SystemClock.now_unix_ms();
            let bytes = |envelope| serde_json::to_vec(&envelope).expect("serializes");
            let mut tampered = sealed(MessageKind::Callback, now, credit_body("X-1"));
            tampered.biz_content = credit_body("X-2");
            let mut unsigned = sealed(MessageKind::Callback, now, credit_body("X-1"));
            unsigned.signature = None;
            let stale = sealed(MessageKind::Callback, now - 600_000, credit_body("X-1"));
            let answer_kind = sealed(MessageKind::Answer, now, credit_body("X-1"));
            for (envelope, what) in [
                (tampered, "bad signature"),
                (unsigned, "missing signature"),
                (stale, "stale timestamp"),
                (answer_kind, "an answer, not a callback"),
            ] {
                let (status, text) = post(bytes(envelope)).await;
                assert_eq!(status, 401, "{what}: {text}");
            }
            let genuine = bytes(sealed(MessageKind::Callback, now, credit_body("X-1")));
            assert_eq!(post(genuine.clone()).await.0, 200, "the genuine one is booked");
            let (status, text) = post(genuine).await;
            assert_eq!(status, 401, "replayed: {text}");
            assert!(text.contains("replayed"), "{text}");
            let (status, _) = post(b"{}".to_vec()).await;
            assert_eq!(status, 401, "not an envelope");
            let (status, _) =
                post(bytes(sealed(MessageKind::Callback, now, credit_body("X-3")))).await;
            assert_eq!(status, 200);
            let (status, _) = {
                let request =
                    BankRequest::post("/callbacks/9".to_owned(), JSON_CONTENT_TYPE, vec![]);
                let response = transport.send(request).await.expect("answers");
                (response.status, ())
            };
            assert_eq!(status, 404, "a bank without callbacks here");

            // A payout's callback never records by itself: with no claim on the payout here
            // the ledger is only read, and the bank is asked to retry until it is final.
            world.ledger.create_payout(9_001, OTHER_BANK, 300, MERCHANT);
            for (payout, told, expected) in
                [(9_001, "SUCCEEDED", 503), (9_002, "SUCCEEDED", 503), (9_001, "PENDING", 200)]
            {
                let envelope = sealed(MessageKind::Callback, now, status_body(payout, told));
                let (status, text) = post(bytes(envelope)).await;
                assert_eq!(status, expected, "{payout} {told}: {text}");
            }
            assert_eq!(
                world.ledger.payout(9_001).expect("the payout").state,
                PayoutState::Reserved
            );

            // The simulator breaks its callback's signature: refused, then its re-signed retry
            // is booked, once.
            world.bank(|bank| {
                bank.set_faults(FaultConfig {
                    bad_signature_ppm: PPM_MAX,
                    ..FaultConfig::default()
                })
            });
            let pushed = world.credit(1_200);
            eventually("a broken callback refused", Duration::from_secs(10), || {
                world.callback_stats().retried >= 1
            })
            .await;
            assert!(world.ledger.collection(BANK, &pushed).is_none(), "nothing booked");
            world.bank(|bank| bank.set_faults(FaultConfig::default()));
            eventually("the retry delivered", Duration::from_secs(10), || {
                world.callback_stats().delivered == 1
            })
            .await;
            assert!(world.ledger.collection(BANK, &pushed).is_some(), "booked by the retry");
        })
        .await;
    let refusals = |reason: &str| {
        world.metric(&format!(
            "tianping_bank_callback_refusals_total{{bank=\"2\",reason=\"{reason}\"}}"
        ))
    };
    assert!(refusals("bad_signature") >= 2, "{}", world.metrics_text());
    for (reason, count) in [
        ("missing_signature", 1),
        ("stale_timestamp", 1),
        ("not_a_callback", 1),
        ("replayed", 1),
        ("malformed", 1),
    ] {
        assert_eq!(refusals(reason), count, "{reason}");
    }
    assert_eq!(
        world.metric("tianping_bank_callbacks_total{bank=\"unknown\",result=\"unknown_bank\"}"),
        1
    );
    let callbacks = |result: &str| {
        world.metric(&format!("tianping_bank_callbacks_total{{bank=\"2\",result=\"{result}\"}}"))
    };
    assert_eq!((callbacks("retry"), callbacks("not_final")), (2, 1));
    assert_eq!(world.ledger.posted(CUSTOMER), (0, 700 + 700 + 1_200), "X-1, X-3 and the retry");
    assert!(world.ledger.collection(BANK, "X-2").is_none(), "the tampered reference");
    world.stop().await;
}

#[tokio::test]
async fn a_lost_credit_callback_is_caught_by_polling() {
    let world = world().await;
    let mut lost = String::new();
    world
        .with_worker(|_| async {
            world.bank(|bank| {
                bank.set_faults(FaultConfig {
                    lose_callback_ppm: PPM_MAX,
                    ..FaultConfig::default()
                })
            });
            lost = world.credit(4_400);
            world.bank(|bank| bank.set_faults(FaultConfig::default()));
            // A later credit's callback arrives: the lost one would have come before it.
            let later = world.credit(600);
            eventually("the later callback", Duration::from_secs(10), || {
                world.ledger.collection(BANK, &later).is_some()
            })
            .await;
            assert_eq!(world.callback_stats().lost, 1);
        })
        .await;
    assert!(world.ledger.collection(BANK, &lost).is_none(), "its callback never came");
    world.poll().await;
    assert!(world.ledger.collection(BANK, &lost).is_some(), "the feed had it");
    assert_eq!(world.ledger.posted(CUSTOMER), (0, 5_000));
    world.stop().await;
}
