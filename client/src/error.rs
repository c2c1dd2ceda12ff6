//! The SDK's one error type: what went wrong, in the terms a caller decides on.

use tianping_ledger::ResultCode;
use tianping_proto::InvalidField;

/// Why a call did not give its answer.
///
/// The variants a caller must tell apart:
/// - [`Error::BadRequest`]: the request itself is malformed (a node answered
///   `INVALID_ARGUMENT`, or the SDK saw it before sending). Nothing was applied; fix the
///   named field.
/// - [`Error::OutcomeUnknown`]: a write was sent and no node said what became of it within
///   the retry budget. It may or may not be applied: retry **with the same ids** (a create
///   already applied then answers `exists`), never with new ones.
/// - [`Error::Refused`]: a single-event helper's event was answered with a result code other
///   than `ok` / `exists`. The event changed nothing. For a state-dependent refusal
///   ([`ResultCode::is_transient`]) the id is spent: retrying it answers `id_already_failed`,
///   and trying again with a *new* id is the caller's decision, never the SDK's.
///
/// ```
/// use tianping_client::{Error, ResultCode};
///
/// fn advice(error: &Error) -> &'static str {
///     match error {
///         Error::BadRequest { .. } => "fix the request",
///         Error::OutcomeUnknown { .. } => "retry with the same ids",
///         Error::Refused { code: ResultCode::ExceedsCredits, .. } => "not enough money",
///         Error::Refused { .. } => "refused by the ledger",
///         _ => "see the message",
///     }
/// }
/// let error = Error::Refused { code: ResultCode::ExceedsCredits, timestamp: 7 };
/// assert_eq!(advice(&error), "not enough money");
/// assert!(!error.is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed: `field` is its path (`transfers[1].amount`,
    /// `x-request-id`), `reason` says what is wrong. Nothing was applied.
    #[error("bad request: {field}: {reason}")]
    BadRequest {
        /// The field's path in the request.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A write was sent, and after `attempts` attempts within the retry budget no node said
    /// what became of it (the last failure is `code` / `message`). Retry with the same ids.
    #[error(
        "outcome unknown after {attempts} attempts ({code:?}: {message}); retry with the same ids"
    )]
    OutcomeUnknown {
        /// Attempts made.
        attempts: u32,
        /// The gRPC code of the last failure (`Unavailable`, `DeadlineExceeded`, ...).
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// A read (or cluster status) found no node able to answer within the retry budget.
    /// Nothing was changed; reading again later is safe.
    #[error("unavailable after {attempts} attempts ({code:?}: {message})")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The gRPC code of the last failure.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// A single event was refused by the ledger with `code` (never `ok` or `exists`) at
    /// `timestamp`; it changed nothing.
    #[error("refused: {}", tianping_proto::convert::result_code_name(*code))]
    Refused {
        /// The ledger's result code.
        code: ResultCode,
        /// The refused event's timestamp.
        timestamp: u64,
    },
    /// A node answered with another gRPC status (`PermissionDenied`, `FailedPrecondition`,
    /// ...). Not retried.
    #[error("{code:?}: {message}")]
    Status {
        /// The gRPC code.
        code: tonic::Code,
        /// The node's message.
        message: String,
    },
    /// A node's answer does not parse (`field` names the answer's field). A node of the same
    /// version never sends one; the SDK does not guess.
    #[error("malformed answer from {address}: {field}: {reason}")]
    MalformedAnswer {
        /// The node that answered.
        address: String,
        /// The answer's field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No node retains the change feed from `requested` any more (their logs were purged past
    /// it); the oldest position a node serves is `oldest`. Read the ledger state the
    /// consumer needs (a read reflects an applied log index A) and subscribe again from
    /// position `(A + 1).0`.
    #[error(
        "no node retains the feed from {requested} (the oldest served is {oldest}): read the \
         state you need and resume after the log index it reflects"
    )]
    FeedNotRetained {
        /// The position asked for.
        requested: tianping_ledger::feed::FeedPosition,
        /// The oldest position a node serves.
        oldest: tianping_ledger::feed::FeedPosition,
    },
    /// The client's own configuration is unusable (no address, an address that is no URI).
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// True for the failures the SDK retries itself (a node unreachable, no leader, a
    /// deadline, a leader whose group-commit queue is full); once the budget is spent they reach the caller as `OutcomeUnknown` (writes)
    /// or `Unavailable` (reads).
    ///
    /// ```
    /// use tianping_client::Error;
    ///
    /// let lost = Error::OutcomeUnknown {
    ///     attempts: 5,
    ///     code: tonic::Code::Unavailable,
    ///     message: "no leader".into(),
    /// };
    /// assert!(lost.is_retryable());
    /// let bad = Error::BadRequest { field: "transfers[0].amount".into(), reason: "x".into() };
    /// assert!(!bad.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. } | Error::Unavailable { .. })
    }

    pub(crate) fn bad_request(error: InvalidField) -> Error {
        Error::BadRequest { field: error.field, reason: error.reason }
    }

    pub(crate) fn malformed(address: &str, error: InvalidField) -> Error {
        Error::MalformedAnswer {
            address: address.to_owned(),
            field: error.field,
            reason: error.reason,
        }
    }
}

