//! The report's period and the time buckets its plots count in.
//!
//! A period is half-open, `[since, until)` in ns since the Unix epoch: a discrepancy recorded
//! exactly at `until` belongs to the next report, never to two. Buckets are aligned to whole
//! UTC minutes, hours or days (the first one may start before `since`, the last one may end
//! after `until`), so the axis ticks fall on round times and two reports of overlapping
//! periods put the same discrepancy in the same bucket.

use super::{BUCKETS_MAX, ReportError};

const NS_PER_MINUTE: u64 = 60_000_000_000;
const NS_PER_HOUR: u64 = 60 * NS_PER_MINUTE;
const NS_PER_DAY: u64 = 24 * NS_PER_HOUR;

/// What the report covers: `[since, until)`, ns since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    since: u64,
    until: u64,
}

impl Period {
    /// The period from `since` (included) to `until` (excluded); refused when empty.
    pub fn new(since: u64, until: u64) -> Result<Period, ReportError> {
        if since >= until {
            return Err(ReportError::EmptyPeriod { since, until });
        }
        Ok(Period { since, until })
    }

    /// The first instant covered.
    pub const fn since(&self) -> u64 {
        self.since
    }

    /// The first instant no longer covered.
    pub const fn until(&self) -> u64 {
        self.until
    }

    /// True when `at` lies in `[since, until)`.
    pub const fn contains(&self, at: u64) -> bool {
        self.since <= at && at < self.until
    }
}

/// How wide one bucket of the plots is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BucketUnit {
    /// One UTC minute.
    Minute,
    /// One UTC hour.
    Hour,
    /// One UTC day.
    Day,
}

impl BucketUnit {
    /// Every unit, finest first: the order [`Buckets::for_period`] tries them in.
    pub const ALL: [BucketUnit; 3] = [BucketUnit::Minute, BucketUnit::Hour, BucketUnit::Day];

    /// The unit's width in ns.
    pub const fn width_ns(self) -> u64 {
        match self {
            BucketUnit::Minute => NS_PER_MINUTE,
            BucketUnit::Hour => NS_PER_HOUR,
            BucketUnit::Day => NS_PER_DAY,
        }
    }

    /// The unit's name in headings ("per minute").
    pub const fn name(self) -> &'static str {
        match self {
            BucketUnit::Minute => "minute",
            BucketUnit::Hour => "hour",
            BucketUnit::Day => "day",
        }
    }
}

/// The plots' time buckets: `count` buckets of one `unit` each, the first starting at
/// `start` (`since` rounded down to the unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buckets {
    unit: BucketUnit,
    start: u64,
    count: usize,
}

impl Buckets {
    /// The finest unit that covers `period` in at most [`BUCKETS_MAX`] aligned buckets;
    /// [`ReportError::PeriodTooLong`] when not even days do.
    pub fn for_period(period: Period) -> Result<Buckets, ReportError> {
        for unit in BucketUnit::ALL {
            let width = unit.width_ns();
            let start = period.since - period.since % width;
            // `until > since >= start`, so the span is positive and needs no check.
            let count = (period.until - start).div_ceil(width);
            if count <= BUCKETS_MAX {
                let count = usize::try_from(count)
                    .map_err(|_| ReportError::Overflow { what: "bucket count" })?;
                return Ok(Buckets { unit, start, count });
            }
        }
        Err(ReportError::PeriodTooLong { since: period.since, until: period.until })
    }

    /// The unit.
    pub const fn unit(&self) -> BucketUnit {
        self.unit
    }

    /// Where the first bucket starts (ns since the Unix epoch).
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// How many buckets (1..=[`BUCKETS_MAX`]).
    pub const fn count(&self) -> usize {
        self.count
    }

    /// The bucket `at` falls in, if any.
    pub fn index_of(&self, at: u64) -> Option<usize> {
        let offset = at.checked_sub(self.start)?;
        let index = usize::try_from(offset / self.unit.width_ns()).ok()?;
        (index < self.count).then_some(index)
    }

    /// Where bucket `index` starts (ns since the Unix epoch); `None` past the last bucket's
    /// end or past `u64::MAX`. `index == count` gives the end of the last bucket.
    pub fn bucket_start(&self, index: usize) -> Option<u64> {
        if index > self.count {
            return None;
        }
        let index = u64::try_from(index).ok()?;
        index.checked_mul(self.unit.width_ns())?.checked_add(self.start)
    }
}
