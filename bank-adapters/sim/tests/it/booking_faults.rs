//! The booking faults reconciliation must catch (issue 13 item 5), over real HTTP, for both
//! protocols: each is directed with the admin client (`admin::client::send_directive`), then
//! the instruction's answer, a status query, a resend, the journal, the statement (camt.053
//! for the ISO 20022 bank), the notification feed (camt.054), the balances and the bank's
//! own consistency (conservation, every balance its opening plus its journal, through the
//! admin interface too) are each compared with what the fault promises.

use std::time::Duration;

use tianping_bank_adapters::bank_api::{Clock, SystemClock};
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{
    BankEntry, BankGateway, Direction, EndToEndId, NotificationCursor, PayoutOutcome, PayoutQuery,
    StatementPeriod,
};
use tianping_bank_adapters::transport::{BankRequest, Transport};
use tianping_bank_sim::admin::InstructionView;
use tianping_bank_sim::admin::client::{AdminClientError, send_directive};
use tianping_bank_sim::bank::records::JournalEntry;
use tianping_bank_sim::faults::{Fault, parse_fault_header};

use crate::harness::{CUSTODY, DIRECT_BANK, EXTERNAL, Harness, ISO_BANK, MERCHANT, payout};

const DAY_MS: u64 = 86_400_000;

fn id(payout_id: u128) -> EndToEndId {
    EndToEndId::from_payout_id(payout_id).expect("id")
}

/// A bank under test: the harness, the bank's id, its gateway, and how far the test has read
/// the notification feeds of our custody account and of the merchant's (one cursor each).
struct Bank<'a, G> {
    harness: &'a Harness,
    bank: &'static str,
    gateway: &'a G,
    cursors: [(&'static str, NotificationCursor); 2],
}

impl<G: BankGateway> Bank<'_, G> {
    /// Directs `faults` (header syntax) at payout `payout_id` through the admin client over
    /// HTTP, as a user or the CLI would.
    async fn direct(&self, payout_id: u128, faults: &str) {
        let faults = parse_fault_header(faults).expect("faults parse");
        let simulator = format!("http://{}", self.harness.server.local_addr());
        send_directive(&simulator, self.bank, &id(payout_id), &faults).await.expect("directed");
    }

    /// Every notification entry delivered since the last call, on the custody account's feed
    /// and then the merchant's.
    async fn new_notifications(&mut self) -> Vec<BankEntry> {
        let mut entries = Vec::new();
        for (account, cursor) in &mut self.cursors {
            loop {
                let page =
                    self.gateway.fetch_notifications(account, cursor, 50).await.expect("answers");
                assert_eq!(page.account, *account, "a page of the account asked for");
                if page.entries.is_empty() {
                    break;
                }
                entries.extend(page.entries);
                *cursor = page.next_cursor;
            }
        }
        entries
    }

    /// The journal's entries of one payment.
    fn journal(&self, payout_id: u128) -> Vec<JournalEntry> {
        let wanted = id(payout_id);
        self.harness.with_bank(self.bank, |hosted| {
            hosted
                .bank
                .journal()
                .iter()
                .filter(|entry| entry.end_to_end_id.as_ref() == Some(&wanted))
                .cloned()
                .collect()
        })
    }

    /// The statement entries of one payment on `account`, yesterday and today, after
    /// checking that the statement adds up to the account's balance.
    async fn statement(&self, account: &str, payout_id: u128) -> Vec<BankEntry> {
        let now = SystemClock.now_unix_ms();
        let period =
            StatementPeriod::new(Date::from_unix_ms(now - DAY_MS), Date::from_unix_ms(now))
                .expect("period");
        let statement = self.gateway.fetch_statement(account, period).await.expect("answers");
        let signed = |amount: u128, direction: Direction| match direction {
            Direction::Credit => amount as i128,
            Direction::Debit => -(amount as i128),
        };
        let opening = statement.opening_booked().expect("opening");
        let closing = statement.closing_booked().expect("closing");
        let moved: i128 = statement
            .entries
            .iter()
            .map(|entry| signed(entry.amount.minor_units, entry.direction))
            .sum();
        assert_eq!(
            signed(opening.amount.minor_units, opening.direction) + moved,
            signed(closing.amount.minor_units, closing.direction),
            "the statement adds up"
        );
        assert_eq!(closing.amount.minor_units, self.harness.balance(self.bank, account));
        let wanted = id(payout_id);
        statement
            .entries
            .into_iter()
            .filter(|entry| entry.end_to_end_id.as_ref() == Some(&wanted))
            .collect()
    }

    fn balance(&self, account: &str) -> u128 {
        self.harness.balance(self.bank, account)
    }

    /// The bank's books agree with themselves: in the core and through the admin interface.
    async fn assert_consistent(&self) {
        self.harness.with_bank(self.bank, |hosted| {
            hosted.bank.check_conservation().expect("conserved");
            hosted.bank.check_journal().expect("every balance is its opening plus its journal");
        });
        let admin = self.harness.transport(self.bank);
        let answer =
            admin.send(BankRequest::get("/admin/conservation".into())).await.expect("answers");
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    }

    /// The admin interface's view of one payment.
    async fn instruction(&self, payout_id: u128) -> InstructionView {
        let admin = self.harness.transport(self.bank);
        let answer =
            admin.send(BankRequest::get("/admin/instructions".into())).await.expect("answers");
        let views: Vec<InstructionView> = serde_json::from_slice(&answer.body).expect("json");
        views
            .into_iter()
            .find(|view| view.end_to_end_id == id(payout_id).as_str())
            .expect("the payment is recorded")
    }

    async fn query(&self, payout_id: u128) -> PayoutOutcome {
        match self.gateway.query_payout(&id(payout_id)).await.expect("answers") {
            PayoutQuery::Known(outcome) => outcome,
            PayoutQuery::NotFound => panic!("payment {payout_id} not found"),
        }
    }
}

