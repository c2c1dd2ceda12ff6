//! The payout outbox. Creating a payout is a reservation judged by the `movement` rules
//! after its own; claiming ranks payouts by a table of claimable states; recording an outcome
//! is a transition table from (state, outcome, what the worker holds) to a result code and
//! the next state, looked up, not computed.

use tianping_ledger::{
    ClaimPayouts, ClaimedBatch, ClaimedPayout, Detail, EventResult, NewPayout, NewTransfer,
    PAYOUT_CLAIM_MAX, PAYOUT_LEASE_MS_MAX, PAYOUT_LEASE_MS_MIN, Payout, PayoutBatchClaim,
    PayoutClaim, PayoutOutcome, PayoutState, PendingStatus, PendingTransfer, RecordPayoutOutcome,
    ResultCode as R, TEXT_BYTES_MAX, TransferFlags,
};

use super::movement::{NEW_MOVEMENT, Situation};
use super::rules::{Ground::Identity, Ground::Request, Rule, first, rule};
use super::transfers::live_reservation;
use super::{Auditor, Verdict, answer};

const NANOS_PER_MILLI: u64 = 1_000_000;

/// What a new payout is judged on.
pub struct NewFacts {
    request: NewPayout,
    /// The payout already filed under the id.
    existing: Option<Payout>,
    /// A transfer holds the id.
    transfer_holds_id: bool,
    /// The id was refused before for a state-dependent reason.
    refused_before: bool,
    /// The reservation it would make.
    movement: Situation,
}

impl NewFacts {
    /// The filed payout has another value in a field the request names.
    fn filed_differs<T: PartialEq>(&self, field: fn(&Payout) -> T, requested: T) -> bool {
        self.existing.as_ref().is_some_and(|filed| field(filed) != requested)
    }
}

/// The request's own shape: only `linked` may be set, real distinct accounts, a bank and a
/// beneficiary of bounded length.
const NEW_SHAPE: &[Rule<NewFacts>] = &[
    rule(R::ReservedFlag, Request, |f| f.request.flags.0 & !TransferFlags::LINKED.0 != 0),
    rule(R::IdMustNotBeZero, Request, |f| f.request.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |f| f.request.id == u128::MAX),
    rule(R::DebitAccountIdMustNotBeZero, Request, |f| f.request.debit_account_id == 0),
    rule(R::DebitAccountIdMustNotBeIntMax, Request, |f| f.request.debit_account_id == u128::MAX),
    rule(R::CreditAccountIdMustNotBeZero, Request, |f| f.request.credit_account_id == 0),
    rule(R::CreditAccountIdMustNotBeIntMax, Request, |f| f.request.credit_account_id == u128::MAX),
    rule(R::AccountsMustBeDifferent, Request, |f| {
        f.request.debit_account_id == f.request.credit_account_id
    }),
    rule(R::LedgerMustNotBeZero, Request, |f| f.request.ledger == 0),
    rule(R::CodeMustNotBeZero, Request, |f| f.request.code == 0),
    rule(R::AmountMustNotBeZero, Request, |f| f.request.amount == 0),
    rule(R::BankMustNotBeZero, Request, |f| f.request.bank == 0),
    rule(R::BeneficiaryMustNotBeEmpty, Request, |f| f.request.beneficiary.is_empty()),
    rule(R::TextTooLong, Request, |f| f.request.beneficiary.len() > TEXT_BYTES_MAX),
];

/// The id's history. Transfers and payouts share one id space.
const NEW_IDENTITY: &[Rule<NewFacts>] = &[
    rule(R::ExistsWithDifferentDebitAccountId, Identity, |f| {
        f.filed_differs(|p| p.debit_account_id, f.request.debit_account_id)
    }),
    rule(R::ExistsWithDifferentCreditAccountId, Identity, |f| {
        f.filed_differs(|p| p.credit_account_id, f.request.credit_account_id)
    }),
    rule(R::ExistsWithDifferentAmount, Identity, |f| {
        f.filed_differs(|p| p.amount, f.request.amount)
    }),
    rule(R::ExistsWithDifferentUserData, Identity, |f| {
        f.filed_differs(|p| p.user_data, f.request.user_data)
    }),
    rule(R::ExistsWithDifferentLedger, Identity, |f| {
        f.filed_differs(|p| p.ledger, f.request.ledger)
    }),
    rule(R::ExistsWithDifferentCode, Identity, |f| f.filed_differs(|p| p.code, f.request.code)),
    rule(R::ExistsWithDifferentBank, Identity, |f| f.filed_differs(|p| p.bank, f.request.bank)),
    rule(R::ExistsWithDifferentBeneficiary, Identity, |f| {
        f.filed_differs(|p| p.beneficiary.clone(), f.request.beneficiary.clone())
    }),
    rule(R::Exists, Identity, |f| f.existing.is_some()),
    rule(R::IdAlreadyUsed, Identity, |f| f.transfer_holds_id),
    rule(R::IdAlreadyFailed, Identity, |f| f.refused_before),
];

