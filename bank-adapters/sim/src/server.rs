//! The HTTP server (real network only): every bank of one [`BankSimulator`] under
//! `/banks/{bank id}`, on one address, over axum. Each request is turned into a
//! [`BankRequest`], handled under the simulator's lock with the wall clock's `now`, and the
//! answer is delivered as the faults say: at once, late, never (the request hangs until the
//! caller gives up, or until shutdown), or cut off (the connection drops mid-answer).
//!
//! Beside the requests it answers, the server pushes the banks' callbacks
//! ([`crate::bank::callbacks`]): every [`CALLBACK_ROUND_MS`] it takes what is due, `POST`s
//! each sealed envelope to its registered URL (one task each, with a deadline of
//! [`CALLBACK_DEADLINE_MS`]) and reports back how it went: a `2xx` answer ends it, anything
//! else is retried on the bank's schedule.
//!
//! [`serve`] is the entry point the `tianping bank-sim` command calls; [`start`] serves an
//! already built simulator (tests, embedding).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, StatusCode, Uri};
use axum::response::Response;
use tianping_bank_adapters::bank_api::{Clock, JSON_CONTENT_TYPE, SystemClock};
use tianping_bank_adapters::transport::http::HttpTransport;
use tianping_bank_adapters::transport::{BankRequest, Method, Transport};
use tokio_util::sync::CancellationToken;

use crate::bank::Delivery;
use crate::bank::callbacks::Delivered;
use crate::config::{ConfigError, SimConfig};
use crate::simulator::{BankSimulator, Handled};

/// The longest a hanging request is held before the connection is closed anyway: far beyond
/// any client deadline, and bounded so a forgotten client does not pin a task for ever.
pub const HANG_MS_MAX: u64 = 10 * 60 * 1_000;

/// How often the server looks for callbacks due.
pub const CALLBACK_ROUND_MS: u64 = 50;

/// One callback delivery's deadline: a receiver that books before it answers has this long.
pub const CALLBACK_DEADLINE_MS: u64 = 15_000;

/// The largest request body accepted.
pub const REQUEST_BYTES_MAX: usize = tianping_bank_adapters::direct::ENVELOPE_BYTES_MAX;

/// A simulator shared between the server and whoever inspects it.
pub type SharedSimulator = Arc<Mutex<BankSimulator>>;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration does not build.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {detail}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        detail: String,
    },
    /// The server failed while serving.
    #[error("serving failed: {0}")]
    Serve(String),
}

/// A running server.
#[derive(Debug)]
pub struct BankSimServer {
    address: SocketAddr,
    simulator: SharedSimulator,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl BankSimServer {
    /// The bound address (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The base address of bank `bank_id`, for a gateway's transport.
    pub fn bank_url(&self, bank_id: &str) -> String {
        format!("http://{}/banks/{bank_id}", self.address)
    }

    /// The simulator behind the server.
    pub fn simulator(&self) -> &SharedSimulator {
        &self.simulator
    }

    /// Waits until the server has shut down (after its shutdown future completed and open
    /// requests finished).
    pub async fn wait(self) -> Result<(), ServeError> {
        self.task.await.map_err(|error| ServeError::Serve(error.to_string()))?
    }
}

#[derive(Clone)]
struct AppState {
    simulator: SharedSimulator,
    clock: Arc<dyn Clock>,
    stopping: CancellationToken,
}

/// Builds the simulator from `config` (started now), binds `address` and serves until
/// `shutdown` completes: the `tianping bank-sim` entry point.
pub async fn serve(
    config: &SimConfig,
    address: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<BankSimServer, ServeError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let simulator = config.build(clock.now_unix_ms())?;
    start(Arc::new(Mutex::new(simulator)), clock, address, shutdown).await
}

/// Serves `simulator` on `address` with `clock` until `shutdown` completes.
pub async fn start(
    simulator: SharedSimulator,
    clock: Arc<dyn Clock>,
    address: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<BankSimServer, ServeError> {
    let bind_error =
        |error: std::io::Error| ServeError::Bind { address, detail: error.to_string() };
    let listener = tokio::net::TcpListener::bind(address).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let stopping = CancellationToken::new();
    let state = AppState { simulator: Arc::clone(&simulator), clock, stopping: stopping.clone() };
    let router = axum::Router::new().fallback(handle).with_state(state.clone());
    tokio::spawn(push_callbacks(state.simulator, state.clock, state.stopping));
    let task = tokio::spawn(async move {
        let stop = stopping.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stopping.cancelled().await })
            .await
            .map_err(|error| ServeError::Serve(error.to_string()))
    });
    Ok(BankSimServer { address: bound, simulator, task })
}

