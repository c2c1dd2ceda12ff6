//! The decision core, case by case (one `check` helper over scripted answers) and as a
//! property over arbitrary sequences of bank and ledger answers and faults.

use proptest::prelude::*;

use super::*;

const PAYOUT: u128 = 9_001;
const TOKEN: u64 = 7;
const LEASE_END_MS: u64 = 1_000_000;

fn claim(must_inquire_first: bool, state: PayoutState) -> ClaimFacts {
    ClaimFacts {
        payout_id: PAYOUT,
        fencing_token: TOKEN,
        must_inquire_first,
        state,
        lease_deadline_ms: LEASE_END_MS,
    }
}

fn fresh() -> ClaimFacts {
    claim(false, PayoutState::Claimed)
}

fn reclaimed() -> ClaimFacts {
    claim(true, PayoutState::Claimed)
}

fn record(outcome: PayoutOutcome) -> Step {
    Step::Record { payout_id: PAYOUT, fencing_token: TOKEN, outcome }
}

const SUBMIT: Step = Step::Submit { payout_id: PAYOUT };
const QUERY: Step = Step::Query { payout_id: PAYOUT };

fn applied(outcome: PayoutOutcome) -> Event {
    Event::Recorded { outcome, answer: RecordAnswer::Applied }
}

/// Runs `events` against a claim at time 0 and returns every step asked for, the one after
/// the last event included: the steps must be exactly `expected`.
fn check(facts: ClaimFacts, events: &[Event], expected: &[Step]) {
    let mut progress = ClaimProgress::new(facts);
    let mut steps = vec![progress.next(0)];
    for event in events {
        progress.apply(*event);
        steps.push(progress.next(0));
    }
    assert_eq!(steps, expected, "events {events:?}");
}

#[test]
fn a_fresh_claim_records_sent_before_it_submits_and_books_the_bank_answer() {
    use PayoutOutcome::*;
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::Answered(BankAnswer::Executed)),
            applied(Succeeded),
        ],
        &[
            record(Sent),
            SUBMIT,
            record(Succeeded),
            Step::Done(Ending::Final(FinalOutcome::Succeeded)),
        ],
    );
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::Answered(BankAnswer::Rejected)),
            applied(Failed),
        ],
        &[record(Sent), SUBMIT, record(Failed), Step::Done(Ending::Final(FinalOutcome::Failed))],
    );
}

#[test]
fn an_earlier_claim_means_query_first_and_submit_only_after_not_found() {
    use PayoutOutcome::*;
    check(
        reclaimed(),
        &[Event::Queried(QueryAnswer::Known(BankAnswer::Executed)), applied(Succeeded)],
        &[QUERY, record(Succeeded), Step::Done(Ending::Final(FinalOutcome::Succeeded))],
    );
    check(
        reclaimed(),
        &[Event::Queried(QueryAnswer::NotFound), applied(Sent)],
        &[QUERY, record(Sent), SUBMIT],
    );
    // Found Sent or Unknown by the claim (whatever the flag says): query first too.
    for state in [PayoutState::Sent, PayoutState::Unknown] {
        check(claim(false, state), &[], &[QUERY]);
    }
}

#[test]
fn an_unknown_submit_outcome_is_followed_by_a_query_never_a_resend() {
    use PayoutOutcome::*;
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::OutcomeUnknown),
            Event::Waited,
            Event::Queried(QueryAnswer::Known(BankAnswer::Pending)),
            Event::Waited,
            Event::Queried(QueryAnswer::Known(BankAnswer::Executed)),
        ],
        &[
            record(Sent),
            SUBMIT,
            Step::Wait(WaitCause::Backoff { failures: 1 }),
            QUERY,
            Step::Wait(WaitCause::BankProcessing),
            QUERY,
            record(Succeeded),
        ],
    );
    // An unreadable answer to the submit is as good as none.
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::Answered(BankAnswer::Unclear)),
            Event::Waited,
            applied(Unknown),
        ],
        &[record(Sent), SUBMIT, Step::Wait(WaitCause::BankProcessing), record(Unknown), QUERY],
    );
}

#[test]
fn a_resend_after_not_found_is_fenced_again_and_uses_the_same_id() {
    use PayoutOutcome::*;
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::OutcomeUnknown),
            Event::Waited,
            Event::Queried(QueryAnswer::NotFound),
            applied(Sent),
        ],
        &[
            record(Sent),
            SUBMIT,
            Step::Wait(WaitCause::Backoff { failures: 1 }),
            QUERY,
            record(Sent),
            SUBMIT,
        ],
    );
}

