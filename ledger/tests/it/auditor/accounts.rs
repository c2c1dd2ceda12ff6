//! Accounts: creation and the audited status and limit changes, as ordered rules.

use tianping_ledger::{
    Account, AccountFlags as F, AccountLimitsChange, AccountStatus, AccountStatusChange,
    AuditAction, AuditRecord, ControlChange, ControlTarget, EventResult, Limits, NewAccount,
    OutflowUsage, ResultCode as R, SetAccountLimits, SetAccountStatus, TEXT_BYTES_MAX,
};

use super::balances::settled;
use super::rules::{Ground::Identity, Ground::Request, Ground::State, Rule, first, rule};
use super::{Auditor, Verdict};

/// Every account flag the ledger knows.
const KNOWN: u16 = F::LINKED.0
    | F::DEBITS_MUST_NOT_EXCEED_CREDITS.0
    | F::CREDITS_MUST_NOT_EXCEED_DEBITS.0
    | F::HISTORY.0;

/// A new account and the one already filed under its id.
type Opening = (NewAccount, Option<Account>);

fn flag(request: &NewAccount, flag: F) -> bool {
    request.flags.0 & flag.0 != 0
}

/// The account filed under the id differs from the request in a field.
fn filed_differs<T: PartialEq>(opening: &Opening, field: fn(&Account) -> T, requested: T) -> bool {
    opening.1.as_ref().is_some_and(|filed| field(filed) != requested)
}

const OPEN: &[Rule<Opening>] = &[
    rule(R::ReservedFlag, Request, |(a, _)| a.flags.0 & !KNOWN != 0),
    rule(R::IdMustNotBeZero, Request, |(a, _)| a.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |(a, _)| a.id == u128::MAX),
    rule(R::FlagsAreMutuallyExclusive, Request, |(a, _)| {
        flag(a, F::DEBITS_MUST_NOT_EXCEED_CREDITS) && flag(a, F::CREDITS_MUST_NOT_EXCEED_DEBITS)
    }),
    rule(R::CreditLineRequiresDebitsMustNotExceedCredits, Request, |(a, _)| {
        a.credit_line != 0 && !flag(a, F::DEBITS_MUST_NOT_EXCEED_CREDITS)
    }),
    rule(R::LedgerMustNotBeZero, Request, |(a, _)| a.ledger == 0),
    rule(R::CodeMustNotBeZero, Request, |(a, _)| a.code == 0),
    rule(R::ExistsWithDifferentFlags, Identity, |o| {
        filed_differs(o, |filed| filed.flags.0, o.0.flags.0 & !F::LINKED.0)
    }),
    rule(R::ExistsWithDifferentCreditLine, Identity, |o| {
        filed_differs(o, |filed| filed.credit_line, o.0.credit_line)
    }),
    rule(R::ExistsWithDifferentUserData, Identity, |o| {
        filed_differs(o, |filed| filed.user_data, o.0.user_data)
    }),
    rule(R::ExistsWithDifferentLedger, Identity, |o| {
        filed_differs(o, |filed| filed.ledger, o.0.ledger)
    }),
    rule(R::ExistsWithDifferentCode, Identity, |o| filed_differs(o, |filed| filed.code, o.0.code)),
    rule(R::Exists, Identity, |(_, filed)| filed.is_some()),
];

/// An operator's change: account id, reason and actor, and the account it names.
struct Change<T> {
    account_id: u128,
    reason_bytes: usize,
    actor_bytes: usize,
    target: T,
    account: Option<Account>,
}

impl<T> Change<T> {
    fn account(&self) -> &Account {
        self.account.as_ref().expect("`account_not_found` comes first")
    }
}

/// Who asks and why, then the account: shared by every audited change.
macro_rules! change_shape {
    () => {
        [
            rule(R::IdMustNotBeZero, Request, |c| c.account_id == 0),
            rule(R::IdMustNotBeIntMax, Request, |c| c.account_id == u128::MAX),
            rule(R::ReasonMustNotBeEmpty, Request, |c| c.reason_bytes == 0),
            rule(R::ActorMustNotBeEmpty, Request, |c| c.actor_bytes == 0),
            rule(R::TextTooLong, Request, |c| c.reason_bytes.max(c.actor_bytes) > TEXT_BYTES_MAX),
            rule(R::AccountNotFound, State, |c| c.account.is_none()),
        ]
    };
}

const STATUS_SHAPE: &[Rule<Change<AccountStatus>>] = &change_shape!();
const LIMITS_SHAPE: &[Rule<Change<Limits>>] = &change_shape!();

/// Setting the status in force again is a safe retry; a closed account stays closed; an
/// account closes only when settled.
const STATUS_CHANGE: &[Rule<Change<AccountStatus>>] = &[
    rule(R::Ok, Identity, |c| c.account().status == c.target),
    rule(R::AccountClosed, State, |c| c.account().status == AccountStatus::Closed),
    rule(R::CloseRequiresZeroBalance, State, |c| {
        c.target == AccountStatus::Closed && !settled(c.account())
    }),
];

