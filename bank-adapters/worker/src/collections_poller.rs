//! The collections poller of one bank: fetch the custody account's notifications after the
//! cursor, book them with the plans of [`crate::collections`], advance the cursor only when
//! every entry of the page is settled (booked, a duplicate, a conflict, or skipped). A refused
//! booking or a return
//! whose payout is not final yet keeps the cursor, and the page is fetched again after a
//! backoff: booking is idempotent per bank reference, so the entries already booked answer
//! `exists`.
//!
//! Where the cursor is kept: in memory only. On a restart the poller starts from the bank's
//! beginning (an empty cursor) and replays every notification the bank still serves; each
//! books as `exists`. The cursor is an optimisation, never the exactly-once guarantee (that is
//! the ledger's per-reference key), so it needs no durable home of its own: a file would be
//! state on a worker meant to be replaceable, and a ledger record would need a new command.
//!
//! Whose notifications: the custody account's only ([`BankConfig::custody_account`]). The
//! bank holds other customers' accounts too — a merchant our payouts pay may bank there — and
//! a credit to one of them is money the company never received; booked as a collection it
//! would appear in the ledger (as it did, before the feed was per account, for payouts to a
//! merchant at the same bank). The gateway asks for the custody account's feed and refuses an
//! answer about another; the poller refuses such a page once more before booking.

use std::time::Duration;

use tianping_bank_adapters::gateway::{
    BankGateway, GatewayError, NotificationCursor, NotificationPage,
};
use tianping_client::Error;
use tokio::time::Instant;

use crate::booking::book_entries;
use crate::config::BankConfig;
use crate::ledger::{CollectionsLedger, WorkerLedger};
use crate::metrics::{IN, WorkerMetrics};
use crate::payout_worker::{BACKOFF_DELAY_MAX, BACKOFF_DELAY_MIN, BankContext};

/// Most entries fetched (and booked, as one batch) per page.
pub const NOTIFICATIONS_PAGE_MAX: usize = 256;

const _: () = assert!(NOTIFICATIONS_PAGE_MAX <= tianping_ledger::BATCH_EVENTS_MAX);

/// How long the poller waits when the feed has nothing new.
pub const NOTIFICATIONS_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Why a page was not settled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PollError {
    /// The bank did not answer.
    #[error("bank: {0}")]
    Gateway(#[from] GatewayError),
    /// The ledger did not answer.
    #[error("ledger: {0}")]
    Ledger(#[from] Error),
}

/// What one bank's poller works with.
pub(crate) struct Poller<'a, G, L> {
    pub(crate) gateway: &'a G,
    pub(crate) ledger: &'a L,
    pub(crate) bank: &'a BankConfig,
    pub(crate) metrics: &'a WorkerMetrics,
}

/// How one page went.
pub(crate) struct PageOutcome {
    pub(crate) next_cursor: NotificationCursor,
    pub(crate) entries: usize,
    pub(crate) settled: bool,
}

/// Fetches and books one page after `cursor`.
pub(crate) async fn poll_page<G: BankGateway, L: CollectionsLedger>(
    poller: &Poller<'_, G, L>,
    cursor: &NotificationCursor,
) -> Result<PageOutcome, PollError> {
    let bank = poller.bank.bank();
    let metrics = poller.metrics;
    let started = Instant::now();
    let custody = poller.bank.custody_account();
    let page = poller.gateway.fetch_notifications(custody, cursor, NOTIFICATIONS_PAGE_MAX).await;
    metrics.bank_call(bank, IN, "notifications", started.elapsed());
    let page = page.and_then(|page| of_custody_account(page, custody));
    let page = page.inspect_err(|error| metrics.gateway_error(bank, IN, error))?;
    let settled = book_entries(poller.ledger, poller.bank, metrics, &page.entries).await?;
    Ok(PageOutcome { next_cursor: page.next_cursor, entries: page.entries.len(), settled })
}

/// The page, if it is of the custody account. The gateways already refuse a bank's answer
/// about another account; this checks once more where money is booked, so a gateway that
/// forgot would be refused too (counted as `wrong_account`) and the page never booked: a
/// credit to another customer's account at the bank is not money we received.
fn of_custody_account(
    page: NotificationPage,
    custody: &str,
) -> Result<NotificationPage, GatewayError> {
    if page.account == custody {
        Ok(page)
    } else {
        Err(GatewayError::WrongAccount { asked: custody.to_owned(), answered: page.account })
    }
}

/// The poller of one bank, until the stop signal.
pub(crate) async fn collections_loop<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
) {
    let poller = Poller {
        gateway: context.gateway,
        ledger: context.ledger,
        bank: context.bank,
        metrics: context.metrics,
    };
    let mut cursor = NotificationCursor(String::new());
    let stop = &context.stop;
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        let delay = match poll_page(&poller, &cursor).await {
            Ok(outcome) if outcome.settled => {
                failures = 0;
                let idle = outcome.entries == 0 || outcome.next_cursor == cursor;
                cursor = outcome.next_cursor;
                if idle { NOTIFICATIONS_POLL_INTERVAL } else { Duration::ZERO }
            }
            Ok(_) => {
                failures = failures.saturating_add(1);
                backoff(failures)
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(bank = context.bank.bank(), %error, "notifications not booked");
                backoff(failures)
            }
        };
        // Biased (fixed order), as every select in code the simulation runs: tokio's random
        // branch order is seeded from a process-wide counter, so one seed would not replay.
        tokio::select! {
            biased;
            () = stop.cancelled() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Doubling from the minimum to the maximum (no jitter needed: one poller per bank).
fn backoff(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    BACKOFF_DELAY_MIN.saturating_mul(factor).min(BACKOFF_DELAY_MAX)
}

// Against the simulator's HTTP server, which is not compiled under madsim.
#[cfg(all(test, not(madsim)))]
pub(crate) mod tests;
