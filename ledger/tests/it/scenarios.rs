//! Focused walkthroughs of the flows the ledger exists for: two-phase transfers, expiry,
//! the payout lifecycle with fencing, the stuck-payout incident, collections and suspense,
//! linked chains, discrepancies and their outflow blocks, and the paginated queries.

use tianping_ledger::invariants::events::EventObserver;
use tianping_ledger::query::{self, DiscrepancyFilter};
use tianping_ledger::{
    AccountFlags, AccountStatus, AuditAction, Command, Detail, DiscrepancyState, EventResult,
    HistoryFilter, LedgerStore, Limits, NewAccount, NewDiscrepancy, PayoutOutcome, PayoutState,
    PendingStatus, ResolveDiscrepancy, ResultCode, SuspenseReason, Table,
};

use crate::support::*;

const FUNDING: u128 = 1;
const ALICE: u128 = 2;
const BOB: u128 = 3;
const TRANSIT: u128 = 4;
const SETTLEMENT: u128 = 5;
const SUSPENSE: u128 = 6;

/// A ledger with a funding account, two customers holding `balance` each, a bank-in-transit
/// account and collection accounts.
fn ledger_with_customers(balance: u128) -> Harness {
    let mut ledger = Harness::new();
    ledger.apply_ok(
        T0,
        vec![
            create_account(account(FUNDING)),
            create_account(customer(ALICE)),
            create_account(customer(BOB)),
            create_account(account(TRANSIT)),
            create_account(account(SETTLEMENT)),
            create_account(account(SUSPENSE)),
            create_transfer(transfer(1, FUNDING, ALICE, balance)),
            create_transfer(transfer(2, FUNDING, BOB, balance)),
        ],
    );
    ledger
}

/// (debits_pending, debits_posted, credits_pending, credits_posted)
fn balances(ledger: &Harness, id: u128) -> (u128, u128, u128, u128) {
    let account = ledger.account(id);
    (account.debits_pending, account.debits_posted, account.credits_pending, account.credits_posted)
}

#[test]
fn two_phase_transfers_post_partially_fully_and_void() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    ledger.apply_ok(
        at,
        vec![
            create_transfer(pending(10, ALICE, BOB, 50, 0)),
            create_transfer(pending(11, ALICE, BOB, 20, 0)),
            create_transfer(pending(12, ALICE, BOB, 30, 0)),
        ],
    );
    assert_eq!(balances(&ledger, ALICE), (100, 0, 0, 100));
    // Alice's 100 are all reserved: nothing more leaves.
    assert_eq!(
        ledger.codes(at + SECOND, vec![create_transfer(transfer(13, ALICE, BOB, 1))]),
        [ResultCode::ExceedsCredits]
    );

    let results = ledger.apply_ok(
        at + 2 * SECOND,
        vec![
            create_transfer(post(20, 10, 30)),
            create_transfer(post(21, 11, 0)),
            create_transfer(void(22, 12)),
        ],
    );
    let moved: Vec<&Detail> = results.iter().map(|result| &result.detail).collect();
    assert_eq!(moved, [&Detail::Amount(30), &Detail::Amount(20), &Detail::Amount(30)]);
    // 30 of 50 and all 20 posted; the rest of 10 and all of 12 released.
    assert_eq!(balances(&ledger, ALICE), (0, 50, 0, 100));
    assert_eq!(balances(&ledger, BOB), (0, 0, 0, 150));
    let states: Vec<_> = [10, 11, 12]
        .iter()
        .map(|id| ledger.store.pending_transfer(*id).expect("pending state"))
        .map(|state| (state.status, state.amount_posted, state.resolved_by))
        .collect();
    assert_eq!(
        states,
        [
            (PendingStatus::Posted, 30, 20),
            (PendingStatus::Posted, 20, 21),
            (PendingStatus::Voided, 0, 22)
        ]
    );

    // A partial post resolves the reservation: its remainder cannot be posted later.
    let codes = ledger.codes(
        at + 3 * SECOND,
        vec![
            create_transfer(post(23, 10, 20)),
            create_transfer(void(24, 11)),
            create_transfer(post(25, 12, 0)),
            create_transfer(post(20, 10, 30)),
        ],
    );
    assert_eq!(
        codes,
        [
            ResultCode::PendingTransferAlreadyPosted,
            ResultCode::PendingTransferAlreadyPosted,
            ResultCode::PendingTransferAlreadyVoided,
            ResultCode::Exists,
        ]
    );
    ledger.assert_invariants();
}

#[test]
fn pending_transfers_expire_at_the_first_batch_past_their_timeout() {
    let mut ledger = ledger_with_customers(100);
    let created_at = T0 + SECOND;
    let results =
        ledger.apply_ok(created_at, vec![create_transfer(pending(10, ALICE, BOB, 60, 10))]);
    assert_eq!(results[0].timestamp, created_at);
    let expires_at = created_at + 10 * SECOND;
    assert_eq!(ledger.store.pending_transfer(10).map(|p| p.expires_at), Some(expires_at));

    // One nanosecond before the timeout the reservation holds.
    ledger.apply_ok(expires_at - 1, vec![]);
    assert_eq!(balances(&ledger, ALICE), (60, 0, 0, 100));

    // The first batch whose time reaches the timeout releases it before its own events,
    // which is why a post in that batch finds it expired and the funds free again.
    let results = ledger.apply(
        expires_at,
        vec![create_transfer(post(11, 10, 0)), create_transfer(transfer(12, ALICE, BOB, 100))],
    );
    assert_eq!(results[0].code, ResultCode::PendingTransferExpired);
    assert_eq!(results[1].code, ResultCode::Ok);
    // The expiry took the batch's first timestamp; events follow it.
    assert_eq!(results[0].timestamp, expires_at + 1);
    let state = ledger.store.pending_transfer(10).expect("pending state");
    assert_eq!(
        (state.status, state.resolved_at, state.resolved_by),
        (PendingStatus::Expired, expires_at, 0)
    );
    assert_eq!(balances(&ledger, ALICE), (0, 100, 0, 100));
    assert_eq!(balances(&ledger, BOB), (0, 0, 0, 200));
    ledger.assert_invariants();
}

#[test]
fn expiry_is_decided_by_each_events_own_time_within_a_batch() {
    let mut ledger = ledger_with_customers(100);
    let created_at = T0 + SECOND;
    ledger.apply_ok(created_at, vec![create_transfer(pending(10, ALICE, BOB, 60, 1))]);
    let expires_at = created_at + SECOND;
    // The batch starts one nanosecond early: nothing is swept, but its second event is
    // already at the timeout and may not post.
    let results = ledger.apply(
        expires_at - 1,
        vec![create_transfer(transfer(11, FUNDING, BOB, 1)), create_transfer(post(12, 10, 0))],
    );
    assert_eq!(results[1].timestamp, expires_at);
    assert_eq!(results[1].code, ResultCode::PendingTransferExpired);
    // Not yet released: the sweep at the start of the next batch does that.
    assert_eq!(balances(&ledger, ALICE), (60, 0, 0, 100));
    ledger.apply_ok(expires_at, vec![]);
    assert_eq!(balances(&ledger, ALICE), (0, 0, 0, 100));
    ledger.assert_invariants();
}