/// Setting the limits in force again is a safe retry; a closed account takes no limits.
const LIMITS_CHANGE: &[Rule<Change<Limits>>] = &[
    rule(R::Ok, Identity, |c| c.account().limits == c.target),
    rule(R::AccountClosed, State, |c| c.account().status == AccountStatus::Closed),
];

/// A control change with an id and an expected version: what it asks, what is filed under
/// its id, and the version the model counts for its account (status and limits audit records
/// filed so far — a count over the trail, where the ledger keeps a counter).
struct Versioned {
    id: u128,
    account_id: u128,
    reason_bytes: usize,
    actor_bytes: usize,
    target: ControlTarget,
    expected: u64,
    counted: u64,
    exists: bool,
    filed: Option<ControlChange>,
}

/// Who and why, then the id (the same change again is `exists`, another one under the id
/// `exists_with_different_change`), then the account and whether the change was decided on
/// the controls in force.
const VERSIONED: &[Rule<Versioned>] = &[
    rule(R::IdMustNotBeZero, Request, |v| v.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |v| v.id == u128::MAX),
    rule(R::ReasonMustNotBeEmpty, Request, |v| v.reason_bytes == 0),
    rule(R::ActorMustNotBeEmpty, Request, |v| v.actor_bytes == 0),
    rule(R::TextTooLong, Request, |v| v.reason_bytes.max(v.actor_bytes) > TEXT_BYTES_MAX),
    rule(R::ExistsWithDifferentChange, Identity, |v| {
        v.filed.is_some_and(|filed| (filed.account_id, filed.target) != (v.account_id, v.target))
    }),
    rule(R::Exists, Identity, |v| v.filed.is_some()),
    rule(R::AccountNotFound, State, |v| !v.exists),
    rule(R::ControlsVersionStale, State, |v| v.expected != v.counted),
];

/// The account an audited change applies to, or the verdict of the rule that answered
/// (`ok` for a change already in force, which changes nothing).
fn decide<T>(
    change: &Change<T>,
    tables: &[&[Rule<Change<T>>]],
    timestamp: u64,
) -> Result<Account, Verdict> {
    match first(tables, change) {
        None => Ok(*change.account()),
        Some((R::Ok, _)) => Err(Ok(EventResult::code(R::Ok, timestamp))),
        Some(refusal) => Err(Err(refusal)),
    }
}

impl Auditor {
    /// Predicts a create-account event.
    pub(super) fn create_account(&mut self, request: &NewAccount, timestamp: u64) -> Verdict {
        let opening = (*request, self.accounts.get(&request.id).copied());
        match (first(&[OPEN], &opening), opening.1) {
            (Some((R::Exists, _)), Some(filed)) => {
                Ok(EventResult::code(R::Exists, filed.timestamp))
            }
            (Some(refusal), _) => Err(refusal),
            (None, _) => {
                let NewAccount { id, ledger, code, credit_line, user_data, .. } = *request;
                let flags = F(request.flags.0 & !F::LINKED.0);
                let (debits_pending, debits_posted, credits_pending, credits_posted) = (0, 0, 0, 0);
                let (status, status_changed_at) = (AccountStatus::Active, 0);
                let (limits, limits_day, outflow_usage) =
                    (Limits::NONE, 0, OutflowUsage::default());
                self.accounts.insert(
                    id,
                    Account {
                        id,
                        ledger,
                        code,
                        flags,
                        credit_line,
                        user_data,
                        debits_pending,
                        debits_posted,
                        credits_pending,
                        credits_posted,
                        status,
                        status_changed_at,
                        limits,
                        limits_day,
                        outflow_usage,
                        timestamp,
                    },
                );
                Ok(EventResult::code(R::Ok, timestamp))
            }
        }
    }

    fn change<T>(&self, account_id: u128, reason: &str, actor: &str, target: T) -> Change<T> {
        let (reason_bytes, actor_bytes) = (reason.len(), actor.len());
        let account = self.accounts.get(&account_id).copied();
        Change { account_id, reason_bytes, actor_bytes, target, account }
    }

    /// Predicts a status change.
    pub(super) fn set_status(&mut self, request: &SetAccountStatus, timestamp: u64) -> Verdict {
        let SetAccountStatus { account_id, status: to, .. } = *request;
        let change = self.change(account_id, &request.reason, &request.actor, to);
        let account = match decide(&change, &[STATUS_SHAPE, STATUS_CHANGE], timestamp) {
            Ok(account) => account,
            Err(verdict) => return verdict,
        };
        let from = account.status;
        self.accounts
            .insert(account_id, Account { status: to, status_changed_at: timestamp, ..account });
        let action = AuditAction::Status { from, to };
        self.audited(account_id, action, (&request.reason, &request.actor), timestamp)
    }

