//! The auditor: an independent reference model of the ledger, after TigerBeetle's
//! `auditor.zig`. It is written from the documented semantics (each `apply_*` function's
//! order of checks, DESIGN §3), keeps its state in plain ordered maps, rolls linked chains
//! back by cloning itself, and predicts every event's full result (code, timestamp, detail)
//! and every record the ledger stores. The property tests feed it the same batches as the
//! ledger and compare.
//!
//! The safety properties checked from the ledger's *own* results, independently of the
//! model (daily limits, blocks and freezes, chain atomicity), live in the library as
//! `tianping_ledger::invariants::events`, which the simulation runs over committed logs too.

use std::collections::{BTreeMap, BTreeSet};

use tianping_ledger::codec;
use tianping_ledger::invariants::events::chains;
use tianping_ledger::store::AccountTransferEntry;
use tianping_ledger::{
    Account, AccountFlags, AccountStatus, AuditAction, AuditRecord, BATCH_EVENTS_MAX, Batch,
    BatchError, ClaimPayouts, Collection, CollectionKey, Command, Detail, EXPIRIES_PER_BATCH_MAX,
    EventResult, Limits, MemoryStore, NewAccount, NewCollection, NewPayout, NewTransfer,
    OutflowUsage, PAYOUT_CLAIM_MAX, PAYOUT_LEASE_MS_MAX, PAYOUT_LEASE_MS_MIN, Payout, PayoutClaim,
    PayoutOutcome, PayoutState, PendingStatus, PendingTransfer, RecordPayoutOutcome, ResultCode,
    SetAccountLimits, SetAccountStatus, StateMachine, SuspenseReason as Reason, TEXT_BYTES_MAX,
    Transfer, TransferFlags,
};
use tianping_ledger::{AccountBalance, LedgerStore, Table};

use ResultCode as R;

/// A refusal, or the event's result.
type Outcome = Result<EventResult, ResultCode>;

const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The reference model's whole state.
#[derive(Clone, Debug)]
pub struct Auditor {
    /// Only for `day_of`: the day boundary is configuration, not logic under test.
    machine: StateMachine,
    pub accounts: BTreeMap<u128, Account>,
    pub transfers: BTreeMap<u128, Transfer>,
    pub pending: BTreeMap<u128, PendingTransfer>,
    pub payouts: BTreeMap<u128, Payout>,
    pub collections: BTreeMap<CollectionKey, Collection>,
    pub audit: Vec<AuditRecord>,
    /// Ids of create-transfer / create-payout events refused for a state-dependent reason:
    /// id → (code, timestamp). Final: the id answers `id_already_failed` from then on.
    pub refusals: BTreeMap<u128, (ResultCode, u64)>,
    /// Balance snapshots of `HISTORY` accounts: (account, snapshot).
    pub balance_history: Vec<(u128, AccountBalance)>,
    pub last_timestamp: u64,
    /// How many reservations each applied batch expired (the last batch's count).
    pub expired_last_batch: u64,
}

fn refused(code: ResultCode, timestamp: u64) -> EventResult {
    EventResult::code(code, timestamp)
}

/// The refusals that depend on the state the event met (written from the documented rule,
/// independently of `ResultCode::is_transient`): missing accounts or pending transfer, the
/// pending transfer's state and fields, account status and limits, balances and overflows,
/// the clock. Validation codes and answers about an id a record already holds are not.
fn transient(code: ResultCode) -> bool {
    matches!(
        code,
        R::DebitAccountNotFound
            | R::CreditAccountNotFound
            | R::AccountsMustHaveTheSameLedger
            | R::TransferMustHaveTheSameLedgerAsAccounts
            | R::PendingTransferNotFound
            | R::PendingTransferNotPending
            | R::PendingTransferHasDifferentDebitAccountId
            | R::PendingTransferHasDifferentCreditAccountId
            | R::PendingTransferHasDifferentLedger
            | R::PendingTransferHasDifferentCode
            | R::ExceedsPendingTransferAmount
            | R::PendingTransferHasDifferentAmount
            | R::PendingTransferAlreadyPosted
            | R::PendingTransferAlreadyVoided
            | R::PendingTransferExpired
            | R::PendingTransferBelongsToPayout
            | R::DebitAccountFrozen
            | R::DebitAccountClosed
            | R::DebitAccountOutflowBlocked
            | R::CreditAccountFrozen
            | R::CreditAccountClosed
            | R::ExceedsPerTransferLimit
            | R::ExceedsDailyAmountLimit
            | R::ExceedsDailyCountLimit
            | R::OverflowsDebitsPending
            | R::OverflowsCreditsPending
            | R::OverflowsDebitsPosted
            | R::OverflowsCreditsPosted
            | R::OverflowsDebits
            | R::OverflowsCredits
            | R::OverflowsTimeout
            | R::ExceedsCredits
            | R::ExceedsDebits
    )
}

fn ok_amount(timestamp: u64, amount: u128) -> EventResult {
    EventResult { code: R::Ok, timestamp, detail: Detail::Amount(amount) }
}

fn check_id(id: u128) -> Result<(), ResultCode> {
    if id == 0 {
        Err(R::IdMustNotBeZero)
    } else if id == u128::MAX {
        Err(R::IdMustNotBeIntMax)
    } else {
        Ok(())
    }
}

fn check_account_ids(debit: u128, credit: u128) -> Result<(), ResultCode> {
    if debit == 0 {
        return Err(R::DebitAccountIdMustNotBeZero);
    }
    if debit == u128::MAX {
        return Err(R::DebitAccountIdMustNotBeIntMax);
    }
    if credit == 0 {
        return Err(R::CreditAccountIdMustNotBeZero);
    }
    if credit == u128::MAX {
        return Err(R::CreditAccountIdMustNotBeIntMax);
    }
    if debit == credit {
        return Err(R::AccountsMustBeDifferent);
    }
    Ok(())
}

fn check_ledger_code_amount(ledger: u32, code: u16, amount: u128) -> Result<(), ResultCode> {
    if ledger == 0 {
        Err(R::LedgerMustNotBeZero)
    } else if code == 0 {
        Err(R::CodeMustNotBeZero)
    } else if amount == 0 {
        Err(R::AmountMustNotBeZero)
    } else {
        Ok(())
    }
}

