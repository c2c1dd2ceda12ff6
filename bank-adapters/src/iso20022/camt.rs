//! `camt.054.001.08` (bank-to-customer debit/credit notification) and `camt.053.001.08`
//! (bank-to-customer statement): what the bank says moved on our accounts.
//!
//! Both carry the same entry (`Ntry`, `ReportEntry10`), read into a [`BankEntry`]:
//! - the bank reference is the entry's `AcctSvcrRef`, else its first transaction's
//!   `Refs/AcctSvcrRef`, else `NtryRef`; an entry with none of them is refused, because
//!   collections are booked once per bank reference and an entry without one could be booked
//!   twice;
//! - the amount and currency go through [`crate::money`]; `CdtDbtInd` must be `CRDT` or
//!   `DBIT`; the status must be `BOOK`, `PDNG` or `INFO` — other codes are refused rather than
//!   guessed;
//! - `RvslInd` true marks a reversal: per the standard, a `CRDT` reversal undoes an earlier
//!   debit (a payout the bank returned) and a `DBIT` reversal an earlier credit;
//! - the end-to-end id is the first transaction's `Refs/EndToEndId`; remittance lines are
//!   every transaction's `RmtInf/Ustrd`; the counterparty is the debtor of a credit and the
//!   creditor of a debit.
//!
//! Writing (the bank simulator's side) refuses remittance lines and counterparty names that
//! ISO 20022 `Max140Text` cannot carry ([`crate::payment::check_text`]), and emits the
//! schema-required `BkTxCd` as the ISO domain `PMNT`; the family is that of the transfer the
//! entry belongs to, `RCDT` (received) or `ICDT` (issued), so a returned payout is `ICDT`; the
//! sub-family is `DMCT` (domestic credit transfer) or `RRTN` (reversal due to a return).

use crate::calendar::Date;
use crate::iso20022::wire::{
    AccountId, AccountNotification, AccountStatement, Amount, BalanceType as WireBalanceType,
    BankToCustomerNotification, BankToCustomerStatement, BankTransactionCode,
    BankTransactionDomain, BankTransactionFamily, Camt053Document, Camt054Document,
    CamtGroupHeader, CashAccount, CashBalance, CodeChoice, DateChoice, EntryDetails,
    EntryTransaction, GenericId, PartyChoice, PartyName, Remittance, ReportEntry,
    TransactionParties, TransactionReferences,
};
use crate::iso20022::{XmlError, amount_text, read_document, write_document};
use crate::money::{Currency, Money};
use crate::payment::{
    Balance, BalanceType, BankEntry, Direction, EndToEndId, EntryStatus, Statement, check_text,
};

/// The camt.054 version read and written.
pub const NOTIFICATION_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08";

/// The camt.053 version read and written.
pub const STATEMENT_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08";

/// A camt.054 document: notifications for one or more accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationDocument {
    /// `GrpHdr/MsgId`.
    pub message_id: String,
    /// `GrpHdr/CreDtTm`, as written (ISO date-time text).
    pub created: String,
    /// One per `Ntfctn`.
    pub notifications: Vec<AccountNotice>,
}

/// One `Ntfctn`: entries on one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNotice {
    /// The notification's `Id`.
    pub notification_id: String,
    /// The account number.
    pub account: String,
    /// The entries.
    pub entries: Vec<BankEntry>,
}

/// A camt.053 document: statements for one or more accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementDocument {
    /// `GrpHdr/MsgId`.
    pub message_id: String,
    /// `GrpHdr/CreDtTm`, as written.
    pub created: String,
    /// One per `Stmt`.
    pub statements: Vec<Statement>,
}

/// Reads a camt.054.001.08 document.
pub fn read_notifications(text: &str) -> Result<NotificationDocument, XmlError> {
    let document: Camt054Document = read_document(text, NOTIFICATION_NAMESPACE)?;
    let body = document.BkToCstmrDbtCdtNtfctn;
    let notifications = body
        .Ntfctn
        .iter()
        .map(|notification| {
            Ok(AccountNotice {
                notification_id: notification.Id.clone(),
                account: account_number(&notification.Acct)?,
                entries: notification.Ntry.iter().map(entry_from_wire).collect::<Result<_, _>>()?,
            })
        })
        .collect::<Result<_, XmlError>>()?;
    Ok(NotificationDocument {
        message_id: body.GrpHdr.MsgId,
        created: body.GrpHdr.CreDtTm,
        notifications,
    })
}

