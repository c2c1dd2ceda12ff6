//! The fault proxy on loopback: an echo server and a greeter behind an `Ingress`, a caller in
//! another data center. Timing bounds are one-sided where the machine can only make things
//! slower (a delay is never shorter than the link's), generous where it can.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tianping_chaos::{Delay, FaultNetwork, Flow, Ingress, ProcessTable, Source};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

const CALLER: &str = "dc-a";
const RECEIVER: &str = "dc-b";

/// Longest a test waits for bytes it expects.
const EXPECT: Duration = Duration::from_secs(5);

/// How long bytes that must not arrive are waited for.
const SILENCE: Duration = Duration::from_millis(300);

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.expect("writable");
        match stream.try_write(bytes) {
            Ok(count) => bytes = &bytes[count..],
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => panic!("write: {error}"),
        }
    }
}

/// Reads exactly `count` bytes; `None` if the connection closed first.
async fn read_exact(stream: &TcpStream, count: usize) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    while bytes.len() < count {
        stream.readable().await.ok()?;
        match stream.try_read(&mut buffer[..count - bytes.len()]) {
            Ok(0) => return None,
            Ok(read) => bytes.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
    }
    Some(bytes)
}

/// A server that echoes every byte back.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(any_port()).await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                while let Some(byte) = read_exact(&stream, 1).await {
                    write_all(&stream, &byte).await;
                }
            });
        }
    });
    address
}

/// A server that greets every caller with `hello` and counts the bytes it receives.
async fn greeter() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(any_port()).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                write_all(&stream, b"hello").await;
                while read_exact(&stream, 1).await.is_some() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (address, received)
}

async fn ingress(network: &FaultNetwork, target: SocketAddr, source: Source) -> Ingress {
    Ingress::start(network, any_port(), target, RECEIVER, source).await.expect("ingress")
}

fn from_caller() -> Source {
    Source::DataCenter(CALLER.to_owned())
}

/// One round trip of `ping` through an echo connection: how long it took.
async fn round_trip(stream: &TcpStream) -> Duration {
    let started = Instant::now();
    write_all(stream, b"ping").await;
    let echoed = timeout(EXPECT, read_exact(stream, 4)).await.expect("echo in time");
    assert_eq!(echoed.as_deref(), Some(&b"ping"[..]));
    started.elapsed()
}

#[tokio::test]
async fn a_delayed_link_is_late_by_its_delay_each_way() {
    let network = FaultNetwork::new(1);
    let proxy = ingress(&network, echo_server().await, from_caller()).await;
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    let undelayed = round_trip(&stream).await;
    assert!(undelayed < Duration::from_millis(200), "{undelayed:?} without a delay");

    let one_way = Duration::from_millis(40)..Duration::from_millis(60);
    network.set_delay(CALLER, RECEIVER, Delay::steady(one_way.clone()));
    network.set_delay(RECEIVER, CALLER, Delay::steady(one_way));
    for _ in 0..5 {
        let delayed = round_trip(&stream).await;
        assert!(delayed >= Duration::from_millis(80), "{delayed:?}: both ways at least 40 ms");
        assert!(delayed < Duration::from_millis(400), "{delayed:?}: far beyond 2 × 60 ms");
    }
    let stats = network.stats(CALLER, RECEIVER);
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.bytes_forwarded, 6 * 4);
}

#[tokio::test]
async fn the_default_delay_covers_links_without_their_own() {
    let network = FaultNetwork::new(2);
    network.set_default_delay(Delay::fixed(Duration::from_millis(50)));
    let proxy = ingress(&network, echo_server().await, from_caller()).await;
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    assert!(round_trip(&stream).await >= Duration::from_millis(100));

    // A caller in the receiver's own data center is never delayed.
    let local = ingress(&network, echo_server().await, Source::DataCenter(RECEIVER.into())).await;
    let stream = TcpStream::connect(local.address()).await.expect("connect");
    assert!(round_trip(&stream).await < Duration::from_millis(50));
}

