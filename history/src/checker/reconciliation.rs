//! The reconciliation properties (issue 13 item 5): what reconcilers recorded in the ledger,
//! held against the differences a drill made the bank commit on purpose. Plain inputs — the
//! discrepancies and account statuses as the ledger holds them, and a table of the injected
//! differences with what each must be reported as — so a real-process drill can hand over the
//! same data.
//!
//! - `clean_phase_silent`: nothing at all was recorded before the first difference was
//!   injected (a run of consistent traffic under faults finds nothing).
//! - `each_found_once`: every injected difference is exactly one discrepancy of its class
//!   naming its payout, with both sides' amounts and exactly its customer's account, recorded
//!   no later than one period after the difference became detectable.
//! - `nothing_else_found`: every movement discrepancy is about an injected payout; every
//!   balance mismatch names the configured accounts only, and its unexplained amount is the
//!   effect of some of its bank's injected differences (each moves the balance by its whole
//!   effect or not yet at all), the effect of all of them among them.
//! - `blocked_exactly`: the accounts outflow-blocked at the end are exactly the injected
//!   differences' accounts.
//!
//! The expectations are written by the driver from what the bank really did (a table, one row
//! per difference), not derived the way the reconciler derives them.

use std::collections::{BTreeMap, BTreeSet};

use tianping_ledger::{Discrepancy, DiscrepancyClass};

/// Most injected differences per bank the balance check's subset sums are enumerated for: a
/// drill injects a handful; past this the enumeration (2^n sums) would be the cost.
pub const INJECTED_PER_BANK_MAX: usize = 12;

/// One difference the drill made the bank commit on one payout, with what the reconciler must
/// record for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    /// The bank (a payout's `bank` number).
    pub bank: u32,
    /// The payout (its end-to-end id at the bank is its decimal: the discrepancy's reference).
    pub payout_id: u128,
    /// The class it must be recorded as.
    pub class: DiscrepancyClass,
    /// The one account it must outflow-block: the payout's debit account.
    pub account_id: u128,
    /// The amount the ledger shows (`None`: the ledger shows none, as for a voided payout).
    pub ledger_amount: Option<u128>,
    /// The amount the bank shows (`None`: the bank booked nothing).
    pub bank_amount: Option<u128>,
    /// How much it moves the bank's balance against the ledger's mirror once both sides have
    /// settled (bank minus ledger, minor units): what the balance check must find unexplained.
    pub balance_effect: i128,
    /// When the difference became detectable (ns since the Unix epoch): the bank-side event,
    /// or the ledger making the payout final when that came later — before both sides have
    /// spoken there is nothing to differ.
    pub detectable_at_ns: u64,
}

/// What a run of reconcilers left.
#[derive(Clone, Debug, Default)]
pub struct ReconciliationRun {
    /// Every discrepancy the ledger holds at the end.
    pub discrepancies: Vec<Discrepancy>,
    /// Every account outflow-blocked at the end.
    pub outflow_blocked: BTreeSet<u128>,
    /// The end of the clean phase (ns since the Unix epoch): nothing may be recorded before.
    pub clean_until_ns: u64,
    /// The differences injected after it.
    pub injected: Vec<Injected>,
    /// How long after a difference became detectable its discrepancy may be recorded (ns).
    pub detection_bound_ns: u64,
    /// The accounts the reconcilers' configuration has a balance mismatch block.
    pub balance_block_account_ids: Vec<u128>,
}

/// Every violation of the module's properties.
pub fn check(run: &ReconciliationRun) -> Vec<String> {
    let mut violations = clean_phase_silent(run);
    violations.extend(each_found_once(run));
    violations.extend(nothing_else_found(run));
    violations.extend(blocked_exactly(run));
    violations
}

/// One discrepancy as a short phrase for a violation.
fn describe(discrepancy: &Discrepancy) -> String {
    let amount = |amount: Option<u128>| amount.map_or("none".to_owned(), |a| a.to_string());
    format!(
        "{} at bank {} for {} (ledger {}, bank {}, accounts {:?}, recorded at {} ns by {})",
        discrepancy.request.class.name(),
        discrepancy.request.bank,
        discrepancy.request.reference,
        amount(discrepancy.request.ledger_amount),
        amount(discrepancy.request.bank_amount),
        discrepancy.request.account_ids,
        discrepancy.timestamp,
        discrepancy.request.actor
    )
}

/// Violations of "nothing is recorded in the clean phase".
pub fn clean_phase_silent(run: &ReconciliationRun) -> Vec<String> {
    run.discrepancies
        .iter()
        .filter(|discrepancy| discrepancy.timestamp < run.clean_until_ns)
        .map(|discrepancy| {
            format!("clean phase: a discrepancy was recorded: {}", describe(discrepancy))
        })
        .collect()
}

