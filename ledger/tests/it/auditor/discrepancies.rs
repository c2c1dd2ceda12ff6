//! Discrepancies: which accounts a discrepancy holds is not a stored table in the model but a
//! question asked of its open discrepancies (`holds`), and whether an account's block is a
//! discrepancy's is read from the account's audit trail (its last status change was filed at
//! a recording's time), not from an index. Recording and resolving are decided by ordered
//! rule tables over facts gathered first.

use std::collections::{BTreeMap, BTreeSet};

use tianping_ledger::{
    AccountStatus, AuditAction, AuditRecord, DISCREPANCY_ACCOUNTS_MAX, Discrepancy,
    DiscrepancyBlock, DiscrepancyState, EVIDENCE_BYTES_MAX, EventResult, NewDiscrepancy,
    ResolveDiscrepancy, ResultCode as R, TEXT_BYTES_MAX,
};

use super::rules::{Ground::Identity, Ground::Request, Ground::State, Rule, first, rule};
use super::{Auditor, Verdict};

/// What a report is judged on.
pub struct Report {
    request: NewDiscrepancy,
    /// The discrepancy already recorded under the id.
    recorded: Option<Discrepancy>,
    /// A named account that does not exist.
    missing_account: bool,
}

impl Report {
    /// The first named account id that is no id at all (zero or `u128::MAX`), if any.
    fn first_invalid_account(&self) -> Option<u128> {
        self.request.account_ids.iter().copied().find(|id| *id == 0 || *id == u128::MAX)
    }

    /// The same difference: bank, class, reference and the set of accounts.
    fn recorded_differs(&self) -> bool {
        let set = |ids: &[u128]| ids.iter().copied().collect::<BTreeSet<u128>>();
        self.recorded.as_ref().is_some_and(|recorded| {
            let (was, is) = (&recorded.request, &self.request);
            (was.bank, was.class, &was.reference) != (is.bank, is.class, &is.reference)
                || set(&was.account_ids) != set(&is.account_ids)
        })
    }
}

const REPORT_SHAPE: &[Rule<Report>] = &[
    rule(R::IdMustNotBeZero, Request, |f| f.request.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |f| f.request.id == u128::MAX),
    rule(R::BankMustNotBeZero, Request, |f| f.request.bank == 0),
    rule(R::BankReferenceMustNotBeEmpty, Request, |f| f.request.reference.is_empty()),
    rule(R::TextTooLong, Request, |f| f.request.reference.len() > TEXT_BYTES_MAX),
    rule(R::TextTooLong, Request, |f| {
        f.request.ledger_evidence.len().max(f.request.bank_evidence.len()) > EVIDENCE_BYTES_MAX
    }),
    rule(R::ActorMustNotBeEmpty, Request, |f| f.request.actor.is_empty()),
    rule(R::TextTooLong, Request, |f| f.request.actor.len() > TEXT_BYTES_MAX),
    rule(R::TooManyDiscrepancyAccounts, Request, |f| {
        f.request.account_ids.len() > DISCREPANCY_ACCOUNTS_MAX
    }),
    rule(R::IdMustNotBeZero, Request, |f| f.first_invalid_account() == Some(0)),
    rule(R::IdMustNotBeIntMax, Request, |f| f.first_invalid_account() == Some(u128::MAX)),
    rule(R::AccountsMustBeDifferent, Request, |f| {
        let distinct: BTreeSet<&u128> = f.request.account_ids.iter().collect();
        distinct.len() != f.request.account_ids.len()
    }),
];

/// One record per difference: a second report of it is `exists`, whatever its words.
const REPORT_IDENTITY: &[Rule<Report>] = &[
    rule(R::DiscrepancyExistsWithDifferentFields, Identity, Report::recorded_differs),
    rule(R::Exists, Identity, |f| f.recorded.is_some()),
];

const REPORT_ACCOUNTS: &[Rule<Report>] = &[rule(R::AccountNotFound, State, |f| f.missing_account)];

/// What a resolution is judged on.
pub struct Resolution {
    request: ResolveDiscrepancy,
    recorded: Option<Discrepancy>,
}

impl Resolution {
    fn resolved(&self) -> Option<&Discrepancy> {
        self.recorded.as_ref().filter(|d| d.state == DiscrepancyState::Resolved)
    }
}

const RESOLUTION_SHAPE: &[Rule<Resolution>] = &[
    rule(R::IdMustNotBeZero, Request, |f| f.request.id == 0),
    rule(R::IdMustNotBeIntMax, Request, |f| f.request.id == u128::MAX),
    rule(R::ReasonMustNotBeEmpty, Request, |f| f.request.reason.is_empty()),
    rule(R::ActorMustNotBeEmpty, Request, |f| f.request.actor.is_empty()),
    rule(R::TextTooLong, Request, |f| {
        f.request.reason.len().max(f.request.actor.len()) > TEXT_BYTES_MAX
    }),
];

/// A resolution happens once; its own retry is `exists`.
const RESOLUTION_STATE: &[Rule<Resolution>] = &[
    rule(R::DiscrepancyNotFound, State, |f| f.recorded.is_none()),
    rule(R::Exists, Identity, |f| {
        f.resolved().is_some_and(|d| {
            (d.resolution.as_str(), d.resolved_by.as_str())
                == (f.request.reason.as_str(), f.request.actor.as_str())
        })
    }),
    rule(R::DiscrepancyAlreadyResolved, Identity, |f| f.resolved().is_some()),
];