/// A claim names a worker and a bank, a batch size and a lease the clock can reach.
const CLAIM_SHAPE: &[Rule<(ClaimPayouts, u64)>] = &[
    rule(R::WorkerIdMustNotBeZero, Request, |(c, _)| c.worker_id == 0),
    rule(R::BankMustNotBeZero, Request, |(c, _)| c.bank == 0),
    rule(R::ClaimMaxOutOfRange, Request, |(c, _)| !(1..=PAYOUT_CLAIM_MAX).contains(&c.max)),
    rule(R::LeaseOutOfRange, Request, |(c, _)| {
        c.lease_ms < PAYOUT_LEASE_MS_MIN || c.lease_ms > PAYOUT_LEASE_MS_MAX
    }),
    rule(R::OverflowsTimeout, Request, |(c, now)| lease_end(c, *now).is_none()),
];

/// What a claim under a claim id is judged on, after `CLAIM_SHAPE`.
pub struct BatchClaimFacts {
    request: PayoutBatchClaim,
    /// The claim recorded under the claim id.
    filed: Option<ClaimedBatch>,
}

/// A claim id is a real id; a used one answers for the claim it names.
const BATCH_CLAIM: &[Rule<BatchClaimFacts>] = &[
    rule(R::IdMustNotBeZero, Request, |f| f.request.claim_id == 0),
    rule(R::IdMustNotBeIntMax, Request, |f| f.request.claim_id == u128::MAX),
];

/// Checked after the claim's shape: a filed claim id answers, never claims again.
const BATCH_CLAIM_FILED: &[Rule<BatchClaimFacts>] = &[
    rule(R::ExistsWithDifferentClaim, Identity, |f| {
        f.filed.as_ref().is_some_and(|filed| filed.claim != f.request)
    }),
    rule(R::Exists, Identity, |f| f.filed.is_some()),
];

/// An outcome names a real payout and a worker.
const OUTCOME_SHAPE: &[Rule<(RecordPayoutOutcome, bool)>] = &[
    rule(R::IdMustNotBeZero, Request, |(o, _)| o.payout_id == 0),
    rule(R::IdMustNotBeIntMax, Request, |(o, _)| o.payout_id == u128::MAX),
    rule(R::WorkerIdMustNotBeZero, Request, |(o, _)| o.worker_id == 0),
    rule(R::PayoutNotFound, Identity, |(_, found)| !found),
];

fn lease_end(claim: &ClaimPayouts, now: u64) -> Option<u64> {
    claim.lease_ms.checked_mul(NANOS_PER_MILLI).and_then(|lease| now.checked_add(lease))
}

/// A claimable payout's order key within its tier at a time, or `None` if not claimable.
type ClaimKey = fn(&Payout, u64) -> Option<u64>;

/// Claimable payouts, in the order a claim takes them (the tier is the position): leases
/// that ran out, by state, then reserved payouts; within a tier by the returned key (the old
/// lease's end, or creation), then id. `None`: not claimable now.
const CLAIMABLE: [(PayoutState, ClaimKey); 4] = [
    (PayoutState::Claimed, |p, now| (p.lease_until <= now).then_some(p.lease_until)),
    (PayoutState::Sent, |p, now| (p.lease_until <= now).then_some(p.lease_until)),
    (PayoutState::Unknown, |p, now| (p.lease_until <= now).then_some(p.lease_until)),
    (PayoutState::Reserved, |p, _| Some(p.created_at)),
];

/// A fact of the recording worker the transition table asks about.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// Either way.
    Any,
    /// Must hold.
    Yes,
    /// Must not hold.
    No,
}

impl Need {
    fn admits(self, fact: bool) -> bool {
        match self {
            Need::Any => true,
            Need::Yes => fact,
            Need::No => !fact,
        }
    }
}

/// What a transition does to the reservation behind the payout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Money {
    /// Left as it is.
    Held,
    /// Posted: the bank paid.
    Posted,
    /// Voided: the bank did not pay.
    Voided,
}

/// Where a transition leaves the payout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing changes; the answer carries the time of the payout's last change (`exists`)
    /// or of this event.
    Unchanged { original_time: bool },
    /// The payout moves to a state, with this effect on its reservation.
    To(PayoutState, Money),
}

