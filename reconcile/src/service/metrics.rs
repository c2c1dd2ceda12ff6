//! The reconciler's Prometheus metrics, per bank: findings by class, discrepancies recorded by
//! result, movements matched, payouts in flight, the matching window, the last successful
//! balance check and its unexplained difference, balance checks skipped by reason, failed
//! periods (consecutive, and by side), matching runs and closed statement days. One
//! [`ReconcileMetrics`] per reconciler; the binary serves [`ReconcileMetrics::registry`] on
//! `GET /metrics`, as it serves the worker's.
//!
//! Label sets are bounded: `bank` is a configured bank, `class` one of the six discrepancy
//! classes, `result` / `reason` / `side` fixed names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tianping_ledger::DiscrepancyClass;

/// `bank`.
type BankLabels = [(&'static str, String); 1];
/// `bank` and one fixed name.
type BankNameLabels = [(&'static str, String); 2];

fn bank_labels(bank: u32) -> BankLabels {
    [("bank", bank.to_string())]
}

fn named(bank: u32, key: &'static str, name: &str) -> BankNameLabels {
    [("bank", bank.to_string()), (key, name.to_owned())]
}

fn saturated(value: impl TryInto<i64>, negative: bool) -> i64 {
    value.try_into().unwrap_or(if negative { i64::MIN } else { i64::MAX })
}

/// Every metric of one reconciler.
#[derive(Debug)]
pub struct ReconcileMetrics {
    registry: Registry,
    findings: Family<BankNameLabels, Counter>,
    recorded: Family<BankNameLabels, Counter>,
    matched: Family<BankLabels, Counter>,
    in_flight: Family<BankLabels, Gauge>,
    window_items: Family<BankLabels, Gauge>,
    last_balance_check: Family<BankLabels, Gauge>,
    unexplained: Family<BankLabels, Gauge>,
    balance_skipped: Family<BankNameLabels, Counter>,
    failed_periods: Family<BankLabels, Gauge>,
    period_failures: Family<BankNameLabels, Counter>,
    matching_runs: Family<BankLabels, Counter>,
    days_closed: Family<BankLabels, Counter>,
    statement_anomalies: Family<BankNameLabels, Counter>,
}

impl Default for ReconcileMetrics {
    fn default() -> Self {
        ReconcileMetrics::new()
    }
}

impl ReconcileMetrics {
    /// A registry with every family registered.
    pub fn new() -> ReconcileMetrics {
        let mut registry = Registry::default();
        let findings = Family::<BankNameLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_findings",
            "Differences this reconciler found, by class (a balance mismatch once per unexplained difference)",
            findings.clone(),
        );
        let recorded = Family::<BankNameLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_discrepancies_recorded",
            "Discrepancy reports by the ledger's answer: new, exists (another report of the same difference), refused",
            recorded.clone(),
        );
        let matched = Family::<BankLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_matched",
            "Ledger movements matched with a bank entry",
            matched.clone(),
        );
        let in_flight = Family::<BankLabels, Gauge>::default();
        registry.register(
            "tianping_reconcile_in_flight",
            "Payouts the bank executed that the ledger had not made final, at the last balance cut-off",
            in_flight.clone(),
        );
        let window_items = Family::<BankLabels, Gauge>::default();
        registry.register(
            "tianping_reconcile_window_items",
            "Ledger movements and bank entries waiting in the matching window",
            window_items.clone(),
        );
        let last_balance_check = Family::<BankLabels, Gauge>::default();
        registry.register(
            "tianping_reconcile_last_balance_check_seconds",
            "When the last balance check was made, in Unix seconds",
            last_balance_check.clone(),
        );
        let unexplained = Family::<BankLabels, Gauge>::default();
        registry.register(
            "tianping_reconcile_unexplained",
            "The bank's balance minus what the ledger explains at the last balance check, in minor units (saturated to i64)",
            unexplained.clone(),
        );
        let balance_skipped = Family::<BankNameLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_balance_checks_skipped",
            "Balance checks not made, by reason (never a finding from a partial read)",
            balance_skipped.clone(),
        );
        let failed_periods = Family::<BankLabels, Gauge>::default();
        registry.register(
            "tianping_reconcile_failed_periods",
            "Consecutive periods that failed (ledger or bank unreachable); 0 after a good one",
            failed_periods.clone(),
        );
        let period_failures = Family::<BankNameLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_period_failures",
            "Periods that failed, by the side that failed (ledger, bank, stream)",
            period_failures.clone(),
        );
        let matching_runs = Family::<BankLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_matching_runs",
            "Matching runs (对账) summed up: one per matching period",
            matching_runs.clone(),
        );
        let days_closed = Family::<BankLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_statement_days_closed",
            "Statement days matched in full and closed (a lateness past their end)",
            days_closed.clone(),
        );
        let statement_anomalies = Family::<BankNameLabels, Counter>::default();
        registry.register(
            "tianping_reconcile_statement_anomalies",
            "Statement entries not fed: repeated (a reference fed already), outside (a closed day), shrunk (a day listing fewer entries than fed)",
            statement_anomalies.clone(),
        );
        ReconcileMetrics {
            registry,
            findings,
            recorded,
            matched,
            in_flight,
            window_items,
            last_balance_check,
            unexplained,
            balance_skipped,
            failed_periods,
            period_failures,
            matching_runs,
            days_closed,
            statement_anomalies,
        }
    }

    /// The registry the binary serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A difference of `class` found.
    pub fn finding(&self, bank: u32, class: DiscrepancyClass) {
        self.findings.get_or_create(&named(bank, "class", class.name())).inc();
    }

    /// A report answered `result` (`new`, `exists`, `refused`).
    pub fn recorded(&self, bank: u32, result: &str) {
        self.recorded.get_or_create(&named(bank, "result", result)).inc();
    }

    /// `count` more movements matched.
    pub fn matched(&self, bank: u32, count: u64) {
        self.matched.get_or_create(&bank_labels(bank)).inc_by(count);
    }

    /// The window's size now.
    pub fn window_items(&self, bank: u32, items: usize) {
        self.window_items.get_or_create(&bank_labels(bank)).set(saturated(items, false));
    }

    /// A balance check made at `unix_seconds`: its payouts in flight and unexplained difference.
    pub fn balance_checked(&self, bank: u32, unix_seconds: u64, in_flight: u64, unexplained: i128) {
        let labels = bank_labels(bank);
        self.last_balance_check.get_or_create(&labels).set(saturated(unix_seconds, false));
        self.in_flight.get_or_create(&labels).set(saturated(in_flight, false));
        self.unexplained.get_or_create(&labels).set(saturated(unexplained, unexplained < 0));
    }

    /// A balance check not made, for `reason`.
    pub fn balance_skipped(&self, bank: u32, reason: &str) {
        self.balance_skipped.get_or_create(&named(bank, "reason", reason)).inc();
    }

    /// A period ended; `failed_side` names the side that failed it, if one did.
    pub fn period(&self, bank: u32, failed_side: Option<&str>, consecutive_failures: u32) {
        self.failed_periods.get_or_create(&bank_labels(bank)).set(i64::from(consecutive_failures));
        if let Some(side) = failed_side {
            self.period_failures.get_or_create(&named(bank, "side", side)).inc();
        }
    }

    /// A matching run was summed up.
    pub fn matching_run(&self, bank: u32) {
        self.matching_runs.get_or_create(&bank_labels(bank)).inc();
    }

    /// A statement day closed.
    pub fn day_closed(&self, bank: u32) {
        self.days_closed.get_or_create(&bank_labels(bank)).inc();
    }

    /// `count` statement entries not fed, for `kind`.
    pub fn statement_anomaly(&self, bank: u32, kind: &str, count: u64) {
        self.statement_anomalies.get_or_create(&named(bank, "kind", kind)).inc_by(count);
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn metrics_are_labelled_per_bank() {
        let metrics = ReconcileMetrics::new();
        metrics.finding(2, DiscrepancyClass::MissingAtBank);
        metrics.recorded(2, "new");
        metrics.matched(2, 5);
        metrics.window_items(2, 7);
        metrics.balance_checked(2, 1_764_000_000, 3, -12);
        metrics.balance_skipped(2, "ledger_moving");
        metrics.period(2, Some("bank"), 4);
        metrics.matching_run(2);
        metrics.day_closed(2);
        metrics.statement_anomaly(2, "repeated", 1);
        let mut text = String::new();
        encode(&mut text, metrics.registry()).expect("encodes");
        for line in [
            "tianping_reconcile_findings_total{bank=\"2\",class=\"missing_at_bank\"} 1",
            "tianping_reconcile_discrepancies_recorded_total{bank=\"2\",result=\"new\"} 1",
            "tianping_reconcile_matched_total{bank=\"2\"} 5",
            "tianping_reconcile_window_items{bank=\"2\"} 7",
            "tianping_reconcile_last_balance_check_seconds{bank=\"2\"} 1764000000",
            "tianping_reconcile_in_flight{bank=\"2\"} 3",
            "tianping_reconcile_unexplained{bank=\"2\"} -12",
            "tianping_reconcile_balance_checks_skipped_total{bank=\"2\",reason=\"ledger_moving\"} 1",
            "tianping_reconcile_failed_periods{bank=\"2\"} 4",
            "tianping_reconcile_period_failures_total{bank=\"2\",side=\"bank\"} 1",
            "tianping_reconcile_matching_runs_total{bank=\"2\"} 1",
            "tianping_reconcile_statement_days_closed_total{bank=\"2\"} 1",
            "tianping_reconcile_statement_anomalies_total{bank=\"2\",kind=\"repeated\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
