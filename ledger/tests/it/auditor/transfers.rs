//! Transfers (single-phase, pending, post, void) as ordered rules over facts gathered up
//! front. The balance rules are those of `movement`; the transfer-specific ones judge the
//! request's shape, the id's history and the reservation a post or void resolves.

use tianping_ledger::{
    EventResult, NewTransfer, PendingStatus, PendingTransfer, ResultCode as R, Transfer,
    TransferFlags as F,
};

use super::balances::{credit_room, debit_room};
use super::movement::{NEW_MOVEMENT, POSTING, STATUS, Situation};
use super::rules::{Ground, Ground::Identity, Ground::Request, Ground::State, Rule, first, rule};
use super::{Auditor, Verdict, answer};

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Every transfer flag the ledger knows.
const KNOWN: u16 = F::LINKED.0
    | F::PENDING.0
    | F::POST_PENDING.0
    | F::VOID_PENDING.0
    | F::BALANCING_DEBIT.0
    | F::BALANCING_CREDIT.0;

/// What a transfer is judged on.
pub struct Facts {
    request: NewTransfer,
    /// The transfer already filed under the request's id.
    existing: Option<Transfer>,
    /// The id was refused before for a state-dependent reason.
    refused_before: bool,
    /// For a post or void: the transfer `pending_id` names, and its pending state.
    reservation: Option<(Transfer, Option<PendingTransfer>)>,
    /// The event's timestamp.
    timestamp: u64,
    /// The money that would move: the request's accounts, or the reservation's for a post.
    movement: Situation,
}

impl Facts {
    fn has(&self, flag: F) -> bool {
        self.request.flags.0 & flag.0 != 0
    }

    fn resolving(&self) -> bool {
        self.has(F::POST_PENDING) || self.has(F::VOID_PENDING)
    }

    /// A request field differs from the stored one; for a post or void zero means "as filed".
    fn differs(&self, requested: u128, stored: u128) -> bool {
        requested != stored && !(self.resolving() && requested == 0)
    }

    fn filed(&self) -> &Transfer {
        self.existing.as_ref().expect("the identity rules on fields follow `existing`")
    }

    fn reserved(&self) -> &Transfer {
        &self.reservation.as_ref().expect("`pending_transfer_not_found` comes first").0
    }

    fn reservation_state(&self) -> &PendingTransfer {
        let state = &self.reservation.as_ref().expect("`pending_transfer_not_found` comes first").1;
        state.as_ref().expect("`pending_transfer_not_pending` comes first")
    }

    /// A field the post or void names (non-zero) that the reservation does not have.
    fn names_other(requested: u128, reserved: u128) -> bool {
        requested != 0 && requested != reserved
    }
}

/// Flags and id, for every transfer.
const SHAPE: &[Rule<Facts>] = &[
    rule(R::ReservedFlag, Request, |f| f.request.flags.0 & !KNOWN != 0),
    rule(R::IdMustNotBeZero, Request, |f| f.request.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |f| f.request.id == u128::MAX),
    rule(R::FlagsAreMutuallyExclusive, Request, |f| {
        let phases = [F::PENDING, F::POST_PENDING, F::VOID_PENDING];
        let balancing = f.has(F::BALANCING_DEBIT) || f.has(F::BALANCING_CREDIT);
        phases.iter().filter(|flag| f.has(**flag)).count() > 1 || (balancing && f.resolving())
    }),
];

