//! The ISO 20022 side: pain.001 in, pain.002 / camt.054 / camt.053 out (paths in
//! [`tianping_bank_adapters::bank_api`]).

use tianping_bank_adapters::bank_api::{NEXT_CURSOR_HEADER, XML_CONTENT_TYPE, paths};
use tianping_bank_adapters::calendar::{Date, utc_date_time_text};
use tianping_bank_adapters::gateway::AttemptId;
use tianping_bank_adapters::gateway::{EndToEndId, ReasonCode, ReasonKind, StatementPeriod};
use tianping_bank_adapters::iso20022::camt::{
    self, AccountNotice, NotificationDocument, StatementDocument,
};
use tianping_bank_adapters::iso20022::pain001::{self, ReceivedInitiation};
use tianping_bank_adapters::iso20022::pain002::{self, StatusReport, TransactionStatus};
use tianping_bank_adapters::iso20022::{XmlError, pain001::MESSAGE_NAME};
use tianping_bank_adapters::transport::{BankRequest, BankResponse, Method};

use crate::bank::AnswerFaults;
use crate::bank::records::{InstructionRecord, InstructionStatus, JournalEntry, PaymentOrder};
use crate::faults::Fault;
use crate::hosted::{Handled, HostedBank, query_value};
use crate::protocol::{executed_reference, page_limit, query_limit, rejection};

/// Handles one ISO 20022 request.
pub fn handle(
    hosted: &mut HostedBank,
    request: &BankRequest,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let path = request.path.split('?').next().unwrap_or_default();
    let by_id = path.strip_prefix(paths::ISO_PAYMENTS).and_then(|rest| rest.strip_prefix('/'));
    match (request.method, path) {
        (Method::Post, paths::ISO_PAYMENTS) => submit(hosted, request, carried, now_ms),
        (Method::Get, paths::ISO_NOTIFICATIONS) => notifications(hosted, request, carried, now_ms),
        (Method::Get, paths::ISO_STATEMENTS) => statement(hosted, request, carried, now_ms),
        (Method::Get, _) if by_id.is_some() => {
            query(hosted, by_id.unwrap_or_default(), carried, now_ms)
        }
        _ => Handled::text(404, format!("no ISO 20022 call {} {path}", request.method.name())),
    }
}

fn xml(status: u16, document: String, faults: AnswerFaults) -> Handled {
    Handled {
        response: BankResponse {
            status,
            headers: vec![("content-type".to_owned(), XML_CONTENT_TYPE.to_owned())],
            body: document.into_bytes(),
        },
        delivery: faults.delivery,
    }
}

fn xml_error(error: &XmlError) -> Handled {
    Handled::text(500, format!("cannot write the document: {error}"))
}

fn submit(
    hosted: &mut HostedBank,
    request: &BankRequest,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let Ok(text) = std::str::from_utf8(&request.body) else {
        return Handled::text(400, "the pain.001 is not UTF-8");
    };
    let received: ReceivedInitiation = match pain001::read(text) {
        Ok(received) => received,
        Err(error) => return Handled::text(400, format!("refused pain.001: {error}")),
    };
    let order = PaymentOrder {
        end_to_end_id: received.end_to_end_id.clone(),
        message_id: received.message_id.as_str().to_owned(),
        instruction_id: received.instruction_id.as_str().to_owned(),
        payment_information_id: received.payment_information_id.clone(),
        amount: received.amount,
        debtor: received.debtor.clone(),
        creditor: received.creditor.clone(),
    };
    match hosted.bank.submit(order.clone(), carried, now_ms) {
        Err(error) => Handled::bank_error(&error),
        Ok((None, faults)) => Handled { delivery: faults.delivery, ..Handled::text(504, "") },
        Ok((Some(record), faults)) => match report(hosted, &record, &order, now_ms) {
            Ok(document) => xml(200, document, faults),
            Err(error) => xml_error(&error),
        },
    }
}

fn query(hosted: &mut HostedBank, id: &str, carried: Vec<Fault>, now_ms: u64) -> Handled {
    let Ok(end_to_end_id) = EndToEndId::parse(id) else {
        return Handled::text(400, format!("bad end-to-end id {id:?}"));
    };
    match hosted.bank.query(&end_to_end_id, carried, now_ms) {
        Err(error) => Handled::bank_error(&error),
        Ok((None, faults)) => {
            Handled { delivery: faults.delivery, ..Handled::text(404, format!("no payment {id}")) }
        }
        Ok((Some(record), faults)) => {
            let order = record.order.clone();
            match report(hosted, &record, &order, now_ms) {
                Ok(document) => xml(200, document, faults),
                Err(error) => xml_error(&error),
            }
        }
    }
}

