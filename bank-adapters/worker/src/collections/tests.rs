//! The collections mapping, entry kind by entry kind, and replays against the real ledger.

use tianping_bank_adapters::gateway::EndToEndId;
use tianping_bank_adapters::money::Money;
use tianping_ledger::{
    Account, Batch, Command, LedgerConfig, LedgerStoreMut, MemoryStore, NewAccount, NewPayout,
    StateMachine, TransferFlags,
};

use super::*;

const BANK: u32 = 3;
const LEDGER: u32 = 1;
const SETTLEMENT: u128 = 50;
const SUSPENSE: u128 = 51;
const IN_TRANSIT: u128 = 52;
const CUSTOMER: u128 = 1_001;

fn accounts() -> CollectionAccounts {
    CollectionAccounts {
        bank: BANK,
        ledger: LEDGER,
        currency: Currency::Cny,
        settlement_account_id: SETTLEMENT,
        suspense_account_id: SUSPENSE,
        collection_code: 4,
        reversal_code: 5,
    }
}

fn entry(reference: &str, direction: Direction, amount: u128) -> BankEntry {
    BankEntry {
        bank_reference: reference.into(),
        end_to_end_id: None,
        direction,
        amount: Money { minor_units: amount, currency: Currency::Cny },
        status: EntryStatus::Booked,
        reversal: false,
        booking_date: None,
        value_date: None,
        remittance: Vec::new(),
        counterparty_name: None,
    }
}

fn credit_for(reference: &str, amount: u128, line: &str) -> BankEntry {
    BankEntry {
        remittance: vec!["invoice 77".into(), line.into()],
        ..entry(reference, Direction::Credit, amount)
    }
}

fn returned(reference: &str, payout_id: u128, amount: u128) -> BankEntry {
    BankEntry {
        reversal: true,
        end_to_end_id: Some(EndToEndId::from_payout_id(payout_id).expect("small id")),
        ..entry(reference, Direction::Credit, amount)
    }
}

fn payout(id: u128, state: PayoutState, amount: u128) -> Payout {
    Payout {
        id,
        debit_account_id: CUSTOMER,
        credit_account_id: IN_TRANSIT,
        amount,
        user_data: 0,
        ledger: LEDGER,
        code: 3,
        bank: BANK,
        beneficiary: "6222".into(),
        state,
        fencing_token: 1,
        worker_id: 9,
        lease_until: 0,
        created_at: 1,
        updated_at: 1,
    }
}

fn planned(entry: &BankEntry, payout: Option<&Payout>) -> Plan {
    plan(entry, classify(entry, &accounts()), &accounts(), payout)
}

fn booked_to(plan: &Plan) -> Option<(u128, u16, u128)> {
    match plan {
        Plan::Book(collection) => {
            Some((collection.beneficiary_account_id, collection.code, collection.user_data))
        }
        Plan::Defer { .. } | Plan::Skip(_) => None,
    }
}

#[test]
fn the_beneficiary_is_named_by_a_tp_line_only() {
    let lines = |lines: &[&str]| lines.iter().map(|line| line.to_string()).collect::<Vec<_>>();
    assert_eq!(beneficiary_from_remittance(&lines(&["TP1001"])), Some(1_001));
    assert_eq!(beneficiary_from_remittance(&lines(&["rent", " tp42 "])), Some(42));
    for refused in ["1001", "TP", "TP0", "TP0042", "TP-1", "TP 1001", "TP1001x", "XTP1001"] {
        assert_eq!(beneficiary_from_remittance(&lines(&[refused])), None, "{refused}");
    }
    assert_eq!(
        beneficiary_from_remittance(&lines(&["TP340282366920938463463374607431768211456"])),
        None
    );
    assert_eq!(beneficiary_from_remittance(&[]), None);
}

