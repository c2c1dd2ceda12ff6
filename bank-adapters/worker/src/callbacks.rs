//! Pushed bank callbacks, on the worker's side: the desk that verifies each one and hands it
//! to the path a poll would have taken, and the answer the bank gets. The HTTP listener that
//! receives them (`callback_server`, real network only) only carries bytes to
//! [`CallbackInbox::deliver`] and the answer back.
//!
//! The rules, in the order a callback meets them:
//! 1. Its bank must be one this worker serves with a callback verifier (a direct-connect
//!    bank: [`BankGateway::callback_verifier`], the bank's keys as configured for its
//!    answers) → else `404`.
//! 2. The envelope is verified before a byte of its body is read: app id, timestamp window,
//!    key, SM2/SM3 or Ed25519 signature, a nonce never seen within the window (a replay is
//!    refused), and it must be a `CALLBACK` → else `401`, counted by reason
//!    (`tianping_bank_callback_refusals_total`).
//! 3. A payout's status: only a final one (executed, rejected) is acted on, and only through
//!    the claim that holds the payout — the callback is handed to that claim's decision core
//!    as the answer to a status query ([`crate::decision::Event::Queried`]), so the outcome is
//!    recorded by the claim, with its fencing token, exactly as a query's answer would be.
//!    The bank gets `200` once the ledger holds a final outcome (the claim's record was
//!    applied, or a lookup finds the payout final); otherwise `503` and the bank retries. A
//!    callback never records anything by itself: with no claim held here, the payout's next
//!    claim queries the bank by its end-to-end id as it always does.
//! 4. An entry (an incoming credit, a returned payout): only of the bank's custody account
//!    (else `400`), booked by the poller's own rules and batch call
//!    (`booking::book_entries`): once per bank reference, so a duplicate
//!    or reordered callback, or a poll of the same entry, books nothing twice. `200` once
//!    every entry is settled; `503` while one must be seen again (a refusal, a return whose
//!    payout is not final yet).
//!
//! An answer is sent only after the booking is durable (or it is `503`); polling stays the
//! backstop for a callback that is lost, refused or given up. Every queue here is bounded:
//! the inbox ([`CALLBACK_QUEUE_MAX`]; full → `503` at once), the callbacks handled at once
//! ([`CALLBACKS_IN_FLIGHT_MAX`]), a claim's mailbox ([`CLAIM_MAILBOX_MAX`]) and the answers
//! it owes ([`CLAIM_REPLIES_MAX`]), and the wait for a claim's record
//! ([`CALLBACK_RECORD_WAIT`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tianping_bank_adapters::direct::PayoutStatusBody;
use tianping_bank_adapters::direct::{MessageKind, Verifier, VerifyError};
use tianping_bank_adapters::direct_bodies::{CallbackBody, EntryBody};
use tianping_bank_adapters::gateway::{BankGateway, PayoutQuery};
use tianping_client::PayoutState;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::booking::book_entries;
use crate::config::BankConfig;
use crate::decision::{BankAnswer, Ending, FinalOutcome};
use crate::ledger::CollectionsLedger;
use crate::metrics::WorkerMetrics;

/// Callbacks received and not yet taken by the desk: beyond it the listener answers `503`
/// at once and the bank retries later.
pub const CALLBACK_QUEUE_MAX: usize = 256;

/// Callbacks the desk works on at once (each may wait for a claim's record or the ledger).
pub const CALLBACKS_IN_FLIGHT_MAX: usize = 64;

/// How long a payout callback waits for the claim it was handed to: about one ledger call
/// and a bank call's deadline. Past it the desk looks at the ledger and answers from there.
pub const CALLBACK_RECORD_WAIT: Duration = Duration::from_secs(10);

/// The longest the listener holds a callback before it answers `503` anyway: the record wait
/// and a ledger lookup after it.
pub const CALLBACK_ANSWER_WAIT: Duration = Duration::from_secs(15);

/// Callbacks waiting in one claim's mailbox.
pub const CLAIM_MAILBOX_MAX: usize = 4;

/// Answers one claim owes at once; a callback beyond it is answered from the ledger.
pub const CLAIM_REPLIES_MAX: usize = 8;

