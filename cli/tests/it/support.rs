//! What every test here shares: a time bound, retrying a write while leadership settles, and
//! reading a node's Prometheus text.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

/// Longest any one test may run .
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Most attempts of one write while leadership settles (each waits `RETRY_PAUSE`).
const WRITE_ATTEMPTS_MAX: usize = 50;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Longest a `/metrics` scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `test` within `TEST_TIMEOUT`.
pub async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test).await.expect("test ran past TEST_TIMEOUT");
}

/// Retries `write` while the cluster answers UNAVAILABLE (leadership settling), at most
/// `WRITE_ATTEMPTS_MAX` times. Safe because every write carries client-chosen ids.
pub async fn retry_unavailable<T, F, Fut>(mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS_MAX {
        match write().await {
            Ok(response) => return response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                last = Some(status);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(status) => panic!("write failed: {status:?}"),
        }
    }
    panic!("write still unavailable after {WRITE_ATTEMPTS_MAX} attempts: {last:?}")
}

/// `GET /metrics` from `address`: the status line and the body.
pub async fn scrape(address: SocketAddr) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect_timeout(&address, SCRAPE_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).expect("read timeout");
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send the request");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read the reply");
        let (head, body) = reply.split_once("\r\n\r\n").expect("headers end");
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, body.to_owned())
    })
    .await
    .expect("join the scrape")
}

/// The value of an unlabelled series in Prometheus text, if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Runs `tianping --addr <address> <arguments>` on a blocking thread (the nodes keep running on
/// the test's runtime meanwhile).
pub async fn tianping(address: Option<&str>, arguments: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tianping"));
    command.env_remove("TIANPING_ADDR").env_remove("TIANPING_DEV_DATA_DIR");
    // The test clusters run plaintext (TLS has its own tests: `tls`).
    command.env("TIANPING_INSECURE", "true");
    for variable in ["TIANPING_CA", "TIANPING_CERT", "TIANPING_KEY"] {
        command.env_remove(variable);
    }
    if let Some(address) = address {
        command.args(["--addr", address]);
    }
    command.args(arguments);
    let description = format!("{command:?}");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run tianping");
    eprintln!(
        "{description} -> {}\nstdout:\n{}stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What a `tianping` run printed on standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
