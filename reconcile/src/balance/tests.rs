//! The balance check, each explanation both ways: a figure that explains the bank's balance
//! leaves no finding, and the same figure misplaced (or absent) leaves exactly its amount
//! unexplained.

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::money::Money;

use super::*;

const CUTOFF: u64 = 1_764_000_000_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const LATENESS: u64 = 5 * MINUTE;
const BASELINE: i128 = 1_000_000;

fn balance(amount: u128, direction: Direction) -> Balance {
    Balance {
        amount: Money { minor_units: amount, currency: Currency::Cny },
        direction,
        date: Date::new(2025, 11, 24).expect("a date"),
    }
}

/// Collections of 500 booked in, payouts of 300 posted out: the bank holds 1 000 200.
fn input<'a>(
    bank: Balance,
    in_flight: &'a [InFlightPayout],
    unbooked_credits: &'a [UnbookedCredit],
) -> BalanceInput<'a> {
    BalanceInput {
        bank: 9,
        account: "6222020200001234567",
        currency: Currency::Cny,
        cutoff: CUTOFF,
        lateness_ns: LATENESS,
        bank_balance: bank,
        opening_baseline: BASELINE,
        settlement: PostedSums { debits_posted: 600, credits_posted: 100 },
        in_transit: PostedSums { debits_posted: 20, credits_posted: 320 },
        in_flight,
        unbooked_credits,
        block_account_ids: &[77],
    }
}

fn unexplained(input: &BalanceInput<'_>) -> i128 {
    let report = check_balance(input).expect("no overflow");
    assert_eq!(report.finding.is_some(), report.unexplained != 0);
    report.unexplained
}

#[test]
fn a_mirrored_balance_is_explained() {
    let report = check_balance(&input(balance(1_000_200, Direction::Credit), &[], &[]))
        .expect("no overflow");
    assert_eq!((report.mirror, report.explained, report.unexplained), (1_000_200, 1_000_200, 0));
    assert_eq!(report.finding, None);
    // The other way: one minor unit off is a finding.
    assert_eq!(unexplained(&input(balance(1_000_201, Direction::Credit), &[], &[])), 1);
    assert_eq!(unexplained(&input(balance(1_000_199, Direction::Credit), &[], &[])), -1);
}

#[test]
fn payouts_in_flight_are_accounted_for() {
    let executed = [InFlightPayout { payout_id: 5, amount: 50, at_bank: AtBank::Executed }];
    let not_executed = [InFlightPayout { payout_id: 5, amount: 50, at_bank: AtBank::NotExecuted }];
    // The bank paid 50 the ledger has not posted yet: explained.
    let paid = balance(1_000_150, Direction::Credit);
    assert_eq!(unexplained(&input(paid, &executed, &[])), 0);
    // The other way: the bank's record says it did not pay, so the 50 are unexplained.
    assert_eq!(unexplained(&input(paid, &not_executed, &[])), -50);
    // Not executed and not paid: nothing moved on either side.
    let report = check_balance(&input(balance(1_000_200, Direction::Credit), &not_executed, &[]))
        .expect("no overflow");
    assert_eq!((report.unexplained, report.pending_in_flight), (0, (1, 50)));
}

#[test]
fn credits_not_booked_yet_are_explained_within_the_lateness() {
    let recent =
        [UnbookedCredit { bank_reference: "C9".into(), amount: 70, booked_at: CUTOFF - LATENESS }];
    let stale = [UnbookedCredit { booked_at: CUTOFF - LATENESS - 1, ..recent[0].clone() }];
    let received = balance(1_000_270, Direction::Credit);
    assert_eq!(unexplained(&input(received, &[], &recent)), 0);
    // The other way: waiting longer than the lateness, the credit is a difference, named.
    let report = check_balance(&input(received, &[], &stale)).expect("no overflow");
    assert_eq!((report.unexplained, report.stale_unbooked), (70, (1, 70)));
    let finding = report.finding.expect("a finding");
    assert!(finding.ledger_evidence.contains("C9 0.70 CNY"), "{}", finding.ledger_evidence);
}

