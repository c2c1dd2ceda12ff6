//! The payout loop of one bank: claim a batch with a lease, drive each claim through the
//! decision core ([`crate::decision`]) with the SDK and a [`BankGateway`], count how each
//! ended. Nothing is renewed silently: a claim whose lease runs out stops (the core starts
//! nothing in the last [`crate::decision::LEASE_MARGIN_MS`]), and a record refused for a stale token ends the
//! attempt and is counted (`result="fenced"`). Payouts the bank keeps processing are swept by
//! their own claim, which queries every [`QUERY_INTERVAL`] until the bank answers or the lease
//! ends; then they come back to a worker with `must_inquire_first`.
//!
//! A claim also takes the bank's pushed callbacks about its payout (`crate::callbacks`): each
//! running claim has a mailbox in the worker's `ClaimDesk`; a final status put there is fed
//! to the decision core as a status query's answer and ends any wait, so the outcome is
//! recorded at once, by this claim, with its fencing token.
//!
//! Each claim round has a claim id (`ClaimRound`): a claim whose answer was lost (the SDK
//! gave up: a timeout, a leader change) is asked again with the same id while its lease
//! could still run, and the ledger answers `exists` with the payouts that claim took, so they
//! are driven at once instead of waiting out a lease nobody holds; a fresh id starts the next
//! round.
//!
//! Claims and drives run as one set of futures on the caller's task (no spawning), so the
//! simulation runs the loop deterministically and a stop reaches every claim.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{
    AttemptIds, BankGateway, EndToEndId, GatewayError, Party, PayoutInstruction, PayoutQuery,
    ReferenceError,
};
use tianping_bank_adapters::money::Money;
use tianping_client::{
    ClaimAnswer, ClaimIdError, Error, Payout, PayoutBatchClaim, PayoutClaim, RecordPayoutOutcome,
    new_claim_id,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::callbacks::{CLAIM_REPLIES_MAX, ClaimCallback, ClaimDesk};
use crate::clock;
use crate::config::BankConfig;
use crate::decision::{
    BankAnswer, ClaimFacts, ClaimProgress, Ending, Event, FAILURES_PER_CLAIM_MAX, FinalOutcome,
    GiveUp, QueryAnswer, RecordAnswer, Step, SubmitAnswer, WaitCause,
};
use crate::ledger::WorkerLedger;
use crate::metrics::{OUT, WorkerMetrics};

/// How often a bank's loop asks for more payouts while it has room.
pub const CLAIM_INTERVAL: Duration = Duration::from_secs(1);

/// How long a claim waits before asking again about a payout the bank is processing.
pub const QUERY_INTERVAL: Duration = Duration::from_secs(5);

/// The first backoff delay's upper bound after a failed call.
pub const BACKOFF_DELAY_MIN: Duration = Duration::from_millis(200);

/// The largest backoff delay's upper bound.
pub const BACKOFF_DELAY_MAX: Duration = Duration::from_secs(30);

/// How long the SDK retries one ledger call (its `RetryPolicy::elapsed_max` default).
pub const LEDGER_CALL_MS_MAX: u64 = 30_000;

/// The bound within which a payout is final in the ledger once the bank answers its query with
/// a final status, given the lease and a running worker and cluster: the holder records it at
/// once (within one ledger call) or, if it cannot, its lease runs out, the next claim comes
/// within a claim interval, and its first query and record follow (two ledger calls, plus the
/// query interval if it was waiting on the bank).
pub fn final_within_after_bank_answer(lease_ms: u64) -> Duration {
    let claim_ms = u64::try_from(CLAIM_INTERVAL.as_millis()).unwrap_or(u64::MAX);
    let query_ms = u64::try_from(QUERY_INTERVAL.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(
        lease_ms
            .saturating_add(claim_ms)
            .saturating_add(query_ms)
            .saturating_add(LEDGER_CALL_MS_MAX.saturating_mul(3)),
    )
}

/// What the loops of one bank share.
pub(crate) struct BankContext<'a, G, L> {
    /// The ledger: the SDK's client in production.
    pub(crate) ledger: &'a L,
    pub(crate) gateway: &'a G,
    /// The worker's running claims, where bank callbacks find the claim of their payout.
    pub(crate) claims: &'a ClaimDesk,
    pub(crate) bank: &'a BankConfig,
    pub(crate) metrics: &'a WorkerMetrics,
    pub(crate) worker_id: u128,
    pub(crate) lease_ms: u64,
    pub(crate) origin: Instant,
    pub(crate) stop: CancellationToken,
}

impl<G: BankGateway, L: WorkerLedger> BankContext<'_, G, L> {
    fn bank_id(&self) -> u32 {
        self.bank.bank()
    }
}

