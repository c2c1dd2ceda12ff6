//! Documents built through the public API, shared by the XSD and parser tests.

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{
    AttemptIds, Balance, BalanceType, BankEntry, Direction, EndToEndId, EntryStatus, Party,
    PayoutInstruction, ReasonCode, ReasonKind, Statement,
};
use tianping_bank_adapters::iso20022::camt::{
    AccountNotice, NotificationDocument, StatementDocument,
};
use tianping_bank_adapters::iso20022::pain002::{StatusReport, TransactionStatus};
use tianping_bank_adapters::money::{Currency, Money};

pub fn date(text: &str) -> Date {
    Date::parse(text).expect("date")
}

pub fn instruction(payout_id: u128, minor_units: u128, currency: Currency) -> PayoutInstruction {
    PayoutInstruction {
        end_to_end_id: EndToEndId::from_payout_id(payout_id).expect("short id"),
        attempt: AttemptIds::fresh().expect("randomness"),
        amount: Money { minor_units, currency },
        debtor: Party::new("110060149018000123", "天平支付 custody").expect("party"),
        creditor: Party::new("6222020200001234567", "张三 & <Zhang>").expect("party"),
        requested_execution_date: date("2024-05-16"),
        created_at_unix_ms: 1_715_851_800_123,
    }
}

pub fn status_report(instruction: &PayoutInstruction) -> StatusReport {
    StatusReport {
        message_id: AttemptIds::fresh().expect("randomness").message_id,
        created_at_unix_ms: 1_715_851_900_000,
        original_message_id: instruction.attempt.message_id.as_str().to_owned(),
        original_message_name: "pain.001.001.09".to_owned(),
        group_status: Some("RJCT".to_owned()),
        group_reasons: vec![ReasonCode {
            code: "AM04".to_owned(),
            kind: ReasonKind::Iso,
            additional_info: None,
        }],
        transactions: vec![TransactionStatus {
            original_payment_information_id: instruction.attempt.instruction_id.as_str().to_owned(),
            original_instruction_id: Some(instruction.attempt.instruction_id.as_str().to_owned()),
            original_end_to_end_id: Some(instruction.end_to_end_id.clone()),
            status: Some("RJCT".to_owned()),
            reasons: vec![ReasonCode {
                code: "AM04".to_owned(),
                kind: ReasonKind::Iso,
                additional_info: Some("insufficient funds on the custody account".to_owned()),
            }],
            bank_reference: Some("BANK-REF-1".to_owned()),
        }],
    }
}

fn entries() -> Vec<BankEntry> {
    vec![
        BankEntry {
            bank_reference: "BR-1".to_owned(),
            end_to_end_id: Some(EndToEndId::from_payout_id(7_000_123).expect("id")),
            direction: Direction::Debit,
            amount: Money { minor_units: 123_450, currency: Currency::Cny },
            status: EntryStatus::Booked,
            reversal: false,
            booking_date: Some(date("2024-05-16")),
            value_date: Some(date("2024-05-16")),
            remittance: Vec::new(),
            counterparty_name: Some("张三".to_owned()),
        },
        BankEntry {
            bank_reference: "BR-2".to_owned(),
            end_to_end_id: None,
            direction: Direction::Credit,
            amount: Money { minor_units: 5, currency: Currency::Cny },
            status: EntryStatus::Pending,
            reversal: false,
            booking_date: None,
            value_date: Some(date("2024-05-17")),
            remittance: vec!["collection 42".to_owned()],
            counterparty_name: Some("Payer Ltd".to_owned()),
        },
        BankEntry {
            bank_reference: "BR-3".to_owned(),
            end_to_end_id: Some(EndToEndId::from_payout_id(7_000_100).expect("id")),
            direction: Direction::Credit,
            amount: Money { minor_units: 99_900, currency: Currency::Cny },
            status: EntryStatus::Booked,
            reversal: true,
            booking_date: Some(date("2024-05-18")),
            value_date: Some(date("2024-05-18")),
            remittance: Vec::new(),
            counterparty_name: None,
        },
    ]
}

pub fn notifications() -> NotificationDocument {
    NotificationDocument {
        message_id: "NTF-1".to_owned(),
        created: "2024-05-16T10:00:00.000Z".to_owned(),
        notifications: vec![AccountNotice {
            notification_id: "N-1".to_owned(),
            account: "110060149018000123".to_owned(),
            entries: entries(),
        }],
    }
}

pub fn statements() -> StatementDocument {
    let balance = |minor_units, day: &str| Balance {
        amount: Money { minor_units, currency: Currency::Cny },
        direction: Direction::Credit,
        date: date(day),
    };
    StatementDocument {
        message_id: "STMT-MSG-1".to_owned(),
        created: "2024-05-19T00:05:00.000Z".to_owned(),
        statements: vec![Statement {
            statement_id: "STMT-2024-05-18".to_owned(),
            account: "110060149018000123".to_owned(),
            balances: vec![
                (BalanceType::OpeningBooked, balance(10_000_000, "2024-05-16")),
                (BalanceType::ClosingBooked, balance(9_976_455, "2024-05-18")),
            ],
            entries: entries(),
        }],
    }
}
