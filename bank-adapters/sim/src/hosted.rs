//! What every request handler of the simulator shares: a hosted bank (the core, its keys, its
//! answer format) and [`Handled`], an answer with how to deliver it. A leaf: the simulator
//! dispatches to the `admin` and `protocol` handlers, and they build answers from these
//! types without reaching back into the simulator.

use std::sync::Arc;

use tianping_bank_adapters::direct::Verifier;
use tianping_bank_adapters::iso20022::pain002::Pain002Version;
use tianping_bank_adapters::keys::KeyRing;
use tianping_bank_adapters::transport::BankResponse;

use crate::bank::{Bank, BankError, Delivery};

/// The path prefix every bank is served under: `/banks/{bank id}`.
pub const BANKS_PREFIX: &str = "/banks";

/// A direct-connect bank's keys: its own signing keys, and a verifier of its client's
/// requests (the client's public keys, the app id, the timestamp window, the nonce cache).
#[derive(Debug)]
pub struct DirectSide {
    /// The client's app id, which every envelope both ways carries.
    pub app_id: String,
    /// The bank's signing keys.
    pub signing: Arc<KeyRing>,
    /// Checks the client's requests; counts refusals.
    pub verifier: Verifier,
}

/// A bank and what its protocol needs beyond the core.
#[derive(Debug)]
pub struct HostedBank {
    /// The deterministic core.
    pub bank: Bank,
    /// Keys, for a direct-connect bank.
    pub direct: Option<DirectSide>,
    /// The pain.002 version an ISO 20022 bank answers with.
    pub pain002_version: Pain002Version,
}

/// An answer and how to deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The answer (not sent when `delivery` is [`Delivery::Hang`] or [`Delivery::Drop`]).
    pub response: BankResponse,
    /// When and whether.
    pub delivery: Delivery,
}

impl Handled {
    /// An answer delivered at once.
    pub fn now(response: BankResponse) -> Handled {
        Handled { response, delivery: Delivery::Now }
    }

    /// A plain-text answer with `status`, delivered at once.
    pub fn text(status: u16, text: impl Into<String>) -> Handled {
        Handled::now(BankResponse {
            status,
            headers: vec![("content-type".to_owned(), "text/plain; charset=utf-8".to_owned())],
            body: text.into().into_bytes(),
        })
    }

    /// A JSON answer with `status`, delivered at once.
    pub fn json(status: u16, body: &impl serde::Serialize) -> Handled {
        match serde_json::to_vec(body) {
            Ok(bytes) => Handled::now(BankResponse {
                status,
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                body: bytes,
            }),
            Err(error) => Handled::text(500, format!("cannot encode the answer: {error}")),
        }
    }

    /// The answer for a failed bank operation.
    pub fn bank_error(error: &BankError) -> Handled {
        let status = match error {
            BankError::UnknownAccount(_)
            | BankError::BadCursor(_)
            | BankError::WrongCurrency { .. }
            | BankError::BadText(_)
            | BankError::BadCallbackUrl(_) => 400,
            BankError::BadBankId(_)
            | BankError::DuplicateAccount(_)
            | BankError::Overflow(_)
            | BankError::Reference(_)
            | BankError::JournalDisagrees { .. }
            | BankError::NotConserved { .. } => 500,
        };
        Handled::text(status, error.to_string())
    }
}

/// The value of `name` in a query string `a=1&b=2` (no escapes: the bank API's values are
/// references, dates and numbers).
pub fn query_value<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value)
    })
}
