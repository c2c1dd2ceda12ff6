//! The bank gateway: what a payout worker or a collections poller asks of any bank, whatever
//! protocol the bank speaks (ISO 20022 files, signed direct-connect JSON, or the simulator).
//!
//! The rules this interface exists to make hard to break (issue 12, DESIGN §5):
//! - The payout id is the bank's idempotency key: it travels as the end-to-end id
//!   ([`EndToEndId::from_payout_id`]) on every attempt, while the message and instruction ids
//!   are fresh per attempt ([`AttemptIds::fresh`]). A resend therefore never asks the bank for
//!   a second payment, and a bank that already executed the first answers with its status.
//! - An answer is typed ([`PayoutOutcome`]); anything that leaves the outcome open — a
//!   timeout, a dropped connection, a bank that is down — is an error for which
//!   [`GatewayError::outcome_unknown`] is true, and the caller must then
//!   [`BankGateway::query_payout`] with the same end-to-end id before anything else.
//! - The interface is runtime-agnostic: methods return `Send` futures and never assume tokio,
//!   so the simulation (madsim) and the production worker drive the same code.

use std::future::Future;

/// The data the gateway's calls carry, defined in the leaf module [`crate::payment`] so the
/// protocol modules use them without reaching the gateway; named here too, as every caller
/// of a gateway names them.
pub use crate::payment::*;

/// Why a gateway call failed. [`GatewayError::outcome_unknown`] decides what the caller may
/// do next.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request was refused before anything was sent (bad reference, unsupported
    /// currency): the bank has certainly not acted.
    #[error("not sent: {0}")]
    NotSent(#[from] ReferenceError),
    /// The transport delivered nothing (connection refused before any byte was written): the
    /// bank has certainly not acted, and the same request may be sent again.
    #[error("not delivered: {detail}")]
    NotDelivered {
        /// What the transport saw.
        detail: String,
    },
    /// The bank answered with a status the call does not expect (`503` while it is down,
    /// `401` when it refused our signature). Whether it acted is unknown: a bank's word that
    /// it did nothing is not taken for money.
    #[error("bank answered status {status}: {detail}")]
    BankStatus {
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        detail: String,
    },
    /// The bank's answer is well-formed but not an answer to what was asked (another
    /// end-to-end id, another account). Whether it acted is unknown.
    #[error("the bank's answer does not match the request: {detail}")]
    WrongAnswer {
        /// What differs.
        detail: String,
    },
    /// The bank answered about another account than the one asked for (a notification page
    /// or a statement naming another account). Nothing of it may be booked: an entry of
    /// another account is money that is not ours. Whether the bank acted is unknown.
    #[error("asked about account {asked}, the bank answered about account {answered}")]
    WrongAccount {
        /// The account asked for.
        asked: String,
        /// The account the answer names.
        answered: String,
    },
    /// The bank could not be reached or did not answer in time. Whether it acted is unknown.
    #[error("bank unavailable or no answer: {detail}")]
    Unavailable {
        /// What the transport saw.
        detail: String,
    },
    /// The bank answered with a document this crate cannot read (wrong namespace, bad
    /// amount). Whether it acted is unknown.
    #[error("unreadable bank answer: {0}")]
    Xml(#[from] crate::iso20022::XmlError),
    /// The bank's answer failed signature or replay checks and was discarded. Whether it
    /// acted is unknown.
    #[error("bank answer refused: {0}")]
    Signature(#[from] crate::direct::VerifyError),
    /// A body in the direct-connect protocol could not be read.
    #[error("unreadable direct-connect body: {0}")]
    Body(#[from] crate::direct::BodyError),
    /// Signing our request failed (key missing, signing service down): nothing was sent.
    #[error("could not sign the request: {0}")]
    Signing(#[from] crate::keys::KeyError),
}

impl GatewayError {
    /// True when the bank may or may not have acted on the request: the caller must query by
    /// the same end-to-end id before any resend, never resend blind and never use a new id.
    /// An exhaustive match, so a new error kind must be classified.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            GatewayError::NotSent(_)
            | GatewayError::NotDelivered { .. }
            | GatewayError::Signing(_) => false,
            GatewayError::Unavailable { .. }
            | GatewayError::BankStatus { .. }
            | GatewayError::WrongAnswer { .. }
            | GatewayError::WrongAccount { .. }
            | GatewayError::Xml(_)
            | GatewayError::Signature(_)
            | GatewayError::Body(_) => true,
        }
    }
}

/// What every bank connection offers. One implementation per protocol
/// ([`crate::bank_api::iso20022::Iso20022Gateway`], [`crate::bank_api::direct::DirectGateway`]);
/// workers and pollers are written against this trait alone.
///
/// Futures are `Send` and no runtime is named, so tokio and the deterministic simulator can
/// both drive an implementation.
pub trait BankGateway: Send + Sync {
    /// Submits one payout attempt. `Ok` is what the bank answered; `Err` with
    /// [`GatewayError::outcome_unknown`] means the caller must query before anything else.
    fn submit_payout(
        &self,
        instruction: &PayoutInstruction,
    ) -> impl Future<Output = Result<PayoutOutcome, GatewayError>> + Send;

    /// Asks what the bank knows of a payment by end-to-end id: the step that must follow any
    /// unknown outcome.
    fn query_payout(
        &self,
        end_to_end_id: &EndToEndId,
    ) -> impl Future<Output = Result<PayoutQuery, GatewayError>> + Send;

    /// Debit and credit notifications (camt.054 or callbacks) of `account` after `cursor`
    /// (a cursor this account's feed returned, or the empty one for its start), at most
    /// `limit` entries.
    ///
    /// Per account, as real banks notify (a camt.054 `Ntfctn` names its `Acct`; a
    /// direct-connect subscription is per account): a bank holds other customers' accounts
    /// too — a merchant our payouts pay may bank there — and their credits are not money we
    /// received. An answer naming another account is refused ([`GatewayError::WrongAccount`]).
    fn fetch_notifications(
        &self,
        account: &str,
        cursor: &NotificationCursor,
        limit: usize,
    ) -> impl Future<Output = Result<NotificationPage, GatewayError>> + Send;

    /// The statement (camt.053) of `account` for `period`.
    fn fetch_statement(
        &self,
        account: &str,
        period: StatementPeriod,
    ) -> impl Future<Output = Result<Statement, GatewayError>> + Send;

    /// A verifier of the callbacks this bank pushes (`CALLBACK` envelopes, checked with the
    /// same keys, app id and window as its answers, with a nonce cache of their own), or
    /// `None` for a bank that pushes none (ISO 20022 banks here). The worker's callback
    /// endpoint takes it from the gateway so a bank's keys are configured in one place.
    fn callback_verifier(&self) -> Option<crate::direct::Verifier> {
        None
    }
}