/// One claim round: its id, the fields it was first sent with, and when. Every retry of the
/// round resends exactly these (the ledger answers another claim under the same id
/// `exists_with_different_claim`); its lease is counted from `asked_at_ms`, before the first
/// attempt left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClaimRound {
    pub(crate) claim_id: u128,
    pub(crate) max: u32,
    pub(crate) asked_at_ms: u64,
}

impl ClaimRound {
    /// The round to claim in at `now_ms`: `open` (a round whose answer was lost) again while
    /// a lease it may have been given could still run, else a new round for `max` payouts
    /// under a fresh claim id (an error when the operating system gave no randomness for it).
    pub(crate) fn next(
        open: Option<ClaimRound>,
        now_ms: u64,
        lease_ms: u64,
        max: u32,
    ) -> Result<ClaimRound, ClaimIdError> {
        match open {
            Some(round) if now_ms < round.asked_at_ms.saturating_add(lease_ms) => Ok(round),
            _ => Ok(ClaimRound { claim_id: new_claim_id()?, max, asked_at_ms: now_ms }),
        }
    }
}

/// One finished piece of work of the loop.
enum Task {
    Claimed { round: ClaimRound, answer: Result<ClaimAnswer, Error> },
    Ended { payout_id: u128, ending: Ending },
}

type TaskFuture<'a> = Pin<Box<dyn Future<Output = Task> + Send + 'a>>;

/// The payout loop of one bank, until the stop signal; then it lets each claim finish a due
/// final record and returns.
pub(crate) async fn payout_loop<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
    batch: u32,
) {
    let mut tasks: FuturesUnordered<TaskFuture<'_>> = FuturesUnordered::new();
    let mut held = 0u32;
    let mut claiming = false;
    // A round whose answer was lost, to ask again under its id.
    let mut open_round: Option<ClaimRound> = None;
    let stop = &context.stop;
    loop {
        let stopping = stop.is_cancelled();
        if stopping && tasks.is_empty() {
            return;
        }
        if !stopping && !claiming && held < batch {
            claiming = true;
            let now_ms = clock::elapsed_ms(context.origin);
            match ClaimRound::next(open_round.take(), now_ms, context.lease_ms, batch - held) {
                Ok(round) => tasks.push(Box::pin(claim(context, round))),
                Err(error) => {
                    // No claim id, so no round: wait as after an empty claim and try again.
                    tracing::warn!(bank = context.bank_id(), %error, "no claim round");
                    tasks.push(Box::pin(pause(CLAIM_INTERVAL)));
                }
            }
        }
        // Biased (fixed order): tokio's random branch order is seeded from a process-wide
        // counter, so a seed of the simulation would not replay. Finished tasks first.
        tokio::select! {
            biased;
            Some(task) = tasks.next() => match task {
                Task::Claimed { round, answer } => {
                    claiming = false;
                    let asked_at_ms = round.asked_at_ms;
                    let claims = match answer {
                        Ok(ClaimAnswer::Claimed(claims)) => claims,
                        Ok(ClaimAnswer::Exists(claims)) => {
                            tracing::info!(
                                bank = context.bank_id(),
                                claim_id = round.claim_id,
                                held = claims.len(),
                                "a claim whose answer was lost: driving what it holds"
                            );
                            claims
                        }
                        Err(error) => {
                            tracing::warn!(bank = context.bank_id(), %error, "claim failed");
                            // Refused: the round is over. Otherwise the claim may have been
                            // applied: ask again under its id.
                            if !matches!(error, Error::Refused { .. }) {
                                open_round = Some(round);
                            }
                            Vec::new()
                        }
                    };
                    if claims.is_empty() {
                        // Nothing to do (or the cluster is unreachable): wait before asking.
                        tasks.push(Box::pin(pause(CLAIM_INTERVAL)));
                        claiming = true;
                    }
                    let deadline_ms = asked_at_ms.saturating_add(context.lease_ms);
                    for claim in claims {
                        held = held.saturating_add(1);
                        tasks.push(Box::pin(drive(context, claim, deadline_ms)));
                    }
                }
                Task::Ended { payout_id: 0, .. } => claiming = false,
                Task::Ended { payout_id, ending } => {
                    held = held.saturating_sub(1);
                    report(context, payout_id, ending);
                }
            },
            () = stop.cancelled(), if !stopping => {}
        }
    }
}