/// The movement discrepancies about `injected`'s payout at its bank.
fn about<'a>(run: &'a ReconciliationRun, injected: &Injected) -> Vec<&'a Discrepancy> {
    let reference = injected.payout_id.to_string();
    run.discrepancies
        .iter()
        .filter(|discrepancy| {
            discrepancy.request.class != DiscrepancyClass::BalanceMismatch
                && discrepancy.request.bank == injected.bank
                && discrepancy.request.reference == reference
        })
        .collect()
}

/// Violations of "each injected difference is one discrepancy, of its class, amounts and
/// account, recorded in time".
pub fn each_found_once(run: &ReconciliationRun) -> Vec<String> {
    let mut violations = Vec::new();
    for injected in &run.injected {
        let what = format!(
            "{} injected on payout {} at bank {}",
            injected.class.name(),
            injected.payout_id,
            injected.bank
        );
        let found = about(run, injected);
        let [discrepancy] = found.as_slice() else {
            let listed: Vec<String> = found.iter().map(|d| describe(d)).collect();
            violations.push(format!(
                "{what}: expected exactly one discrepancy, found {}: {listed:?}",
                found.len()
            ));
            continue;
        };
        let request = &discrepancy.request;
        if request.class != injected.class {
            violations.push(format!("{what}: recorded as {}", describe(discrepancy)));
        }
        if (request.ledger_amount, request.bank_amount)
            != (injected.ledger_amount, injected.bank_amount)
        {
            violations.push(format!(
                "{what}: amounts (ledger {:?}, bank {:?}) expected, recorded {}",
                injected.ledger_amount,
                injected.bank_amount,
                describe(discrepancy)
            ));
        }
        if request.account_ids != [injected.account_id] {
            violations.push(format!(
                "{what}: must block account {} alone, recorded {}",
                injected.account_id,
                describe(discrepancy)
            ));
        }
        let due = injected.detectable_at_ns.saturating_add(run.detection_bound_ns);
        if discrepancy.timestamp > due {
            violations.push(format!(
                "{what}: detectable at {} ns, recorded {:.3} s later (bound {:.3} s): {}",
                injected.detectable_at_ns,
                seconds(discrepancy.timestamp.saturating_sub(injected.detectable_at_ns)),
                seconds(run.detection_bound_ns),
                describe(discrepancy)
            ));
        }
    }
    violations
}

fn seconds(ns: u64) -> f64 {
    // Display only: a duration in seconds for a violation's sentence, never money.
    ns as f64 / 1e9
}

/// The unexplained amounts the balance check may find at each bank: the sum of every subset
/// of the bank's injected effects (each difference moves the balance by its whole effect once
/// both sides have settled, and by nothing before).
fn balance_sums(run: &ReconciliationRun) -> BTreeMap<u32, (BTreeSet<i128>, i128)> {
    let mut effects: BTreeMap<u32, Vec<i128>> = BTreeMap::new();
    for injected in &run.injected {
        effects.entry(injected.bank).or_default().push(injected.balance_effect);
    }
    effects
        .into_iter()
        .map(|(bank, effects)| {
            let effects = &effects[..effects.len().min(INJECTED_PER_BANK_MAX)];
            let mut sums = BTreeSet::from([0i128]);
            for effect in effects {
                let grown: Vec<i128> =
                    sums.iter().filter_map(|sum| sum.checked_add(*effect)).collect();
                sums.extend(grown);
            }
            let all = effects.iter().try_fold(0i128, |sum, effect| sum.checked_add(*effect));
            (bank, (sums, all.unwrap_or(i128::MAX)))
        })
        .collect()
}

