//! Properties of the deterministic core: whatever sequence of submits (duplicates included)
//! arrives, each end-to-end id executes at most once, and money is conserved.

use proptest::prelude::*;
use tianping_bank_adapters::gateway::{EndToEndId, Party};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_sim::bank::records::{Account, InstructionStatus, PaymentOrder, Protocol};
use tianping_bank_sim::bank::{Bank, BankSetup};
use tianping_bank_sim::faults::FaultConfig;

const ACCOUNTS: [&str; 3] = ["1001", "1002", "1003"];

fn bank(faults: FaultConfig) -> Bank {
    Bank::new(BankSetup {
        id: "prop".to_owned(),
        name: "Property bank".to_owned(),
        protocol: Protocol::Iso20022,
        accounts: ACCOUNTS
            .iter()
            .map(|number| Account {
                number: (*number).to_owned(),
                name: "Holder".to_owned(),
                currency: Currency::Cny,
                opening_balance: 10_000,
                balance: 10_000,
            })
            .collect(),
        collections: Vec::new(),
        faults,
        seed: 3,
    })
    .expect("bank")
}

/// (end-to-end id, amount, debtor index, creditor index: 3 = external, time step)
type Submit = (u8, u128, usize, usize, u64);

fn submits() -> impl Strategy<Value = Vec<Submit>> {
    prop::collection::vec((0u8..12, 1u128..6_000, 0usize..3, 0usize..4, 0u64..500), 1..60)
}

proptest! {
    #[test]
    fn each_end_to_end_id_executes_at_most_once_and_money_is_conserved(
        submits in submits(),
        pending_ppm in 0u32..400_000,
        return_ppm in 0u32..400_000,
        reject_ppm in 0u32..200_000,
    ) {
        let faults = FaultConfig {
            pending_ppm,
            pending_ms: 300,
            pending_reject_ppm: 300_000,
            return_ppm,
            return_after_ms: 700,
            reject_ppm,
            duplicate_notification_ppm: 100_000,
            lose_notification_ppm: 100_000,
            ..FaultConfig::default()
        };
        let mut bank = bank(faults);
        let mut now = 1_715_851_800_000u64;
        for (id, amount, debtor, creditor, step) in submits {
            now += step;
            let creditor = ACCOUNTS.get(creditor).copied().unwrap_or("9999");
            let order = PaymentOrder {
                end_to_end_id: EndToEndId::from_payout_id(u128::from(id)).expect("id"),
                message_id: format!("M{now}"),
                instruction_id: format!("I{now}"),
                payment_information_id: format!("I{now}"),
                amount: Money { minor_units: amount, currency: Currency::Cny },
                debtor: Party::new(ACCOUNTS[debtor], "Holder").expect("party"),
                creditor: Party::new(creditor, "Beneficiary").expect("party"),
            };
            bank.submit(order, Vec::new(), now).expect("no bank error");
            prop_assert!(bank.check_conservation().is_ok(), "{:?}", bank.check_conservation());
        }
        bank.advance(now + 10_000).expect("advances");
        prop_assert!(bank.check_conservation().is_ok(), "{:?}", bank.check_conservation());
        // Count the debits per end-to-end id that are not reversals: at most one each, and
        // exactly one for every executed instruction.
        for (id, record) in bank.instructions() {
            let debits = bank
                .journal()
                .iter()
                .filter(|entry| {
                    entry.end_to_end_id.as_ref() == Some(id)
                        && !entry.reversal
                        && entry.account == record.order.debtor.account()
                        && entry.direction == tianping_bank_adapters::gateway::Direction::Debit
                })
                .count();
            let expected = usize::from(matches!(record.status, InstructionStatus::Executed { .. }));
            prop_assert_eq!(debits, expected, "payment {} debited {} times", id.as_str(), debits);
            prop_assert!(!matches!(record.status, InstructionStatus::Pending { .. }), "final after advancing");
        }
        // Balances never go negative (u128) and the same seed gives the same bank.
    }
}