/// A pain.002 about `record`, answering the message `answered` carried.
fn report(
    hosted: &mut HostedBank,
    record: &InstructionRecord,
    answered: &PaymentOrder,
    now_ms: u64,
) -> Result<String, XmlError> {
    let status = match &record.status {
        InstructionStatus::Pending { .. } => "PDNG",
        InstructionStatus::Executed { .. } => "ACSC",
        InstructionStatus::Rejected { .. } => "RJCT",
    };
    let reasons = rejection(record)
        .map(|(code, info)| ReasonCode {
            code: code.to_owned(),
            kind: ReasonKind::Iso,
            additional_info: Some(info.to_owned()),
        })
        .into_iter()
        .collect();
    let report = StatusReport {
        message_id: AttemptId::parse(&hosted.bank.next_message_id())?,
        created_at_unix_ms: now_ms,
        original_message_id: answered.message_id.clone(),
        original_message_name: MESSAGE_NAME.to_owned(),
        group_status: None,
        group_reasons: Vec::new(),
        transactions: vec![TransactionStatus {
            original_payment_information_id: answered.payment_information_id.clone(),
            original_instruction_id: Some(answered.instruction_id.clone()),
            original_end_to_end_id: Some(record.order.end_to_end_id.clone()),
            status: Some(status.to_owned()),
            reasons,
            bank_reference: executed_reference(record),
        }],
    };
    pain002::write(&report, hosted.pain002_version)
}

/// A camt.054 of `account`'s `entries` (a page of its feed): one notification naming the
/// account in `Ntfctn/Acct/Id`, even when the page is empty (the schema needs one), so the
/// reader can check the document is of the account it asked for.
pub fn notification_document(
    hosted: &mut HostedBank,
    account: &str,
    entries: &[JournalEntry],
    now_ms: u64,
) -> Result<String, XmlError> {
    let notice = AccountNotice {
        notification_id: hosted.bank.next_message_id(),
        account: account.to_owned(),
        entries: entries.iter().map(JournalEntry::to_bank_entry).collect(),
    };
    camt::write_notifications(&NotificationDocument {
        message_id: hosted.bank.next_message_id(),
        created: utc_date_time_text(now_ms),
        notifications: vec![notice],
    })
}

fn notifications(
    hosted: &mut HostedBank,
    request: &BankRequest,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let Some(account) = query_value(&request.path, "account") else {
        return Handled::text(400, "missing account: the notification feed is per account");
    };
    let limit = match query_limit(&request.path) {
        Ok(limit) => page_limit(limit),
        Err(detail) => return Handled::text(400, detail),
    };
    let cursor = query_value(&request.path, "cursor").unwrap_or_default();
    let (entries, next_cursor) = match hosted.bank.notifications(account, cursor, limit, now_ms) {
        Ok(page) => page,
        Err(error) => return Handled::bank_error(&error),
    };
    let faults = hosted.bank.plain_answer_faults(carried);
    match notification_document(hosted, account, &entries, now_ms) {
        Ok(document) => {
            let mut handled = xml(200, document, faults);
            handled.response.headers.push((NEXT_CURSOR_HEADER.to_owned(), next_cursor));
            handled
        }
        Err(error) => xml_error(&error),
    }
}

/// The period a statement request names.
pub fn requested_period(from: Option<&str>, to: Option<&str>) -> Result<StatementPeriod, String> {
    let date = |text: Option<&str>, name: &str| {
        let text = text.ok_or_else(|| format!("missing {name}"))?;
        Date::parse(text).map_err(|error| error.to_string())
    };
    let (from, to) = (date(from, "from")?, date(to, "to")?);
    StatementPeriod::new(from, to).ok_or_else(|| format!("period {from}..{to} is reversed"))
}

fn statement(
    hosted: &mut HostedBank,
    request: &BankRequest,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let Some(account) = query_value(&request.path, "account") else {
        return Handled::text(400, "missing account");
    };
    let period = match requested_period(
        query_value(&request.path, "from"),
        query_value(&request.path, "to"),
    ) {
        Ok(period) => period,
        Err(detail) => return Handled::text(400, detail),
    };
    let statement = match hosted.bank.statement(account, period, now_ms) {
        Ok(statement) => statement,
        Err(error) => return Handled::bank_error(&error),
    };
    let faults = hosted.bank.plain_answer_faults(carried);
    let document = StatementDocument {
        message_id: hosted.bank.next_message_id(),
        created: utc_date_time_text(now_ms),
        statements: vec![statement],
    };
    match camt::write_statements(&document) {
        Ok(text) => xml(200, text, faults),
        Err(error) => xml_error(&error),
    }
}
