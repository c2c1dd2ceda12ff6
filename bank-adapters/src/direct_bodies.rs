//! The business bodies of the direct-connect protocol beyond a payout submission (which
//! [`crate::direct`] defines with its status answer): the status query, the notification feed,
//! the statement, and the callbacks a bank pushes ([`CallbackBody`]). Each travels as the
//! `biz_content` of a signed envelope; amounts are decimal text with their currency, dates
//! `YYYY-MM-DD`, as in the payout bodies.
//!
//! Both sides use these types: the gateway writes requests and reads answers, the bank
//! simulator the other way round, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::calendar::Date;
use crate::direct::{BodyError, PayoutStatusBody};
use crate::money::Money;
use crate::payment::{
    Balance, BalanceType, BankEntry, Direction, EndToEndId, EntryStatus, NotificationCursor,
    NotificationPage, Statement, StatementPeriod,
};

/// A status query by end-to-end id (answered with a [`crate::direct::PayoutStatusBody`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutQueryBody {
    /// The payout's end-to-end id.
    pub end_to_end_id: String,
}

/// A request for the notifications of `account` after `cursor`. The account travels in the
/// signed `biz_content` like every other field, so no one between us and the bank can point
/// the request at another account's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsRequestBody {
    /// The account whose feed is read (one of ours at the bank).
    pub account: String,
    /// The cursor the previous page of this account's feed returned (empty for its start).
    pub cursor: String,
    /// At most this many entries.
    pub limit: u32,
}

/// One page of one account's notification feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsBody {
    /// The account every entry moved: required, so the gateway can check the page is of the
    /// account it asked for.
    pub account: String,
    /// The entries, in the bank's order.
    pub entries: Vec<EntryBody>,
    /// Where the next page starts.
    pub next_cursor: String,
}

impl NotificationsBody {
    /// The page as the gateway returns it.
    pub fn to_page(&self) -> Result<NotificationPage, BodyError> {
        Ok(NotificationPage {
            account: self.account.clone(),
            entries: self.entries.iter().map(EntryBody::to_entry).collect::<Result<_, _>>()?,
            next_cursor: NotificationCursor(self.next_cursor.clone()),
        })
    }
}

/// A request for the statement of one account over a period (both days inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementRequestBody {
    /// The account number.
    pub account: String,
    /// The first day, `YYYY-MM-DD`.
    pub from: String,
    /// The last day, `YYYY-MM-DD`.
    pub to: String,
}

impl StatementRequestBody {
    /// The request for `account` over `period`.
    pub fn new(account: &str, period: StatementPeriod) -> StatementRequestBody {
        StatementRequestBody {
            account: account.to_owned(),
            from: period.from().to_string(),
            to: period.to().to_string(),
        }
    }

    /// The period asked for, if the dates are valid and in order.
    pub fn period(&self) -> Result<StatementPeriod, BodyError> {
        let from = Date::parse(&self.from)?;
        let to = Date::parse(&self.to)?;
        StatementPeriod::new(from, to).ok_or(BodyError::ReversedPeriod { from, to })
    }
}

/// One movement, as the direct-connect JSON writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryBody {
    /// The bank's unique reference for the entry.
    pub bank_reference: String,
    /// The payment's end-to-end id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    /// `CREDIT` or `DEBIT`.
    pub direction: String,
    /// Decimal text.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `BOOKED`, `PENDING` or `INFO`.
    pub status: String,
    /// True for an entry that reverses an earlier one (a returned payout).
    #[serde(default)]
    pub reversal: bool,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_date: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_date: Option<String>,
    /// Remittance lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remittance: Vec<String>,
    /// The counterparty's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty_name: Option<String>,
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Credit => "CREDIT",
        Direction::Debit => "DEBIT",
    }
}

fn direction_from_name(name: &str) -> Result<Direction, BodyError> {
    match name {
        "CREDIT" => Ok(Direction::Credit),
        "DEBIT" => Ok(Direction::Debit),
        other => Err(BodyError::UnknownCode { field: "direction", value: other.to_owned() }),
    }
}

fn optional_date(text: Option<&String>) -> Result<Option<Date>, BodyError> {
    text.map(|text| Date::parse(text)).transpose().map_err(BodyError::from)
}