/// Whether a call may change the ledger: decides what an exhausted retry budget means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A write: an unanswered attempt may have been applied.
    Write,
    /// A read or a status query: an unanswered attempt changed nothing.
    Read,
}

/// What a gRPC status means for the call: retried (transport, no leader, deadline), a bad
/// request, or another status. `address` is the node that answered (or did not).
pub(crate) fn classify(status: &tonic::Status, effect: Effect, attempts: u32) -> Error {
    let code = status.code();
    let transport = code == tonic::Code::Unknown && std::error::Error::source(status).is_some();
    // `ResourceExhausted` is a leader's full group-commit queue: nothing was applied and the
    // same batch may go again after a backoff, like a missing leader.
    let retryable = matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::ResourceExhausted
    ) || transport;
    let message = status.message().to_owned();
    if retryable {
        return match effect {
            Effect::Write => Error::OutcomeUnknown { attempts, code, message },
            Effect::Read => Error::Unavailable { attempts, code, message },
        };
    }
    if code == tonic::Code::InvalidArgument {
        return match InvalidField::from_message(&message) {
            Some(field) => Error::bad_request(field),
            None => Error::BadRequest { field: String::new(), reason: message },
        };
    }
    Error::Status { code, message }
}

/// The error an attempt that ran out of its deadline stands for.
pub(crate) fn deadline(effect: Effect, attempts: u32, address: &str) -> Error {
    classify(
        &tonic::Status::deadline_exceeded(format!("{address} did not answer before the deadline")),
        effect,
        attempts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let check = |status: tonic::Status, effect: Effect| classify(&status, effect, 3);
        assert!(matches!(
            check(tonic::Status::unavailable("no leader"), Effect::Write),
            Error::OutcomeUnknown { attempts: 3, code: tonic::Code::Unavailable, .. }
        ));
        assert!(matches!(
            check(tonic::Status::resource_exhausted("queue full"), Effect::Write),
            Error::OutcomeUnknown { code: tonic::Code::ResourceExhausted, .. }
        ));
        assert!(matches!(
            check(tonic::Status::deadline_exceeded("slow"), Effect::Read),
            Error::Unavailable { code: tonic::Code::DeadlineExceeded, .. }
        ));
        assert_eq!(
            check(
                tonic::Status::invalid_argument("invalid transfers[1].amount: \"x\""),
                Effect::Write
            ),
            Error::BadRequest { field: "transfers[1].amount".into(), reason: "\"x\"".into() }
        );
        assert_eq!(
            check(tonic::Status::invalid_argument("node_ids must not be 0"), Effect::Write),
            Error::BadRequest { field: String::new(), reason: "node_ids must not be 0".into() }
        );
        assert_eq!(
            check(tonic::Status::failed_precondition("learner lags"), Effect::Write),
            Error::Status { code: tonic::Code::FailedPrecondition, message: "learner lags".into() }
        );
        assert_eq!(
            check(tonic::Status::permission_denied("no"), Effect::Read),
            Error::Status { code: tonic::Code::PermissionDenied, message: "no".into() }
        );
        // A server-sent UNKNOWN (no local source) is an answer, not a transport failure.
        assert!(!check(tonic::Status::unknown("panic"), Effect::Write).is_retryable());
        let local = tonic::Status::from_error(Box::new(std::io::Error::other("reset")));
        assert!(check(local, Effect::Write).is_retryable());
        assert!(deadline(Effect::Write, 1, "n1").is_retryable());
    }
}
