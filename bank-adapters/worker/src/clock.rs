//! The worker's two clocks, read only by the loops (never by the pure cores, which are
//! handed the readings): a monotonic one for leases and waits (`tokio::time`, which the
//! simulation drives) and the wall clock for bank documents and payout ages.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Milliseconds since `origin` on the monotonic clock.
pub(crate) fn elapsed_ms(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Unix time in nanoseconds (0 if the wall clock is before 1970).
pub(crate) fn unix_ns() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}
