//! Raft timings from the distance between data centers.
//!
//! openraft abandons a heartbeat that is not answered within one heartbeat interval, and
//! by default gives an append-entries message three quarters of one. Timings sized for
//! one data center (100 ms heartbeats) then fail across regions: with a 150 ms round trip
//! the leader of a 2 + 2 + 1 cluster never hears a quorum, its lease lapses and every write
//! and read is refused while the network is merely far. So a node is told the longest round
//! trip between its data centers (`NodeConfig::inter_dc_round_trip_ms`); every timing left
//! unset derives from it, and every timing set by hand is checked against it here, at start,
//! with an error naming the key and the rule.
//!
//! The rules, each with why (`rtt` is the configured round trip):
//!
//! | timing | default | must hold |
//! |---|---|---|
//! | heartbeat | max(100 ms, 2 × rtt) | ≥ 1.5 × rtt: answered inside one interval, with room for jitter |
//! | election min | max(300 ms, 3 × heartbeat) | ≥ 2 × heartbeat + rtt: one lost heartbeat starts no election |
//! | election max | 2 × election min | ≥ election min + rtt: candidates drawn apart by a vote's round trip |
//! | append-entries deadline | max(1 s, 4 × rtt) | ≥ 2 × rtt: an answer can arrive at all (a follower fsyncs first) |
//! | forward deadline | 5 s | ≥ 4 × rtt: the hop to the leader, its quorum round trip, the way back |
//!
//! The leader's lease is openraft's election max, so a wider round trip also lengthens how
//! long a deposed leader may still serve bounded-staleness reads and how long failover
//! takes: that is the price of distance, not a choice made here.

use std::fmt;
use std::time::Duration;

use crate::config::NodeConfig;

/// Longest round trip a node accepts as "between data centers": beyond it the link is not a
/// network a consensus group can run over.
pub const ROUND_TRIP_MS_MAX: u64 = 10_000;

/// The timings a node runs Raft with, all derived and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftTimings {
    /// The round trip between data centers the timings were made for.
    pub round_trip: Duration,
    /// How often the leader sends heartbeats.
    pub heartbeat_interval: Duration,
    /// Shortest election timeout.
    pub election_timeout_min: Duration,
    /// Longest election timeout (and the leader's lease).
    pub election_timeout_max: Duration,
    /// Longest the leader waits for an append-entries answer before it retries.
    pub rpc_timeout: Duration,
    /// Longest a follower waits for the leader when it forwards a client request.
    pub forward_timeout: Duration,
}

/// A timing that cannot work at the configured distance: which key, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingError {
    /// The configuration key to change.
    pub key: &'static str,
    /// What is wrong, with the numbers and the rule.
    pub message: String,
}

impl fmt::Display for TimingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for TimingError {}

