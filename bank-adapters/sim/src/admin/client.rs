//! A client of the admin interface, for a program that wants to make a running simulator
//! misbehave on purpose: the `tianping` CLI, a drill, a test. [`send_directive`] tells the
//! simulator at an address (the one `cargo xtask up` prints) what to do wrong with one
//! payment; [`send_directive_over`] does the same over any [`Transport`].
//!
//! A payout's end-to-end id is its payout id, so a user who creates payout 9001 tells the
//! bank to drop its booking *before* creating it (the worker may send it within a second):
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tianping_bank_adapters::gateway::EndToEndId;
//! use tianping_bank_sim::admin::client::send_directive;
//! use tianping_bank_sim::faults::parse_fault_header;
//!
//! let faults = parse_fault_header("drop-booking")?;
//! let payout = EndToEndId::from_payout_id(9001)?;
//! send_directive("http://127.0.0.1:40123", "iso-a", &payout, &faults).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The directive is used once, by the next request about that payment (its first order,
//! normally). Every fault is checked here before anything is sent, as the simulator would.

use std::time::Duration;

use tianping_bank_adapters::gateway::EndToEndId;
use tianping_bank_adapters::transport::{BankRequest, Transport, TransportError};

use crate::admin::DirectiveBody;
use crate::bank::valid_bank_id;
use crate::faults::{Fault, FaultError};

/// How long an admin call may take. The admin interface answers at once (it is never down
/// or faulty), so this only bounds waiting for a simulator that is not there.
pub const ADMIN_DEADLINE: Duration = Duration::from_secs(10);

/// The path of the directives call below a bank's base address.
pub const DIRECTIVES_PATH: &str = "/admin/directives";

/// The most of an error answer's text kept in [`AdminClientError::Refused`].
const REFUSAL_TEXT_CHARS_MAX: usize = 500;

/// Why a directive did not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminClientError {
    /// A bank id that cannot name a simulated bank (`[a-z0-9-]{1,12}`).
    #[error("bank id {0:?} must be 1 to 12 of a-z 0-9 -")]
    BadBankId(String),
    /// A directive without faults would change nothing.
    #[error("a directive needs at least one fault")]
    NoFaults,
    /// A fault the simulator would refuse (a reason code its documents cannot carry, a zero
    /// amount offset), caught before sending.
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// The simulator's address is bad, it could not be reached, or it did not answer in
    /// time.
    #[error("the bank simulator did not answer: {0}")]
    Transport(#[from] TransportError),
    /// The simulator answered with an error (`404`: no such bank; `400`: a refused body).
    #[error("the bank simulator refused the directive ({status}): {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of its answer.
        detail: String,
    },
    /// The directive could not be written as JSON.
    #[error("cannot encode the directive: {0}")]
    Encode(String),
}

/// The base address of bank `bank_id` on the simulator at `simulator_url`
/// (`http://host:port`): what a gateway's or [`send_directive_over`]'s transport needs.
pub fn bank_url(simulator_url: &str, bank_id: &str) -> Result<String, AdminClientError> {
    if !valid_bank_id(bank_id) {
        return Err(AdminClientError::BadBankId(bank_id.to_owned()));
    }
    Ok(format!("{}{}/{bank_id}", simulator_url.trim_end_matches('/'), crate::hosted::BANKS_PREFIX))
}

/// Tells the bank behind `transport` (based at the bank: `…/banks/{bank id}`) to apply
/// `faults` to the next request about `end_to_end_id`.
pub async fn send_directive_over<T: Transport>(
    transport: &T,
    end_to_end_id: &EndToEndId,
    faults: &[Fault],
) -> Result<(), AdminClientError> {
    if faults.is_empty() {
        return Err(AdminClientError::NoFaults);
    }
    faults.iter().try_for_each(Fault::check)?;
    let body =
        DirectiveBody { end_to_end_id: end_to_end_id.as_str().to_owned(), faults: faults.to_vec() };
    let bytes =
        serde_json::to_vec(&body).map_err(|error| AdminClientError::Encode(error.to_string()))?;
    let request = BankRequest::post(DIRECTIVES_PATH.to_owned(), "application/json", bytes);
    let answer = transport.send(request).await?;
    if answer.status == 200 {
        return Ok(());
    }
    let detail: String =
        String::from_utf8_lossy(&answer.body).chars().take(REFUSAL_TEXT_CHARS_MAX).collect();
    Err(AdminClientError::Refused { status: answer.status, detail })
}

/// Tells bank `bank_id` of the simulator at `simulator_url` (`http://host:port`, as
/// `cargo xtask up` and `tianping dev up` print it) to apply `faults` — parsed from text with
/// [`crate::faults::parse_fault_header`], e.g. `drop-booking` — to the next request about
/// `end_to_end_id`, over HTTP with [`ADMIN_DEADLINE`]. Real network only.
#[cfg(not(madsim))]
pub async fn send_directive(
    simulator_url: &str,
    bank_id: &str,
    end_to_end_id: &EndToEndId,
    faults: &[Fault],
) -> Result<(), AdminClientError> {
    let base = bank_url(simulator_url, bank_id)?;
    let transport =
        tianping_bank_adapters::transport::http::HttpTransport::new(&base, ADMIN_DEADLINE)?;
    send_directive_over(&transport, end_to_end_id, faults).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bank_url_names_a_valid_bank_only() {
        assert_eq!(
            bank_url("http://127.0.0.1:9/", "iso-a"),
            Ok("http://127.0.0.1:9/banks/iso-a".to_owned())
        );
        for bad in ["", "ISO", "../admin", "a-bank-id-too-long"] {
            assert_eq!(
                bank_url("http://127.0.0.1:9", bad),
                Err(AdminClientError::BadBankId(bad.to_owned()))
            );
        }
    }
}