fn check_text(reason: &str, actor: &str) -> Result<(), ResultCode> {
    if reason.is_empty() {
        Err(R::ReasonMustNotBeEmpty)
    } else if actor.is_empty() {
        Err(R::ActorMustNotBeEmpty)
    } else if reason.len() > TEXT_BYTES_MAX || actor.len() > TEXT_BYTES_MAX {
        Err(R::TextTooLong)
    } else {
        Ok(())
    }
}

/// Debit side of a movement of `amount` (reserved when `pending`).
fn check_debit(account: &Account, amount: u128, pending: bool) -> Result<(), ResultCode> {
    if pending && account.debits_pending.checked_add(amount).is_none() {
        return Err(R::OverflowsDebitsPending);
    }
    if !pending && account.debits_posted.checked_add(amount).is_none() {
        return Err(R::OverflowsDebitsPosted);
    }
    let Some(total) = account
        .debits_pending
        .checked_add(account.debits_posted)
        .and_then(|t| t.checked_add(amount))
    else {
        return Err(R::OverflowsDebits);
    };
    let constrained = account.flags.0 & AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.0 != 0;
    // Compared in 129 bits: credits plus credit line may pass u128::MAX.
    let (room, room_overflowed) = account.credits_posted.overflowing_add(account.credit_line);
    if constrained && !room_overflowed && total > room {
        return Err(R::ExceedsCredits);
    }
    Ok(())
}

/// Credit side of a movement of `amount` (reserved when `pending`).
fn check_credit(account: &Account, amount: u128, pending: bool) -> Result<(), ResultCode> {
    if pending && account.credits_pending.checked_add(amount).is_none() {
        return Err(R::OverflowsCreditsPending);
    }
    if !pending && account.credits_posted.checked_add(amount).is_none() {
        return Err(R::OverflowsCreditsPosted);
    }
    let Some(total) = account
        .credits_pending
        .checked_add(account.credits_posted)
        .and_then(|t| t.checked_add(amount))
    else {
        return Err(R::OverflowsCredits);
    };
    let constrained = account.flags.0 & AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS.0 != 0;
    if constrained && total > account.debits_posted {
        return Err(R::ExceedsDebits);
    }
    Ok(())
}

/// Status for money leaving `debit` and arriving at `credit`.
fn check_status(debit: &Account, credit: &Account) -> Result<(), ResultCode> {
    match debit.status {
        AccountStatus::Frozen => return Err(R::DebitAccountFrozen),
        AccountStatus::Closed => return Err(R::DebitAccountClosed),
        AccountStatus::OutflowBlocked => return Err(R::DebitAccountOutflowBlocked),
        AccountStatus::Active => {}
    }
    match credit.status {
        AccountStatus::Frozen => Err(R::CreditAccountFrozen),
        AccountStatus::Closed => Err(R::CreditAccountClosed),
        AccountStatus::Active | AccountStatus::OutflowBlocked => Ok(()),
    }
}

/// Daily and per-transfer limits; returns the usage after this debit.
fn check_limits(account: &Account, amount: u128, day: i64) -> Result<OutflowUsage, ResultCode> {
    let limits = account.limits;
    if limits.per_transfer_amount_max.is_some_and(|max| amount > max) {
        return Err(R::ExceedsPerTransferLimit);
    }
    let (used_amount, used_count) = if account.outflow_usage.day == day {
        (account.outflow_usage.amount, account.outflow_usage.count)
    } else {
        (0, 0)
    };
    let amount_today = used_amount.checked_add(amount);
    if let Some(max) = limits.per_day_amount_max
        && amount_today.is_none_or(|total| total > max)
    {
        return Err(R::ExceedsDailyAmountLimit);
    }
    let count_today = used_count.checked_add(1);
    if let Some(max) = limits.per_day_count_max
        && count_today.is_none_or(|total| total > max)
    {
        return Err(R::ExceedsDailyCountLimit);
    }
    Ok(OutflowUsage {
        day,
        amount: used_amount.saturating_add(amount),
        count: used_count.saturating_add(1),
    })
}

impl Auditor {
    pub fn new(machine: StateMachine) -> Auditor {
        Auditor {
            machine,
            accounts: BTreeMap::new(),
            transfers: BTreeMap::new(),
            pending: BTreeMap::new(),
            payouts: BTreeMap::new(),
            collections: BTreeMap::new(),
            audit: Vec::new(),
            refusals: BTreeMap::new(),
            balance_history: Vec::new(),
            last_timestamp: 0,
            expired_last_batch: 0,
        }
    }

    /// The batch's base timestamp if it were applied now.
    pub fn base_of(&self, batch_timestamp: u64) -> u64 {
        batch_timestamp.max(self.last_timestamp.saturating_add(1))
    }

    /// True when a batch applied now at `batch_timestamp` would expire a reservation.
    pub fn expiry_due(&self, batch_timestamp: u64) -> bool {
        let now = self.base_of(batch_timestamp);
        self.pending
            .values()
            .any(|p| p.status == PendingStatus::Pending && p.expires_at != 0 && p.expires_at <= now)
    }

    /// Predicts `StateMachine::apply` and updates the model.
    pub fn apply(&mut self, batch: &Batch) -> Result<Vec<EventResult>, BatchError> {
        let count = batch.commands.len();
        if count > BATCH_EVENTS_MAX {
            return Err(BatchError::TooManyEvents { count });
        }
        let base = self.base_of(batch.timestamp);
        if base.checked_add((EXPIRIES_PER_BATCH_MAX + count) as u64).is_none() {
            return Err(BatchError::TimestampOverflow);
        }
        let expired = self.expire(base);
        self.expired_last_batch = expired;
        let results = self.events(&batch.commands, base + expired);
        let used = expired + count as u64;
        self.last_timestamp = if used == 0 { base } else { base + used - 1 };
        Ok(results)
    }

    fn expire(&mut self, now: u64) -> u64 {
        let mut due: Vec<(u64, u128)> = self
            .pending
            .values()
            .filter(|p| {
                p.status == PendingStatus::Pending && p.expires_at != 0 && p.expires_at <= now
            })
            .map(|p| (p.expires_at, p.id))
            .collect();
        due.sort_unstable();
        due.truncate(EXPIRIES_PER_BATCH_MAX);
        for (offset, (_, id)) in due.iter().enumerate() {
            let timestamp = now + offset as u64;
            let reservation = self.transfers[id];
            self.settle(&reservation, 0, timestamp);
            let state = self.pending.get_mut(id).expect("due reservation has pending state");
            state.status = PendingStatus::Expired;
            state.resolved_at = timestamp;
        }
        due.len() as u64
    }

