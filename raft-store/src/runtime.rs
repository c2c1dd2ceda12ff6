//! Tianping's own openraft runtime for the simulation (`--cfg madsim`).
//!
//! openraft reaches tasks, time, randomness and channels only through its `AsyncRuntime`
//! trait; this is the project's implementation of it on madsim, so a simulated cluster runs
//! the same openraft code as production, and a seed replays it exactly:
//!
//! - tasks and timers are madsim's (`spawn`, `Sleep`); `spawn_blocking` runs the closure on the
//!   calling task, because madsim refuses OS threads;
//! - `Instant` is `std::time::Instant`, whose clock madsim intercepts;
//! - `Timeout` is a future of our own over madsim's `Sleep` (madsim's `timeout` is not `Send`);
//! - the RNG is a `SmallRng` seeded from madsim's seeded global RNG;
//! - mpsc, oneshot and the mutex are tokio's, whose waiters wake in FIFO order; `watch` is our
//!   own (value + version + one `Notify`), because tokio's picks a wake slot from a
//!   process-global RNG, which makes a second simulation in the same process diverge.
//!
//! Types from other crates get thin wrappers here: the traits are openraft's, so the orphan
//! rule allows implementing them only for types of this crate.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use openraft::rt::{
    AsyncRuntime, Mpsc, MpscReceiver, MpscSender, MpscWeakSender, Mutex, Oneshot, OneshotSender,
    OptionalSend, OptionalSync, RecvError, SendError, TryRecvError, Watch, WatchReceiver,
    WatchSender,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// openraft's runtime inside the simulation. Tasks run on the current madsim node.
pub struct SimRuntime {
    runtime: madsim::runtime::Runtime,
}

impl fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRuntime").finish()
    }
}

/// A timeout ran out before its future finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// `future`, unless the simulated clock reaches the deadline first. Both halves are boxed so
/// the whole is `Unpin` and `Send` without any unsafe pin projection.
pub struct SimTimeout<F> {
    future: Pin<Box<F>>,
    sleep: Pin<Box<madsim::time::Sleep>>,
}

impl<R, F: Future<Output = R>> Future for SimTimeout<F> {
    type Output = Result<R, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The future first: one that is ready at its deadline still counts as in time.
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `future`, or `Err(Elapsed)` once `duration` of simulated time has passed without it
/// finishing. `Send` whenever `future` is (madsim's own `timeout` never is).
pub fn timeout<F: Future>(duration: Duration, future: F) -> SimTimeout<F> {
    SimTimeout { future: Box::pin(future), sleep: Box::pin(madsim::time::sleep(duration)) }
}

impl AsyncRuntime for SimRuntime {
    type JoinError = madsim::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = madsim::task::JoinHandle<T>;
    type Sleep = madsim::time::Sleep;
    type Instant = Instant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = SimTimeout<T>;
    type ThreadLocalRng = SmallRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        madsim::task::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        madsim::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        madsim::time::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        SimTimeout {
            future: Box::pin(future),
            sleep: Box::pin(madsim::time::sleep_until(deadline)),
        }
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        SmallRng::seed_from_u64(madsim::rand::random::<u64>())
    }

    type Mpsc = SimMpsc;
    type Watch = SimWatch;
    type Oneshot = SimOneshot;
    type Mutex<T: OptionalSend + 'static> = SimMutex<T>;

    fn new(_threads: usize) -> Self {
        SimRuntime { runtime: madsim::runtime::Runtime::new() }
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.runtime.block_on(future)
    }

    async fn spawn_blocking<F, T>(f: F) -> Result<T, io::Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // No OS threads in the simulation: run it here, when awaited.
        Ok(f())
    }
}

// ---- mpsc: tokio's bounded channel -------------------------------------------------------

/// openraft's bounded mpsc on tokio's channel.
pub struct SimMpsc;

