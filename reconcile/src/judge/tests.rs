//! Every verdict of the module doc's table, each class both ways: found when the difference is
//! there, not found when it is not. One `check` helper runs a key's items through
//! `judge_key` and compares a summary.

use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::money::Money;

use super::*;
use crate::movement::{BookedCollection, BookedReturn, PayoutMovement};

/// 2025-11-24T16:00:00Z (2025-11-25 00:00 in UTC+8), in ns.
const AT: u64 = 1_764_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const CUSTOMER: u128 = 1001;
const CREDITED: u128 = 2002;

const CONTEXT: AccountContext =
    AccountContext { bank: 9, currency: Currency::Cny, utc_offset_seconds: 8 * 3600 };

fn payout(id: u128, state: PayoutState, amount: u128) -> LedgerMovement {
    LedgerMovement::Payout(PayoutMovement {
        payout: LedgerPayout { payout_id: id, debit_account_id: CUSTOMER, amount, state },
        at: AT,
    })
}

/// The key a collection booked from the bank's entry `reference` meets it under.
fn collection_key(reference: &str) -> MatchKey {
    MatchKey::Collection(collection_id(CONTEXT.bank, reference))
}

fn collection(reference: &str, amount: u128) -> LedgerMovement {
    LedgerMovement::Collection(BookedCollection {
        collection_id: collection_id(CONTEXT.bank, reference),
        bank_reference: Some(reference.into()),
        credited_account_id: CREDITED,
        amount,
        at: AT,
    })
}

fn booked_return(payout_id: u128, reference: &str, amount: u128) -> LedgerMovement {
    LedgerMovement::Return(BookedReturn {
        payout_id,
        collection_id: collection_id(CONTEXT.bank, reference),
        bank_reference: Some(reference.into()),
        credited_account_id: CUSTOMER,
        amount,
        at: AT,
    })
}

fn entry(reference: &str, direction: Direction, amount: u128, offset_s: u64) -> BankRecord {
    BankRecord {
        bank_reference: reference.into(),
        direction,
        amount: Money { minor_units: amount, currency: Currency::Cny },
        reversal: false,
        value_date: Date::new(2025, 11, 25),
        booked_at: AT + offset_s * SECOND,
    }
}

fn debit(reference: &str, amount: u128) -> BankRecord {
    entry(reference, Direction::Debit, amount, 1)
}

fn credit(reference: &str, amount: u128) -> BankRecord {
    entry(reference, Direction::Credit, amount, 1)
}

fn return_credit(reference: &str, amount: u128) -> BankRecord {
    BankRecord { reversal: true, ..credit(reference, amount) }
}

/// What closing a key came to, in a form a table can state.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    findings: Vec<(DiscrepancyClass, Vec<u128>, Option<String>)>,
    questions: usize,
    matched: u64,
    in_flight: u64,
    failed_unpaid: u64,
}

fn summary(counts: &Counts, out: &[Outcome]) -> Summary {
    let mut findings = Vec::new();
    let mut questions = 0;
    for outcome in out {
        match outcome {
            Outcome::Finding(finding) => findings.push((
                finding.class,
                finding.account_ids.clone(),
                finding.bank_reference.clone(),
            )),
            Outcome::Question(_) => questions += 1,
        }
    }
    Summary {
        findings,
        questions,
        matched: counts.matched,
        in_flight: counts.in_flight,
        failed_unpaid: counts.failed_unpaid,
    }
}

/// Judges `key`'s items in both arrival orders and checks the summary is `expected` both
/// times: a verdict never depends on which entry came first.
fn check(key: MatchKey, ledger: Vec<LedgerMovement>, bank: Vec<BankRecord>, expected: Summary) {
    for reversed in [false, true] {
        let mut bank = bank.clone();
        if reversed {
            bank.reverse();
        }
        let mut counts = Counts::default();
        let mut out = Vec::new();
        judge_key(CONTEXT, &key, ledger.clone(), bank, &mut counts, &mut out);
        assert_eq!(summary(&counts, &out), expected, "{key} (reversed: {reversed})");
        assert_eq!(counts.findings_total(), expected.findings.len() as u64);
    }
}

