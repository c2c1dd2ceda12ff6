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
//!
//! A leader refused does not stay leader: it hands leadership (`step_down`) to the voter whose
//! clock agrees with the most voters — a majority, or nobody — so a node with a bad clock stops
//! leading within about an election timeout instead of refusing every write until its clock is
//! set right. `vouches_for` lets the preferred-leader loop skip a candidate whose clock this
//! leader would not vouch for, so it never hands leadership back.
//!
//! How far one entry may move log time (`bound_stamp`): the majority check cannot see a jump
//! every clock makes at once (one bad time source feeding the whole fleet). Within a term, the
//! leader anchors its stamps to its monotonic clock: a stamp more than `max_offset` away from
//! where the last accepted stamp plus the monotonic time since it says time is now is held to
//! that window (and counted, `tianping_clock_clamps`), so log time moves at the rate real
//! time does, give or take `max_offset`, however the wall clocks jump. A stamp inside the
//! window becomes the new anchor, so the monotonic clock's own drift never accumulates. A new
//! term's first stamp has no anchor and is bounded by the majority check alone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use tianping_raft_store::NodeId;
use tokio::time::Instant;

use crate::LedgerRaft;
use crate::clock::Clock;
use crate::metrics::NodeMetrics;
use crate::peer_clocks::{PeerClocks, Sample};

/// What the check knows of one peer's clock now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerReading {
    /// A fresh sample: the peer's offset from this node's clock now (nanoseconds, positive:
    /// the peer is ahead) and how uncertain it is (half the sample's round trip).
    Measured { offset_ns: i128, uncertainty_ns: u64 },
    /// No sample, or one too old to trust.
    Unknown,
}

impl PeerReading {
    /// Whether the peer's clock is within `max_offset_ns` of this node's even at the far end
    /// of the measurement's uncertainty; an unknown clock never is.
    fn within(self, max_offset_ns: u64) -> bool {
        match self {
            PeerReading::Measured { offset_ns, uncertainty_ns } => {
                offset_ns.unsigned_abs() + u128::from(uncertainty_ns) <= u128::from(max_offset_ns)
            }
            PeerReading::Unknown => false,
        }
    }
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
            reading @ PeerReading::Measured { offset_ns, .. } => {
                if reading.within(max_offset_ns) {
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

/// The voter a leader whose clock is refused should hand leadership to: the one whose clock
/// agrees with the most voters (this node's view of each peer's offset, so two peers' offsets
/// are compared with each other), if that is a majority; among equals the least uncertain, then
/// the lowest id. `None`: no voter's clock is vouched for by a majority either.
pub(crate) fn successor(
    node_id: NodeId,
    voters: &[NodeId],
    readings: &BTreeMap<NodeId, PeerReading>,
    max_offset_ns: u64,
) -> Option<NodeId> {
    let needed = voters.len() / 2 + 1;
    let measured = |voter: NodeId| match readings.get(&voter) {
        Some(PeerReading::Measured { offset_ns, uncertainty_ns }) => {
            Some((*offset_ns, u128::from(*uncertainty_ns)))
        }
        _ => None,
    };
    let bound = u128::from(max_offset_ns);
    voters
        .iter()
        .filter(|candidate| **candidate != node_id)
        .filter_map(|&candidate| {
            let (offset, uncertainty) = measured(candidate)?;
            let agreeing = voters
                .iter()
                .filter(|&&voter| {
                    if voter == candidate {
                        return true;
                    }
                    if voter == node_id {
                        return readings.get(&candidate).is_some_and(|r| r.within(max_offset_ns));
                    }
                    measured(voter).is_some_and(|(other, other_uncertainty)| {
                        (offset - other).unsigned_abs() + uncertainty + other_uncertainty <= bound
                    })
                })
                .count();
            (agreeing >= needed).then_some((std::cmp::Reverse(agreeing), uncertainty, candidate))
        })
        .min()
        .map(|(_, _, candidate)| candidate)
}

/// Where a leader's stamps are anchored within its term: the last stamp it accepted as it
/// read it, and when, by the monotonic clock (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// The term the anchor belongs to: a new term starts without one.
    pub(crate) term: u64,
    /// The accepted stamp, in nanoseconds since the Unix epoch.
    pub(crate) wall_ns: u64,
    /// When it was read, by the monotonic clock.
    pub(crate) at: Instant,
}

/// The stamp to use when the wall clock reads `wall_ns` at monotonic `now` in `term`, and the
/// anchor to keep: the reading itself when it is within `max_offset_ns` of where `anchor` says
/// time is now (or there is no anchor in this term), else the nearest time inside that window.
pub(crate) fn bound_stamp(
    anchor: Option<Anchor>,
    term: u64,
    wall_ns: u64,
    now: Instant,
    max_offset_ns: u64,
) -> (u64, Anchor) {
    let fresh = Anchor { term, wall_ns, at: now };
    let Some(anchor) = anchor.filter(|anchor| anchor.term == term) else {
        return (wall_ns, fresh);
    };
    let elapsed =
        i128::try_from(now.saturating_duration_since(anchor.at).as_nanos()).unwrap_or(i128::MAX);
    let expected = i128::from(anchor.wall_ns).saturating_add(elapsed);
    let (low, high) = (expected - i128::from(max_offset_ns), expected + i128::from(max_offset_ns));
    let wall = i128::from(wall_ns);
    if (low..=high).contains(&wall) {
        return (wall_ns, fresh);
    }
    let held = wall.clamp(low.max(0), high.max(0));
    (u64::try_from(held).unwrap_or(u64::MAX), anchor)
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
    /// This term's anchor (`bound_stamp`).
    anchor: Mutex<Option<Anchor>>,
    /// When this node last handed leadership away for its clock: one hand-over at a time.
    stepped_down_at: Mutex<Option<Instant>>,
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
            anchor: Mutex::new(None),
            stepped_down_at: Mutex::new(None),
        }
    }