#[test]
fn submits_the_bank_never_receives_are_bounded() {
    use PayoutOutcome::*;
    let mut events = Vec::new();
    let mut expected = vec![record(Sent)];
    for round in 1..=SUBMITS_PER_CLAIM_MAX {
        events.extend([
            applied(Sent),
            Event::Submitted(SubmitAnswer::OutcomeUnknown),
            Event::Waited,
        ]);
        expected.extend([SUBMIT, Step::Wait(WaitCause::Backoff { failures: round }), QUERY]);
        events.push(Event::Queried(QueryAnswer::NotFound));
        expected.push(if round == SUBMITS_PER_CLAIM_MAX {
            Step::Done(Ending::GaveUp(GiveUp::Submits))
        } else {
            record(Sent)
        });
    }
    check(fresh(), &events, &expected);
}

#[test]
fn nothing_sent_is_retried_when_passing_and_failed_when_permanent() {
    use PayoutOutcome::*;
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::NotSent { permanent: false }),
            Event::Waited,
            applied(Sent),
        ],
        &[
            record(Sent),
            SUBMIT,
            Step::Wait(WaitCause::Backoff { failures: 1 }),
            record(Sent),
            SUBMIT,
        ],
    );
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::NotSent { permanent: true }),
            applied(Failed),
        ],
        &[record(Sent), SUBMIT, record(Failed), Step::Done(Ending::Final(FinalOutcome::Failed))],
    );
}

#[test]
fn a_refused_record_ends_the_claim_before_the_bank_is_touched() {
    use PayoutOutcome::*;
    for (answer, ending) in [
        (
            RecordAnswer::Fenced(ResultCode::FencingTokenStale),
            Ending::Fenced(ResultCode::FencingTokenStale),
        ),
        (RecordAnswer::AlreadyFinal, Ending::AlreadyFinal),
        (
            RecordAnswer::Refused(ResultCode::PayoutNotFound),
            Ending::Refused(ResultCode::PayoutNotFound),
        ),
    ] {
        check(
            fresh(),
            &[Event::Recorded { outcome: Sent, answer }],
            &[record(Sent), Step::Done(ending)],
        );
    }
    // A record without an answer: back off and record again before any submit.
    check(
        fresh(),
        &[Event::Recorded { outcome: Sent, answer: RecordAnswer::Failed }, Event::Waited],
        &[record(Sent), Step::Wait(WaitCause::Backoff { failures: 1 }), record(Sent)],
    );
}

#[test]
fn results_are_classified_for_fencing() {
    assert_eq!(
        RecordAnswer::from_refusal(ResultCode::FencingTokenStale),
        RecordAnswer::Fenced(ResultCode::FencingTokenStale)
    );
    assert_eq!(
        RecordAnswer::from_refusal(ResultCode::PayoutClaimedByAnotherWorker),
        RecordAnswer::Fenced(ResultCode::PayoutClaimedByAnotherWorker)
    );
    assert_eq!(
        RecordAnswer::from_refusal(ResultCode::PayoutLeaseExpired),
        RecordAnswer::Fenced(ResultCode::PayoutLeaseExpired)
    );
    assert_eq!(
        RecordAnswer::from_refusal(ResultCode::PayoutAlreadyFinal),
        RecordAnswer::AlreadyFinal
    );
    assert_eq!(RecordAnswer::from_refusal(ResultCode::Exists), RecordAnswer::Applied);
    assert_eq!(
        RecordAnswer::from_refusal(ResultCode::PayoutNotClaimed),
        RecordAnswer::Refused(ResultCode::PayoutNotClaimed)
    );
}

#[test]
fn failed_queries_record_unknown_and_back_off() {
    use PayoutOutcome::*;
    check(
        reclaimed(),
        &[
            Event::Queried(QueryAnswer::Failed),
            Event::Waited,
            applied(Unknown),
            Event::Queried(QueryAnswer::Known(BankAnswer::Accepted)),
        ],
        &[
            QUERY,
            Step::Wait(WaitCause::Backoff { failures: 1 }),
            record(Unknown),
            QUERY,
            Step::Wait(WaitCause::BankProcessing),
        ],
    );
    // Once the bank is processing it again, the ledger is told `sent` before the next query.
    check(
        claim(true, PayoutState::Unknown),
        &[Event::Queried(QueryAnswer::Known(BankAnswer::Pending)), Event::Waited, applied(Sent)],
        &[QUERY, Step::Wait(WaitCause::BankProcessing), record(Sent), QUERY],
    );
}

