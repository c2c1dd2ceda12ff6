//! Event time against true time (issue 11 item 4): every acknowledged event was judged —
//! daily limits, pending-transfer expiry, payout leases — at its timestamp, so that timestamp
//! must be close to the true time at which the event happened.
//!
//! A driver that knows true time (the simulation: madsim's clock, which no node's skewed clock
//! changes) records each answered batch as a `TimedBatch`: the true time its first attempt was
//! sent, the true time it was answered, and the timestamps its events were answered with. The
//! event happened in between, so each timestamp must lie in `[sent - bound, answered + bound]`,
//! where `bound` is what the cluster promises: the largest clock offset a leader may have and
//! still stamp (`NodeConfig::max_clock_offset_ms`). Without skew the leader stamps its own
//! clock while the batch is in flight and every timestamp lies inside the window itself; a
//! leader an hour ahead, or a log time that an earlier such leader pushed an hour ahead,
//! shows as a timestamp an hour past `answered`.

use std::time::Duration;

use crate::history::TimedBatch;

/// Violations: every event whose timestamp lies outside its batch's true window widened by
/// `bound`, with how far outside.
pub fn check(batches: &[TimedBatch], bound: Duration) -> Vec<String> {
    let bound_ns = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    let mut violations = Vec::new();
    for batch in batches {
        let earliest = batch.sent_ns.saturating_sub(bound_ns);
        let latest = batch.answered_ns.saturating_add(bound_ns);
        for &(id, timestamp) in &batch.timestamps {
            let off_ns = if timestamp < earliest {
                Some(-i128::from(batch.sent_ns - timestamp))
            } else if timestamp > latest {
                Some(i128::from(timestamp - batch.answered_ns))
            } else {
                None
            };
            if let Some(off_ns) = off_ns {
                violations.push(format!(
                    "transfer {id} was judged at {timestamp} ns, {} ms from the true time it \
                     happened (sent at {} ns, answered at {} ns; allowed {} ms)",
                    off_ns / 1_000_000,
                    batch.sent_ns,
                    batch.answered_ns,
                    bound.as_millis()
                ));
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_one;

    const SECOND: u64 = 1_000_000_000;

    fn batch(sent_ns: u64, answered_ns: u64, timestamps: &[u64]) -> TimedBatch {
        TimedBatch {
            sent_ns,
            answered_ns,
            timestamps: timestamps.iter().enumerate().map(|(i, &t)| (i as u128 + 1, t)).collect(),
        }
    }

    #[test]
    fn timestamps_within_the_window_and_its_bound_pass() {
        let bound = Duration::from_millis(500);
        let batches =
            [batch(100 * SECOND, 101 * SECOND, &[100 * SECOND, 101 * SECOND + SECOND / 2])];
        assert!(check(&batches, bound).is_empty());
        // Before the send, within the bound.
        assert!(
            check(&[batch(100 * SECOND, 101 * SECOND, &[100 * SECOND - SECOND / 4])], bound)
                .is_empty()
        );
    }

    #[test]
    fn a_leader_an_hour_ahead_is_caught() {
        let violations = check(
            &[batch(100 * SECOND, 101 * SECOND, &[101 * SECOND + 3_600 * SECOND])],
            Duration::from_millis(500),
        );
        assert_one(&violations, "transfer 1 was judged at");
        assert!(violations[0].contains("3600000 ms from the true time"), "{violations:?}");
    }

    #[test]
    fn a_frozen_clock_is_caught() {
        let violations = check(
            &[batch(4_000 * SECOND, 4_001 * SECOND, &[400 * SECOND])],
            Duration::from_millis(500),
        );
        assert_one(&violations, "-3600000 ms from the true time");
    }
}