#[test]
fn the_finding_holds_both_sides_and_the_configured_accounts() {
    let report = check_balance(&input(balance(1_000_000, Direction::Credit), &[], &[]))
        .expect("no overflow");
    let finding = report.finding.expect("a finding");
    assert_eq!(finding.class, DiscrepancyClass::BalanceMismatch);
    assert_eq!(finding.key, FindingKey::BankAccount("6222020200001234567".into()));
    assert_eq!((finding.ledger_amount, finding.bank_amount), (Some(1_000_200), Some(1_000_000)));
    assert_eq!(finding.unexplained, Some(-200));
    assert_eq!(finding.account_ids, vec![77]);
    assert!(finding.bank_evidence.contains("balance 10000.00 CNY on 2025-11-24"));
    assert!(finding.bank_evidence.contains("unexplained -2.00 CNY"));
    assert!(finding.ledger_evidence.contains("settlement net 5.00 CNY"));
    assert!(finding.ledger_evidence.contains("in-transit net 3.00 CNY"));
    // The same difference at a later cut-off, with balances moved on both sides, is the same
    // discrepancy; another difference is another.
    let later = BalanceInput {
        cutoff: CUTOFF + MINUTE,
        settlement: PostedSums { debits_posted: 700, credits_posted: 100 },
        ..input(balance(1_000_100, Direction::Credit), &[], &[])
    };
    let later = check_balance(&later).expect("no overflow").finding.expect("a finding");
    assert_eq!(later.discrepancy_id(), finding.discrepancy_id());
    let other = check_balance(&input(balance(1_000_001, Direction::Credit), &[], &[]))
        .expect("no overflow")
        .finding
        .expect("a finding");
    assert_ne!(other.discrepancy_id(), finding.discrepancy_id());
}

#[test]
fn an_overdrawn_balance_is_negative() {
    let overdrawn = BalanceInput {
        opening_baseline: -1_000,
        ..input(balance(800, Direction::Debit), &[], &[])
    };
    // −1 000 + 500 − 300 = −800.
    assert_eq!(unexplained(&overdrawn), 0);
    let report = check_balance(&BalanceInput { opening_baseline: -1_001, ..overdrawn })
        .expect("no overflow");
    assert_eq!(report.unexplained, 1);
    // Negative balances have no unsigned amount to show; the evidence keeps the sign.
    let finding = report.finding.expect("a finding");
    assert_eq!((finding.ledger_amount, finding.bank_amount), (None, None));
    assert!(finding.bank_evidence.contains("balance -8.00 CNY"));
}

#[test]
fn overflow_and_bad_input_are_errors() {
    let huge = BalanceInput {
        settlement: PostedSums { debits_posted: u128::MAX, credits_posted: 0 },
        ..input(balance(0, Direction::Credit), &[], &[])
    };
    assert!(matches!(check_balance(&huge), Err(BalanceError::Overflow { .. })));
    let near = BalanceInput {
        opening_baseline: i128::MAX,
        ..input(balance(0, Direction::Credit), &[], &[])
    };
    assert!(matches!(check_balance(&near), Err(BalanceError::Overflow { .. })));
    let many = [InFlightPayout { payout_id: 1, amount: u128::MAX, at_bank: AtBank::Executed }; 2];
    assert!(matches!(
        check_balance(&input(balance(0, Direction::Credit), &many, &[])),
        Err(BalanceError::Overflow { .. })
    ));
    let yen = Balance {
        amount: Money { minor_units: 1, currency: Currency::Jpy },
        ..balance(0, Direction::Credit)
    };
    assert_eq!(
        check_balance(&input(yen, &[], &[])),
        Err(BalanceError::Currency { bank: Currency::Jpy, account: Currency::Cny })
    );
    let accounts: Vec<u128> = (1..=9).collect();
    let too_many = BalanceInput {
        block_account_ids: &accounts,
        ..input(balance(0, Direction::Credit), &[], &[])
    };
    assert_eq!(check_balance(&too_many), Err(BalanceError::TooManyAccounts { count: 9 }));
}