fn rejected_with(outcome: &PayoutOutcome) -> Option<&str> {
    match outcome {
        PayoutOutcome::Rejected { reason: Some(reason) } => Some(reason.code.as_str()),
        _ => None,
    }
}

fn executed_reference(outcome: &PayoutOutcome) -> Option<&str> {
    match outcome {
        PayoutOutcome::Executed { bank_reference } => bank_reference.as_deref(),
        _ => None,
    }
}

/// A debit of our custody account, not a reversal.
fn is_payout_debit(entry: &BankEntry) -> bool {
    entry.direction == Direction::Debit && !entry.reversal
}

/// Paid but not booked on our side: the bank executes and books, and tells "rejected".
async fn execute_report_rejected<G: BankGateway>(bank: &mut Bank<'_, G>) {
    let before = bank.balance(CUSTODY);
    bank.direct(8101, "execute-report-rejected=AC04").await;
    let answer = bank.gateway.submit_payout(&payout(8101, 1_000, EXTERNAL)).await.expect("answers");
    assert_eq!(rejected_with(&answer), Some("AC04"), "{answer:?}");
    assert_eq!(rejected_with(&bank.query(8101).await), Some("AC04"), "every query says so");
    let resent = bank.gateway.submit_payout(&payout(8101, 1_000, EXTERNAL)).await.expect("answers");
    assert_eq!(rejected_with(&resent), Some("AC04"), "a resend too");
    let journal = bank.journal(8101);
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!((journal[0].account.as_str(), journal[0].direction), (CUSTODY, Direction::Debit));
    assert_eq!(journal[0].amount.minor_units, 1_000);
    let statement = bank.statement(CUSTODY, 8101).await;
    assert_eq!(statement.len(), 1, "the statement has the debit");
    assert!(is_payout_debit(&statement[0]) && statement[0].amount.minor_units == 1_000);
    assert_eq!(statement[0].bank_reference, journal[0].bank_reference);
    let notified = bank.new_notifications().await;
    assert_eq!(notified.len(), 1, "the debit is notified: {notified:?}");
    assert_eq!(notified[0].bank_reference, journal[0].bank_reference);
    assert_eq!(bank.balance(CUSTODY), before - 1_000, "the money left");
    let view = bank.instruction(8101).await;
    assert_eq!((view.status.as_str(), view.reason_code.as_deref()), ("REJECTED", Some("AC04")));
    assert_eq!(view.executions.len(), 1, "the admin view shows the truth");
    assert_eq!(view.executions[0].bank_reference, journal[0].bank_reference);
    bank.assert_consistent().await;
}