    fn events(&mut self, commands: &[Command], first: u64) -> Vec<EventResult> {
        let mut results = Vec::with_capacity(commands.len());
        for (range, open) in chains(commands) {
            let timestamp_of = |index: usize| first + index as u64;
            if open {
                for index in range.clone() {
                    let code = if index + 1 == range.end {
                        R::LinkedEventChainOpen
                    } else {
                        R::LinkedEventFailed
                    };
                    results.push(refused(code, timestamp_of(index)));
                }
                continue;
            }
            let snapshot = (range.len() > 1).then(|| self.clone());
            let mut chain_results = Vec::with_capacity(range.len());
            let mut failure = None;
            for index in range.clone() {
                let result = self.event(&commands[index], timestamp_of(index));
                if !result.code.is_success() && snapshot.is_some() {
                    failure = Some((index, result));
                    break;
                }
                chain_results.push(result);
            }
            match (failure, snapshot) {
                (Some((failed, result)), Some(snapshot)) => {
                    // The rollback undoes the chain, not the fact that its member was refused.
                    let refusals = std::mem::take(&mut self.refusals);
                    *self = snapshot;
                    self.refusals = refusals;
                    for index in range {
                        if index == failed {
                            results.push(result.clone());
                        } else {
                            results.push(refused(R::LinkedEventFailed, timestamp_of(index)));
                        }
                    }
                }
                _ => results.extend(chain_results),
            }
        }
        results
    }

    fn event(&mut self, command: &Command, timestamp: u64) -> EventResult {
        let day = self.machine.day_of(timestamp);
        let outcome = match command {
            Command::CreateAccount(request) => self.create_account(request, timestamp),
            Command::CreateTransfer(request) => self.create_transfer(request, timestamp, day),
            Command::SetAccountStatus(request) => self.set_status(request, timestamp),
            Command::SetAccountLimits(request) => self.set_limits(request, timestamp, day),
            Command::CreatePayout(request) => self.create_payout(request, timestamp, day),
            Command::ClaimPayouts(request) => self.claim(request, timestamp),
            Command::RecordPayoutOutcome(request) => self.record_outcome(request, timestamp),
            Command::BookCollection(request) => self.book_collection(request, timestamp),
        };
        let id = match command {
            Command::CreateTransfer(request) => Some(request.id),
            Command::CreatePayout(request) => Some(request.id),
            _ => None,
        };
        if let (Err(code), Some(id)) = (&outcome, id)
            && transient(*code)
        {
            let previous = self.refusals.insert(id, (*code, timestamp));
            assert!(previous.is_none(), "model refused id {id} twice");
        }
        outcome.unwrap_or_else(|code| refused(code, timestamp))
    }

    fn create_account(&mut self, request: &NewAccount, timestamp: u64) -> Outcome {
        let known = AccountFlags::LINKED.0
            | AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.0
            | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS.0
            | AccountFlags::HISTORY.0;
        if request.flags.0 & !known != 0 {
            return Err(R::ReservedFlag);
        }
        check_id(request.id)?;
        let debits_constrained =
            request.flags.0 & AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.0 != 0;
        let credits_constrained =
            request.flags.0 & AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS.0 != 0;
        if debits_constrained && credits_constrained {
            return Err(R::FlagsAreMutuallyExclusive);
        }
        if request.credit_line != 0 && !debits_constrained {
            return Err(R::CreditLineRequiresDebitsMustNotExceedCredits);
        }
        if request.ledger == 0 {
            return Err(R::LedgerMustNotBeZero);
        }
        if request.code == 0 {
            return Err(R::CodeMustNotBeZero);
        }
        let flags = AccountFlags(request.flags.0 & !AccountFlags::LINKED.0);
        if let Some(existing) = self.accounts.get(&request.id) {
            let differences = [
                (existing.flags != flags, R::ExistsWithDifferentFlags),
                (existing.credit_line != request.credit_line, R::ExistsWithDifferentCreditLine),
                (existing.user_data != request.user_data, R::ExistsWithDifferentUserData),
                (existing.ledger != request.ledger, R::ExistsWithDifferentLedger),
                (existing.code != request.code, R::ExistsWithDifferentCode),
            ];
            if let Some((_, code)) = differences.iter().find(|(differs, _)| *differs) {
                return Err(*code);
            }
            return Ok(EventResult::code(R::Exists, existing.timestamp));
        }
        self.accounts.insert(
            request.id,
            Account {
                id: request.id,
                ledger: request.ledger,
                code: request.code,
                flags,
                credit_line: request.credit_line,
                user_data: request.user_data,
                debits_pending: 0,
                debits_posted: 0,
                credits_pending: 0,
                credits_posted: 0,
                status: AccountStatus::Active,
                status_changed_at: 0,
                limits: Limits::NONE,
                limits_day: 0,
                outflow_usage: OutflowUsage::default(),
                timestamp,
            },
        );
        Ok(EventResult::code(R::Ok, timestamp))
    }

    fn set_status(&mut self, request: &SetAccountStatus, timestamp: u64) -> Outcome {
        check_id(request.account_id)?;
        check_text(&request.reason, &request.actor)?;
        let account = self.accounts.get_mut(&request.account_id).ok_or(R::AccountNotFound)?;
        if account.status == request.status {
            return Ok(EventResult::code(R::Ok, timestamp));
        }
        if account.status == AccountStatus::Closed {
            return Err(R::AccountClosed);
        }
        let balanced = account.debits_pending == 0
            && account.credits_pending == 0
            && account.debits_posted == account.credits_posted;
        if request.status == AccountStatus::Closed && !balanced {
            return Err(R::CloseRequiresZeroBalance);
        }
        let from = account.status;
        account.status = request.status;
        account.status_changed_at = timestamp;
        self.audit.push(AuditRecord {
            timestamp,
            account_id: request.account_id,
            action: AuditAction::Status { from, to: request.status },
            reason: request.reason.clone(),
            actor: request.actor.clone(),
        });
        Ok(EventResult::code(R::Ok, timestamp))
    }

