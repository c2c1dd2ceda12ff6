//! The admin interface: JSON over HTTP below `/banks/{bank id}/admin`, for drills, tests and
//! a curious operator. It is never down and never faulty.
//!
//! | call | body | answer |
//! |---|---|---|
//! | `GET /admin/accounts` | — | accounts with balances |
//! | `GET /admin/instructions` | — | every payment instruction record |
//! | `GET /admin/journal` | — | every booked entry |
//! | `GET /admin/stats` | — | the bank's counters and its request verifier's (direct-connect) |
//! | `GET /admin/faults` | — | the standing [`FaultConfig`] |
//! | `POST /admin/faults` | a [`FaultConfig`] | replaces it |
//! | `POST /admin/directives` | [`DirectiveBody`] | faults for the next request about one end-to-end id (any [`Fault`], the booking faults reconciliation must catch among them) |
//! | `POST /admin/credits` | [`CreditBody`] | posts an incoming credit now; answers its bank reference |
//! | `POST /admin/down` | [`DownBody`] | the bank is down from now for `for_ms` |
//! | `GET /admin/callbacks` | — | the registered callback URLs, the callbacks waiting, and their counters |
//! | `POST /admin/callbacks` | [`CallbackRegistration`] | registers (or, without `url`, withdraws) an account's callback URL (direct-connect banks) |
//! | `GET /admin/conservation` | — | `200` if money is conserved and every balance is its opening plus its journal, `500` with the difference if not |
//!
//! [`client`] calls it from a program: [`client::send_directive`] is how a user, a CLI or a
//! drill tells a running simulator to, say, drop one payment's booking.
//!
//! An instruction's `status` is what the bank *tells* about it; its `executions` are the
//! debits it really booked. The two disagree only under a booking fault.

use serde::{Deserialize, Serialize};
use tianping_bank_adapters::gateway::EndToEndId;
use tianping_bank_adapters::money::Money;
use tianping_bank_adapters::transport::{BankRequest, Method};

use crate::bank::records::{InstructionStatus, JournalEntry};
use crate::faults::{DownWindow, Fault, FaultConfig};
use crate::hosted::{Handled, HostedBank};

pub mod client;

/// Faults for the next request about one payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveBody {
    /// The payment.
    pub end_to_end_id: String,
    /// The faults.
    pub faults: Vec<Fault>,
}

/// An incoming credit to post now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditBody {
    /// The credited account.
    pub account: String,
    /// Decimal text in the account's currency.
    pub amount: String,
    /// The payer's name.
    pub payer_name: String,
    /// Remittance lines (the collection's reference).
    #[serde(default)]
    pub remittance: Vec<String>,
    /// The payer's end-to-end id, if any.
    #[serde(default)]
    pub end_to_end_id: Option<String>,
}

/// Where one account's callbacks go: `url` absent withdraws it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRegistration {
    /// The account.
    pub account: String,
    /// `http://host:port/path`, or none to stop the account's callbacks.
    #[serde(default)]
    pub url: Option<String>,
}

/// A down period starting now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownBody {
    /// How long, in milliseconds.
    pub for_ms: u64,
}

/// An account as the admin interface shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The number.
    pub number: String,
    /// The holder.
    pub name: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The balance as decimal text.
    pub balance: String,
    /// The balance in minor units, as decimal text (JSON numbers lose `u128` precision).
    pub balance_minor_units: String,
}

/// An instruction record as the admin interface shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstructionView {
    /// The end-to-end id.
    pub end_to_end_id: String,
    /// The first attempt's message id.
    pub message_id: String,
    /// Orders received with this id.
    pub attempts: u32,
    /// Decimal text.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The paying account.
    pub debtor_account: String,
    /// The beneficiary's account.
    pub creditor_account: String,
    /// `PENDING`, `EXECUTED` or `REJECTED`.
    pub status: String,
    /// The debit entry's reference, once executed.
    pub bank_reference: Option<String>,
    /// The reason, once rejected.
    pub reason_code: Option<String>,
    /// When a pending payment ends.
    pub pending_until_ms: Option<u64>,
    /// When the payment was returned, if it was.
    pub returned_at_ms: Option<u64>,
    /// The debits the bank really booked for it, in booking order (none, one, or two under
    /// `execute-twice`): the truth when `status` says otherwise.
    #[serde(default)]
    pub executions: Vec<ExecutionView>,
}

