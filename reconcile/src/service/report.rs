//! Reporting findings: each becomes a discrepancy recorded in the ledger (which outflow-blocks
//! its accounts in the same event), a `warn` log line when it is new, and a metric.
//!
//! Recorded in batches through `record_discrepancies`. The id is derived from the finding
//! (`ids`), so a second reconciler — or this one again after a failed period — reporting the
//! same difference is answered `exists` and changes nothing. A report the ledger could not
//! take because it was unreachable stays queued and goes first next period: a finding is made
//! once (a matching key closes once), so it must not be lost to an outage. A report the
//! ledger refuses (an account that does not exist) is logged as an error and dropped: sending
//! it again would be refused again.

use tianping_ledger::{NewDiscrepancy, ResultCode};

use crate::finding::Finding;
use crate::service::ledger_side::LedgerSide;
use crate::service::metrics::ReconcileMetrics;

/// Most discrepancies recorded in one batch: well inside a log entry, and a failed batch is
/// retried whole (the ledger answers `exists` for the ones it took).
pub const REPORT_BATCH_MAX: usize = 256;

const _: () = assert!(REPORT_BATCH_MAX <= tianping_ledger::BATCH_EVENTS_MAX);

/// How the reports of one flush ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Recorded now: the discrepancy is new, its accounts blocked.
    pub new: u64,
    /// Recorded before (by this reconciler or another): nothing changed.
    pub existing: u64,
    /// Refused by the ledger, or not expressible as a discrepancy: logged, dropped.
    pub refused: u64,
}

/// The reports of one bank not yet recorded.
#[derive(Debug)]
pub struct Reporter {
    bank: u32,
    actor: String,
    pending: Vec<NewDiscrepancy>,
}

impl Reporter {
    /// A reporter for `bank`, recording as `actor`.
    pub fn new(bank: u32, actor: &str) -> Reporter {
        Reporter { bank, actor: actor.to_owned(), pending: Vec::new() }
    }

    /// Queues `finding`, found at `cutoff` (ns). A finding that cannot be a discrepancy (too
    /// many accounts) is logged and counted as refused.
    pub fn queue(&mut self, finding: &Finding, cutoff: u64, metrics: &ReconcileMetrics) {
        match finding.to_new_discrepancy(cutoff, &self.actor) {
            Ok(discrepancy) => self.pending.push(discrepancy),
            Err(error) => {
                metrics.recorded(self.bank, "refused");
                tracing::error!(
                    bank = self.bank,
                    class = finding.class.name(),
                    reference = %finding.key.reference(finding.bank_reference.as_deref()),
                    %error,
                    "a finding could not be reported"
                );
            }
        }
    }

    /// Reports queued and not yet recorded.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Records everything queued. On a ledger error what was not recorded stays queued.
    pub async fn flush<L: LedgerSide>(
        &mut self,
        ledger: &L,
        metrics: &ReconcileMetrics,
    ) -> Result<Recorded, L::Error> {
        let mut recorded = Recorded::default();
        while !self.pending.is_empty() {
            let batch = self.pending.len().min(REPORT_BATCH_MAX);
            let results = ledger.record_discrepancies(&self.pending[..batch]).await?;
            for (index, discrepancy) in self.pending[..batch].iter().enumerate() {
                let code = results.get(index).map(|result| result.code);
                match code {
                    Some(ResultCode::Ok) => {
                        recorded.new += 1;
                        metrics.recorded(self.bank, "new");
                        tracing::warn!(
                            bank = discrepancy.bank,
                            class = discrepancy.class.name(),
                            reference = %discrepancy.reference,
                            accounts = ?discrepancy.account_ids,
                            ledger_amount = ?discrepancy.ledger_amount,
                            bank_amount = ?discrepancy.bank_amount,
                            discrepancy = discrepancy.id,
                            "discrepancy recorded; its accounts are outflow-blocked until an operator resolves it"
                        );
                    }
                    Some(ResultCode::Exists) => {
                        recorded.existing += 1;
                        metrics.recorded(self.bank, "exists");
                        tracing::debug!(
                            bank = discrepancy.bank,
                            discrepancy = discrepancy.id,
                            "discrepancy reported before"
                        );
                    }
                    other => {
                        recorded.refused += 1;
                        metrics.recorded(self.bank, "refused");
                        tracing::error!(
                            bank = discrepancy.bank,
                            class = discrepancy.class.name(),
                            reference = %discrepancy.reference,
                            accounts = ?discrepancy.account_ids,
                            code = ?other,
                            "the ledger refused a discrepancy"
                        );
                    }
                }
            }
            self.pending.drain(..batch);
        }
        Ok(recorded)
    }
}