#[test]
fn payout_lifecycle_reserved_claimed_sent_succeeded() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let results = ledger.apply_ok(at, vec![create_payout(payout(30, ALICE, TRANSIT, 80))]);
    assert_eq!(results[0].detail, Detail::Amount(80));
    assert_eq!(ledger.payout(30).state, PayoutState::Reserved);
    assert_eq!(balances(&ledger, ALICE), (80, 0, 0, 100));

    let results = ledger.apply_ok(at + SECOND, vec![claim(9, 10, 60_000)]);
    let Detail::Claims(claims) = &results[0].detail else { panic!("no claims: {results:?}") };
    assert_eq!(claims.len(), 1);
    let claimed = &claims[0];
    assert!(!claimed.must_inquire_first, "first claim needs no inquiry");
    assert_eq!(
        (claimed.payout.state, claimed.payout.worker_id, claimed.payout.fencing_token),
        (PayoutState::Claimed, 9, 1)
    );
    assert_eq!(claimed.payout.lease_until, at + SECOND + 60 * SECOND);

    // Nothing left to claim.
    let results = ledger.apply_ok(at + 2 * SECOND, vec![claim(8, 10, 60_000)]);
    assert_eq!(results[0].detail, Detail::Claims(Vec::new()));

    let codes = ledger.codes(
        at + 3 * SECOND,
        vec![
            record(30, 9, 1, PayoutOutcome::Sent),
            record(30, 8, 1, PayoutOutcome::Succeeded),
            record(30, 9, 0, PayoutOutcome::Succeeded),
            record(30, 9, 1, PayoutOutcome::Sent),
        ],
    );
    assert_eq!(
        codes,
        [
            ResultCode::Ok,
            ResultCode::PayoutClaimedByAnotherWorker,
            ResultCode::FencingTokenStale,
            ResultCode::Ok,
        ]
    );
    assert_eq!(ledger.payout(30).state, PayoutState::Sent);
    assert_eq!(balances(&ledger, ALICE), (80, 0, 0, 100));

    let codes = ledger.codes(
        at + 4 * SECOND,
        vec![
            record(30, 9, 1, PayoutOutcome::Succeeded),
            record(30, 9, 1, PayoutOutcome::Succeeded),
            record(30, 9, 1, PayoutOutcome::Failed),
        ],
    );
    assert_eq!(codes, [ResultCode::Ok, ResultCode::Exists, ResultCode::PayoutAlreadyFinal]);
    assert_eq!(ledger.payout(30).state, PayoutState::Succeeded);
    assert_eq!(balances(&ledger, ALICE), (0, 80, 0, 100));
    assert_eq!(balances(&ledger, TRANSIT), (0, 0, 0, 80));
    let state = ledger.store.pending_transfer(30).expect("reservation state");
    assert_eq!((state.status, state.amount_posted), (PendingStatus::Posted, 80));
    ledger.assert_invariants();
}

#[test]
fn expired_lease_is_refused_and_reclaimed_with_a_higher_token() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    ledger.apply_ok(at, vec![create_payout(payout(30, ALICE, TRANSIT, 80)), claim(1, 1, 1_000)]);
    ledger.apply_ok(at + SECOND / 2, vec![record(30, 1, 1, PayoutOutcome::Sent)]);

    // Worker 1 stalls past its lease: its late answer is refused.
    let late = at + 2 * SECOND;
    assert_eq!(
        ledger.codes(late, vec![record(30, 1, 1, PayoutOutcome::Succeeded)]),
        [ResultCode::PayoutLeaseExpired]
    );
    assert_eq!(ledger.payout(30).state, PayoutState::Sent);

    // Worker 2 re-claims: a higher token, and it must ask the bank before sending again.
    let results = ledger.apply_ok(late + SECOND, vec![claim(2, 1, 30_000)]);
    let Detail::Claims(claims) = &results[0].detail else { panic!("no claims: {results:?}") };
    assert_eq!(claims.len(), 1);
    assert!(claims[0].must_inquire_first);
    assert_eq!((claims[0].payout.worker_id, claims[0].payout.fencing_token), (2, 2));

    let codes = ledger.codes(
        late + 2 * SECOND,
        vec![
            record(30, 1, 1, PayoutOutcome::Succeeded),
            record(30, 2, 1, PayoutOutcome::Succeeded),
            record(30, 1, 2, PayoutOutcome::Succeeded),
            record(30, 2, 2, PayoutOutcome::Failed),
        ],
    );
    assert_eq!(
        codes,
        [
            ResultCode::FencingTokenStale,
            ResultCode::FencingTokenStale,
            ResultCode::PayoutClaimedByAnotherWorker,
            ResultCode::Ok,
        ]
    );
    assert_eq!(ledger.payout(30).state, PayoutState::Failed);
    // The bank did not pay: the reservation is released, nothing moved.
    assert_eq!(balances(&ledger, ALICE), (0, 0, 0, 100));
    assert_eq!(balances(&ledger, TRANSIT), (0, 0, 0, 0));
    ledger.assert_invariants();
}

/// A worker's batch claim whose answer was lost is retried under the same claim id: the retry
/// hands out the payouts the first attempt claimed, with their tokens, and claims nothing
/// anew (the other payout stays reserved). The event observer holds every answer to the
/// claim's record, and the state invariants hold the record to the payouts' history.
#[test]
fn a_retried_batch_claim_answers_with_what_the_first_attempt_claimed() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    ledger.apply_ok(
        at,
        vec![
            create_payout(payout(30, ALICE, TRANSIT, 10)),
            create_payout(payout(31, BOB, TRANSIT, 10)),
        ],
    );
    let mut observer = EventObserver::new(ledger.machine);
    let mut step = |ledger: &mut Harness, timestamp: u64, command: Command| {
        let results = ledger.apply(timestamp, vec![command.clone()]);
        let violations = observer.observe(&ledger.store, &[command], &results);
        assert!(violations.is_empty(), "{violations:#?}");
        ledger.assert_invariants();
        results.into_iter().next().expect("one result")
    };
    let claims = |result: &EventResult| match &result.detail {
        Detail::Claims(claims) => {
            claims.iter().map(|c| (c.payout.id, c.payout.fencing_token)).collect::<Vec<_>>()
        }
        other => panic!("no claims: {other:?}"),
    };

    let first = step(&mut ledger, at + SECOND, claim_batch(900, 1, 1, 60_000));
    assert_eq!((first.code, claims(&first)), (ResultCode::Ok, vec![(30, 1)]));
    // The answer is lost; the worker retries the same claim.
    let retry = step(&mut ledger, at + 2 * SECOND, claim_batch(900, 1, 1, 60_000));
    assert_eq!((retry.code, retry.timestamp), (ResultCode::Exists, first.timestamp));
    assert_eq!(retry.detail, first.detail, "the same payouts, tokens and leases");
    assert_eq!(ledger.payout(31).state, PayoutState::Reserved, "nothing claimed anew");
    // The id names one claim round of one worker.
    let other = step(&mut ledger, at + 2 * SECOND, claim_batch(900, 2, 1, 60_000));
    assert_eq!(other.code, ResultCode::ExistsWithDifferentClaim);

    // Once the worker has driven the payout on, the claim holds nothing any more.
    ledger.apply_ok(at + 3 * SECOND, vec![record(30, 1, 1, PayoutOutcome::Unknown)]);
    let later = step(&mut ledger, at + 4 * SECOND, claim_batch(900, 1, 1, 60_000));
    assert_eq!((later.code, claims(&later)), (ResultCode::Exists, vec![]));
    // After the lease, a new round (a new id) takes the payout again, inquiring first.
    let expired = at + 120 * SECOND;
    let stale = step(&mut ledger, expired, claim_batch(900, 1, 1, 60_000));
    assert_eq!((stale.code, claims(&stale)), (ResultCode::Exists, vec![]));
    let next = step(&mut ledger, expired, claim_batch(901, 1, 2, 60_000));
    assert_eq!(claims(&next), vec![(30, 2), (31, 1)]);
}

