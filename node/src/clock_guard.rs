//! The leader's check of its own clock before it stamps an entry (issue 11 item 4).
//!
//! The leader's clock stamps every entry, and the ledger judges daily limits, pending-transfer
//! expiry and payout leases at that time, so a leader whose clock is far off would expire every
//! hold and lease at once (ahead) or freeze time (behind). Before it stamps a group, the leader
//! asks `ClockGuard::check`: its clock must be known to be within `max_offset` of a majority of
//! the voters (itself counting as one). A peer counts when its latest measured offset
//! (`peer_clocks`, taken on append-entries round trips) is fresh — younger than
//! `sample_age_max` by the monotonic clock — and, carried forward to now, within the bound
//! including the measurement's uncertainty (half its round trip).
//!
//! Carried forward: a sample was taken at this node's wall time `w` and monotonic time `m`;
//! if since then the wall clock moved by more or less than the monotonic one, this node's clock
//! jumped by the difference, and the peer's offset from it changed by the same amount the other
//! way. So a leader whose clock jumps an hour between two heartbeats is caught at its next
//! stamp, not a heartbeat later.
//!
//! Unknown is not agreement: a new leader that has not yet heard its followers' clocks waits
//! for its first round trips (group commit waits, bounded, before refusing), so no entry is
//! ever stamped by a clock nobody vouched for.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use tianping_raft_store::NodeId;
use tokio::time::Instant;

use crate::LedgerRaft;
use crate::clock::Clock;
use crate::metrics::NodeMetrics;
use crate::peer_clocks::PeerClocks;

/// What the check knows of one peer's clock now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerReading {
    /// A fresh sample: the peer's offset from this node's clock now (nanoseconds, positive:
    /// the peer is ahead) and how uncertain it is (half the sample's round trip).
    Measured { offset_ns: i128, uncertainty_ns: u64 },
    /// No sample, or one too old to trust.
    Unknown,
}

/// Decides whether this node's clock agrees with a majority of `voters`: pure, so the rule is
/// tested on its own. `Err` says why not, for the refusal and the log.
pub(crate) fn judge(
    node_id: NodeId,
    voters: &[NodeId],
    readings: &BTreeMap<NodeId, PeerReading>,
    max_offset_ns: u64,
) -> Result<(), String> {
    let needed = voters.len() / 2 + 1;
    let mut agreeing = 0_usize;
    let mut far = Vec::new();
    let mut unknown = Vec::new();
    for &voter in voters {
        if voter == node_id {
            agreeing += 1;
            continue;
        }
        match readings.get(&voter).copied().unwrap_or(PeerReading::Unknown) {
            PeerReading::Measured { offset_ns, uncertainty_ns } => {
                if offset_ns.unsigned_abs() + u128::from(uncertainty_ns)
                    <= u128::from(max_offset_ns)
                {
                    agreeing += 1;
                } else {
                    far.push(format!("{voter}: {} ms", offset_ns / 1_000_000));
                }
            }
            PeerReading::Unknown => unknown.push(voter),
        }
    }
    if agreeing >= needed {
        return Ok(());
    }
    Err(format!(
        "clock offset: node {node_id}'s clock is not known to be within {} ms of a majority of \
         the voters ({agreeing} of {} agree, {needed} needed; peers off by [{}]; not yet \
         measured {unknown:?})",
        max_offset_ns / 1_000_000,
        voters.len(),
        far.join(", ")
    ))
}

/// How often a leader whose clock is not yet vouched for looks again while it waits.
const AGREEMENT_POLL: Duration = Duration::from_millis(10);

/// The leader's clock check: see the module documentation.
pub(crate) struct ClockGuard {
    node_id: NodeId,
    raft: LedgerRaft,
    clock: Clock,
    peers: PeerClocks,
    max_offset_ns: u64,
    sample_age_max: Duration,
    /// Longest a group waits for the clock to be vouched for before it is refused.
    agreement_wait: Duration,
    metrics: Arc<NodeMetrics>,
}

/// How a `ClockGuard` judges: the bound and how long samples and waits may last.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockRules {
    /// The largest offset from a majority at which the leader still stamps.
    pub(crate) max_offset: Duration,
    /// Samples older than this do not count.
    pub(crate) sample_age_max: Duration,
    /// Longest a group waits for agreement before it is refused.
    pub(crate) agreement_wait: Duration,
}

