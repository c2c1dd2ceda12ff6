//! How a client (the SDK, the CLI, a node calling another) opens gRPC channels: plaintext, or
//! TLS with its client certificate. The TLS connector reads the files at every connection
//! attempt, so a channel that reconnects after a rotation presents the new certificate.

use std::fmt;
#[cfg(not(madsim))]
use std::sync::Arc;

use tonic::transport::{Channel, Endpoint};

use crate::{TlsError, TlsFiles};

/// How channels are opened: plaintext or (real network only) TLS.
#[derive(Clone, Default)]
pub struct Channels {
    #[cfg(not(madsim))]
    tls: Option<Arc<ClientTls>>,
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels").field("tls", &self.tls_files()).finish()
    }
}

impl Channels {
    /// Plaintext channels: only for nodes started with `--insecure`, and the simulation.
    pub fn plaintext() -> Channels {
        Channels::default()
    }

    /// Channels secured by `files` (none: plaintext). Loads them now, so a missing or unusable
    /// file is reported at once, naming it.
    pub fn from_files(files: Option<&TlsFiles>) -> Result<Channels, TlsError> {
        match files {
            None => Ok(Channels::plaintext()),
            #[cfg(not(madsim))]
            Some(files) => Ok(Channels { tls: Some(Arc::new(ClientTls::load(files.clone())?)) }),
            #[cfg(madsim)]
            Some(_) => Err(TlsError::Simulated),
        }
    }

    /// The files TLS channels are secured by; none for plaintext.
    #[cfg(not(madsim))]
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref().map(|tls| tls.config.files())
    }

    /// The files TLS channels are secured by: none in the simulation.
    #[cfg(madsim)]
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        None
    }

    /// `http://HOST:PORT`'s endpoint (the scheme is only HTTP/2's; TLS is the connector's).
    pub fn endpoint(address: &str) -> Result<Endpoint, tonic::transport::Error> {
        Endpoint::from_shared(format!("http://{address}"))
    }

    /// A channel that connects when first used (and reconnects as needed).
    pub fn lazy(&self, endpoint: Endpoint) -> Channel {
        #[cfg(not(madsim))]
        if let Some(tls) = &self.tls {
            return endpoint.connect_with_connector_lazy(Connector { tls: Arc::clone(tls) });
        }
        endpoint.connect_lazy()
    }

    /// A channel connected now: an unreachable node or a refused handshake is an error here.
    pub async fn connect(&self, endpoint: Endpoint) -> Result<Channel, tonic::transport::Error> {
        #[cfg(not(madsim))]
        if let Some(tls) = &self.tls {
            return endpoint.connect_with_connector(Connector { tls: Arc::clone(tls) }).await;
        }
        endpoint.connect().await
    }
}

#[cfg(not(madsim))]
pub use native::ClientTls;
#[cfg(not(madsim))]
use native::Connector;

#[cfg(not(madsim))]
mod native {
    use std::fmt;
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use hyper_util::rt::TokioIo;
    use rustls::ClientConfig;
    use rustls::pki_types::ServerName;
    use tokio::net::TcpStream;
    use tonic::codegen::http::Uri;

    use crate::material::{self, ALPN_H2, Material, Reloading};
    use crate::{TlsError, TlsFiles};

    /// A client's TLS: the CAs it trusts to sign the nodes' certificates and its own
    /// certificate; reloaded when the files change.
    pub struct ClientTls {
        pub(super) config: Reloading<ClientConfig>,
    }

    impl fmt::Debug for ClientTls {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // Paths only: the configuration holds the private key.
            f.debug_struct("ClientTls").field("files", self.config.files()).finish_non_exhaustive()
        }
    }

    impl ClientTls {
        /// Loads `files`; an error names the file that is missing or unusable.
        pub fn load(files: TlsFiles) -> Result<ClientTls, TlsError> {
            Ok(ClientTls { config: Reloading::load(files, client_config)? })
        }

        /// The configuration for the next connection (the files as they are now).
        pub fn current(&self) -> Arc<ClientConfig> {
            self.config.current()
        }
    }

    fn client_config(files: &TlsFiles, material: Material) -> Result<ClientConfig, TlsError> {
        let mut config = ClientConfig::builder_with_provider(material::provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| material::config_error(files, error))?
            .with_root_certificates(material.roots)
            .with_client_auth_cert(material.chain, material.key)
            .map_err(|error| material::config_error(files, error))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(config)
    }

    /// tonic's connector: TCP, then a TLS handshake checking the node's certificate against
    /// the trusted CAs and the address's host name (or IP address).
    #[derive(Clone)]
    pub(crate) struct Connector {
        pub(crate) tls: Arc<ClientTls>,
    }

    type Connecting = Pin<
        Box<
            dyn Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>>
                + Send,
        >,
    >;

    impl tonic::codegen::Service<Uri> for Connector {
        type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
        type Error = io::Error;
        type Future = Connecting;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, uri: Uri) -> Connecting {
            let config = self.tls.current();
            Box::pin(async move {
                let invalid = |what: &str| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("{uri}: {what}"))
                };
                let host = uri.host().ok_or_else(|| invalid("no host"))?;
                // An IPv6 literal comes bracketed in a URI.
                let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
                let port = uri.port_u16().ok_or_else(|| invalid("no port"))?;
                let name = ServerName::try_from(host.clone())
                    .map_err(|error| invalid(&format!("not a TLS server name: {error}")))?;
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
                Ok(TokioIo::new(stream))
            })
        }
    }
}