    fn set_limits(&mut self, request: &SetAccountLimits, timestamp: u64, day: i64) -> Outcome {
        check_id(request.account_id)?;
        check_text(&request.reason, &request.actor)?;
        let account = self.accounts.get_mut(&request.account_id).ok_or(R::AccountNotFound)?;
        if account.limits == request.limits {
            return Ok(EventResult::code(R::Ok, timestamp));
        }
        if account.status == AccountStatus::Closed {
            return Err(R::AccountClosed);
        }
        let from = account.limits;
        account.limits = request.limits;
        account.limits_day = day;
        self.audit.push(AuditRecord {
            timestamp,
            account_id: request.account_id,
            action: AuditAction::Limits { from, to: request.limits },
            reason: request.reason.clone(),
            actor: request.actor.clone(),
        });
        Ok(EventResult::code(R::Ok, timestamp))
    }

    /// Both accounts of a movement, after the lookup and ledger checks.
    fn movement_accounts(
        &self,
        debit_id: u128,
        credit_id: u128,
        ledger: u32,
    ) -> Result<(Account, Account), ResultCode> {
        let debit = *self.accounts.get(&debit_id).ok_or(R::DebitAccountNotFound)?;
        let credit = *self.accounts.get(&credit_id).ok_or(R::CreditAccountNotFound)?;
        if debit.ledger != credit.ledger {
            return Err(R::AccountsMustHaveTheSameLedger);
        }
        if debit.ledger != ledger {
            return Err(R::TransferMustHaveTheSameLedgerAsAccounts);
        }
        Ok((debit, credit))
    }

    fn create_transfer(&mut self, request: &NewTransfer, timestamp: u64, day: i64) -> Outcome {
        let flags = request.flags.0;
        let known = [
            TransferFlags::LINKED,
            TransferFlags::PENDING,
            TransferFlags::POST_PENDING,
            TransferFlags::VOID_PENDING,
            TransferFlags::BALANCING_DEBIT,
            TransferFlags::BALANCING_CREDIT,
        ]
        .iter()
        .fold(0, |bits, flag| bits | flag.0);
        if flags & !known != 0 {
            return Err(R::ReservedFlag);
        }
        check_id(request.id)?;
        let has = |flag: TransferFlags| flags & flag.0 != 0;
        let pending = has(TransferFlags::PENDING);
        let post = has(TransferFlags::POST_PENDING);
        let void = has(TransferFlags::VOID_PENDING);
        let balancing = has(TransferFlags::BALANCING_DEBIT) || has(TransferFlags::BALANCING_CREDIT);
        let phases = [pending, post, void].iter().filter(|set| **set).count();
        if phases > 1 || (balancing && (post || void)) {
            return Err(R::FlagsAreMutuallyExclusive);
        }
        if post || void {
            return self.post_or_void(request, timestamp, post);
        }
        check_account_ids(request.debit_account_id, request.credit_account_id)?;
        if request.pending_id != 0 {
            return Err(R::PendingIdMustBeZero);
        }
        if request.timeout != 0 && !pending {
            return Err(R::TimeoutReservedForPendingTransfer);
        }
        check_ledger_code_amount(request.ledger, request.code, request.amount)?;
        if let Some(existing) = self.transfers.get(&request.id) {
            return compare_transfer(existing, request);
        }
        if self.refusals.contains_key(&request.id) {
            return Err(R::IdAlreadyFailed);
        }
        let (mut debit, mut credit) = self.movement_accounts(
            request.debit_account_id,
            request.credit_account_id,
            request.ledger,
        )?;
        check_status(&debit, &credit)?;
        let mut amount = request.amount;
        if has(TransferFlags::BALANCING_DEBIT) {
            let room = debit
                .credits_posted
                .saturating_add(debit.credit_line)
                .saturating_sub(debit.debits_pending.saturating_add(debit.debits_posted));
            amount = amount.min(room);
        }
        if has(TransferFlags::BALANCING_CREDIT) {
            let room = credit
                .debits_posted
                .saturating_sub(credit.credits_pending.saturating_add(credit.credits_posted));
            amount = amount.min(room);
        }
        let usage = check_limits(&debit, amount, day)?;
        check_debit(&debit, amount, pending)?;
        check_credit(&credit, amount, pending)?;
        let expires_at = if pending && request.timeout != 0 {
            u64::from(request.timeout)
                .checked_mul(NANOS_PER_SECOND)
                .and_then(|timeout| timestamp.checked_add(timeout))
                .ok_or(R::OverflowsTimeout)?
        } else {
            0
        };

        if pending {
            debit.debits_pending += amount;
            credit.credits_pending += amount;
        } else {
            debit.debits_posted += amount;
            credit.credits_posted += amount;
        }
        debit.outflow_usage = usage;
        self.store_moved(debit, timestamp);
        self.store_moved(credit, timestamp);
        self.transfers.insert(
            request.id,
            Transfer {
                id: request.id,
                debit_account_id: request.debit_account_id,
                credit_account_id: request.credit_account_id,
                amount,
                amount_requested: request.amount,
                pending_id: 0,
                user_data: request.user_data,
                timeout: request.timeout,
                ledger: request.ledger,
                code: request.code,
                flags: TransferFlags(flags & !TransferFlags::LINKED.0),
                timestamp,
            },
        );
        if pending {
            self.pending.insert(
                request.id,
                PendingTransfer {
                    id: request.id,
                    status: PendingStatus::Pending,
                    expires_at,
                    payout: false,
                    amount_posted: 0,
                    resolved_by: 0,
                    resolved_at: 0,
                },
            );
        }
        Ok(ok_amount(timestamp, amount))
    }

