//! What a bank pushes, on the core alone (no server): the final status of a registered
//! account's payouts and the credits booked on it — never its debits, never another account's
//! entries, never a return the `return-unnotified` fault keeps out of the notifications — and
//! a registration the bank cannot push to is refused.

use tianping_bank_adapters::gateway::{EndToEndId, Party};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_bank_sim::bank::callbacks::{CallbackEvent, Delivered};
use tianping_bank_sim::bank::records::{Account, PaymentOrder, Protocol};
use tianping_bank_sim::bank::{Bank, BankError, BankSetup};
use tianping_bank_sim::faults::{Fault, FaultConfig, PendingEnd};

const OURS: &str = "1001";
const MERCHANT: &str = "1002";
const URL: &str = "http://127.0.0.1:7700/callbacks/2";

fn bank() -> Bank {
    let account = |number: &str| Account {
        number: number.to_owned(),
        name: "Holder".to_owned(),
        currency: Currency::Cny,
        opening_balance: 10_000,
        balance: 10_000,
    };
    Bank::new(BankSetup {
        id: "push".to_owned(),
        name: "Pushing bank".to_owned(),
        protocol: Protocol::Direct,
        accounts: vec![account(OURS), account(MERCHANT)],
        collections: Vec::new(),
        faults: FaultConfig::default(),
        seed: 3,
    })
    .expect("the bank")
}

fn pay(bank: &mut Bank, id: u128, creditor: &str, faults: Vec<Fault>, now_ms: u64) {
    let order = PaymentOrder {
        end_to_end_id: EndToEndId::from_payout_id(id).expect("id"),
        message_id: format!("M{id}"),
        instruction_id: format!("I{id}"),
        payment_information_id: format!("I{id}"),
        amount: Money { minor_units: 100, currency: Currency::Cny },
        debtor: Party::new(OURS, "Holder").expect("party"),
        creditor: Party::new(creditor, "Beneficiary").expect("party"),
    };
    bank.submit(order, faults, now_ms).expect("no bank error");
}

/// Everything due at `now_ms`, delivered: (account, what it tells).
fn deliver(bank: &mut Bank, now_ms: u64) -> Vec<(String, String)> {
    let due = bank.due_callbacks(now_ms, 100).expect("due");
    due.into_iter()
        .map(|(callback, url)| {
            assert_eq!(url, URL);
            bank.callback_settled(callback.id, Delivered::Accepted, now_ms);
            let told = match callback.event {
                CallbackEvent::PayoutStatus(id) => format!("status {}", id.as_str()),
                CallbackEvent::Entry(index) => {
                    let entry = &bank.journal()[index];
                    format!(
                        "{:?} {} reversal={}",
                        entry.direction, entry.amount.minor_units, entry.reversal
                    )
                }
            };
            (callback.account, told)
        })
        .collect()
}

#[test]
fn final_statuses_and_credits_of_registered_accounts_are_pushed() {
    let mut bank = bank();
    assert!(matches!(
        bank.register_callback(OURS, Some("https://x/y")),
        Err(BankError::BadCallbackUrl(_))
    ));
    assert!(matches!(bank.register_callback("9999", Some(URL)), Err(BankError::UnknownAccount(_))));
    bank.register_callback(OURS, Some(URL)).expect("registers");
    // Executed at once: its status (the debit is not pushed).
    pay(&mut bank, 1, "9999", Vec::new(), 1_000);
    // Pending, then executed: its status once it is final.
    let pending = Fault::Pending { ms: 500, then: PendingEnd::Execute };
    pay(&mut bank, 2, "9999", vec![pending], 1_000);
    // Paid to the merchant at this bank: the merchant's credit is not ours to be told.
    pay(&mut bank, 3, MERCHANT, Vec::new(), 1_000);
    // Returned later, unnotified: the reversal credit is never pushed.
    pay(&mut bank, 4, "9999", vec![Fault::ReturnUnnotified { after_ms: 100 }], 1_000);
    bank.inject_credit(
        OURS,
        Money { minor_units: 42, currency: Currency::Cny },
        "Payer",
        vec![],
        None,
        1_000,
    )
    .expect("credits");
    bank.inject_credit(
        MERCHANT,
        Money { minor_units: 7, currency: Currency::Cny },
        "Payer",
        vec![],
        None,
        1_000,
    )
    .expect("credits");
    let told = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(account, what)| ((*account).to_owned(), (*what).to_owned())).collect()
    };
    assert_eq!(
        deliver(&mut bank, 1_000),
        told(&[
            (OURS, "status 1"),
            (OURS, "status 3"),
            (OURS, "status 4"),
            (OURS, "Credit 42 reversal=false"),
        ])
    );
    assert_eq!(deliver(&mut bank, 1_500), told(&[(OURS, "status 2")]));
    // A normal return is pushed as a reversal credit.
    pay(&mut bank, 5, "9999", vec![Fault::Return { after_ms: 100 }], 2_000);
    assert_eq!(
        deliver(&mut bank, 2_100),
        told(&[(OURS, "status 5"), (OURS, "Credit 100 reversal=true")])
    );
    // Withdrawn: nothing more is pushed, and what waited is given up.
    bank.inject_credit(
        OURS,
        Money { minor_units: 1, currency: Currency::Cny },
        "Payer",
        vec![],
        None,
        3_000,
    )
    .expect("credits");
    bank.register_callback(OURS, None).expect("withdraws");
    assert!(deliver(&mut bank, 3_000).is_empty());
    let stats = bank.callback_stats();
    assert_eq!((stats.queued, stats.delivered, stats.abandoned), (8, 7, 1), "{stats:?}");
    assert!(bank.check_conservation().is_ok() && bank.check_journal().is_ok());
}