    /// The time to stamp a group with: this node's clock, once it agrees with a majority of
    /// the voters — waiting at most `agreement_wait` for round trips to vouch for it (a new
    /// leader's first heartbeats) — held within the term's window (`bound_stamp`), or why it
    /// does not agree. A refusal is logged at warn and counted: it is an operator's alert; and
    /// the leader steps down (`step_down`).
    pub(crate) async fn stamp(&self) -> Result<u64, String> {
        let deadline = Instant::now() + self.agreement_wait;
        loop {
            let (voters, term) = self.voters_and_term();
            let readings = self.readings();
            match judge(self.node_id, &voters, &readings, self.max_offset_ns) {
                // Read right after the check, with no wait in between.
                Ok(()) => return Ok(self.bounded(term, self.clock.now_ns())),
                Err(refusal) if Instant::now() >= deadline => {
                    tracing::warn!(node_id = self.node_id, %refusal, "refusing to stamp writes");
                    self.metrics.record_clock_refusal();
                    self.step_down(&voters, &readings);
                    return Err(refusal);
                }
                Err(_) => tokio::time::sleep(AGREEMENT_POLL).await,
            }
        }
    }

    /// Whether this node's view vouches for `peer`'s clock: a fresh sample within the bound,
    /// uncertainty included. The preferred-leader loop hands leadership only to such a peer.
    pub(crate) fn vouches_for(&self, peer: NodeId) -> bool {
        self.readings().get(&peer).is_some_and(|reading| reading.within(self.max_offset_ns))
    }

    /// Every peer this node has measured: its offset carried forward to now, the offset's
    /// uncertainty, the sample's age and whether it is fresh enough to count (`ClusterStatus`).
    pub(crate) fn peer_clocks(&self) -> Vec<PeerClockView> {
        let now_ns = i128::from(self.clock.now_ns());
        let now = Instant::now();
        self.peers
            .all()
            .into_iter()
            .map(|(node_id, sample)| {
                let age = now.saturating_duration_since(sample.measured_at);
                PeerClockView {
                    node_id,
                    offset_ns: carried_forward(&sample, now_ns, age),
                    uncertainty_ns: sample.offset.round_trip_ns / 2,
                    age,
                    fresh: age <= self.sample_age_max,
                }
            })
            .collect()
    }

