//! Keeping the leader in a preferred data center.
//!
//! Clients near one data center pay a cross-data-center round trip per write when the leader
//! is elsewhere, so an operator may name a preferred leader data center
//! (`NodeConfig::preferred_leader_data_center`, changeable at runtime). A small task on every
//! node checks once per `CHECK_INTERVAL`: when this node leads, is outside the preferred data
//! center, and a voter inside it is caught up (lags by at most `CAUGHT_UP_LAG_MAX` entries),
//! it asks openraft to transfer leadership to that voter.
//!
//! It cannot flap: a node acts only after leading for `COOL_DOWN_CHECKS` checks in the same
//! term, and at most once per `COOL_DOWN_CHECKS` checks, so even nodes configured with
//! different preferences hand leadership back and forth at most once per cool-down. When no
//! voter of the preferred data center is caught up (or reachable), nothing happens.
//!
//! Nor does it hand leadership to a voter whose clock this leader does not vouch for
//! (`ClockGuard::vouches_for`): a node stepped down for its clock is never handed leadership
//! back because it sits in the preferred data center.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use tianping_raft_store::{NodeId, NodeInfo};

use crate::LedgerRaft;
use crate::clock_guard::ClockGuard;

/// How often the task looks at the metrics.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Checks a new leader waits, and checks between two transfers: 10 s.
pub const COOL_DOWN_CHECKS: u32 = 10;

/// A voter lagging the leader by at most this many entries counts as caught up: under steady
/// writes a follower is always a few entries behind, and the transfer itself waits until the
/// target holds the whole log.
pub const CAUGHT_UP_LAG_MAX: u64 = 64;

/// This node's preferred leader data center, shared by the admin API (which sets it) and the
/// task (which reads it). Empty means no preference.
#[derive(Clone, Debug, Default)]
pub(crate) struct PreferredDataCenter(Arc<Mutex<String>>);

impl PreferredDataCenter {
    pub(crate) fn new(data_center: String) -> Self {
        PreferredDataCenter(Arc::new(Mutex::new(data_center)))
    }

    pub(crate) fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    pub(crate) fn set(&self, data_center: String) {
        *self.0.lock().unwrap_or_else(|poison| poison.into_inner()) = data_center;
    }
}

/// What the leader knows that the choice needs.
pub(crate) struct LeaderView<'a> {
    /// Every member's `NodeInfo`.
    pub nodes: &'a BTreeMap<NodeId, NodeInfo>,
    /// The voters (of every config, while joint).
    pub voters: &'a [NodeId],
    /// The leader's matched index per member (`RaftMetrics::replication`).
    pub matched: &'a BTreeMap<NodeId, Option<u64>>,
    /// The leader's last log index.
    pub last_log_index: u64,
    /// The voters whose clocks the leader vouches for (`ClockGuard::vouches_for`).
    pub clock_vouched: &'a (dyn Fn(NodeId) -> bool + Sync),
}

/// The voter to hand leadership to, if any: `None` when there is no preference, the leader
/// (`leader_data_center`) is in the preferred data center already, or no voter there is
/// caught up. Among several, the least lagging, then the lowest id.
pub(crate) fn choose_target(
    view: &LeaderView<'_>,
    leader: NodeId,
    leader_data_center: &str,
    preferred: &str,
) -> Option<NodeId> {
    if preferred.is_empty() || leader_data_center == preferred {
        return None;
    }
    view.voters
        .iter()
        .filter(|id| **id != leader)
        .filter(|id| view.nodes.get(id).is_some_and(|info| info.data_center == preferred))
        .filter(|id| (view.clock_vouched)(**id))
        .filter_map(|id| {
            let matched = (*view.matched.get(id)?)?;
            let lag = view.last_log_index.saturating_sub(matched);
            (lag <= CAUGHT_UP_LAG_MAX).then_some((lag, *id))
        })
        .min()
        .map(|(_lag, id)| id)
}