/// Booked on our side but not paid: the bank tells "executed" and books nothing.
async fn drop_booking<G: BankGateway>(bank: &mut Bank<'_, G>) {
    let before = bank.balance(CUSTODY);
    bank.direct(8102, "drop-booking").await;
    let answer = bank.gateway.submit_payout(&payout(8102, 2_000, EXTERNAL)).await.expect("answers");
    let told = executed_reference(&answer).expect("told executed, with a reference").to_owned();
    assert_eq!(executed_reference(&bank.query(8102).await), Some(told.as_str()));
    let resent = bank.gateway.submit_payout(&payout(8102, 2_000, EXTERNAL)).await.expect("answers");
    assert_eq!(executed_reference(&resent), Some(told.as_str()), "a resend too");
    assert_eq!(bank.journal(8102), Vec::new(), "nothing booked");
    let referenced = bank.harness.with_bank(bank.bank, |hosted| {
        hosted.bank.journal().iter().any(|entry| entry.bank_reference == told)
    });
    assert!(!referenced, "the told reference is on no entry");
    assert_eq!(bank.statement(CUSTODY, 8102).await, Vec::new(), "not on the statement");
    assert_eq!(bank.new_notifications().await, Vec::new(), "nothing notified");
    assert_eq!(bank.balance(CUSTODY), before, "no money left");
    let view = bank.instruction(8102).await;
    assert_eq!(view.status, "EXECUTED");
    assert_eq!(view.bank_reference.as_deref(), Some(told.as_str()));
    assert!(view.executions.is_empty(), "the admin view shows the truth");
    bank.assert_consistent().await;
}

/// Executed off by `offset` minor units: the books carry the executed amount everywhere, the
/// answer says executed, the record keeps the instructed amount.
async fn amount_off<G: BankGateway>(
    bank: &mut Bank<'_, G>,
    payout_id: u128,
    offset: i128,
    creditor: &str,
) {
    let instructed: u128 = 3_000;
    let booked = (instructed as i128 + offset) as u128;
    let (custody_before, merchant_before) = (bank.balance(CUSTODY), bank.balance(MERCHANT));
    bank.direct(payout_id, &format!("amount-off={offset}")).await;
    let order = payout(payout_id, instructed, creditor);
    let answer = bank.gateway.submit_payout(&order).await.expect("answers");
    let told = executed_reference(&answer).expect("told executed").to_owned();
    assert_eq!(executed_reference(&bank.query(payout_id).await), Some(told.as_str()));
    let journal = bank.journal(payout_id);
    let debits: Vec<&JournalEntry> =
        journal.iter().filter(|entry| entry.direction == Direction::Debit).collect();
    assert_eq!(debits.len(), 1, "{journal:?}");
    assert_eq!(
        (debits[0].bank_reference.as_str(), debits[0].amount.minor_units),
        (told.as_str(), booked)
    );
    let statement = bank.statement(CUSTODY, payout_id).await;
    assert_eq!(statement.len(), 1);
    assert_eq!(
        statement[0].amount.minor_units, booked,
        "the statement carries the executed amount"
    );
    let notified = bank.new_notifications().await;
    assert!(!notified.is_empty());
    assert!(
        notified.iter().all(|entry| entry.amount.minor_units == booked),
        "every notified leg carries the executed amount: {notified:?}"
    );
    assert_eq!(bank.balance(CUSTODY), custody_before - booked);
    if creditor == MERCHANT {
        // The credit leg moves the same executed amount: the books stay balanced.
        assert_eq!(bank.balance(MERCHANT), merchant_before + booked);
        assert_eq!(bank.statement(MERCHANT, payout_id).await[0].amount.minor_units, booked);
        assert_eq!(notified.len(), 2, "debit and credit");
    }
    let view = bank.instruction(payout_id).await;
    assert_eq!(view.amount, "30.00", "the record keeps the instructed amount");
    assert_eq!(view.executions.len(), 1);
    assert_eq!(
        view.executions[0].amount,
        tianping_bank_adapters::money::Money {
            minor_units: booked,
            currency: tianping_bank_adapters::money::Currency::Cny
        }
        .to_decimal_text()
    );
    bank.assert_consistent().await;
}

/// Executed twice, told once.
async fn execute_twice<G: BankGateway>(bank: &mut Bank<'_, G>) {
    let before = bank.balance(CUSTODY);
    bank.direct(8105, "execute-twice").await;
    let answer = bank.gateway.submit_payout(&payout(8105, 4_000, EXTERNAL)).await.expect("answers");
    let told = executed_reference(&answer).expect("told executed").to_owned();
    assert_eq!(executed_reference(&bank.query(8105).await), Some(told.as_str()));
    let journal = bank.journal(8105);
    assert_eq!(journal.len(), 2, "{journal:?}");
    assert!(journal.iter().all(|entry| entry.direction == Direction::Debit
        && entry.account == CUSTODY
        && entry.amount.minor_units == 4_000
        && !entry.reversal));
    assert_ne!(journal[0].bank_reference, journal[1].bank_reference, "distinct references");
    assert_eq!(journal[0].bank_reference, told, "the answer names the first");
    let statement = bank.statement(CUSTODY, 8105).await;
    assert_eq!(statement.len(), 2, "both debits on the statement");
    let notified = bank.new_notifications().await;
    assert_eq!(notified.len(), 2, "both debits notified: {notified:?}");
    assert!(notified.iter().all(|entry| entry.end_to_end_id == Some(id(8105))));
    assert_eq!(bank.balance(CUSTODY), before - 8_000, "paid twice");
    assert_eq!(bank.instruction(8105).await.executions.len(), 2);
    bank.assert_consistent().await;
}