/// Reads a camt.053.001.08 document.
pub fn read_statements(text: &str) -> Result<StatementDocument, XmlError> {
    let document: Camt053Document = read_document(text, STATEMENT_NAMESPACE)?;
    let body = document.BkToCstmrStmt;
    let statements = body.Stmt.iter().map(statement_from_wire).collect::<Result<_, XmlError>>()?;
    Ok(StatementDocument {
        message_id: body.GrpHdr.MsgId,
        created: body.GrpHdr.CreDtTm,
        statements,
    })
}

/// Writes a camt.054.001.08 document (the bank simulator's notification).
pub fn write_notifications(document: &NotificationDocument) -> Result<String, XmlError> {
    let notifications = document
        .notifications
        .iter()
        .map(|notice| {
            Ok(AccountNotification {
                Id: notice.notification_id.clone(),
                CreDtTm: None,
                Acct: account_to_wire(&notice.account, None),
                Ntry: notice.entries.iter().map(entry_to_wire).collect::<Result<_, XmlError>>()?,
            })
        })
        .collect::<Result<_, XmlError>>()?;
    write_document(&Camt054Document {
        xmlns: NOTIFICATION_NAMESPACE.to_owned(),
        BkToCstmrDbtCdtNtfctn: BankToCustomerNotification {
            GrpHdr: CamtGroupHeader {
                MsgId: document.message_id.clone(),
                CreDtTm: document.created.clone(),
            },
            Ntfctn: notifications,
        },
    })
}

/// Writes a camt.053.001.08 document (the bank simulator's statement). Every statement must
/// have at least one balance: the schema requires it.
pub fn write_statements(document: &StatementDocument) -> Result<String, XmlError> {
    let statements =
        document.statements.iter().map(statement_to_wire).collect::<Result<_, XmlError>>()?;
    write_document(&Camt053Document {
        xmlns: STATEMENT_NAMESPACE.to_owned(),
        BkToCstmrStmt: BankToCustomerStatement {
            GrpHdr: CamtGroupHeader {
                MsgId: document.message_id.clone(),
                CreDtTm: document.created.clone(),
            },
            Stmt: statements,
        },
    })
}

fn account_number(account: &CashAccount) -> Result<String, XmlError> {
    account.Id.number().map(str::to_owned).ok_or(XmlError::Missing { element: "Acct/Id" })
}

fn account_to_wire(number: &str, currency: Option<Currency>) -> CashAccount {
    CashAccount {
        Id: AccountId { IBAN: None, Othr: Some(GenericId { Id: number.to_owned() }) },
        Ccy: currency.map(|currency| currency.code().to_owned()),
    }
}

fn money_from_wire(amount: &Amount, element: &'static str) -> Result<Money, XmlError> {
    Money::parse(&amount.value, &amount.Ccy).map_err(|source| XmlError::Money { element, source })
}

fn money_to_wire(money: &Money) -> Result<Amount, XmlError> {
    Ok(Amount {
        Ccy: money.currency.code().to_owned(),
        value: amount_text(money.minor_units, money.currency)?,
    })
}

fn direction_from_wire(code: &str, element: &'static str) -> Result<Direction, XmlError> {
    match code {
        "CRDT" => Ok(Direction::Credit),
        "DBIT" => Ok(Direction::Debit),
        other => Err(XmlError::UnknownCode { element, value: other.to_owned() }),
    }
}

fn direction_code(direction: Direction) -> &'static str {
    match direction {
        Direction::Credit => "CRDT",
        Direction::Debit => "DBIT",
    }
}

/// A date from a `Dt`/`DtTm` choice: the date part of a date-time is the calendar day the
/// bank wrote (no time-zone shift is applied, as the bank's booking day is what counts).
fn date_from_wire(choice: &DateChoice, element: &'static str) -> Result<Option<Date>, XmlError> {
    let text = match (&choice.Dt, &choice.DtTm) {
        (Some(date), _) => date.as_str(),
        (None, Some(date_time)) => date_time.get(..10).unwrap_or(date_time),
        (None, None) => return Ok(None),
    };
    Date::parse(text).map(Some).map_err(|source| XmlError::Date { element, source })
}

fn date_to_wire(date: Date) -> DateChoice {
    DateChoice { Dt: Some(date.to_string()), DtTm: None }
}