/// Violations of "nothing but the injected differences is found".
pub fn nothing_else_found(run: &ReconciliationRun) -> Vec<String> {
    let mut violations = Vec::new();
    let injected: BTreeSet<(u32, String)> =
        run.injected.iter().map(|i| (i.bank, i.payout_id.to_string())).collect();
    let sums = balance_sums(run);
    let mut final_found: BTreeSet<u32> = BTreeSet::new();
    for discrepancy in &run.discrepancies {
        let request = &discrepancy.request;
        if request.class != DiscrepancyClass::BalanceMismatch {
            if !injected.contains(&(request.bank, request.reference.clone())) {
                violations.push(format!(
                    "a discrepancy about nothing injected: {}",
                    describe(discrepancy)
                ));
            }
            continue;
        }
        if request.account_ids != run.balance_block_account_ids {
            violations.push(format!(
                "a balance mismatch must block {:?}, recorded {}",
                run.balance_block_account_ids,
                describe(discrepancy)
            ));
        }
        let unexplained = match (request.bank_amount, request.ledger_amount) {
            (Some(bank), Some(ledger)) => i128::try_from(bank)
                .ok()
                .zip(i128::try_from(ledger).ok())
                .and_then(|(bank, ledger)| bank.checked_sub(ledger)),
            _ => None,
        };
        let Some(unexplained) = unexplained else {
            violations.push(format!(
                "a balance mismatch without both balances: {}",
                describe(discrepancy)
            ));
            continue;
        };
        match sums.get(&request.bank) {
            Some((possible, all)) if possible.contains(&unexplained) => {
                if unexplained == *all {
                    final_found.insert(request.bank);
                }
            }
            _ => violations.push(format!(
                "a balance mismatch of {unexplained} that no injected differences explain: {}",
                describe(discrepancy)
            )),
        }
    }
    for (bank, (_, all)) in &sums {
        if *all != 0 && !final_found.contains(bank) {
            violations.push(format!(
                "bank {bank}: the balance check never found the injected differences' whole effect ({all})"
            ));
        }
    }
    violations
}

/// Violations of "exactly the injected differences' accounts are outflow-blocked".
pub fn blocked_exactly(run: &ReconciliationRun) -> Vec<String> {
    let expected: BTreeSet<u128> = run.injected.iter().map(|i| i.account_id).collect();
    let mut violations = Vec::new();
    for account in expected.difference(&run.outflow_blocked) {
        violations.push(format!("account {account} should be outflow-blocked and is not"));
    }
    for account in run.outflow_blocked.difference(&expected) {
        violations
            .push(format!("account {account} is outflow-blocked, yet nothing injected names it"));
    }
    violations
}

#[cfg(test)]
mod tests {
    use tianping_ledger::{DiscrepancyState, NewDiscrepancy};

    use super::*;

    const SECOND: u64 = 1_000_000_000;
    const CLEAN_UNTIL: u64 = 100 * SECOND;
    const BOUND: u64 = 60 * SECOND;

    fn injected(
        payout_id: u128,
        class: DiscrepancyClass,
        amounts: (Option<u128>, Option<u128>),
        effect: i128,
    ) -> Injected {
        Injected {
            bank: 1,
            payout_id,
            class,
            account_id: payout_id + 1_000,
            ledger_amount: amounts.0,
            bank_amount: amounts.1,
            balance_effect: effect,
            detectable_at_ns: 110 * SECOND,
        }
    }

    fn recorded(request: NewDiscrepancy, timestamp: u64) -> Discrepancy {
        Discrepancy {
            blocked_account_ids: request.account_ids.clone(),
            request,
            state: DiscrepancyState::Open,
            timestamp,
            resolved_at: 0,
            resolution: String::new(),
            resolved_by: String::new(),
        }
    }

    fn found(injected: &Injected) -> Discrepancy {
        recorded(
            NewDiscrepancy {
                id: injected.payout_id,
                bank: injected.bank,
                class: injected.class,
                reference: injected.payout_id.to_string(),
                account_ids: vec![injected.account_id],
                ledger_amount: injected.ledger_amount,
                bank_amount: injected.bank_amount,
                actor: "reconciler-dc-1".into(),
                ..NewDiscrepancy::default()
            },
            injected.detectable_at_ns + 30 * SECOND,
        )
    }

    fn balance(bank: u32, unexplained: i128, timestamp: u64) -> Discrepancy {
        let explained = 1_000_000u128;
        let bank_balance = explained.checked_add_signed(unexplained).unwrap_or(0);
        recorded(
            NewDiscrepancy {
                id: u128::from(bank) << 64 | unexplained.unsigned_abs(),
                bank,
                class: DiscrepancyClass::BalanceMismatch,
                reference: "CUST0001".into(),
                ledger_amount: Some(explained),
                bank_amount: Some(bank_balance),
                actor: "reconciler-dc-2".into(),
                ..NewDiscrepancy::default()
            },
            timestamp,
        )
    }