    fn post_or_void(&mut self, request: &NewTransfer, timestamp: u64, post: bool) -> Outcome {
        if request.pending_id == 0 {
            return Err(R::PendingIdMustNotBeZero);
        }
        if request.pending_id == u128::MAX {
            return Err(R::PendingIdMustNotBeIntMax);
        }
        if request.pending_id == request.id {
            return Err(R::PendingIdMustBeDifferent);
        }
        if request.timeout != 0 {
            return Err(R::TimeoutReservedForPendingTransfer);
        }
        if request.debit_account_id == u128::MAX {
            return Err(R::DebitAccountIdMustNotBeIntMax);
        }
        if request.credit_account_id == u128::MAX {
            return Err(R::CreditAccountIdMustNotBeIntMax);
        }
        if request.debit_account_id != 0 && request.debit_account_id == request.credit_account_id {
            return Err(R::AccountsMustBeDifferent);
        }
        if let Some(existing) = self.transfers.get(&request.id) {
            return compare_transfer(existing, request);
        }
        if self.refusals.contains_key(&request.id) {
            return Err(R::IdAlreadyFailed);
        }
        let reservation =
            *self.transfers.get(&request.pending_id).ok_or(R::PendingTransferNotFound)?;
        if reservation.flags.0 & TransferFlags::PENDING.0 == 0 {
            return Err(R::PendingTransferNotPending);
        }
        let named_differs = |named: u128, actual: u128| named != 0 && named != actual;
        if named_differs(request.debit_account_id, reservation.debit_account_id) {
            return Err(R::PendingTransferHasDifferentDebitAccountId);
        }
        if named_differs(request.credit_account_id, reservation.credit_account_id) {
            return Err(R::PendingTransferHasDifferentCreditAccountId);
        }
        if named_differs(request.ledger.into(), reservation.ledger.into()) {
            return Err(R::PendingTransferHasDifferentLedger);
        }
        if named_differs(request.code.into(), reservation.code.into()) {
            return Err(R::PendingTransferHasDifferentCode);
        }
        let state = self.pending[&request.pending_id];
        if state.payout {
            return Err(R::PendingTransferBelongsToPayout);
        }
        match state.status {
            PendingStatus::Pending => {}
            PendingStatus::Posted => return Err(R::PendingTransferAlreadyPosted),
            PendingStatus::Voided => return Err(R::PendingTransferAlreadyVoided),
            PendingStatus::Expired => return Err(R::PendingTransferExpired),
        }
        if state.expires_at != 0 && state.expires_at <= timestamp {
            return Err(R::PendingTransferExpired);
        }
        let amount = if post {
            if request.amount > reservation.amount {
                return Err(R::ExceedsPendingTransferAmount);
            }
            if request.amount == 0 { reservation.amount } else { request.amount }
        } else {
            if request.amount != 0 && request.amount != reservation.amount {
                return Err(R::PendingTransferHasDifferentAmount);
            }
            reservation.amount
        };
        if post {
            let debit = self.accounts[&reservation.debit_account_id];
            let credit = self.accounts[&reservation.credit_account_id];
            check_status(&debit, &credit)?;
            if debit.debits_posted.checked_add(amount).is_none() {
                return Err(R::OverflowsDebitsPosted);
            }
            if credit.credits_posted.checked_add(amount).is_none() {
                return Err(R::OverflowsCreditsPosted);
            }
        }
        let posted = if post { amount } else { 0 };
        self.settle(&reservation, posted, timestamp);
        let state = self.pending.get_mut(&request.pending_id).expect("pending state exists");
        state.status = if post { PendingStatus::Posted } else { PendingStatus::Voided };
        state.amount_posted = posted;
        state.resolved_by = request.id;
        state.resolved_at = timestamp;
        self.transfers.insert(
            request.id,
            Transfer {
                id: request.id,
                debit_account_id: reservation.debit_account_id,
                credit_account_id: reservation.credit_account_id,
                amount,
                amount_requested: request.amount,
                pending_id: request.pending_id,
                user_data: request.user_data,
                timeout: 0,
                ledger: reservation.ledger,
                code: reservation.code,
                flags: TransferFlags(request.flags.0 & !TransferFlags::LINKED.0),
                timestamp,
            },
        );
        Ok(ok_amount(timestamp, amount))
    }

    /// Releases `reservation` and posts `posted` of it.
    fn settle(&mut self, reservation: &Transfer, posted: u128, timestamp: u64) {
        let mut debit = self.accounts[&reservation.debit_account_id];
        debit.debits_pending -= reservation.amount;
        debit.debits_posted += posted;
        let mut credit = self.accounts[&reservation.credit_account_id];
        credit.credits_pending -= reservation.amount;
        credit.credits_posted += posted;
        self.store_moved(debit, timestamp);
        self.store_moved(credit, timestamp);
    }

    /// Stores an account whose balances changed, with a snapshot for `HISTORY` accounts.
    fn store_moved(&mut self, account: Account, timestamp: u64) {
        if account.flags.0 & AccountFlags::HISTORY.0 != 0 {
            self.balance_history.push((
                account.id,
                AccountBalance {
                    timestamp,
                    debits_pending: account.debits_pending,
                    debits_posted: account.debits_posted,
                    credits_pending: account.credits_pending,
                    credits_posted: account.credits_posted,
                },
            ));
        }
        self.accounts.insert(account.id, account);
    }