const _: () = assert!(CALLBACK_RECORD_WAIT.as_millis() < CALLBACK_ANSWER_WAIT.as_millis());

/// The bank's answer to one callback (the status codes of the bank API's callback table,
/// [`tianping_bank_adapters::bank_api`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAnswer {
    /// `200`, `400`, `401`, `404` or `503`.
    pub status: u16,
    /// A short explanation, for the bank's logs and ours.
    pub text: String,
}

impl CallbackAnswer {
    fn new(status: u16, text: impl Into<String>) -> CallbackAnswer {
        CallbackAnswer { status, text: text.into() }
    }

    /// Done: the booking is durable, or there is nothing to book.
    fn ok(text: impl Into<String>) -> CallbackAnswer {
        CallbackAnswer::new(200, text)
    }

    /// Not booked now: the bank is to retry later.
    fn retry(text: impl Into<String>) -> CallbackAnswer {
        CallbackAnswer::new(503, text)
    }
}

/// One callback as received, with where its answer goes.
#[derive(Debug)]
pub struct CallbackRequest {
    /// The bank it claims to come from (the path it was posted to).
    pub bank: u32,
    /// The envelope, unread.
    pub body: Vec<u8>,
    /// The answer.
    pub reply: oneshot::Sender<CallbackAnswer>,
}

/// The sending side of the desk's inbox: what a listener (or any transport) calls.
#[derive(Debug, Clone)]
pub struct CallbackInbox {
    sender: mpsc::Sender<CallbackRequest>,
}

/// A bounded inbox ([`CALLBACK_QUEUE_MAX`]) and its receiving side, for the desk's loop.
pub fn inbox() -> (CallbackInbox, mpsc::Receiver<CallbackRequest>) {
    let (sender, receiver) = mpsc::channel(CALLBACK_QUEUE_MAX);
    (CallbackInbox { sender }, receiver)
}

impl CallbackInbox {
    /// Hands one callback to the desk and waits for its answer: `503` when the inbox is full
    /// or closed (the worker is stopping), or no answer came in [`CALLBACK_ANSWER_WAIT`].
    pub async fn deliver(&self, bank: u32, body: Vec<u8>) -> CallbackAnswer {
        let (reply, answer) = oneshot::channel();
        match self.sender.try_send(CallbackRequest { bank, body, reply }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return CallbackAnswer::retry("busy: retry later");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return CallbackAnswer::retry("stopping: retry later");
            }
        }
        match tokio::time::timeout(CALLBACK_ANSWER_WAIT, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => CallbackAnswer::retry("stopping: retry later"),
            Err(_) => CallbackAnswer::retry("not settled in time: retry later"),
        }
    }
}

/// A bank's final word on a payout, handed to the claim that holds it; `reply` gets the
/// claim's ending (dropped unanswered when the claim owes too many answers).
#[derive(Debug)]
pub(crate) struct ClaimCallback {
    /// What the bank says.
    pub(crate) outcome: FinalOutcome,
    /// Where the claim's ending goes.
    pub(crate) reply: oneshot::Sender<Ending>,
}

type MailboxSlot = (u64, mpsc::Sender<ClaimCallback>);

/// The claims this worker is driving, by payout id, each with a mailbox a callback about its
/// payout is put in.
#[derive(Debug, Default)]
pub(crate) struct ClaimDesk {
    mailboxes: Mutex<BTreeMap<u128, MailboxSlot>>,
    serial: AtomicU64,
}

impl ClaimDesk {
    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<u128, MailboxSlot>> {
        // A poisoned lock means a panic mid-insert of a map entry; the map stays usable.
        self.mailboxes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens the mailbox of a claim on `payout_id`, open until the returned [`Mailbox`] is
    /// dropped (the claim's end).
    pub(crate) fn open(&self, payout_id: u128) -> Mailbox<'_> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel(CLAIM_MAILBOX_MAX);
        self.slots().insert(payout_id, (serial, sender));
        Mailbox { desk: self, payout_id, serial, receiver }
    }

