//! The node's wall clock, handed to it by its environment.
//!
//! The leader stamps every batch with this time before it enters the Raft log (followers
//! never read the clock: they apply the stamped time), and a node's request ids carry its
//! start time. Every wall-clock read goes through a `Clock` the node's `Environment` supplies:
//! the production environment reads the system clock (`Clock::system`), the simulation's may
//! read madsim's clock shifted by a per-node offset (`Clock::from_fn`), so a fault can set one
//! node's clock apart from the others without any switch inside the node.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, in nanoseconds since the Unix epoch. Cheap to clone: clones
/// read the same source.
#[derive(Clone)]
pub struct Clock {
    read: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl Clock {
    /// The system clock (madsim's, which intercepts `SystemTime`, inside the simulation).
    pub fn system() -> Clock {
        Clock::from_fn(system_now_ns)
    }

    /// A clock that reads `read`: the simulation's skewed clocks, a test's fixed one.
    pub fn from_fn(read: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock { read: Arc::new(read) }
    }

    /// Nanoseconds since the Unix epoch, as this clock tells it.
    pub fn now_ns(&self) -> u64 {
        (self.read)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock").field("now_ns", &self.now_ns()).finish()
    }
}

/// The system clock in nanoseconds since the Unix epoch. A clock set before 1970 reads as 0
/// and one past year 2554 as `u64::MAX`: the state machine keeps event times strictly
/// increasing whatever the leader's clock says, so a wrong clock skews timestamps but never
/// breaks ordering.
pub fn system_now_ns() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) => u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn the_system_clock_is_after_2025() {
        // 2025-01-01T00:00:00Z in nanoseconds.
        assert!(Clock::system().now_ns() > 1_735_689_600_000_000_000);
    }

    #[test]
    fn a_clock_from_a_function_reads_it() {
        let clock = Clock::from_fn(|| 42);
        assert_eq!(clock.clone().now_ns(), 42);
    }
}