    fn create_payout(&mut self, request: &NewPayout, timestamp: u64, day: i64) -> Outcome {
        if request.flags.0 & !TransferFlags::LINKED.0 != 0 {
            return Err(R::ReservedFlag);
        }
        check_id(request.id)?;
        check_account_ids(request.debit_account_id, request.credit_account_id)?;
        check_ledger_code_amount(request.ledger, request.code, request.amount)?;
        if request.bank == 0 {
            return Err(R::BankMustNotBeZero);
        }
        if request.beneficiary.is_empty() {
            return Err(R::BeneficiaryMustNotBeEmpty);
        }
        if request.beneficiary.len() > TEXT_BYTES_MAX {
            return Err(R::TextTooLong);
        }
        if let Some(existing) = self.payouts.get(&request.id) {
            let differences = [
                (
                    existing.debit_account_id != request.debit_account_id,
                    R::ExistsWithDifferentDebitAccountId,
                ),
                (
                    existing.credit_account_id != request.credit_account_id,
                    R::ExistsWithDifferentCreditAccountId,
                ),
                (existing.amount != request.amount, R::ExistsWithDifferentAmount),
                (existing.user_data != request.user_data, R::ExistsWithDifferentUserData),
                (existing.ledger != request.ledger, R::ExistsWithDifferentLedger),
                (existing.code != request.code, R::ExistsWithDifferentCode),
                (existing.bank != request.bank, R::ExistsWithDifferentBank),
                (existing.beneficiary != request.beneficiary, R::ExistsWithDifferentBeneficiary),
            ];
            if let Some((_, code)) = differences.iter().find(|(differs, _)| *differs) {
                return Err(*code);
            }
            return Ok(EventResult {
                code: R::Exists,
                timestamp: existing.created_at,
                detail: Detail::Amount(existing.amount),
            });
        }
        if self.transfers.contains_key(&request.id) {
            return Err(R::IdAlreadyUsed);
        }
        if self.refusals.contains_key(&request.id) {
            return Err(R::IdAlreadyFailed);
        }
        let (mut debit, mut credit) = self.movement_accounts(
            request.debit_account_id,
            request.credit_account_id,
            request.ledger,
        )?;
        check_status(&debit, &credit)?;
        let usage = check_limits(&debit, request.amount, day)?;
        check_debit(&debit, request.amount, true)?;
        check_credit(&credit, request.amount, true)?;

        debit.debits_pending += request.amount;
        debit.outflow_usage = usage;
        credit.credits_pending += request.amount;
        self.store_moved(debit, timestamp);
        self.store_moved(credit, timestamp);
        self.transfers.insert(
            request.id,
            Transfer {
                id: request.id,
                debit_account_id: request.debit_account_id,
                credit_account_id: request.credit_account_id,
                amount: request.amount,
                amount_requested: request.amount,
                pending_id: 0,
                user_data: request.user_data,
                timeout: 0,
                ledger: request.ledger,
                code: request.code,
                flags: TransferFlags::PENDING,
                timestamp,
            },
        );
        self.pending.insert(
            request.id,
            PendingTransfer {
                id: request.id,
                status: PendingStatus::Pending,
                expires_at: 0,
                payout: true,
                amount_posted: 0,
                resolved_by: 0,
                resolved_at: 0,
            },
        );
        self.payouts.insert(
            request.id,
            Payout {
                id: request.id,
                debit_account_id: request.debit_account_id,
                credit_account_id: request.credit_account_id,
                amount: request.amount,
                user_data: request.user_data,
                ledger: request.ledger,
                code: request.code,
                bank: request.bank,
                beneficiary: request.beneficiary.clone(),
                state: PayoutState::Reserved,
                fencing_token: 0,
                worker_id: 0,
                lease_until: 0,
                created_at: timestamp,
                updated_at: timestamp,
            },
        );
        Ok(ok_amount(timestamp, request.amount))
    }

    fn claim(&mut self, request: &ClaimPayouts, timestamp: u64) -> Outcome {
        if request.worker_id == 0 {
            return Err(R::WorkerIdMustNotBeZero);
        }
        if request.bank == 0 {
            return Err(R::BankMustNotBeZero);
        }
        if request.max == 0 || request.max > PAYOUT_CLAIM_MAX {
            return Err(R::ClaimMaxOutOfRange);
        }
        if request.lease_ms < PAYOUT_LEASE_MS_MIN || request.lease_ms > PAYOUT_LEASE_MS_MAX {
            return Err(R::LeaseOutOfRange);
        }
        let lease_until = request
            .lease_ms
            .checked_mul(NANOS_PER_MILLI)
            .and_then(|lease| timestamp.checked_add(lease))
            .ok_or(R::OverflowsTimeout)?;
        // Expired leases first (claimed, sent, unknown; oldest lease first), then reserved
        // payouts in creation order.
        let mut chosen: Vec<u128> = Vec::new();
        for state in [PayoutState::Claimed, PayoutState::Sent, PayoutState::Unknown] {
            let mut expired: Vec<(u64, u128)> = self
                .payouts
                .values()
                .filter(|p| p.bank == request.bank && p.state == state)
                .filter(|p| p.lease_until <= timestamp)
                .map(|p| (p.lease_until, p.id))
                .collect();
            expired.sort_unstable();
            chosen.extend(expired.into_iter().map(|(_, id)| id));
        }
        let mut reserved: Vec<(u64, u128)> = self
            .payouts
            .values()
            .filter(|p| p.bank == request.bank && p.state == PayoutState::Reserved)
            .map(|p| (p.created_at, p.id))
            .collect();
        reserved.sort_unstable();
        chosen.extend(reserved.into_iter().map(|(_, id)| id));
        chosen.truncate(request.max as usize);

        let mut claims = Vec::with_capacity(chosen.len());
        for id in chosen {
            let payout = self.payouts.get_mut(&id).expect("chosen payout exists");
            let must_inquire_first = payout.fencing_token != 0;
            payout.fencing_token += 1;
            payout.state = PayoutState::Claimed;
            payout.worker_id = request.worker_id;
            payout.lease_until = lease_until;
            payout.updated_at = timestamp;
            claims.push(PayoutClaim { payout: payout.clone(), must_inquire_first });
        }
        Ok(EventResult { code: R::Ok, timestamp, detail: Detail::Claims(claims) })
    }

    fn record_outcome(&mut self, request: &RecordPayoutOutcome, timestamp: u64) -> Outcome {
        check_id(request.payout_id)?;
        if request.worker_id == 0 {
            return Err(R::WorkerIdMustNotBeZero);
        }
        let payout = self.payouts.get(&request.payout_id).ok_or(R::PayoutNotFound)?.clone();
        let target = match request.outcome {
            PayoutOutcome::Sent => PayoutState::Sent,
            PayoutOutcome::Unknown => PayoutState::Unknown,
            PayoutOutcome::Succeeded => PayoutState::Succeeded,
            PayoutOutcome::Failed => PayoutState::Failed,
        };
        let is_final =
            |state: PayoutState| matches!(state, PayoutState::Succeeded | PayoutState::Failed);
        if is_final(payout.state) {
            let retry = payout.state == target
                && payout.fencing_token == request.fencing_token
                && payout.worker_id == request.worker_id;
            if retry {
                return Ok(EventResult::code(R::Exists, payout.updated_at));
            }
            return Err(R::PayoutAlreadyFinal);
        }
        if payout.state == PayoutState::Reserved {
            return Err(R::PayoutNotClaimed);
        }
        if payout.fencing_token != request.fencing_token {
            return Err(R::FencingTokenStale);
        }
        if payout.worker_id != request.worker_id {
            return Err(R::PayoutClaimedByAnotherWorker);
        }
        if payout.lease_until <= timestamp {
            return Err(R::PayoutLeaseExpired);
        }
        if payout.state == target {
            return Ok(EventResult::code(R::Ok, timestamp));
        }
        if is_final(target) {
            let reservation = self.transfers[&payout.id];
            let posted = if target == PayoutState::Succeeded { reservation.amount } else { 0 };
            self.settle(&reservation, posted, timestamp);
            let state = self.pending.get_mut(&payout.id).expect("payout reservation state");
            state.status = if target == PayoutState::Succeeded {
                PendingStatus::Posted
            } else {
                PendingStatus::Voided
            };
            state.amount_posted = posted;
            state.resolved_by = payout.id;
            state.resolved_at = timestamp;
        }
        let stored = self.payouts.get_mut(&payout.id).expect("payout exists");
        stored.state = target;
        stored.updated_at = timestamp;
        Ok(EventResult::code(R::Ok, timestamp))
    }

