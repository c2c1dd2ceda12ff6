//! The pure decision core for one payout claim: given what the claim said and what has
//! happened since, the next step. No I/O, no clock, no randomness: the worker loop
//! ([`crate::payout_worker`]) performs each [`Step`], feeds the answer back as an [`Event`],
//! and passes the time in, so the simulation and the tests drive the same rules.
//!
//! What the core must never do, whatever the bank and the ledger answer:
//! - call the bank's submit without an acknowledged `Sent` record, with this claim's fencing
//!   token, as the step right before it (the fence is checked just before money can move);
//! - name any end-to-end id but the payout id (every [`Step`] carries the claim's payout id);
//! - submit after an outcome it does not know (a timeout, an unreadable answer, an earlier
//!   claim) without a query in between: the first bank call of a claim with
//!   `must_inquire_first` (or found `Sent` / `Unknown`) is a query, and after any submit that
//!   may have reached the bank the only way to a second submit is the bank answering the query
//!   with "not found" — and since the end-to-end id is the bank's idempotency key, even that
//!   resend cannot pay twice;
//! - book `succeeded` / `failed` on anything but the bank's final answer (`failed` also when
//!   the payout cannot be expressed to the bank at all and the bank provably never had it);
//! - run forever: every claim ends within [`STEPS_PER_CLAIM_MAX`] steps, with a final record
//!   or one of the bounded endings ([`Ending`]), and a payout left non-final comes back to a
//!   worker, with `must_inquire_first`, once its lease runs out.

use tianping_ledger::{PayoutOutcome, PayoutState, ResultCode};

/// Most submits one claim makes. A second submit happens only after the bank said it never
/// received the first (a request lost on the way); three such losses in one claim mean the
/// path to the bank is broken, and the claim is left to run out.
pub const SUBMITS_PER_CLAIM_MAX: u32 = 3;

/// Most queries one claim makes: a payout the bank keeps pending longer than this many query
/// intervals is left to its lease and claimed again (with `must_inquire_first`) later.
pub const QUERIES_PER_CLAIM_MAX: u32 = 64;

/// Most failed calls (ledger or bank: no answer, or nothing sent) one claim absorbs before it
/// gives up and lets the lease run out.
pub const FAILURES_PER_CLAIM_MAX: u32 = 16;

/// No call starts with less than this much of the lease left: a record would arrive after the
/// lease and be refused, and a submit is better left to the next claimant's query.
pub const LEASE_MARGIN_MS: u64 = 2_000;

/// Every claim ends within this many steps: each bank call or failure is bounded above, and
/// each is preceded by at most one record and one wait.
pub const STEPS_PER_CLAIM_MAX: u32 =
    3 * (SUBMITS_PER_CLAIM_MAX + QUERIES_PER_CLAIM_MAX + FAILURES_PER_CLAIM_MAX) + 4;

/// What the claim said about the payout, as the ledger handed it to this worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimFacts {
    /// The payout id: also its end-to-end id at the bank.
    pub payout_id: u128,
    /// This claim's fencing token: every record carries it.
    pub fencing_token: u64,
    /// An earlier claim existed: the bank may already hold this payout.
    pub must_inquire_first: bool,
    /// The payout's state as claimed (`Claimed` after a fresh claim).
    pub state: PayoutState,
    /// When (on the worker's clock, ms) the lease ends, measured from before the claim was
    /// asked for so the worker's view ends no later than the ledger's.
    pub lease_deadline_ms: u64,
}

/// The two final outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinalOutcome {
    /// The bank paid: the reservation is posted.
    Succeeded,
    /// The bank did not pay: the reservation is voided.
    Failed,
}

impl FinalOutcome {
    /// The ledger outcome recorded for it.
    pub const fn ledger_outcome(self) -> PayoutOutcome {
        match self {
            FinalOutcome::Succeeded => PayoutOutcome::Succeeded,
            FinalOutcome::Failed => PayoutOutcome::Failed,
        }
    }
}

/// What the bank said about the payout, reduced to what decides the next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BankAnswer {
    /// Received, not executed yet (`ACTC`, `RCVD`, `ACCP`).
    Accepted,
    /// Being processed (`PDNG`, `ACSP`, ...).
    Pending,
    /// Executed: final success.
    Executed,
    /// Rejected: final failure, the money never left.
    Rejected,
    /// An answer that settles nothing (an unknown status): treated like no answer.
    Unclear,
}

