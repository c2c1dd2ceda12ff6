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
