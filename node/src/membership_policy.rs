//! Which voter configurations a membership change may move to (issue 11 item 6).
//!
//! openraft changes voters by joint consensus: the change commits only when a majority of the
//! old voters AND a majority of the new voters hold it. Nothing in openraft asks whether the
//! new voters can form that majority now, or whether the configuration they form survives
//! the loss of a data center. With two nodes of five down, removing two healthy voters leaves
//! a joint configuration that cannot commit, and the cluster stops taking writes.
//!
//! `check` is the policy, pure: given the proposed voters (with their data centers and what
//! the leader knows of their progress) it allows the configuration or names the first rule it
//! breaks, in this order:
//!
//! 1. at least three voters (`Refusal::TooFewVoters`): fewer cannot lose one and go on;
//! 2. an odd count (`Refusal::EvenVoterCount`): a fourth voter raises the majority without
//!    surviving one more failure, and an even split is how two data centers deadlock;
//! 3. no data center holds a majority (`Refusal::DataCenterMajority`): losing it would stop
//!    the cluster. Members without a data center count as one unnamed data center;
//! 4. a majority of the new voters reachable and caught up now (`Refusal::MajorityNotReady`):
//!    acknowledged the leader within `Bounds::ack_age_max` and at most `Bounds::lag_max`
//!    entries behind its log. Otherwise the change would wait, joint, for nodes that are not
//!    there.
//!
//! An operator may override a refusal (`--force` with a reason); the admin service logs that.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use tianping_raft_store::NodeId;

/// Fewest voters a configuration may have: three survive the loss of one.
pub const VOTERS_MIN: usize = 3;

/// What the leader knows of one proposed voter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voter {
    /// Its data center (`NodeInfo::data_center`); empty when not configured.
    pub data_center: String,
    /// How far it is with the leader's log.
    pub progress: Progress,
}

/// A proposed voter's progress as the leader sees it (openraft's `replication` and
/// `heartbeat` metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The leader itself: it holds its whole log.
    Leader,
    /// A follower or learner the leader replicates to.
    Replicating {
        /// The last log index it holds, as the leader knows (0 when nothing yet).
        matched: u64,
        /// How long ago it last acknowledged the leader.
        ack_age: Duration,
    },
    /// The leader has no acknowledgement from it (never heard from, or not replicated to).
    Unknown,
}

/// How recent and how complete a voter must be to count as ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Most entries a ready voter may lag the leader's last log index by.
    pub lag_max: u64,
    /// Oldest a ready voter's last acknowledgement may be.
    pub ack_age_max: Duration,
}

/// Why a proposed voter configuration is refused: the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Fewer than `VOTERS_MIN` voters would remain.
    TooFewVoters {
        /// How many would remain.
        voters: usize,
    },
    /// The voter count would be even.
    EvenVoterCount {
        /// The count.
        voters: usize,
    },
    /// One data center would hold a majority of the voters.
    DataCenterMajority {
        /// The data center (empty: the members without one).
        data_center: String,
        /// How many of the voters it would hold.
        holds: usize,
        /// How many voters there would be.
        voters: usize,
    },
    /// Fewer than a majority of the new voters are reachable and caught up now.
    MajorityNotReady {
        /// The new voters that are.
        ready: Vec<NodeId>,
        /// The new voters that are not (unreachable, or too far behind).
        not_ready: Vec<NodeId>,
        /// How many a majority of the new voters is.
        majority: usize,
    },
}

impl Refusal {
    /// The rule's stable name, for messages, logs and scripts.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::TooFewVoters { .. } => "fewer_than_three_voters",
            Refusal::EvenVoterCount { .. } => "even_voter_count",
            Refusal::DataCenterMajority { .. } => "data_center_majority",
            Refusal::MajorityNotReady { .. } => "majority_not_reachable_and_caught_up",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.rule())?;
        match self {
            Refusal::TooFewVoters { voters } => write!(
                f,
                "the change leaves {voters} voter(s); at least {VOTERS_MIN} are needed to \
                 survive the loss of one"
            ),
            Refusal::EvenVoterCount { voters } => write!(
                f,
                "the change leaves {voters} voters, an even count: it raises the majority \
                 without surviving one more failure; replace a voter in one change \
                 (`tianping cluster replace-node`) instead of adding or removing one"
            ),
            Refusal::DataCenterMajority { data_center, holds, voters } => {
                let name = if data_center.is_empty() { "(unnamed)" } else { data_center };
                write!(
                    f,
                    "data center {name} would hold {holds} of {voters} voters, a majority: \
                     losing it would stop the cluster"
                )
            }
            Refusal::MajorityNotReady { ready, not_ready, majority } => write!(
                f,
                "only {} of the new voters ({ready:?}) are reachable and caught up, a \
                 majority needs {majority}; not ready: {not_ready:?}. The change would wait \
                 in joint consensus for them and stop every write",
                ready.len()
            ),
        }
    }
}

