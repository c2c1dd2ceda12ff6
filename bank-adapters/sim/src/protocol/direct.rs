//! The direct-connect side: every request is a `REQUEST` envelope verified against the
//! client's keys before its body is read (a refusal is `401`, unsigned, and counted in the
//! bank's verifier); every answer is an `ANSWER` envelope signed with the bank's newest key,
//! stamped with the caller's `now_ms` and a nonce from the bank's seeded generator. Pushed
//! callbacks ([`seal_callback`]) are `CALLBACK` envelopes sealed the same way, afresh for
//! every delivery, so a retry is never a replay.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tianping_bank_adapters::bank_api::{JSON_CONTENT_TYPE, paths};
use tianping_bank_adapters::direct::{MessageKind, PayoutRequestBody, PayoutStatusBody, seal};
use tianping_bank_adapters::direct_bodies::{
    CallbackBody, EntryBody, NotificationsBody, NotificationsRequestBody, PayoutQueryBody,
    StatementBody, StatementRequestBody,
};
use tianping_bank_adapters::gateway::{EndToEndId, Party};
use tianping_bank_adapters::transport::{BankRequest, BankResponse, Method};

use crate::bank::AnswerFaults;
use crate::bank::callbacks::{CallbackEvent, DueCallback};
use crate::bank::records::{InstructionRecord, InstructionStatus, PaymentOrder};
use crate::faults::Fault;
use crate::hosted::{Handled, HostedBank};
use crate::protocol::{executed_reference, page_limit, rejection};