/// A pause in the claim rhythm, as a task (payout id 0 marks it).
async fn pause(delay: Duration) -> Task {
    tokio::time::sleep(delay).await;
    Task::Ended { payout_id: 0, ending: Ending::Stopped }
}

/// Asks for the round's payouts. The lease is measured from the round's first attempt, taken
/// before the request left, so the worker's deadline is never later than the ledger's.
async fn claim<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
    round: ClaimRound,
) -> Task {
    let request = PayoutBatchClaim {
        claim_id: round.claim_id,
        worker_id: context.worker_id,
        bank: context.bank_id(),
        max: round.max,
        lease_ms: context.lease_ms,
    };
    Task::Claimed { round, answer: context.ledger.claim_payouts(request).await }
}

fn report<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
    payout_id: u128,
    ending: Ending,
) {
    let bank = context.bank_id();
    let metrics = context.metrics;
    match ending {
        Ending::Final(outcome) => {
            metrics.attempt(bank, OUT, outcome == FinalOutcome::Succeeded);
            let result = if outcome == FinalOutcome::Succeeded { "succeeded" } else { "failed" };
            metrics.outcome(bank, OUT, result);
            tracing::info!(bank, payout_id, result, "payout final");
        }
        Ending::Fenced(code) => {
            metrics.outcome(bank, OUT, "fenced");
            tracing::warn!(bank, payout_id, ?code, "record refused: the claim is no longer ours");
        }
        Ending::AlreadyFinal => metrics.outcome(bank, OUT, "already_final"),
        Ending::Refused(code) => {
            metrics.outcome(bank, OUT, "refused");
            tracing::error!(bank, payout_id, ?code, "record refused");
        }
        Ending::LeaseRanOut => metrics.outcome(bank, OUT, "lease_ran_out"),
        Ending::GaveUp(reason) => {
            let result = match reason {
                GiveUp::Failures => "gave_up_failures",
                GiveUp::Queries => "gave_up_queries",
                GiveUp::Submits => "gave_up_submits",
            };
            metrics.outcome(bank, OUT, result);
            tracing::warn!(bank, payout_id, result, "claim left to its lease");
        }
        Ending::Stopped => metrics.outcome(bank, OUT, "stopped"),
    }
}

fn backoff_delays() -> impl Iterator<Item = Duration> {
    let builder = ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(BACKOFF_DELAY_MIN)
        .with_max_delay(BACKOFF_DELAY_MAX)
        .with_max_times(usize::try_from(FAILURES_PER_CLAIM_MAX).unwrap_or(usize::MAX));
    // Under the deterministic simulation the jitter comes from the simulator's seeded
    // generator (backon otherwise seeds it from a source madsim does not control).
    #[cfg(madsim)]
    let builder = builder.with_jitter_seed(madsim::rand::random::<u64>());
    builder.build()
}

/// Drives one claim to its ending.
async fn drive<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
    claim: PayoutClaim,
    lease_deadline_ms: u64,
) -> Task {
    let payout = claim.payout;
    let mut progress = ClaimProgress::new(ClaimFacts {
        payout_id: payout.id,
        fencing_token: payout.fencing_token,
        must_inquire_first: claim.must_inquire_first,
        state: payout.state,
        lease_deadline_ms,
    });
    if payout.credit_account_id != context.bank.bank_in_transit_account_id {
        tracing::warn!(
            bank = context.bank_id(),
            payout_id = payout.id,
            credit_account_id = payout.credit_account_id,
            "payout reserves into another bank-in-transit account than configured"
        );
    }
    let stop = &context.stop;
    let mut stop_applied = false;
    let mut backoff = backoff_delays();
    let mut mailbox = context.claims.open(payout.id);
    let mut replies: Vec<oneshot::Sender<Ending>> = Vec::new();
    loop {
        if !stop_applied && stop.is_cancelled() {
            stop_applied = true;
            progress.apply(Event::StopRequested);
        }
        while let Some(callback) = mailbox.try_take() {
            take_callback(&mut progress, &mut replies, callback);
        }
        let event = match progress.next(clock::elapsed_ms(context.origin)) {
            Step::Done(ending) => {
                for reply in replies {
                    // The desk may have stopped waiting; it then reads the ledger instead.
                    let _ = reply.send(ending);
                }
                return Task::Ended { payout_id: payout.id, ending };
            }
            Step::Record { payout_id, fencing_token, outcome } => {
                let request = RecordPayoutOutcome {
                    payout_id,
                    worker_id: context.worker_id,
                    fencing_token,
                    outcome,
                };
                let answer = match context.ledger.record_payout_outcome(request).await {
                    Ok(_) => RecordAnswer::Applied,
                    Err(Error::Refused { code, .. }) => RecordAnswer::from_refusal(code),
                    Err(_) => RecordAnswer::Failed,
                };
                Event::Recorded { outcome, answer }
            }
            Step::Submit { .. } => Event::Submitted(submit(context, &payout).await),
            Step::Query { .. } => Event::Queried(query(context, payout.id).await),
            Step::Wait(cause) => {
                let delay = match cause {
                    WaitCause::Backoff { .. } => backoff.next().unwrap_or(BACKOFF_DELAY_MAX),
                    WaitCause::BankProcessing => QUERY_INTERVAL,
                };
                // Biased (fixed order), so a simulated seed replays.
                tokio::select! {
                    biased;
                    () = stop.cancelled() => {}
                    Some(callback) = mailbox.take() => {
                        take_callback(&mut progress, &mut replies, callback);
                    }
                    () = tokio::time::sleep(delay) => {}
                }
                Event::Waited
            }
        };
        progress.apply(event);
    }
}

