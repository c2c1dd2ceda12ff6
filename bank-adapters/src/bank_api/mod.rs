//! The bank API over HTTP, as Tianping calls it and the bank simulator serves it, and the two
//! [`crate::gateway::BankGateway`] implementations that call it through any
//! [`crate::transport::Transport`]: [`iso20022::Iso20022Gateway`] and
//! [`direct::DirectGateway`].
//!
//! Every path is relative to one bank's base address (the simulator serves each of its banks
//! under `/banks/{bank id}`; a real bank has its own host).
//!
//! ## ISO 20022 banks ([`paths::ISO_PAYMENTS`] …), XML bodies (`application/xml`)
//!
//! | call | request | answer |
//! |---|---|---|
//! | submit a payout | `POST /iso20022/payments`, a `pain.001.001.09` | `200` and a `pain.002` (`.10`, or `.12`) naming the end-to-end id |
//! | status by end-to-end id | `GET /iso20022/payments/{end_to_end_id}` | `200` and a `pain.002`, or `404` when the bank never saw the id |
//! | notifications of one account | `GET /iso20022/notifications?account={account}&cursor={cursor}&limit={n}` | `200`, a `camt.054.001.08` whose every `Ntfctn/Acct/Id` is the account asked for, and the next cursor in the [`NEXT_CURSOR_HEADER`] header |
//! | statement | `GET /iso20022/statements?account={account}&from={YYYY-MM-DD}&to={YYYY-MM-DD}` | `200` and a `camt.053.001.08` |
//!
//! ## Direct-connect banks ([`paths::DIRECT_PAYOUTS`] …), signed JSON envelopes (`application/json`)
//!
//! Every call is a `POST` of a `REQUEST` envelope ([`crate::direct`]) answered by `200` and an
//! `ANSWER` envelope, signed by the bank; the answer is verified (signature, key, timestamp
//! window, nonce) before its body is read, and a refusal is counted in the gateway's
//! [`crate::direct::VerifierStats`].
//!
//! | call | path | request body | answer body |
//! |---|---|---|---|
//! | submit a payout | `/direct/payouts` | [`crate::direct::PayoutRequestBody`] | [`crate::direct::PayoutStatusBody`] |
//! | status by end-to-end id | `/direct/payouts/query` | [`crate::direct_bodies::PayoutQueryBody`] | [`crate::direct::PayoutStatusBody`] (`NOT_FOUND` when unknown) |
//! | notifications of one account | `/direct/notifications` | [`crate::direct_bodies::NotificationsRequestBody`] (names the account) | [`crate::direct_bodies::NotificationsBody`] (names it back) |
//! | statement | `/direct/statements` | [`crate::direct_bodies::StatementRequestBody`] | [`crate::direct_bodies::StatementBody`] |
//!
//! ## Callbacks: what a direct-connect bank pushes
//!
//! A direct-connect bank also calls us: for each account we registered a callback URL for,
//! it `POST`s a `CALLBACK` envelope ([`crate::direct::MessageKind::Callback`], signed with its
//! keys like its answers) whose body is a [`crate::direct_bodies::CallbackBody`] — a payout's
//! final status, or an entry booked on the account (an incoming credit, a returned payout).
//! The receiver verifies it (signature, key, timestamp window, nonce: a replayed envelope is
//! refused) before reading it, and answers:
//!
//! | answer | meaning | the bank |
//! |---|---|---|
//! | `200` | booked, durably (or nothing to book) | stops |
//! | `401` | refused: signature, key, window, replay, or not a callback | retries, re-signed |
//! | `400` / `404` | unreadable body, another account, an unknown bank | retries, then gives up |
//! | `503` | not booked now (the ledger is unreachable, the payout's claim is busy elsewhere) | retries later |
//!
//! Every retry is sealed afresh (new nonce and timestamp), so a retry is never a replay; a
//! retry schedule has a bound, and what it gives up on is still found by polling (status
//! queries by end-to-end id, the notification feed). Callbacks are an early word, never the
//! only one: nothing is lost when one is.
//!
//! ## The notification feed is per account
//!
//! A bank holds other customers' accounts beside ours (a merchant our payouts pay may bank
//! there too), so a feed of everything the bank booked would carry credits that are not our
//! money. Every notification call names one account, as real banks notify (camt.054
//! `Ntfctn/Acct`, a direct-connect subscription per account); the direct-connect request
//! carries it in its signed body. A cursor belongs to the account's feed that returned it (the
//! simulator answers `400` for a cursor of another account's feed, and for an account it does
//! not hold). The gateways refuse an answer that names another account
//! ([`crate::gateway::GatewayError::WrongAccount`]) rather than return any of its entries.
//!
//! ## Any other status
//!
//! A status other than the ones above (a `503` from a bank that is down, a `401` for a
//! request whose signature the bank refused) is [`crate::gateway::GatewayError::BankStatus`],
//! whose outcome is unknown: the bank's word that it did nothing is not taken for money.