    /// Every class injected once at bank 1, each found as it should be, the balance check
    /// finding one difference first and then all of them.
    fn truthful() -> ReconciliationRun {
        let injected = vec![
            injected(11, DiscrepancyClass::MissingAtBank, (Some(500), None), 500),
            injected(12, DiscrepancyClass::MissingInLedger, (None, Some(600)), -600),
            injected(13, DiscrepancyClass::AmountMismatch, (Some(700), Some(701)), -1),
            injected(14, DiscrepancyClass::DuplicateAtBank, (Some(800), Some(800)), -800),
            injected(15, DiscrepancyClass::ReversedAtBank, (Some(900), Some(900)), 900),
        ];
        let mut discrepancies: Vec<Discrepancy> = injected.iter().map(found).collect();
        discrepancies.push(balance(1, 500, 120 * SECOND));
        discrepancies.push(balance(1, 500 - 600 - 1 - 800 + 900, 150 * SECOND));
        ReconciliationRun {
            discrepancies,
            outflow_blocked: injected.iter().map(|i| i.account_id).collect(),
            clean_until_ns: CLEAN_UNTIL,
            injected,
            detection_bound_ns: BOUND,
            balance_block_account_ids: Vec::new(),
        }
    }

    fn assert_one(violations: &[String], words: &str) {
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].contains(words), "{violations:?}");
    }

    #[test]
    fn a_truthful_run_passes() {
        assert_eq!(check(&truthful()), Vec::<String>::new());
    }

    #[test]
    fn anything_recorded_in_the_clean_phase_is_caught() {
        let mut run = truthful();
        run.discrepancies.push(balance(2, 0, CLEAN_UNTIL - 1));
        let violations = clean_phase_silent(&run);
        assert_one(&violations, "clean phase");
    }

    #[test]
    fn a_difference_never_found_or_found_twice_is_caught() {
        let mut run = truthful();
        run.discrepancies.retain(|d| d.request.reference != "13");
        assert_one(&each_found_once(&run), "amount_mismatch injected on payout 13");
        let mut run = truthful();
        let mut second = found(&run.injected[0]);
        second.request.id += 1;
        second.request.class = DiscrepancyClass::AmountMismatch;
        run.discrepancies.push(second);
        assert_one(&each_found_once(&run), "expected exactly one discrepancy, found 2");
    }

    #[test]
    fn a_wrong_class_amount_account_or_a_late_finding_is_caught() {
        let mut run = truthful();
        run.discrepancies[0].request.class = DiscrepancyClass::MissingInLedger;
        assert_one(&each_found_once(&run), "recorded as missing_in_ledger");
        let mut run = truthful();
        run.discrepancies[2].request.bank_amount = Some(702);
        assert_one(&each_found_once(&run), "amounts");
        let mut run = truthful();
        run.discrepancies[3].request.account_ids = vec![1_014, 1_015];
        assert_one(&each_found_once(&run), "must block account 1014 alone");
        let mut run = truthful();
        run.discrepancies[4].timestamp = run.injected[4].detectable_at_ns + BOUND + 1;
        assert_one(&each_found_once(&run), "recorded 60.000 s later");
        run.discrepancies[4].timestamp -= 1;
        assert!(each_found_once(&run).is_empty());
    }

    #[test]
    fn a_finding_about_nothing_injected_is_caught() {
        let mut run = truthful();
        let mut stray = found(&run.injected[0]);
        stray.request.reference = "99".into();
        run.discrepancies.push(stray);
        assert_one(&nothing_else_found(&run), "about nothing injected");
    }

    #[test]
    fn a_balance_mismatch_no_injection_explains_or_blocking_accounts_is_caught() {
        let mut run = truthful();
        run.discrepancies.push(balance(1, 7, 130 * SECOND));
        assert_one(&nothing_else_found(&run), "mismatch of 7 that no injected");
        let mut run = truthful();
        run.discrepancies.push(balance(2, 500, 130 * SECOND));
        assert_one(&nothing_else_found(&run), "no injected differences explain");
        let mut run = truthful();
        // A partial sum (the amount mismatch and the return alone) is explained.
        run.discrepancies.push(balance(1, 899, 130 * SECOND));
        assert!(nothing_else_found(&run).is_empty());
        run.discrepancies[5].request.account_ids = vec![1_011];
        assert_one(&nothing_else_found(&run), "must block []");
    }

    #[test]
    fn a_balance_check_that_never_saw_the_whole_effect_is_caught() {
        let mut run = truthful();
        run.discrepancies.pop();
        assert_one(&nothing_else_found(&run), "never found the injected differences' whole");
    }

    #[test]
    fn blocks_missing_or_extra_are_caught() {
        let mut run = truthful();
        run.outflow_blocked.remove(&1_012);
        assert_one(&blocked_exactly(&run), "1012 should be outflow-blocked");
        let mut run = truthful();
        run.outflow_blocked.insert(3_001);
        assert_one(&blocked_exactly(&run), "3001 is outflow-blocked");
    }
}