    /// Puts `callback` in the mailbox of the claim on `payout_id`; gives it back when no
    /// claim on it runs here, or its mailbox is full.
    fn offer(&self, payout_id: u128, callback: ClaimCallback) -> Result<(), ClaimCallback> {
        let sender = self.slots().get(&payout_id).map(|(_, sender)| sender.clone());
        match sender {
            Some(sender) => sender.try_send(callback).map_err(|error| match error {
                mpsc::error::TrySendError::Full(callback)
                | mpsc::error::TrySendError::Closed(callback) => callback,
            }),
            None => Err(callback),
        }
    }
}

/// One claim's mailbox (see [`ClaimDesk::open`]).
#[derive(Debug)]
pub(crate) struct Mailbox<'a> {
    desk: &'a ClaimDesk,
    payout_id: u128,
    serial: u64,
    receiver: mpsc::Receiver<ClaimCallback>,
}

impl Mailbox<'_> {
    /// A callback already waiting, if any.
    pub(crate) fn try_take(&mut self) -> Option<ClaimCallback> {
        self.receiver.try_recv().ok()
    }

    /// The next callback (pending for ever while none comes: the desk keeps its sender).
    pub(crate) async fn take(&mut self) -> Option<ClaimCallback> {
        self.receiver.recv().await
    }
}

impl Drop for Mailbox<'_> {
    fn drop(&mut self) {
        let mut slots = self.desk.slots();
        // A later claim on the same payout may have opened its own mailbox meanwhile.
        if slots.get(&self.payout_id).is_some_and(|(serial, _)| *serial == self.serial) {
            slots.remove(&self.payout_id);
        }
    }
}

/// The metric label of a verifier's refusal: an exhaustive match, so a new kind is named.
pub fn refusal_reason(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::Malformed { .. } => "malformed",
        VerifyError::MissingSignature => "missing_signature",
        VerifyError::StaleTimestamp { .. } => "stale_timestamp",
        VerifyError::UnknownKey { .. } => "unknown_key",
        VerifyError::BadSignature { .. } => "bad_signature",
        VerifyError::Replayed { .. } => "replayed",
        VerifyError::NonceCacheFull { .. } => "nonce_cache_full",
    }
}

struct DeskBank<'a> {
    config: &'a BankConfig,
    verifier: Verifier,
}

/// The desk (module doc): verifies callbacks and books them through the pollers' paths.
pub(crate) struct CallbackDesk<'a, L> {
    ledger: &'a L,
    banks: BTreeMap<u32, DeskBank<'a>>,
    claims: &'a ClaimDesk,
    metrics: &'a WorkerMetrics,
}