#[tokio::test]
async fn a_cut_closes_connections_and_refuses_new_ones_until_healed() {
    let network = FaultNetwork::new(3);
    let proxy = ingress(&network, echo_server().await, from_caller()).await;
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    round_trip(&stream).await;

    assert_eq!(network.cut(CALLER, RECEIVER), 1);
    assert_eq!(network.flow(RECEIVER, CALLER), Flow::Refused, "a cut is both ways");
    let closed = timeout(EXPECT, read_exact(&stream, 1)).await.expect("closed in time");
    assert_eq!(closed, None, "the open connection is closed");

    let refused = TcpStream::connect(proxy.address()).await.expect("the proxy accepts");
    write_all(&refused, b"ping").await;
    let answer = timeout(EXPECT, read_exact(&refused, 4)).await.expect("closed in time");
    assert_eq!(answer, None, "and closes at once");
    assert_eq!(network.stats(CALLER, RECEIVER).refused, 1);

    network.heal(CALLER, RECEIVER);
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    round_trip(&stream).await;
}

#[tokio::test]
async fn a_one_way_partition_loses_only_one_direction() {
    let network = FaultNetwork::new(4);
    let (target, received) = greeter().await;
    let proxy = ingress(&network, target, from_caller()).await;

    // Caller → receiver blocked: the caller still hears the greeting, the receiver hears
    // nothing the caller says.
    network.block(CALLER, RECEIVER);
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    let greeting = timeout(EXPECT, read_exact(&stream, 5)).await.expect("greeted in time");
    assert_eq!(greeting.as_deref(), Some(&b"hello"[..]));
    write_all(&stream, b"lost").await;
    tokio::time::sleep(SILENCE).await;
    assert_eq!(received.load(Ordering::SeqCst), 0, "nothing reaches the receiver");
    assert_eq!(network.stats(CALLER, RECEIVER).bytes_discarded, 4);

    // Healing closes the connection that lost bytes; a new one carries both ways.
    assert_eq!(network.heal(CALLER, RECEIVER), 1);
    let closed = timeout(EXPECT, read_exact(&stream, 1)).await.expect("closed in time");
    assert_eq!(closed, None);
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    assert!(timeout(EXPECT, read_exact(&stream, 5)).await.expect("greeted").is_some());
    write_all(&stream, b"heard").await;
    let deadline = Instant::now() + EXPECT;
    while received.load(Ordering::SeqCst) < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(received.load(Ordering::SeqCst), 5);

    // Receiver → caller blocked: the receiver hears the caller, the caller hears nothing.
    network.block(RECEIVER, CALLER);
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    write_all(&stream, b"one").await;
    let deadline = Instant::now() + EXPECT;
    while received.load(Ordering::SeqCst) < 8 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(received.load(Ordering::SeqCst), 8, "the caller's bytes arrive");
    assert!(timeout(SILENCE, read_exact(&stream, 1)).await.is_err(), "no greeting arrives");
}

#[tokio::test]
async fn callers_are_told_apart_by_the_process_holding_the_socket() {
    let network = FaultNetwork::new(5);
    let processes = ProcessTable::new();
    let proxy = ingress(&network, echo_server().await, Source::Processes(processes.clone())).await;

    // This process is not in the table: its connection is refused as from nobody.
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    write_all(&stream, b"ping").await;
    assert_eq!(timeout(EXPECT, read_exact(&stream, 4)).await.expect("closed in time"), None);
    assert_eq!(network.stats(tianping_chaos::proxy::UNKNOWN, RECEIVER).refused, 1);

    // Registered in the caller's data center, it gets that data center's link.
    processes.insert(std::process::id(), CALLER);
    network.set_delay(CALLER, RECEIVER, Delay::fixed(Duration::from_millis(60)));
    let stream = TcpStream::connect(proxy.address()).await.expect("connect");
    assert!(round_trip(&stream).await >= Duration::from_millis(60));
    assert_eq!(network.stats(CALLER, RECEIVER).connections, 1);
}