impl ClockGuard {
    /// The check for node `node_id`, whose clock is `clock` and whose peers' offsets
    /// `peers` holds, by `rules`; refusals are counted in `metrics`.
    pub(crate) fn new(
        node_id: NodeId,
        raft: LedgerRaft,
        clock: Clock,
        peers: PeerClocks,
        rules: ClockRules,
        metrics: Arc<NodeMetrics>,
    ) -> ClockGuard {
        ClockGuard {
            node_id,
            raft,
            clock,
            peers,
            max_offset_ns: u64::try_from(rules.max_offset.as_nanos()).unwrap_or(u64::MAX),
            sample_age_max: rules.sample_age_max,
            agreement_wait: rules.agreement_wait,
            metrics,
        }
    }

    /// The time to stamp a group with: this node's clock, once it agrees with a majority of
    /// the voters — waiting at most `agreement_wait` for round trips to vouch for it (a new
    /// leader's first heartbeats) — or why it does not. A refusal is logged at warn and
    /// counted: it is an operator's alert.
    pub(crate) async fn stamp(&self) -> Result<u64, String> {
        let deadline = Instant::now() + self.agreement_wait;
        loop {
            match self.check() {
                // Read right after the check, with no wait in between.
                Ok(()) => return Ok(self.clock.now_ns()),
                Err(refusal) if Instant::now() >= deadline => {
                    tracing::warn!(node_id = self.node_id, %refusal, "refusing to stamp writes");
                    self.metrics.record_clock_refusal();
                    return Err(refusal);
                }
                Err(_) => tokio::time::sleep(AGREEMENT_POLL).await,
            }
        }
    }

    /// `Ok` when this node's clock agrees with a majority of the voters now (see `judge`).
    fn check(&self) -> Result<(), String> {
        let voters: Vec<NodeId> = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow_watched();
            metrics.membership_config.membership().voter_ids().collect()
        };
        let now_ns = i128::from(self.clock.now_ns());
        let now = Instant::now();
        let readings = self
            .peers
            .all()
            .into_iter()
            .map(|(peer, sample)| {
                let age = now.saturating_duration_since(sample.measured_at);
                if age > self.sample_age_max {
                    return (peer, PeerReading::Unknown);
                }
                // How far this node's wall clock moved beyond its monotonic clock since the
                // sample: a jump, which moves the peer's offset the other way.
                let wall_moved = now_ns - i128::from(sample.offset.measured_at_ns);
                let jump = wall_moved - i128::try_from(age.as_nanos()).unwrap_or(i128::MAX);
                let offset_ns = i128::from(sample.offset.offset_ns) - jump;
                let uncertainty_ns = sample.offset.round_trip_ns / 2;
                (peer, PeerReading::Measured { offset_ns, uncertainty_ns })
            })
            .collect();
        judge(self.node_id, &voters, &readings, self.max_offset_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i128 = 1_000_000;
    const MAX: u64 = 500 * 1_000_000;

    fn measured(offset_ms: i128) -> PeerReading {
        PeerReading::Measured { offset_ns: offset_ms * MS, uncertainty_ns: 10 * 1_000_000 }
    }

    fn check(voters: &[NodeId], readings: &[(NodeId, PeerReading)]) -> Result<(), String> {
        judge(1, voters, &readings.iter().copied().collect(), MAX)
    }

    #[test]
    fn a_majority_within_the_bound_agrees() {
        assert_eq!(check(&[1, 2, 3], &[(2, measured(100)), (3, measured(-3_600_000))]), Ok(()));
        assert_eq!(check(&[1, 2, 3, 4, 5], &[(2, measured(0)), (3, measured(-480))]), Ok(()));
    }

    #[test]
    fn a_leader_far_from_every_peer_is_refused() {
        let refusal =
            check(&[1, 2, 3], &[(2, measured(-3_600_000)), (3, measured(-3_600_010))]).unwrap_err();
        assert!(refusal.starts_with("clock offset:"), "{refusal}");
        assert!(refusal.contains("2: -3600000 ms"), "{refusal}");
    }

    #[test]
    fn the_uncertainty_counts_against_agreement() {
        // 495 ms off, uncertain by 10 ms: it may be 505 ms off.
        assert!(check(&[1, 2, 3], &[(2, measured(495)), (3, measured(495))]).is_err());
    }

    #[test]
    fn unknown_clocks_are_not_agreement() {
        let refusal = check(&[1, 2, 3], &[(2, PeerReading::Unknown)]).unwrap_err();
        assert!(refusal.contains("not yet measured [2, 3]"), "{refusal}");
    }

    #[test]
    fn a_lone_voter_agrees_with_itself() {
        assert_eq!(check(&[1], &[]), Ok(()));
        // A node that is not a voter (a learner promoted away) never agrees alone.
        assert!(judge(9, &[1, 2, 3], &BTreeMap::new(), MAX).is_err());
    }
}