#[test]
fn the_same_seed_gives_the_same_bank() {
    let run = || {
        let faults = FaultConfig {
            pending_ppm: 300_000,
            pending_ms: 50,
            return_ppm: 300_000,
            return_after_ms: 80,
            ..FaultConfig::default()
        };
        let mut bank = bank(faults);
        for step in 0..40u64 {
            let order = PaymentOrder {
                end_to_end_id: EndToEndId::from_payout_id(u128::from(step % 17)).expect("id"),
                message_id: format!("M{step}"),
                instruction_id: format!("I{step}"),
                payment_information_id: format!("I{step}"),
                amount: Money { minor_units: 100 + u128::from(step), currency: Currency::Cny },
                debtor: Party::new(ACCOUNTS[(step % 3) as usize], "Holder").expect("party"),
                creditor: Party::new("9999", "Beneficiary").expect("party"),
            };
            bank.submit(order, Vec::new(), 1_000 + step * 10).expect("no bank error");
        }
        bank.advance(10_000).expect("advances");
        (format!("{:?}", bank.journal()), format!("{:?}", bank.instructions()))
    };
    assert_eq!(run(), run());
}

proptest! {
    /// Without notification faults, each account's feed is exactly its own journal entries
    /// in booking order, whatever internal payments, returns and pending ends booked them:
    /// no account ever sees another's entry.
    #[test]
    fn each_account_feed_is_its_own_journal(submits in submits(), return_ppm in 0u32..400_000) {
        let faults = FaultConfig {
            pending_ppm: 200_000,
            pending_ms: 300,
            return_ppm,
            return_after_ms: 700,
            ..FaultConfig::default()
        };
        let mut bank = bank(faults);
        let mut now = 1_715_851_800_000u64;
        for (id, amount, debtor, creditor, step) in submits {
            now += step;
            let creditor = ACCOUNTS.get(creditor).copied().unwrap_or("9999");
            let order = PaymentOrder {
                end_to_end_id: EndToEndId::from_payout_id(u128::from(id)).expect("id"),
                message_id: format!("M{now}"),
                instruction_id: format!("I{now}"),
                payment_information_id: format!("I{now}"),
                amount: Money { minor_units: amount, currency: Currency::Cny },
                debtor: Party::new(ACCOUNTS[debtor], "Holder").expect("party"),
                creditor: Party::new(creditor, "Beneficiary").expect("party"),
            };
            bank.submit(order, Vec::new(), now).expect("no bank error");
        }
        now += 10_000;
        for account in ACCOUNTS {
            let mut fed = Vec::new();
            let mut cursor = String::new();
            loop {
                let (page, next) = bank.notifications(account, &cursor, 7, now).expect("page");
                if page.is_empty() {
                    break;
                }
                fed.extend(page.into_iter().map(|entry| entry.bank_reference));
                cursor = next;
            }
            let journal: Vec<String> = bank
                .journal()
                .iter()
                .filter(|entry| entry.account == account)
                .map(|entry| entry.bank_reference.clone())
                .collect();
            prop_assert_eq!(fed, journal, "{}'s feed", account);
        }
    }
}

/// Every notification the bank delivered up to `now`, on every account's feed; each feed
/// holds only its own account's entries.
fn delivered(bank: &mut Bank, now: u64) -> Vec<tianping_bank_sim::bank::records::JournalEntry> {
    let mut entries = Vec::new();
    let accounts: Vec<String> = bank.accounts().keys().cloned().collect();
    for account in accounts {
        let mut cursor = String::new();
        loop {
            let (page, next) = bank.notifications(&account, &cursor, 100, now).expect("page");
            if page.is_empty() {
                break;
            }
            assert!(page.iter().all(|entry| entry.account == account), "{account}'s feed");
            entries.extend(page);
            cursor = next;
        }
    }
    entries
}