/// A single-phase or pending transfer names two distinct accounts and a real amount.
const NEW_SHAPE: &[Rule<Facts>] = &[
    rule(R::DebitAccountIdMustNotBeZero, Request, |f| f.request.debit_account_id == 0),
    rule(R::DebitAccountIdMustNotBeIntMax, Request, |f| f.request.debit_account_id == u128::MAX),
    rule(R::CreditAccountIdMustNotBeZero, Request, |f| f.request.credit_account_id == 0),
    rule(R::CreditAccountIdMustNotBeIntMax, Request, |f| f.request.credit_account_id == u128::MAX),
    rule(R::AccountsMustBeDifferent, Request, |f| {
        f.request.debit_account_id == f.request.credit_account_id
    }),
    rule(R::PendingIdMustBeZero, Request, |f| f.request.pending_id != 0),
    rule(R::TimeoutReservedForPendingTransfer, Request, |f| {
        f.request.timeout != 0 && !f.has(F::PENDING)
    }),
    rule(R::LedgerMustNotBeZero, Request, |f| f.request.ledger == 0),
    rule(R::CodeMustNotBeZero, Request, |f| f.request.code == 0),
    rule(R::AmountMustNotBeZero, Request, |f| f.request.amount == 0),
];

/// A post or void names one other transfer; account ids it names are real and distinct.
const RESOLVE_SHAPE: &[Rule<Facts>] = &[
    rule(R::PendingIdMustNotBeZero, Request, |f| f.request.pending_id == 0),
    rule(R::PendingIdMustNotBeIntMax, Request, |f| f.request.pending_id == u128::MAX),
    rule(R::PendingIdMustBeDifferent, Request, |f| f.request.pending_id == f.request.id),
    rule(R::TimeoutReservedForPendingTransfer, Request, |f| f.request.timeout != 0),
    rule(R::DebitAccountIdMustNotBeIntMax, Request, |f| f.request.debit_account_id == u128::MAX),
    rule(R::CreditAccountIdMustNotBeIntMax, Request, |f| f.request.credit_account_id == u128::MAX),
    rule(R::AccountsMustBeDifferent, Request, |f| {
        f.request.debit_account_id != 0 && f.request.debit_account_id == f.request.credit_account_id
    }),
];

/// The id's history: the same body again is `exists`, another body names its first
/// different field; an id once refused for the state it met stays refused.
const IDENTITY: &[Rule<Facts>] = &[
    rule(R::TransferExistsWithDifferentFlags, Identity, |f| {
        f.existing.is_some() && f.request.flags.0 & !F::LINKED.0 != f.filed().flags.0
    }),
    rule(R::ExistsWithDifferentPendingId, Identity, |f| {
        f.existing.is_some() && f.request.pending_id != f.filed().pending_id
    }),
    rule(R::ExistsWithDifferentTimeout, Identity, |f| {
        f.existing.is_some() && f.request.timeout != f.filed().timeout
    }),
    rule(R::ExistsWithDifferentDebitAccountId, Identity, |f| {
        f.existing.is_some() && f.differs(f.request.debit_account_id, f.filed().debit_account_id)
    }),
    rule(R::ExistsWithDifferentCreditAccountId, Identity, |f| {
        f.existing.is_some() && f.differs(f.request.credit_account_id, f.filed().credit_account_id)
    }),
    rule(R::ExistsWithDifferentAmount, Identity, |f| {
        f.existing.is_some() && f.request.amount != f.filed().amount_requested
    }),
    rule(R::ExistsWithDifferentUserData, Identity, |f| {
        f.existing.is_some() && f.request.user_data != f.filed().user_data
    }),
    rule(R::ExistsWithDifferentLedger, Identity, |f| {
        f.existing.is_some() && f.differs(f.request.ledger.into(), f.filed().ledger.into())
    }),
    rule(R::ExistsWithDifferentCode, Identity, |f| {
        f.existing.is_some() && f.differs(f.request.code.into(), f.filed().code.into())
    }),
    rule(R::Exists, Identity, |f| f.existing.is_some()),
    rule(R::IdAlreadyFailed, Identity, |f| f.refused_before),
];

