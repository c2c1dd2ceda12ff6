//! The figures: transfers per second over the measured window and request latency percentiles
//! from an HDR histogram (microseconds, 3 significant digits), merged across client tasks.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::LoadgenError;

/// The longest latency the histogram holds, in microseconds (an hour: far beyond any request
/// timeout, so every answered request is recorded; longer ones are clamped to it).
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// Significant decimal digits the histogram keeps (0.1 % precision).
const LATENCY_DIGITS: u8 = 3;

/// An empty latency histogram of the bench's range.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_DIGITS)
        .expect("1 ..= an hour at 3 digits is a valid histogram range")
}

/// What one client task saw.
pub(crate) struct TaskReport {
    /// Latency of every measured request, in microseconds.
    latencies_us: Histogram<u64>,
    /// Transfers answered `ok` in the measured window.
    transfers_ok: u64,
    /// Transfers answered `ok` over the whole run, warm-up included: what the nodes did the
    /// work for, so the cost per transfer (CPU, bytes written) divides by it.
    transfers_committed: u64,
    /// Transfers not answered `ok` (other result codes, failed requests), all run long.
    failures: u64,
    /// One failure, in words.
    example_failure: Option<String>,
}

impl TaskReport {
    pub(crate) fn new() -> TaskReport {
        TaskReport {
            latencies_us: histogram(),
            transfers_ok: 0,
            transfers_committed: 0,
            failures: 0,
            example_failure: None,
        }
    }

    /// `ok` transfers answered, measured or not.
    pub(crate) fn committed(&mut self, ok: u64) {
        self.transfers_committed += ok;
    }

    /// A measured request: `ok` transfers answered after `latency`.
    pub(crate) fn answered(&mut self, ok: u64, latency: Duration) {
        self.transfers_ok += ok;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latencies_us.saturating_record(micros.clamp(1, LATENCY_US_MAX));
    }

    /// `count` transfers failed; `example` says how, if none was kept yet.
    pub(crate) fn fail(&mut self, count: u64, example: Option<String>) {
        self.failures += count;
        if self.example_failure.is_none() {
            self.example_failure = example;
        }
    }
}

/// The whole run's figures.
pub struct Report {
    latencies_us: Histogram<u64>,
    /// Transfers answered `ok` in the measured window.
    pub transfers_ok: u64,
    /// Transfers answered `ok` over the whole run, warm-up included.
    pub transfers_committed: u64,
    /// Transfers not answered `ok`, over the whole run.
    pub failures: u64,
    example_failure: Option<String>,
    measured: Duration,
}

impl Report {
    pub(crate) fn new(measured: Duration) -> Report {
        Report {
            latencies_us: histogram(),
            transfers_ok: 0,
            transfers_committed: 0,
            failures: 0,
            example_failure: None,
            measured,
        }
    }

    /// Merges one task's figures in.
    pub(crate) fn add(&mut self, task: TaskReport) {
        // Same bounds on both sides, so the merge cannot fail.
        let _ = self.latencies_us.add(&task.latencies_us);
        self.transfers_ok += task.transfers_ok;
        self.transfers_committed += task.transfers_committed;
        self.failures += task.failures;
        self.example_failure = self.example_failure.take().or(task.example_failure);
    }

    /// Requests measured.
    pub fn requests(&self) -> u64 {
        self.latencies_us.len()
    }

    /// Seconds measured (the run minus the warm-up).
    pub fn measured_seconds(&self) -> f64 {
        self.measured.as_secs_f64()
    }

    /// Transfers answered `ok` per second of the measured window.
    pub fn transfers_per_second(&self) -> f64 {
        self.transfers_ok as f64 / self.measured_seconds()
    }

    /// The latency at `percentile` (0..=100) of the measured requests, in milliseconds; 0 with
    /// none measured.
    pub fn latency_ms(&self, percentile: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.value_at_percentile(percentile) as f64 / 1_000.0
    }

    /// Whether the figures count: no failure, something committed.
    pub fn verdict(&self) -> Result<(), LoadgenError> {
        if self.failures > 0 {
            return Err(LoadgenError::Failures {
                failures: self.failures,
                example: self.example_failure.clone().unwrap_or_default(),
            });
        }
        if self.transfers_ok == 0 {
            return Err(LoadgenError::NothingCommitted);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(latencies_ms: impl IntoIterator<Item = u64>) -> Report {
        let mut task = TaskReport::new();
        for ms in latencies_ms {
            task.answered(10, Duration::from_millis(ms));
        }
        let mut report = Report::new(Duration::from_secs(2));
        report.add(task);
        report
    }

    #[test]
    fn percentiles_pick_the_rank() {
        let report = report_of(1..=100);
        assert_eq!(report.requests(), 100);
        assert!((report.latency_ms(50.0) - 50.0).abs() < 0.1, "{}", report.latency_ms(50.0));
        assert!((report.latency_ms(99.0) - 99.0).abs() < 0.1, "{}", report.latency_ms(99.0));
        assert_eq!(report.transfers_per_second(), 500.0);
        assert_eq!(report_of([]).latency_ms(99.0), 0.0);
        assert!((report_of([2]).latency_ms(50.0) - 2.0).abs() < 0.01);
    }

    #[test]
    fn failures_and_empty_runs_do_not_count() {
        assert!(report_of([1, 2]).verdict().is_ok());
        assert!(matches!(report_of([]).verdict(), Err(LoadgenError::NothingCommitted)));
        let mut task = TaskReport::new();
        task.answered(5, Duration::from_millis(3));
        task.fail(2, Some("result exceeds_credits".into()));
        task.fail(1, Some("later".into()));
        let mut report = Report::new(Duration::from_secs(1));
        report.add(task);
        match report.verdict() {
            Err(LoadgenError::Failures { failures: 3, example }) => {
                assert_eq!(example, "result exceeds_credits");
            }
            other => panic!("{other:?}"),
        }
    }
}