impl<'a, L: CollectionsLedger> CallbackDesk<'a, L> {
    /// A desk for every bank of `banks` whose gateway has a callback verifier.
    pub(crate) fn new<G: BankGateway>(
        ledger: &'a L,
        banks: &'a [BankConfig],
        gateways: &BTreeMap<u32, G>,
        claims: &'a ClaimDesk,
        metrics: &'a WorkerMetrics,
    ) -> CallbackDesk<'a, L> {
        let banks = banks
            .iter()
            .filter_map(|config| {
                let verifier = gateways.get(&config.bank())?.callback_verifier()?;
                Some((config.bank(), DeskBank { config, verifier }))
            })
            .collect();
        CallbackDesk { ledger, banks, claims, metrics }
    }

    /// The banks whose callbacks this desk takes.
    pub(crate) fn banks(&self) -> impl Iterator<Item = u32> + '_ {
        self.banks.keys().copied()
    }

    /// Handles one callback of `bank` received at `now_ms` (wall clock, Unix ms): the rules
    /// of the module doc, in order.
    pub(crate) async fn handle(&self, bank: u32, body: &[u8], now_ms: u64) -> CallbackAnswer {
        let Some(desk_bank) = self.banks.get(&bank) else {
            self.metrics.callback(None, "unknown_bank");
            tracing::warn!(bank, "callback for a bank without callbacks here");
            return CallbackAnswer::new(404, format!("no callbacks for bank {bank} here"));
        };
        let verified = match desk_bank.verifier.verify(body, now_ms) {
            Ok(verified) => verified,
            Err(error) => {
                self.metrics.callback_refused(bank, refusal_reason(&error));
                tracing::warn!(bank, %error, "callback refused");
                return CallbackAnswer::new(401, format!("refused: {error}"));
            }
        };
        if verified.kind != MessageKind::Callback {
            self.metrics.callback_refused(bank, "not_a_callback");
            return CallbackAnswer::new(401, format!("a {}, not a CALLBACK", verified.kind.name()));
        }
        match serde_json::from_str::<CallbackBody>(&verified.biz_content) {
            Ok(CallbackBody::PayoutStatus { status }) => self.payout_status(bank, &status).await,
            Ok(CallbackBody::AccountEntry { account, entry }) => {
                self.account_entry(desk_bank.config, &account, &entry).await
            }
            Err(error) => {
                self.metrics.callback(Some(bank), "unreadable");
                CallbackAnswer::new(400, format!("unreadable callback body: {error}"))
            }
        }
    }

    async fn payout_status(&self, bank: u32, status: &PayoutStatusBody) -> CallbackAnswer {
        let metrics = self.metrics;
        let (end_to_end_id, query) = match status.to_query() {
            Ok(read) => read,
            Err(error) => {
                metrics.callback(Some(bank), "unreadable");
                return CallbackAnswer::new(400, format!("unreadable payout status: {error}"));
            }
        };
        let Some(payout_id) = end_to_end_id.payout_id() else {
            metrics.callback(Some(bank), "not_our_payout");
            return CallbackAnswer::new(400, "the end-to-end id is no payout id of ours");
        };
        let told = match query {
            PayoutQuery::Known(outcome) => BankAnswer::from(&outcome),
            PayoutQuery::NotFound => BankAnswer::Unclear,
        };
        let outcome = match told {
            BankAnswer::Executed => FinalOutcome::Succeeded,
            BankAnswer::Rejected => FinalOutcome::Failed,
            BankAnswer::Accepted | BankAnswer::Pending | BankAnswer::Unclear => {
                metrics.callback(Some(bank), "not_final");
                return CallbackAnswer::ok("not final: nothing to record");
            }
        };
        let (reply, ending) = oneshot::channel();
        if self.claims.offer(payout_id, ClaimCallback { outcome, reply }).is_ok()
            && let Ok(Ok(Ending::Final(recorded))) =
                tokio::time::timeout(CALLBACK_RECORD_WAIT, ending).await
            && recorded == outcome
        {
            metrics.callback(Some(bank), "recorded");
            return CallbackAnswer::ok("recorded");
        }
        // No claim here, or it ended otherwise (fenced, already final, out of lease): the
        // ledger says whether the outcome is booked.
        self.payout_in_ledger(bank, payout_id, outcome).await
    }

    /// The answer from the ledger's view of the payout, when no claim here recorded it.
    async fn payout_in_ledger(
        &self,
        bank: u32,
        payout_id: u128,
        outcome: FinalOutcome,
    ) -> CallbackAnswer {
        let metrics = self.metrics;
        let payouts = match self.ledger.lookup_payouts(&[payout_id]).await {
            Ok(payouts) => payouts,
            Err(error) => {
                metrics.callback(Some(bank), "retry");
                return CallbackAnswer::retry(format!("ledger: {error}"));
            }
        };
        let Some(payout) = payouts.into_iter().find(|payout| payout.id == payout_id) else {
            metrics.callback(Some(bank), "retry");
            return CallbackAnswer::retry(format!("payout {payout_id} not found: retry later"));
        };
        let in_ledger = match payout.state {
            PayoutState::Succeeded => FinalOutcome::Succeeded,
            PayoutState::Failed => FinalOutcome::Failed,
            PayoutState::Reserved
            | PayoutState::Claimed
            | PayoutState::Sent
            | PayoutState::Unknown => {
                metrics.callback(Some(bank), "retry");
                return CallbackAnswer::retry("not final in the ledger yet: retry later");
            }
        };
        if in_ledger == outcome {
            metrics.callback(Some(bank), "already_final");
            CallbackAnswer::ok("already final")
        } else {
            // The ledger booked the bank's earlier word; reconciliation reports the difference.
            metrics.callback(Some(bank), "disagrees");
            tracing::error!(
                bank,
                payout_id,
                ?outcome,
                ?in_ledger,
                "callback contradicts the ledger"
            );
            CallbackAnswer::ok("final in the ledger with another outcome")
        }
    }

    async fn account_entry(
        &self,
        config: &BankConfig,
        account: &str,
        entry: &EntryBody,
    ) -> CallbackAnswer {
        let bank = config.bank();
        if account != config.custody_account() {
            // Another customer's account at the bank: its credits are not our money.
            self.metrics.callback(Some(bank), "wrong_account");
            return CallbackAnswer::new(400, format!("account {account} is not ours"));
        }
        let entry = match entry.to_entry() {
            Ok(entry) => entry,
            Err(error) => {
                self.metrics.callback(Some(bank), "unreadable");
                return CallbackAnswer::new(400, format!("unreadable entry: {error}"));
            }
        };
        match book_entries(self.ledger, config, self.metrics, std::slice::from_ref(&entry)).await {
            Ok(true) => {
                self.metrics.callback(Some(bank), "settled");
                CallbackAnswer::ok("settled")
            }
            Ok(false) => {
                self.metrics.callback(Some(bank), "retry");
                CallbackAnswer::retry("not settled yet: retry later")
            }
            Err(error) => {
                self.metrics.callback(Some(bank), "retry");
                CallbackAnswer::retry(format!("ledger: {error}"))
            }
        }
    }
}