impl From<&tianping_bank_adapters::gateway::PayoutOutcome> for BankAnswer {
    fn from(outcome: &tianping_bank_adapters::gateway::PayoutOutcome) -> BankAnswer {
        use tianping_bank_adapters::gateway::PayoutOutcome as Bank;
        match outcome {
            Bank::Accepted => BankAnswer::Accepted,
            Bank::Pending => BankAnswer::Pending,
            Bank::Executed { .. } => BankAnswer::Executed,
            Bank::Rejected { .. } => BankAnswer::Rejected,
            Bank::Unknown { .. } => BankAnswer::Unclear,
        }
    }
}

/// How a record call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordAnswer {
    /// `ok` or `exists`: the ledger holds the outcome.
    Applied,
    /// Refused because this claim no longer owns the payout (`fencing_token_stale`,
    /// `payout_claimed_by_another_worker`, `payout_lease_expired`): stop touching it.
    Fenced(ResultCode),
    /// `payout_already_final`: someone finished it.
    AlreadyFinal,
    /// Any other refusal (`payout_not_found`, `payout_not_claimed`, ...).
    Refused(ResultCode),
    /// No answer (the SDK's retry budget ran out) or an answer that says nothing.
    Failed,
}

impl RecordAnswer {
    /// Classifies a refusal's result code.
    pub fn from_refusal(code: ResultCode) -> RecordAnswer {
        match code {
            ResultCode::FencingTokenStale
            | ResultCode::PayoutClaimedByAnotherWorker
            | ResultCode::PayoutLeaseExpired => RecordAnswer::Fenced(code),
            ResultCode::PayoutAlreadyFinal => RecordAnswer::AlreadyFinal,
            ResultCode::Ok | ResultCode::Exists => RecordAnswer::Applied,
            other => RecordAnswer::Refused(other),
        }
    }
}

/// How a submit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitAnswer {
    /// The bank answered.
    Answered(BankAnswer),
    /// It may or may not have reached the bank (timeout, bank down, unreadable or unverified
    /// answer): query before anything else.
    OutcomeUnknown,
    /// Nothing was sent. `permanent`: it never can be (the payout cannot be expressed to this
    /// bank); otherwise a retry may work (the signer was down).
    NotSent {
        /// Whether a retry is pointless.
        permanent: bool,
    },
}

/// How a query ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryAnswer {
    /// The bank never received this end-to-end id.
    NotFound,
    /// The bank knows it and says this.
    Known(BankAnswer),
    /// No usable answer.
    Failed,
}

/// What the worker loop reports back after performing a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A [`Step::Record`] ended so.
    Recorded {
        /// The outcome that was recorded.
        outcome: PayoutOutcome,
        /// The ledger's answer.
        answer: RecordAnswer,
    },
    /// A [`Step::Submit`] ended so.
    Submitted(SubmitAnswer),
    /// A [`Step::Query`] ended so.
    Queried(QueryAnswer),
    /// A [`Step::Wait`] is over.
    Waited,
    /// The worker is stopping: finish a final record if one is due, start nothing else.
    StopRequested,
}

/// Why the core asks to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCause {
    /// A call failed: back off (exponential, with jitter) before the next.
    Backoff {
        /// Failures so far in this claim (1-based), for the backoff's growth.
        failures: u32,
    },
    /// The bank is processing: ask again after the query interval.
    BankProcessing,
}

/// Why a claim ends without a final record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// [`FAILURES_PER_CLAIM_MAX`] failed calls.
    Failures,
    /// [`QUERIES_PER_CLAIM_MAX`] queries without a final answer.
    Queries,
    /// [`SUBMITS_PER_CLAIM_MAX`] submits the bank said it never received.
    Submits,
}

/// How a claim ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The final outcome is recorded (or already was, by this claim's retry).
    Final(FinalOutcome),
    /// A record was refused with a stale token / another owner / an expired lease.
    Fenced(ResultCode),
    /// The ledger says the payout is final already.
    AlreadyFinal,
    /// The ledger refused a record for another reason.
    Refused(ResultCode),
    /// Less than [`LEASE_MARGIN_MS`] of the lease left: nothing more is started.
    LeaseRanOut,
    /// A per-claim bound was reached; the lease will run out and the payout be claimed again.
    GaveUp(GiveUp),
    /// The worker is stopping.
    Stopped,
}