#[test]
fn entries_are_classified() {
    let credit = credit_for("R1", 500, "TP1001");
    assert_eq!(
        classify(&credit, &accounts()),
        EntryKind::Credit { beneficiary_account_id: CUSTOMER }
    );
    assert_eq!(
        classify(&entry("R1", Direction::Credit, 500), &accounts()),
        EntryKind::Credit { beneficiary_account_id: 0 }
    );
    let cases = [
        (BankEntry { status: EntryStatus::Pending, ..credit.clone() }, SkipReason::NotBooked),
        (BankEntry { status: EntryStatus::Information, ..credit.clone() }, SkipReason::NotBooked),
        (entry("R2", Direction::Debit, 5), SkipReason::Debit),
        (
            BankEntry { reversal: true, ..entry("R3", Direction::Debit, 5) },
            SkipReason::ReversedCredit,
        ),
        (
            BankEntry {
                amount: Money { minor_units: 5, currency: Currency::Usd },
                ..credit.clone()
            },
            SkipReason::OtherCurrency,
        ),
        (
            BankEntry { bank_reference: String::new(), ..credit.clone() },
            SkipReason::UnusableReference,
        ),
        (
            BankEntry { bank_reference: "R".repeat(TEXT_BYTES_MAX + 1), ..credit.clone() },
            SkipReason::UnusableReference,
        ),
    ];
    for (entry, reason) in cases {
        assert_eq!(classify(&entry, &accounts()), EntryKind::Skip(reason), "{entry:?}");
        assert_eq!(planned(&entry, None), Plan::Skip(reason));
    }
    assert_eq!(
        classify(&returned("RET-1", 9_001, 5), &accounts()),
        EntryKind::Return { payout_id: Some(9_001) }
    );
    let foreign = BankEntry {
        end_to_end_id: Some(EndToEndId::parse("0042").expect("a reference")),
        ..returned("RET-2", 1, 5)
    };
    assert_eq!(classify(&foreign, &accounts()), EntryKind::Return { payout_id: None });
}

#[test]
fn a_credit_is_booked_to_its_beneficiary_with_the_bank_reference() {
    let plan = planned(&credit_for("CAMT-9", 12_000, "TP1001"), None);
    assert_eq!(
        plan,
        Plan::Book(NewCollection {
            id: collection_id(BANK, "CAMT-9"),
            bank: BANK,
            bank_reference: "CAMT-9".into(),
            beneficiary_account_id: CUSTOMER,
            settlement_account_id: SETTLEMENT,
            suspense_account_id: SUSPENSE,
            amount: 12_000,
            user_data: 0,
            ledger: LEDGER,
            code: 4,
        })
    );
}

#[test]
fn a_return_books_back_to_the_payout_debit_account_once_the_payout_succeeded() {
    let entry = returned("RET-7", 9_001, 10_000);
    let succeeded = payout(9_001, PayoutState::Succeeded, 10_000);
    assert_eq!(booked_to(&planned(&entry, Some(&succeeded))), Some((CUSTOMER, 5, 9_001)));
    // A partial return (the bank kept a fee) still goes back to the customer.
    let partial = returned("RET-8", 9_001, 9_990);
    assert_eq!(booked_to(&planned(&partial, Some(&succeeded))), Some((CUSTOMER, 5, 9_001)));
    // Facts that disagree go to suspense for an operator.
    let more = returned("RET-9", 9_001, 10_001);
    assert_eq!(booked_to(&planned(&more, Some(&succeeded))), Some((0, 5, 9_001)));
    let failed = payout(9_001, PayoutState::Failed, 10_000);
    assert_eq!(booked_to(&planned(&entry, Some(&failed))), Some((0, 5, 9_001)));
    let other_ledger = Payout { ledger: LEDGER + 1, ..succeeded.clone() };
    assert_eq!(booked_to(&planned(&entry, Some(&other_ledger))), Some((0, 5, 9_001)));
    assert_eq!(booked_to(&planned(&entry, None)), Some((0, 5, 9_001)));
    let wrong_payout = payout(9_002, PayoutState::Succeeded, 10_000);
    assert_eq!(booked_to(&planned(&entry, Some(&wrong_payout))), Some((0, 5, 9_001)));
    // Not final yet: wait for the payout.
    for state in
        [PayoutState::Reserved, PayoutState::Claimed, PayoutState::Sent, PayoutState::Unknown]
    {
        let open = payout(9_001, state, 10_000);
        assert_eq!(planned(&entry, Some(&open)), Plan::Defer { payout_id: 9_001 });
    }
}

#[test]
fn booking_results_are_read() {
    let result = |code, detail| EventResult { code, timestamp: 1, detail };
    let to = |suspense| Detail::Collection { credited_account_id: 1, suspense };
    assert_eq!(Booking::of(&result(ResultCode::Ok, to(None))), Booking::Booked);
    assert_eq!(
        Booking::of(&result(ResultCode::Ok, to(Some(SuspenseReason::BeneficiaryFrozen)))),
        Booking::Suspense(SuspenseReason::BeneficiaryFrozen)
    );
    assert_eq!(Booking::of(&result(ResultCode::Exists, to(None))), Booking::Duplicate);
    let conflict =
        Booking::of(&result(ResultCode::CollectionExistsWithDifferentAmount, Detail::None));
    assert_eq!(conflict, Booking::Conflict(ResultCode::CollectionExistsWithDifferentAmount));
    assert!(conflict.settled());
    let refused = Booking::of(&result(ResultCode::SettlementAccountNotFound, Detail::None));
    assert_eq!(refused, Booking::Refused(ResultCode::SettlementAccountNotFound));
    assert!(!refused.settled());
}