#[test]
fn queries_and_failures_are_bounded() {
    let mut progress = ClaimProgress::new(reclaimed());
    for _ in 0..QUERIES_PER_CLAIM_MAX {
        assert_eq!(progress.next(0), QUERY);
        progress.apply(Event::Queried(QueryAnswer::Known(BankAnswer::Pending)));
        assert_eq!(progress.next(0), Step::Wait(WaitCause::BankProcessing));
        progress.apply(Event::Waited);
        if progress.next(0) == record(PayoutOutcome::Sent) {
            progress.apply(applied(PayoutOutcome::Sent));
        }
    }
    assert_eq!(progress.next(0), Step::Done(Ending::GaveUp(GiveUp::Queries)));

    let mut progress = ClaimProgress::new(fresh());
    for failures in 1..FAILURES_PER_CLAIM_MAX {
        progress
            .apply(Event::Recorded { outcome: PayoutOutcome::Sent, answer: RecordAnswer::Failed });
        assert_eq!(progress.next(0), Step::Wait(WaitCause::Backoff { failures }));
        progress.apply(Event::Waited);
    }
    progress.apply(Event::Recorded { outcome: PayoutOutcome::Sent, answer: RecordAnswer::Failed });
    assert_eq!(progress.next(0), Step::Done(Ending::GaveUp(GiveUp::Failures)));
}

#[test]
fn nothing_starts_near_the_end_of_the_lease() {
    let progress = ClaimProgress::new(fresh());
    assert_eq!(progress.next(LEASE_END_MS - LEASE_MARGIN_MS - 1), record(PayoutOutcome::Sent));
    assert_eq!(progress.next(LEASE_END_MS - LEASE_MARGIN_MS), Step::Done(Ending::LeaseRanOut));
    assert_eq!(progress.next(u64::MAX), Step::Done(Ending::LeaseRanOut));
}

#[test]
fn a_stop_finishes_a_known_final_outcome_and_starts_nothing_else() {
    use PayoutOutcome::*;
    check(
        fresh(),
        &[
            applied(Sent),
            Event::Submitted(SubmitAnswer::Answered(BankAnswer::Pending)),
            Event::StopRequested,
        ],
        &[record(Sent), SUBMIT, Step::Wait(WaitCause::BankProcessing), Step::Done(Ending::Stopped)],
    );
    check(
        reclaimed(),
        &[
            Event::Queried(QueryAnswer::Known(BankAnswer::Rejected)),
            Event::StopRequested,
            applied(Failed),
        ],
        &[QUERY, record(Failed), record(Failed), Step::Done(Ending::Final(FinalOutcome::Failed))],
    );
    check(fresh(), &[Event::StopRequested], &[record(Sent), Step::Done(Ending::Stopped)]);
}

#[test]
fn claims_that_are_not_workable_end_at_once() {
    for state in [PayoutState::Succeeded, PayoutState::Failed] {
        check(claim(true, state), &[], &[Step::Done(Ending::AlreadyFinal)]);
    }
    check(
        claim(false, PayoutState::Reserved),
        &[],
        &[Step::Done(Ending::Refused(ResultCode::PayoutNotClaimed))],
    );
}

