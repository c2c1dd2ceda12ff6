//! The client history: what every client sent, what it was answered, and what it read, in the
//! order it happened. Whoever drives the clients (the simulation's `client`, a real-process
//! drill) fills one `History`; the checkers hold the cluster to it.
//!
//! Order: every answered batch (`AckedBatch`) and every balance read's start
//! (`AccountRead::sequence`) take a number from one sequence (`History::sequence`). The
//! linearizability checks need the real-time order between an acknowledgement and a read's
//! start; a driver that numbers both from one sequence, at the instant each happens, gives it
//! (the simulation runs one task at a time, so its numbering is exact; a multi-threaded
//! driver must number under one lock). Times (`AccountRead::started`, `ended`) are only for
//! reports, as a `Duration` since the run began, so any clock serves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tianping_ledger::ControlTarget;

/// What one transfer's acknowledgement said: what `checker::acknowledged` and
/// `checker::committed_log` hold the final state and the log to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The result code's name (`ok`, `exists` or a refusal), as the API answers it: the
    /// wire's words, so a driver records the answer without interpreting it.
    pub code_name: String,
    /// The event's timestamp as answered (for `exists`: the original's).
    pub timestamp: u64,
    /// What the transfer moved, as answered (empty for refusals).
    pub amount: String,
    /// The log index the answer named.
    pub log_index: u64,
}

/// A linearizable read of a transfer the client had been told was committed before the read
/// started: the answer must hold it (`checker::reads`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBack {
    /// The transfer read.
    pub transfer_id: u128,
    /// The log index its acknowledgement named.
    pub acked_index: u64,
    /// The node that answered.
    pub node_id: u64,
    /// The applied index the answer said it reflects.
    pub applied_index: u64,
    /// Whether the answer held the transfer.
    pub found: bool,
}

/// An account's four balances, in minor units: what a balance read returns and what the
/// committed-log replay computes after every entry, in one type so the two compare directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    /// Debits reserved by pending transfers.
    pub debits_pending: u128,
    /// Debits posted.
    pub debits_posted: u128,
    /// Credits reserved by pending transfers.
    pub credits_pending: u128,
    /// Credits posted.
    pub credits_posted: u128,
}

/// Short, for violations: a read's balances next to what the log says.
impl std::fmt::Display for Balances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dp {} dP {} cp {} cP {}",
            self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted
        )
    }
}

/// An answered batch, in the order of the acknowledgements: the entry at `log_index` was
/// committed before `sequence` (whatever its events' codes: a refused event is still in the
/// committed entry). `checker::balance_reads` takes from these the lowest index a read may
/// reflect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckedBatch {
    /// Its place in `History::sequence`'s order, taken when the answer arrived.
    pub sequence: u64,
    /// The log index the answer named.
    pub log_index: u64,
}

/// A linearizable read of a few accounts' balances, answered: `checker::balance_reads`
/// holds it to the committed log's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRead {
    /// The client (its index) that read; its reads must not go back in the log.
    pub client: u32,
    /// The node that answered.
    pub node_id: u64,
    /// Its place in `History::sequence`'s order, taken before the request left.
    pub sequence: u64,
    /// When the read started, since the run began (for reports).
    pub started: Duration,
    /// When the answer arrived, since the run began (for reports).
    pub ended: Duration,
    /// The applied index the answer said it reflects at least.
    pub applied_index: u64,
    /// The highest index committed when the answer arrived (as far as the driver knows: the
    /// most any running node knew committed or had applied), or `None` when the answering
    /// node was down by then (its applied entries may be above what the running nodes know:
    /// no bound).
    pub committed_bound: Option<u64>,
    /// Each account asked for, with its balances as answered (`None`: not found).
    pub accounts: Vec<(u128, Option<Balances>)>,
}

/// One account control change the risk desk sent (`History::controls`, in the order sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSent {
    /// The change's id.
    pub change_id: u128,
    /// The account.
    pub account_id: u128,
    /// What it set.
    pub target: ControlTarget,
    /// What the desk was told.
    pub outcome: ControlOutcome,
}

/// What the risk desk was told about one control change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlOutcome {
    /// `ok` or `exists`: applied.
    Applied,
    /// Refused with this code (`controls_version_stale`, ...): applied nowhere.
    Refused(String),
    /// No answer: it may or may not have been applied, now or later.
    Unknown,
}

/// One answered batch, timed by true time (nanoseconds since the Unix epoch):
/// `checker::event_time` holds its events' timestamps to that window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedBatch {
    /// True time the batch's first attempt was sent.
    pub sent_ns: u64,
    /// True time the answer arrived.
    pub answered_ns: u64,
    /// The answered events' timestamps (only those that name when the event was applied:
    /// `ok` and `exists`), by transfer id.
    pub timestamps: Vec<(u128, u64)>,
}

/// Everything the clients sent and were told.
#[derive(Debug, Default)]
pub struct History {
    /// Every transfer id ever sent (acknowledged or not): a committed id outside it was
    /// invented.
    pub sent: BTreeSet<u128>,
    /// The acknowledged transfers: the last answer per id.
    pub acks: BTreeMap<u128, Ack>,
    /// Batches acknowledged: `checker::liveness` asks that enough of them made progress.
    pub batches_acked: u64,
    /// Batches whose every attempt failed (outcome unknown).
    pub batches_unknown: u64,
    /// Attempts that failed (timeout, unavailable, connection refused, ...).
    pub failed_attempts: u64,
    /// Answers that contradict themselves (wrong number of results, an id answered twice
    /// differently), found as they arrive; each is a violation.
    pub anomalies: Vec<String>,
    /// Answered read-backs of acknowledged transfers (unanswered ones prove nothing).
    pub reads: Vec<ReadBack>,
    /// Every answered batch, in acknowledgement order (`AckedBatch`).
    pub acked_batches: Vec<AckedBatch>,
    /// Answered balance reads, in the order they were answered (each client's in its order).
    pub account_reads: Vec<AccountRead>,
    /// The next number of the sequence that orders acknowledgements and read starts.
    pub next_sequence: u64,
    /// The clients' accounts as their creation was acknowledged: id → (result code's name,
    /// log index). An account acknowledged `ok`/`exists` must exist (`checker::acknowledged`).
    pub accounts_acked: BTreeMap<u128, (String, u64)>,
    /// The risk desk's account control changes, in the order it sent them (one at a time).
    pub controls: Vec<ControlSent>,
    /// Ledgers another workload writes beside the clients and judges with checks of its own
    /// (the simulation's bank workload: ledger 3, its payouts and collections). The clients'
    /// "nothing unsent" (`checker::acknowledged`, `checker::committed_log`) leaves these
    /// ledgers' transfers to that workload, which must account for every one of them
    /// (`checker::acknowledged::unsent_in_ledger`); every other check still judges them.
    /// Empty: every transfer is the clients'.
    pub ledgers_judged_elsewhere: BTreeSet<u32>,
    /// Answered batches timed by true time, when the driver knows it
    /// (`checker::event_time`); empty when it does not.
    pub timed_batches: Vec<TimedBatch>,
}

impl History {
    /// The next number of the acknowledgement / read-start sequence: one counter for both, so
    /// their numbers order them.
    pub fn sequence(&mut self) -> u64 {
        let number = self.next_sequence;
        self.next_sequence += 1;
        number
    }
}