impl EntryBody {
    /// The body of `entry`.
    pub fn from_entry(entry: &BankEntry) -> EntryBody {
        EntryBody {
            bank_reference: entry.bank_reference.clone(),
            end_to_end_id: entry.end_to_end_id.as_ref().map(|id| id.as_str().to_owned()),
            direction: direction_name(entry.direction).to_owned(),
            amount: entry.amount.to_decimal_text(),
            currency: entry.amount.currency.code().to_owned(),
            status: match entry.status {
                EntryStatus::Booked => "BOOKED",
                EntryStatus::Pending => "PENDING",
                EntryStatus::Information => "INFO",
            }
            .to_owned(),
            reversal: entry.reversal,
            booking_date: entry.booking_date.map(|date| date.to_string()),
            value_date: entry.value_date.map(|date| date.to_string()),
            remittance: entry.remittance.clone(),
            counterparty_name: entry.counterparty_name.clone(),
        }
    }

    /// The entry this body describes; unknown codes are refused, not guessed.
    pub fn to_entry(&self) -> Result<BankEntry, BodyError> {
        Ok(BankEntry {
            bank_reference: self.bank_reference.clone(),
            end_to_end_id: self.end_to_end_id.as_deref().map(EndToEndId::parse).transpose()?,
            direction: direction_from_name(&self.direction)?,
            amount: Money::parse(&self.amount, &self.currency)?,
            status: match self.status.as_str() {
                "BOOKED" => EntryStatus::Booked,
                "PENDING" => EntryStatus::Pending,
                "INFO" => EntryStatus::Information,
                other => {
                    return Err(BodyError::UnknownCode {
                        field: "status",
                        value: other.to_owned(),
                    });
                }
            },
            reversal: self.reversal,
            booking_date: optional_date(self.booking_date.as_ref())?,
            value_date: optional_date(self.value_date.as_ref())?,
            remittance: self.remittance.clone(),
            counterparty_name: self.counterparty_name.clone(),
        })
    }
}

/// One statement balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceBody {
    /// The ISO balance type code (`OPBD`, `CLBD`, …).
    pub kind: String,
    /// Decimal text (the magnitude).
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `CREDIT` for a positive balance, `DEBIT` for an overdrawn one.
    pub direction: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// A statement, as the direct-connect JSON writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementBody {
    /// The bank's statement id.
    pub statement_id: String,
    /// The account number.
    pub account: String,
    /// The balances.
    pub balances: Vec<BalanceBody>,
    /// The entries.
    pub entries: Vec<EntryBody>,
}

impl StatementBody {
    /// The body of `statement`.
    pub fn from_statement(statement: &Statement) -> StatementBody {
        StatementBody {
            statement_id: statement.statement_id.clone(),
            account: statement.account.clone(),
            balances: statement
                .balances
                .iter()
                .map(|(kind, balance)| BalanceBody {
                    kind: kind.code().to_owned(),
                    amount: balance.amount.to_decimal_text(),
                    currency: balance.amount.currency.code().to_owned(),
                    direction: direction_name(balance.direction).to_owned(),
                    date: balance.date.to_string(),
                })
                .collect(),
            entries: statement.entries.iter().map(EntryBody::from_entry).collect(),
        }
    }

    /// The statement this body describes.
    pub fn to_statement(&self) -> Result<Statement, BodyError> {
        let balances = self
            .balances
            .iter()
            .map(|balance| {
                Ok((
                    BalanceType::from_code(&balance.kind),
                    Balance {
                        amount: Money::parse(&balance.amount, &balance.currency)?,
                        direction: direction_from_name(&balance.direction)?,
                        date: Date::parse(&balance.date)?,
                    },
                ))
            })
            .collect::<Result<_, BodyError>>()?;
        Ok(Statement {
            statement_id: self.statement_id.clone(),
            account: self.account.clone(),
            balances,
            entries: self.entries.iter().map(EntryBody::to_entry).collect::<Result<_, _>>()?,
        })
    }
}