/// The sending half.
pub struct SimMpscSender<T>(tokio::sync::mpsc::Sender<T>);
/// The receiving half.
pub struct SimMpscReceiver<T>(tokio::sync::mpsc::Receiver<T>);
/// A sender that does not keep the channel open.
pub struct SimMpscWeakSender<T>(tokio::sync::mpsc::WeakSender<T>);

impl<T> Clone for SimMpscSender<T> {
    fn clone(&self) -> Self {
        SimMpscSender(self.0.clone())
    }
}

impl<T> Clone for SimMpscWeakSender<T> {
    fn clone(&self) -> Self {
        SimMpscWeakSender(self.0.clone())
    }
}

impl Mpsc for SimMpsc {
    type Sender<T: OptionalSend> = SimMpscSender<T>;
    type Receiver<T: OptionalSend> = SimMpscReceiver<T>;
    type WeakSender<T: OptionalSend> = SimMpscWeakSender<T>;

    fn channel<T: OptionalSend>(buffer: usize) -> (Self::Sender<T>, Self::Receiver<T>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(buffer);
        (SimMpscSender(sender), SimMpscReceiver(receiver))
    }
}

impl<T: OptionalSend> MpscSender<SimMpsc, T> for SimMpscSender<T> {
    async fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.0.send(msg).await.map_err(|error| SendError(error.0))
    }

    fn downgrade(&self) -> SimMpscWeakSender<T> {
        SimMpscWeakSender(self.0.downgrade())
    }
}

impl<T: OptionalSend> MpscReceiver<T> for SimMpscReceiver<T> {
    fn recv(&mut self) -> impl Future<Output = Option<T>> + OptionalSend {
        self.0.recv()
    }

    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.0.try_recv().map_err(|error| match error {
            tokio::sync::mpsc::error::TryRecvError::Empty => TryRecvError::Empty,
            tokio::sync::mpsc::error::TryRecvError::Disconnected => TryRecvError::Disconnected,
        })
    }
}

impl<T: OptionalSend> MpscWeakSender<SimMpsc, T> for SimMpscWeakSender<T> {
    fn upgrade(&self) -> Option<SimMpscSender<T>> {
        self.0.upgrade().map(SimMpscSender)
    }
}

// ---- oneshot: tokio's ------------------------------------------------------------------

/// openraft's oneshot on tokio's.
pub struct SimOneshot;

/// The sending half.
pub struct SimOneshotSender<T>(tokio::sync::oneshot::Sender<T>);

impl Oneshot for SimOneshot {
    type Sender<T: OptionalSend> = SimOneshotSender<T>;
    type Receiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;
    type ReceiverError = tokio::sync::oneshot::error::RecvError;

    fn channel<T: OptionalSend>() -> (Self::Sender<T>, Self::Receiver<T>) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        (SimOneshotSender(sender), receiver)
    }
}

impl<T: OptionalSend> OneshotSender<T> for SimOneshotSender<T> {
    fn send(self, t: T) -> Result<(), T> {
        self.0.send(t)
    }
}

// ---- mutex: tokio's (FIFO) ---------------------------------------------------------------

/// openraft's async mutex on tokio's, which hands the lock over in FIFO order.
pub struct SimMutex<T>(tokio::sync::Mutex<T>);

impl<T: OptionalSend + 'static> Mutex<T> for SimMutex<T> {
    type Guard<'a> = tokio::sync::MutexGuard<'a, T>;

    fn new(value: T) -> Self {
        SimMutex(tokio::sync::Mutex::new(value))
    }

    fn lock(&self) -> impl Future<Output = Self::Guard<'_>> + OptionalSend {
        self.0.lock()
    }
}

// ---- watch: our own, with one FIFO notify ------------------------------------------------

/// openraft's watch channel: the latest value with a version; every change bumps the version
/// and wakes all waiters through one `Notify`, in the order they started waiting.
pub struct SimWatch;

