//! The bugs the simulation can plant in its own clients, to prove the checkers catch what they
//! claim to (off unless a test asks; `tests/drills.rs` reads `TIANPING_SIM_PLANT`).
//!
//! A leaf module: the world's configuration names the bug (`WorldConfig::planted_bug`) and
//! the clients act on it (`client::run`), so it belongs to neither — kept in `client`, it made
//! `world` and `client` import each other (issue 10 item 3).

/// A bug planted on purpose in the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// `ack-unanswered`: a batch whose every attempt failed is recorded as acknowledged `ok`
    /// (timestamp 0), as a client library that reports success on a timeout would.
    AckUnanswered,
}

impl PlantedBug {
    /// The bug named `name`, if any.
    pub fn parse(name: &str) -> Option<PlantedBug> {
        match name {
            "ack-unanswered" => Some(PlantedBug::AckUnanswered),
            _ => None,
        }
    }
}