/// A debit the bank really booked for a payment, as the admin interface shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionView {
    /// The debit entry's reference.
    pub bank_reference: String,
    /// Decimal text (the executed amount: off the instructed one under `amount-off`).
    pub amount: String,
    /// When, Unix ms.
    pub booked_at_ms: u64,
}

/// A journal entry as the admin interface shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// The reference.
    pub bank_reference: String,
    /// The account.
    pub account: String,
    /// `CREDIT` or `DEBIT`.
    pub direction: String,
    /// Decimal text.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// True for a return.
    pub reversal: bool,
    /// When, Unix ms.
    pub booked_at_ms: u64,
    /// The payment's end-to-end id.
    pub end_to_end_id: Option<String>,
}

fn entry_view(entry: &JournalEntry) -> EntryView {
    let body = tianping_bank_adapters::direct_bodies::EntryBody::from_entry(&entry.to_bank_entry());
    EntryView {
        bank_reference: entry.bank_reference.clone(),
        account: entry.account.clone(),
        direction: body.direction,
        amount: body.amount,
        currency: body.currency,
        reversal: entry.reversal,
        booked_at_ms: entry.booked_at_ms,
        end_to_end_id: body.end_to_end_id,
    }
}

/// The bank's accounts, as [`AccountView`]s.
pub fn accounts(hosted: &HostedBank) -> Vec<AccountView> {
    hosted
        .bank
        .accounts()
        .values()
        .map(|account| AccountView {
            number: account.number.clone(),
            name: account.name.clone(),
            currency: account.currency.code().to_owned(),
            balance: Money { minor_units: account.balance, currency: account.currency }
                .to_decimal_text(),
            balance_minor_units: account.balance.to_string(),
        })
        .collect()
}

