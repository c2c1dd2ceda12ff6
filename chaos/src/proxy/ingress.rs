//! `Ingress`: the proxy in front of one receiver (a node's Raft listener): it accepts callers,
//! finds the data center each comes from (`Source`), connects to the receiver and pumps bytes
//! both ways as the `FaultNetwork` says.
//!
//! Each direction of a connection is a reader and a writer joined by a bounded queue: the
//! reader stamps every chunk with the time it is due (now plus the link's delay, never before
//! the chunk ahead of it), the writer sleeps until then and writes it. When one side closes or
//! fails, the whole connection closes (neither HTTP/2 nor a test needs a half-closed one).
//! Sockets are polled with `readable` / `try_read` and `writable` / `try_write`, the `net`
//! feature alone.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

use super::{FaultNetwork, Verdict, owner};
use crate::latency::{Delay, Jitter};

/// The most bytes read from a socket at once: one queued chunk.
const CHUNK_BYTES_MAX: usize = 64 * 1024;

/// The most chunks waiting for their time in one direction of a connection: with
/// `CHUNK_BYTES_MAX`, at most 16 MiB held per direction; a full queue stops the reader, and
/// TCP pushes back on the sender.
const CHUNKS_QUEUED_MAX: usize = 256;

/// How long the accept loop rests after a failed accept (out of descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(20);

/// Where a connection's caller is.
#[derive(Clone, Debug)]
pub enum Source {
    /// Every caller is in this data center (a drill's clients of one data center, tests).
    DataCenter(String),
    /// The caller is the process holding the connection's other end, looked up among these
    /// (`owner::socket_owner`): the nodes of a local cluster.
    Processes(ProcessTable),
}

/// Process ids and their data centers: which node process is where. The drill updates it as
/// it starts and restarts nodes; cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct ProcessTable {
    pids: Arc<Mutex<BTreeMap<u32, String>>>,
}

impl ProcessTable {
    /// An empty table.
    pub fn new() -> ProcessTable {
        ProcessTable::default()
    }

    /// Process `pid` runs in `data_center`.
    pub fn insert(&self, pid: u32, data_center: &str) {
        self.lock().insert(pid, data_center.to_owned());
    }

    /// Process `pid` is gone.
    pub fn remove(&self, pid: u32) {
        self.lock().remove(&pid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, String>> {
        self.pids.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn snapshot(&self) -> BTreeMap<u32, String> {
        self.lock().clone()
    }
}

/// The proxy in front of one receiver; dropping it stops accepting (connections already
/// accepted run on until closed or cut).
#[derive(Debug)]
pub struct Ingress {
    address: SocketAddr,
    accept: JoinHandle<()>,
}

impl Ingress {
    /// Listens on `listen` (port 0: any free port) for callers of `target`, a receiver in
    /// `data_center`, whose own data centers `source` tells.
    pub async fn start(
        network: &FaultNetwork,
        listen: SocketAddr,
        target: SocketAddr,
        data_center: &str,
        source: Source,
    ) -> io::Result<Ingress> {
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let receiver = Receiver {
            network: network.clone(),
            target,
            data_center: data_center.to_owned(),
            source,
        };
        let accept = tokio::spawn(accept_loop(listener, Arc::new(receiver)));
        Ok(Ingress { address, accept })
    }

    /// Where callers connect: the address to advertise instead of the receiver's.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// What every connection of one ingress shares.
#[derive(Debug)]
struct Receiver {
    network: FaultNetwork,
    target: SocketAddr,
    data_center: String,
    source: Source,
}

async fn accept_loop(listener: TcpListener, receiver: Arc<Receiver>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve(stream, peer, receiver.clone()));
            }
            Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
        }
    }
}

