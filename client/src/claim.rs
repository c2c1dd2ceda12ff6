//! Payout claims by claim id: the answer's two kinds, and fresh claim ids.
//!
//! A worker claims payouts once per claim round under an id it picks for the round and sends
//! the same id on every retry of the round: a claim whose answer was lost (a timeout, a
//! leader change) then answers `exists` with the payouts it still holds, instead of claiming
//! a second batch and leaving the first leased by nobody until the lease ends.

use tianping_ledger::PayoutClaim;

/// What a claim under a claim id answered (a refusal is `Error::Refused`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimAnswer {
    /// Claimed by this request: each payout with its fencing token (empty: nothing to do).
    Claimed(Vec<PayoutClaim>),
    /// The claim id had claimed before (a retry whose first answer was lost, by this client's
    /// own retries or the caller's): the payouts that claim still holds, with the tokens it
    /// was given; none was claimed anew. Empty once every one was driven on or its lease ran
    /// out: start a new round with a new claim id.
    Exists(Vec<PayoutClaim>),
}

impl ClaimAnswer {
    /// The payouts to drive, whichever way they were handed over.
    pub fn into_claims(self) -> Vec<PayoutClaim> {
        match self {
            ClaimAnswer::Claimed(claims) | ClaimAnswer::Exists(claims) => claims,
        }
    }

    /// The payouts to drive.
    pub fn claims(&self) -> &[PayoutClaim] {
        match self {
            ClaimAnswer::Claimed(claims) | ClaimAnswer::Exists(claims) => claims,
        }
    }
}

/// A claim id for a new claim round: 128 random bits (never 0 or `u128::MAX`), so ids of
/// different workers and of a restarted worker do not meet. Under the simulation the bits
/// come from the simulator's seeded generator.
pub fn new_claim_id() -> u128 {
    loop {
        let id = (u128::from(random_u64()) << 64) | u128::from(random_u64());
        if id != 0 && id != u128::MAX {
            return id;
        }
    }
}

#[cfg(madsim)]
fn random_u64() -> u64 {
    madsim::rand::random::<u64>()
}

/// The standard library's per-process random hash keys over a counter and the clock.
#[cfg(not(madsim))]
fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};

    static DRAWN: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    RandomState::new().hash_one((DRAWN.fetch_add(1, Ordering::Relaxed), nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_ids_are_fresh_and_valid() {
        let ids: std::collections::BTreeSet<u128> = (0..1_000).map(|_| new_claim_id()).collect();
        assert_eq!(ids.len(), 1_000);
        assert!(!ids.contains(&0) && !ids.contains(&u128::MAX));
    }
}