/// A bank's callback about this claim's payout: its final word, fed to the core as the answer
/// to a status query (the same path, so the same record with the claim's fencing token
/// follows), ending any wait, since what the claim waited for has come. The callback's
/// answer waits for the claim's ending; past [`CLAIM_REPLIES_MAX`] owed answers it is
/// dropped, and the desk answers from the ledger instead.
fn take_callback(
    progress: &mut ClaimProgress,
    replies: &mut Vec<oneshot::Sender<Ending>>,
    callback: ClaimCallback,
) {
    let answer = match callback.outcome {
        FinalOutcome::Succeeded => BankAnswer::Executed,
        FinalOutcome::Failed => BankAnswer::Rejected,
    };
    progress.apply(Event::Queried(QueryAnswer::Known(answer)));
    progress.apply(Event::Waited);
    if replies.len() < CLAIM_REPLIES_MAX {
        replies.push(callback.reply);
    }
}

/// The beneficiary text of a payout is the creditor's account number, optionally followed
/// by a blank and the holder's name (`6222020200001234567 张三`); without a name the account
/// number stands for it.
pub fn creditor(beneficiary: &str) -> Result<Party, ReferenceError> {
    let beneficiary = beneficiary.trim();
    match beneficiary.split_once(' ') {
        Some((account, name)) => Party::new(account, name.trim()),
        None => Party::new(beneficiary, beneficiary),
    }
}

/// The instruction for one attempt: end-to-end id = payout id, fresh attempt ids.
pub fn instruction(
    bank: &BankConfig,
    payout: &Payout,
    now_unix_ms: u64,
) -> Result<PayoutInstruction, ReferenceError> {
    Ok(PayoutInstruction {
        end_to_end_id: EndToEndId::from_payout_id(payout.id)?,
        attempt: AttemptIds::fresh()?,
        amount: Money { minor_units: payout.amount, currency: bank.collections.currency },
        debtor: bank.debtor.clone(),
        creditor: creditor(&payout.beneficiary)?,
        requested_execution_date: Date::from_unix_ms(now_unix_ms),
        created_at_unix_ms: now_unix_ms,
    })
}

/// Only a fresh id's missing randomness may pass; a reference that does not fit never will.
fn reference_is_permanent(error: &ReferenceError) -> bool {
    !matches!(error, ReferenceError::NoRandomness { .. })
}

async fn submit<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
    payout: &Payout,
) -> SubmitAnswer {
    let bank = context.bank_id();
    // A payout on another ledger than this bank's currency would be paid in the wrong units.
    if payout.ledger != context.bank.collections.ledger {
        tracing::error!(
            bank,
            payout_id = payout.id,
            ledger = payout.ledger,
            "payout on another ledger than the bank's"
        );
        return SubmitAnswer::NotSent { permanent: true };
    }
    let now_unix_ms = clock::unix_ns() / 1_000_000;
    let instruction = match instruction(context.bank, payout, now_unix_ms) {
        Ok(instruction) => instruction,
        Err(error) => {
            tracing::warn!(bank, payout_id = payout.id, %error, "payout cannot be expressed to the bank");
            return SubmitAnswer::NotSent { permanent: reference_is_permanent(&error) };
        }
    };
    let started = Instant::now();
    let answer = context.gateway.submit_payout(&instruction).await;
    context.metrics.bank_call(bank, OUT, "submit", started.elapsed());
    match answer {
        Ok(outcome) => SubmitAnswer::Answered(BankAnswer::from(&outcome)),
        Err(error) => {
            context.metrics.gateway_error(bank, OUT, &error);
            tracing::warn!(bank, payout_id = payout.id, %error, "submit failed");
            #[cfg(feature = "planted-bugs")]
            if error.outcome_unknown()
                && crate::planted::active(crate::planted::PlantedBug::ResendNewId)
            {
                return planted_resend(context, instruction).await;
            }
            submit_failure(&error)
        }
    }
}

