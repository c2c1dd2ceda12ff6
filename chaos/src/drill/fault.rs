//! The drills' faults on a `ChaosCluster`: which fault each drill injects into the leader (or
//! the leader's data center), and how it is healed.

use std::fmt;
use std::time::Duration;

use crate::cluster::ChaosCluster;

use super::DrillError;

/// Longest a restarted node may take to serve again.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

/// A drill, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrillName {
    /// `kill -9` the leader, restart it later.
    Failover,
    /// Isolate the leader's data center from the others both ways, then heal.
    SplitBrain,
    /// The leader's data center's messages to the others are lost (it still hears them),
    /// then healed.
    SplitBrainOneWay,
    /// SIGSTOP the leader, SIGCONT it later.
    Pause,
    /// Kill every node of the leader's data center, restart them later.
    DcLoss,
    /// Move a data center's voters into a new data center through the admin API, under load.
    DcMigration,
    /// Restart every node in turn on its data (the leader last, after a transfer).
    RollingRestart,
    /// A follower's disk lost; replaced under a new id through the admin API.
    WipeAndReplace,
}

impl DrillName {
    /// Every drill.
    pub const ALL: [DrillName; 8] = [
        DrillName::Failover,
        DrillName::SplitBrain,
        DrillName::SplitBrainOneWay,
        DrillName::Pause,
        DrillName::DcLoss,
        DrillName::DcMigration,
        DrillName::RollingRestart,
        DrillName::WipeAndReplace,
    ];

    /// Whether it injects a fault and heals it (`Fault`), rather than running an operator's
    /// procedure under load (a migration, restarts, a replacement).
    pub fn is_fault(self) -> bool {
        !matches!(
            self,
            DrillName::DcMigration | DrillName::RollingRestart | DrillName::WipeAndReplace
        )
    }

    /// Its name on the command line and in report directories.
    pub fn name(self) -> &'static str {
        match self {
            DrillName::Failover => "failover",
            DrillName::SplitBrain => "split-brain",
            DrillName::SplitBrainOneWay => "split-brain-one-way",
            DrillName::Pause => "pause",
            DrillName::DcLoss => "dc-loss",
            DrillName::DcMigration => "dc-migration",
            DrillName::RollingRestart => "rolling-restart",
            DrillName::WipeAndReplace => "wipe-and-replace",
        }
    }

    /// The drill called `name`, if any.
    pub fn parse(name: &str) -> Option<DrillName> {
        DrillName::ALL.into_iter().find(|drill| drill.name() == name)
    }

    /// One line on what it does, for `--help` and the report.
    pub fn what(self) -> &'static str {
        match self {
            DrillName::Failover => "kill -9 the leader; restart it after the fault window",
            DrillName::SplitBrain => {
                "partition the leader's data center from the others both ways; heal after the fault window"
            }
            DrillName::SplitBrainOneWay => {
                "drop what the leader's data center sends to the others (it still hears them); heal after the fault window"
            }
            DrillName::Pause => "SIGSTOP the leader; SIGCONT it after the fault window",
            DrillName::DcLoss => {
                "kill -9 every node of the leader's data center; restart them after the fault window"
            }
            DrillName::DcMigration => {
                "move the leader's data center's voters into a new data center (dc-d) through the admin API: add learners, wait for catch-up, promote them (joint change), transfer leadership, remove the old nodes and stop them"
            }
            DrillName::RollingRestart => {
                "restart every node in turn on its data (SIGINT, start, wait until healthy); the leader last, its leadership transferred first"
            }
            DrillName::WipeAndReplace => {
                "kill a follower and wipe its disk; back under its old id it must be refused; then replace it under a new id (add learner, catch up, replace-node)"
            }
        }
    }
}

impl fmt::Display for DrillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault in force, and what healing it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// These nodes were killed; healing restarts them.
    Killed(Vec<u64>),
    /// This node is stopped; healing resumes it.
    Paused(u64),
    /// The links between this data center and the others are partitioned (both ways, or
    /// only its outgoing direction); healing opens every link.
    Isolated {
        /// The isolated data center.
        data_center: String,
        /// Only what it sends is lost.
        one_way: bool,
    },
}

impl Fault {
    /// Injects `drill`'s fault into `leader`'s node or data center.
    pub fn inject(
        drill: DrillName,
        cluster: &mut ChaosCluster,
        leader: u64,
    ) -> Result<Fault, DrillError> {
        let data_center = cluster
            .data_center_of(leader)
            .ok_or_else(|| {
                DrillError::Client(format!("the leader {leader} is no node of the cluster"))
            })?
            .to_owned();
        match drill {
            DrillName::DcMigration | DrillName::RollingRestart | DrillName::WipeAndReplace => {
                Err(DrillError::Client(format!("{drill} runs a procedure, not a fault")))
            }
            DrillName::Failover => {
                cluster.kill(leader)?;
                Ok(Fault::Killed(vec![leader]))
            }
            DrillName::DcLoss => {
                let nodes = cluster.nodes_in(&data_center);
                for node in &nodes {
                    cluster.kill(*node)?;
                }
                Ok(Fault::Killed(nodes))
            }
            DrillName::Pause => {
                cluster.pause(leader)?;
                Ok(Fault::Paused(leader))
            }
            DrillName::SplitBrain | DrillName::SplitBrainOneWay => {
                let one_way = drill == DrillName::SplitBrainOneWay;
                let others: Vec<String> = cluster
                    .api_addresses()
                    .into_iter()
                    .map(|(_, dc, _)| dc)
                    .filter(|dc| *dc != data_center)
                    .collect();
                for other in others {
                    if one_way {
                        cluster.network().block(&data_center, &other);
                    } else {
                        cluster.network().partition(&data_center, &other);
                    }
                }
                Ok(Fault::Isolated { data_center, one_way })
            }
        }
    }

    /// Heals it: restarts, resumes or opens the links.
    pub async fn heal(&self, cluster: &mut ChaosCluster) -> Result<(), DrillError> {
        match self {
            Fault::Killed(nodes) => {
                for node in nodes {
                    cluster.restart(*node, RESTART_TIMEOUT).await?;
                }
            }
            Fault::Paused(node) => cluster.resume(*node)?,
            Fault::Isolated { .. } => {
                cluster.network().heal_all();
            }
        }
        Ok(())
    }

    /// The nodes that answer nothing while it is in force (the driver asks others).
    pub fn silenced(&self) -> Vec<u64> {
        match self {
            Fault::Killed(nodes) => nodes.clone(),
            Fault::Paused(node) => vec![*node],
            Fault::Isolated { .. } => Vec::new(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Killed(nodes) => write!(f, "killed (SIGKILL) node(s) {nodes:?}"),
            Fault::Paused(node) => write!(f, "paused (SIGSTOP) node {node}"),
            Fault::Isolated { data_center, one_way: false } => {
                write!(f, "{data_center} partitioned from the other data centers (both ways)")
            }
            Fault::Isolated { data_center, one_way: true } => {
                write!(f, "{data_center}'s messages to the other data centers dropped (one way)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DrillName;

    #[test]
    fn names_round_trip() {
        for drill in DrillName::ALL {
            assert_eq!(DrillName::parse(drill.name()), Some(drill));
        }
        assert_eq!(DrillName::parse("bank-outage"), None);
    }
}
