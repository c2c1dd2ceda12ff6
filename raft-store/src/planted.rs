//! Planted bugs (cargo feature `planted-bugs`, off by default): known bugs the simulation
//! turns on one at a time to prove its checkers catch them (issue 5, "prove the checker
//! bites"). Without the feature this module and every plant are not compiled at all, so a
//! production build cannot turn one on; with it, the environment variable `TIANPING_PLANT`
//! names the one bug to plant (read once; unset or unknown: none). Each plant is a few lines
//! at the exact spot the real code would go wrong, marked `PLANTED BUG`.

use std::sync::OnceLock;

/// The environment variable naming the bug to plant.
pub const PLANT_VARIABLE: &str = "TIANPING_PLANT";

/// A known bug, planted on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// `ack-before-commit`: the leader answers a client batch with the results it computes
    /// on its own replica, before the entry is committed (node `group_commit`).
    AckBeforeCommit,
    /// `apply-twice`: a restarted state machine replays the first normal entry it applies
    /// without the idempotency check, moving its balances twice (memory state machine).
    ApplyTwice,
    /// `skip-fsync`: the memory disk's fsync does nothing and reports success, so a crash
    /// loses appended entries openraft was told are durable (and votes, snapshots).
    SkipFsync,
    /// `stale-read`: a node answers linearizable reads from its local replica without
    /// ReadIndex (node `reads`).
    StaleRead,
    /// `forget-identity`: a node takes part in any Raft traffic whatever its store's identity,
    /// so a voter back on a blank disk under its old id votes and accepts entries again (node
    /// `identity`).
    ForgetIdentity,
}

/// Every planted bug, by name.
pub const PLANTED_BUGS: [(&str, PlantedBug); 5] = [
    ("ack-before-commit", PlantedBug::AckBeforeCommit),
    ("apply-twice", PlantedBug::ApplyTwice),
    ("skip-fsync", PlantedBug::SkipFsync),
    ("stale-read", PlantedBug::StaleRead),
    ("forget-identity", PlantedBug::ForgetIdentity),
];

impl PlantedBug {
    /// The bug named `name`, if any.
    pub fn parse(name: &str) -> Option<PlantedBug> {
        PLANTED_BUGS.iter().find(|(known, _)| *known == name).map(|(_, bug)| *bug)
    }
}

/// The bug `TIANPING_PLANT` names, read once per process.
pub fn planted() -> Option<PlantedBug> {
    static PLANTED: OnceLock<Option<PlantedBug>> = OnceLock::new();
    *PLANTED.get_or_init(|| std::env::var(PLANT_VARIABLE).ok().and_then(|n| PlantedBug::parse(&n)))
}

/// Whether `bug` is the one planted.
pub fn active(bug: PlantedBug) -> bool {
    planted() == Some(bug)
}