#[test]
fn payouts_in_unknown_state_keep_their_reservation_and_are_reclaimed() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    ledger.apply_ok(at, vec![create_payout(payout(30, ALICE, TRANSIT, 80)), claim(1, 1, 1_000)]);
    ledger.apply_ok(at + 1, vec![record(30, 1, 1, PayoutOutcome::Unknown)]);
    assert_eq!(ledger.payout(30).state, PayoutState::Unknown);
    assert_eq!(balances(&ledger, ALICE), (80, 0, 0, 100));
    let results = ledger.apply_ok(at + 5 * SECOND, vec![claim(2, 1, 1_000)]);
    let Detail::Claims(claims) = &results[0].detail else { panic!("no claims") };
    assert_eq!(claims.len(), 1);
    assert!(claims[0].must_inquire_first);
    ledger.assert_invariants();
}

#[test]
fn an_account_that_cannot_cover_a_payout_refuses_it_at_creation() {
    // The stuck-payout incident: an internal account paid out more than it held, the bank
    // executed it, and the ledger could not book it. Reserving at creation refuses it first.
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let before = content_snapshot(&ledger.store);
    assert_eq!(
        ledger.codes(at, vec![create_payout(payout(30, ALICE, TRANSIT, 150))]),
        [ResultCode::ExceedsCredits]
    );
    assert!(ledger.store.payout(30).is_none());
    assert!(ledger.store.transfer(30).is_none());
    assert_eq!(
        without_refusals(content_snapshot(&ledger.store)),
        without_refusals(before),
        "a refused payout moves nothing"
    );
    assert_eq!(ledger.store.refusal(30).map(|r| r.code), Some(ResultCode::ExceedsCredits));

    // What it can cover is reserved, and then the bank's success always books, even if the
    // account was frozen in the meantime: the bank's action is a fact.
    ledger.apply_ok(
        at + SECOND,
        vec![create_payout(payout(31, ALICE, TRANSIT, 100)), claim(1, 1, 60_000)],
    );
    ledger.apply_ok(at + 2 * SECOND, vec![set_status(ALICE, AccountStatus::Frozen)]);
    assert_eq!(
        ledger.codes(at + 3 * SECOND, vec![record(31, 1, 1, PayoutOutcome::Succeeded)]),
        [ResultCode::Ok]
    );
    assert_eq!(balances(&ledger, ALICE), (0, 100, 0, 100));
    ledger.assert_invariants();
}

#[test]
fn collections_book_once_and_unmatched_credits_go_to_suspense() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    ledger.apply_ok(
        at,
        vec![
            create_account(account(10)),
            create_account(account(11)),
            create_account(NewAccount { ledger: 840, ..account(12) }),
            create_account(NewAccount {
                flags: AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
                ..account(13)
            }),
            set_status(10, AccountStatus::Frozen),
            set_status(11, AccountStatus::Closed),
        ],
    );
    let book = |id: u128, reference: &str, beneficiary: u128| {
        book_collection(collection(id, reference, SETTLEMENT, SUSPENSE, beneficiary, 25))
    };
    let results = ledger.apply_ok(
        at + SECOND,
        vec![
            book(40, "R-40", ALICE),
            book(41, "R-41", 999),
            book(42, "R-42", 10),
            book(43, "R-43", 11),
            book(44, "R-44", 12),
            book(45, "R-45", 13),
            book(46, "R-46", SETTLEMENT),
        ],
    );
    let booked: Vec<&Detail> = results.iter().map(|result| &result.detail).collect();
    let to_suspense =
        |reason| Detail::Collection { credited_account_id: SUSPENSE, suspense: Some(reason) };
    assert_eq!(
        booked,
        [
            &Detail::Collection { credited_account_id: ALICE, suspense: None },
            &to_suspense(SuspenseReason::BeneficiaryNotFound),
            &to_suspense(SuspenseReason::BeneficiaryFrozen),
            &to_suspense(SuspenseReason::BeneficiaryClosed),
            &to_suspense(SuspenseReason::BeneficiaryOnAnotherLedger),
            &to_suspense(SuspenseReason::BeneficiaryCannotTakeCredit),
            &to_suspense(SuspenseReason::BeneficiaryCannotTakeCredit),
        ]
    );
    assert_eq!(balances(&ledger, ALICE), (0, 0, 0, 125));
    assert_eq!(balances(&ledger, SUSPENSE), (0, 0, 0, 150));
    assert_eq!(balances(&ledger, SETTLEMENT), (0, 175, 0, 0));

    // The bank's notification arrives again: booked once, the original answer repeated.
    let results = ledger.apply(at + 2 * SECOND, vec![book(41, "R-41", 999), book(47, "R-41", 999)]);
    assert_eq!(results[0].code, ResultCode::Exists);
    assert_eq!(results[0].detail, to_suspense(SuspenseReason::BeneficiaryNotFound));
    assert_eq!(results[1].code, ResultCode::CollectionExistsWithDifferentId);
    assert_eq!(balances(&ledger, SUSPENSE), (0, 0, 0, 150));

    // An outflow block on the settlement account does not stop money the bank received.
    ledger.apply_ok(at + 3 * SECOND, vec![set_status(SETTLEMENT, AccountStatus::OutflowBlocked)]);
    assert_eq!(ledger.codes(at + 4 * SECOND, vec![book(48, "R-48", BOB)]), [ResultCode::Ok]);
    ledger.assert_invariants();
}

#[test]
fn linked_chains_are_all_or_nothing_and_replay_as_exists() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    // Split settlement: 90 to Bob, 10 fee to the funding account; the fee leg fails, so the
    // first leg is rolled back too.
    let chain = vec![
        linked(create_transfer(transfer(50, ALICE, BOB, 90))),
        create_transfer(transfer(51, ALICE, FUNDING, 11)),
    ];
    let before = content_snapshot(&ledger.store);
    let codes = ledger.codes(at, chain);
    assert_eq!(codes, [ResultCode::LinkedEventFailed, ResultCode::ExceedsCredits]);
    // Nothing moved; only the fee leg's refusal is recorded (its id is final now).
    assert_eq!(without_refusals(content_snapshot(&ledger.store)), without_refusals(before));
    assert!(ledger.store.refusal(50).is_none());

    let chain = vec![
        linked(create_transfer(transfer(50, ALICE, BOB, 90))),
        create_transfer(transfer(52, ALICE, FUNDING, 10)),
    ];
    assert_eq!(ledger.codes(at + SECOND, chain.clone()), [ResultCode::Ok, ResultCode::Ok]);
    let before = content_snapshot(&ledger.store);
    // Replayed whole: `exists` does not break the chain.
    assert_eq!(ledger.codes(at + 2 * SECOND, chain), [ResultCode::Exists, ResultCode::Exists]);
    assert_eq!(content_snapshot(&ledger.store), before);
    ledger.assert_invariants();
}

/// The store's records without the refusals table: what moved, as opposed to what was refused.
fn without_refusals(records: Vec<(Table, Vec<u8>, Vec<u8>)>) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    records.into_iter().filter(|(table, _, _)| *table != Table::Refusals).collect()
}