/// One accepted connection, from identifying its caller to its close.
async fn serve(caller: TcpStream, peer: SocketAddr, receiver: Arc<Receiver>) {
    let Some(caller_data_center) = identify(&caller, peer, &receiver.source).await else {
        receiver.network.refuse_unknown(&receiver.data_center);
        return;
    };
    let network = &receiver.network;
    if caller_data_center == receiver.data_center {
        if let Ok(upstream) = connect(receiver.target).await {
            let seed = network.seed();
            let local = |_: usize| Verdict::Forward(Delay::NONE);
            splice(&caller, &upstream, (local, local), seed).await;
        }
        return;
    }
    let Some(id) = network.admit(&caller_data_center, &receiver.data_center) else {
        return;
    };
    let Ok(upstream) = connect(receiver.target).await else {
        network.forget(id);
        return;
    };
    let forward = {
        let (network, from, to) =
            (network.clone(), caller_data_center.clone(), receiver.data_center.clone());
        move |bytes: usize| network.verdict(id, &from, &to, bytes)
    };
    let backward = {
        let (network, from, to) =
            (network.clone(), receiver.data_center.clone(), caller_data_center.clone());
        move |bytes: usize| network.verdict(id, &from, &to, bytes)
    };
    let seed = network.seed() ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let pumps = tokio::spawn(async move {
        splice(&caller, &upstream, (forward, backward), seed).await;
    });
    network.attach(id, pumps.abort_handle());
    let _ = pumps.await;
    network.forget(id);
}

/// The caller's data center, if it can be told.
async fn identify(caller: &TcpStream, peer: SocketAddr, source: &Source) -> Option<String> {
    match source {
        Source::DataCenter(data_center) => Some(data_center.clone()),
        Source::Processes(table) => {
            let local = caller.local_addr().ok()?;
            let pids = table.snapshot();
            let candidates: Vec<u32> = pids.keys().copied().collect();
            let lookup =
                tokio::task::spawn_blocking(move || owner::socket_owner(peer, local, &candidates));
            let pid = lookup.await.ok()?.ok()??;
            pids.get(&pid).cloned()
        }
    }
}

async fn connect(target: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Pumps both directions until either side closes; `verdicts` decide each chunk's fate
/// (caller → receiver, receiver → caller).
async fn splice<F, B>(caller: &TcpStream, receiver: &TcpStream, verdicts: (F, B), seed: u64)
where
    F: Fn(usize) -> Verdict,
    B: Fn(usize) -> Verdict,
{
    // Small writes must not wait for Nagle's algorithm: the delay is the link's, not TCP's.
    if caller.set_nodelay(true).is_err() {
        return;
    }
    let forward = direction(caller, receiver, verdicts.0, Jitter::new(seed));
    let backward = direction(receiver, caller, verdicts.1, Jitter::new(!seed));
    tokio::select! {
        () = forward => {}
        () = backward => {}
    }
}

/// One direction: reads chunks from `from`, queues each until it is due, writes it to `to`.
/// Ends when `from` closes (after the queue drained) or `to` fails.
async fn direction(
    from: &TcpStream,
    to: &TcpStream,
    verdict: impl Fn(usize) -> Verdict,
    mut jitter: Jitter,
) {
    let (sender, mut queue) = mpsc::channel::<(Instant, Vec<u8>)>(CHUNKS_QUEUED_MAX);
    let read = async move {
        let mut buffer = vec![0u8; CHUNK_BYTES_MAX];
        let mut last_due = Instant::now();
        loop {
            tokio::select! {
                ready = from.readable() => if ready.is_err() { return },
                () = sender.closed() => return,
            }
            let count = match from.try_read(&mut buffer) {
                Ok(0) => return,
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            };
            let Verdict::Forward(delay) = verdict(count) else { continue };
            let due = (Instant::now() + delay.sample(&mut jitter)).max(last_due);
            last_due = due;
            if sender.send((due, buffer[..count].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let write = async move {
        while let Some((due, chunk)) = queue.recv().await {
            tokio::time::sleep_until(due).await;
            if write_all(to, &chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(read, write);
}

async fn write_all(to: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        match to.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => bytes = &bytes[count..],
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
