//! Booking a bank's entries on the custody account into the ledger: one path, so the
//! collections poller (a page of notifications) and the callback desk (one pushed entry) book
//! by the same rules ([`crate::collections`]) under the same per-reference key.

use std::collections::BTreeSet;

use tianping_bank_adapters::gateway::BankEntry;
use tianping_client::Error;

use crate::collections::{Booking, EntryKind, Plan, classify, plan};
use crate::config::BankConfig;
use crate::ledger::CollectionsLedger;
use crate::metrics::{IN, WorkerMetrics};

/// Books `entries` of the custody account with the plans of [`crate::collections`], as one
/// batch, counting each outcome; true when every entry is settled (booked, a duplicate, a
/// conflict, or skipped), false when one must be seen again (a refusal, a return whose
/// payout is not final yet). The poller books each page through it, the callback desk each
/// pushed entry, so both paths book by the same rules and the same per-reference key.
pub(crate) async fn book_entries<L: CollectionsLedger>(
    ledger: &L,
    bank_config: &BankConfig,
    metrics: &WorkerMetrics,
    entries: &[BankEntry],
) -> Result<bool, Error> {
    let bank = bank_config.bank();
    let accounts = &bank_config.collections;
    let kinds: Vec<EntryKind> = entries.iter().map(|entry| classify(entry, accounts)).collect();
    let returned: BTreeSet<u128> = kinds
        .iter()
        .filter_map(|kind| match kind {
            EntryKind::Return { payout_id } => *payout_id,
            EntryKind::Credit { .. } | EntryKind::Skip(_) => None,
        })
        .collect();
    let payouts = if returned.is_empty() {
        Vec::new()
    } else {
        let ids: Vec<u128> = returned.into_iter().collect();
        ledger.lookup_payouts(&ids).await?
    };
    let mut settled = true;
    let mut collections = Vec::new();
    for (entry, kind) in entries.iter().zip(kinds) {
        let payout = match kind {
            EntryKind::Return { payout_id: Some(id) } => payouts.iter().find(|p| p.id == id),
            _ => None,
        };
        match plan(entry, kind, accounts, payout) {
            Plan::Book(collection) => collections.push(collection),
            Plan::Defer { payout_id } => {
                settled = false;
                metrics.outcome(bank, IN, "deferred");
                tracing::info!(bank, payout_id, reference = %entry.bank_reference, "return waits for its payout to be final");
            }
            Plan::Skip(reason) => {
                metrics.outcome(bank, IN, reason.label());
                tracing::debug!(bank, reference = %entry.bank_reference, reason = reason.label(), "entry not booked");
            }
        }
    }
    if !collections.is_empty() {
        let results = ledger.book_collections(&collections).await?;
        for (collection, result) in collections.iter().zip(&results) {
            let booking = Booking::of(result);
            metrics.outcome(bank, IN, booking.label());
            match booking {
                Booking::Booked => metrics.attempt(bank, IN, true),
                Booking::Suspense(reason) => {
                    metrics.attempt(bank, IN, false);
                    tracing::warn!(bank, reference = %collection.bank_reference, ?reason, "credit booked to suspense");
                }
                Booking::Duplicate => {}
                Booking::Conflict(code) | Booking::Refused(code) => {
                    tracing::error!(bank, reference = %collection.bank_reference, ?code, "collection not booked");
                }
            }
            settled &= booking.settled();
        }
    }
    Ok(settled)
}
