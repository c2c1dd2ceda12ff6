//! The node's one reading of the wall clock.
//!
//! The leader stamps every batch with this time before it enters the Raft log (followers
//! never read the clock: they apply the stamped time). All wall-clock reads go through
//! `now_ns` so the simulation, whose `SystemTime` madsim intercepts, controls time here too,
//! and so a later change (a hybrid clock, a fault-injected one) touches one function.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch. A clock set before 1970 reads as 0 and one past year
/// 2554 as `u64::MAX`: the state machine keeps event times strictly increasing whatever
/// the leader's clock says, so a wrong clock skews timestamps but never breaks ordering.
pub fn now_ns() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) => u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2025() {
        // 2025-01-01T00:00:00Z in nanoseconds.
        assert!(super::now_ns() > 1_735_689_600_000_000_000);
    }
}
