//! What the items of one key amount to once its window has closed: matched, in flight, or
//! findings. Pure: the same items give the same verdicts in whatever order they arrived.
//!
//! **Pairing.** The key narrows the candidates; among a key's bank entries, each ledger
//! movement takes the one that agrees best — same amount and currency first, then the
//! expected direction, then a value date within `VALUE_DATE_TOLERANCE_DAYS` of the ledger's
//! business date — and among equals the earliest booked (then the smallest reference). So a
//! duplicate is always the extra entry, never the one that agrees.
//!
//! **Verdicts**, per ledger movement and the entry it paired with:
//!
//! | ledger | bank entry | verdict | blocks |
//! |---|---|---|---|
//! | payout `succeeded` | agrees | matched | — |
//! | payout `succeeded` | differs | `amount_mismatch` | debit account |
//! | payout `succeeded` | none | `missing_at_bank` | debit account |
//! | payout `failed` | any | `missing_in_ledger` (the bank paid, the ledger voided) | debit account |
//! | payout `failed` | none | consistent (`failed_unpaid`) | — |
//! | payout not final | agrees or none | in flight | — |
//! | payout not final | differs | `amount_mismatch` | debit account |
//! | collection or return | agrees | matched | — |
//! | collection or return | differs | `amount_mismatch` | account credited |
//! | collection or return | none | `missing_at_bank` | account credited |
//!
//! Entries left over under a key the ledger has: `duplicate_at_bank` (a payout's extra
//! executions block its debit account; an extra credit blocks nothing — money in threatens no
//! outflow). Entries under a key the ledger has nothing for within the window: a credit or a
//! foreign debit is `missing_in_ledger`, blocking nothing (the money belongs to no ledger
//! account); one of our payouts (a debit by end-to-end id, or a return) needs the payout's
//! state, which may lie outside the window (a return comes days later), so it becomes a
//! [`PayoutQuestion`] for the caller to answer with the payout ([`PayoutQuestion::answer`]).

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::Direction;
use tianping_bank_adapters::money::Currency;
use tianping_ledger::{DiscrepancyClass, PayoutState};

use crate::VALUE_DATE_TOLERANCE_DAYS;
use crate::counts::Counts;
use crate::evidence::{self, absent_text, bank_text, ledger_text, payout_text};
use crate::finding::Finding;
use crate::keys::{FindingKey, MatchKey};
use crate::movement::{BankRecord, LedgerMovement, LedgerPayout};

const NS_PER_MS: u64 = 1_000_000;
const MS_PER_DAY: i128 = 86_400_000;

/// The account at the bank a matcher reconciles: what every verdict needs besides the items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountContext {
    /// The bank (a payout's `bank` number).
    pub bank: u32,
    /// The account's currency: the ledger's amounts are in it, and a bank entry in another
    /// currency never agrees.
    pub currency: Currency,
    /// The ledger's business day offset from UTC (`LedgerConfig::utc_offset_seconds`), for
    /// comparing value dates.
    pub utc_offset_seconds: i32,
}

/// What closing one key produced besides counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A difference.
    Finding(Finding),
    /// Bank entries of one of our payouts the window held no ledger movement for.
    Question(PayoutQuestion),
}

/// Bank entries of payout `key.payout_id()` — its debits (`MatchKey::Payout`) or its returns
/// (`MatchKey::Return`) — that no ledger movement within the window accounts for. What they
/// mean depends on the payout's state, which the caller reads from the ledger and passes to
/// [`PayoutQuestion::answer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutQuestion {
    /// The account.
    pub context: AccountContext,
    /// The payout's debit or return key.
    pub key: MatchKey,
    /// The entries, earliest booked first.
    pub entries: Vec<BankRecord>,
}

/// The answer to a question.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// Differences.
    pub findings: Vec<Finding>,
    /// Entries of a payout still in flight.
    pub in_flight: u64,
}

impl PayoutQuestion {
    /// The payout asked about.
    pub fn payout_id(&self) -> u128 {
        self.key.payout_id().unwrap_or(0)
    }