/// Allows the proposed voters or names the first rule they break (see the module comment).
/// `last_log_index` is the leader's.
pub fn check(
    proposed: &BTreeMap<NodeId, Voter>,
    last_log_index: u64,
    bounds: Bounds,
) -> Result<(), Refusal> {
    let voters = proposed.len();
    if voters < VOTERS_MIN {
        return Err(Refusal::TooFewVoters { voters });
    }
    if voters.is_multiple_of(2) {
        return Err(Refusal::EvenVoterCount { voters });
    }
    let majority = voters / 2 + 1;
    let mut per_data_center: BTreeMap<&str, usize> = BTreeMap::new();
    for voter in proposed.values() {
        *per_data_center.entry(voter.data_center.as_str()).or_default() += 1;
    }
    if let Some((data_center, holds)) =
        per_data_center.into_iter().find(|(_, holds)| *holds >= majority)
    {
        return Err(Refusal::DataCenterMajority {
            data_center: data_center.to_owned(),
            holds,
            voters,
        });
    }
    let (ready, not_ready): (Vec<NodeId>, Vec<NodeId>) =
        proposed.keys().partition(|id| is_ready(&proposed[*id], last_log_index, bounds));
    if ready.len() < majority {
        return Err(Refusal::MajorityNotReady { ready, not_ready, majority });
    }
    Ok(())
}