fn entry_from_wire(entry: &ReportEntry) -> Result<BankEntry, XmlError> {
    let direction = direction_from_wire(&entry.CdtDbtInd, "Ntry/CdtDbtInd")?;
    let status = match (entry.Sts.Cd.as_deref(), entry.Sts.Prtry.as_deref()) {
        (Some("BOOK"), _) => EntryStatus::Booked,
        (Some("PDNG"), _) => EntryStatus::Pending,
        (Some("INFO"), _) => EntryStatus::Information,
        (Some(other), _) | (None, Some(other)) => {
            return Err(XmlError::UnknownCode { element: "Ntry/Sts", value: other.to_owned() });
        }
        (None, None) => return Err(XmlError::Missing { element: "Ntry/Sts/Cd" }),
    };
    let transactions: Vec<&EntryTransaction> =
        entry.NtryDtls.iter().flat_map(|details| details.TxDtls.iter()).collect();
    let first_reference = transactions.iter().find_map(|transaction| transaction.Refs.as_ref());
    let bank_reference = entry
        .AcctSvcrRef
        .clone()
        .or_else(|| first_reference.and_then(|references| references.AcctSvcrRef.clone()))
        .or_else(|| entry.NtryRef.clone())
        .ok_or(XmlError::Missing { element: "Ntry/AcctSvcrRef (or NtryRef)" })?;
    let end_to_end_id =
        match first_reference.and_then(|references| references.EndToEndId.as_deref()) {
            Some(text) => Some(EndToEndId::parse(text)?),
            None => None,
        };
    let remittance = transactions
        .iter()
        .filter_map(|transaction| transaction.RmtInf.as_ref())
        .flat_map(|remittance| remittance.Ustrd.iter().cloned())
        .collect();
    let counterparty_name = transactions.iter().find_map(|transaction| {
        let parties = transaction.RltdPties.as_ref()?;
        let party = match direction {
            Direction::Credit => parties.Dbtr.as_ref(),
            Direction::Debit => parties.Cdtr.as_ref(),
        }?;
        party.Pty.as_ref()?.Nm.clone()
    });
    Ok(BankEntry {
        bank_reference,
        end_to_end_id,
        direction,
        amount: money_from_wire(&entry.Amt, "Ntry/Amt")?,
        status,
        reversal: entry.RvslInd.unwrap_or(false),
        booking_date: match &entry.BookgDt {
            Some(choice) => date_from_wire(choice, "Ntry/BookgDt")?,
            None => None,
        },
        value_date: match &entry.ValDt {
            Some(choice) => date_from_wire(choice, "Ntry/ValDt")?,
            None => None,
        },
        remittance,
        counterparty_name,
    })
}

/// The ISO bank transaction code family of an entry: that of the transfer it belongs to. A
/// plain credit is a received transfer (`RCDT`), a plain debit an issued one (`ICDT`); a
/// reversal belongs to the transfer it undoes, so a returned payout — a credit — is `ICDT`
/// with sub-family `RRTN`, and a returned incoming credit — a debit — is `RCDT`.
fn transaction_family(direction: Direction, reversal: bool) -> &'static str {
    match (direction, reversal) {
        (Direction::Credit, false) | (Direction::Debit, true) => "RCDT",
        (Direction::Debit, false) | (Direction::Credit, true) => "ICDT",
    }
}