    fn book_collection(&mut self, request: &NewCollection, timestamp: u64) -> Outcome {
        check_id(request.id)?;
        if request.bank == 0 {
            return Err(R::BankMustNotBeZero);
        }
        if request.bank_reference.is_empty() {
            return Err(R::BankReferenceMustNotBeEmpty);
        }
        if request.bank_reference.len() > TEXT_BYTES_MAX {
            return Err(R::TextTooLong);
        }
        check_ledger_code_amount(request.ledger, request.code, request.amount)?;
        let key =
            CollectionKey { bank: request.bank, bank_reference: request.bank_reference.clone() };
        if let Some(existing) = self.collections.get(&key) {
            let booked = &existing.request;
            if booked.id != request.id {
                return Err(R::CollectionExistsWithDifferentId);
            }
            if booked.amount != request.amount {
                return Err(R::CollectionExistsWithDifferentAmount);
            }
            if booked.beneficiary_account_id != request.beneficiary_account_id {
                return Err(R::CollectionExistsWithDifferentBeneficiary);
            }
            let same_accounts = booked.settlement_account_id == request.settlement_account_id
                && booked.suspense_account_id == request.suspense_account_id
                && booked.ledger == request.ledger
                && booked.code == request.code
                && booked.user_data == request.user_data;
            if !same_accounts {
                return Err(R::CollectionExistsWithDifferentAccounts);
            }
            return Ok(EventResult {
                code: R::Exists,
                timestamp: existing.timestamp,
                detail: Detail::Collection {
                    credited_account_id: existing.credited_account_id,
                    suspense: existing.suspense,
                },
            });
        }
        if self.transfers.contains_key(&request.id) {
            return Err(R::IdAlreadyUsed);
        }
        if self.refusals.contains_key(&request.id) {
            return Err(R::IdAlreadyFailed);
        }
        let on_ledger = |id: u128| self.accounts.get(&id).filter(|a| a.ledger == request.ledger);
        let mut settlement =
            *on_ledger(request.settlement_account_id).ok_or(R::SettlementAccountNotFound)?;
        let suspense = *on_ledger(request.suspense_account_id).ok_or(R::SuspenseAccountNotFound)?;
        if settlement.id == suspense.id {
            return Err(R::AccountsMustBeDifferent);
        }
        match settlement.status {
            AccountStatus::Frozen => return Err(R::DebitAccountFrozen),
            AccountStatus::Closed => return Err(R::DebitAccountClosed),
            AccountStatus::Active | AccountStatus::OutflowBlocked => {}
        }
        check_debit(&settlement, request.amount, false)?;
        let beneficiary = self.accounts.get(&request.beneficiary_account_id).copied();
        let refusal = match beneficiary {
            None => Some(Reason::BeneficiaryNotFound),
            Some(b) if b.ledger != request.ledger => Some(Reason::BeneficiaryOnAnotherLedger),
            Some(b) if b.status == AccountStatus::Frozen => Some(Reason::BeneficiaryFrozen),
            Some(b) if b.status == AccountStatus::Closed => Some(Reason::BeneficiaryClosed),
            Some(b)
                if b.id == settlement.id || check_credit(&b, request.amount, false).is_err() =>
            {
                Some(Reason::BeneficiaryCannotTakeCredit)
            }
            Some(_) => None,
        };
        let mut credited = match (refusal, beneficiary) {
            (None, Some(beneficiary)) => beneficiary,
            _ => {
                match suspense.status {
                    AccountStatus::Frozen => return Err(R::CreditAccountFrozen),
                    AccountStatus::Closed => return Err(R::CreditAccountClosed),
                    AccountStatus::Active | AccountStatus::OutflowBlocked => {}
                }
                check_credit(&suspense, request.amount, false)?;
                suspense
            }
        };
        settlement.debits_posted += request.amount;
        credited.credits_posted += request.amount;
        self.store_moved(settlement, timestamp);
        self.store_moved(credited, timestamp);
        self.transfers.insert(
            request.id,
            Transfer {
                id: request.id,
                debit_account_id: settlement.id,
                credit_account_id: credited.id,
                amount: request.amount,
                amount_requested: request.amount,
                pending_id: 0,
                user_data: request.user_data,
                timeout: 0,
                ledger: request.ledger,
                code: request.code,
                flags: TransferFlags::NONE,
                timestamp,
            },
        );
        self.collections.insert(
            key,
            Collection {
                request: request.clone(),
                credited_account_id: credited.id,
                suspense: refusal,
                timestamp,
            },
        );
        Ok(EventResult {
            code: R::Ok,
            timestamp,
            detail: Detail::Collection { credited_account_id: credited.id, suspense: refusal },
        })
    }