/// The reservation a post or void resolves: it exists, is a plain pending transfer that
/// matches what the request names, is still pending and in time, and covers the amount.
const RESOLVE_STATE: &[Rule<Facts>] = &[
    rule(R::PendingTransferNotFound, State, |f| f.reservation.is_none()),
    rule(R::PendingTransferNotPending, State, |f| f.reserved().flags.0 & F::PENDING.0 == 0),
    rule(R::PendingTransferHasDifferentDebitAccountId, State, |f| {
        Facts::names_other(f.request.debit_account_id, f.reserved().debit_account_id)
    }),
    rule(R::PendingTransferHasDifferentCreditAccountId, State, |f| {
        Facts::names_other(f.request.credit_account_id, f.reserved().credit_account_id)
    }),
    rule(R::PendingTransferHasDifferentLedger, State, |f| {
        Facts::names_other(f.request.ledger.into(), f.reserved().ledger.into())
    }),
    rule(R::PendingTransferHasDifferentCode, State, |f| {
        Facts::names_other(f.request.code.into(), f.reserved().code.into())
    }),
    rule(R::PendingTransferBelongsToPayout, State, |f| f.reservation_state().payout),
    rule(R::PendingTransferAlreadyPosted, State, |f| {
        f.reservation_state().status == PendingStatus::Posted
    }),
    rule(R::PendingTransferAlreadyVoided, State, |f| {
        f.reservation_state().status == PendingStatus::Voided
    }),
    rule(R::PendingTransferExpired, State, |f| {
        let state = f.reservation_state();
        let deadline_passed = state.expires_at != 0 && state.expires_at <= f.timestamp;
        state.status == PendingStatus::Expired || deadline_passed
    }),
    rule(R::ExceedsPendingTransferAmount, State, |f| {
        f.has(F::POST_PENDING) && f.request.amount > f.reserved().amount
    }),
    rule(R::PendingTransferHasDifferentAmount, State, |f| {
        f.has(F::VOID_PENDING) && f.request.amount != 0 && f.request.amount != f.reserved().amount
    }),
];

impl Auditor {
    /// Files the transfer record of `as_filed` (a request, or what a payout or collection
    /// amounts to) that moved `amount`, and puts it in both accounts' histories.
    pub(super) fn file_transfer(&mut self, as_filed: &NewTransfer, amount: u128, timestamp: u64) {
        let NewTransfer { id, debit_account_id, credit_account_id, pending_id, .. } = *as_filed;
        let NewTransfer { user_data, timeout, ledger, code, .. } = *as_filed;
        let (amount_requested, flags) = (as_filed.amount, F(as_filed.flags.0 & !F::LINKED.0));
        let record = Transfer {
            id,
            debit_account_id,
            credit_account_id,
            amount,
            amount_requested,
            pending_id,
            user_data,
            timeout,
            ledger,
            code,
            flags,
            timestamp,
        };
        self.transfers.insert(id, record);
    }

    fn transfer_facts(&self, request: &NewTransfer, timestamp: u64, day: i64) -> Facts {
        let has = |flag: F| request.flags.0 & flag.0 != 0;
        let resolving = has(F::POST_PENDING) || has(F::VOID_PENDING);
        let reservation = self
            .transfers
            .get(&request.pending_id)
            .filter(|_| resolving)
            .map(|transfer| (*transfer, self.pending.get(&transfer.id).copied()));
        let (debit_id, credit_id, amount) = match &reservation {
            Some((reserved, _)) => {
                let posted = if request.amount == 0 || has(F::VOID_PENDING) {
                    reserved.amount
                } else {
                    request.amount
                };
                (reserved.debit_account_id, reserved.credit_account_id, posted)
            }
            None => (request.debit_account_id, request.credit_account_id, request.amount),
        };
        let debit = self.accounts.get(&debit_id).copied();
        let credit = self.accounts.get(&credit_id).copied();
        let mut amount = amount;
        if let (Some(debit), true) = (&debit, has(F::BALANCING_DEBIT)) {
            amount = amount.min(debit_room(debit));
        }
        if let (Some(credit), true) = (&credit, has(F::BALANCING_CREDIT)) {
            amount = amount.min(credit_room(credit));
        }
        let expires_at = match (has(F::PENDING), request.timeout) {
            (true, timeout) if timeout != 0 => u64::from(timeout)
                .checked_mul(NANOS_PER_SECOND)
                .and_then(|nanos| timestamp.checked_add(nanos)),
            _ => Some(0),
        };
        Facts {
            request: *request,
            existing: self.transfers.get(&request.id).copied(),
            refused_before: self.refusals.contains_key(&request.id),
            reservation,
            timestamp,
            movement: Situation {
                debit,
                credit,
                ledger: request.ledger,
                amount,
                reserve: has(F::PENDING),
                day,
                expires_at,
            },
        }
    }

