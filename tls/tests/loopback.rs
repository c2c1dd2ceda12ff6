//! Mutual TLS on loopback, through tonic as the node and the SDK use it: a gRPC health server
//! on `tianping_tls::incoming`, clients through `Channels`.

#![cfg(not(madsim))]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tianping_tls::dev::{self, DevCa};
use tianping_tls::{Channels, ServerTls, TlsConnectInfo, TlsFiles};
use tonic::transport::Server;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Longest any one call may take here.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A running health server; stops when dropped.
struct Served {
    address: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves gRPC health over TLS from `files`. Every call checks that the caller's certificate
/// chain reached the handler (`TlsConnectInfo` in the request's extensions) and that its
/// first certificate is the one the client presented (`expected`, when given).
async fn serve(files: TlsFiles) -> Served {
    let tls = Arc::new(ServerTls::load(files).expect("server TLS loads"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let checked = tonic::service::interceptor::InterceptedService::new(
        health,
        |request: tonic::Request<()>| match request.extensions().get::<TlsConnectInfo>() {
            Some(info) if !info.peer_certificates.is_empty() => Ok(request),
            _ => Err(tonic::Status::internal("no peer certificate reached the handler")),
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let incoming = tianping_tls::incoming(listener, tls);
    tokio::spawn(Server::builder().add_service(checked).serve_with_incoming_shutdown(
        incoming,
        async {
            let _ = stopped.await;
        },
    ));
    Served { address, _stop: stop }
}

/// One health check through `channels`: Ok when it was answered, else the failure in words.
async fn check(channels: &Channels, address: &str) -> Result<(), String> {
    let endpoint = Channels::endpoint(address).map_err(|error| error.to_string())?;
    let call = async {
        let channel = channels.connect(endpoint).await.map_err(|error| format!("{error:?}"))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map(|_| ())
            .map_err(|status| format!("{status:?}"))
    };
    tokio::time::timeout(CALL_TIMEOUT, call).await.map_err(|_| "timed out".to_owned())?
}

/// Writes a certificate `name` of `ca` (node certificates when `server`) under `directory`,
/// trusting the CA bundle at `bundle`.
fn issue(ca: &DevCa, directory: &Path, name: &str, server: bool, bundle: &Path) -> TlsFiles {
    let hosts = if server { dev::node_hosts(name) } else { Vec::new() };
    let role = if server { dev::NODE_ROLE } else { dev::OPERATOR_ROLE };
    let (cert, key) = ca.issue(name, role, &hosts, server).expect("issue");
    let files = TlsFiles {
        ca: bundle.to_path_buf(),
        cert: directory.join(format!("{name}.pem")),
        key: directory.join(format!("{name}-key.pem")),
    };
    dev::write(&files.cert, &cert, false).expect("write cert");
    dev::write(&files.key, &key, true).expect("write key");
    files
}

#[tokio::test]
async fn a_client_needs_a_certificate_from_a_trusted_ca() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let made = dev::generate(directory.path(), &["node-1".to_owned()], "operator")
        .expect("dev certificates");
    let server = serve(made.node("node-1").expect("node-1").clone()).await;

    // The operator's certificate from the same CA: served.
    let trusted = Channels::from_files(Some(&made.client)).expect("client TLS");
    check(&trusted, &server.address).await.expect("a trusted client is served");

    // Plaintext: refused.
    assert!(check(&Channels::plaintext(), &server.address).await.is_err());

    // A client that trusts the node's CA but presents no certificate: refused.
    let no_certificate = {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&made.ca).expect("read CA");
        for ca in CertificateDer::pem_slice_iter(&pem) {
            roots.add(ca.expect("CA parses")).expect("CA added");
        }
        #[allow(deprecated)] // the crate's own provider choice (`material::provider`)
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(&server.address).await.expect("tcp");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        match connector.connect(name, tcp).await {
            // TLS 1.3: the server's refusal arrives with the first read.
            Ok(mut stream) => {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _ = stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
                let mut buffer = [0_u8; 64];
                match stream.read(&mut buffer).await {
                    Ok(0) => Err("the node closed the connection".to_owned()),
                    Ok(_) => Ok(()),
                    Err(error) => Err(error.to_string()),
                }
            }
            Err(error) => Err(error.to_string()),
        }
    };
    let refusal = no_certificate.expect_err("a client without a certificate is refused");
    eprintln!("without a certificate: {refusal}");

    // A certificate from another CA: refused (the client trusts the node's CA, so only the
    // node's check of the client's certificate can fail).
    let other = dev::generate(&directory.path().join("other"), &[], "intruder").expect("other CA");
    let intruder = TlsFiles { ca: made.ca.clone(), ..other.client.clone() };
    let intruder = Channels::from_files(Some(&intruder)).expect("intruder TLS");
    let refused = check(&intruder, &server.address).await;
    assert!(refused.is_err(), "a certificate from another CA is refused");

    // And a client that does not trust the node's CA refuses the node.
    let distrustful = Channels::from_files(Some(&other.client)).expect("TLS");
    assert!(check(&distrustful, &server.address).await.is_err());
}

#[tokio::test]
async fn certificates_rotate_to_a_new_ca_without_a_restart() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let old_ca = DevCa::new("old CA").expect("old CA");
    let new_ca = DevCa::new("new CA").expect("new CA");
    let bundle = directory.path().join("ca.pem");
    dev::write(&bundle, old_ca.certificate_pem(), false).expect("write bundle");
    let node = issue(&old_ca, directory.path(), "node-1", true, &bundle);
    let server = serve(node.clone()).await;

    let new_directory = directory.path().join("new");
    std::fs::create_dir_all(&new_directory).expect("mkdir");
    let new_client = issue(&new_ca, &new_directory, "operator", false, &bundle);
    let new_channels = Channels::from_files(Some(&new_client)).expect("TLS");
    let old_client = issue(&old_ca, directory.path(), "operator", false, &bundle);
    let old_channels = Channels::from_files(Some(&old_client)).expect("TLS");
    check(&old_channels, &server.address).await.expect("the old CA's client is served");
    assert!(
        check(&new_channels, &server.address).await.is_err(),
        "before the rotation the new CA is not trusted"
    );

    // The rotation, while the server runs: the bundle holds both CAs, the node's certificate
    // and key are the new CA's. Files are replaced whole (written aside, renamed), as a
    // Kubernetes Secret or a config manager does.
    let both = format!("{}{}", old_ca.certificate_pem(), new_ca.certificate_pem());
    let (cert, key) =
        new_ca.issue("node-1", dev::NODE_ROLE, &dev::node_hosts("node-1"), true).expect("issue");
    for (path, contents, private) in
        [(&bundle, both.as_str(), false), (&node.cert, &cert, false), (&node.key, &key, true)]
    {
        let aside = path.with_extension("new");
        dev::write(&aside, contents, private).expect("write aside");
        std::fs::rename(&aside, path).expect("rename into place");
    }

    // New connections: the new CA's client is served (its channels read the bundle again,
    // which now trusts the node's new certificate), and so is the old CA's, both CAs trusted.
    check(&new_channels, &server.address).await.expect("the new CA's client is served");
    check(&old_channels, &server.address).await.expect("the old CA's client still is");

    // Half-written files (a rotation caught midway) keep the last good configuration.
    std::fs::write(&node.key, "not a key").expect("garble the key");
    check(&new_channels, &server.address).await.expect("the last good configuration serves");
}

#[test]
fn debug_output_never_shows_a_key() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let made = dev::generate(directory.path(), &["node-1".to_owned()], "operator")
        .expect("dev certificates");
    let files = made.node("node-1").expect("node-1").clone();
    let key = std::fs::read_to_string(&files.key).expect("read key");
    let body: String = key.lines().filter(|line| !line.starts_with("-----")).collect();
    let server = format!("{:?}", ServerTls::load(files.clone()).expect("server TLS"));
    let client = format!("{:?}", Channels::from_files(Some(&files)).expect("client TLS"));
    for shown in [&server, &client] {
        assert!(shown.contains("node-1-key.pem"), "the path is shown: {shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(!shown.contains(&body[..32]), "{shown}");
    }
    // Keys are written 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(&made.ca_key).expect("metadata").permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn a_missing_file_is_named() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let files = TlsFiles {
        ca: directory.path().join("ca.pem"),
        cert: directory.path().join("node.pem"),
        key: directory.path().join("node-key.pem"),
    };
    assert_eq!(files.missing().len(), 3);
    let error = ServerTls::load(files).expect_err("nothing to load").to_string();
    assert!(error.contains("ca.pem"), "{error}");
}