    /// `wall_ns`, or the nearest time inside this term's window (`bound_stamp`); a held-back
    /// stamp is logged and counted.
    fn bounded(&self, term: u64, wall_ns: u64) -> u64 {
        let mut anchor = lock(&self.anchor);
        let (stamp, next) = bound_stamp(*anchor, term, wall_ns, Instant::now(), self.max_offset_ns);
        *anchor = Some(next);
        drop(anchor);
        if stamp != wall_ns {
            self.metrics.record_clock_clamp();
            tracing::warn!(
                node_id = self.node_id,
                wall_ns,
                stamp,
                "the wall clock jumped within this term: stamping the time the monotonic clock \
                 says instead"
            );
        }
        stamp
    }

    /// Hands leadership to `successor`'s pick, if this node leads and has not just done so;
    /// in the background, so the refusal is answered at once.
    fn step_down(&self, voters: &[NodeId], readings: &BTreeMap<NodeId, PeerReading>) {
        let leading = self.raft.metrics().borrow_watched().current_leader == Some(self.node_id);
        if !leading {
            return;
        }
        let Some(target) = successor(self.node_id, voters, readings, self.max_offset_ns) else {
            tracing::warn!(
                node_id = self.node_id,
                "clock refused and no voter's clock is vouched for by a majority: staying leader"
            );
            return;
        };
        {
            let mut stepped_down_at = lock(&self.stepped_down_at);
            let now = Instant::now();
            // One hand-over per election timeout or so: the target needs that long to win.
            if stepped_down_at
                .is_some_and(|at| now.saturating_duration_since(at) < self.agreement_wait)
            {
                return;
            }
            *stepped_down_at = Some(now);
        }
        tracing::warn!(
            node_id = self.node_id,
            target,
            "this node's clock is not vouched for by a majority: handing leadership to node {target}"
        );
        self.metrics.record_clock_step_down();
        let raft = self.raft.clone();
        tokio::spawn(async move {
            // An error means Raft stopped; nothing is left to hand over.
            let _ = raft.trigger().transfer_leader(target).await;
        });
    }

    /// The voters of the current membership and the current term.
    fn voters_and_term(&self) -> (Vec<NodeId>, u64) {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        (metrics.membership_config.membership().voter_ids().collect(), metrics.current_term)
    }

    /// Every peer's reading now: fresh samples carried forward across this node's own wall
    /// clock jumps, stale ones unknown (see the module documentation).
    fn readings(&self) -> BTreeMap<NodeId, PeerReading> {
        self.peer_clocks()
            .into_iter()
            .map(|view| {
                let reading = if view.fresh {
                    PeerReading::Measured {
                        offset_ns: view.offset_ns,
                        uncertainty_ns: view.uncertainty_ns,
                    }
                } else {
                    PeerReading::Unknown
                };
                (view.node_id, reading)
            })
            .collect()
    }
}

/// `sample`'s offset carried forward to now (`now_ns` by this node's wall clock, `age` after
/// the sample by its monotonic one): how far this node's wall clock moved beyond its monotonic
/// clock since the sample is a jump, which moves the peer's offset the other way.
fn carried_forward(sample: &Sample, now_ns: i128, age: Duration) -> i128 {
    let wall_moved = now_ns - i128::from(sample.offset.measured_at_ns);
    let jump = wall_moved - i128::try_from(age.as_nanos()).unwrap_or(i128::MAX);
    i128::from(sample.offset.offset_ns) - jump
}

