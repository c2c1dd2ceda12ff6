//! Bank traffic over madsim's network: the bank machine's server loop, which answers
//! `BankRequest`s with the `BankSimulator` and honours each answer's `Delivery` (now, late,
//! hang, drop), and `SimTransport`, the `tianping_bank_adapters::transport::Transport` the
//! workers' real gateways send through, with a per-request deadline.
//!
//! Requests and answers travel as madsim datagrams between `Endpoint`s (one request, one
//! answer under a tag of its own), so every network fault of the world applies: a clogged
//! link loses the request or the answer — the worker then times out not knowing whether the
//! bank acted, exactly the unknown outcome a real timeout is — and a paused machine answers
//! late.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::Endpoint;
use madsim::rand::{Rng, thread_rng};
use tianping_bank_adapters::transport::{BankRequest, BankResponse, Transport, TransportError};
use tianping_bank_sim::bank::Delivery;
use tianping_bank_sim::simulator::BankSimulator;

use super::{BANK_IP, BANK_PORT, unix_ms};
use crate::world::lock;

/// The tag every request travels under to the bank.
const REQUEST_TAG: u64 = 1;
/// The first answer tag; each request takes the next.
const ANSWER_TAG_BASE: u64 = 1 << 32;
/// How long the bank takes to handle a request, in milliseconds (drawn per request): a real
/// bank's API is not instant, and the draw interleaves concurrent requests differently per
/// seed.
const BANK_HANDLING_MS: std::ops::Range<u64> = 5..40;

/// One request as it travels: the answer's tag and the request.
struct Wire {
    answer_tag: u64,
    request: BankRequest,
}

/// One answer as it travels.
enum Answer {
    /// The bank's answer.
    Response(BankResponse),
    /// The bank dropped the connection (`Delivery::Drop`): the caller learns at once that it
    /// got no answer, and not whether the bank acted.
    Reset,
}

/// The bank's server loop (run on the bank machine): every request is handled on its own
/// task, so a late answer holds up no other.
pub async fn serve(simulator: Arc<Mutex<BankSimulator>>) {
    let endpoint = match Endpoint::bind(SocketAddr::new(BANK_IP, BANK_PORT)).await {
        Ok(endpoint) => Arc::new(endpoint),
        Err(error) => panic!("the bank cannot bind its port: {error}"),
    };
    loop {
        let Ok((payload, from)) = endpoint.recv_from_raw(REQUEST_TAG).await else { continue };
        let Ok(wire) = payload.downcast::<Wire>() else { continue };
        let (endpoint, simulator) = (endpoint.clone(), simulator.clone());
        drop(madsim::task::spawn(async move {
            let handling = thread_rng().gen_range(BANK_HANDLING_MS);
            madsim::time::sleep(Duration::from_millis(handling)).await;
            let handled = lock(&simulator).handle_path(&wire.request, unix_ms());
            let answer = match handled.delivery {
                Delivery::Now => Answer::Response(handled.response),
                Delivery::Late(ms) => {
                    madsim::time::sleep(Duration::from_millis(ms)).await;
                    Answer::Response(handled.response)
                }
                Delivery::Hang => return,
                Delivery::Drop => Answer::Reset,
            };
            // A lost answer is the network's business, like any other.
            let _ = endpoint.send_to_raw(from, wire.answer_tag, Box::new(answer)).await;
        }));
    }
}

/// A worker's way to one bank of the simulator: requests go to `/banks/{bank id}` + path on
/// the bank machine; each waits at most `deadline` for its answer.
pub struct SimTransport {
    endpoint: Endpoint,
    bank_prefix: String,
    deadline: Duration,
    next_tag: AtomicU64,
}

impl SimTransport {
    /// A transport to bank `bank_id`, bound on the calling machine (call it on the worker's).
    pub async fn connect(bank_id: &str, deadline: Duration) -> std::io::Result<SimTransport> {
        let endpoint = Endpoint::bind("0.0.0.0:0").await?;
        Ok(SimTransport {
            endpoint,
            bank_prefix: format!("/banks/{bank_id}"),
            deadline,
            next_tag: AtomicU64::new(ANSWER_TAG_BASE),
        })
    }
}

impl Transport for SimTransport {
    async fn send(&self, request: BankRequest) -> Result<BankResponse, TransportError> {
        let answer_tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        let path = format!("{}{}", self.bank_prefix, request.path);
        let wire = Wire { answer_tag, request: BankRequest { path, ..request } };
        let bank = SocketAddr::new(BANK_IP, BANK_PORT);
        if let Err(error) = self.endpoint.send_to_raw(bank, REQUEST_TAG, Box::new(wire)).await {
            return Err(TransportError::NotSent { detail: error.to_string() });
        }
        let deadline_ms = u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX);
        match madsim::time::timeout(self.deadline, self.endpoint.recv_from_raw(answer_tag)).await {
            Err(_) => Err(TransportError::TimedOut { deadline_ms }),
            Ok(Err(error)) => Err(TransportError::Broken { detail: error.to_string() }),
            Ok(Ok((payload, _))) => match payload.downcast::<Answer>().map(|answer| *answer) {
                Ok(Answer::Response(response)) => Ok(response),
                Ok(Answer::Reset) => {
                    Err(TransportError::Broken { detail: "connection reset by the bank".into() })
                }
                Err(_) => Err(TransportError::Broken { detail: "not a bank answer".into() }),
            },
        }
    }
}