fn found(
    findings: Vec<(DiscrepancyClass, Vec<u128>, Option<&str>)>,
    matched: u64,
    in_flight: u64,
) -> Summary {
    Summary {
        findings: findings
            .into_iter()
            .map(|(class, accounts, reference)| (class, accounts, reference.map(str::to_owned)))
            .collect(),
        questions: 0,
        matched,
        in_flight,
        failed_unpaid: 0,
    }
}

use DiscrepancyClass::{
    AmountMismatch, DuplicateAtBank, MissingAtBank, MissingInLedger, ReversedAtBank,
};

#[test]
fn a_paid_payout_matches_its_debit() {
    let succeeded = || vec![payout(42, PayoutState::Succeeded, 100)];
    check(MatchKey::Payout(42), succeeded(), vec![debit("B1", 100)], found(vec![], 1, 0));
}

#[test]
fn missing_at_bank_both_ways() {
    let account = vec![CUSTOMER];
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Succeeded, 100)],
        vec![],
        found(vec![(MissingAtBank, account, None)], 0, 0),
    );
    check(
        collection_key("C1"),
        vec![collection("C1", 100)],
        vec![],
        found(vec![(MissingAtBank, vec![CREDITED], None)], 0, 0),
    );
    check(
        MatchKey::Return(42),
        vec![booked_return(42, "R1", 100)],
        vec![],
        found(vec![(MissingAtBank, vec![CUSTOMER], None)], 0, 0),
    );
    // The other way: the bank has each of them.
    check(
        collection_key("C1"),
        vec![collection("C1", 100)],
        vec![credit("C1", 100)],
        found(vec![], 1, 0),
    );
    check(
        MatchKey::Return(42),
        vec![booked_return(42, "R1", 100)],
        vec![return_credit("R1", 100)],
        found(vec![], 1, 0),
    );
}

#[test]
fn missing_in_ledger_both_ways() {
    // A credit nobody booked belongs to no ledger account: the finding blocks nothing.
    check(
        collection_key("C1"),
        vec![],
        vec![credit("C1", 100)],
        found(vec![(MissingInLedger, vec![], Some("C1"))], 0, 0),
    );
    // The bank paid a payout the ledger voided: the customer got the money back and could
    // pay it out again, so the account is blocked.
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Failed, 100)],
        vec![debit("B1", 100)],
        found(vec![(MissingInLedger, vec![CUSTOMER], Some("B1"))], 0, 0),
    );
    // The other way: a failed payout the bank does not show is what should be.
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Failed, 100)],
        vec![],
        Summary { failed_unpaid: 1, ..found(vec![], 0, 0) },
    );
}

#[test]
fn amount_mismatch_both_ways() {
    let account = || vec![CUSTOMER];
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Succeeded, 100)],
        vec![debit("B1", 101)],
        found(vec![(AmountMismatch, account(), Some("B1"))], 0, 0),
    );
    // The same digits in another currency are not the same money.
    let yen = BankRecord {
        amount: Money { minor_units: 100, currency: Currency::Jpy },
        ..debit("B1", 100)
    };
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Succeeded, 100)],
        vec![yen],
        found(vec![(AmountMismatch, account(), Some("B1"))], 0, 0),
    );
    // A collection's reference on a debit: the money went the other way.
    check(
        collection_key("C1"),
        vec![collection("C1", 100)],
        vec![debit("C1", 100)],
        found(vec![(AmountMismatch, vec![CREDITED], Some("C1"))], 0, 0),
    );
    // A payout in flight that the bank executed for another amount is a difference already.
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Sent, 100)],
        vec![debit("B1", 99)],
        found(vec![(AmountMismatch, account(), Some("B1"))], 0, 0),
    );
    // The other way: off by nothing.
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Succeeded, 100)],
        vec![debit("B1", 100)],
        found(vec![], 1, 0),
    );
}