/// The bank's instruction records, as [`InstructionView`]s.
pub fn instructions(hosted: &HostedBank) -> Vec<InstructionView> {
    hosted
        .bank
        .instructions()
        .values()
        .map(|record| {
            let (status, bank_reference, reason_code, pending_until_ms) = match &record.status {
                InstructionStatus::Pending { until_ms, .. } => {
                    ("PENDING", None, None, Some(*until_ms))
                }
                InstructionStatus::Executed { bank_reference, .. } => {
                    ("EXECUTED", Some(bank_reference.clone()), None, None)
                }
                InstructionStatus::Rejected { reason_code, .. } => {
                    ("REJECTED", None, Some(reason_code.clone()), None)
                }
            };
            InstructionView {
                end_to_end_id: record.order.end_to_end_id.as_str().to_owned(),
                message_id: record.order.message_id.clone(),
                attempts: record.attempts,
                amount: record.order.amount.to_decimal_text(),
                currency: record.order.amount.currency.code().to_owned(),
                debtor_account: record.order.debtor.account().to_owned(),
                creditor_account: record.order.creditor.account().to_owned(),
                status: status.to_owned(),
                bank_reference,
                reason_code,
                pending_until_ms,
                returned_at_ms: record.returned.as_ref().map(|returned| returned.at_ms),
                executions: record
                    .executions
                    .iter()
                    .map(|execution| ExecutionView {
                        bank_reference: execution.bank_reference.clone(),
                        amount: execution.amount.to_decimal_text(),
                        booked_at_ms: execution.at_ms,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn parse<T: serde::de::DeserializeOwned>(request: &BankRequest) -> Result<T, Handled> {
    serde_json::from_slice(&request.body)
        .map_err(|error| Handled::text(400, format!("bad admin body: {error}")))
}

/// Handles one admin request (module doc).
pub fn handle(hosted: &mut HostedBank, request: &BankRequest, now_ms: u64) -> Handled {
    let path = request.path.split('?').next().unwrap_or_default();
    if let Err(error) = hosted.bank.advance(now_ms) {
        return Handled::bank_error(&error);
    }
    match (request.method, path) {
        (Method::Get, "/admin/accounts") => Handled::json(200, &accounts(hosted)),
        (Method::Get, "/admin/instructions") => Handled::json(200, &instructions(hosted)),
        (Method::Get, "/admin/journal") => {
            let entries: Vec<EntryView> = hosted.bank.journal().iter().map(entry_view).collect();
            Handled::json(200, &entries)
        }
        (Method::Get, "/admin/stats") => {
            let verifier = hosted.direct.as_ref().map(|direct| {
                let counts = direct.verifier.stats().snapshot();
                serde_json::json!({
                    "accepted": counts.accepted,
                    "malformed": counts.malformed,
                    "missing_signature": counts.missing_signature,
                    "stale_timestamp": counts.stale_timestamp,
                    "unknown_key": counts.unknown_key,
                    "bad_signature": counts.bad_signature,
                    "replayed": counts.replayed,
                    "nonce_cache_full": counts.nonce_cache_full,
                })
            });
            Handled::json(
                200,
                &serde_json::json!({
                    "bank": hosted.bank.stats(),
                    "verifier": verifier,
                    "callbacks": hosted.bank.callback_stats(),
                }),
            )
        }
        (Method::Get, "/admin/callbacks") => Handled::json(200, &callbacks_view(hosted)),
        (Method::Post, "/admin/callbacks") => match parse::<CallbackRegistration>(request) {
            Ok(_) if hosted.direct.is_none() => {
                Handled::text(400, "only a direct-connect bank pushes callbacks")
            }
            Ok(registration) => {
                match hosted
                    .bank
                    .register_callback(&registration.account, registration.url.as_deref())
                {
                    Ok(()) => Handled::json(200, &callbacks_view(hosted)),
                    Err(error) => Handled::bank_error(&error),
                }
            }
            Err(answer) => answer,
        },
        (Method::Get, "/admin/faults") => Handled::json(200, hosted.bank.faults()),
        (Method::Post, "/admin/faults") => match parse::<FaultConfig>(request) {
            Ok(faults) => match faults.validate() {
                Ok(()) => {
                    hosted.bank.set_faults(faults);
                    Handled::json(200, hosted.bank.faults())
                }
                Err(error) => Handled::text(400, error.to_string()),
            },
            Err(answer) => answer,
        },
        (Method::Post, "/admin/directives") => match parse::<DirectiveBody>(request) {
            Ok(directive) => match EndToEndId::parse(&directive.end_to_end_id) {
                Ok(id) => {
                    if let Err(error) = directive.faults.iter().try_for_each(Fault::check) {
                        return Handled::text(400, error.to_string());
                    }
                    hosted.bank.add_directive(id, directive.faults);
                    Handled::json(200, &serde_json::json!({ "ok": true }))
                }
                Err(error) => Handled::text(400, error.to_string()),
            },
            Err(answer) => answer,
        },
        (Method::Post, "/admin/credits") => match parse::<CreditBody>(request) {
            Ok(credit) => post_credit(hosted, &credit, now_ms),
            Err(answer) => answer,
        },
        (Method::Post, "/admin/down") => match parse::<DownBody>(request) {
            Ok(down) => {
                let mut faults = hosted.bank.faults().clone();
                faults.down.push(DownWindow {
                    from_ms: now_ms,
                    until_ms: now_ms.saturating_add(down.for_ms),
                });
                hosted.bank.set_faults(faults);
                Handled::json(200, hosted.bank.faults())
            }
            Err(answer) => answer,
        },
        (Method::Get, "/admin/conservation") => {
            match hosted.bank.check_conservation().and_then(|()| hosted.bank.check_journal()) {
                Ok(()) => Handled::json(200, &serde_json::json!({ "conserved": true })),
                Err(error) => Handled::bank_error(&error),
            }
        }
        _ => Handled::text(404, format!("no admin call {} {path}", request.method.name())),
    }
}

fn callbacks_view(hosted: &HostedBank) -> serde_json::Value {
    serde_json::json!({
        "urls": hosted.bank.callback_urls(),
        "waiting": hosted.bank.callbacks_waiting(),
        "stats": hosted.bank.callback_stats(),
    })
}

fn post_credit(hosted: &mut HostedBank, credit: &CreditBody, now_ms: u64) -> Handled {
    let Some(currency) =
        hosted.bank.accounts().get(&credit.account).map(|account| account.currency)
    else {
        return Handled::text(400, format!("no account {}", credit.account));
    };
    let amount = match Money::parse(&credit.amount, currency.code()) {
        Ok(amount) => amount,
        Err(error) => return Handled::text(400, error.to_string()),
    };
    let end_to_end_id = match credit.end_to_end_id.as_deref().map(EndToEndId::parse).transpose() {
        Ok(id) => id,
        Err(error) => return Handled::text(400, error.to_string()),
    };
    match hosted.bank.inject_credit(
        &credit.account,
        amount,
        &credit.payer_name,
        credit.remittance.clone(),
        end_to_end_id,
        now_ms,
    ) {
        Ok(reference) => Handled::json(200, &serde_json::json!({ "bank_reference": reference })),
        Err(error) => Handled::bank_error(&error),
    }
}