/// A ledger with the settlement, suspense, in-transit and customer accounts.
fn ledger() -> (StateMachine, MemoryStore) {
    let machine = StateMachine::new(LedgerConfig::default()).expect("the default config");
    let mut store = MemoryStore::default();
    let account = |id| NewAccount { id, ledger: LEDGER, code: 1, ..NewAccount::default() };
    let commands = [SETTLEMENT, SUSPENSE, IN_TRANSIT, CUSTOMER]
        .map(|id| Command::CreateAccount(account(id)))
        .to_vec();
    apply(&machine, &mut store, commands, 1);
    (machine, store)
}

fn apply(
    machine: &StateMachine,
    store: &mut MemoryStore,
    commands: Vec<Command>,
    timestamp: u64,
) -> Vec<EventResult> {
    let batch = Batch { timestamp, commands };
    let (results, writes) = machine.apply(store, &batch).expect("a valid batch");
    store.commit(&writes);
    results
}

fn balance(store: &MemoryStore, id: u128) -> (u128, u128) {
    let account: Account = tianping_ledger::LedgerStore::account(store, id).expect("exists");
    (account.debits_posted, account.credits_posted)
}

#[test]
fn replayed_and_duplicate_notifications_book_once() {
    let (machine, mut store) = ledger();
    let page = [
        credit_for("CAMT-1", 700, "TP1001"),
        credit_for("CAMT-2", 300, "no reference"),
        credit_for("CAMT-1", 700, "TP1001"),
    ];
    let book = |store: &mut MemoryStore, timestamp| {
        let commands = page
            .iter()
            .filter_map(|entry| match planned(entry, None) {
                Plan::Book(collection) => Some(Command::BookCollection(collection)),
                Plan::Defer { .. } | Plan::Skip(_) => None,
            })
            .collect();
        apply(&machine, store, commands, timestamp).iter().map(Booking::of).collect::<Vec<_>>()
    };
    assert_eq!(
        book(&mut store, 10),
        [
            Booking::Booked,
            Booking::Suspense(SuspenseReason::BeneficiaryNotFound),
            Booking::Duplicate
        ]
    );
    // The whole page again, as after a restart from an older cursor.
    assert_eq!(book(&mut store, 20), [Booking::Duplicate; 3]);
    assert_eq!(balance(&store, CUSTOMER), (0, 700));
    assert_eq!(balance(&store, SUSPENSE), (0, 300));
    assert_eq!(balance(&store, SETTLEMENT), (1_000, 0));
}

#[test]
fn a_returned_payout_is_booked_back_once_on_the_real_ledger() {
    let (machine, mut store) = ledger();
    // Fund the customer through a collection, pay 400 out, the bank executes it.
    let funding = planned(&credit_for("CAMT-F", 1_000, "TP1001"), None);
    let Plan::Book(funding) = funding else { panic!("a credit is booked") };
    apply(&machine, &mut store, vec![Command::BookCollection(funding)], 2);
    let new_payout = NewPayout {
        id: 9_001,
        debit_account_id: CUSTOMER,
        credit_account_id: IN_TRANSIT,
        amount: 400,
        ledger: LEDGER,
        code: 3,
        bank: BANK,
        beneficiary: "6222".into(),
        flags: TransferFlags::NONE,
        ..NewPayout::default()
    };
    apply(&machine, &mut store, vec![Command::CreatePayout(new_payout)], 3);
    let claim =
        tianping_ledger::ClaimPayouts { worker_id: 9, bank: BANK, max: 1, lease_ms: 60_000 };
    apply(&machine, &mut store, vec![Command::ClaimPayouts(claim)], 4);
    let done = tianping_ledger::RecordPayoutOutcome {
        payout_id: 9_001,
        worker_id: 9,
        fencing_token: 1,
        outcome: tianping_ledger::PayoutOutcome::Succeeded,
    };
    let recorded = apply(&machine, &mut store, vec![Command::RecordPayoutOutcome(done)], 5);
    assert_eq!(recorded[0].code, ResultCode::Ok);
    assert_eq!(balance(&store, CUSTOMER), (400, 1_000));

    let payout = tianping_ledger::LedgerStore::payout(&store, 9_001).expect("the payout");
    let entry = returned("RET-1", 9_001, 400);
    for (timestamp, expected) in [(6, Booking::Booked), (7, Booking::Duplicate)] {
        let Plan::Book(collection) = planned(&entry, Some(&payout)) else { panic!("booked back") };
        let results =
            apply(&machine, &mut store, vec![Command::BookCollection(collection)], timestamp);
        assert_eq!(Booking::of(&results[0]), expected);
    }
    assert_eq!(balance(&store, CUSTOMER), (400, 1_400));
}