/// Runs the check loop until the Raft node stops.
pub(crate) async fn run(
    raft: LedgerRaft,
    node_id: NodeId,
    data_center: String,
    preferred: PreferredDataCenter,
    clocks: Arc<ClockGuard>,
) {
    let mut led_term = None;
    let mut checks_leading: u32 = 0;
    let mut checks_since_transfer = COOL_DOWN_CHECKS;
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        checks_since_transfer = checks_since_transfer.saturating_add(1);
        let metrics = raft.metrics().borrow_watched().clone();
        if metrics.current_leader != Some(node_id) {
            led_term = None;
            continue;
        }
        if led_term != Some(metrics.current_term) {
            led_term = Some(metrics.current_term);
            checks_leading = 0;
        }
        checks_leading = checks_leading.saturating_add(1);
        if checks_leading < COOL_DOWN_CHECKS || checks_since_transfer < COOL_DOWN_CHECKS {
            continue;
        }
        let membership = metrics.membership_config.membership();
        let nodes: BTreeMap<NodeId, NodeInfo> =
            membership.nodes().map(|(id, info)| (*id, info.clone())).collect();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let matched: BTreeMap<NodeId, Option<u64>> = metrics
            .replication
            .iter()
            .flatten()
            .map(|(id, log_id)| (*id, log_id.as_ref().map(|log_id| log_id.index)))
            .collect();
        let view = LeaderView {
            nodes: &nodes,
            voters: &voters,
            matched: &matched,
            last_log_index: metrics.last_log_index.unwrap_or_default(),
            clock_vouched: &|peer| clocks.vouches_for(peer),
        };
        let Some(target) = choose_target(&view, node_id, &data_center, &preferred.get()) else {
            continue;
        };
        checks_since_transfer = 0;
        if raft.trigger().transfer_leader(target).await.is_err() {
            return; // Raft stopped.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(data_center: &str) -> NodeInfo {
        NodeInfo { data_center: data_center.to_owned(), ..NodeInfo::default() }
    }

    #[test]
    fn picks_the_least_lagging_caught_up_voter_of_the_preferred_data_center() {
        let nodes = BTreeMap::from([
            (1, info("dc-a")),
            (2, info("dc-b")),
            (3, info("dc-b")),
            (4, info("dc-b")),
            (5, info("dc-c")),
        ]);
        let voters = [1, 2, 3, 5];
        let matched = BTreeMap::from([(2, Some(90)), (3, Some(99)), (4, Some(100)), (5, None)]);
        let view = LeaderView {
            nodes: &nodes,
            voters: &voters,
            matched: &matched,
            last_log_index: 100,
            clock_vouched: &|_| true,
        };
        // Node 4 is a learner: never a target, however caught up.
        assert_eq!(choose_target(&view, 1, "dc-a", "dc-b"), Some(3));
        assert_eq!(choose_target(&view, 1, "dc-a", ""), None, "no preference");
        assert_eq!(choose_target(&view, 2, "dc-b", "dc-b"), None, "already there");
        assert_eq!(choose_target(&view, 1, "dc-a", "dc-c"), None, "node 5's progress unknown");
        assert_eq!(choose_target(&view, 1, "dc-a", "dc-x"), None, "no such data center");
        let far = BTreeMap::from([(2, Some(0)), (3, Some(100 - CAUGHT_UP_LAG_MAX - 1))]);
        let view = LeaderView {
            nodes: &nodes,
            voters: &voters,
            matched: &far,
            last_log_index: 100,
            clock_vouched: &|_| true,
        };
        assert_eq!(choose_target(&view, 1, "dc-a", "dc-b"), None, "nobody caught up");
        let view = LeaderView {
            nodes: &nodes,
            voters: &voters,
            matched: &matched,
            last_log_index: 100,
            clock_vouched: &|peer| peer != 3,
        };
        assert_eq!(choose_target(&view, 1, "dc-a", "dc-b"), Some(2), "node 3's clock is apart");
        let view = LeaderView { clock_vouched: &|peer| peer > 3, ..view };
        assert_eq!(choose_target(&view, 1, "dc-a", "dc-b"), None, "no clock vouched for there");
    }
}