#[test]
fn duplicate_at_bank_both_ways() {
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Succeeded, 100)],
        vec![debit("B1", 100), entry("B2", Direction::Debit, 100, 30)],
        found(vec![(DuplicateAtBank, vec![CUSTOMER], Some("B2"))], 1, 0),
    );
    // The extra entry is the one that disagrees, even when it was booked first.
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Succeeded, 100)],
        vec![entry("B0", Direction::Debit, 7, 0), debit("B1", 100)],
        found(vec![(DuplicateAtBank, vec![CUSTOMER], Some("B0"))], 1, 0),
    );
    // A payout still in flight executed twice is a duplicate already.
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Unknown, 100)],
        vec![debit("B1", 100), entry("B2", Direction::Debit, 100, 30)],
        found(vec![(DuplicateAtBank, vec![CUSTOMER], Some("B2"))], 0, 1),
    );
    // A credit listed twice: money in, nothing to block.
    check(
        collection_key("C1"),
        vec![collection("C1", 100)],
        vec![credit("C1", 100), entry("C1", Direction::Credit, 100, 5)],
        found(vec![(DuplicateAtBank, vec![], Some("C1"))], 1, 0),
    );
    // The other way: executed once.
    check(
        MatchKey::Payout(42),
        vec![payout(42, PayoutState::Succeeded, 100)],
        vec![debit("B1", 100)],
        found(vec![], 1, 0),
    );
}

#[test]
fn payouts_not_final_are_in_flight() {
    for state in
        [PayoutState::Reserved, PayoutState::Claimed, PayoutState::Sent, PayoutState::Unknown]
    {
        check(
            MatchKey::Payout(42),
            vec![payout(42, state, 100)],
            vec![debit("B1", 100)],
            found(vec![], 0, 1),
        );
        check(MatchKey::Payout(42), vec![payout(42, state, 100)], vec![], found(vec![], 0, 1));
    }
}

#[test]
fn our_payouts_entries_alone_become_questions() {
    for key in [MatchKey::Payout(42), MatchKey::Return(42)] {
        let entries = vec![return_credit("R1", 100), return_credit("R2", 100)];
        let mut counts = Counts::default();
        let mut out = Vec::new();
        judge_key(CONTEXT, &key, Vec::new(), entries, &mut counts, &mut out);
        let [Outcome::Question(question)] = out.as_slice() else {
            panic!("one question expected: {out:?}")
        };
        assert_eq!((question.payout_id(), question.entries.len()), (42, 2));
        assert_eq!((counts.questions, counts.findings_total()), (2, 0));
    }
}

/// A question about `entries` of `key`, answered with payout 42 in `state` (or no payout).
fn answer(key: MatchKey, entries: Vec<BankRecord>, state: Option<PayoutState>) -> Answer {
    let question = PayoutQuestion { context: CONTEXT, key, entries };
    let payout = state.map(|state| LedgerPayout {
        payout_id: 42,
        debit_account_id: CUSTOMER,
        amount: 100,
        state,
    });
    question.answer(payout.as_ref())
}

fn classes(answer: &Answer) -> Vec<(DiscrepancyClass, Vec<u128>)> {
    answer.findings.iter().map(|finding| (finding.class, finding.account_ids.clone())).collect()
}

#[test]
fn reversed_at_bank_both_ways() {
    let returned = || vec![return_credit("R1", 100)];
    let answered = answer(MatchKey::Return(42), returned(), Some(PayoutState::Succeeded));
    assert_eq!(classes(&answered), vec![(ReversedAtBank, vec![CUSTOMER])]);
    let finding = &answered.findings[0];
    assert_eq!((finding.ledger_amount, finding.bank_amount), (Some(100), Some(100)));
    // The other way: a return the ledger booked is matched, not reversed.
    check(
        MatchKey::Return(42),
        vec![booked_return(42, "R1", 100)],
        returned(),
        found(vec![], 1, 0),
    );
    // A return of a payout not final yet waits for the worker.
    for state in [PayoutState::Sent, PayoutState::Unknown, PayoutState::Claimed] {
        let waiting = answer(MatchKey::Return(42), returned(), Some(state));
        assert_eq!((classes(&waiting), waiting.in_flight), (vec![], 1));
    }
    // A return of a voided payout or of no payout: money in nobody booked.
    for state in [Some(PayoutState::Failed), None] {
        let orphan = answer(MatchKey::Return(42), returned(), state);
        assert_eq!(classes(&orphan), vec![(MissingInLedger, vec![])]);
    }
}