/// The duplicate-payment hole the simulation found: a transfer refused for lack of funds, then
/// the account is credited, then the same request arrives again (a client retry, or the
/// original forwarded late by a stalled follower). The id's refusal is final: the money must
/// not move, or the client that was told "refused" pays twice.
#[test]
fn a_state_dependent_refusal_is_final_for_its_id() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let request = create_transfer(transfer(60, ALICE, BOB, 150));
    assert_eq!(ledger.codes(at, vec![request.clone()]), [ResultCode::ExceedsCredits]);
    let refusal = ledger.store.refusal(60).expect("the refusal is recorded");
    assert_eq!((refusal.code, refusal.timestamp), (ResultCode::ExceedsCredits, at));

    // Alice is credited enough; the same id is still refused, and nothing moves.
    ledger.apply_ok(at + SECOND, vec![create_transfer(transfer(61, FUNDING, ALICE, 100))]);
    assert_eq!(balances(&ledger, ALICE), (0, 0, 0, 200));
    let before = content_snapshot(&ledger.store);
    assert_eq!(ledger.codes(at + 2 * SECOND, vec![request.clone()]), [ResultCode::IdAlreadyFailed]);
    // So is any other body under that id, and a payout with it (one id space).
    assert_eq!(
        ledger.codes(
            at + 3 * SECOND,
            vec![
                create_transfer(transfer(60, ALICE, BOB, 1)),
                create_payout(payout(60, ALICE, TRANSIT, 1)),
            ]
        ),
        [ResultCode::IdAlreadyFailed, ResultCode::IdAlreadyFailed]
    );
    assert_eq!(content_snapshot(&ledger.store), before, "id_already_failed records nothing");
    assert_eq!(balances(&ledger, ALICE), (0, 0, 0, 200));
    assert_eq!(balances(&ledger, BOB), (0, 0, 0, 100));
    assert!(ledger.store.transfer(60).is_none());
    // The first refusal stands as it was.
    assert_eq!(ledger.store.refusal(60), Some(refusal));

    // A new id is how a client tries again.
    assert_eq!(
        ledger.codes(at + 4 * SECOND, vec![create_transfer(transfer(62, ALICE, BOB, 150))]),
        [ResultCode::Ok]
    );
    ledger.assert_invariants();
}

/// Within one batch too: the second copy of a refused request meets the first one's refusal,
/// even though an event between them made the funds available.
#[test]
fn a_refusal_is_final_within_its_own_batch() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let codes = ledger.codes(
        at,
        vec![
            create_transfer(transfer(60, ALICE, BOB, 150)),
            create_transfer(transfer(61, FUNDING, ALICE, 100)),
            create_transfer(transfer(60, ALICE, BOB, 150)),
        ],
    );
    assert_eq!(codes, [ResultCode::ExceedsCredits, ResultCode::Ok, ResultCode::IdAlreadyFailed]);
    assert_eq!(balances(&ledger, BOB), (0, 0, 0, 100));
    ledger.assert_invariants();
}

/// A refusal that depends only on the request is not recorded: it would be refused the same
/// way against any state, so the corrected request may reuse the id.
#[test]
fn a_validation_refusal_is_not_recorded() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let before = content_snapshot(&ledger.store);
    assert_eq!(
        ledger.codes(at, vec![create_transfer(transfer(60, ALICE, BOB, 0))]),
        [ResultCode::AmountMustNotBeZero]
    );
    assert_eq!(
        ledger.codes(at + 1, vec![create_transfer(transfer(60, ALICE, ALICE, 5))]),
        [ResultCode::AccountsMustBeDifferent]
    );
    assert_eq!(content_snapshot(&ledger.store), before, "validation refusals write nothing");
    assert!(ledger.store.refusal(60).is_none());
    assert_eq!(
        ledger.codes(at + 2, vec![create_transfer(transfer(60, ALICE, BOB, 5))]),
        [ResultCode::Ok]
    );
    ledger.assert_invariants();
}

/// An id that succeeded stays `exists` with its original outcome, whatever state the retry
/// meets (here Alice can no longer cover it), and it is never recorded as refused.
#[test]
fn a_succeeded_id_stays_exists() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let request = create_transfer(transfer(60, ALICE, BOB, 100));
    assert_eq!(ledger.codes(at, vec![request.clone()]), [ResultCode::Ok]);
    assert_eq!(balances(&ledger, ALICE), (0, 100, 0, 100));
    assert_eq!(ledger.codes(at + SECOND, vec![request.clone()]), [ResultCode::Exists]);
    // A different body under a succeeded id is still told what differs.
    assert_eq!(
        ledger.codes(at + 2 * SECOND, vec![create_transfer(transfer(60, ALICE, BOB, 99))]),
        [ResultCode::ExistsWithDifferentAmount]
    );
    assert!(ledger.store.refusal(60).is_none());
    assert_eq!(balances(&ledger, ALICE), (0, 100, 0, 100));
    ledger.assert_invariants();
}

/// A chain whose member failed for a state-dependent reason: the member's refusal survives
/// the chain's rollback, the other members are not recorded, and a retry of the whole chain
/// after the state changed fails again — on the refused member, with `id_already_failed`.
#[test]
fn a_chain_member_refused_for_state_stays_refused_after_rollback() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let chain = vec![
        linked(create_transfer(transfer(70, ALICE, BOB, 90))),
        linked(create_transfer(transfer(71, ALICE, FUNDING, 11))),
        create_transfer(transfer(72, BOB, FUNDING, 5)),
    ];
    assert_eq!(
        ledger.codes(at, chain.clone()),
        [ResultCode::LinkedEventFailed, ResultCode::ExceedsCredits, ResultCode::LinkedEventFailed]
    );
    assert!(ledger.store.refusal(70).is_none());
    assert_eq!(ledger.store.refusal(71).map(|r| r.code), Some(ResultCode::ExceedsCredits));
    assert!(ledger.store.refusal(72).is_none());

    ledger.apply_ok(at + SECOND, vec![create_transfer(transfer(73, FUNDING, ALICE, 100))]);
    let before = content_snapshot(&ledger.store);
    assert_eq!(
        ledger.codes(at + 2 * SECOND, chain),
        [ResultCode::LinkedEventFailed, ResultCode::IdAlreadyFailed, ResultCode::LinkedEventFailed]
    );
    assert_eq!(content_snapshot(&ledger.store), before);
    assert_eq!(balances(&ledger, ALICE), (0, 0, 0, 200));
    ledger.assert_invariants();
}

/// A refused post of a pending transfer (not found yet) is final too: once the pending
/// transfer exists, a late copy of the post must not resolve it.
#[test]
fn a_post_refused_for_a_missing_pending_transfer_stays_refused() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    assert_eq!(
        ledger.codes(at, vec![create_transfer(post(81, 80, 0))]),
        [ResultCode::PendingTransferNotFound]
    );
    ledger.apply_ok(at + SECOND, vec![create_transfer(pending(80, ALICE, BOB, 40, 0))]);
    assert_eq!(
        ledger.codes(at + 2 * SECOND, vec![create_transfer(post(81, 80, 0))]),
        [ResultCode::IdAlreadyFailed]
    );
    assert_eq!(balances(&ledger, ALICE), (40, 0, 0, 100));
    assert_eq!(ledger.store.pending_transfer(80).map(|p| p.status), Some(PendingStatus::Pending));
    ledger.assert_invariants();
}

/// Payouts follow the same rule: a payout refused for funds stays refused once funded.
#[test]
fn a_payout_refused_for_funds_stays_refused() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let request = create_payout(payout(90, ALICE, TRANSIT, 150));
    assert_eq!(ledger.codes(at, vec![request.clone()]), [ResultCode::ExceedsCredits]);
    ledger.apply_ok(at + SECOND, vec![create_transfer(transfer(91, FUNDING, ALICE, 100))]);
    assert_eq!(ledger.codes(at + 2 * SECOND, vec![request]), [ResultCode::IdAlreadyFailed]);
    assert!(ledger.store.payout(90).is_none());
    // A transfer cannot take the refused payout's id either.
    assert_eq!(
        ledger.codes(at + 3 * SECOND, vec![create_transfer(transfer(90, ALICE, BOB, 1))]),
        [ResultCode::IdAlreadyFailed]
    );
    assert_eq!(balances(&ledger, ALICE), (0, 0, 0, 200));
    ledger.assert_invariants();
}