/// The next thing to do for the claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Record `outcome` for `payout_id` with `fencing_token` (the claim's).
    Record {
        /// The payout.
        payout_id: u128,
        /// The claim's token.
        fencing_token: u64,
        /// What to record.
        outcome: PayoutOutcome,
    },
    /// Submit the payout with end-to-end id = `payout_id` and fresh attempt ids.
    Submit {
        /// The payout, and its end-to-end id.
        payout_id: u128,
    },
    /// Ask the bank about end-to-end id = `payout_id`.
    Query {
        /// The payout, and its end-to-end id.
        payout_id: u128,
    },
    /// Wait, then report [`Event::Waited`].
    Wait(WaitCause),
    /// The claim is over.
    Done(Ending),
}

/// What this claim knows about the bank's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BankView {
    /// No claim before this one and nothing submitted yet: the bank cannot have it.
    NeverSent,
    /// The bank may have it and we do not know what it did: query next.
    MustQuery,
    /// The bank said it never received it: a submit (same id) is safe.
    NotFound,
    /// The bank has it and is processing: query again after the interval.
    Processing,
    /// A query gave no usable answer: record `Unknown`, back off, query again.
    Unsettled,
    /// The bank's final answer.
    Final(FinalOutcome),
}

/// One claim's progress: feed it events, ask it for the next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimProgress {
    claim: ClaimFacts,
    bank: BankView,
    /// The ledger state this claim last saw or recorded.
    recorded: PayoutState,
    /// A `Sent` record was acknowledged and no bank call has happened since: a submit may go.
    sent_fence_fresh: bool,
    wait: Option<WaitCause>,
    submits: u32,
    queries: u32,
    failures: u32,
    stopping: bool,
    ended: Option<Ending>,
}

impl ClaimProgress {
    /// The progress of a fresh claim.
    pub fn new(claim: ClaimFacts) -> ClaimProgress {
        let bank = if claim.must_inquire_first
            || matches!(claim.state, PayoutState::Sent | PayoutState::Unknown)
        {
            BankView::MustQuery
        } else {
            BankView::NeverSent
        };
        let ended = match claim.state {
            PayoutState::Succeeded | PayoutState::Failed => Some(Ending::AlreadyFinal),
            PayoutState::Reserved => Some(Ending::Refused(ResultCode::PayoutNotClaimed)),
            PayoutState::Claimed | PayoutState::Sent | PayoutState::Unknown => None,
        };
        ClaimProgress {
            claim,
            bank,
            recorded: claim.state,
            sent_fence_fresh: false,
            wait: None,
            submits: 0,
            queries: 0,
            failures: 0,
            stopping: false,
            ended,
        }
    }

    /// The claim this progress is for.
    pub fn claim(&self) -> &ClaimFacts {
        &self.claim
    }

    /// The next step at `now_ms` (the worker's clock, the same one as the lease deadline).
    pub fn next(&self, now_ms: u64) -> Step {
        if let Some(ending) = self.ended {
            return Step::Done(ending);
        }
        let record = |outcome| Step::Record {
            payout_id: self.claim.payout_id,
            fencing_token: self.claim.fencing_token,
            outcome,
        };
        if self.stopping {
            return match self.bank {
                BankView::Final(outcome) => record(outcome.ledger_outcome()),
                _ => Step::Done(Ending::Stopped),
            };
        }
        if let Some(cause) = self.wait {
            return Step::Wait(cause);
        }
        let lease_left = now_ms.checked_add(LEASE_MARGIN_MS);
        if lease_left.is_none_or(|margin_end| margin_end >= self.claim.lease_deadline_ms) {
            return Step::Done(Ending::LeaseRanOut);
        }
        let payout_id = self.claim.payout_id;
        match self.bank {
            BankView::Final(outcome) => record(outcome.ledger_outcome()),
            BankView::NeverSent | BankView::NotFound => {
                if self.submits >= SUBMITS_PER_CLAIM_MAX {
                    Step::Done(Ending::GaveUp(GiveUp::Submits))
                } else if self.sent_fence_fresh {
                    Step::Submit { payout_id }
                } else {
                    record(PayoutOutcome::Sent)
                }
            }
            BankView::Processing if self.recorded != PayoutState::Sent => {
                record(PayoutOutcome::Sent)
            }
            BankView::Unsettled if self.recorded != PayoutState::Unknown => {
                record(PayoutOutcome::Unknown)
            }
            BankView::MustQuery | BankView::Processing | BankView::Unsettled => {
                if self.queries >= QUERIES_PER_CLAIM_MAX {
                    Step::Done(Ending::GaveUp(GiveUp::Queries))
                } else {
                    Step::Query { payout_id }
                }
            }
        }
    }