    /// What the entries mean given the payout as the ledger has it (`None`: no such payout).
    ///
    /// Debits: no payout — `missing_in_ledger`, blocking nothing; `succeeded` — recorded paid
    /// outside this window, where its own execution was matched, so each is
    /// `duplicate_at_bank`; `failed` — the first is `missing_in_ledger` (the bank paid what the
    /// ledger voided), the rest duplicates; not final — the first is in flight (or
    /// `amount_mismatch`), the rest duplicates. Each blocks the payout's debit account.
    ///
    /// Returns: `succeeded` — `reversed_at_bank`, blocking the debit account; not final — in
    /// flight (the worker books a return once its payout is final); `failed` or no payout —
    /// `missing_in_ledger`, blocking nothing (the worker books those to suspense, and money
    /// coming back threatens no outflow).
    pub fn answer(&self, payout: Option<&LedgerPayout>) -> Answer {
        let mut answer = Answer::default();
        let payout = payout.filter(|payout| Some(payout.payout_id) == self.key.payout_id());
        for (index, entry) in self.entries.iter().enumerate() {
            let verdict = match (&self.key, payout) {
                (_, None) => Some((DiscrepancyClass::MissingInLedger, false)),
                (MatchKey::Return(_), Some(payout)) => match payout.state {
                    PayoutState::Succeeded => Some((DiscrepancyClass::ReversedAtBank, true)),
                    PayoutState::Failed => Some((DiscrepancyClass::MissingInLedger, false)),
                    _ => None,
                },
                (_, Some(payout)) => match payout.state {
                    PayoutState::Succeeded => Some((DiscrepancyClass::DuplicateAtBank, true)),
                    _ if index > 0 => Some((DiscrepancyClass::DuplicateAtBank, true)),
                    PayoutState::Failed => Some((DiscrepancyClass::MissingInLedger, true)),
                    _ if agrees(self.context, payout.amount, Direction::Debit, entry) => None,
                    _ => Some((DiscrepancyClass::AmountMismatch, true)),
                },
            };
            match verdict {
                None => answer.in_flight += 1,
                Some((class, block)) => {
                    answer.findings.push(self.finding(class, payout, entry, block));
                }
            }
        }
        answer
    }

    /// A finding about one of the question's entries.
    fn finding(
        &self,
        class: DiscrepancyClass,
        payout: Option<&LedgerPayout>,
        entry: &BankRecord,
        block: bool,
    ) -> Finding {
        let currency = self.context.currency;
        let ledger_evidence = match payout {
            Some(payout) => format!(
                "{}; nothing booked for this {} within the matching window",
                payout_text(payout, currency),
                if matches!(self.key, MatchKey::Return(_)) { "return" } else { "entry" }
            ),
            None => format!("no payout {} in the ledger", self.payout_id()),
        };
        let ledger_amount = match (class, payout) {
            (DiscrepancyClass::MissingInLedger, _) | (_, None) => None,
            (_, Some(payout)) => Some(payout.amount),
        };
        Finding {
            bank: self.context.bank,
            class,
            key: FindingKey::Match(self.key.clone()),
            bank_reference: Some(entry.bank_reference.clone()),
            ledger_amount,
            bank_amount: Some(entry.amount.minor_units),
            unexplained: None,
            ledger_evidence,
            bank_evidence: bank_text(entry),
            account_ids: match payout {
                Some(payout) if block => vec![payout.debit_account_id],
                _ => Vec::new(),
            },
            at: entry.booked_at,
        }
    }
}

/// Judges the items of `key` whose window closed: counts what agrees, pushes findings and
/// questions to `out`.
pub fn judge_key(
    context: AccountContext,
    key: &MatchKey,
    mut ledger: Vec<LedgerMovement>,
    mut bank: Vec<BankRecord>,
    counts: &mut Counts,
    out: &mut Vec<Outcome>,
) {
    bank.sort_unstable_by(|one, other| order_key(one).cmp(&order_key(other)));
    if ledger.is_empty() {
        return judge_bank_only(context, key, bank, counts, out);
    }
    if let ([movement], [entry]) = (ledger.as_slice(), bank.as_slice()) {
        // One of each (nearly every key): they pair, with nothing left over.
        return judge_pair(context, key, movement, Some(entry), counts, out);
    }
    ledger.sort_by_key(|movement| (movement.at(), movement.amount(), movement.account_id()));
    let mut taken = vec![false; bank.len()];
    let mut first_paired = None;
    for movement in &ledger {
        let paired = best_candidate(context, movement, &bank, &taken);
        if let Some(index) = paired {
            taken[index] = true;
            first_paired.get_or_insert(index);
        }
        judge_pair(context, key, movement, paired.map(|index| &bank[index]), counts, out);
    }
    let original = first_paired.map(|index| &bank[index]);
    for (entry, _) in bank.iter().zip(&taken).filter(|(_, taken)| !**taken) {
        let finding = duplicate(context, key, &ledger[0], entry, original);
        counts.add_finding(finding.class);
        out.push(Outcome::Finding(finding));
    }
}