#[test]
fn limits_count_reservations_and_never_give_quota_back() {
    let mut ledger = ledger_with_customers(1_000);
    let at = T0 + SECOND;
    let daily =
        Limits { per_day_amount_max: Some(200), per_day_count_max: Some(3), ..Limits::NONE };
    ledger.apply_ok(at, vec![set_limits(ALICE, daily)]);
    let codes = ledger.codes(
        at + SECOND,
        vec![
            create_transfer(pending(60, ALICE, BOB, 60, 0)),
            create_transfer(void(61, 60)),
            create_transfer(transfer(62, ALICE, BOB, 141)),
            create_transfer(transfer(63, ALICE, BOB, 40)),
            create_transfer(transfer(64, ALICE, BOB, 1)),
            create_transfer(transfer(65, ALICE, BOB, 1)),
        ],
    );
    // The voided 60 still counts: 60 + 141 is over 200, and the third debit is the last.
    assert_eq!(
        codes,
        [
            ResultCode::Ok,
            ResultCode::Ok,
            ResultCode::ExceedsDailyAmountLimit,
            ResultCode::Ok,
            ResultCode::Ok,
            ResultCode::ExceedsDailyCountLimit,
        ]
    );
    let usage = ledger.account(ALICE).outflow_usage;
    assert_eq!((usage.amount, usage.count), (101, 3));
    // Local midnight (+08:00): T0 is one, so T0 + 1 day is the next.
    assert_eq!(
        ledger.codes(T0 + 86_400 * SECOND, vec![create_transfer(transfer(66, ALICE, BOB, 200))]),
        [ResultCode::Ok]
    );
    ledger.assert_invariants();
}

#[test]
fn time_never_runs_backwards() {
    let mut ledger = ledger_with_customers(100);
    let last = ledger.last_timestamp();
    let results =
        ledger.apply_ok(T0 - 60 * SECOND, vec![create_transfer(transfer(70, ALICE, BOB, 1))]);
    assert_eq!(results[0].timestamp, last + 1);
    assert_eq!(ledger.account(BOB).credits_posted, 101);
}

#[test]
fn queries_page_through_history_payouts_and_audit() {
    let mut ledger = ledger_with_customers(1_000);
    ledger.apply_ok(
        T0 + SECOND,
        vec![create_account(NewAccount { flags: AccountFlags::HISTORY, ..account(20) })],
    );
    let mut transfer_times = Vec::new();
    for k in 0..5u128 {
        let results = ledger.apply_ok(
            T0 + (2 + k as u64) * SECOND,
            vec![create_transfer(transfer(100 + k, ALICE, 20, 10 + k))],
        );
        transfer_times.push(results[0].timestamp);
    }

    // Forward, two at a time, each page starting just past the last one returned.
    let mut filter = HistoryFilter {
        account_id: 20,
        timestamp_min: 0,
        timestamp_max: u64::MAX,
        limit: 2,
        reversed: false,
    };
    let mut pages = Vec::new();
    loop {
        let page = query::account_transfers(&ledger.store, &filter);
        if page.is_empty() {
            break;
        }
        filter.timestamp_min = page.last().expect("non-empty").timestamp + 1;
        pages.push(page.iter().map(|t| t.id).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec![100, 101], vec![102, 103], vec![104]]);

    // Newest first.
    let mut filter = HistoryFilter { timestamp_min: 0, reversed: true, limit: 3, ..filter };
    let first = query::account_transfers(&ledger.store, &filter);
    assert_eq!(first.iter().map(|t| t.id).collect::<Vec<_>>(), [104, 103, 102]);
    filter.timestamp_max = first.last().expect("non-empty").timestamp - 1;
    let second = query::account_transfers(&ledger.store, &filter);
    assert_eq!(second.iter().map(|t| t.id).collect::<Vec<_>>(), [101, 100]);

    // A time window.
    let window = HistoryFilter {
        account_id: 20,
        timestamp_min: transfer_times[1],
        timestamp_max: transfer_times[3],
        limit: 10,
        reversed: false,
    };
    let ids: Vec<u128> =
        query::account_transfers(&ledger.store, &window).iter().map(|t| t.id).collect();
    assert_eq!(ids, [101, 102, 103]);
    // Balance snapshots of the HISTORY account, one per transfer.
    let snapshots = query::account_balances(&ledger.store, &HistoryFilter { limit: 10, ..window });
    let credits: Vec<u128> = snapshots.iter().map(|b| b.credits_posted).collect();
    assert_eq!(credits, [10 + 11, 10 + 11 + 12, 10 + 11 + 12 + 13]);

    // Payouts by state, paged with the cursor.
    let payouts: Vec<_> =
        (0..5u128).map(|k| create_payout(payout(200 + k, ALICE, TRANSIT, 1))).collect();
    ledger.apply_ok(T0 + 10 * SECOND, payouts);
    ledger.apply_ok(T0 + 11 * SECOND, vec![claim(1, 2, 60_000)]);
    let mut cursor = None;
    let mut reserved_pages = Vec::new();
    loop {
        let (page, next) =
            query::payouts_by_state(&ledger.store, PayoutState::Reserved, Some(BANK), cursor, 2);
        reserved_pages.push(page.iter().map(|p| p.id).collect::<Vec<_>>());
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(reserved_pages, [vec![202, 203], vec![204]]);
    // A full page returns a cursor even when nothing follows; the next page is empty.
    let (claimed, next) =
        query::payouts_by_state(&ledger.store, PayoutState::Claimed, None, None, 2);
    assert_eq!(claimed.iter().map(|p| p.id).collect::<Vec<_>>(), [200, 201]);
    assert!(next.is_some());
    let (after, next) = query::payouts_by_state(&ledger.store, PayoutState::Claimed, None, next, 2);
    assert!(after.is_empty() && next.is_none());
    let (other_bank, next) =
        query::payouts_by_state(&ledger.store, PayoutState::Reserved, Some(BANK + 1), None, 10);
    assert!(other_bank.is_empty() && next.is_none());

    // Audit records, in time order, from a given time on.
    ledger.apply_ok(T0 + 12 * SECOND, vec![set_status(BOB, AccountStatus::OutflowBlocked)]);
    ledger.apply_ok(
        T0 + 13 * SECOND,
        vec![set_limits(BOB, Limits { per_day_count_max: Some(1), ..Limits::NONE })],
    );
    ledger.apply_ok(T0 + 14 * SECOND, vec![set_status(BOB, AccountStatus::Active)]);
    let audit = query::audit_records(&ledger.store, 0, 10);
    assert_eq!(audit.len(), 3);
    assert_eq!(
        audit[0].action,
        AuditAction::Status { from: AccountStatus::Active, to: AccountStatus::OutflowBlocked }
    );
    assert!(matches!(audit[1].action, AuditAction::Limits { .. }));
    assert_eq!(audit[0].actor, "ops:alice");
    let later = query::audit_records(&ledger.store, audit[1].timestamp, 10);
    assert_eq!(later.len(), 2);
    assert_eq!(query::audit_records(&ledger.store, 0, 1).len(), 1);

    // Point lookups keep request order.
    let found = query::lookup_accounts(&ledger.store, &[BOB, 999, ALICE]);
    assert_eq!(
        found.iter().map(|a| a.map(|a| a.id)).collect::<Vec<_>>(),
        [Some(BOB), None, Some(ALICE)]
    );
    let found = query::lookup_transfers(&ledger.store, &[104, 1]);
    assert_eq!(
        found.iter().map(|t| t.map(|t| t.amount)).collect::<Vec<_>>(),
        [Some(14), Some(1_000)]
    );
    ledger.assert_invariants();
}

/// `count` pending transfers FUNDING → BOB of 1, ids from `first_id`, expiring `timeout` s
/// after `at`, in batches of at most `BATCH_EVENTS_MAX`.
fn reserve_many(ledger: &mut Harness, at: u64, first_id: u128, count: usize, timeout: u32) {
    let requests: Vec<_> = (0..count as u128)
        .map(|k| create_transfer(pending(first_id + k, FUNDING, BOB, 1, timeout)))
        .collect();
    for (offset, chunk) in (0u64..).zip(requests.chunks(tianping_ledger::BATCH_EVENTS_MAX)) {
        ledger.apply_ok(at + offset, chunk.to_vec());
    }
}

#[test]
fn a_mass_expiry_is_spread_over_batches() {
    let mut ledger = ledger_with_customers(100);
    let count = tianping_ledger::EXPIRIES_PER_BATCH_MAX + 5;
    reserve_many(&mut ledger, T0 + SECOND, 1_000, count, 1);
    assert_eq!(ledger.account(BOB).credits_pending, count as u128);
    // The first batch past the timeout expires the most a batch may, oldest first; its
    // events come after them, and a post of a due but not yet swept reservation is refused.
    let at = T0 + 10 * SECOND;
    let last_id = 1_000 + count as u128 - 1;
    let results = ledger.apply(at, vec![create_transfer(post(50, last_id, 0))]);
    assert_eq!(results[0].code, ResultCode::PendingTransferExpired);
    assert_eq!(results[0].timestamp, at + tianping_ledger::EXPIRIES_PER_BATCH_MAX as u64);
    assert_eq!(ledger.account(BOB).credits_pending, 5);
    assert_eq!(
        ledger.store.pending_transfer(last_id).map(|p| p.status),
        Some(PendingStatus::Pending)
    );
    ledger.apply_ok(at + SECOND, vec![]);
    assert_eq!(ledger.account(BOB).credits_pending, 0);
    assert_eq!(
        ledger.store.pending_transfer(last_id).map(|p| p.status),
        Some(PendingStatus::Expired)
    );
    ledger.assert_invariants();
}

#[test]
fn a_full_expiry_sweep_may_end_exactly_at_the_end_of_time() {
    // The latest batch `apply` accepts with nothing but a full sweep: base + expiries ends
    // at u64::MAX. The sweep's timestamps must not step past it.
    let mut ledger = ledger_with_customers(100);
    let count = tianping_ledger::EXPIRIES_PER_BATCH_MAX;
    reserve_many(&mut ledger, T0 + SECOND, 1_000, count, 1);
    let base = u64::MAX - count as u64;
    let results = ledger.apply(base, vec![]);
    assert!(results.is_empty());
    assert_eq!(ledger.last_timestamp(), u64::MAX - 1);
    assert_eq!(ledger.account(BOB).credits_pending, 0);
    ledger.assert_invariants();
}

#[test]
fn a_payout_keeps_one_history_record_per_state_change_in_order() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    ledger.apply_ok(at, vec![create_payout(payout(30, ALICE, TRANSIT, 80))]);
    // The first lease runs out; a second worker reclaims with the next token.
    ledger.apply_ok(at + SECOND, vec![claim(9, 10, 1_000)]);
    ledger.apply_ok(at + 5 * SECOND, vec![claim(8, 10, 60_000)]);
    let codes = ledger.codes(
        at + 6 * SECOND,
        vec![
            record(30, 9, 1, PayoutOutcome::Sent), // stale: refused, no record
            record(30, 8, 2, PayoutOutcome::Sent),
            record(30, 8, 2, PayoutOutcome::Sent), // the same state again: no record
            record(30, 8, 2, PayoutOutcome::Unknown),
        ],
    );
    assert_eq!(
        codes,
        [ResultCode::FencingTokenStale, ResultCode::Ok, ResultCode::Ok, ResultCode::Ok]
    );
    ledger.apply_ok(at + 7 * SECOND, vec![record(30, 8, 2, PayoutOutcome::Succeeded)]);
    // A retry of the final outcome answers `exists` and adds nothing.
    assert_eq!(
        ledger.codes(at + 8 * SECOND, vec![record(30, 8, 2, PayoutOutcome::Succeeded)]),
        [ResultCode::Exists]
    );

    let (history, next) = query::payout_history(&ledger.store, 30, None, 100);
    assert!(next.is_none());
    let told: Vec<(PayoutState, u128, u64)> =
        history.iter().map(|r| (r.state, r.worker_id, r.fencing_token)).collect();
    assert_eq!(
        told,
        [
            (PayoutState::Reserved, 0, 0),
            (PayoutState::Claimed, 9, 1),
            (PayoutState::Claimed, 8, 2),
            (PayoutState::Sent, 8, 2),
            (PayoutState::Unknown, 8, 2),
            (PayoutState::Succeeded, 8, 2),
        ]
    );
    assert!(history.windows(2).all(|pair| pair[0].timestamp < pair[1].timestamp));
    assert_eq!(history[0].timestamp, ledger.payout(30).created_at);
    assert_eq!(history[1].lease_until, history[1].timestamp + SECOND);
    assert_eq!(history.last().map(|r| r.timestamp), Some(ledger.payout(30).updated_at));

    // Pages of two, each after the previous page's last timestamp.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = query::payout_history(&ledger.store, 30, cursor, 2);
        paged.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, history);
    assert!(query::payout_history(&ledger.store, 31, None, 10).0.is_empty());
    ledger.assert_invariants();
}