    /// Predicts a create-transfer event.
    pub(super) fn create_transfer(
        &mut self,
        request: &NewTransfer,
        timestamp: u64,
        day: i64,
    ) -> Verdict {
        let facts = self.transfer_facts(request, timestamp, day);
        let post = facts.has(F::POST_PENDING);
        let refusal = if facts.resolving() {
            first(&[SHAPE, RESOLVE_SHAPE, IDENTITY, RESOLVE_STATE], &facts)
                .or_else(|| if post { first(&[STATUS, POSTING], &facts.movement) } else { None })
        } else {
            first(&[SHAPE, NEW_SHAPE, IDENTITY], &facts)
                .or_else(|| first(NEW_MOVEMENT, &facts.movement))
        };
        match refusal {
            Some((R::Exists, _)) => {
                let filed = facts.filed();
                Ok(answer(R::Exists, filed.timestamp, filed.amount))
            }
            Some(refusal) => Err(refusal),
            None if facts.resolving() => Ok(self.resolve(&facts, post)),
            None => Ok(self.file_new(&facts)),
        }
    }

    /// A single-phase or pending transfer moves its (clamped) amount and is filed.
    fn file_new(&mut self, facts: &Facts) -> EventResult {
        let timestamp = facts.timestamp;
        let amount = facts.movement.amount;
        self.move_money(&facts.movement, timestamp);
        let id = facts.request.id;
        self.file_transfer(&facts.request, amount, timestamp);
        if facts.movement.reserve {
            let expires_at = facts.movement.expires_at.expect("`overflows_timeout` refused");
            self.pending.insert(id, PendingTransfer { expires_at, ..live_reservation(id) });
        }
        answer(R::Ok, timestamp, amount)
    }

    /// A post or void settles the reservation and files the resolving transfer.
    fn resolve(&mut self, facts: &Facts, post: bool) -> EventResult {
        let timestamp = facts.timestamp;
        let reservation = *facts.reserved();
        let amount = facts.movement.amount;
        let posted = if post { amount } else { 0 };
        self.settle(&reservation, posted, timestamp);
        let status = if post { PendingStatus::Posted } else { PendingStatus::Voided };
        let request = facts.request;
        self.finish_reservation(reservation.id, status, posted, request.id, timestamp);
        // What the resolving transfer is filed as: the reservation's accounts, ledger and
        // code, the request's own id, pending id, amount asked, user data and flags.
        let Transfer { debit_account_id, credit_account_id, ledger, code, .. } = reservation;
        let as_filed = NewTransfer {
            debit_account_id,
            credit_account_id,
            ledger,
            code,
            timeout: 0,
            ..request
        };
        self.file_transfer(&as_filed, amount, timestamp);
        answer(R::Ok, timestamp, amount)
    }
}

/// A live reservation with no deadline, as a pending transfer or payout creates it.
pub fn live_reservation(id: u128) -> PendingTransfer {
    let (expires_at, payout, amount_posted, resolved_by, resolved_at) = (0, false, 0, 0, 0);
    let status = PendingStatus::Pending;
    PendingTransfer { id, status, expires_at, payout, amount_posted, resolved_by, resolved_at }
}

/// Whether refusals of this ground are final for the id (create-transfer and create-payout).
pub fn final_refusal(ground: Ground) -> bool {
    ground == State
}
