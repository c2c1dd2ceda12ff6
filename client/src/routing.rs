//! Which node a request goes to: the leader when the client knows it, found with
//! `ClusterStatus` and followed when it moves.
//!
//! Any node accepts every request (a follower forwards writes one hop to the leader and
//! serves linearizable reads through it), so sending to the leader only saves that hop — but
//! it also means the client notices a dead or deposed leader by its own failures. The rule:
//! the leader's address is used until an attempt through it fails in a way that says nothing
//! about the outcome (unreachable, UNAVAILABLE, a deadline); the route is then *stale*, and
//! the next attempt asks the known nodes, in turn, for their `ClusterStatus`. The first that
//! names a leader gives its address — a changed leader replaces the old one — and every
//! member's address is learned, so the client keeps working when the nodes it was started
//! with are gone. When no node knows a leader (an election), the request goes to a node that
//! answered, which says UNAVAILABLE until one is elected, and the retry policy waits.
//!
//! `Routing` is the pure bookkeeping (unit-tested here); `Client` does the I/O around it.

use tianping_proto::v1 as pb;

/// Most node addresses a client remembers (its seeds plus the members it learned): a bound on
/// a list that grows with what nodes report.
pub(crate) const ADDRESSES_MAX: usize = 64;

/// The leader a client currently sends to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Leader {
    pub(crate) node_id: u64,
    pub(crate) address: String,
}

/// Known node addresses and the leader, if known and not stale.
#[derive(Debug)]
pub(crate) struct Routing {
    /// Seeds first, then learned members; unique; at most `ADDRESSES_MAX`.
    addresses: Vec<String>,
    leader: Option<Leader>,
    /// Where the next refresh starts asking, so one dead node is not always asked first.
    next: usize,
    /// Leader changes seen (for logs and tests).
    pub(crate) leader_changes: u64,
}

impl Routing {
    pub(crate) fn new(seeds: Vec<String>) -> Routing {
        let mut routing =
            Routing { addresses: Vec::new(), leader: None, next: 0, leader_changes: 0 };
        for seed in seeds {
            routing.learn_address(&seed);
        }
        routing
    }

    fn learn_address(&mut self, address: &str) {
        if !address.is_empty()
            && self.addresses.len() < ADDRESSES_MAX
            && !self.addresses.iter().any(|known| known == address)
        {
            self.addresses.push(address.to_owned());
        }
    }

    /// Every known address: the seeds, then the members learned.
    pub(crate) fn all_addresses(&self) -> Vec<String> {
        self.addresses.clone()
    }

    /// The leader's address while it is trusted.
    pub(crate) fn leader(&self) -> Option<&Leader> {
        self.leader.as_ref()
    }

    /// The addresses to ask for a cluster status, starting with the next in turn.
    pub(crate) fn refresh_order(&mut self) -> Vec<String> {
        let count = self.addresses.len();
        if count == 0 {
            return Vec::new();
        }
        let start = self.next % count;
        self.next = (start + 1) % count;
        self.addresses[start..].iter().chain(&self.addresses[..start]).cloned().collect()
    }

    /// An attempt through `address` failed without an answer: stop trusting it as leader.
    pub(crate) fn lost(&mut self, address: &str) {
        if self.leader.as_ref().is_some_and(|leader| leader.address == address) {
            self.leader = None;
        }
    }

    /// Learns from one node's `ClusterStatus`: every member's client address and the leader
    /// (when the node knows one and it is among the members with an address). Returns the
    /// leader now used.
    pub(crate) fn learn(&mut self, status: &pb::ClusterStatusResponse) -> Option<Leader> {
        for member in &status.members {
            self.learn_address(&member.api_address);
        }
        if !status.has_leader {
            return None;
        }
        let member = status.members.iter().find(|member| member.node_id == status.leader_id)?;
        if member.api_address.is_empty() {
            return None;
        }
        let leader = Leader { node_id: status.leader_id, address: member.api_address.clone() };
        if self.leader.as_ref().is_some_and(|known| known.node_id != leader.node_id) {
            self.leader_changes += 1;
        }
        self.leader = Some(leader.clone());
        Some(leader)
    }

    #[cfg(test)]
    pub(crate) fn addresses(&self) -> &[String] {
        &self.addresses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node_id: u64, address: &str) -> pb::Member {
        pb::Member { node_id, api_address: address.into(), voter: true, ..Default::default() }
    }

    fn status(leader: Option<u64>, members: &[(u64, &str)]) -> pb::ClusterStatusResponse {
        pb::ClusterStatusResponse {
            node_id: 1,
            has_leader: leader.is_some(),
            leader_id: leader.unwrap_or(0),
            members: members.iter().map(|(id, address)| member(*id, address)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn follows_the_leader_a_node_names_and_learns_the_members() {
        let mut routing = Routing::new(vec!["a:1".into()]);
        assert_eq!(routing.leader(), None);
        let members = [(1, "a:1"), (2, "b:2"), (3, "c:3")];
        let leader = routing.learn(&status(Some(2), &members));
        assert_eq!(leader, Some(Leader { node_id: 2, address: "b:2".into() }));
        assert_eq!(routing.addresses(), ["a:1", "b:2", "c:3"]);
        // The leader moved: the next status names another one.
        routing.learn(&status(Some(3), &members));
        assert_eq!(routing.leader().map(|leader| leader.node_id), Some(3));
        assert_eq!(routing.leader_changes, 1);
    }

    #[test]
    fn a_failed_leader_is_forgotten_and_an_unknown_leader_is_not_trusted() {
        let mut routing = Routing::new(vec!["a:1".into(), "b:2".into()]);
        routing.learn(&status(Some(2), &[(1, "a:1"), (2, "b:2")]));
        routing.lost("a:1");
        assert!(routing.leader().is_some(), "a follower's failure keeps the leader");
        routing.lost("b:2");
        assert_eq!(routing.leader(), None);
        // During an election, or when the leader is not among the members it reported.
        assert_eq!(routing.learn(&status(None, &[(1, "a:1")])), None);
        assert_eq!(routing.learn(&status(Some(9), &[(1, "a:1")])), None);
        assert_eq!(routing.learn(&status(Some(1), &[(1, "")])), None);
        assert_eq!(routing.leader(), None);
    }

    #[test]
    fn refreshes_take_turns_and_addresses_are_bounded() {
        let mut routing = Routing::new(vec!["a:1".into(), "b:2".into(), "a:1".into()]);
        assert_eq!(routing.refresh_order(), ["a:1", "b:2"]);
        assert_eq!(routing.refresh_order(), ["b:2", "a:1"]);
        assert_eq!(routing.refresh_order(), ["a:1", "b:2"]);
        let many: Vec<(u64, String)> = (1..=100).map(|id| (id, format!("n{id}:1"))).collect();
        let many: Vec<(u64, &str)> = many.iter().map(|(id, a)| (*id, a.as_str())).collect();
        routing.learn(&status(None, &many));
        assert_eq!(routing.addresses().len(), ADDRESSES_MAX);
        assert!(Routing::new(Vec::new()).refresh_order().is_empty());
    }
}
