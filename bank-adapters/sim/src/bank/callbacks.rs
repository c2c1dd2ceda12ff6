//! The callbacks a bank pushes, pure: which events are queued for which registered URL, when
//! each is due, and what a delivery's answer does to it. The HTTP server
//! (`crate::server`) takes what is due, seals and sends it, and reports back; nothing here
//! reads a clock or does I/O, so the same seed and calls give the same queue.
//!
//! What is pushed, for an account with a callback URL ([`crate::bank::Bank::register_callback`]):
//! - a payout's status once it is final (executed or rejected, as the bank *tells* it), to
//!   the URL of its debtor account;
//! - every credit booked on the account (an incoming credit, a returned payout's reversal),
//!   except the entries a fault keeps out of the notifications (`return-unnotified`).
//!
//! Debits are not pushed: money out is told by the payout's status callback.
//!
//! Faults, per callback ([`CallbackFaults`], from a payment's directives or the standing
//! probabilities): lost (never queued), duplicated (queued twice, each delivery sealed
//! afresh), reordered (held back until the account's next callback is queued, or
//! [`REORDER_HOLD_MS`] passed), late (due that much later).
//!
//! Delivery: a callback is delivered when due; an answer other than `2xx`, or none, is
//! retried after a doubling delay ([`CALLBACK_RETRY_FIRST_MS`] up to
//! [`CALLBACK_RETRY_MAX_MS`]), at most [`CALLBACK_ATTEMPTS_MAX`] times in all, then abandoned
//! and counted: the client's polling finds what it said. The queue is bounded
//! ([`CALLBACK_OUTBOX_MAX`]); a callback that finds it full is dropped and counted.

use serde::Serialize;
use tianping_bank_adapters::gateway::EndToEndId;

pub use crate::bank::journal::REORDER_HOLD_MS;

/// Most callbacks waiting or in flight per bank: beyond it new ones are dropped (counted),
/// so a client that never answers cannot make the bank grow without bound.
pub const CALLBACK_OUTBOX_MAX: usize = 10_000;

/// Most deliveries of one callback: first try and retries.
pub const CALLBACK_ATTEMPTS_MAX: u32 = 8;

/// The delay before the first retry; each later one doubles.
pub const CALLBACK_RETRY_FIRST_MS: u64 = 250;

/// The longest delay between two deliveries of one callback.
pub const CALLBACK_RETRY_MAX_MS: u64 = 30_000;

/// The longest callback URL accepted.
pub const CALLBACK_URL_CHARS_MAX: usize = 256;

const _: () = assert!(CALLBACK_RETRY_FIRST_MS <= CALLBACK_RETRY_MAX_MS);

/// True for a URL the bank can push to: `http://host[:port][/path]`, visible ASCII, bounded.
pub fn valid_callback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let host = rest.split('/').next().unwrap_or_default();
    !host.is_empty()
        && url.len() <= CALLBACK_URL_CHARS_MAX
        && url.bytes().all(|byte| byte.is_ascii_graphic())
}

/// The faults of one callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackFaults {
    /// Never push it.
    pub lose: bool,
    /// Push it twice.
    pub duplicate: bool,
    /// Hold it until the account's next callback overtakes it.
    pub reorder: bool,
    /// Push it this much later.
    pub late_ms: Option<u64>,
}

/// What a callback tells; its body is written when it is sealed, from the bank's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackEvent {
    /// The final status of the payment with this end-to-end id.
    PayoutStatus(EndToEndId),
    /// The journal entry at this index (a credit).
    Entry(usize),
}

/// A callback due for delivery now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCallback {
    /// The queue's id of this callback (what [`Outbox::settle`] takes back).
    pub id: u64,
    /// The account it is about (whose URL it goes to).
    pub account: String,
    /// What it tells.
    pub event: CallbackEvent,
    /// This delivery's number, from 1.
    pub attempt: u32,
}

/// How a delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// A `2xx` answer: done.
    Accepted,
    /// Anything else, or no answer: retry later (or give up after the last attempt).
    Failed,
}

/// Counters of the pushed callbacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallbackStats {
    /// Callbacks queued (a duplicated one counts twice).
    pub queued: u64,
    /// Callbacks a fault duplicated.
    pub duplicated: u64,
    /// Callbacks a fault lost (never queued).
    pub lost: u64,
    /// Callbacks dropped because the queue was full.
    pub overflowed: u64,
    /// Deliveries tried.
    pub attempts: u64,
    /// Callbacks answered `2xx`.
    pub delivered: u64,
    /// Deliveries that failed and were scheduled again.
    pub retried: u64,
    /// Callbacks given up after [`CALLBACK_ATTEMPTS_MAX`] failed deliveries (or whose URL
    /// was withdrawn).
    pub abandoned: u64,
}