impl Auditor {
    /// Who holds what: every open discrepancy holds every account it names.
    pub fn holds(&self) -> BTreeSet<DiscrepancyBlock> {
        self.discrepancies
            .values()
            .filter(|d| d.state == DiscrepancyState::Open)
            .flat_map(|d| {
                d.request.account_ids.iter().map(|&account_id| DiscrepancyBlock {
                    account_id,
                    discrepancy_id: d.request.id,
                })
            })
            .collect()
    }

    /// The discrepancy index as it should stand: every recording under its time.
    pub fn discrepancy_index(&self) -> BTreeMap<u64, u128> {
        self.discrepancies.values().map(|d| (d.timestamp, d.request.id)).collect()
    }

    /// Whether `account_id`'s last status change, per its audit trail, was a discrepancy's
    /// recording.
    fn blocked_by_recording(&self, account_id: u128) -> bool {
        let recordings: BTreeSet<u64> = self.discrepancies.values().map(|d| d.timestamp).collect();
        self.audit
            .iter()
            .rev()
            .find(|record| {
                record.account_id == account_id
                    && matches!(record.action, AuditAction::Status { .. })
            })
            .is_some_and(|record| recordings.contains(&record.timestamp))
    }

    /// Predicts a reconciler's report.
    pub(super) fn record_discrepancy(
        &mut self,
        request: &NewDiscrepancy,
        timestamp: u64,
    ) -> Verdict {
        let report = Report {
            request: request.clone(),
            recorded: self.discrepancies.get(&request.id).cloned(),
            missing_account: request.account_ids.iter().any(|id| !self.accounts.contains_key(id)),
        };
        match (first(&[REPORT_SHAPE, REPORT_IDENTITY, REPORT_ACCOUNTS], &report), &report.recorded)
        {
            (Some((R::Exists, _)), Some(recorded)) => {
                return Ok(EventResult::code(R::Exists, recorded.timestamp));
            }
            (Some(refusal), _) => return Err(refusal),
            (None, _) => {}
        }
        let reason =
            format!("discrepancy {:#034x} ({}): outflow blocked", request.id, request.class.name());
        let mut moved = Vec::new();
        let mut audit = Vec::new();
        for &account_id in &request.account_ids {
            let account = self.accounts.get_mut(&account_id).expect("checked: it exists");
            if account.status == AccountStatus::Active {
                account.status = AccountStatus::OutflowBlocked;
                account.status_changed_at = timestamp;
                moved.push(account_id);
                audit.push(AuditRecord {
                    timestamp,
                    account_id,
                    action: AuditAction::Status {
                        from: AccountStatus::Active,
                        to: AccountStatus::OutflowBlocked,
                    },
                    reason: reason.clone(),
                    actor: request.actor.clone(),
                });
            }
        }
        self.audit.extend(audit);
        self.discrepancies.insert(
            request.id,
            Discrepancy {
                request: request.clone(),
                blocked_account_ids: moved,
                state: DiscrepancyState::Open,
                timestamp,
                resolved_at: 0,
                resolution: String::new(),
                resolved_by: String::new(),
            },
        );
        Ok(EventResult::code(R::Ok, timestamp))
    }

    /// Predicts an operator's resolution.
    pub(super) fn resolve_discrepancy(
        &mut self,
        request: &ResolveDiscrepancy,
        timestamp: u64,
    ) -> Verdict {
        let resolution = Resolution {
            request: request.clone(),
            recorded: self.discrepancies.get(&request.id).cloned(),
        };
        match (first(&[RESOLUTION_SHAPE, RESOLUTION_STATE], &resolution), resolution.resolved()) {
            (Some((R::Exists, _)), Some(resolved)) => {
                return Ok(EventResult::code(R::Exists, resolved.resolved_at));
            }
            (Some(refusal), _) => return Err(refusal),
            (None, _) => {}
        }
        let mut discrepancy = resolution.recorded.expect("`discrepancy_not_found` comes first");
        discrepancy.state = DiscrepancyState::Resolved;
        discrepancy.resolved_at = timestamp;
        discrepancy.resolution = request.reason.clone();
        discrepancy.resolved_by = request.actor.clone();
        let class = discrepancy.request.class;
        let named = discrepancy.request.account_ids.clone();
        self.discrepancies.insert(request.id, discrepancy);
        // With this one resolved, who still holds each account it named?
        let still_held: BTreeSet<u128> = self.holds().iter().map(|b| b.account_id).collect();
        let reason = format!("discrepancy {:#034x} ({}): resolved", request.id, class.name());
        for account_id in named {
            if still_held.contains(&account_id)
                && self.accounts[&account_id].status == AccountStatus::OutflowBlocked
            {
                self.blocks_kept += 1;
            }
            let lift = !still_held.contains(&account_id)
                && self.accounts[&account_id].status == AccountStatus::OutflowBlocked
                && self.blocked_by_recording(account_id);
            if !lift {
                continue;
            }
            let account = self.accounts.get_mut(&account_id).expect("a named account exists");
            account.status = AccountStatus::Active;
            account.status_changed_at = timestamp;
            self.audit.push(AuditRecord {
                timestamp,
                account_id,
                action: AuditAction::Status {
                    from: AccountStatus::OutflowBlocked,
                    to: AccountStatus::Active,
                },
                reason: reason.clone(),
                actor: request.actor.clone(),
            });
        }
        Ok(EventResult::code(R::Ok, timestamp))
    }
}