/// Entries the ledger has nothing for under `key` within the window.
fn judge_bank_only(
    context: AccountContext,
    key: &MatchKey,
    bank: Vec<BankRecord>,
    counts: &mut Counts,
    out: &mut Vec<Outcome>,
) {
    match key {
        MatchKey::Payout(_) | MatchKey::Return(_) => {
            counts.questions += bank.len() as u64;
            out.push(Outcome::Question(PayoutQuestion {
                context,
                key: key.clone(),
                entries: bank,
            }));
        }
        MatchKey::Collection(_) => {
            for entry in &bank {
                let finding = Finding {
                    bank: context.bank,
                    class: DiscrepancyClass::MissingInLedger,
                    key: FindingKey::Match(key.clone()),
                    bank_reference: Some(entry.bank_reference.clone()),
                    ledger_amount: None,
                    bank_amount: Some(entry.amount.minor_units),
                    unexplained: None,
                    ledger_evidence: absent_text(key, "ledger"),
                    bank_evidence: bank_text(entry),
                    account_ids: Vec::new(),
                    at: entry.booked_at,
                };
                counts.add_finding(finding.class);
                out.push(Outcome::Finding(finding));
            }
        }
    }
}

/// The verdict on one ledger movement and the entry it paired with, if any.
fn judge_pair(
    context: AccountContext,
    key: &MatchKey,
    movement: &LedgerMovement,
    entry: Option<&BankRecord>,
    counts: &mut Counts,
    out: &mut Vec<Outcome>,
) {
    let expected = expected_direction(movement);
    let agreeing = entry.is_some_and(|entry| agrees(context, movement.amount(), expected, entry));
    let class = match (movement, entry) {
        (LedgerMovement::Payout(payout), _) => match payout.payout.state {
            PayoutState::Failed if entry.is_some() => Some(DiscrepancyClass::MissingInLedger),
            PayoutState::Failed => {
                counts.failed_unpaid += 1;
                None
            }
            PayoutState::Succeeded if entry.is_none() => Some(DiscrepancyClass::MissingAtBank),
            _ if entry.is_some() && !agreeing => Some(DiscrepancyClass::AmountMismatch),
            PayoutState::Succeeded => None,
            PayoutState::Reserved
            | PayoutState::Claimed
            | PayoutState::Sent
            | PayoutState::Unknown => {
                counts.in_flight += 1;
                return;
            }
        },
        (_, None) => Some(DiscrepancyClass::MissingAtBank),
        (_, Some(_)) if !agreeing => Some(DiscrepancyClass::AmountMismatch),
        (_, Some(_)) => None,
    };
    match (class, entry) {
        (None, Some(entry)) => {
            counts.matched += 1;
            if !value_date_agrees(context, movement.at(), entry) {
                counts.value_date_differs += 1;
            }
        }
        (None, None) => {}
        (Some(class), entry) => {
            let ledger_amount = match (class, movement) {
                // A failed payout moved nothing in the ledger.
                (DiscrepancyClass::MissingInLedger, _) => None,
                _ => Some(movement.amount()),
            };
            let finding = Finding {
                bank: context.bank,
                class,
                key: FindingKey::Match(key.clone()),
                bank_reference: entry.map(|entry| entry.bank_reference.clone()),
                ledger_amount,
                bank_amount: entry.map(|entry| entry.amount.minor_units),
                unexplained: None,
                ledger_evidence: ledger_text(movement, context.currency),
                bank_evidence: match entry {
                    Some(entry) => bank_text(entry),
                    None => absent_text(key, "bank"),
                },
                account_ids: vec![movement.account_id()],
                at: entry.map_or(movement.at(), |entry| entry.booked_at.min(movement.at())),
            };
            counts.add_finding(class);
            out.push(Outcome::Finding(finding));
        }
    }
}