#[test]
fn a_payout_created_in_a_rolled_back_chain_leaves_no_history() {
    let mut ledger = ledger_with_customers(100);
    let mut reserve = payout(30, ALICE, TRANSIT, 10);
    reserve.flags = tianping_ledger::TransferFlags::LINKED;
    let codes = ledger.codes(
        T0 + SECOND,
        vec![create_payout(reserve), create_transfer(transfer(31, BOB, ALICE, 1_000))],
    );
    assert_eq!(codes, [ResultCode::LinkedEventFailed, ResultCode::ExceedsCredits]);
    assert!(query::payout_history(&ledger.store, 30, None, 10).0.is_empty());
    ledger.assert_invariants();
}

#[test]
fn the_suspense_desk_lists_by_bank_oldest_first_and_an_assignment_moves_the_money_once() {
    let mut ledger = ledger_with_customers(100);
    let at = T0 + SECOND;
    let book = |id: u128, bank: u32, reference: &str, beneficiary: u128, amount: u128| {
        book_collection(tianping_ledger::NewCollection {
            bank,
            ..collection(id, reference, SETTLEMENT, SUSPENSE, beneficiary, amount)
        })
    };
    ledger.apply_ok(at, vec![book(40, BANK, "R-40", 999, 25), book(41, BANK + 1, "R-41", 999, 7)]);
    ledger.apply_ok(
        at + SECOND,
        vec![book(42, BANK, "R-42", 998, 30), book(43, BANK, "R-43", BOB, 5)],
    );

    let references = |collections: &[tianping_ledger::Collection]| -> Vec<String> {
        collections.iter().map(|c| c.request.bank_reference.clone()).collect()
    };
    let (desk, next) = query::suspense_collections(&ledger.store, Some(BANK), None, 10);
    assert_eq!(references(&desk), ["R-40", "R-42"], "oldest first, matched credits absent");
    assert!(next.is_none());
    let (everything, _) = query::suspense_collections(&ledger.store, None, None, 10);
    assert_eq!(references(&everything), ["R-40", "R-42", "R-41"], "by bank, then time");
    let (first, next) = query::suspense_collections(&ledger.store, Some(BANK), None, 1);
    let (second, last) = query::suspense_collections(&ledger.store, Some(BANK), next, 1);
    let (after, none) = query::suspense_collections(&ledger.store, Some(BANK), last, 1);
    assert_eq!(
        (references(&first), references(&second)),
        (vec!["R-40".to_owned()], vec!["R-42".to_owned()])
    );
    assert!(after.is_empty() && none.is_none());

    // The operator assigns R-40 to Bob: 25 moves suspense → Bob, audited.
    let results = ledger.apply_ok(at + 2 * SECOND, vec![assign(500, "R-40", BOB)]);
    assert_eq!(results[0].detail, Detail::Amount(25));
    assert_eq!(balances(&ledger, SUSPENSE), (0, 25, 0, 62));
    assert_eq!(balances(&ledger, BOB), (0, 0, 0, 130));
    let transfer = ledger.store.transfer(500).expect("the assignment's transfer");
    assert_eq!(
        (transfer.debit_account_id, transfer.credit_account_id, transfer.amount),
        (SUSPENSE, BOB, 25)
    );
    let audit = query::audit_records(&ledger.store, 0, 10);
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].account_id, audit[0].actor.as_str()), (BOB, "ops:desk"));
    assert_eq!(
        audit[0].action,
        AuditAction::SuspenseAssigned {
            assignment_id: 500,
            collection: tianping_ledger::CollectionKey {
                bank: BANK,
                bank_reference: "R-40".to_owned()
            },
            suspense_account_id: SUSPENSE,
            amount: 25,
        }
    );
    let (desk, _) = query::suspense_collections(&ledger.store, Some(BANK), None, 10);
    assert_eq!(references(&desk), ["R-42"], "an assigned collection leaves the desk");

    // Once: a retry answers `exists` with the original time, a second assignment is refused,
    // and neither moves anything.
    let before = content_snapshot(&ledger.store);
    let results =
        ledger.apply(at + 3 * SECOND, vec![assign(500, "R-40", BOB), assign(501, "R-40", ALICE)]);
    assert_eq!(results[0].code, ResultCode::Exists);
    assert_eq!(results[0].timestamp, transfer.timestamp);
    assert_eq!(results[1].code, ResultCode::SuspenseAlreadyAssigned);
    let after: Vec<_> =
        content_snapshot(&ledger.store).into_iter().filter(|(t, _, _)| *t != Table::Meta).collect();
    let before: Vec<_> = before.into_iter().filter(|(t, _, _)| *t != Table::Meta).collect();
    assert_eq!(after, before);

    // A matched credit is not on the desk and cannot be assigned; a frozen target refuses.
    ledger.apply_ok(at + 4 * SECOND, vec![set_status(ALICE, AccountStatus::Frozen)]);
    let codes =
        ledger.codes(at + 5 * SECOND, vec![assign(502, "R-43", ALICE), assign(503, "R-42", ALICE)]);
    assert_eq!(codes, [ResultCode::CollectionNotInSuspense, ResultCode::CreditAccountFrozen]);
    ledger.assert_invariants();
}

