//! Carrying one bank request to one response, whatever the runtime: the [`Transport`] trait
//! the gateways of [`crate::bank_api`] are generic over, and its HTTP/1.1 implementation
//! ([`http::HttpTransport`], real network only).
//!
//! The one thing a transport must get right is what a failure means for money: an error says
//! whether the request may have reached the bank ([`TransportError::may_have_reached_bank`]).
//! A connection refused before anything was written is [`TransportError::NotSent`], and the
//! caller may send again; a deadline passed, a connection reset after writing, or an
//! unreadable answer leave the outcome unknown, and the caller must query by the same
//! end-to-end id before anything else.

#[cfg(not(madsim))]
pub mod http;

use std::future::Future;

/// The largest answer body read: the largest ISO 20022 document the adapters read.
pub const RESPONSE_BYTES_MAX: usize = crate::iso20022::DOCUMENT_BYTES_MAX;

/// The HTTP methods the bank API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads: status queries, notifications, statements.
    Get,
    /// Submissions and every signed direct-connect call.
    Post,
}

impl Method {
    /// The method's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request to a bank: a path below the bank's base address, headers and body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankRequest {
    /// The method.
    pub method: Method,
    /// The path and query, starting with `/`, relative to the bank's base address.
    pub path: String,
    /// Extra headers (`content-type` among them for a body).
    pub headers: Vec<(String, String)>,
    /// The body (empty for a `GET`).
    pub body: Vec<u8>,
}

impl BankRequest {
    /// A `GET` of `path`.
    pub fn get(path: String) -> BankRequest {
        BankRequest { method: Method::Get, path, headers: Vec::new(), body: Vec::new() }
    }

    /// A `POST` of `body` with its content type to `path`.
    pub fn post(path: String, content_type: &str, body: Vec<u8>) -> BankRequest {
        BankRequest {
            method: Method::Post,
            path,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
        }
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// One answer from a bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl BankResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(found, _)| found.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Why a request got no answer. [`TransportError::may_have_reached_bank`] is what a caller
/// decides on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Nothing reached the bank: the connection was refused, or the request could not even
    /// be formed. Sending again is safe.
    #[error("not sent: {detail}")]
    NotSent {
        /// What happened.
        detail: String,
    },
    /// No complete answer within the deadline. The bank may have acted.
    #[error("no answer within {deadline_ms} ms")]
    TimedOut {
        /// The deadline.
        deadline_ms: u64,
    },
    /// The connection broke after the request was (perhaps) written, or the answer could not
    /// be read. The bank may have acted.
    #[error("connection broken after sending: {detail}")]
    Broken {
        /// What happened.
        detail: String,
    },
    /// The answer is larger than [`RESPONSE_BYTES_MAX`]. The bank may have acted.
    #[error("answer over {RESPONSE_BYTES_MAX} bytes")]
    TooLarge,
}

impl TransportError {
    /// True when the bank may have received (and acted on) the request. An exhaustive match,
    /// so a new kind of failure must be classified.
    pub fn may_have_reached_bank(&self) -> bool {
        match self {
            TransportError::NotSent { .. } => false,
            TransportError::TimedOut { .. }
            | TransportError::Broken { .. }
            | TransportError::TooLarge => true,
        }
    }
}

/// Carries one request to one answer. Futures are `Send` and no runtime is named: the HTTP
/// implementation runs on tokio, and the simulation can carry requests through its own
/// network to the same bank handler.
pub trait Transport: Send + Sync {
    /// Sends `request` and waits for the whole answer (or a classified failure).
    fn send(
        &self,
        request: BankRequest,
    ) -> impl Future<Output = Result<BankResponse, TransportError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_never_sent_is_known_not_to_have_reached_the_bank() {
        assert!(!TransportError::NotSent { detail: "refused".into() }.may_have_reached_bank());
        assert!(TransportError::TimedOut { deadline_ms: 5 }.may_have_reached_bank());
        assert!(TransportError::Broken { detail: "reset".into() }.may_have_reached_bank());
        assert!(TransportError::TooLarge.may_have_reached_bank());
    }

    #[test]
    fn headers_are_found_case_insensitively() {
        let request = BankRequest::post("/x".into(), "application/xml", Vec::new());
        assert_eq!(request.header("Content-Type"), Some("application/xml"));
        assert_eq!(request.header("accept"), None);
    }
}