/// One peer's clock as `ClockGuard::peer_clocks` reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerClockView {
    /// The peer.
    pub(crate) node_id: NodeId,
    /// Its clock minus this node's, now, in nanoseconds.
    pub(crate) offset_ns: i128,
    /// How far the offset may be off (half the round trip), in nanoseconds.
    pub(crate) uncertainty_ns: u64,
    /// How long ago it was measured.
    pub(crate) age: Duration,
    /// Whether it counts in the leader's check.
    pub(crate) fresh: bool,
}

/// A lock that a panic elsewhere cannot poison: each value is written whole under it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    fn a_refused_leader_hands_over_to_the_voter_a_majority_vouches_for() {
        let readings: BTreeMap<NodeId, PeerReading> =
            [(2, measured(-3_600_000)), (3, measured(-3_600_050)), (4, measured(-3_599_900))]
                .into_iter()
                .collect();
        // This leader is an hour ahead: 2, 3 and 4 agree with each other; 2 is as good as any
        // and the lowest id among the least uncertain.
        assert_eq!(successor(1, &[1, 2, 3, 4, 5], &readings, MAX), Some(2));
        // 2 is apart from the others as well: 3 (agreeing with 4, and 5 unknown) has no
        // majority of 5 either, so nobody is vouched for.
        let readings: BTreeMap<NodeId, PeerReading> =
            [(2, measured(-1_800_000)), (3, measured(-3_600_000)), (4, measured(-3_600_100))]
                .into_iter()
                .collect();
        assert_eq!(successor(1, &[1, 2, 3, 4, 5], &readings, MAX), None);
        // With 5 measured too, 3, 4 and 5 agree: 3 leads.
        let mut readings = readings;
        readings.insert(5, measured(-3_600_200));
        assert_eq!(successor(1, &[1, 2, 3, 4, 5], &readings, MAX), Some(3));
        // Unknown peers are never chosen.
        assert_eq!(successor(1, &[1, 2, 3], &BTreeMap::new(), MAX), None);
    }

    #[test]
    fn within_a_term_log_time_moves_as_the_monotonic_clock_does() {
        const SECOND: u64 = 1_000_000_000;
        let start = Instant::now();
        let base = 1_800_000_000 * SECOND;
        let (first, anchor) = bound_stamp(None, 4, base, start, MAX);
        assert_eq!(first, base, "a term's first stamp is the clock's reading");
        // One second later the clock reads one second later: accepted, and the new anchor.
        let later = start + Duration::from_secs(1);
        let (stamp, next) = bound_stamp(Some(anchor), 4, base + SECOND, later, MAX);
        assert_eq!((stamp, next.wall_ns), (base + SECOND, base + SECOND));
        // Every clock jumps an hour ahead at once: the stamp is held to the window's edge, and
        // the anchor stays where it was, so the next stamps do not creep forward.
        let hour = 3_600 * SECOND;
        let (held, kept) = bound_stamp(Some(next), 4, base + SECOND + hour, later, MAX);
        assert_eq!(held, base + SECOND + MAX);
        assert_eq!(kept, next);
        let (held, _) = bound_stamp(
            Some(kept),
            4,
            base + 2 * SECOND + hour,
            later + Duration::from_secs(1),
            MAX,
        );
        assert_eq!(held, base + 2 * SECOND + MAX);
        // An hour back: held to the window's lower edge, not frozen.
        let (held, _) = bound_stamp(Some(kept), 4, base + SECOND - hour, later, MAX);
        assert_eq!(held, base + SECOND - MAX);
        // A new term starts from the clock again (the majority check bounds it).
        let (stamp, _) = bound_stamp(Some(kept), 5, base + hour, later, MAX);
        assert_eq!(stamp, base + hour);
    }

    #[test]
    fn a_lone_voter_agrees_with_itself() {
        assert_eq!(check(&[1], &[]), Ok(()));
        // A node that is not a voter (a learner promoted away) never agrees alone.
        assert!(judge(9, &[1, 2, 3], &BTreeMap::new(), MAX).is_err());
    }
}