/// One row of the outcome transition table.
#[derive(Debug)]
pub struct Row {
    /// States the row covers.
    pub from: &'static [PayoutState],
    /// Outcomes the row covers.
    pub outcome: &'static [PayoutOutcome],
    /// The request carries the payout's current fencing token.
    pub current_token: Need,
    /// The request comes from the worker that holds the claim.
    pub leaseholder: Need,
    /// The lease still runs at the event's time.
    pub lease_live: Need,
    /// The answer.
    pub code: R,
    /// What happens to the payout.
    pub next: Next,
}

use Need::{Any, No, Yes};
use PayoutOutcome as O;
use PayoutState as S;

const EVERY_OUTCOME: &[PayoutOutcome] = &[O::Sent, O::Unknown, O::Succeeded, O::Failed];
const LEASED: &[PayoutState] = &[S::Claimed, S::Sent, S::Unknown];
const STAY: Next = Next::Unchanged { original_time: false };
const RETRY: Next = Next::Unchanged { original_time: true };

const fn row(
    from: &'static [PayoutState],
    outcome: &'static [PayoutOutcome],
    holds: [Need; 3],
    code: R,
    next: Next,
) -> Row {
    let [current_token, leaseholder, lease_live] = holds;
    Row { from, outcome, current_token, leaseholder, lease_live, code, next }
}

/// Recording an outcome (DESIGN §3: reserved → claimed → sent → succeeded | failed, with
/// unknown as a state). The columns `holds` are: current token, leaseholder, lease live.
/// Every (state, outcome, facts) combination matches exactly one row.
pub const OUTCOMES: &[Row] = &[
    // A final payout answers a retry by its own worker and token with `exists`, all else
    // is refused: the bank's answer cannot change.
    row(&[S::Succeeded], &[O::Succeeded], [Yes, Yes, Any], R::Exists, RETRY),
    row(&[S::Succeeded], &[O::Succeeded], [No, Any, Any], R::PayoutAlreadyFinal, STAY),
    row(&[S::Succeeded], &[O::Succeeded], [Yes, No, Any], R::PayoutAlreadyFinal, STAY),
    row(&[S::Succeeded], &[O::Sent, O::Unknown, O::Failed], [Any; 3], R::PayoutAlreadyFinal, STAY),
    row(&[S::Failed], &[O::Failed], [Yes, Yes, Any], R::Exists, RETRY),
    row(&[S::Failed], &[O::Failed], [No, Any, Any], R::PayoutAlreadyFinal, STAY),
    row(&[S::Failed], &[O::Failed], [Yes, No, Any], R::PayoutAlreadyFinal, STAY),
    row(&[S::Failed], &[O::Sent, O::Unknown, O::Succeeded], [Any; 3], R::PayoutAlreadyFinal, STAY),
    // Nobody was sent a reserved payout.
    row(&[S::Reserved], EVERY_OUTCOME, [Any; 3], R::PayoutNotClaimed, STAY),
    // Fencing: only the current claim's worker, within its lease, may record.
    row(LEASED, EVERY_OUTCOME, [No, Any, Any], R::FencingTokenStale, STAY),
    row(LEASED, EVERY_OUTCOME, [Yes, No, Any], R::PayoutClaimedByAnotherWorker, STAY),
    row(LEASED, EVERY_OUTCOME, [Yes, Yes, No], R::PayoutLeaseExpired, STAY),
    // The leaseholder's transitions.
    row(&[S::Claimed, S::Unknown], &[O::Sent], [Yes; 3], R::Ok, Next::To(S::Sent, Money::Held)),
    row(&[S::Claimed, S::Sent], &[O::Unknown], [Yes; 3], R::Ok, Next::To(S::Unknown, Money::Held)),
    row(&[S::Sent], &[O::Sent], [Yes; 3], R::Ok, STAY),
    row(&[S::Unknown], &[O::Unknown], [Yes; 3], R::Ok, STAY),
    row(LEASED, &[O::Succeeded], [Yes; 3], R::Ok, Next::To(S::Succeeded, Money::Posted)),
    row(LEASED, &[O::Failed], [Yes; 3], R::Ok, Next::To(S::Failed, Money::Voided)),
];

/// The rows of `OUTCOMES` that cover a case.
pub fn rows_for(
    state: PayoutState,
    outcome: PayoutOutcome,
    facts: [bool; 3],
) -> impl Iterator<Item = &'static Row> {
    OUTCOMES.iter().filter(move |row| {
        let needs = [row.current_token, row.leaseholder, row.lease_live];
        row.from.contains(&state)
            && row.outcome.contains(&outcome)
            && needs.iter().zip(facts).all(|(need, fact)| need.admits(fact))
    })
}