/// The audit records filed at `timestamp`, as (account, from, to, actor).
fn status_changes_at(
    ledger: &Harness,
    timestamp: u64,
) -> Vec<(u128, AccountStatus, AccountStatus, String)> {
    query::audit_records(&ledger.store, timestamp, 100)
        .into_iter()
        .take_while(|record| record.timestamp == timestamp)
        .map(|record| match record.action {
            AuditAction::Status { from, to } => (record.account_id, from, to, record.actor),
            other => panic!("not a status change: {other:?}"),
        })
        .collect()
}

#[test]
fn a_discrepancy_blocks_its_accounts_until_an_operator_resolves_it() {
    use AccountStatus::{Active, OutflowBlocked};
    let mut ledger = ledger_with_customers(1_000);
    let at = T0 + SECOND;

    // The reconciler reports a payout the bank does not show: Alice and the transit account
    // stop paying out in the same event, each audited with the discrepancy as the reason.
    let recorded = ledger.apply_ok(at, vec![record_discrepancy(0xd1, &[ALICE, TRANSIT])]);
    let recorded_at = recorded[0].timestamp;
    assert_eq!(ledger.account(ALICE).status, OutflowBlocked);
    assert_eq!(ledger.account(TRANSIT).status, OutflowBlocked);
    let changes = status_changes_at(&ledger, recorded_at);
    let reconciler = "reconciler:dc-a".to_owned();
    assert_eq!(
        changes,
        [
            (ALICE, Active, OutflowBlocked, reconciler.clone()),
            (TRANSIT, Active, OutflowBlocked, reconciler.clone()),
        ]
    );
    let audit = query::audit_records(&ledger.store, recorded_at, 10);
    assert_eq!(
        audit[0].reason,
        "discrepancy 0x000000000000000000000000000000d1 (missing_at_bank): outflow blocked"
    );
    let stored = query::discrepancy(&ledger.store, 0xd1).expect("recorded");
    assert_eq!(stored.state, DiscrepancyState::Open);
    assert_eq!(stored.blocked_account_ids, [ALICE, TRANSIT]);
    assert_eq!(stored.request.ledger_evidence, "payout 209 succeeded, 500 minor units");

    // Money may still arrive; none may leave: the payout is refused with the block code.
    let codes = ledger.codes(
        at + SECOND,
        vec![
            create_transfer(transfer(20, FUNDING, ALICE, 5)),
            create_payout(payout(21, ALICE, TRANSIT, 50)),
        ],
    );
    assert_eq!(codes, [ResultCode::Ok, ResultCode::DebitAccountOutflowBlocked]);

    // A second reconciler (another data center) finds the same difference: `exists`, with the
    // first report's time, and nothing changes — no second block, no second audit record.
    let before = content_snapshot(&ledger.store);
    let second = NewDiscrepancy {
        account_ids: vec![TRANSIT, ALICE],
        actor: "reconciler:dc-b".to_owned(),
        cutoff: T0 + 60 * SECOND,
        ..discrepancy(0xd1, &[])
    };
    let results = ledger.apply(at + 2 * SECOND, vec![Command::RecordDiscrepancy(second)]);
    assert_eq!((results[0].code, results[0].timestamp), (ResultCode::Exists, recorded_at));
    assert_eq!(content_snapshot(&ledger.store), before);
    assert_eq!(query::audit_records(&ledger.store, 0, 100).len(), 2);

    // The operator resolves it: both accounts pay again, audited under the operator's name.
    let resolved = ledger.apply_ok(at + 3 * SECOND, vec![resolve_discrepancy(0xd1)]);
    let resolved_at = resolved[0].timestamp;
    let operator = "ops:alice".to_owned();
    assert_eq!(
        status_changes_at(&ledger, resolved_at),
        [
            (ALICE, OutflowBlocked, Active, operator.clone()),
            (TRANSIT, OutflowBlocked, Active, operator)
        ]
    );
    let stored = query::discrepancy(&ledger.store, 0xd1).expect("kept");
    assert_eq!(
        (stored.state, stored.resolved_at, stored.resolved_by.as_str()),
        (DiscrepancyState::Resolved, resolved_at, "ops:alice")
    );
    assert!(query::account_discrepancies(&ledger.store, ALICE, None, 10).0.is_empty());
    let codes = ledger.codes(at + 4 * SECOND, vec![create_payout(payout(22, ALICE, TRANSIT, 50))]);
    assert_eq!(codes, [ResultCode::Ok]);

    // The resolution retried is `exists`; another operator's is refused; neither changes a thing.
    let before = content_snapshot(&ledger.store);
    let other = Command::ResolveDiscrepancy(ResolveDiscrepancy {
        id: 0xd1,
        reason: "it was a bank fee".to_owned(),
        actor: "ops:bob".to_owned(),
    });
    let results = ledger.apply(at + 5 * SECOND, vec![resolve_discrepancy(0xd1), other]);
    assert_eq!((results[0].code, results[0].timestamp), (ResultCode::Exists, resolved_at));
    assert_eq!(results[1].code, ResultCode::DiscrepancyAlreadyResolved);
    assert_eq!(content_snapshot(&ledger.store), before);
    ledger.assert_invariants();
}

