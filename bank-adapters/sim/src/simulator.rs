//! [`BankSimulator`]: several banks in one place, and the one request handler the HTTP server
//! and the deterministic simulation share: `(bank id, request, now) → answer and how to
//! deliver it` ([`BankSimulator::handle`]).
//!
//! Paths are those of [`tianping_bank_adapters::bank_api`] below `/banks/{bank id}`, plus
//! the admin interface ([`crate::admin`]) below `/banks/{bank id}/admin`, and `GET /banks`
//! listing the banks.

use std::collections::BTreeMap;

use tianping_bank_adapters::transport::BankRequest;

use crate::bank::callbacks::Delivered;
use crate::bank::records::Protocol;
use crate::faults::{FAULT_HEADER, Fault, parse_fault_header};
use crate::{admin, protocol};

/// A hosted bank and the answer shape, defined in the leaf module [`crate::hosted`] so the
/// handlers (`admin`, `protocol`) use them without reaching back into the simulator; named here
/// too, where the simulator's callers have always found them.
pub use crate::hosted::{BANKS_PREFIX, DirectSide, Handled, HostedBank, query_value};

/// Most callbacks one bank hands out for delivery at once (the rest wait for the next round).
pub const CALLBACKS_PER_ROUND_MAX: usize = 64;

/// A sealed callback to deliver: `POST` `body` to `url`, then report how it went with
/// [`BankSimulator::callback_settled`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCallback {
    /// The bank that sends it.
    pub bank_id: String,
    /// Its id in the bank's queue.
    pub id: u64,
    /// Where it goes (the account's registered URL).
    pub url: String,
    /// The sealed `CALLBACK` envelope.
    pub body: Vec<u8>,
}

/// Why a bank cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Two banks with one id.
    #[error("bank {0} is listed twice")]
    DuplicateBank(String),
    /// A direct-connect bank without keys, or an ISO 20022 bank with them.
    #[error("bank {0}: direct-connect banks need keys, ISO 20022 banks take none")]
    KeysDoNotFitProtocol(String),
}

/// Several banks (module doc).
#[derive(Debug, Default)]
pub struct BankSimulator {
    banks: BTreeMap<String, HostedBank>,
}

impl BankSimulator {
    /// A simulator with no banks.
    pub fn new() -> BankSimulator {
        BankSimulator::default()
    }

    /// Adds a bank.
    pub fn add(&mut self, hosted: HostedBank) -> Result<(), HostError> {
        let id = hosted.bank.id().to_owned();
        let keyed = hosted.direct.is_some();
        if keyed != (hosted.bank.protocol() == Protocol::Direct) {
            return Err(HostError::KeysDoNotFitProtocol(id));
        }
        if self.banks.contains_key(&id) {
            return Err(HostError::DuplicateBank(id));
        }
        self.banks.insert(id, hosted);
        Ok(())
    }

    /// The bank `id`.
    pub fn bank(&self, id: &str) -> Option<&HostedBank> {
        self.banks.get(id)
    }

    /// The bank `id`, to change it (admin, tests, the simulation).
    pub fn bank_mut(&mut self, id: &str) -> Option<&mut HostedBank> {
        self.banks.get_mut(id)
    }

    /// Every bank, by id.
    pub fn banks(&self) -> impl Iterator<Item = &HostedBank> {
        self.banks.values()
    }

    /// Handles a request whose path is absolute (`/banks` or `/banks/{id}/…`): the HTTP
    /// server's entry point.
    pub fn handle_path(&mut self, request: &BankRequest, now_ms: u64) -> Handled {
        let (path, query) = match request.path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (request.path.as_str(), None),
        };
        if path == BANKS_PREFIX || path == "/banks/" {
            return Handled::json(200, &self.listing());
        }
        let Some(rest) = path.strip_prefix("/banks/") else {
            return Handled::text(404, "paths start with /banks/{bank id}");
        };
        let (bank_id, inner) = match rest.split_once('/') {
            Some((bank_id, inner)) => (bank_id, format!("/{inner}")),
            None => (rest, "/".to_owned()),
        };
        let inner_path = match query {
            Some(query) => format!("{inner}?{query}"),
            None => inner,
        };
        let inner_request = BankRequest { path: inner_path, ..request.clone() };
        self.handle(bank_id, &inner_request, now_ms)
    }

    /// Handles `request` (path relative to the bank) for bank `bank_id` at `now_ms`.
    pub fn handle(&mut self, bank_id: &str, request: &BankRequest, now_ms: u64) -> Handled {
        let Some(hosted) = self.banks.get_mut(bank_id) else {
            return Handled::text(404, format!("no bank {bank_id}"));
        };
        let path = request.path.split('?').next().unwrap_or_default();
        if path == "/admin" || path.starts_with("/admin/") {
            return admin::handle(hosted, request, now_ms);
        }
        let carried: Vec<Fault> = match request.header(FAULT_HEADER).map(parse_fault_header) {
            None => Vec::new(),
            Some(Ok(faults)) => faults,
            Some(Err(error)) => return Handled::text(400, error.to_string()),
        };
        if hosted.bank.refuse_if_down(now_ms) {
            return Handled::text(503, format!("bank {bank_id} is down"));
        }
        match hosted.bank.protocol() {
            Protocol::Iso20022 => protocol::iso20022::handle(hosted, request, carried, now_ms),
            Protocol::Direct => protocol::direct::handle(hosted, request, carried, now_ms),
        }
    }

    /// Every direct-connect bank's callbacks due at `now_ms` (after booking what is due),
    /// sealed, at most [`CALLBACKS_PER_ROUND_MAX`] per bank. A callback that cannot be sealed
    /// (a signer that fails) counts as a failed delivery and is retried like one.
    pub fn due_callbacks(&mut self, now_ms: u64) -> Vec<OutgoingCallback> {
        let mut outgoing = Vec::new();
        for (bank_id, hosted) in &mut self.banks {
            if hosted.direct.is_none() || hosted.bank.callback_urls().is_empty() {
                continue;
            }
            let due = match hosted.bank.due_callbacks(now_ms, CALLBACKS_PER_ROUND_MAX) {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(bank = %bank_id, %error, "callbacks not handed out");
                    continue;
                }
            };
            for (callback, url) in due {
                match protocol::direct::seal_callback(hosted, &callback, now_ms) {
                    Ok(body) => outgoing.push(OutgoingCallback {
                        bank_id: bank_id.clone(),
                        id: callback.id,
                        url,
                        body,
                    }),
                    Err(error) => {
                        tracing::warn!(bank = %bank_id, %error, "callback not sealed");
                        hosted.bank.callback_settled(callback.id, Delivered::Failed, now_ms);
                    }
                }
            }
        }
        outgoing
    }

    /// Reports how the delivery of callback `id` of bank `bank_id` went, at `now_ms`.
    pub fn callback_settled(&mut self, bank_id: &str, id: u64, delivered: Delivered, now_ms: u64) {
        if let Some(hosted) = self.banks.get_mut(bank_id) {
            hosted.bank.callback_settled(id, delivered, now_ms);
        }
    }

    fn listing(&self) -> Vec<serde_json::Value> {
        self.banks
            .values()
            .map(|hosted| {
                serde_json::json!({
                    "id": hosted.bank.id(),
                    "name": hosted.bank.name(),
                    "protocol": hosted.bank.protocol(),
                })
            })
            .collect()
    }
}