    /// Predicts a limits change.
    pub(super) fn set_limits(
        &mut self,
        request: &SetAccountLimits,
        timestamp: u64,
        day: i64,
    ) -> Verdict {
        let SetAccountLimits { account_id, limits: to, .. } = *request;
        let change = self.change(account_id, &request.reason, &request.actor, to);
        let account = match decide(&change, &[LIMITS_SHAPE, LIMITS_CHANGE], timestamp) {
            Ok(account) => account,
            Err(verdict) => return verdict,
        };
        let from = account.limits;
        self.accounts.insert(account_id, Account { limits: to, limits_day: day, ..account });
        let action = AuditAction::Limits { from, to };
        self.audited(account_id, action, (&request.reason, &request.actor), timestamp)
    }

    /// How many decisions `account_id`'s controls took: status and limits changes in the
    /// audit trail, plus versioned changes that confirmed what was set.
    pub fn counted_version(&self, account_id: u128) -> u64 {
        let changes = self.audit.iter().filter(|record| {
            record.account_id == account_id
                && matches!(record.action, AuditAction::Status { .. } | AuditAction::Limits { .. })
        });
        let confirmed = self.confirmations.iter().filter(|(account, _)| *account == account_id);
        (changes.count() + confirmed.count()) as u64
    }

    /// The facts of a versioned change.
    fn versioned(
        &self,
        (id, account_id, expected): (u128, u128, u64),
        (reason, actor): (&str, &str),
        target: ControlTarget,
    ) -> Versioned {
        Versioned {
            id,
            account_id,
            reason_bytes: reason.len(),
            actor_bytes: actor.len(),
            target,
            expected,
            counted: self.counted_version(account_id),
            exists: self.accounts.contains_key(&account_id),
            filed: self.control_changes.get(&id).copied(),
        }
    }

    /// The versioned rules' verdict, when one of them answers.
    fn versioned_verdict(facts: &Versioned) -> Option<Verdict> {
        match (first(&[VERSIONED], facts), facts.filed) {
            (Some((R::Exists, _)), Some(filed)) => {
                Some(Ok(EventResult::code(R::Exists, filed.timestamp)))
            }
            (Some(refusal), _) => Some(Err(refusal)),
            (None, _) => None,
        }
    }

    /// Files an `ok` versioned change under its id, at the version its account now counts.
    fn file_change(&mut self, facts: &Versioned, verdict: Verdict, timestamp: u64) -> Verdict {
        if let Ok(result) = &verdict
            && result.code == R::Ok
        {
            if self.counted_version(facts.account_id) == facts.counted {
                // Set what was set already: no audit record, but a newer decision.
                self.confirmations.push((facts.account_id, timestamp));
            }
            let change = ControlChange {
                id: facts.id,
                account_id: facts.account_id,
                target: facts.target,
                version: self.counted_version(facts.account_id),
                timestamp,
            };
            self.control_changes.insert(facts.id, change);
        }
        verdict
    }

    /// Predicts a status change with an id and an expected version.
    pub(super) fn change_status(
        &mut self,
        request: &AccountStatusChange,
        timestamp: u64,
    ) -> Verdict {
        let facts = self.versioned(
            (request.id, request.account_id, request.expected_controls_version),
            (&request.reason, &request.actor),
            ControlTarget::Status(request.status),
        );
        if let Some(verdict) = Self::versioned_verdict(&facts) {
            return verdict;
        }
        let unconditional = SetAccountStatus {
            account_id: request.account_id,
            status: request.status,
            reason: request.reason.clone(),
            actor: request.actor.clone(),
        };
        let verdict = self.set_status(&unconditional, timestamp);
        self.file_change(&facts, verdict, timestamp)
    }

    /// Predicts a limits change with an id and an expected version.
    pub(super) fn change_limits(
        &mut self,
        request: &AccountLimitsChange,
        timestamp: u64,
        day: i64,
    ) -> Verdict {
        let facts = self.versioned(
            (request.id, request.account_id, request.expected_controls_version),
            (&request.reason, &request.actor),
            ControlTarget::Limits(request.limits),
        );
        if let Some(verdict) = Self::versioned_verdict(&facts) {
            return verdict;
        }
        let unconditional = SetAccountLimits {
            account_id: request.account_id,
            limits: request.limits,
            reason: request.reason.clone(),
            actor: request.actor.clone(),
        };
        let verdict = self.set_limits(&unconditional, timestamp, day);
        self.file_change(&facts, verdict, timestamp)
    }

    /// Files the audit record of an applied change.
    fn audited(
        &mut self,
        account_id: u128,
        action: AuditAction,
        (reason, actor): (&str, &str),
        timestamp: u64,
    ) -> Verdict {
        let (reason, actor) = (reason.to_owned(), actor.to_owned());
        self.audit.push(AuditRecord { timestamp, account_id, action, reason, actor });
        Ok(EventResult::code(R::Ok, timestamp))
    }
}