    /// Compares every record of the model with `store`; the first difference is an error.
    pub fn compare(&self, store: &MemoryStore) -> Result<(), String> {
        let dump = tianping_ledger::invariants::StateDump::load(store);
        if store.meta().last_timestamp != self.last_timestamp {
            return Err(format!(
                "last_timestamp: model {} store {}",
                self.last_timestamp,
                store.meta().last_timestamp
            ));
        }
        compare_map("account", &self.accounts, &dump.accounts)?;
        compare_map("transfer", &self.transfers, &dump.transfers)?;
        compare_map("pending transfer", &self.pending, &dump.pending_transfers)?;
        compare_map("payout", &self.payouts, &dump.payouts)?;
        let mut stored_collections = 0;
        store.visit_table(tianping_ledger::Table::Collections, &mut |_, _| {
            stored_collections += 1;
        });
        if stored_collections != self.collections.len() {
            return Err(format!(
                "collections: model has {}, store has {stored_collections}",
                self.collections.len()
            ));
        }
        for (key, expected) in &self.collections {
            let actual = store.collection(key);
            if actual.as_ref() != Some(expected) {
                return Err(format!("collection {key:?}: model {expected:?}, store {actual:?}"));
            }
        }
        self.compare_history(store)?;
        let stored_refusals: BTreeMap<u128, (ResultCode, u64)> =
            dump.refusals.values().map(|r| (r.id, (r.code, r.timestamp))).collect();
        compare_map("refusal", &self.refusals, &stored_refusals)?;
        let audit = tianping_ledger::query::audit_records(store, 0, usize::MAX);
        if audit != self.audit {
            return Err(format!("audit records: model {:?}, store {audit:?}", self.audit));
        }
        Ok(())
    }

    /// Every transfer is in both accounts' histories and nothing else is; every balance
    /// change of a `HISTORY` account left its snapshot.
    fn compare_history(&self, store: &MemoryStore) -> Result<(), String> {
        let mut entries = BTreeSet::new();
        store.visit_table(Table::AccountTransfers, &mut |key, _| {
            entries.insert(codec::decode_account_transfer_key(key).map_err(|e| e.to_string()));
        });
        let expected: BTreeSet<Result<AccountTransferEntry, String>> = self
            .transfers
            .values()
            .flat_map(|t| {
                [t.debit_account_id, t.credit_account_id].map(|account_id| {
                    Ok(AccountTransferEntry {
                        account_id,
                        timestamp: t.timestamp,
                        transfer_id: t.id,
                    })
                })
            })
            .collect();
        if entries != expected {
            let extra: Vec<_> = entries.difference(&expected).collect();
            let missing: Vec<_> = expected.difference(&entries).collect();
            return Err(format!("account history: extra {extra:?}, missing {missing:?}"));
        }
        let as_tuple = |account_id: u128, b: &AccountBalance| {
            let balances = (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted);
            (account_id, b.timestamp, balances)
        };
        let mut snapshots = BTreeSet::new();
        let mut undecodable = 0;
        store.visit_table(Table::AccountBalances, &mut |key, value| match (
            codec::decode_account_balance_key(key),
            codec::decode_value::<AccountBalance>(value, "balance"),
        ) {
            (Ok((account_id, _)), Ok(balance)) => {
                snapshots.insert(as_tuple(account_id, &balance));
            }
            _ => undecodable += 1,
        });
        let expected: BTreeSet<_> =
            self.balance_history.iter().map(|(id, balance)| as_tuple(*id, balance)).collect();
        if undecodable != 0 || snapshots != expected || expected.len() != self.balance_history.len()
        {
            let extra: Vec<_> = snapshots.difference(&expected).collect();
            let missing: Vec<_> = expected.difference(&snapshots).collect();
            return Err(format!("balance snapshots: extra {extra:?}, missing {missing:?}"));
        }
        Ok(())
    }

    /// Per ledger: (debits pending, credits pending, debits posted, credits posted), summed
    /// without overflow as (carries, low) pairs.
    pub fn ledger_sums(accounts: impl Iterator<Item = Account>) -> BTreeMap<u32, [Wide; 4]> {
        let mut sums: BTreeMap<u32, [Wide; 4]> = BTreeMap::new();
        for account in accounts {
            let entry = sums.entry(account.ledger).or_default();
            entry[0].add(account.debits_pending);
            entry[1].add(account.credits_pending);
            entry[2].add(account.debits_posted);
            entry[3].add(account.credits_posted);
        }
        sums
    }
}

/// A sum of u128 values that cannot overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wide {
    high: u64,
    low: u128,
}

impl Wide {
    pub fn add(&mut self, value: u128) {
        let (low, carry) = self.low.overflowing_add(value);
        self.low = low;
        self.high += u64::from(carry);
    }
}

fn compare_map<V: PartialEq + std::fmt::Debug>(
    what: &str,
    model: &BTreeMap<u128, V>,
    store: &BTreeMap<u128, V>,
) -> Result<(), String> {
    for (id, expected) in model {
        match store.get(id) {
            Some(actual) if actual == expected => {}
            actual => return Err(format!("{what} {id}: model {expected:?}, store {actual:?}")),
        }
    }
    if let Some(extra) = store.keys().find(|id| !model.contains_key(id)) {
        return Err(format!("{what} {extra} is stored but the model has none: {:?}", store[extra]));
    }
    Ok(())
}

/// Idempotency of transfers: the first differing field names the code.
fn compare_transfer(existing: &Transfer, request: &NewTransfer) -> Outcome {
    let resolving =
        request.flags.0 & (TransferFlags::POST_PENDING.0 | TransferFlags::VOID_PENDING.0) != 0;
    // For post/void, zero account ids, ledger and code mean "as the pending transfer".
    let differs =
        |requested: u128, stored: u128| !(resolving && requested == 0) && requested != stored;
    let checks = [
        (
            request.flags.0 & !TransferFlags::LINKED.0 != existing.flags.0,
            R::TransferExistsWithDifferentFlags,
        ),
        (request.pending_id != existing.pending_id, R::ExistsWithDifferentPendingId),
        (request.timeout != existing.timeout, R::ExistsWithDifferentTimeout),
        (
            differs(request.debit_account_id, existing.debit_account_id),
            R::ExistsWithDifferentDebitAccountId,
        ),
        (
            differs(request.credit_account_id, existing.credit_account_id),
            R::ExistsWithDifferentCreditAccountId,
        ),
        (request.amount != existing.amount_requested, R::ExistsWithDifferentAmount),
        (request.user_data != existing.user_data, R::ExistsWithDifferentUserData),
        (differs(request.ledger.into(), existing.ledger.into()), R::ExistsWithDifferentLedger),
        (differs(request.code.into(), existing.code.into()), R::ExistsWithDifferentCode),
    ];
    if let Some((_, code)) = checks.iter().find(|(differs, _)| *differs) {
        return Err(*code);
    }
    Ok(EventResult {
        code: R::Exists,
        timestamp: existing.timestamp,
        detail: Detail::Amount(existing.amount),
    })
}