/// What a direct-connect bank pushes, unasked, as the body of a `CALLBACK` envelope
/// ([`crate::bank_api`] module doc, "Callbacks"): a payout's final status, or an entry booked
/// on one of the client's accounts (an incoming credit, a returned payout). The `event` field
/// names which.
///
/// A callback says nothing a status query or a notification page would not: the receiver
/// books it through the same rules, so a duplicate, a reordered or a lost callback changes
/// nothing a poll would not have found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum CallbackBody {
    /// A payout's status changed (the simulator pushes final ones: executed or rejected).
    PayoutStatus {
        /// The status, as a status query answers it.
        status: PayoutStatusBody,
    },
    /// An entry was booked on `account`.
    AccountEntry {
        /// The account the entry moved: one the client registered the callback for.
        account: String,
        /// The entry, as a notification page carries it.
        entry: EntryBody,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn entry() -> BankEntry {
        BankEntry {
            bank_reference: "B-1".to_owned(),
            end_to_end_id: Some(EndToEndId::from_payout_id(42).expect("id")),
            direction: Direction::Credit,
            amount: Money { minor_units: 12_345, currency: Currency::Cny },
            status: EntryStatus::Booked,
            reversal: true,
            booking_date: Date::new(2024, 5, 16),
            value_date: Date::new(2024, 5, 17),
            remittance: vec!["order 7".to_owned()],
            counterparty_name: Some("张三".to_owned()),
        }
    }

    #[test]
    fn entries_and_statements_round_trip() {
        assert_eq!(EntryBody::from_entry(&entry()).to_entry().expect("reads"), entry());
        let date = Date::new(2024, 5, 16).expect("date");
        let statement = Statement {
            statement_id: "S-1".to_owned(),
            account: "A-1".to_owned(),
            balances: vec![(
                BalanceType::OpeningBooked,
                Balance {
                    amount: Money { minor_units: 5, currency: Currency::Cny },
                    direction: Direction::Debit,
                    date,
                },
            )],
            entries: vec![entry()],
        };
        let body = StatementBody::from_statement(&statement);
        let json = serde_json::to_string(&body).expect("serializes");
        let back: StatementBody = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.to_statement().expect("reads"), statement);
    }

    #[test]
    fn a_notification_page_names_its_account() {
        let body = NotificationsBody {
            account: "A-1".to_owned(),
            entries: vec![EntryBody::from_entry(&entry())],
            next_cursor: "0.1".to_owned(),
        };
        let page = body.to_page().expect("reads");
        assert_eq!((page.account.as_str(), page.entries.len()), ("A-1", 1));
        // An answer that names no account cannot be read, so it cannot be booked.
        let unnamed = r#"{"entries":[],"next_cursor":"0.0"}"#;
        assert!(serde_json::from_str::<NotificationsBody>(unnamed).is_err());
        let request =
            NotificationsRequestBody { account: "A-1".to_owned(), cursor: String::new(), limit: 5 };
        let json = serde_json::to_string(&request).expect("serializes");
        assert!(json.contains(r#""account":"A-1""#), "{json}");
    }

    #[test]
    fn callbacks_name_their_event() {
        let entry = CallbackBody::AccountEntry {
            account: "A-1".to_owned(),
            entry: EntryBody::from_entry(&entry()),
        };
        let json = serde_json::to_string(&entry).expect("serializes");
        assert!(json.starts_with(r#"{"event":"ACCOUNT_ENTRY","account":"A-1""#), "{json}");
        assert_eq!(serde_json::from_str::<CallbackBody>(&json).expect("parses"), entry);
        let status = CallbackBody::PayoutStatus {
            status: PayoutStatusBody {
                end_to_end_id: "42".to_owned(),
                status: "SUCCEEDED".to_owned(),
                reason_code: None,
                reason_message: None,
                bank_reference: Some("B-9".to_owned()),
            },
        };
        let json = serde_json::to_string(&status).expect("serializes");
        assert!(json.starts_with(r#"{"event":"PAYOUT_STATUS","status":{"#), "{json}");
        assert_eq!(serde_json::from_str::<CallbackBody>(&json).expect("parses"), status);
        for unknown in [r#"{"event":"REFUND","account":"A-1"}"#, r#"{"account":"A-1"}"#] {
            assert!(serde_json::from_str::<CallbackBody>(unknown).is_err(), "{unknown}");
        }
    }

    #[test]
    fn unknown_codes_are_refused() {
        let mut body = EntryBody::from_entry(&entry());
        body.direction = "SIDEWAYS".to_owned();
        assert!(body.to_entry().is_err());
        let mut body = EntryBody::from_entry(&entry());
        body.amount = "1.234".to_owned();
        assert!(body.to_entry().is_err());
        let reversed = StatementRequestBody {
            account: "A".to_owned(),
            from: "2024-05-17".to_owned(),
            to: "2024-05-16".to_owned(),
        };
        assert!(reversed.period().is_err());
    }
}