#[derive(Debug, Clone)]
struct Queued {
    id: u64,
    account: String,
    event: CallbackEvent,
    queued_at_ms: u64,
    due_ms: u64,
    attempts: u32,
    held: bool,
    in_flight: bool,
}

/// One bank's callbacks waiting or in flight, in delivery order (module doc).
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Vec<Queued>,
    next_id: u64,
    stats: CallbackStats,
}

impl Outbox {
    /// The counters.
    pub fn stats(&self) -> CallbackStats {
        self.stats
    }

    /// Callbacks waiting or in flight.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `event` about `account` at `now_ms` as `faults` say. A callback that is not held
    /// releases the account's held ones behind it: they were to be overtaken, and now are.
    pub fn enqueue(
        &mut self,
        account: &str,
        event: CallbackEvent,
        faults: CallbackFaults,
        now_ms: u64,
    ) {
        if faults.lose {
            self.stats.lost = self.stats.lost.saturating_add(1);
            return;
        }
        let copies = if faults.duplicate { 2 } else { 1 };
        if faults.duplicate {
            self.stats.duplicated = self.stats.duplicated.saturating_add(1);
        }
        let due_ms = now_ms.saturating_add(faults.late_ms.unwrap_or(0));
        let mut released = Vec::new();
        if !faults.reorder {
            let (held, kept): (Vec<Queued>, Vec<Queued>) = std::mem::take(&mut self.queue)
                .into_iter()
                .partition(|queued| queued.held && queued.account == account);
            self.queue = kept;
            released = held;
        }
        for _ in 0..copies {
            if self.queue.len() >= CALLBACK_OUTBOX_MAX {
                self.stats.overflowed = self.stats.overflowed.saturating_add(1);
                continue;
            }
            self.next_id = self.next_id.saturating_add(1);
            self.queue.push(Queued {
                id: self.next_id,
                account: account.to_owned(),
                event: event.clone(),
                queued_at_ms: now_ms,
                due_ms,
                attempts: 0,
                held: faults.reorder,
                in_flight: false,
            });
            self.stats.queued = self.stats.queued.saturating_add(1);
        }
        for mut queued in released {
            queued.held = false;
            queued.due_ms = queued.due_ms.max(due_ms);
            self.queue.push(queued);
        }
    }

    /// Up to `max` callbacks due at `now_ms`, in queue order, marked in flight (each until
    /// [`Outbox::settle`]). Held callbacks older than [`REORDER_HOLD_MS`] are released first.
    pub fn take_due(&mut self, now_ms: u64, max: usize) -> Vec<DueCallback> {
        let mut due = Vec::new();
        for queued in &mut self.queue {
            if queued.held && queued.queued_at_ms.saturating_add(REORDER_HOLD_MS) <= now_ms {
                queued.held = false;
            }
            if due.len() >= max || queued.held || queued.in_flight || queued.due_ms > now_ms {
                continue;
            }
            queued.in_flight = true;
            queued.attempts = queued.attempts.saturating_add(1);
            self.stats.attempts = self.stats.attempts.saturating_add(1);
            due.push(DueCallback {
                id: queued.id,
                account: queued.account.clone(),
                event: queued.event.clone(),
                attempt: queued.attempts,
            });
        }
        due
    }

    /// Takes back callback `id` after a delivery that went as `delivered`, at `now_ms`.
    pub fn settle(&mut self, id: u64, delivered: Delivered, now_ms: u64) {
        let Some(index) = self.queue.iter().position(|queued| queued.id == id) else { return };
        let give_up = self.queue.get(index).is_none_or(|queued| {
            delivered == Delivered::Accepted || queued.attempts >= CALLBACK_ATTEMPTS_MAX
        });
        if give_up {
            self.queue.remove(index);
            match delivered {
                Delivered::Accepted => {
                    self.stats.delivered = self.stats.delivered.saturating_add(1);
                }
                Delivered::Failed => {
                    self.stats.abandoned = self.stats.abandoned.saturating_add(1);
                }
            }
            return;
        }
        if let Some(queued) = self.queue.get_mut(index) {
            queued.in_flight = false;
            queued.due_ms = now_ms.saturating_add(retry_delay_ms(queued.attempts));
            self.stats.retried = self.stats.retried.saturating_add(1);
        }
    }

    /// Gives up callback `id` without a delivery (its account's URL was withdrawn).
    pub fn abandon(&mut self, id: u64) {
        if let Some(index) = self.queue.iter().position(|queued| queued.id == id) {
            self.queue.remove(index);
            self.stats.abandoned = self.stats.abandoned.saturating_add(1);
        }
    }
}