/// Handles one direct-connect request.
pub fn handle(
    hosted: &mut HostedBank,
    request: &BankRequest,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let Some(direct) = hosted.direct.as_ref() else {
        return Handled::text(500, "a direct-connect bank without keys");
    };
    if request.method != Method::Post {
        return Handled::text(405, "direct-connect calls are POST");
    }
    let verified = match direct.verifier.verify(&request.body, now_ms) {
        Ok(verified) => verified,
        Err(error) => return Handled::text(401, format!("request refused: {error}")),
    };
    if verified.kind != MessageKind::Request {
        return Handled::text(401, format!("expected a REQUEST, got a {}", verified.kind.name()));
    }
    let body = verified.biz_content;
    match request.path.as_str() {
        paths::DIRECT_PAYOUTS => match parse::<PayoutRequestBody>(&body) {
            Ok(payout) => submit(hosted, &payout, carried, now_ms),
            Err(answer) => answer,
        },
        paths::DIRECT_PAYOUT_QUERY => match parse::<PayoutQueryBody>(&body) {
            Ok(query) => self::query(hosted, &query, carried, now_ms),
            Err(answer) => answer,
        },
        paths::DIRECT_NOTIFICATIONS => match parse::<NotificationsRequestBody>(&body) {
            Ok(page) => notifications(hosted, &page, carried, now_ms),
            Err(answer) => answer,
        },
        paths::DIRECT_STATEMENTS => match parse::<StatementRequestBody>(&body) {
            Ok(asked) => statement(hosted, &asked, carried, now_ms),
            Err(answer) => answer,
        },
        other => Handled::text(404, format!("no direct-connect call {other}")),
    }
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, Handled> {
    serde_json::from_str(body).map_err(|error| Handled::text(400, format!("bad body: {error}")))
}

/// Seals `body` as the bank's answer, breaking the signature when the faults say so.
fn answer(
    hosted: &mut HostedBank,
    body: &impl Serialize,
    faults: AnswerFaults,
    now_ms: u64,
) -> Handled {
    let nonce = hosted.bank.draw_nonce();
    let Some(direct) = hosted.direct.as_ref() else {
        return Handled::text(500, "a direct-connect bank without keys");
    };
    let sealed = serde_json::to_string(body).map_err(|error| error.to_string()).and_then(|text| {
        let signer = direct.signing.signer().map_err(|error| error.to_string())?;
        seal(signer.as_ref(), &direct.app_id, MessageKind::Answer, now_ms, &nonce, text)
            .map_err(|error| error.to_string())
    });
    let mut envelope = match sealed {
        Ok(envelope) => envelope,
        Err(detail) => return Handled::text(500, format!("cannot sign the answer: {detail}")),
    };
    if faults.bad_signature {
        // Still valid JSON, no longer what was signed.
        envelope.biz_content.push(' ');
    }
    match serde_json::to_vec(&envelope) {
        Ok(bytes) => Handled {
            response: BankResponse {
                status: 200,
                headers: vec![("content-type".to_owned(), JSON_CONTENT_TYPE.to_owned())],
                body: bytes,
            },
            delivery: faults.delivery,
        },
        Err(error) => Handled::text(500, format!("cannot encode the answer: {error}")),
    }
}

/// The status body of `record`.
fn status_body(record: &InstructionRecord) -> PayoutStatusBody {
    let status = match record.status {
        InstructionStatus::Pending { .. } => "PENDING",
        InstructionStatus::Executed { .. } => "SUCCEEDED",
        InstructionStatus::Rejected { .. } => "FAILED",
    };
    let reason = rejection(record);
    PayoutStatusBody {
        end_to_end_id: record.order.end_to_end_id.as_str().to_owned(),
        status: status.to_owned(),
        reason_code: reason.map(|(code, _)| code.to_owned()),
        reason_message: reason.map(|(_, info)| info.to_owned()),
        bank_reference: executed_reference(record),
    }
}

fn order_of(payout: &PayoutRequestBody) -> Result<PaymentOrder, String> {
    Ok(PaymentOrder {
        end_to_end_id: EndToEndId::parse(&payout.end_to_end_id)
            .map_err(|error| error.to_string())?,
        message_id: payout.request_id.clone(),
        instruction_id: payout.instruction_id.clone(),
        payment_information_id: payout.instruction_id.clone(),
        amount: payout.money().map_err(|error| error.to_string())?,
        debtor: Party::new(&payout.debtor_account, &payout.debtor_name)
            .map_err(|error| error.to_string())?,
        creditor: Party::new(&payout.creditor_account, &payout.creditor_name)
            .map_err(|error| error.to_string())?,
    })
}

fn submit(
    hosted: &mut HostedBank,
    payout: &PayoutRequestBody,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let order = match order_of(payout) {
        Ok(order) => order,
        Err(detail) => return Handled::text(400, format!("bad payout: {detail}")),
    };
    match hosted.bank.submit(order, carried, now_ms) {
        Err(error) => Handled::bank_error(&error),
        Ok((None, faults)) => Handled { delivery: faults.delivery, ..Handled::text(504, "") },
        Ok((Some(record), faults)) => answer(hosted, &status_body(&record), faults, now_ms),
    }
}

fn query(
    hosted: &mut HostedBank,
    query: &PayoutQueryBody,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let Ok(id) = EndToEndId::parse(&query.end_to_end_id) else {
        return Handled::text(400, format!("bad end-to-end id {:?}", query.end_to_end_id));
    };
    match hosted.bank.query(&id, carried, now_ms) {
        Err(error) => Handled::bank_error(&error),
        Ok((record, faults)) => {
            let body = match record {
                Some(record) => status_body(&record),
                None => PayoutStatusBody {
                    end_to_end_id: id.as_str().to_owned(),
                    status: "NOT_FOUND".to_owned(),
                    reason_code: None,
                    reason_message: None,
                    bank_reference: None,
                },
            };
            answer(hosted, &body, faults, now_ms)
        }
    }
}

fn notifications(
    hosted: &mut HostedBank,
    page: &NotificationsRequestBody,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let limit = page_limit(usize::try_from(page.limit).ok());
    match hosted.bank.notifications(&page.account, &page.cursor, limit, now_ms) {
        Err(error) => Handled::bank_error(&error),
        Ok((entries, next_cursor)) => {
            let body = NotificationsBody {
                account: page.account.clone(),
                entries: entries
                    .iter()
                    .map(|entry| EntryBody::from_entry(&entry.to_bank_entry()))
                    .collect(),
                next_cursor,
            };
            let faults = hosted.bank.plain_answer_faults(carried);
            answer(hosted, &body, faults, now_ms)
        }
    }
}

fn statement(
    hosted: &mut HostedBank,
    asked: &StatementRequestBody,
    carried: Vec<Fault>,
    now_ms: u64,
) -> Handled {
    let period = match asked.period() {
        Ok(period) => period,
        Err(error) => return Handled::text(400, error.to_string()),
    };
    match hosted.bank.statement(&asked.account, period, now_ms) {
        Err(error) => Handled::bank_error(&error),
        Ok(statement) => {
            let faults = hosted.bank.plain_answer_faults(carried);
            answer(hosted, &StatementBody::from_statement(&statement), faults, now_ms)
        }
    }
}

/// The sealed `CALLBACK` envelope of `due` at `now_ms`, its body written from the bank's
/// records now (a payout's status as a query would answer it; a journal entry as a
/// notification page carries it). The standing `bad_signature_ppm` breaks its signature as
/// it breaks answers'.
pub fn seal_callback(
    hosted: &mut HostedBank,
    due: &DueCallback,
    now_ms: u64,
) -> Result<Vec<u8>, String> {
    let body = match &due.event {
        CallbackEvent::PayoutStatus(id) => {
            let record = hosted.bank.instructions().get(id).ok_or("no such payment")?;
            CallbackBody::PayoutStatus { status: status_body(record) }
        }
        CallbackEvent::Entry(index) => {
            let entry = hosted.bank.journal().get(*index).ok_or("no such journal entry")?;
            CallbackBody::AccountEntry {
                account: entry.account.clone(),
                entry: EntryBody::from_entry(&entry.to_bank_entry()),
            }
        }
    };
    let text = serde_json::to_string(&body).map_err(|error| error.to_string())?;
    let nonce = hosted.bank.draw_nonce();
    let broken = hosted.bank.draw_bad_signature();
    let direct = hosted.direct.as_ref().ok_or("a direct-connect bank without keys")?;
    let signer = direct.signing.signer().map_err(|error| error.to_string())?;
    let mut envelope =
        seal(signer.as_ref(), &direct.app_id, MessageKind::Callback, now_ms, &nonce, text)
            .map_err(|error| error.to_string())?;
    if broken {
        // Still valid JSON, no longer what was signed.
        envelope.biz_content.push(' ');
    }
    serde_json::to_vec(&envelope).map_err(|error| error.to_string())
}
