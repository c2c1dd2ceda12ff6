//! Client-side unavailability of a fault, as a drill reports it (issue 14), measured two ways
//! on the clients' own answers, not on the nodes' view of who leads: it is what a payment
//! client waits.
//!
//! - `measure` — from the first write that failed once the fault struck to the first write
//!   committed after that failure. A "failure" is an SDK call that gave up, so a failover the
//!   SDK rides out within its retries is "unnoticed" here.
//! - `longest_gap` — the longest stretch of a window (a fault until its heal, say) in which no
//!   client saw a commit: what a failover costs even when every call eventually succeeded.
//!
//! Pure: the drill hands in every write it attempted (times since the drill began); the report
//! prints one figure per fault and per data center's clients.

use std::time::Duration;

/// One write a drill's client attempted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The data center whose client sent it.
    pub data_center: String,
    /// When it was sent.
    pub sent: Duration,
    /// When its answer (or its failure: an error, a deadline) came.
    pub answered: Duration,
    /// Whether the answer said it was committed (an `ok` or `exists` acknowledgement).
    pub committed: bool,
}

/// What the clients saw of one fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailability {
    /// No write failed after the fault struck.
    Unnoticed,
    /// Writes failed from `first_failure` and committed again at `recovered`.
    Window {
        /// When the first write failed (its answer, at or after the fault).
        first_failure: Duration,
        /// When the first write answered after it was committed.
        recovered: Duration,
    },
    /// Writes failed from `first_failure` and none committed afterwards.
    NotRecovered {
        /// When the first write failed.
        first_failure: Duration,
    },
}

impl Unavailability {
    /// How long the clients could not commit; `None` if they never could again.
    pub fn duration(self) -> Option<Duration> {
        match self {
            Unavailability::Unnoticed => Some(Duration::ZERO),
            Unavailability::Window { first_failure, recovered } => {
                Some(recovered.saturating_sub(first_failure))
            }
            Unavailability::NotRecovered { .. } => None,
        }
    }
}

/// The unavailability the clients of `data_center` (every client when `None`) saw of a fault
/// that struck at `fault_at`.
pub fn measure(
    attempts: &[Attempt],
    fault_at: Duration,
    data_center: Option<&str>,
) -> Unavailability {
    let theirs = |attempt: &&Attempt| data_center.is_none_or(|dc| attempt.data_center == dc);
    let first_failure = attempts
        .iter()
        .filter(theirs)
        .filter(|attempt| !attempt.committed && attempt.answered >= fault_at)
        .map(|attempt| attempt.answered)
        .min();
    let Some(first_failure) = first_failure else {
        return Unavailability::Unnoticed;
    };
    let recovered = attempts
        .iter()
        .filter(theirs)
        .filter(|attempt| attempt.committed && attempt.answered > first_failure)
        .map(|attempt| attempt.answered)
        .min();
    match recovered {
        Some(recovered) => Unavailability::Window { first_failure, recovered },
        None => Unavailability::NotRecovered { first_failure },
    }
}

/// The longest stretch without a commit within a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// When it began: the window's start or the commit before it.
    pub from: Duration,
    /// How long no commit was answered.
    pub length: Duration,
}

/// The longest stretch of `[from, to)` in which no write of `data_center`'s clients (every
/// client when `None`) was answered as committed. The stretch before the window's first
/// commit counts from `from`, the one after its last commit runs to `to`: a window without
/// any commit is one gap of its whole length.
pub fn longest_gap(
    attempts: &[Attempt],
    from: Duration,
    to: Duration,
    data_center: Option<&str>,
) -> Gap {
    let mut commits: Vec<Duration> = attempts
        .iter()
        .filter(|attempt| data_center.is_none_or(|dc| attempt.data_center == dc))
        .filter(|attempt| attempt.committed && attempt.answered > from && attempt.answered < to)
        .map(|attempt| attempt.answered)
        .collect();
    commits.sort();
    let mut longest = Gap { from, length: Duration::ZERO };
    let mut previous = from;
    for at in commits.into_iter().chain([to.max(from)]) {
        let length = at.saturating_sub(previous);
        if length > longest.length {
            longest = Gap { from: previous, length };
        }
        previous = at;
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(data_center: &str, sent_ms: u64, answered_ms: u64, committed: bool) -> Attempt {
        Attempt {
            data_center: data_center.to_owned(),
            sent: Duration::from_millis(sent_ms),
            answered: Duration::from_millis(answered_ms),
            committed,
        }
    }

    #[test]
    fn the_window_runs_from_the_first_failure_to_the_next_commit() {
        let attempts = [
            attempt("dc-a", 0, 10, true),
            attempt("dc-a", 90, 95, false), // failed before the fault: not this fault's
            attempt("dc-a", 100, 2100, false), // sent before the fault, failed after it
            attempt("dc-b", 150, 400, false),
            attempt("dc-b", 450, 1300, true),
            attempt("dc-a", 2150, 2200, true),
        ];
        let fault = Duration::from_millis(100);
        let every = measure(&attempts, fault, None);
        assert_eq!(
            every,
            Unavailability::Window {
                first_failure: Duration::from_millis(400),
                recovered: Duration::from_millis(1300)
            }
        );
        assert_eq!(every.duration(), Some(Duration::from_millis(900)));
        let dc_a = measure(&attempts, fault, Some("dc-a"));
        assert_eq!(dc_a.duration(), Some(Duration::from_millis(100)));
        assert_eq!(measure(&attempts, fault, Some("dc-c")), Unavailability::Unnoticed);
    }

    #[test]
    fn failures_without_a_later_commit_never_recovered() {
        let attempts = [attempt("dc-a", 0, 10, true), attempt("dc-a", 20, 2020, false)];
        let outcome = measure(&attempts, Duration::from_millis(15), None);
        assert_eq!(
            outcome,
            Unavailability::NotRecovered { first_failure: Duration::from_millis(2020) }
        );
        assert_eq!(outcome.duration(), None);
        // A commit answered before the failure does not end it.
        assert_eq!(measure(&attempts[..1], Duration::ZERO, None), Unavailability::Unnoticed);
    }

    #[test]
    fn the_longest_gap_is_between_commits_within_the_window() {
        let attempts = [
            attempt("dc-a", 0, 900, true), // before the window: not counted
            attempt("dc-a", 1000, 1100, true),
            attempt("dc-b", 1000, 1300, true),
            attempt("dc-b", 1300, 1400, false), // a failure is no commit
            attempt("dc-a", 1100, 2300, true),  // 1000 ms after the one before
            attempt("dc-b", 1400, 2500, true),
        ];
        let (from, to) = (Duration::from_millis(1000), Duration::from_millis(2600));
        assert_eq!(
            longest_gap(&attempts, from, to, None),
            Gap { from: Duration::from_millis(1300), length: Duration::from_millis(1000) }
        );
        // dc-b's clients: 1300 to 2500.
        assert_eq!(
            longest_gap(&attempts, from, to, Some("dc-b")).length,
            Duration::from_millis(1200)
        );
        // The window's edges count: from its start to the first commit, from the last to
        // its end; a window with no commit is one gap.
        let late = Duration::from_millis(2400);
        assert_eq!(
            longest_gap(&attempts, late, Duration::from_millis(3400), None),
            Gap { from: Duration::from_millis(2500), length: Duration::from_millis(900) }
        );
        assert_eq!(
            longest_gap(&attempts, from, to, Some("dc-c")),
            Gap { from, length: Duration::from_millis(1600) }
        );
    }
}
