//! A node's TLS listener: accepted TCP connections go through a TLS handshake that requires a
//! client certificate signed by a trusted CA, off the accept loop (a slow or hostile peer
//! never holds up the next), with the configuration as the files are at that moment.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::material::{self, ALPN_H2, Material, Reloading};
use crate::{TlsError, TlsFiles};

/// Longest a peer may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the gRPC server to take them.
const ACCEPTED_QUEUE: usize = 64;

/// A node's server-side TLS: its certificate, and the CAs it trusts to sign its callers'
/// (clients' and other nodes') certificates; reloaded when the files change.
pub struct ServerTls {
    config: Reloading<ServerConfig>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths only: the configuration holds the private key.
        f.debug_struct("ServerTls").field("files", self.config.files()).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads `files`; an error names the file that is missing or unusable.
    pub fn load(files: TlsFiles) -> Result<ServerTls, TlsError> {
        Ok(ServerTls { config: Reloading::load(files, server_config)? })
    }

    /// The configuration for the next handshake (the files as they are now).
    pub fn current(&self) -> Arc<ServerConfig> {
        self.config.current()
    }

    /// When the node's certificate (as the files are now) expires: its `notAfter`, seconds
    /// since the Unix epoch; none if it does not parse.
    pub fn expiry(&self) -> Option<i64> {
        self.config.current_with_expiry().1
    }
}

fn server_config(files: &TlsFiles, material: Material) -> Result<ServerConfig, TlsError> {
    let provider = material::provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(material.roots, Arc::clone(&provider))
            .build()
            .map_err(|error| material::config_error(files, error))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| material::config_error(files, error))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(material.chain, material.key)
        .map_err(|error| material::config_error(files, error))?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(config)
}

/// Who is on the other end of a TLS connection: in every request's extensions
/// (`request.extensions().get::<TlsConnectInfo>()`), for handlers that decide by the caller's
/// certificate.
#[derive(Clone)]
pub struct TlsConnectInfo {
    /// The peer's address.
    pub remote_address: SocketAddr,
    /// The peer's certificate chain, its own certificate first (verified against the trusted
    /// CAs during the handshake).
    pub peer_certificates: Arc<[CertificateDer<'static>]>,
}

impl fmt::Debug for TlsConnectInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnectInfo")
            .field("remote_address", &self.remote_address)
            .field("peer_certificates", &self.peer_certificates.len())
            .finish()
    }
}

/// One accepted, handshaken connection.
pub struct TlsConnection {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    info: TlsConnectInfo,
}

impl fmt::Debug for TlsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnection").field("info", &self.info).finish_non_exhaustive()
    }
}

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = TlsConnectInfo;

    fn connect_info(&self) -> TlsConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The stream of handshaken connections a gRPC server serves
/// (`Router::serve_with_incoming_shutdown`). Dropping it stops the accept loop.
#[derive(Debug)]
pub struct TlsIncoming {
    connections: mpsc::Receiver<TlsConnection>,
}

impl futures_util::Stream for TlsIncoming {
    type Item = Result<TlsConnection, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.connections.poll_recv(cx).map(|connection| connection.map(Ok))
    }
}

/// Accepts on `listener` and hands `TlsIncoming` every connection whose TLS handshake
/// succeeded with `tls`'s configuration of the moment: a peer without a certificate, or with
/// one no trusted CA signed, is refused here (logged), before any gRPC is read.
pub fn incoming(listener: TcpListener, tls: Arc<ServerTls>) -> TlsIncoming {
    let (sender, connections) = mpsc::channel(ACCEPTED_QUEUE);
    tokio::spawn(accept_loop(listener, tls, sender));
    TlsIncoming { connections }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    sender: mpsc::Sender<TlsConnection>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = sender.closed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, remote_address)) => {
                // Raft and client messages are small and latency-bound.
                let _ = tcp.set_nodelay(true);
                tokio::spawn(handshake(tcp, remote_address, Arc::clone(&tls), sender.clone()));
            }
            Err(error) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handshake(
    tcp: TcpStream,
    remote_address: SocketAddr,
    tls: Arc<ServerTls>,
    sender: mpsc::Sender<TlsConnection>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::info!(%remote_address, %error, "TLS handshake refused");
            return;
        }
        Err(_elapsed) => {
            tracing::info!(%remote_address, "TLS handshake timed out");
            return;
        }
    };
    let peer_certificates: Arc<[CertificateDer<'static>]> = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| chain.to_vec())
        .unwrap_or_default()
        .into();
    let info = TlsConnectInfo { remote_address, peer_certificates };
    let _ = sender.send(TlsConnection { stream, info }).await;
}
