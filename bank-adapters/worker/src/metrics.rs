//! The worker's Prometheus metrics, per bank and direction (`out` payouts, `in` collections):
//! outcomes by result, the effective success rate's inputs (attempted and succeeded), payouts
//! by state, the oldest non-final payout's age, gateway errors by kind (signature refusals
//! among them), bank call latency, the low-balance watch, and pushed callbacks (how each was
//! answered, and refusals by reason). One [`WorkerMetrics`] per
//! worker; the binary serves [`WorkerMetrics::registry`].
//!
//! Label sets are bounded: `bank` is a configured bank id, `result` / `kind` / `call` /
//! `state` are fixed names, `account` a configured watch name.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tianping_bank_adapters::gateway::GatewayError;

/// `bank` and `direction`.
type BankLabels = [(&'static str, String); 2];
/// `bank`, `direction` and one more fixed name.
type BankNameLabels = [(&'static str, String); 3];
/// `account`.
type AccountLabels = [(&'static str, String); 1];
/// `bank` and one fixed name.
type BankOnlyNameLabels = [(&'static str, String); 2];

/// Payouts go out.
pub const OUT: &str = "out";
/// Collections come in.
pub const IN: &str = "in";

/// Every metric of one worker.
#[derive(Debug)]
pub struct WorkerMetrics {
    registry: Registry,
    outcomes: Family<BankNameLabels, Counter>,
    attempted: Family<BankLabels, Counter>,
    succeeded: Family<BankLabels, Counter>,
    by_state: Family<BankNameLabels, Gauge>,
    oldest_non_final_seconds: Family<BankLabels, Gauge>,
    gateway_errors: Family<BankNameLabels, Counter>,
    bank_latency: Family<BankNameLabels, Histogram>,
    low_balance: Family<AccountLabels, Gauge>,
    available_balance: Family<AccountLabels, Gauge>,
    callbacks: Family<BankOnlyNameLabels, Counter>,
    callback_refusals: Family<BankOnlyNameLabels, Counter>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        WorkerMetrics::new()
    }
}

fn bank_labels(bank: u32, direction: &'static str) -> BankLabels {
    [("bank", bank.to_string()), ("direction", direction.to_owned())]
}

fn named(bank: u32, direction: &'static str, key: &'static str, name: &str) -> BankNameLabels {
    let [bank, direction] = bank_labels(bank, direction);
    [bank, direction, (key, name.to_owned())]
}

impl WorkerMetrics {
    /// A registry with every family registered.
    pub fn new() -> WorkerMetrics {
        let mut registry = Registry::default();
        let outcomes = Family::<BankNameLabels, Counter>::default();
        registry.register(
            "tianping_bank_outcomes",
            "Payout claims and collection entries by how they ended",
            outcomes.clone(),
        );
        let attempted = Family::<BankLabels, Counter>::default();
        registry.register(
            "tianping_bank_attempted",
            "Payouts brought to a final state (out) and credits booked (in): the success rate's denominator",
            attempted.clone(),
        );
        let succeeded = Family::<BankLabels, Counter>::default();
        registry.register(
            "tianping_bank_succeeded",
            "Payouts that succeeded (out) and credits booked to their beneficiary (in)",
            succeeded.clone(),
        );
        let by_state = Family::<BankNameLabels, Gauge>::default();
        registry.register(
            "tianping_bank_payouts_by_state",
            "Non-final payouts of the bank by state, at the last census (capped per state)",
            by_state.clone(),
        );
        let oldest_non_final_seconds = Family::<BankLabels, Gauge>::default();
        registry.register(
            "tianping_bank_oldest_non_final_payout_age_seconds",
            "Age of the oldest non-final payout seen at the last census",
            oldest_non_final_seconds.clone(),
        );
        let gateway_errors = Family::<BankNameLabels, Counter>::default();
        registry.register(
            "tianping_bank_gateway_errors",
            "Gateway errors by kind (signature: an answer refused by signature or replay checks)",
            gateway_errors.clone(),
        );
        // 5 ms to ~80 s: a direct-connect call takes tens of milliseconds, a file exchange
        // seconds, and beyond a minute the bank is as good as down.
        let bank_latency = Family::<BankNameLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 15))
        });
        registry.register(
            "tianping_bank_call_latency_seconds",
            "Bank call latency by call (submit, query, notifications)",
            bank_latency.clone(),
        );
        let low_balance = Family::<AccountLabels, Gauge>::default();
        registry.register(
            "tianping_bank_low_balance",
            "1 while a watched account's available balance is at or below its threshold",
            low_balance.clone(),
        );
        let available_balance = Family::<AccountLabels, Gauge>::default();
        registry.register(
            "tianping_bank_available_balance",
            "A watched account's available balance in minor units (saturated to i64)",
            available_balance.clone(),
        );
        let callbacks = Family::<BankOnlyNameLabels, Counter>::default();
        registry.register(
            "tianping_bank_callbacks",
            "Verified bank callbacks by how they were answered (recorded, settled, already_final, not_final, retry, wrong_account, unreadable, disagrees, ...)",
            callbacks.clone(),
        );
        let callback_refusals = Family::<BankOnlyNameLabels, Counter>::default();
        registry.register(
            "tianping_bank_callback_refusals",
            "Bank callbacks refused before their body was read, by reason (bad_signature, missing_signature, replayed, stale_timestamp, unknown_key, malformed, not_a_callback, ...)",
            callback_refusals.clone(),
        );
        WorkerMetrics {
            registry,
            outcomes,
            attempted,
            succeeded,
            by_state,
            oldest_non_final_seconds,
            gateway_errors,
            bank_latency,
            low_balance,
            available_balance,
            callbacks,
            callback_refusals,
        }
    }

    /// The registry the binary serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// One payout claim or collection entry ended with `result`.
    pub fn outcome(&self, bank: u32, direction: &'static str, result: &str) {
        self.outcomes.get_or_create(&named(bank, direction, "result", result)).inc();
    }

    /// One attempt reached its end; `succeeded` says how.
    pub fn attempt(&self, bank: u32, direction: &'static str, succeeded: bool) {
        self.attempted.get_or_create(&bank_labels(bank, direction)).inc();
        if succeeded {
            self.succeeded.get_or_create(&bank_labels(bank, direction)).inc();
        }
    }

    /// The census saw `count` payouts in `state`.
    pub fn payouts_in_state(&self, bank: u32, state: &str, count: usize) {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.by_state.get_or_create(&named(bank, OUT, "state", state)).set(count);
    }

    /// The census's oldest non-final payout.
    pub fn oldest_non_final(&self, bank: u32, age: Duration) {
        let seconds = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        self.oldest_non_final_seconds.get_or_create(&bank_labels(bank, OUT)).set(seconds);
    }

    /// A gateway call failed so.
    pub fn gateway_error(&self, bank: u32, direction: &'static str, error: &GatewayError) {
        self.gateway_errors.get_or_create(&named(bank, direction, "kind", error_kind(error))).inc();
    }

    /// A bank call took `elapsed`.
    pub fn bank_call(&self, bank: u32, direction: &'static str, call: &str, elapsed: Duration) {
        self.bank_latency
            .get_or_create(&named(bank, direction, "call", call))
            .observe(elapsed.as_secs_f64());
    }

    /// A verified callback of `bank` (`None`: a bank without callbacks here) was answered so.
    pub fn callback(&self, bank: Option<u32>, result: &str) {
        let bank = bank.map_or_else(|| "unknown".to_owned(), |bank| bank.to_string());
        self.callbacks.get_or_create(&[("bank", bank), ("result", result.to_owned())]).inc();
    }

    /// A callback of `bank` was refused before its body was read, for `reason`.
    pub fn callback_refused(&self, bank: u32, reason: &str) {
        let labels = [("bank", bank.to_string()), ("reason", reason.to_owned())];
        self.callback_refusals.get_or_create(&labels).inc();
    }

    /// A watched account's reading.
    pub fn balance(&self, account: &str, available: i128, low: bool) {
        let labels = [("account", account.to_owned())];
        let saturated =
            i64::try_from(available).unwrap_or(if available < 0 { i64::MIN } else { i64::MAX });
        self.available_balance.get_or_create(&labels).set(saturated);
        self.low_balance.get_or_create(&labels).set(i64::from(low));
    }
}

/// The metric label of a gateway error: an exhaustive match, so a new kind is named.
pub fn error_kind(error: &GatewayError) -> &'static str {
    match error {
        GatewayError::NotSent(_) => "not_sent",
        GatewayError::NotDelivered { .. } => "not_delivered",
        GatewayError::Unavailable { .. } => "unavailable",
        GatewayError::BankStatus { .. } => "bank_status",
        GatewayError::WrongAnswer { .. } => "wrong_answer",
        GatewayError::WrongAccount { .. } => "wrong_account",
        GatewayError::Xml(_) => "unreadable_xml",
        GatewayError::Signature(_) => "signature",
        GatewayError::Body(_) => "unreadable_body",
        GatewayError::Signing(_) => "signing",
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn metrics_are_labelled_per_bank_and_direction() {
        let metrics = WorkerMetrics::new();
        metrics.outcome(2, OUT, "fenced");
        metrics.attempt(2, OUT, true);
        metrics.attempt(2, IN, false);
        metrics.gateway_error(2, OUT, &GatewayError::Unavailable { detail: "down".into() });
        metrics.bank_call(2, OUT, "submit", Duration::from_millis(30));
        metrics.balance("prepayment", -5, true);
        metrics.callback(Some(2), "settled");
        metrics.callback(None, "unknown_bank");
        metrics.callback_refused(2, "replayed");
        let mut text = String::new();
        encode(&mut text, metrics.registry()).expect("encodes");
        for line in [
            "tianping_bank_outcomes_total{bank=\"2\",direction=\"out\",result=\"fenced\"} 1",
            "tianping_bank_attempted_total{bank=\"2\",direction=\"in\"} 1",
            "tianping_bank_succeeded_total{bank=\"2\",direction=\"out\"} 1",
            "tianping_bank_gateway_errors_total{bank=\"2\",direction=\"out\",kind=\"unavailable\"} 1",
            "tianping_bank_available_balance{account=\"prepayment\"} -5",
            "tianping_bank_low_balance{account=\"prepayment\"} 1",
            "tianping_bank_callbacks_total{bank=\"2\",result=\"settled\"} 1",
            "tianping_bank_callbacks_total{bank=\"unknown\",result=\"unknown_bank\"} 1",
            "tianping_bank_callback_refusals_total{bank=\"2\",reason=\"replayed\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