/// PLANTED BUG `resend-new-id`: after an unknown outcome, submit again under a fresh
/// end-to-end id (the payout id and `R<n>`) instead of querying by the same one.
#[cfg(feature = "planted-bugs")]
async fn planted_resend<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
    mut instruction: PayoutInstruction,
) -> SubmitAnswer {
    let payout_id = instruction.end_to_end_id.as_str().to_owned();
    for resend in 1..=crate::decision::SUBMITS_PER_CLAIM_MAX {
        let Ok(fresh) = EndToEndId::parse(&format!("{payout_id}R{resend}")) else {
            break;
        };
        instruction.end_to_end_id = fresh;
        if let Ok(outcome) = context.gateway.submit_payout(&instruction).await {
            return SubmitAnswer::Answered(BankAnswer::from(&outcome));
        }
    }
    SubmitAnswer::OutcomeUnknown
}

/// What a failed submit means for the core.
pub fn submit_failure(error: &GatewayError) -> SubmitAnswer {
    if error.outcome_unknown() {
        return SubmitAnswer::OutcomeUnknown;
    }
    match error {
        GatewayError::NotSent(reference) => {
            SubmitAnswer::NotSent { permanent: reference_is_permanent(reference) }
        }
        _ => SubmitAnswer::NotSent { permanent: false },
    }
}

async fn query<G: BankGateway, L: WorkerLedger>(
    context: &BankContext<'_, G, L>,
    payout_id: u128,
) -> QueryAnswer {
    let bank = context.bank_id();
    let Ok(end_to_end_id) = EndToEndId::from_payout_id(payout_id) else {
        return QueryAnswer::Failed;
    };
    let started = Instant::now();
    let answer = context.gateway.query_payout(&end_to_end_id).await;
    context.metrics.bank_call(bank, OUT, "query", started.elapsed());
    match answer {
        Ok(PayoutQuery::NotFound) => QueryAnswer::NotFound,
        Ok(PayoutQuery::Known(outcome)) => QueryAnswer::Known(BankAnswer::from(&outcome)),
        Err(error) => {
            context.metrics.gateway_error(bank, OUT, &error);
            tracing::warn!(bank, payout_id, %error, "query failed");
            QueryAnswer::Failed
        }
    }
}

#[cfg(test)]
mod claim_rounds;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beneficiary_names_the_creditor() {
        let party = creditor("6222020200001234567 张三").expect("valid");
        assert_eq!((party.account(), party.name()), ("6222020200001234567", "张三"));
        let party = creditor("6222020200001234567").expect("valid");
        assert_eq!(party.name(), "6222020200001234567");
        assert!(creditor("62 22").is_ok_and(|party| party.account() == "62"));
        assert!(creditor("bad#account name").is_err());
    }

    #[test]
    fn submit_failures_are_classified() {
        assert_eq!(
            submit_failure(&GatewayError::Unavailable { detail: "timeout".into() }),
            SubmitAnswer::OutcomeUnknown
        );
        let bad = ReferenceError::PayoutIdTooLong { payout_id: u128::MAX, digits: 39 };
        assert_eq!(
            submit_failure(&GatewayError::NotSent(bad)),
            SubmitAnswer::NotSent { permanent: true }
        );
        let random = ReferenceError::NoRandomness { detail: "x".into() };
        assert_eq!(
            submit_failure(&GatewayError::NotSent(random)),
            SubmitAnswer::NotSent { permanent: false }
        );
    }

    #[test]
    fn the_final_bound_covers_a_lost_lease() {
        let bound = final_within_after_bank_answer(30_000);
        assert!(bound >= Duration::from_millis(30_000) + CLAIM_INTERVAL + QUERY_INTERVAL);
    }
}