/// Reachable (acknowledged recently) and caught up (lagging by at most `lag_max`).
fn is_ready(voter: &Voter, last_log_index: u64, bounds: Bounds) -> bool {
    match voter.progress {
        Progress::Leader => true,
        Progress::Replicating { matched, ack_age } => {
            ack_age <= bounds.ack_age_max
                && last_log_index.saturating_sub(matched) <= bounds.lag_max
        }
        Progress::Unknown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { lag_max: 100, ack_age_max: Duration::from_secs(1) };
    const LAST: u64 = 5_000;

    fn fresh() -> Progress {
        Progress::Replicating { matched: LAST, ack_age: Duration::from_millis(50) }
    }

    /// Voters `(id, data center)`, node 1 the leader, every other one caught up.
    fn voters(shape: &[(NodeId, &str)]) -> BTreeMap<NodeId, Voter> {
        shape
            .iter()
            .map(|(id, dc)| {
                let progress = if *id == 1 { Progress::Leader } else { fresh() };
                (*id, Voter { data_center: (*dc).to_owned(), progress })
            })
            .collect()
    }

    fn two_two_one() -> BTreeMap<NodeId, Voter> {
        voters(&[(1, "dc-a"), (2, "dc-a"), (3, "dc-b"), (4, "dc-b"), (5, "dc-c")])
    }

    #[test]
    fn two_two_one_across_three_data_centers_is_allowed() {
        assert_eq!(check(&two_two_one(), LAST, BOUNDS), Ok(()));
    }

    #[test]
    fn one_one_one_is_allowed() {
        let proposed = voters(&[(1, "dc-a"), (2, "dc-b"), (3, "dc-c")]);
        assert_eq!(check(&proposed, LAST, BOUNDS), Ok(()));
    }

    #[test]
    fn fewer_than_three_voters_are_refused() {
        for shape in [&[(1, "dc-a")][..], &[(1, "dc-a"), (2, "dc-b")][..], &[][..]] {
            let refused = check(&voters(shape), LAST, BOUNDS).expect_err("too few");
            assert_eq!(refused, Refusal::TooFewVoters { voters: shape.len() });
            assert!(refused.to_string().starts_with("fewer_than_three_voters: "));
        }
    }

    #[test]
    fn an_even_count_is_refused() {
        let four = voters(&[(1, "dc-a"), (2, "dc-b"), (3, "dc-c"), (4, "dc-d")]);
        assert_eq!(check(&four, LAST, BOUNDS), Err(Refusal::EvenVoterCount { voters: 4 }));
        let mut six = two_two_one();
        six.insert(6, Voter { data_center: "dc-c".to_owned(), progress: fresh() });
        let refused = check(&six, LAST, BOUNDS).expect_err("six");
        assert_eq!(refused.rule(), "even_voter_count");
        assert!(refused.to_string().contains("replace-node"), "{refused}");
    }

    #[test]
    fn one_data_center_holding_a_majority_is_refused() {
        let proposed = voters(&[(1, "dc-a"), (2, "dc-a"), (3, "dc-b")]);
        assert_eq!(
            check(&proposed, LAST, BOUNDS),
            Err(Refusal::DataCenterMajority {
                data_center: "dc-a".to_owned(),
                holds: 2,
                voters: 3
            })
        );
        // Three of five in one data center; two of five is fine (2+2+1 above).
        let proposed = voters(&[(1, "dc-a"), (2, "dc-a"), (3, "dc-a"), (4, "dc-b"), (5, "dc-c")]);
        let refused = check(&proposed, LAST, BOUNDS).expect_err("3 of 5");
        assert_eq!(refused.rule(), "data_center_majority");
    }

    #[test]
    fn members_without_a_data_center_count_as_one() {
        let proposed = voters(&[(1, ""), (2, ""), (3, "dc-b")]);
        let refused = check(&proposed, LAST, BOUNDS).expect_err("unnamed majority");
        assert_eq!(refused.rule(), "data_center_majority");
        assert!(refused.to_string().contains("(unnamed)"), "{refused}");
    }

    #[test]
    fn a_majority_that_is_down_is_refused() {
        // The case: of five, 4 and 5 are down; removing the healthy 2 and 3 leaves
        // {1, 4, 5}, whose majority cannot answer.
        let mut proposed = voters(&[(1, "dc-a"), (4, "dc-b"), (5, "dc-c")]);
        let gone = Progress::Replicating { matched: LAST, ack_age: Duration::from_secs(30) };
        proposed.get_mut(&4).expect("4").progress = gone;
        proposed.get_mut(&5).expect("5").progress = Progress::Unknown;
        assert_eq!(
            check(&proposed, LAST, BOUNDS),
            Err(Refusal::MajorityNotReady { ready: vec![1], not_ready: vec![4, 5], majority: 2 })
        );
        // One of them back is a majority again.
        proposed.get_mut(&4).expect("4").progress = fresh();
        assert_eq!(check(&proposed, LAST, BOUNDS), Ok(()));
    }

    #[test]
    fn a_majority_that_lags_is_refused() {
        let mut proposed = two_two_one();
        for id in [2, 3, 4] {
            let behind = LAST - BOUNDS.lag_max - 1;
            proposed.get_mut(&id).expect("voter").progress =
                Progress::Replicating { matched: behind, ack_age: Duration::ZERO };
        }
        let refused = check(&proposed, LAST, BOUNDS).expect_err("lagging");
        assert_eq!(refused.rule(), "majority_not_reachable_and_caught_up");
        // Exactly at the bounds counts as ready.
        proposed.get_mut(&2).expect("2").progress =
            Progress::Replicating { matched: LAST - BOUNDS.lag_max, ack_age: BOUNDS.ack_age_max };
        assert_eq!(check(&proposed, LAST, BOUNDS), Ok(()));
    }

    #[test]
    fn the_rules_are_checked_in_order() {
        // Two voters, both in one data center, one down: the count is what is named.
        let mut proposed = voters(&[(1, "dc-a"), (2, "dc-a")]);
        proposed.get_mut(&2).expect("2").progress = Progress::Unknown;
        assert_eq!(
            check(&proposed, LAST, BOUNDS).expect_err("two").rule(),
            "fewer_than_three_voters"
        );
    }
}