/// The delay after the `attempts`th failed delivery: doubling from the first, capped.
pub fn retry_delay_ms(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(20);
    CALLBACK_RETRY_FIRST_MS.saturating_mul(1u64 << doublings).min(CALLBACK_RETRY_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "1001";

    fn entry(index: usize) -> CallbackEvent {
        CallbackEvent::Entry(index)
    }

    fn events(due: &[DueCallback]) -> Vec<CallbackEvent> {
        due.iter().map(|callback| callback.event.clone()).collect()
    }

    #[test]
    fn faults_lose_duplicate_reorder_and_delay() {
        let mut outbox = Outbox::default();
        let faults = |lose, duplicate, reorder, late_ms| CallbackFaults {
            lose,
            duplicate,
            reorder,
            late_ms,
        };
        outbox.enqueue(ACCOUNT, entry(0), faults(true, false, false, None), 0);
        outbox.enqueue(ACCOUNT, entry(1), faults(false, true, true, None), 0);
        assert!(outbox.take_due(0, 10).is_empty(), "the reordered one is held");
        outbox.enqueue("other", entry(2), faults(false, false, false, None), 0);
        assert_eq!(
            events(&outbox.take_due(0, 10)),
            [entry(2)],
            "another account's is no overtaker"
        );
        outbox.enqueue(ACCOUNT, entry(3), faults(false, false, false, Some(100)), 0);
        assert!(outbox.take_due(99, 10).is_empty(), "late, and the held ones queue behind it");
        assert_eq!(events(&outbox.take_due(100, 10)), [entry(3), entry(1), entry(1)]);
        let stats = outbox.stats();
        assert_eq!((stats.lost, stats.duplicated, stats.queued, stats.attempts), (1, 1, 4, 4));
    }

    #[test]
    fn a_held_callback_goes_out_after_the_hold_without_an_overtaker() {
        let mut outbox = Outbox::default();
        let reorder = CallbackFaults { reorder: true, ..CallbackFaults::default() };
        outbox.enqueue(ACCOUNT, entry(0), reorder, 10);
        assert!(outbox.take_due(10 + REORDER_HOLD_MS - 1, 10).is_empty());
        assert_eq!(events(&outbox.take_due(10 + REORDER_HOLD_MS, 10)), [entry(0)]);
    }

    #[test]
    fn failed_deliveries_are_retried_with_doubling_delays_then_abandoned() {
        let mut outbox = Outbox::default();
        outbox.enqueue(ACCOUNT, entry(0), CallbackFaults::default(), 0);
        let mut now = 0;
        for attempt in 1..=CALLBACK_ATTEMPTS_MAX {
            let due = outbox.take_due(now, 10);
            assert_eq!(due.len(), 1, "attempt {attempt}");
            assert_eq!(due[0].attempt, attempt);
            assert!(outbox.take_due(now, 10).is_empty(), "in flight: not handed out twice");
            outbox.settle(due[0].id, Delivered::Failed, now);
            now += retry_delay_ms(attempt);
            if attempt < CALLBACK_ATTEMPTS_MAX {
                assert!(outbox.take_due(now - 1, 10).is_empty(), "not before its delay");
            }
        }
        assert!(outbox.is_empty());
        let stats = outbox.stats();
        assert_eq!((stats.retried, stats.abandoned, stats.delivered), (7, 1, 0));
        assert_eq!(retry_delay_ms(1), CALLBACK_RETRY_FIRST_MS);
        assert_eq!(retry_delay_ms(2), 2 * CALLBACK_RETRY_FIRST_MS);
        assert_eq!(retry_delay_ms(40), CALLBACK_RETRY_MAX_MS);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut outbox = Outbox::default();
        for index in 0..=CALLBACK_OUTBOX_MAX {
            outbox.enqueue(ACCOUNT, entry(index), CallbackFaults::default(), 0);
        }
        assert_eq!(outbox.len(), CALLBACK_OUTBOX_MAX);
        assert_eq!(outbox.stats().overflowed, 1);
        let due = outbox.take_due(0, 2);
        outbox.settle(due[0].id, Delivered::Accepted, 0);
        assert_eq!((outbox.len(), outbox.stats().delivered), (CALLBACK_OUTBOX_MAX - 1, 1));
    }

    #[test]
    fn only_plain_http_urls_are_registered() {
        assert!(valid_callback_url("http://127.0.0.1:7700/callbacks/2"));
        assert!(valid_callback_url("http://worker"));
        for bad in ["https://x/y", "http://", "http:///path", "ftp://x", "http://a b", ""] {
            assert!(!valid_callback_url(bad), "{bad}");
        }
        assert!(!valid_callback_url(&format!("http://{}", "h".repeat(CALLBACK_URL_CHARS_MAX))));
    }
}