impl Auditor {
    /// Predicts a create-payout event.
    pub(super) fn create_payout(
        &mut self,
        request: &NewPayout,
        timestamp: u64,
        day: i64,
    ) -> Verdict {
        let facts = NewFacts {
            request: request.clone(),
            existing: self.payouts.get(&request.id).cloned(),
            transfer_holds_id: self.transfers.contains_key(&request.id),
            refused_before: self.refusals.contains_key(&request.id),
            movement: Situation {
                debit: self.accounts.get(&request.debit_account_id).copied(),
                credit: self.accounts.get(&request.credit_account_id).copied(),
                ledger: request.ledger,
                amount: request.amount,
                reserve: true,
                day,
                expires_at: Some(0),
            },
        };
        if let Some(refusal) = first(&[NEW_SHAPE, NEW_IDENTITY], &facts)
            .or_else(|| first(NEW_MOVEMENT, &facts.movement))
        {
            return match (refusal, &facts.existing) {
                ((R::Exists, _), Some(filed)) => {
                    Ok(answer(R::Exists, filed.created_at, filed.amount))
                }
                _ => Err(refusal),
            };
        }
        self.move_money(&facts.movement, timestamp);
        let NewPayout { id, debit_account_id, credit_account_id, amount, user_data, .. } = *request;
        let (ledger, code, bank, beneficiary) =
            (request.ledger, request.code, request.bank, request.beneficiary.clone());
        // The reservation is filed as the pending transfer the payout amounts to.
        let flags = TransferFlags::PENDING;
        let as_filed = NewTransfer {
            id,
            debit_account_id,
            credit_account_id,
            amount,
            user_data,
            ledger,
            code,
            flags,
            ..NewTransfer::default()
        };
        self.file_transfer(&as_filed, amount, timestamp);
        self.pending.insert(id, PendingTransfer { payout: true, ..live_reservation(id) });
        let (state, fencing_token, worker_id, lease_until) = (PayoutState::Reserved, 0, 0, 0);
        let (created_at, updated_at) = (timestamp, timestamp);
        self.payouts.insert(
            id,
            Payout {
                id,
                debit_account_id,
                credit_account_id,
                amount,
                user_data,
                ledger,
                code,
                bank,
                beneficiary,
                state,
                fencing_token,
                worker_id,
                lease_until,
                created_at,
                updated_at,
            },
        );
        Ok(answer(R::Ok, timestamp, amount))
    }

    /// Predicts a claim: the first `max` claimable payouts of the bank, each with the next
    /// fencing token (a payout claimed before must be inquired about before any resend).
    pub(super) fn claim(&mut self, request: &ClaimPayouts, timestamp: u64) -> Verdict {
        if let Some(refusal) = first(&[CLAIM_SHAPE], &(*request, timestamp)) {
            return Err(refusal);
        }
        let lease_until = lease_end(request, timestamp).expect("`overflows_timeout` refused");
        let mut ranked: Vec<(usize, u64, u128)> = self
            .payouts
            .values()
            .filter(|payout| payout.bank == request.bank)
            .filter_map(|payout| {
                let tier = CLAIMABLE.iter().position(|(state, _)| *state == payout.state)?;
                let key = (CLAIMABLE[tier].1)(payout, timestamp)?;
                Some((tier, key, payout.id))
            })
            .collect();
        ranked.sort_unstable();
        let claims = ranked
            .into_iter()
            .take(request.max as usize)
            .map(|(_, _, id)| {
                let payout = self.payouts.get_mut(&id).expect("a ranked payout exists");
                let must_inquire_first = payout.fencing_token != 0;
                *payout = Payout {
                    fencing_token: payout.fencing_token + 1,
                    state: PayoutState::Claimed,
                    worker_id: request.worker_id,
                    lease_until,
                    updated_at: timestamp,
                    ..payout.clone()
                };
                PayoutClaim { payout: payout.clone(), must_inquire_first }
            })
            .collect();
        Ok(EventResult { code: R::Ok, timestamp, detail: Detail::Claims(claims) })
    }

