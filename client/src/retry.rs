//! The one retry policy: exponential backoff with jitter from `backon`, capped by the
//! time elapsed since the call began. Every retry resends the same request — the same ids
//! and the same `x-request-id` — so a write applied by an attempt whose answer was lost
//! answers `exists` the next time, and the nodes' logs show one id for the whole call.
//!
//! Only failures that say nothing about the outcome are retried (`Error::is_retryable`: a
//! node unreachable, no leader yet, a deadline). A result code is an answer, never retried: in
//! particular `id_already_failed` means the id is spent, and choosing a new id is the
//! caller's decision.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use crate::error::Error;

/// How long and how often a call is retried.
///
/// The delay before retry `n` (1-based) is `min(delay_min × 2ⁿ⁻¹, delay_max)` plus a random
/// part of up to as much again (backon's jitter, so clients that failed together do not
/// retry together); no retry starts once `elapsed_max` has passed since the call began, and
/// no more than `attempts_max` attempts are made. An attempt that has started runs to its own
/// deadline (`ClientConfig::request_timeout`).
///
/// ```
/// use std::time::Duration;
/// use tianping_client::RetryPolicy;
///
/// let patient = RetryPolicy { elapsed_max: Duration::from_secs(120), ..RetryPolicy::default() };
/// assert!(patient.elapsed_max > RetryPolicy::default().elapsed_max);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay's upper bound.
    pub delay_min: Duration,
    /// The largest delay's upper bound.
    pub delay_max: Duration,
    /// No retry starts after this long since the call began.
    pub elapsed_max: Duration,
    /// Most attempts of one call, the first included (a bound on everything, even a
    /// policy whose delays are tiny).
    pub attempts_max: u32,
}

impl Default for RetryPolicy {
    /// 50 ms doubling up to 2 s, for at most 30 s and 64 attempts: enough to ride out a leader
    /// election across data centers (a few seconds) with room to spare.
    fn default() -> RetryPolicy {
        RetryPolicy {
            delay_min: Duration::from_millis(50),
            delay_max: Duration::from_secs(2),
            elapsed_max: Duration::from_secs(30),
            attempts_max: 64,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        seeded_jitter(
            ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(self.delay_min)
                .with_max_delay(self.delay_max)
                .with_max_times(usize::try_from(self.attempts_max.saturating_sub(1)).unwrap_or(0))
                .with_total_delay(Some(self.elapsed_max)),
        )
    }

    /// Runs `attempt` (given its 1-based number) until it succeeds, fails for good, or the
    /// budget is spent; the error is then the last attempt's.
    pub(crate) async fn run<T, F, Fut>(&self, attempt: F) -> Result<T, Error>
    where
        F: Fn(u32) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let started = Instant::now();
        let attempts = AtomicU32::new(0);
        let elapsed_max = self.elapsed_max;
        let one = || attempt(attempts.fetch_add(1, Ordering::Relaxed) + 1);
        one.retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(Error::is_retryable)
            .adjust(|_, delay| delay.filter(|delay| started.elapsed() + *delay <= elapsed_max))
            .await
    }
}

/// Under the deterministic simulation the jitter is drawn from the simulator's seeded
/// generator: backon otherwise seeds it from a process-global source madsim does not
/// control, and one seed would no longer replay one history.
#[cfg(madsim)]
fn seeded_jitter(builder: ExponentialBuilder) -> ExponentialBuilder {
    builder.with_jitter_seed(madsim::rand::random::<u64>())
}

/// Outside the simulation backon's own random seed is what we want.
#[cfg(not(madsim))]
fn seeded_jitter(builder: ExponentialBuilder) -> ExponentialBuilder {
    builder
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn quick() -> RetryPolicy {
        RetryPolicy {
            delay_min: Duration::from_millis(1),
            delay_max: Duration::from_millis(4),
            elapsed_max: Duration::from_millis(300),
            attempts_max: 1_000,
        }
    }

    fn unknown(attempts: u32) -> Error {
        Error::OutcomeUnknown { attempts, code: tonic::Code::Unavailable, message: "down".into() }
    }

    #[tokio::test]
    async fn retries_until_an_answer() {
        let seen = Mutex::new(Vec::new());
        let answer = quick()
            .run(|attempt| {
                seen.lock().map(|mut seen| seen.push(attempt)).ok();
                async move { if attempt < 3 { Err(unknown(attempt)) } else { Ok("answer") } }
            })
            .await;
        assert_eq!(answer, Ok("answer"));
        assert_eq!(seen.lock().map(|seen| seen.clone()).ok(), Some(vec![1, 2, 3]));
    }

    #[tokio::test]
    async fn answers_and_bad_requests_are_not_retried() {
        for error in [
            Error::BadRequest { field: "f".into(), reason: "r".into() },
            Error::Refused { code: tianping_ledger::ResultCode::IdAlreadyFailed, timestamp: 1 },
            Error::Status { code: tonic::Code::FailedPrecondition, message: "m".into() },
        ] {
            let calls = AtomicU32::new(0);
            let outcome: Result<(), Error> = quick()
                .run(|_| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let error = error.clone();
                    async move { Err(error) }
                })
                .await;
            assert_eq!(outcome, Err(error));
            assert_eq!(calls.load(Ordering::Relaxed), 1);
        }
    }

    #[tokio::test]
    async fn the_elapsed_cap_ends_a_call_that_never_gets_an_answer() {
        let started = Instant::now();
        let outcome: Result<(), Error> =
            quick().run(|attempt| async move { Err(unknown(attempt)) }).await;
        let elapsed = started.elapsed();
        match outcome {
            Err(Error::OutcomeUnknown { attempts, .. }) => assert!(attempts > 3, "{attempts}"),
            other => panic!("expected OutcomeUnknown, got {other:?}"),
        }
        assert!(elapsed <= Duration::from_millis(300) + Duration::from_millis(100), "{elapsed:?}");
    }

    #[tokio::test]
    async fn attempts_are_bounded_too() {
        let policy = RetryPolicy { attempts_max: 4, ..quick() };
        let outcome: Result<(), Error> =
            policy.run(|attempt| async move { Err(unknown(attempt)) }).await;
        assert_eq!(outcome, Err(unknown(4)));
    }
}
