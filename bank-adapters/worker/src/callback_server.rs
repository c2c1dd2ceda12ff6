//! The worker's callback listener (real network only, not compiled under `--cfg madsim`):
//! `POST /callbacks/{bank}` over axum, where `{bank}` is the bank's id in the worker's
//! configuration (`[[banks]] bank`) and the body a `CALLBACK` envelope. It reads nothing: the
//! bytes go to the desk's inbox ([`CallbackInbox::deliver`]) and the desk's answer comes
//! back as the status and a plain-text line. A bank registers
//! `http://{listen}/callbacks/{bank}` as its callback URL.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::callbacks::CallbackInbox;

/// The path the listener serves, `{bank}` being the configured bank id.
pub const CALLBACK_PATH: &str = "/callbacks/{bank}";

/// The largest callback accepted: a direct-connect envelope's bound.
pub const CALLBACK_BYTES_MAX: usize = tianping_bank_adapters::direct::ENVELOPE_BYTES_MAX;

/// A bound, not yet serving, callback listener: bound first so port 0 reports the port it got.
#[derive(Debug)]
pub struct CallbackListener {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
}

impl CallbackListener {
    /// Binds `address`.
    pub async fn bind(address: SocketAddr) -> std::io::Result<CallbackListener> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        Ok(CallbackListener { listener, address })
    }

    /// The bound address (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }
}

/// Serves `listener` on its own task, every callback to `inbox`, until the stop signal (then
/// it stops accepting and finishes the callbacks it holds).
pub fn serve(
    listener: CallbackListener,
    inbox: CallbackInbox,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let router = axum::Router::new()
        .route(CALLBACK_PATH, axum::routing::post(receive))
        .layer(axum::extract::DefaultBodyLimit::max(CALLBACK_BYTES_MAX))
        .with_state(inbox);
    tokio::spawn(async move {
        let stopped = async move { stop.cancelled().await };
        if let Err(error) =
            axum::serve(listener.listener, router).with_graceful_shutdown(stopped).await
        {
            tracing::error!(%error, "the callback listener stopped");
        }
    })
}

async fn receive(
    State(inbox): State<CallbackInbox>,
    Path(bank): Path<String>,
    body: Bytes,
) -> (StatusCode, String) {
    let Ok(bank) = bank.parse::<u32>() else {
        return (StatusCode::NOT_FOUND, format!("no bank {bank:?}"));
    };
    let answer = inbox.deliver(bank, body.to_vec()).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, answer.text)
}

#[cfg(test)]
mod tests;