/// The booking faults' promises, as a table of (what the bank told, how many debits it
/// booked) → what must have been injected; and the record's `executions` are exactly the
/// journal's debits of the payment, each at the executed amount.
fn check_told_against_booked(bank: &mut Bank, now: u64) -> Result<(), TestCaseError> {
    use tianping_bank_adapters::gateway::Direction;
    let notified = delivered(bank, now);
    for (id, record) in bank.instructions() {
        let faults = &record.booking_faults;
        let debits: Vec<(String, u128)> = bank
            .journal()
            .iter()
            .filter(|entry| {
                entry.end_to_end_id.as_ref() == Some(id)
                    && !entry.reversal
                    && entry.account == record.order.debtor.account()
                    && entry.direction == Direction::Debit
            })
            .map(|entry| (entry.bank_reference.clone(), entry.amount.minor_units))
            .collect();
        let executions: Vec<(String, u128)> = record
            .executions
            .iter()
            .map(|execution| (execution.bank_reference.clone(), execution.amount.minor_units))
            .collect();
        prop_assert_eq!(&debits, &executions, "payment {}: the record is the journal", id.as_str());
        let executed_amount = faults.executed_amount(record.order.amount).minor_units;
        prop_assert!(debits.iter().all(|(_, amount)| *amount == executed_amount));
        match (&record.status, debits.len()) {
            (InstructionStatus::Executed { bank_reference, .. }, 0) => {
                prop_assert!(faults.drop_booking, "{} told executed, booked nothing", id.as_str());
                prop_assert!(
                    bank.journal().iter().all(|entry| &entry.bank_reference != bank_reference)
                );
            }
            (InstructionStatus::Executed { bank_reference, .. }, booked) => {
                prop_assert!(booked == 1 || (booked == 2 && faults.execute_twice), "{booked}");
                prop_assert!(!faults.drop_booking && faults.report_rejected.is_none());
                prop_assert_eq!(bank_reference, &debits[0].0, "the answer names the first debit");
            }
            (InstructionStatus::Rejected { .. }, 0) => {}
            (InstructionStatus::Rejected { reason_code, .. }, booked) => {
                prop_assert!(booked == 1 || (booked == 2 && faults.execute_twice), "{booked}");
                prop_assert_eq!(faults.report_rejected.as_ref(), Some(reason_code));
            }
            (InstructionStatus::Pending { .. }, _) => prop_assert!(false, "final after advancing"),
        }
        if let Some(returned) = &record.returned {
            prop_assert!(!record.executions.is_empty(), "only what was booked comes back");
            let return_notified =
                notified.iter().any(|entry| entry.bank_reference == returned.bank_reference);
            prop_assert_eq!(return_notified, !faults.return_unnotified, "{}", id.as_str());
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn booking_faults_change_what_is_told_or_booked_never_the_books_consistency(
        submits in submits(),
        execute_report_rejected_ppm in 0u32..300_000,
        drop_booking_ppm in 0u32..300_000,
        amount_off_ppm in 0u32..300_000,
        amount_off_minor_units in prop_oneof![-6_000i64..0, 1i64..100],
        execute_twice_ppm in 0u32..300_000,
        return_unnotified_ppm in 0u32..300_000,
        pending_ppm in 0u32..300_000,
    ) {
        let faults = FaultConfig {
            execute_report_rejected_ppm,
            drop_booking_ppm,
            amount_off_ppm,
            amount_off_minor_units,
            execute_twice_ppm,
            return_unnotified_ppm,
            return_ppm: 100_000,
            return_after_ms: 700,
            pending_ppm,
            pending_ms: 300,
            duplicate_notification_ppm: 100_000,
            ..FaultConfig::default()
        };
        prop_assert!(faults.validate().is_ok());
        let mut bank = bank(faults);
        let mut now = 1_715_851_800_000u64;
        for (id, amount, debtor, creditor, step) in submits {
            now += step;
            let creditor = ACCOUNTS.get(creditor).copied().unwrap_or("9999");
            let order = PaymentOrder {
                end_to_end_id: EndToEndId::from_payout_id(u128::from(id)).expect("id"),
                message_id: format!("M{now}"),
                instruction_id: format!("I{now}"),
                payment_information_id: format!("I{now}"),
                amount: Money { minor_units: amount, currency: Currency::Cny },
                debtor: Party::new(ACCOUNTS[debtor], "Holder").expect("party"),
                creditor: Party::new(creditor, "Beneficiary").expect("party"),
            };
            bank.submit(order, Vec::new(), now).expect("no bank error");
            prop_assert!(bank.check_conservation().is_ok(), "{:?}", bank.check_conservation());
            prop_assert!(bank.check_journal().is_ok(), "{:?}", bank.check_journal());
        }
        now += 10_000;
        bank.advance(now).expect("advances");
        prop_assert!(bank.check_conservation().is_ok(), "{:?}", bank.check_conservation());
        prop_assert!(bank.check_journal().is_ok(), "{:?}", bank.check_journal());
        check_told_against_booked(&mut bank, now)?;
    }
}

/// Each booking fault's probability, at one in one, fires on a fresh payment.
#[test]
fn each_booking_fault_fires_by_probability() {
    use tianping_bank_sim::faults::PPM_MAX;
    let pay = |faults: FaultConfig| {
        let mut bank = bank(faults);
        let order = PaymentOrder {
            end_to_end_id: EndToEndId::from_payout_id(77).expect("id"),
            message_id: "M1".to_owned(),
            instruction_id: "I1".to_owned(),
            payment_information_id: "I1".to_owned(),
            amount: Money { minor_units: 1_000, currency: Currency::Cny },
            debtor: Party::new(ACCOUNTS[0], "Holder").expect("party"),
            creditor: Party::new("9999", "Beneficiary").expect("party"),
        };
        bank.submit(order, Vec::new(), 1_000).expect("no bank error");
        bank.advance(5_000).expect("advances");
        assert!(bank.check_conservation().is_ok() && bank.check_journal().is_ok());
        let record = bank.instructions().values().next().expect("recorded").clone();
        let notified = delivered(&mut bank, 5_000).len();
        (record, notified)
    };
    let (record, _) = pay(FaultConfig {
        execute_report_rejected_ppm: PPM_MAX,
        reject_reason_code: Some("AC04".to_owned()),
        ..FaultConfig::default()
    });
    assert!(
        matches!(record.status, InstructionStatus::Rejected { ref reason_code, .. } if reason_code == "AC04")
    );
    assert_eq!(record.executions.len(), 1);
    let (record, notified) =
        pay(FaultConfig { drop_booking_ppm: PPM_MAX, ..FaultConfig::default() });
    assert!(matches!(record.status, InstructionStatus::Executed { .. }));
    assert_eq!((record.executions.len(), notified), (0, 0));
    let (record, _) = pay(FaultConfig {
        amount_off_ppm: PPM_MAX,
        amount_off_minor_units: -7,
        ..FaultConfig::default()
    });
    assert_eq!(record.executions[0].amount.minor_units, 993);
    let (record, notified) =
        pay(FaultConfig { execute_twice_ppm: PPM_MAX, ..FaultConfig::default() });
    assert_eq!((record.executions.len(), notified), (2, 2));
    let (record, notified) = pay(FaultConfig {
        return_unnotified_ppm: PPM_MAX,
        return_after_ms: 100,
        ..FaultConfig::default()
    });
    assert!(record.returned.is_some() && record.booking_faults.return_unnotified);
    assert_eq!(notified, 1, "the debit only, not the return");
    // And none of them without a probability.
    let (record, notified) = pay(FaultConfig::default());
    assert_eq!(record.booking_faults, Default::default());
    assert_eq!((record.executions.len(), notified), (1, 1));
}