    /// Predicts a claim under a claim id: a new id claims as `claim` does (and files the claim
    /// when it took anything); a filed one answers `exists` with the payouts whose latest
    /// history record is still the one that claim filed, lease live — judged from the
    /// history, not from the tokens the ledger kept.
    pub(super) fn claim_batch(&mut self, request: &PayoutBatchClaim, timestamp: u64) -> Verdict {
        let facts = BatchClaimFacts {
            request: *request,
            filed: self.claimed_batches.get(&request.claim_id).cloned(),
        };
        let plain = ClaimPayouts {
            worker_id: request.worker_id,
            bank: request.bank,
            max: request.max,
            lease_ms: request.lease_ms,
        };
        if let Some(refusal) = first(&[BATCH_CLAIM], &facts) {
            return Err(refusal);
        }
        if let Some(refusal) = first(&[CLAIM_SHAPE], &(plain, timestamp)) {
            return Err(refusal);
        }
        match first(&[BATCH_CLAIM_FILED], &facts) {
            Some((R::Exists, _)) => {
                let filed = facts.filed.expect("`exists` needs a filed claim");
                let held = filed
                    .payouts
                    .iter()
                    .filter(|claimed| {
                        let latest = self
                            .payout_history
                            .range((claimed.payout_id, 0)..=(claimed.payout_id, u64::MAX))
                            .next_back()
                            .map(|(key, _)| key.1);
                        latest == Some(filed.timestamp)
                            && self.payouts[&claimed.payout_id].lease_until > timestamp
                    })
                    .map(|claimed| PayoutClaim {
                        payout: self.payouts[&claimed.payout_id].clone(),
                        must_inquire_first: claimed.fencing_token != 1,
                    })
                    .collect();
                Ok(EventResult {
                    code: R::Exists,
                    timestamp: filed.timestamp,
                    detail: Detail::Claims(held),
                })
            }
            Some(refusal) => Err(refusal),
            None => {
                let result = self.claim(&plain, timestamp)?;
                let Detail::Claims(claims) = &result.detail else {
                    unreachable!("a claim answers with claims")
                };
                if let Some(first_claim) = claims.first() {
                    // The model files what its own payouts table now says each claimed payout
                    // carries, not what the answer says.
                    let mut payouts = Vec::with_capacity(claims.len());
                    for claim in claims {
                        let payout = &self.payouts[&claim.payout.id];
                        payouts.push(ClaimedPayout {
                            payout_id: payout.id,
                            fencing_token: payout.fencing_token,
                        });
                    }
                    let lease_until = first_claim.payout.lease_until;
                    let filed = ClaimedBatch { claim: *request, timestamp, lease_until, payouts };
                    self.claimed_batches.insert(request.claim_id, filed);
                }
                Ok(result)
            }
        }
    }

    /// Predicts a recorded outcome by looking its case up in `OUTCOMES`.
    pub(super) fn record_outcome(
        &mut self,
        request: &RecordPayoutOutcome,
        timestamp: u64,
    ) -> Verdict {
        let payout = self.payouts.get(&request.payout_id).cloned();
        if let Some(refusal) = first(&[OUTCOME_SHAPE], &(*request, payout.is_some())) {
            return Err(refusal);
        }
        let payout = payout.expect("`payout_not_found` refused");
        let facts = [
            payout.fencing_token == request.fencing_token,
            payout.worker_id == request.worker_id,
            payout.lease_until > timestamp,
        ];
        let mut rows = rows_for(payout.state, request.outcome, facts);
        let row = rows.next().expect("the outcome table covers every case");
        match row.next {
            // Outcome refusals are never recorded (the id is the payout's, not a new one).
            Next::Unchanged { original_time } => {
                let at = if original_time { payout.updated_at } else { timestamp };
                Ok(EventResult::code(row.code, at))
            }
            Next::To(state, money) => {
                self.book_bank_answer(&payout, money, timestamp);
                let stored = self.payouts.get_mut(&payout.id).expect("payout exists");
                stored.state = state;
                stored.updated_at = timestamp;
                Ok(EventResult::code(row.code, timestamp))
            }
        }
    }

    /// Posts or voids the reservation behind `payout` as the bank answered.
    fn book_bank_answer(&mut self, payout: &Payout, money: Money, timestamp: u64) {
        let reservation = self.transfers[&payout.id];
        let (posted, status) = match money {
            Money::Held => return,
            Money::Posted => (reservation.amount, PendingStatus::Posted),
            Money::Voided => (0, PendingStatus::Voided),
        };
        self.settle(&reservation, posted, timestamp);
        self.finish_reservation(payout.id, status, posted, payout.id, timestamp);
    }
}

#[test]
fn every_outcome_case_has_exactly_one_row() {
    for state in PayoutState::ALL {
        for outcome in EVERY_OUTCOME {
            for bits in 0..8u8 {
                let facts = [bits & 1 != 0, bits & 2 != 0, bits & 4 != 0];
                let rows: Vec<&Row> = rows_for(state, *outcome, facts).collect();
                assert_eq!(rows.len(), 1, "{state:?} × {outcome:?} × {facts:?}: rows {rows:?}");
            }
        }
    }
}