impl RaftTimings {
    /// The timings `config` asks for: unset ones derived from its round trip, every one
    /// checked against it (see the module doc for the rules).
    pub fn of(config: &NodeConfig) -> Result<RaftTimings, TimingError> {
        let rtt = config.inter_dc_round_trip_ms;
        if rtt == 0 || rtt > ROUND_TRIP_MS_MAX {
            return Err(TimingError {
                key: "inter_dc_round_trip_ms",
                message: format!(
                    "{rtt} is outside 1..={ROUND_TRIP_MS_MAX}: give the longest round trip \
                     between two of the cluster's data centers, in milliseconds"
                ),
            });
        }
        let heartbeat = config.heartbeat_interval_ms.unwrap_or(100.max(rtt * 2));
        let heartbeat_floor = (rtt * 3).div_ceil(2);
        if heartbeat < heartbeat_floor {
            return Err(TimingError {
                key: "heartbeat_interval_ms",
                message: format!(
                    "{heartbeat} ms is under 1.5 × inter_dc_round_trip_ms ({rtt} ms) = \
                     {heartbeat_floor} ms: openraft abandons a heartbeat not answered within \
                     one interval, so across data centers none would be acknowledged, the \
                     leader's lease would lapse and every write and read would be refused; \
                     raise it or leave it unset to derive it"
                ),
            });
        }
        let election_min =
            config.election_timeout_ms_min.unwrap_or(300.max(heartbeat.saturating_mul(3)));
        let election_floor = heartbeat.saturating_mul(2).saturating_add(rtt);
        if election_min < election_floor {
            return Err(TimingError {
                key: "election_timeout_ms_min",
                message: format!(
                    "{election_min} ms is under 2 × heartbeat_interval_ms ({heartbeat} ms) + \
                     inter_dc_round_trip_ms ({rtt} ms) = {election_floor} ms: a follower \
                     would campaign after a single late or lost heartbeat"
                ),
            });
        }
        let election_max = config.election_timeout_ms_max.unwrap_or(election_min.saturating_mul(2));
        let spread_floor = election_min.saturating_add(rtt);
        if election_max < spread_floor {
            return Err(TimingError {
                key: "election_timeout_ms_max",
                message: format!(
                    "{election_max} ms is under election_timeout_ms_min ({election_min} ms) + \
                     inter_dc_round_trip_ms ({rtt} ms) = {spread_floor} ms: candidates' \
                     timeouts must be drawn further apart than a vote's round trip, or split \
                     votes repeat"
                ),
            });
        }
        let rpc = config.raft_rpc_timeout_ms.unwrap_or(1_000.max(rtt * 4));
        if rpc < rtt * 2 {
            return Err(TimingError {
                key: "raft_rpc_timeout_ms",
                message: format!(
                    "{rpc} ms is under 2 × inter_dc_round_trip_ms ({rtt} ms) = {} ms: an \
                     append-entries answer from another data center could never arrive in time",
                    rtt * 2
                ),
            });
        }
        let forward = config.forward_timeout_ms;
        if forward < rtt * 4 {
            return Err(TimingError {
                key: "forward_timeout_ms",
                message: format!(
                    "{forward} ms is under 4 × inter_dc_round_trip_ms ({rtt} ms) = {} ms: a \
                     forwarded write crosses to the leader, waits for a quorum across data \
                     centers and comes back",
                    rtt * 4
                ),
            });
        }
        Ok(RaftTimings {
            round_trip: Duration::from_millis(rtt),
            heartbeat_interval: Duration::from_millis(heartbeat),
            election_timeout_min: Duration::from_millis(election_min),
            election_timeout_max: Duration::from_millis(election_max),
            rpc_timeout: Duration::from_millis(rpc),
            forward_timeout: Duration::from_millis(forward),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn config(rtt: u64) -> NodeConfig {
        let address = "127.0.0.1:0".parse().expect("address");
        let mut config = NodeConfig::new(1, address, address, PathBuf::from("/tmp/none"));
        config.inter_dc_round_trip_ms = rtt;
        config
    }

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn a_short_round_trip_keeps_the_single_site_defaults() {
        let timings = RaftTimings::of(&config(50)).expect("valid");
        assert_eq!(timings.heartbeat_interval, ms(100));
        assert_eq!(timings.election_timeout_min, ms(300));
        assert_eq!(timings.election_timeout_max, ms(600));
        assert_eq!(timings.rpc_timeout, ms(1_000));
        assert_eq!(timings.forward_timeout, ms(5_000));
    }

    #[test]
    fn a_cross_border_round_trip_stretches_every_derived_timing() {
        let timings = RaftTimings::of(&config(242)).expect("valid");
        assert_eq!(timings.heartbeat_interval, ms(484));
        assert_eq!(timings.election_timeout_min, ms(1_452));
        assert_eq!(timings.election_timeout_max, ms(2_904));
        assert_eq!(timings.rpc_timeout, ms(1_000));
        // The bug this module exists for: openraft cuts a heartbeat off after one interval,
        // and 100 ms is under one cross-border round trip.
        assert!(timings.heartbeat_interval > timings.round_trip * 3 / 2);
    }

    #[test]
    fn a_heartbeat_shorter_than_the_distance_is_refused_with_the_rule() {
        let mut far = config(242);
        far.heartbeat_interval_ms = Some(100);
        let error = RaftTimings::of(&far).expect_err("100 ms heartbeats cannot cross 242 ms");
        assert_eq!(error.key, "heartbeat_interval_ms");
        assert!(
            error.message.contains("1.5 × inter_dc_round_trip_ms (242 ms) = 363 ms"),
            "{error}"
        );
    }

    #[test]
    fn each_hand_set_timing_is_checked_against_the_round_trip() {
        let refused = |edit: fn(&mut NodeConfig)| {
            let mut config = config(200);
            edit(&mut config);
            RaftTimings::of(&config).expect_err("refused").key
        };
        assert_eq!(refused(|c| c.inter_dc_round_trip_ms = 0), "inter_dc_round_trip_ms");
        assert_eq!(refused(|c| c.inter_dc_round_trip_ms = 10_001), "inter_dc_round_trip_ms");
        assert_eq!(refused(|c| c.election_timeout_ms_min = Some(799)), "election_timeout_ms_min");
        assert_eq!(
            refused(|c| {
                c.election_timeout_ms_min = Some(1_000);
                c.election_timeout_ms_max = Some(1_100);
            }),
            "election_timeout_ms_max"
        );
        assert_eq!(refused(|c| c.raft_rpc_timeout_ms = Some(399)), "raft_rpc_timeout_ms");
        assert_eq!(refused(|c| c.forward_timeout_ms = 799), "forward_timeout_ms");
        let mut exact = config(200);
        exact.heartbeat_interval_ms = Some(300);
        exact.election_timeout_ms_min = Some(800);
        exact.election_timeout_ms_max = Some(1_000);
        exact.raft_rpc_timeout_ms = Some(400);
        exact.forward_timeout_ms = 800;
        assert!(RaftTimings::of(&exact).is_ok(), "every bound is inclusive");
    }
}