fn entry_to_wire(entry: &BankEntry) -> Result<ReportEntry, XmlError> {
    // Free text goes into `Max140Text` elements: refused here rather than written invalid.
    for line in &entry.remittance {
        check_text("remittance line", line)?;
    }
    if let Some(name) = &entry.counterparty_name {
        check_text("counterparty name", name)?;
    }
    let counterparty = entry
        .counterparty_name
        .as_ref()
        .map(|name| PartyChoice { Pty: Some(PartyName { Nm: Some(name.clone()) }) });
    let parties = counterparty.map(|party| match entry.direction {
        Direction::Credit => TransactionParties { Dbtr: Some(party), Cdtr: None },
        Direction::Debit => TransactionParties { Dbtr: None, Cdtr: Some(party) },
    });
    let transaction = EntryTransaction {
        Refs: entry.end_to_end_id.as_ref().map(|id| TransactionReferences {
            AcctSvcrRef: None,
            InstrId: None,
            EndToEndId: Some(id.as_str().to_owned()),
        }),
        RltdPties: parties,
        RmtInf: (!entry.remittance.is_empty())
            .then(|| Remittance { Ustrd: entry.remittance.clone() }),
    };
    let has_details = transaction.Refs.is_some()
        || transaction.RltdPties.is_some()
        || transaction.RmtInf.is_some();
    let family = transaction_family(entry.direction, entry.reversal);
    Ok(ReportEntry {
        NtryRef: None,
        Amt: money_to_wire(&entry.amount)?,
        CdtDbtInd: direction_code(entry.direction).to_owned(),
        RvslInd: entry.reversal.then_some(true),
        Sts: CodeChoice {
            Cd: Some(
                match entry.status {
                    EntryStatus::Booked => "BOOK",
                    EntryStatus::Pending => "PDNG",
                    EntryStatus::Information => "INFO",
                }
                .to_owned(),
            ),
            Prtry: None,
        },
        BookgDt: entry.booking_date.map(date_to_wire),
        ValDt: entry.value_date.map(date_to_wire),
        AcctSvcrRef: Some(entry.bank_reference.clone()),
        BkTxCd: BankTransactionCode {
            Domn: Some(BankTransactionDomain {
                Cd: "PMNT".to_owned(),
                Fmly: BankTransactionFamily {
                    Cd: family.to_owned(),
                    SubFmlyCd: if entry.reversal { "RRTN" } else { "DMCT" }.to_owned(),
                },
            }),
        },
        NtryDtls: if has_details {
            vec![EntryDetails { TxDtls: vec![transaction] }]
        } else {
            Vec::new()
        },
    })
}

fn statement_from_wire(statement: &AccountStatement) -> Result<Statement, XmlError> {
    let balances = statement
        .Bal
        .iter()
        .map(|balance| {
            let code = balance
                .Tp
                .CdOrPrtry
                .Cd
                .as_deref()
                .or(balance.Tp.CdOrPrtry.Prtry.as_deref())
                .ok_or(XmlError::Missing { element: "Bal/Tp/CdOrPrtry" })?;
            let date = date_from_wire(&balance.Dt, "Bal/Dt")?
                .ok_or(XmlError::Missing { element: "Bal/Dt" })?;
            Ok((
                BalanceType::from_code(code),
                Balance {
                    amount: money_from_wire(&balance.Amt, "Bal/Amt")?,
                    direction: direction_from_wire(&balance.CdtDbtInd, "Bal/CdtDbtInd")?,
                    date,
                },
            ))
        })
        .collect::<Result<_, XmlError>>()?;
    Ok(Statement {
        statement_id: statement.Id.clone(),
        account: account_number(&statement.Acct)?,
        balances,
        entries: statement.Ntry.iter().map(entry_from_wire).collect::<Result<_, _>>()?,
    })
}