struct WatchShared<T> {
    value: RwLock<T>,
    /// Bumped (under the write lock) by every change.
    version: AtomicU64,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl<T> WatchShared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        // A panic while holding the lock leaves a value that is still whole (writers only
        // assign), so a poisoned lock is read as usual.
        self.value.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn closed(&self) -> bool {
        self.senders.load(Ordering::SeqCst) == 0
    }
}

/// The sending half of a watch channel.
pub struct SimWatchSender<T> {
    shared: Arc<WatchShared<T>>,
}

/// The receiving half of a watch channel.
pub struct SimWatchReceiver<T> {
    shared: Arc<WatchShared<T>>,
    /// The version this receiver has seen.
    seen: u64,
}

impl Watch for SimWatch {
    type Sender<T: OptionalSend + OptionalSync> = SimWatchSender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = SimWatchReceiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = RwLockReadGuard<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Self::Sender<T>, Self::Receiver<T>) {
        let shared = Arc::new(WatchShared {
            value: RwLock::new(init),
            version: AtomicU64::new(0),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            changed: tokio::sync::Notify::new(),
        });
        (SimWatchSender { shared: shared.clone() }, SimWatchReceiver { shared, seen: 0 })
    }
}

impl<T> Clone for SimWatchSender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::SeqCst);
        SimWatchSender { shared: self.shared.clone() }
    }
}

impl<T> Drop for SimWatchSender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last sender: waiting receivers learn the channel closed.
            self.shared.changed.notify_waiters();
        }
    }
}

impl<T> Clone for SimWatchReceiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        SimWatchReceiver { shared: self.shared.clone(), seen: self.seen }
    }
}

impl<T> Drop for SimWatchReceiver<T> {
    fn drop(&mut self) {
        self.shared.receivers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T: OptionalSend + OptionalSync> WatchSender<SimWatch, T> for SimWatchSender<T> {
    fn send(&self, value: T) -> Result<(), openraft::rt::watch::SendError<T>> {
        if self.shared.receivers.load(Ordering::SeqCst) == 0 {
            return Err(openraft::rt::watch::SendError(value));
        }
        self.send_if_modified(|current| {
            *current = value;
            true
        });
        Ok(())
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        let modified = {
            let mut value =
                self.shared.value.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let modified = modify(&mut value);
            if modified {
                self.shared.version.fetch_add(1, Ordering::SeqCst);
            }
            modified
        };
        if modified {
            self.shared.changed.notify_waiters();
        }
        modified
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        self.shared.read()
    }

    fn subscribe(&self) -> SimWatchReceiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        let value = self.shared.read();
        let seen = self.shared.version.load(Ordering::SeqCst);
        drop(value);
        SimWatchReceiver { shared: self.shared.clone(), seen }
    }
}

impl<T: OptionalSend + OptionalSync> WatchReceiver<SimWatch, T> for SimWatchReceiver<T> {
    async fn changed(&mut self) -> Result<(), RecvError> {
        loop {
            // Register interest before looking, so a change between the look and the wait
            // still wakes us.
            let notified = self.shared.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let version = self.shared.version.load(Ordering::SeqCst);
            if version != self.seen {
                self.seen = version;
                return Ok(());
            }
            if self.shared.closed() {
                return Err(RecvError(()));
            }
            notified.await;
        }
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        self.shared.read()
    }

    fn borrow_and_update(&mut self) -> RwLockReadGuard<'_, T> {
        let value = self.shared.read();
        // Versions only move under the write lock, so this one matches the value read.
        self.seen = self.shared.version.load(Ordering::SeqCst);
        value
    }
}

#[cfg(test)]
mod tests {
    /// openraft's own conformance suite for runtimes: tasks, time, timeouts, select, mpsc,
    /// oneshot, mutex and watch semantics.
    #[test]
    fn passes_openraft_runtime_suite() {
        openraft::rt::testing::Suite::<super::SimRuntime>::test_all();
    }
}