/// An entry left over under a key the ledger has a movement for: the bank executed or
/// booked it more than once.
fn duplicate(
    context: AccountContext,
    key: &MatchKey,
    movement: &LedgerMovement,
    entry: &BankRecord,
    original: Option<&BankRecord>,
) -> Finding {
    let bank_evidence = match original {
        Some(original) => format!(
            "extra: {}{}original: {}",
            bank_text(entry),
            evidence::ITEM_SEPARATOR,
            bank_text(original)
        ),
        None => format!("extra: {}", bank_text(entry)),
    };
    let account_ids = match movement {
        // An extra payment out of a customer's payout: stop the account paying out more.
        LedgerMovement::Payout(payout) => vec![payout.payout.debit_account_id],
        // An extra credit (a return or a collection booked twice) is money in: nothing to stop.
        LedgerMovement::Collection(_) | LedgerMovement::Return(_) => Vec::new(),
    };
    Finding {
        bank: context.bank,
        class: DiscrepancyClass::DuplicateAtBank,
        key: FindingKey::Match(key.clone()),
        bank_reference: Some(entry.bank_reference.clone()),
        ledger_amount: Some(movement.amount()),
        bank_amount: Some(entry.amount.minor_units),
        unexplained: None,
        ledger_evidence: ledger_text(movement, context.currency),
        bank_evidence,
        account_ids,
        at: entry.booked_at,
    }
}

/// The order entries are considered in: earliest booked, then by reference, then by every
/// other field, so the order (and with it which entry is the duplicate) never depends on the
/// order the entries arrived in.
fn order_key(entry: &BankRecord) -> (u64, &str, u128, Currency, bool, bool, Option<Date>) {
    (
        entry.booked_at,
        &entry.bank_reference,
        entry.amount.minor_units,
        entry.amount.currency,
        entry.direction == Direction::Credit,
        entry.reversal,
        entry.value_date,
    )
}

/// The direction the bank's entry has when it is this movement.
const fn expected_direction(movement: &LedgerMovement) -> Direction {
    match movement {
        LedgerMovement::Payout(_) => Direction::Debit,
        LedgerMovement::Collection(_) | LedgerMovement::Return(_) => Direction::Credit,
    }
}

/// The same money: amount, currency and direction.
fn agrees(context: AccountContext, amount: u128, direction: Direction, entry: &BankRecord) -> bool {
    entry.amount.minor_units == amount
        && entry.amount.currency == context.currency
        && entry.direction == direction
}

/// The unpaired entry that agrees best with `movement` (see the module doc), if any is left.
fn best_candidate(
    context: AccountContext,
    movement: &LedgerMovement,
    bank: &[BankRecord],
    taken: &[bool],
) -> Option<usize> {
    let mut unpaired = (0..bank.len()).filter(|index| !taken[*index]);
    let first = unpaired.next()?;
    if unpaired.next().is_none() {
        // The one candidate left (nearly every key): nothing to choose between.
        return Some(first);
    }
    let expected = expected_direction(movement);
    let score = |entry: &BankRecord| {
        (
            entry.amount.minor_units == movement.amount()
                && entry.amount.currency == context.currency,
            entry.direction == expected,
            value_date_agrees(context, movement.at(), entry),
        )
    };
    let mut best: Option<(usize, (bool, bool, bool))> = None;
    for (index, entry) in bank.iter().enumerate() {
        if taken[index] {
            continue;
        }
        let candidate = score(entry);
        // Strictly better only: among equals the earlier (sorted) entry stays.
        if best.is_none_or(|(_, best_score)| candidate > best_score) {
            best = Some((index, candidate));
        }
    }
    best.map(|(index, _)| index)
}

/// Whether the entry's value date (if the bank gave one) is within
/// `VALUE_DATE_TOLERANCE_DAYS` of the ledger's business date at `at`.
fn value_date_agrees(context: AccountContext, at: u64, entry: &BankRecord) -> bool {
    let Some(value_date) = entry.value_date else {
        return true;
    };
    let local_ms = i128::from(at / NS_PER_MS) + i128::from(context.utc_offset_seconds) * 1_000;
    let tolerance = i128::from(VALUE_DATE_TOLERANCE_DAYS);
    // The same day first: nearly every entry takes value the day it is booked.
    std::iter::once(0).chain((-tolerance..=tolerance).filter(|days| *days != 0)).any(|days| {
        let shifted = local_ms + days * MS_PER_DAY;
        u64::try_from(shifted).is_ok_and(|ms| Date::from_unix_ms(ms) == value_date)
    })
}

#[cfg(test)]
mod tests;