    /// Takes in what the last step led to.
    pub fn apply(&mut self, event: Event) {
        if self.ended.is_some() {
            return;
        }
        match event {
            Event::Waited => self.wait = None,
            Event::StopRequested => {
                self.stopping = true;
                self.wait = None;
            }
            Event::Recorded { outcome, answer } => self.recorded(outcome, answer),
            Event::Submitted(answer) => self.submitted(answer),
            Event::Queried(answer) => self.queried(answer),
        }
    }

    fn recorded(&mut self, outcome: PayoutOutcome, answer: RecordAnswer) {
        match answer {
            RecordAnswer::Applied => {
                self.recorded = outcome.state();
                self.sent_fence_fresh = outcome == PayoutOutcome::Sent;
                match outcome {
                    PayoutOutcome::Succeeded => {
                        self.ended = Some(Ending::Final(FinalOutcome::Succeeded))
                    }
                    PayoutOutcome::Failed => self.ended = Some(Ending::Final(FinalOutcome::Failed)),
                    PayoutOutcome::Sent | PayoutOutcome::Unknown => {}
                }
                if self.stopping && self.ended.is_none() {
                    self.ended = Some(Ending::Stopped);
                }
            }
            RecordAnswer::Fenced(code) => self.ended = Some(Ending::Fenced(code)),
            RecordAnswer::AlreadyFinal => self.ended = Some(Ending::AlreadyFinal),
            RecordAnswer::Refused(code) => self.ended = Some(Ending::Refused(code)),
            RecordAnswer::Failed => {
                self.sent_fence_fresh = false;
                self.failed();
                if self.stopping && self.ended.is_none() {
                    self.ended = Some(Ending::Stopped);
                }
            }
        }
    }

    fn submitted(&mut self, answer: SubmitAnswer) {
        self.submits = self.submits.saturating_add(1);
        self.sent_fence_fresh = false;
        match answer {
            SubmitAnswer::Answered(answer) => self.bank_answered(answer),
            SubmitAnswer::OutcomeUnknown => {
                self.bank = BankView::MustQuery;
                self.failed();
            }
            // The bank provably never had it (this submit was the first of the claim with no
            // earlier claim, or followed a "not found"), and never can: fail it.
            SubmitAnswer::NotSent { permanent: true } => {
                self.bank = BankView::Final(FinalOutcome::Failed);
            }
            // Nothing left: the bank view (never sent / not found) still holds.
            SubmitAnswer::NotSent { permanent: false } => self.failed(),
        }
    }

    fn queried(&mut self, answer: QueryAnswer) {
        self.queries = self.queries.saturating_add(1);
        self.sent_fence_fresh = false;
        match answer {
            QueryAnswer::NotFound => self.bank = BankView::NotFound,
            QueryAnswer::Known(answer) => self.bank_answered(answer),
            QueryAnswer::Failed => {
                self.bank = BankView::Unsettled;
                self.failed();
            }
        }
    }

    fn bank_answered(&mut self, answer: BankAnswer) {
        match answer {
            BankAnswer::Executed => self.bank = BankView::Final(FinalOutcome::Succeeded),
            BankAnswer::Rejected => self.bank = BankView::Final(FinalOutcome::Failed),
            BankAnswer::Accepted | BankAnswer::Pending => {
                self.bank = BankView::Processing;
                self.wait = Some(WaitCause::BankProcessing);
            }
            // The bank answered but the answer settles nothing: whatever happened, only a
            // query (after the interval) can tell.
            BankAnswer::Unclear => {
                self.bank = BankView::Unsettled;
                self.wait = Some(WaitCause::BankProcessing);
            }
        }
    }

    fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= FAILURES_PER_CLAIM_MAX {
            self.ended = Some(Ending::GaveUp(GiveUp::Failures));
        } else {
            self.wait = Some(WaitCause::Backoff { failures: self.failures });
        }
    }
}

#[cfg(test)]
mod tests;
