//! The HTTP/1.1 transport over hyper 1: a pooled `hyper-util` client on tokio, one base
//! address per bank, and a deadline per request covering connect, send and the whole answer.
//!
//! Failure classification (module doc of [`crate::transport`]): a connect error is
//! [`TransportError::NotSent`] — hyper reports it before any byte of the request is written
//! (and retries on its own a pooled connection found closed before writing); every other
//! client error, a deadline passed or an unreadable answer body may have reached the bank.
//! A deadline that fires while still connecting is counted as unknown too: the transport
//! cannot tell that moment apart, and unknown is the safe side.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::transport::{
    BankRequest, BankResponse, Method, RESPONSE_BYTES_MAX, Transport, TransportError,
};

/// Idle pooled connections kept per bank: workers call a bank a few at a time.
pub const IDLE_CONNECTIONS_PER_BANK_MAX: usize = 8;

/// How long an idle pooled connection is kept before it is closed.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP/1.1 connection to one bank (cheap to clone: the pool is shared).
#[derive(Clone, Debug)]
pub struct HttpTransport {
    /// `http://host:port/prefix`, without a trailing `/`.
    base: String,
    deadline: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpTransport {
    /// A transport to the bank at `base_url` (`http://host:port` and an optional path
    /// prefix), giving each request `deadline` from start to the last byte of the answer.
    /// Must be called inside a tokio runtime only when sending, not when building.
    pub fn new(base_url: &str, deadline: Duration) -> Result<HttpTransport, TransportError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let uri: Uri = base.parse().map_err(|error| TransportError::NotSent {
            detail: format!("bad base address {base_url:?}: {error}"),
        })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(TransportError::NotSent {
                detail: format!("base address {base_url:?} must be http://host[:port][/prefix]"),
            });
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_BANK_MAX)
            .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
            .build(connector);
        Ok(HttpTransport { base, deadline, client })
    }

    /// The per-request deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    async fn exchange(&self, request: BankRequest) -> Result<BankResponse, TransportError> {
        if !request.path.starts_with('/') {
            return Err(TransportError::NotSent {
                detail: format!("path {:?} must start with /", request.path),
            });
        }
        let uri = format!("{}{}", self.base, request.path);
        let mut builder = hyper::Request::builder()
            .method(match request.method {
                Method::Get => hyper::Method::GET,
                Method::Post => hyper::Method::POST,
            })
            .uri(&uri);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let http_request = builder.body(Full::new(Bytes::from(request.body))).map_err(|error| {
            TransportError::NotSent { detail: format!("cannot form request to {uri}: {error}") }
        })?;
        let response = self.client.request(http_request).await.map_err(|error| {
            if error.is_connect() {
                TransportError::NotSent { detail: format!("{uri}: {error}") }
            } else {
                TransportError::Broken { detail: format!("{uri}: {error}") }
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let body = Limited::new(response.into_body(), RESPONSE_BYTES_MAX)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    TransportError::TooLarge
                } else {
                    TransportError::Broken { detail: format!("{uri}: reading the answer: {error}") }
                }
            })?
            .to_bytes()
            .to_vec();
        Ok(BankResponse { status, headers, body })
    }
}

impl Transport for HttpTransport {
    async fn send(&self, request: BankRequest) -> Result<BankResponse, TransportError> {
        match tokio::time::timeout(self.deadline, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::TimedOut {
                deadline_ms: u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_addresses_are_checked() {
        let deadline = Duration::from_secs(1);
        assert!(HttpTransport::new("http://127.0.0.1:8080/banks/a/", deadline).is_ok());
        assert!(HttpTransport::new("https://bank.example", deadline).is_err());
        assert!(HttpTransport::new("not a url", deadline).is_err());
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent() {
        // Bind and drop a listener: its port is (almost certainly) closed now.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
            listener.local_addr().expect("address").port()
        };
        let transport =
            HttpTransport::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
                .expect("valid");
        let error =
            transport.send(BankRequest::get("/x".into())).await.expect_err("nothing listens");
        assert!(!error.may_have_reached_bank(), "{error:?}");
    }

    #[tokio::test]
    async fn a_silent_bank_times_out_with_the_outcome_unknown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("address");
        // Accept and read, never answer.
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accepts");
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(socket);
        });
        let transport =
            HttpTransport::new(&format!("http://{address}"), Duration::from_millis(200))
                .expect("valid");
        let error = transport
            .send(BankRequest::post("/x".into(), "text/plain", b"hello".to_vec()))
            .await
            .expect_err("no answer");
        assert_eq!(error, TransportError::TimedOut { deadline_ms: 200 });
        assert!(error.may_have_reached_bank());
        server.abort();
    }
}