#[test]
fn an_account_two_discrepancies_hold_stays_blocked_until_both_are_resolved() {
    let mut ledger = ledger_with_customers(1_000);
    let at = T0 + SECOND;
    ledger
        .apply_ok(at, vec![record_discrepancy(1, &[ALICE]), record_discrepancy(2, &[ALICE, BOB])]);
    // The second found Alice blocked already: it holds her all the same, and moved only Bob.
    assert_eq!(query::discrepancy(&ledger.store, 2).expect("recorded").blocked_account_ids, [BOB]);
    let holders = |ledger: &Harness, account| -> Vec<u128> {
        let (page, _) = query::account_discrepancies(&ledger.store, account, None, 10);
        page.iter().map(|d| d.request.id).collect()
    };
    assert_eq!(holders(&ledger, ALICE), [1, 2]);

    // Resolving the one that blocked her keeps her blocked: the other still holds her.
    ledger.apply_ok(at + SECOND, vec![resolve_discrepancy(1)]);
    assert_eq!(ledger.account(ALICE).status, AccountStatus::OutflowBlocked);
    assert_eq!(holders(&ledger, ALICE), [2]);
    let codes = ledger.codes(at + 2 * SECOND, vec![create_payout(payout(30, ALICE, TRANSIT, 5))]);
    assert_eq!(codes, [ResultCode::DebitAccountOutflowBlocked]);
    ledger.assert_invariants();

    // Resolving the other lifts both accounts.
    ledger.apply_ok(at + 3 * SECOND, vec![resolve_discrepancy(2)]);
    assert_eq!(ledger.account(ALICE).status, AccountStatus::Active);
    assert_eq!(ledger.account(BOB).status, AccountStatus::Active);
    let codes = ledger.codes(at + 4 * SECOND, vec![create_payout(payout(31, ALICE, TRANSIT, 5))]);
    assert_eq!(codes, [ResultCode::Ok]);
    ledger.assert_invariants();
}

#[test]
fn an_operator_overrides_a_discrepancys_block_but_resolves_nothing() {
    use AccountStatus::{Active, Frozen, OutflowBlocked};
    let mut ledger = ledger_with_customers(1_000);
    let at = T0 + SECOND;
    ledger.apply_ok(at, vec![record_discrepancy(1, &[ALICE, BOB])]);
    // The operator lets Alice pay (audited) while the discrepancy stays open and holds her;
    // she pays.
    ledger.apply_ok(at + SECOND, vec![set_status(ALICE, Active)]);
    assert_eq!(query::discrepancy(&ledger.store, 1).expect("open").state, DiscrepancyState::Open);
    assert_eq!(query::account_discrepancies(&ledger.store, ALICE, None, 10).0.len(), 1);
    let codes = ledger.codes(at + 2 * SECOND, vec![create_payout(payout(40, ALICE, TRANSIT, 5))]);
    assert_eq!(codes, [ResultCode::Ok]);
    ledger.assert_invariants();

    // The operator's own block (set after the discrepancy's) and a freeze outlast the
    // resolution; only the discrepancy's block is lifted.
    ledger.apply_ok(at + 3 * SECOND, vec![set_status(ALICE, OutflowBlocked)]);
    ledger.apply_ok(at + 4 * SECOND, vec![record_discrepancy(2, &[FUNDING])]);
    ledger.apply_ok(at + 5 * SECOND, vec![set_status(FUNDING, Frozen)]);
    ledger.apply_ok(at + 6 * SECOND, vec![resolve_discrepancy(1), resolve_discrepancy(2)]);
    assert_eq!(ledger.account(ALICE).status, OutflowBlocked, "the operator's block stands");
    assert_eq!(ledger.account(BOB).status, Active, "the discrepancy's block is lifted");
    assert_eq!(ledger.account(FUNDING).status, Frozen, "a freeze stands");
    ledger.assert_invariants();
}

#[test]
fn discrepancies_list_by_recording_time_with_filters_and_pages() {
    let mut ledger = ledger_with_customers(1_000);
    let at = T0 + SECOND;
    let other_bank = NewDiscrepancy { bank: BANK + 1, ..discrepancy(12, &[BOB]) };
    ledger.apply_ok(at, vec![record_discrepancy(11, &[ALICE])]);
    ledger.apply_ok(at + SECOND, vec![Command::RecordDiscrepancy(other_bank)]);
    ledger.apply_ok(at + 2 * SECOND, vec![record_discrepancy(10, &[]), resolve_discrepancy(11)]);

    let ids = |page: &[tianping_ledger::Discrepancy]| -> Vec<u128> {
        page.iter().map(|d| d.request.id).collect()
    };
    let every = DiscrepancyFilter::default();
    let (all, next) = query::list_discrepancies(&ledger.store, &every, None, 10);
    assert_eq!((ids(&all), next), (vec![11, 12, 10], None), "oldest first, not by id");
    let open = DiscrepancyFilter { state: Some(DiscrepancyState::Open), bank: None };
    assert_eq!(ids(&query::list_discrepancies(&ledger.store, &open, None, 10).0), [12, 10]);
    let ours = DiscrepancyFilter { state: Some(DiscrepancyState::Open), bank: Some(BANK) };
    assert_eq!(ids(&query::list_discrepancies(&ledger.store, &ours, None, 10).0), [10]);

    // Pages scan `limit` records each; a filtered page may come back short, even empty, with
    // a cursor to follow.
    let (first, cursor) = query::list_discrepancies(&ledger.store, &ours, None, 1);
    assert!(first.is_empty() && cursor.is_some());
    let (second, cursor) = query::list_discrepancies(&ledger.store, &ours, cursor, 1);
    assert!(second.is_empty() && cursor.is_some());
    let (third, cursor) = query::list_discrepancies(&ledger.store, &ours, cursor, 1);
    assert_eq!(ids(&third), [10]);
    let (fourth, none) = query::list_discrepancies(&ledger.store, &ours, cursor, 1);
    assert!(fourth.is_empty() && none.is_none());
    assert!(query::list_discrepancies(&ledger.store, &every, Some(u64::MAX), 10).0.is_empty());
    assert!(query::discrepancy(&ledger.store, 99).is_none());
    ledger.assert_invariants();
}

#[test]
fn an_audit_page_never_splits_one_events_records() {
    let mut ledger = ledger_with_customers(1_000);
    let recorded =
        ledger.apply_ok(T0 + SECOND, vec![record_discrepancy(1, &[FUNDING, ALICE, BOB])]);
    ledger.apply_ok(T0 + 2 * SECOND, vec![set_status(TRANSIT, AccountStatus::Frozen)]);
    // A page of one runs on to the end of the recording's three records.
    let page = query::audit_records(&ledger.store, 0, 1);
    assert_eq!(page.len(), 3);
    assert!(page.iter().all(|record| record.timestamp == recorded[0].timestamp));
    let accounts: Vec<u128> = page.iter().map(|record| record.account_id).collect();
    assert_eq!(accounts, [FUNDING, ALICE, BOB]);
    let next = query::audit_records(&ledger.store, recorded[0].timestamp + 1, 1);
    assert_eq!((next.len(), next[0].account_id), (1, TRANSIT));
    assert_eq!(query::audit_records(&ledger.store, 0, 4).len(), 4);
    assert!(query::audit_records(&ledger.store, 0, 0).is_empty());
}