pub mod direct;
pub mod either;
pub mod iso20022;

pub use either::ProtocolGateway;

use crate::gateway::{GatewayError, ReferenceError};
use crate::transport::{BankResponse, TransportError};

/// The paths of the bank API (module doc).
pub mod paths {
    /// ISO 20022: submit a pain.001 (`POST`); `/{end_to_end_id}` below it queries (`GET`).
    pub const ISO_PAYMENTS: &str = "/iso20022/payments";
    /// ISO 20022: camt.054 notifications of one account after a cursor (`GET`).
    pub const ISO_NOTIFICATIONS: &str = "/iso20022/notifications";
    /// ISO 20022: a camt.053 statement (`GET`).
    pub const ISO_STATEMENTS: &str = "/iso20022/statements";
    /// Direct-connect: submit a payout.
    pub const DIRECT_PAYOUTS: &str = "/direct/payouts";
    /// Direct-connect: query a payout by end-to-end id.
    pub const DIRECT_PAYOUT_QUERY: &str = "/direct/payouts/query";
    /// Direct-connect: notifications of one account after a cursor.
    pub const DIRECT_NOTIFICATIONS: &str = "/direct/notifications";
    /// Direct-connect: a statement.
    pub const DIRECT_STATEMENTS: &str = "/direct/statements";
}

/// The answer header carrying the next notification cursor of an ISO 20022 bank (camt.054
/// has no element for it).
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// The content type of ISO 20022 bodies.
pub const XML_CONTENT_TYPE: &str = "application/xml";

/// The content type of direct-connect envelopes.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The most notifications asked for in one page.
pub const NOTIFICATION_PAGE_MAX: usize = 1_000;

/// How much of an unexpected answer's body is kept in an error message.
const ERROR_BODY_CHARS_MAX: usize = 200;

/// A source of the current time in Unix milliseconds, for signing and verifying envelopes:
/// injected, so the simulation drives the gateway's clock.
pub trait Clock: Send + Sync {
    /// Now, in Unix milliseconds.
    fn now_unix_ms(&self) -> u64;
}

/// The operating system's wall clock: the production [`Clock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

impl From<TransportError> for GatewayError {
    fn from(error: TransportError) -> GatewayError {
        if error.may_have_reached_bank() {
            GatewayError::Unavailable { detail: error.to_string() }
        } else {
            GatewayError::NotDelivered { detail: error.to_string() }
        }
    }
}

/// The error for an answer whose status the call does not expect.
fn unexpected_status(response: &BankResponse) -> GatewayError {
    let text = String::from_utf8_lossy(&response.body);
    GatewayError::BankStatus {
        status: response.status,
        detail: text.chars().take(ERROR_BODY_CHARS_MAX).collect(),
    }
}

/// A cursor or query value the bank handed out, checked so it can go into a URL or a body
/// unescaped: the reference alphabet, and no longer than a reference.
fn checked_query_value(what: &'static str, text: &str) -> Result<(), GatewayError> {
    let max = crate::gateway::REFERENCE_CHARS_MAX;
    if crate::payment::in_reference_alphabet(text, max) {
        Ok(())
    } else {
        Err(GatewayError::NotSent(ReferenceError::BadReference {
            what,
            text: text.to_owned(),
            max,
        }))
    }
}
