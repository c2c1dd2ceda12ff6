//! Planted bugs (cargo feature `planted-bugs`, off by default): known worker bugs the
//! simulation turns on to prove its bank checkers catch them, as `tianping_raft_store::planted`
//! does for the node. Without the feature this module is not compiled, so a production worker
//! cannot turn one on; with it, the environment variable [`PLANT_VARIABLE`] names the bug
//! (read once; unset or another name: none). Each plant is marked `PLANTED BUG` where the real
//! code would go wrong.

use std::sync::OnceLock;

/// The environment variable naming the bug to plant (the one the node's plants use: one
/// sweep plants one bug, wherever it lives).
pub const PLANT_VARIABLE: &str = "TIANPING_PLANT";

/// A known worker bug, planted on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// `resend-new-id`: after a submit whose outcome is unknown (a timeout, a lost answer),
    /// the worker submits again under a fresh end-to-end id instead of querying the bank by
    /// the same one — the bank cannot deduplicate it, and may pay twice.
    ResendNewId,
}

/// Every planted worker bug, by name.
pub const PLANTED_BUGS: [(&str, PlantedBug); 1] = [("resend-new-id", PlantedBug::ResendNewId)];

impl PlantedBug {
    /// The bug named `name`, if any.
    pub fn parse(name: &str) -> Option<PlantedBug> {
        PLANTED_BUGS.iter().find(|(known, _)| *known == name).map(|(_, bug)| *bug)
    }
}

/// The bug [`PLANT_VARIABLE`] names, read once per process.
pub fn planted() -> Option<PlantedBug> {
    static PLANTED: OnceLock<Option<PlantedBug>> = OnceLock::new();
    *PLANTED.get_or_init(|| std::env::var(PLANT_VARIABLE).ok().and_then(|n| PlantedBug::parse(&n)))
}

/// Whether `bug` is the one planted.
pub fn active(bug: PlantedBug) -> bool {
    planted() == Some(bug)
}

#[cfg(test)]
mod tests {
    use super::PlantedBug;

    #[test]
    fn names_parse() {
        assert_eq!(PlantedBug::parse("resend-new-id"), Some(PlantedBug::ResendNewId));
        assert_eq!(PlantedBug::parse("apply-twice"), None);
    }
}
