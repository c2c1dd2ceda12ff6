//! How far each peer's wall clock is from this node's, measured on Raft round trips (issue 11
//! item 4).
//!
//! The leader's clock stamps every entry and so decides daily limits, pending-transfer expiry
//! and payout leases; a node needs to know when its clock disagrees with its peers'. Every
//! append-entries (heartbeats included) carries the sender's clock reading when it left
//! (`t1`, `CLOCK_SENT_HEADER`); the receiver answers with its own readings when the request
//! arrived (`t2`) and when the answer left (`t3`); the sender reads its clock when the answer
//! arrives (`t4`). As NTP does, the peer's offset from this node is
//! `((t2 - t1) + (t3 - t4)) / 2`, exact when the two legs of the trip took equally long and
//! wrong by at most half the round trip otherwise, and the round trip is
//! `(t4 - t1) - (t3 - t2)`.
//!
//! `PeerClocks` keeps the latest sample per peer, with the monotonic instant it was taken at
//! (`clock_guard` judges its age by it, and carries it forward across a jump of this node's
//! wall clock). Arithmetic is in `i128`, so no reading of
//! any `u64` clock overflows; an offset beyond `i64` saturates.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tianping_raft_store::NodeId;
use tokio::time::Instant;

/// Request metadata: the sender's clock, in nanoseconds since the Unix epoch, as it sent.
pub const CLOCK_SENT_HEADER: &str = "x-tianping-clock-sent-ns";
/// Response metadata: the receiver's clock as the request arrived.
pub const CLOCK_RECEIVED_HEADER: &str = "x-tianping-clock-received-ns";
/// Response metadata: the receiver's clock as the answer left.
pub const CLOCK_REPLIED_HEADER: &str = "x-tianping-clock-replied-ns";

/// One round trip's four clock readings, each in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundTrip {
    /// This node's clock as the request left (`t1`).
    pub sent_ns: u64,
    /// The peer's clock as the request arrived (`t2`).
    pub received_ns: u64,
    /// The peer's clock as the answer left (`t3`).
    pub replied_ns: u64,
    /// This node's clock as the answer arrived (`t4`).
    pub answered_ns: u64,
}

/// What one round trip says about a peer's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset {
    /// The peer's clock minus this node's, in nanoseconds (positive: the peer is ahead).
    pub offset_ns: i64,
    /// The round trip's time on the wire (the peer's handling subtracted), in nanoseconds;
    /// the offset is uncertain by half of it.
    pub round_trip_ns: u64,
    /// This node's clock when the sample was taken (`t4`).
    pub measured_at_ns: u64,
}

impl RoundTrip {
    /// The offset and round trip these readings give.
    pub fn offset(&self) -> Offset {
        let (t1, t2, t3, t4) = (
            i128::from(self.sent_ns),
            i128::from(self.received_ns),
            i128::from(self.replied_ns),
            i128::from(self.answered_ns),
        );
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        let round_trip = ((t4 - t1) - (t3 - t2)).max(0);
        Offset {
            offset_ns: i64::try_from(offset).unwrap_or(if offset < 0 {
                i64::MIN
            } else {
                i64::MAX
            }),
            round_trip_ns: u64::try_from(round_trip).unwrap_or(u64::MAX),
            measured_at_ns: self.answered_ns,
        }
    }
}

/// One peer's latest offset and when (by this node's monotonic clock) it was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// What the round trip said.
    pub offset: Offset,
    /// When the answer arrived, by the monotonic clock (which no wall-clock jump moves).
    pub measured_at: Instant,
}

/// The latest measured offset of each peer's clock from this node's. Cheap to clone: clones
/// share the samples.
#[derive(Clone, Debug, Default)]
pub struct PeerClocks {
    samples: Arc<Mutex<BTreeMap<NodeId, Sample>>>,
}

impl PeerClocks {
    /// No samples yet.
    pub fn new() -> PeerClocks {
        PeerClocks::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<NodeId, Sample>> {
        // A sample is written whole under the lock: a panic elsewhere cannot leave one torn.
        self.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `round_trip` to `peer`, whose answer arrived at `measured_at`, as its latest
    /// sample.
    pub fn record(&self, peer: NodeId, round_trip: RoundTrip, measured_at: Instant) -> Offset {
        let offset = round_trip.offset();
        self.lock().insert(peer, Sample { offset, measured_at });
        offset
    }

    /// The latest sample of `peer`, if any.
    pub fn sample(&self, peer: NodeId) -> Option<Sample> {
        self.lock().get(&peer).copied()
    }

    /// Every peer's latest sample, by peer id.
    pub fn all(&self) -> BTreeMap<NodeId, Sample> {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sent_ns: u64, received_ns: u64, replied_ns: u64, answered_ns: u64) -> (i64, u64) {
        let offset = RoundTrip { sent_ns, received_ns, replied_ns, answered_ns }.offset();
        (offset.offset_ns, offset.round_trip_ns)
    }

    #[test]
    fn equal_legs_give_the_exact_offset() {
        // The peer is 1 000 ahead; each leg takes 10; the peer takes 5 to answer.
        assert_eq!(check(100, 1_110, 1_115, 125), (1_000, 20));
        // The peer is 1 000 behind.
        assert_eq!(check(2_000, 1_010, 1_015, 2_025), (-1_000, 20));
        // Synchronised clocks.
        assert_eq!(check(0, 10, 15, 25), (0, 20));
    }

    #[test]
    fn unequal_legs_err_by_at_most_half_the_round_trip() {
        // True offset 0; the request takes 30, the answer 10.
        let (offset, round_trip) = check(0, 30, 30, 40);
        assert_eq!(round_trip, 40);
        assert!(offset.unsigned_abs() <= round_trip / 2);
    }

    #[test]
    fn extreme_readings_saturate_instead_of_overflowing() {
        assert_eq!(check(0, u64::MAX, u64::MAX, 0).0, i64::MAX);
        assert_eq!(check(u64::MAX, 0, 0, u64::MAX).0, i64::MIN);
        // A peer that took longer to answer than the whole trip (clocks running at different
        // rates) counts as no wire time, not a negative one.
        assert_eq!(check(0, 0, 100, 10).1, 0);
    }

    #[test]
    fn the_latest_sample_per_peer_is_kept() {
        let clocks = PeerClocks::new();
        let at = Instant::now();
        let trip = |received_ns, answered_ns| RoundTrip {
            sent_ns: 0,
            received_ns,
            replied_ns: received_ns,
            answered_ns,
        };
        clocks.record(2, trip(10, 20), at);
        clocks.record(2, trip(60, 20), at);
        clocks.record(3, trip(5, 10), at);
        assert_eq!(clocks.sample(2).map(|sample| sample.offset.offset_ns), Some(50));
        assert_eq!(clocks.all().keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(clocks.sample(4), None);
    }
}