/// Takes callbacks from `requests` and answers each through `desk`, at most
/// [`CALLBACKS_IN_FLIGHT_MAX`] at once, until the stop signal; then it closes the inbox,
/// answers what was already queued, and returns.
pub(crate) async fn callback_loop<L: CollectionsLedger>(
    desk: &CallbackDesk<'_, L>,
    mut requests: mpsc::Receiver<CallbackRequest>,
    stop: CancellationToken,
) {
    let mut handling = FuturesUnordered::new();
    let mut stopping = false;
    let mut closed = false;
    loop {
        if !stopping && stop.is_cancelled() {
            stopping = true;
            // Nothing new gets in; what is queued is still received, then `recv` ends.
            requests.close();
        }
        if closed && handling.is_empty() {
            return;
        }
        let room = handling.len() < CALLBACKS_IN_FLIGHT_MAX;
        // Biased (fixed order: finish before taking more), so a simulated seed replays.
        tokio::select! {
            biased;
            Some(()) = handling.next(), if !handling.is_empty() => {}
            request = requests.recv(), if room && !closed => match request {
                Some(request) => handling.push(answer(desk, request)),
                None => closed = true,
            },
            () = stop.cancelled(), if !stopping => {}
        }
    }
}

async fn answer<L: CollectionsLedger>(desk: &CallbackDesk<'_, L>, request: CallbackRequest) {
    let now_ms = crate::clock::unix_ns() / 1_000_000;
    let answer = desk.handle(request.bank, &request.body, now_ms).await;
    // The listener may have given up waiting; the booking stands either way.
    let _ = request.reply.send(answer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_takes_callbacks_while_its_claim_runs() {
        let desk = ClaimDesk::default();
        let callback =
            || ClaimCallback { outcome: FinalOutcome::Succeeded, reply: oneshot::channel().0 };
        assert!(desk.offer(7, callback()).is_err(), "no claim on 7");
        let mut mailbox = desk.open(7);
        for _ in 0..CLAIM_MAILBOX_MAX {
            assert!(desk.offer(7, callback()).is_ok());
        }
        assert!(desk.offer(7, callback()).is_err(), "the mailbox is bounded");
        assert!(mailbox.try_take().is_some());
        // A later claim on the same payout keeps its mailbox when the earlier one closes.
        let later = desk.open(7);
        drop(mailbox);
        assert!(desk.offer(7, callback()).is_ok());
        drop(later);
        assert!(desk.offer(7, callback()).is_err());
    }

    #[test]
    fn every_refusal_has_a_label() {
        let labels = [
            refusal_reason(&VerifyError::MissingSignature),
            refusal_reason(&VerifyError::Replayed { nonce: "n".into() }),
            refusal_reason(&VerifyError::BadSignature { key_id: "k".into() }),
        ];
        assert_eq!(labels, ["missing_signature", "replayed", "bad_signature"]);
    }
}