/// Returned later, the return never notified; the statement has it.
async fn return_unnotified<G: BankGateway>(bank: &mut Bank<'_, G>) {
    let before = bank.balance(CUSTODY);
    bank.direct(8106, "return-unnotified=200").await;
    let answer = bank.gateway.submit_payout(&payout(8106, 5_000, EXTERNAL)).await.expect("answers");
    let told = executed_reference(&answer).expect("told executed").to_owned();
    assert_eq!(bank.balance(CUSTODY), before - 5_000);
    let before_return = bank.new_notifications().await;
    assert_eq!(before_return.len(), 1, "the debit is notified");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(executed_reference(&bank.query(8106).await), Some(told.as_str()));
    let journal = bank.journal(8106);
    assert_eq!(journal.len(), 2, "{journal:?}");
    assert!(journal[1].reversal && journal[1].direction == Direction::Credit);
    assert_eq!(journal[1].amount.minor_units, 5_000);
    let statement = bank.statement(CUSTODY, 8106).await;
    assert!(
        statement.iter().any(|entry| entry.reversal && entry.direction == Direction::Credit),
        "the statement has the return: {statement:?}"
    );
    assert_eq!(bank.new_notifications().await, Vec::new(), "the return is never notified");
    assert_eq!(bank.balance(CUSTODY), before, "the money came back");
    assert!(bank.instruction(8106).await.returned_at_ms.is_some());
    bank.assert_consistent().await;
}

async fn every_booking_fault<G: BankGateway>(harness: &Harness, bank: &'static str, gateway: &G) {
    let start = || NotificationCursor(String::new());
    let cursors = [(CUSTODY, start()), (MERCHANT, start())];
    let mut bank = Bank { harness, bank, gateway, cursors };
    assert_eq!(bank.new_notifications().await, Vec::new(), "a fresh bank");
    execute_report_rejected(&mut bank).await;
    drop_booking(&mut bank).await;
    amount_off(&mut bank, 8103, 1, EXTERNAL).await;
    amount_off(&mut bank, 8104, -1, MERCHANT).await;
    execute_twice(&mut bank).await;
    return_unnotified(&mut bank).await;
    let stats = harness.with_bank(bank.bank, |hosted| hosted.bank.stats());
    assert_eq!(stats.misreported, 6, "{stats:?}");
}

#[tokio::test]
async fn iso20022_bank_books_and_tells_apart_as_directed() {
    let harness = Harness::start().await;
    every_booking_fault(&harness, ISO_BANK, &harness.iso_gateway()).await;
    harness.stop().await;
}

#[tokio::test]
async fn direct_bank_books_and_tells_apart_as_directed() {
    let harness = Harness::start().await;
    every_booking_fault(&harness, DIRECT_BANK, &harness.direct_gateway()).await;
    harness.stop().await;
}

#[tokio::test]
async fn the_admin_client_refuses_what_the_simulator_would_and_names_a_missing_bank() {
    let harness = Harness::start().await;
    let simulator = format!("http://{}", harness.server.local_addr());
    let missing = send_directive(&simulator, "no-such", &id(1), &[Fault::DropBooking]).await;
    assert!(matches!(missing, Err(AdminClientError::Refused { status: 404, .. })), "{missing:?}");
    let zero =
        send_directive(&simulator, ISO_BANK, &id(1), &[Fault::AmountOff { minor_units: 0 }]).await;
    assert!(matches!(zero, Err(AdminClientError::Fault(_))), "{zero:?}");
    let none = send_directive(&simulator, ISO_BANK, &id(1), &[]).await;
    assert_eq!(none, Err(AdminClientError::NoFaults));
    let bad_id = send_directive(&simulator, "../x", &id(1), &[Fault::DropBooking]).await;
    assert!(matches!(bad_id, Err(AdminClientError::BadBankId(_))));
    harness.stop().await;
    // Nobody listening: a transport error, not a hang.
    let gone = send_directive(&simulator, ISO_BANK, &id(1), &[Fault::DropBooking]).await;
    assert!(matches!(gone, Err(AdminClientError::Transport(_))), "{gone:?}");
}