/// Pushes the banks' due callbacks until the server stops (module doc).
async fn push_callbacks(
    simulator: SharedSimulator,
    clock: Arc<dyn Clock>,
    stopping: CancellationToken,
) {
    // One pooled transport per receiver: the URLs are the registered ones, few and bounded by
    // the banks' accounts.
    let mut transports: BTreeMap<String, HttpTransport> = BTreeMap::new();
    loop {
        tokio::select! {
            biased;
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(CALLBACK_ROUND_MS)) => {}
        }
        let due = lock(&simulator).due_callbacks(clock.now_unix_ms());
        for callback in due {
            let (origin, path) = split_url(&callback.url);
            let transport = match transports.get(origin) {
                Some(transport) => transport.clone(),
                None => {
                    match HttpTransport::new(origin, Duration::from_millis(CALLBACK_DEADLINE_MS)) {
                        Ok(transport) => {
                            transports.insert(origin.to_owned(), transport.clone());
                            transport
                        }
                        Err(error) => {
                            tracing::warn!(url = %callback.url, %error, "callback url unusable");
                            let now_ms = clock.now_unix_ms();
                            lock(&simulator).callback_settled(
                                &callback.bank_id,
                                callback.id,
                                Delivered::Failed,
                                now_ms,
                            );
                            continue;
                        }
                    }
                }
            };
            let simulator = Arc::clone(&simulator);
            let clock = Arc::clone(&clock);
            let path = path.to_owned();
            tokio::spawn(async move {
                let request = BankRequest::post(path, JSON_CONTENT_TYPE, callback.body);
                let delivered = match transport.send(request).await {
                    Ok(response) if (200..300).contains(&response.status) => Delivered::Accepted,
                    Ok(_) | Err(_) => Delivered::Failed,
                };
                let now_ms = clock.now_unix_ms();
                lock(&simulator).callback_settled(
                    &callback.bank_id,
                    callback.id,
                    delivered,
                    now_ms,
                );
            });
        }
    }
}

/// `http://host:port/path` as (`http://host:port`, `/path`); the path is `/` when absent.
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |index| index + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => url.split_at(after_scheme + slash),
        None => (url, "/"),
    }
}

/// The simulator's lock. A poisoned lock means a handler panicked mid-request; the banks'
/// state is still the last complete one each operation left (every operation checks before
/// it changes).
fn lock(simulator: &SharedSimulator) -> std::sync::MutexGuard<'_, BankSimulator> {
    simulator.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn handle(
    State(state): State<AppState>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method = match method {
        HttpMethod::GET => Method::Get,
        HttpMethod::POST => Method::Post,
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST"),
    };
    if body.len() > REQUEST_BYTES_MAX {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    let request = BankRequest {
        method,
        path: uri.path_and_query().map(|path| path.as_str().to_owned()).unwrap_or_default(),
        headers: headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    };
    let now_ms = state.clock.now_unix_ms();
    let handled = lock(&state.simulator).handle_path(&request, now_ms);
    deliver(handled, state.stopping).await
}

async fn deliver(handled: Handled, stopping: CancellationToken) -> Response {
    match handled.delivery {
        Delivery::Now => response(handled),
        Delivery::Late(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response(handled)
        }
        Delivery::Hang => {
            tokio::select! {
                biased;
                () = stopping.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(HANG_MS_MAX)) => {}
            }
            dropped()
        }
        Delivery::Drop => dropped(),
    }
}

fn response(handled: Handled) -> Response {
    let mut response = Response::new(Body::from(handled.response.body));
    *response.status_mut() =
        StatusCode::from_u16(handled.response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in handled.response.headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// A response whose body fails at once: the connection is cut before an answer arrives.
fn dropped() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("the simulated bank lost the answer"))
    });
    Response::new(Body::from_stream(failing))
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn a_callback_url_splits_into_origin_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:7700/callbacks/2"),
            ("http://127.0.0.1:7700", "/callbacks/2")
        );
        assert_eq!(split_url("http://worker"), ("http://worker", "/"));
    }
}
