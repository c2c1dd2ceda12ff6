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

/// The operating system had no randomness to give for a claim id (`getrandom` failed): no
/// round can start until it has, so the caller waits and asks again rather than fall back to
/// weaker bits, which could repeat another worker's id.
#[derive(Debug, thiserror::Error)]
#[error("no randomness for a claim id: {0}")]
pub struct ClaimIdError(#[from] getrandom::Error);

/// A claim id for a new claim round: 128 random bits from the operating system (never 0 or
/// `u128::MAX`), so ids of different workers and of a restarted worker do not meet — the same
/// source as the bank adapters' nonces and the CLI's change ids. Under the simulation the bits
/// come from the simulator's seeded generator, so a seed replays the same ids.
pub fn new_claim_id() -> Result<u128, ClaimIdError> {
    loop {
        let id = random_u128()?;
        if id != 0 && id != u128::MAX {
            return Ok(id);
        }
    }
}

/// Two draws, high half first, as claim ids have always been drawn here, so a seed keeps
/// the ids (and so the run) it had.
#[cfg(madsim)]
fn random_u128() -> Result<u128, ClaimIdError> {
    let high = madsim::rand::random::<u64>();
    Ok((u128::from(high) << 64) | u128::from(madsim::rand::random::<u64>()))
}

#[cfg(not(madsim))]
fn random_u128() -> Result<u128, ClaimIdError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_ids_are_fresh_and_valid() {
        let ids: std::collections::BTreeSet<u128> =
            (0..1_000).map(|_| new_claim_id().expect("the OS gives randomness")).collect();
        assert_eq!(ids.len(), 1_000);
        assert!(!ids.contains(&0) && !ids.contains(&u128::MAX));
    }
}