#[test]
fn questions_about_debits() {
    let two = || vec![debit("B1", 100), entry("B2", Direction::Debit, 100, 9)];
    // No such payout: money left that the ledger knows nothing of, no account to block.
    let none = answer(MatchKey::Payout(42), two(), None);
    assert_eq!(classes(&none), vec![(MissingInLedger, vec![]), (MissingInLedger, vec![])]);
    // Paid and recorded outside the window: further executions.
    let paid = answer(MatchKey::Payout(42), two(), Some(PayoutState::Succeeded));
    assert_eq!(
        classes(&paid),
        vec![(DuplicateAtBank, vec![CUSTOMER]), (DuplicateAtBank, vec![CUSTOMER])]
    );
    let voided = answer(MatchKey::Payout(42), two(), Some(PayoutState::Failed));
    assert_eq!(
        classes(&voided),
        vec![(MissingInLedger, vec![CUSTOMER]), (DuplicateAtBank, vec![CUSTOMER])]
    );
    let sent = answer(MatchKey::Payout(42), two(), Some(PayoutState::Sent));
    assert_eq!((classes(&sent), sent.in_flight), (vec![(DuplicateAtBank, vec![CUSTOMER])], 1));
    let off = answer(MatchKey::Payout(42), vec![debit("B1", 5)], Some(PayoutState::Sent));
    assert_eq!((classes(&off), off.in_flight), (vec![(AmountMismatch, vec![CUSTOMER])], 0));
    // An answer about another payout is no answer.
    let question = PayoutQuestion { context: CONTEXT, key: MatchKey::Payout(42), entries: two() };
    let other = LedgerPayout {
        payout_id: 43,
        debit_account_id: CUSTOMER,
        amount: 100,
        state: PayoutState::Succeeded,
    };
    assert_eq!(classes(&question.answer(Some(&other))), classes(&none));
}

#[test]
fn value_dates_are_compared_within_the_tolerance() {
    let judge = |value_date: Option<Date>| {
        let mut counts = Counts::default();
        let mut out = Vec::new();
        let entry = BankRecord { value_date, ..debit("B1", 100) };
        let ledger = vec![payout(42, PayoutState::Succeeded, 100)];
        judge_key(CONTEXT, &MatchKey::Payout(42), ledger, vec![entry], &mut counts, &mut out);
        assert!(out.is_empty());
        (counts.matched, counts.value_date_differs)
    };
    // The ledger's business day at AT is 2025-11-25 (UTC+8).
    for agreeing in
        [None, Date::new(2025, 11, 24), Date::new(2025, 11, 25), Date::new(2025, 11, 26)]
    {
        assert_eq!(judge(agreeing), (1, 0), "{agreeing:?}");
    }
    for differing in [Date::new(2025, 11, 23), Date::new(2025, 11, 27)] {
        assert_eq!(judge(differing), (1, 1), "{differing:?}");
    }
}

#[test]
fn findings_carry_both_sides() {
    let mut counts = Counts::default();
    let mut out = Vec::new();
    let ledger = vec![payout(42, PayoutState::Succeeded, 100)];
    judge_key(
        CONTEXT,
        &MatchKey::Payout(42),
        ledger,
        vec![debit("B1", 101)],
        &mut counts,
        &mut out,
    );
    let [Outcome::Finding(finding)] = out.as_slice() else { panic!("one finding: {out:?}") };
    assert_eq!(finding.bank, 9);
    assert_eq!(finding.key, FindingKey::Match(MatchKey::Payout(42)));
    assert_eq!((finding.ledger_amount, finding.bank_amount), (Some(100), Some(101)));
    assert!(finding.ledger_evidence.starts_with("payout 42 succeeded, 1.00 CNY"));
    assert!(finding.bank_evidence.starts_with("B1 DBIT 1.01 CNY"));
    assert_eq!(finding.at, AT);
}