/// One fault-injected answer per step, drawn from a byte.
fn answer_for(step: Step, choice: u8) -> Event {
    let bank = |choice: u8| match choice % 5 {
        0 => BankAnswer::Accepted,
        1 => BankAnswer::Pending,
        2 => BankAnswer::Executed,
        3 => BankAnswer::Rejected,
        _ => BankAnswer::Unclear,
    };
    match step {
        Step::Record { outcome, .. } => {
            let answer = match choice % 16 {
                0 => RecordAnswer::Fenced(ResultCode::FencingTokenStale),
                1 => RecordAnswer::AlreadyFinal,
                2 => RecordAnswer::Refused(ResultCode::PayoutNotFound),
                3..=5 => RecordAnswer::Failed,
                _ => RecordAnswer::Applied,
            };
            Event::Recorded { outcome, answer }
        }
        Step::Submit { .. } => Event::Submitted(match choice % 8 {
            0 | 1 => SubmitAnswer::OutcomeUnknown,
            2 => SubmitAnswer::NotSent { permanent: false },
            3 => SubmitAnswer::NotSent { permanent: true },
            other => SubmitAnswer::Answered(bank(other)),
        }),
        Step::Query { .. } => Event::Queried(match choice % 8 {
            0 | 1 => QueryAnswer::NotFound,
            2 => QueryAnswer::Failed,
            other => QueryAnswer::Known(bank(other)),
        }),
        Step::Wait(_) | Step::Done(_) => Event::Waited,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_096))]

    /// Over any sequence of answers and faults: ids never change, every submit follows an
    /// acknowledged `sent` record, no submit follows a possibly-received one without a "not
    /// found" in between, finals are the bank's, a stop starts no bank call, and every claim
    /// ends within the bound.
    #[test]
    fn the_core_keeps_its_rules_under_any_answers(
        must_inquire_first in any::<bool>(),
        state in prop::sample::select(vec![PayoutState::Claimed, PayoutState::Sent, PayoutState::Unknown]),
        lease_deadline_ms in 0u64..200_000,
        choices in prop::collection::vec(any::<u8>(), 0..400),
        stop_at in prop::option::of(0usize..400),
        wait_ms in 0u64..5_000,
    ) {
        let facts = ClaimFacts { payout_id: PAYOUT, fencing_token: TOKEN, must_inquire_first, state, lease_deadline_ms };
        let mut progress = ClaimProgress::new(facts);
        let mut now_ms = 0u64;
        // The bank may hold the payout (an earlier claim, or a submit that may have reached it).
        let mut bank_may_hold = must_inquire_first || state != PayoutState::Claimed;
        let mut fence_fresh = false;
        let mut last_final: Option<FinalOutcome> = None;
        let mut stopped = false;
        let mut steps = 0u32;
        loop {
            let step = progress.next(now_ms);
            steps += 1;
            prop_assert!(steps <= STEPS_PER_CLAIM_MAX, "no ending within {STEPS_PER_CLAIM_MAX} steps");
            if let Step::Done(_) = step {
                break;
            }
            match step {
                Step::Record { payout_id, fencing_token, outcome } => {
                    prop_assert_eq!(payout_id, PAYOUT);
                    prop_assert_eq!(fencing_token, TOKEN);
                    match outcome {
                        PayoutOutcome::Succeeded => prop_assert_eq!(last_final, Some(FinalOutcome::Succeeded)),
                        PayoutOutcome::Failed => prop_assert_eq!(last_final, Some(FinalOutcome::Failed)),
                        PayoutOutcome::Sent | PayoutOutcome::Unknown => prop_assert!(!stopped, "a stop records only finals"),
                    }
                }
                Step::Submit { payout_id } => {
                    prop_assert_eq!(payout_id, PAYOUT);
                    prop_assert!(fence_fresh, "a submit without an acknowledged sent record right before it");
                    prop_assert!(!bank_may_hold, "a submit the bank may already hold, without a not-found query");
                    prop_assert!(!stopped);
                }
                Step::Query { payout_id } => {
                    prop_assert_eq!(payout_id, PAYOUT);
                    prop_assert!(!stopped);
                }
                Step::Wait(_) => prop_assert!(!stopped),
                Step::Done(_) => {}
            }
            let choice = choices.get(steps as usize).copied().unwrap_or(2);
            let event = if stop_at == Some(steps as usize) && !stopped {
                stopped = true;
                Event::StopRequested
            } else {
                answer_for(step, choice)
            };
            fence_fresh = matches!(event, Event::Recorded { outcome: PayoutOutcome::Sent, answer: RecordAnswer::Applied });
            match event {
                Event::Submitted(answer) => match answer {
                    SubmitAnswer::NotSent { permanent } => {
                        if permanent { last_final = Some(FinalOutcome::Failed); }
                    }
                    SubmitAnswer::OutcomeUnknown => bank_may_hold = true,
                    SubmitAnswer::Answered(answer) => {
                        bank_may_hold = true;
                        last_final = bank_final(answer).or(last_final);
                    }
                },
                Event::Queried(QueryAnswer::NotFound) => bank_may_hold = false,
                Event::Queried(QueryAnswer::Known(answer)) => last_final = bank_final(answer).or(last_final),
                Event::Waited => now_ms = now_ms.saturating_add(wait_ms),
                Event::Queried(QueryAnswer::Failed) | Event::Recorded { .. } | Event::StopRequested => {}
            }
            progress.apply(event);
        }
    }
}

fn bank_final(answer: BankAnswer) -> Option<FinalOutcome> {
    match answer {
        BankAnswer::Executed => Some(FinalOutcome::Succeeded),
        BankAnswer::Rejected => Some(FinalOutcome::Failed),
        BankAnswer::Accepted | BankAnswer::Pending | BankAnswer::Unclear => None,
    }
}
