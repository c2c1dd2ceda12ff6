//! The bucket unit at each boundary of the rule, and which bucket an instant falls in at the
//! edges of a bucket and of the period.

use super::*;
use crate::report::{BUCKETS_MAX, BucketUnit, Buckets, ReportError};

const DAY_NS: u64 = 24 * HOUR;

fn unit(since: u64, until: u64) -> Result<(BucketUnit, usize), ReportError> {
    let buckets = Buckets::for_period(Period::new(since, until)?)?;
    Ok((buckets.unit(), buckets.count()))
}

#[test]
fn the_finest_unit_within_the_bucket_bound_is_chosen() {
    let most = BUCKETS_MAX;
    assert_eq!(unit(DAY, DAY + 1), Ok((BucketUnit::Minute, 1)));
    assert_eq!(unit(DAY, DAY + most * MINUTE), Ok((BucketUnit::Minute, 366)));
    assert_eq!(unit(DAY, DAY + most * MINUTE + 1), Ok((BucketUnit::Hour, 7)));
    assert_eq!(unit(DAY, DAY + DAY_NS), Ok((BucketUnit::Hour, 24)));
    assert_eq!(unit(DAY, DAY + most * HOUR), Ok((BucketUnit::Hour, 366)));
    assert_eq!(unit(DAY, DAY + most * HOUR + 1), Ok((BucketUnit::Day, 16)));
    assert_eq!(unit(DAY, DAY + most * DAY_NS), Ok((BucketUnit::Day, 366)));
    assert_eq!(
        unit(DAY, DAY + most * DAY_NS + 1),
        Err(ReportError::PeriodTooLong { since: DAY, until: DAY + most * DAY_NS + 1 })
    );
}

#[test]
fn an_unaligned_start_counts_the_bucket_it_starts_in() {
    // 30 s into a minute: the first bucket starts at the whole minute, so 366 minutes from
    // there need 367 minute buckets, and hours are chosen.
    assert_eq!(unit(DAY + 30 * SECOND, DAY + BUCKETS_MAX * MINUTE), Ok((BucketUnit::Minute, 366)));
    assert_eq!(unit(DAY + 30 * SECOND, DAY + BUCKETS_MAX * MINUTE + 1), Ok((BucketUnit::Hour, 7)));
    let buckets = Buckets::for_period(Period::new(DAY + 30 * SECOND, DAY + HOUR).expect("period"))
        .expect("buckets");
    assert_eq!((buckets.start(), buckets.count()), (DAY, 60));
}

#[test]
fn empty_periods_are_refused() {
    assert_eq!(Period::new(DAY, DAY), Err(ReportError::EmptyPeriod { since: DAY, until: DAY }));
    assert_eq!(
        Period::new(DAY + 1, DAY),
        Err(ReportError::EmptyPeriod { since: DAY + 1, until: DAY })
    );
}

#[test]
fn instants_fall_in_their_bucket_at_the_edges() {
    let buckets =
        Buckets::for_period(Period::new(DAY, DAY + DAY_NS).expect("period")).expect("buckets");
    assert_eq!(buckets.unit(), BucketUnit::Hour);
    assert_eq!(buckets.index_of(DAY - 1), None);
    assert_eq!(buckets.index_of(DAY), Some(0));
    assert_eq!(buckets.index_of(DAY + HOUR - 1), Some(0));
    assert_eq!(buckets.index_of(DAY + HOUR), Some(1));
    assert_eq!(buckets.index_of(DAY + DAY_NS - 1), Some(23));
    assert_eq!(buckets.index_of(DAY + DAY_NS), None);
    assert_eq!(buckets.bucket_start(0), Some(DAY));
    assert_eq!(buckets.bucket_start(24), Some(DAY + DAY_NS));
    assert_eq!(buckets.bucket_start(25), None);
    let period = Period::new(DAY, DAY + 1).expect("period");
    assert!(period.contains(DAY) && !period.contains(DAY + 1) && !period.contains(DAY - 1));
}

#[test]
fn periods_at_the_end_of_time_do_not_overflow() {
    let buckets = Buckets::for_period(Period::new(u64::MAX - HOUR, u64::MAX).expect("period"))
        .expect("buckets");
    assert_eq!(buckets.index_of(u64::MAX - 1).map(|index| index < buckets.count()), Some(true));
    assert_eq!(buckets.bucket_start(buckets.count()), None, "the last end is past u64::MAX");
}