fn statement_to_wire(statement: &Statement) -> Result<AccountStatement, XmlError> {
    if statement.balances.is_empty() {
        return Err(XmlError::Missing { element: "Stmt/Bal" });
    }
    let currency = statement.balances.first().map(|(_, balance)| balance.amount.currency);
    let balances = statement
        .balances
        .iter()
        .map(|(kind, balance)| {
            Ok(CashBalance {
                Tp: WireBalanceType {
                    CdOrPrtry: CodeChoice { Cd: Some(kind.code().to_owned()), Prtry: None },
                },
                Amt: money_to_wire(&balance.amount)?,
                CdtDbtInd: direction_code(balance.direction).to_owned(),
                Dt: date_to_wire(balance.date),
            })
        })
        .collect::<Result<_, XmlError>>()?;
    Ok(AccountStatement {
        Id: statement.statement_id.clone(),
        CreDtTm: None,
        Acct: account_to_wire(&statement.account, currency),
        Bal: balances,
        Ntry: statement.entries.iter().map(entry_to_wire).collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text).expect("date")
    }

    pub(crate) fn sample_entries() -> Vec<BankEntry> {
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
                end_to_end_id: Some(EndToEndId::parse("PAYER-REF-77").expect("id")),
                direction: Direction::Credit,
                amount: Money { minor_units: 5, currency: Currency::Cny },
                status: EntryStatus::Pending,
                reversal: false,
                booking_date: None,
                value_date: Some(date("2024-05-17")),
                remittance: vec!["collection 42".to_owned(), "second line".to_owned()],
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

    pub(crate) fn sample_notifications() -> NotificationDocument {
        NotificationDocument {
            message_id: "NTF-1".to_owned(),
            created: "2024-05-16T10:00:00.000Z".to_owned(),
            notifications: vec![AccountNotice {
                notification_id: "N-1".to_owned(),
                account: "110060149018000123".to_owned(),
                entries: sample_entries(),
            }],
        }
    }

    pub(crate) fn sample_statements() -> StatementDocument {
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
                entries: sample_entries(),
            }],
        }
    }

    #[test]
    fn notifications_round_trip() {
        let text = write_notifications(&sample_notifications()).expect("writes");
        assert_eq!(read_notifications(&text).expect("reads"), sample_notifications());
        assert!(text.contains("<RvslInd>true</RvslInd>"));
        assert!(matches!(read_statements(&text), Err(XmlError::WrongMessage { .. })));
    }

    #[test]
    fn statements_round_trip_with_balances_and_reversals() {
        let text = write_statements(&sample_statements()).expect("writes");
        let read_back = read_statements(&text).expect("reads");
        assert_eq!(read_back, sample_statements());
        let statement = &read_back.statements[0];
        assert_eq!(
            statement.opening_booked().map(|balance| balance.amount.minor_units),
            Some(10_000_000)
        );
        assert_eq!(
            statement.closing_booked().map(|balance| balance.amount.minor_units),
            Some(9_976_455)
        );
        assert!(statement.entries[2].reversal);
    }

    #[test]
    fn money_deciding_fields_are_strict() {
        let good = write_notifications(&sample_notifications()).expect("writes");
        let cases = [
            (good.replacen(">1234.50<", ">1234.505<", 1), "TooManyDecimals"),
            (good.replacen("Ccy=\"CNY\"", "Ccy=\"XXX\"", 1), "UnknownCurrency"),
            (good.replacen(">1234.50<", ">-1234.50<", 1), "Sign"),
            (
                good.replacen("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>DEBIT</CdtDbtInd>", 1),
                "UnknownCode",
            ),
            (good.replacen("<Cd>BOOK</Cd>", "<Cd>FUTR</Cd>", 1), "UnknownCode"),
            (good.replacen("<AcctSvcrRef>BR-1</AcctSvcrRef>", "", 1), "Missing"),
            (good.replacen("2024-05-16</Dt>", "2024-02-30</Dt>", 1), "Date"),
        ];
        for (text, kind) in cases {
            let error = read_notifications(&text).expect_err(kind);
            assert!(format!("{error:?}").contains(kind), "{kind}: {error:?}");
        }
    }

    #[test]
    fn a_returned_payout_is_coded_as_the_issued_transfer_it_reverses() {
        let text = write_notifications(&sample_notifications()).expect("writes");
        let codes: Vec<&str> = text
            .split("<Fmly>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Fmly>").map(|(family, _)| family))
            .collect();
        // BR-1 a payout (debit), BR-2 an incoming credit, BR-3 a returned payout (credit).
        assert_eq!(
            codes,
            [
                "<Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd>",
                "<Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd>",
                "<Cd>ICDT</Cd><SubFmlyCd>RRTN</SubFmlyCd>",
            ]
        );
        assert_eq!(transaction_family(Direction::Debit, true), "RCDT", "a returned credit");
    }

    #[test]
    fn text_the_schema_cannot_carry_is_not_written() {
        type Change = fn(&mut BankEntry);
        let cases: [(&str, Change); 4] = [
            ("an empty remittance line", |entry| entry.remittance = vec![String::new()]),
            ("a remittance line over 140", |entry| entry.remittance = vec!["x".repeat(141)]),
            ("a blank counterparty", |entry| entry.counterparty_name = Some(" ".to_owned())),
            ("a counterparty over 140", |entry| entry.counterparty_name = Some("名".repeat(141))),
        ];
        for (what, change) in cases {
            let mut notifications = sample_notifications();
            change(&mut notifications.notifications[0].entries[0]);
            let written = write_notifications(&notifications);
            assert!(matches!(written, Err(XmlError::Reference(_))), "{what}: {written:?}");
            let mut statements = sample_statements();
            change(&mut statements.statements[0].entries[0]);
            let written = write_statements(&statements);
            assert!(matches!(written, Err(XmlError::Reference(_))), "{what}: {written:?}");
        }
    }

    #[test]
    fn a_statement_needs_a_balance_to_be_written() {
        let mut document = sample_statements();
        document.statements[0].balances.clear();
        assert!(matches!(write_statements(&document), Err(XmlError::Missing { .. })));
    }
}
