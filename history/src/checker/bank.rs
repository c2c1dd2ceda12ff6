//! The bank properties (issue 12 item 6): what the bank did with the payouts and collections
//! of a run, held against what the ledger booked. Plain inputs — the driver reads the bank
//! (a simulated one, or a real sandbox's statements) and the ledger, and converts both into
//! the types below — so the same checks judge the madsim drills and real-process drills.
//!
//! - `executed_at_most_once`: the bank executed each payout at most once, counted two ways:
//!   executed debits per end-to-end id, and per beneficiary account (every payout of a run
//!   pays its own beneficiary, so a resend under a *new* end-to-end id — which a bank cannot
//!   deduplicate — shows as two debits to one beneficiary).
//! - `outcomes_agree`: for every final payout, the ledger's outcome is the bank's: `succeeded`
//!   exactly when the bank executed its end-to-end id, `failed` exactly when the bank rejected
//!   it or never had it; a bank still processing a payout the ledger holds final is a
//!   disagreement too.
//! - `final_within`: every payout is final in the ledger within a bound after the faults stop.
//! - `collections_booked_once`: every credit the bank posted to our accounts is booked in the
//!   ledger exactly once, for its amount, and nothing is booked the bank never credited.
//! - `conservation`: each bank's own books balance (the simulator's `check_conservation`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Where a payout stands in the ledger when the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerPayoutState {
    /// Reserved, claimed, sent or unknown: not final.
    NonFinal,
    /// Final: the bank paid.
    Succeeded,
    /// Final: the bank did not pay.
    Failed,
}

/// One payout as the ledger has it at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerPayout {
    /// The payout id (its end-to-end id at the bank is its decimal).
    pub payout_id: u128,
    /// The bank the payout was for.
    pub bank: u32,
    /// The beneficiary's account number at the bank: unique per payout in a run.
    pub beneficiary_account: String,
    /// Its state at the end.
    pub state: LedgerPayoutState,
    /// When (since the run began) the driver first saw it final; `None`: never.
    pub final_at: Option<Duration>,
}

/// Where a bank's instruction (one end-to-end id) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankInstructionStatus {
    /// Received, not executed yet.
    Pending,
    /// Executed (money left).
    Executed,
    /// Refused; no money moved.
    Rejected,
}

/// One instruction the bank holds, keyed by its end-to-end id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankInstruction {
    /// The bank (the ledger's bank number).
    pub bank: u32,
    /// The end-to-end id.
    pub end_to_end_id: String,
    /// The creditor's account number.
    pub beneficiary_account: String,
    /// Where it stands.
    pub status: BankInstructionStatus,
}

/// One debit the bank booked on our account for a payout (reversals excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankDebit {
    /// The bank.
    pub bank: u32,
    /// The bank's reference of the entry.
    pub bank_reference: String,
    /// The end-to-end id the debit executed.
    pub end_to_end_id: String,
    /// The creditor's account number of that instruction.
    pub beneficiary_account: String,
    /// The amount, minor units.
    pub amount: u128,
}

/// One credit the bank posted to one of our accounts (money in: a collection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankCredit {
    /// The bank.
    pub bank: u32,
    /// The bank's reference: the ledger's booking key.
    pub bank_reference: String,
    /// The amount, minor units.
    pub amount: u128,
}

/// One collection the ledger booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerCollection {
    /// The bank it was booked for.
    pub bank: u32,
    /// The bank reference it was booked under.
    pub bank_reference: String,
    /// The amount booked.
    pub amount: u128,
    /// The id of the transfer that booked it.
    pub transfer_id: u128,
}

/// Violations of "the bank executed each payout at most once": an end-to-end id debited
/// twice, or a beneficiary paid by more than one debit (a resend under a new end-to-end id).
pub fn executed_at_most_once(payouts: &[LedgerPayout], debits: &[BankDebit]) -> Vec<String> {
    let mut violations = Vec::new();
    let mut by_id: BTreeMap<(u32, &str), Vec<&str>> = BTreeMap::new();
    let mut by_beneficiary: BTreeMap<(u32, &str), Vec<&str>> = BTreeMap::new();
    for debit in debits {
        by_id
            .entry((debit.bank, debit.end_to_end_id.as_str()))
            .or_default()
            .push(&debit.bank_reference);
        by_beneficiary
            .entry((debit.bank, debit.beneficiary_account.as_str()))
            .or_default()
            .push(&debit.end_to_end_id);
    }
    for ((bank, end_to_end_id), references) in &by_id {
        if references.len() > 1 {
            violations.push(format!(
                "bank {bank} executed end-to-end id {end_to_end_id} {} times (entries {references:?})",
                references.len()
            ));
        }
    }
    let payout_of: BTreeMap<(u32, &str), u128> = payouts
        .iter()
        .map(|payout| ((payout.bank, payout.beneficiary_account.as_str()), payout.payout_id))
        .collect();
    for ((bank, beneficiary), ids) in &by_beneficiary {
        if ids.len() > 1 {
            let payout = payout_of
                .get(&(*bank, *beneficiary))
                .map_or("no payout of this run".to_owned(), |id| format!("payout {id}"));
            violations.push(format!(
                "bank {bank} paid beneficiary {beneficiary} ({payout}) {} times, under end-to-end ids {ids:?}",
                ids.len()
            ));
        }
    }
    violations
}

/// Violations of "for every final payout, the bank's and the ledger's outcome agree".
pub fn outcomes_agree(payouts: &[LedgerPayout], instructions: &[BankInstruction]) -> Vec<String> {
    let at_bank: BTreeMap<(u32, &str), BankInstructionStatus> = instructions
        .iter()
        .map(|instruction| {
            ((instruction.bank, instruction.end_to_end_id.as_str()), instruction.status)
        })
        .collect();
    let mut violations = Vec::new();
    for payout in payouts {
        let end_to_end_id = payout.payout_id.to_string();
        let bank = at_bank.get(&(payout.bank, end_to_end_id.as_str())).copied();
        let agree = match (payout.state, bank) {
            (LedgerPayoutState::NonFinal, _) => continue,
            (LedgerPayoutState::Succeeded, Some(BankInstructionStatus::Executed)) => true,
            (LedgerPayoutState::Failed, None | Some(BankInstructionStatus::Rejected)) => true,
            _ => false,
        };
        if !agree {
            let bank_says = match bank {
                None => "never received it".to_owned(),
                Some(status) => format!("has it {status:?}"),
            };
            violations.push(format!(
                "payout {} is {:?} in the ledger but bank {} {bank_says}",
                payout.payout_id, payout.state, payout.bank
            ));
        }
    }
    violations
}

/// Violations of "every payout is final within `bound` after the faults stopped at
/// `faults_stopped`" (times since the run began).
pub fn final_within(
    payouts: &[LedgerPayout],
    faults_stopped: Duration,
    bound: Duration,
) -> Vec<String> {
    let deadline = faults_stopped.saturating_add(bound);
    payouts
        .iter()
        .filter_map(|payout| match payout.final_at {
            Some(at) if at <= deadline => None,
            Some(at) => Some(format!(
                "payout {} became final {:?} after the faults stopped (bound {bound:?})",
                payout.payout_id,
                at.saturating_sub(faults_stopped)
            )),
            None => Some(format!(
                "payout {} is still {:?} {bound:?} after the faults stopped",
                payout.payout_id, payout.state
            )),
        })
        .collect()
}

/// Violations of "every collection the bank credited is booked exactly once": a credit booked
/// never, twice or for another amount, and a booking with no credit behind it.
pub fn collections_booked_once(credits: &[BankCredit], booked: &[LedgerCollection]) -> Vec<String> {
    let mut violations = Vec::new();
    let mut bookings: BTreeMap<(u32, &str), Vec<&LedgerCollection>> = BTreeMap::new();
    for collection in booked {
        bookings
            .entry((collection.bank, collection.bank_reference.as_str()))
            .or_default()
            .push(collection);
    }
    let mut credited = BTreeSet::new();
    for credit in credits {
        let key = (credit.bank, credit.bank_reference.as_str());
        if !credited.insert(key) {
            violations.push(format!(
                "bank {} reported credit {} twice in its books",
                credit.bank, credit.bank_reference
            ));
            continue;
        }
        match bookings.get(&key).map(Vec::as_slice) {
            None | Some([]) => violations.push(format!(
                "bank {} credited {} ({} minor units) and the ledger never booked it",
                credit.bank, credit.bank_reference, credit.amount
            )),
            Some([one]) if one.amount == credit.amount => {}
            Some([one]) => violations.push(format!(
                "bank {} credited {} for {} but the ledger booked {}",
                credit.bank, credit.bank_reference, credit.amount, one.amount
            )),
            Some(many) => violations.push(format!(
                "bank {} credit {} is booked {} times (transfers {:?})",
                credit.bank,
                credit.bank_reference,
                many.len(),
                many.iter().map(|collection| collection.transfer_id).collect::<Vec<_>>()
            )),
        }
    }
    for ((bank, reference), collections) in &bookings {
        if !credited.contains(&(*bank, *reference)) {
            violations.push(format!(
                "the ledger booked {} collection(s) under bank {bank} reference {reference} the bank never credited",
                collections.len()
            ));
        }
    }
    violations
}

/// Violations of each bank's own conservation (`(bank, None)`: its books balance;
/// `(bank, Some(why))`: they do not).
pub fn conservation(banks: &[(String, Option<String>)]) -> Vec<String> {
    banks
        .iter()
        .filter_map(|(bank, broken)| {
            broken.as_ref().map(|why| format!("bank {bank} does not conserve money: {why}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn payout(id: u128, state: LedgerPayoutState, final_at: Option<u64>) -> LedgerPayout {
        LedgerPayout {
            payout_id: id,
            bank: 1,
            beneficiary_account: format!("B{id}"),
            state,
            final_at: final_at.map(Duration::from_secs),
        }
    }

    fn debit(reference: &str, end_to_end_id: &str, beneficiary: &str) -> BankDebit {
        BankDebit {
            bank: 1,
            bank_reference: reference.into(),
            end_to_end_id: end_to_end_id.into(),
            beneficiary_account: beneficiary.into(),
            amount: 10,
        }
    }

    fn instruction(end_to_end_id: &str, status: BankInstructionStatus) -> BankInstruction {
        BankInstruction {
            bank: 1,
            end_to_end_id: end_to_end_id.into(),
            beneficiary_account: format!("B{end_to_end_id}"),
            status,
        }
    }

    #[test]
    fn one_debit_per_payout_holds_and_a_second_is_caught_by_id_or_beneficiary() {
        let payouts = [payout(7, LedgerPayoutState::Succeeded, Some(1))];
        assert!(executed_at_most_once(&payouts, &[debit("E1", "7", "B7")]).is_empty());
        let twice_by_id =
            executed_at_most_once(&payouts, &[debit("E1", "7", "B7"), debit("E2", "7", "B7")]);
        assert!(
            twice_by_id.iter().any(|v| v.contains("end-to-end id 7 2 times")),
            "{twice_by_id:?}"
        );
        // A resend under a new end-to-end id: the bank cannot deduplicate it.
        let resent =
            executed_at_most_once(&payouts, &[debit("E1", "7", "B7"), debit("E2", "7R1", "B7")]);
        assert_eq!(resent.len(), 1, "{resent:?}");
        assert!(resent[0].contains("beneficiary B7 (payout 7) 2 times"), "{resent:?}");
    }

    #[test]
    fn outcomes_must_agree_with_the_bank() {
        let executed = [instruction("1", BankInstructionStatus::Executed)];
        let good = [payout(1, LedgerPayoutState::Succeeded, Some(1))];
        assert!(outcomes_agree(&good, &executed).is_empty());
        let failed_but_paid = [payout(1, LedgerPayoutState::Failed, Some(1))];
        assert_eq!(outcomes_agree(&failed_but_paid, &executed).len(), 1);
        let paid_but_never_sent = [payout(2, LedgerPayoutState::Succeeded, Some(1))];
        let found = outcomes_agree(&paid_but_never_sent, &executed);
        assert!(found[0].contains("never received it"), "{found:?}");
        let pending = [instruction("3", BankInstructionStatus::Pending)];
        assert_eq!(
            outcomes_agree(&[payout(3, LedgerPayoutState::Failed, Some(1))], &pending).len(),
            1
        );
        let rejected = [instruction("4", BankInstructionStatus::Rejected)];
        assert!(
            outcomes_agree(&[payout(4, LedgerPayoutState::Failed, Some(1))], &rejected).is_empty()
        );
        assert!(outcomes_agree(&[payout(5, LedgerPayoutState::NonFinal, None)], &[]).is_empty());
    }

    #[test]
    fn a_payout_final_late_or_never_is_caught() {
        let stopped = Duration::from_secs(100);
        let bound = Duration::from_secs(30);
        assert!(
            final_within(&[payout(1, LedgerPayoutState::Failed, Some(50))], stopped, bound)
                .is_empty()
        );
        assert!(
            final_within(&[payout(1, LedgerPayoutState::Failed, Some(130))], stopped, bound)
                .is_empty()
        );
        assert_eq!(
            final_within(&[payout(1, LedgerPayoutState::Failed, Some(131))], stopped, bound).len(),
            1
        );
        let never = final_within(&[payout(2, LedgerPayoutState::NonFinal, None)], stopped, bound);
        assert!(never[0].contains("still NonFinal"), "{never:?}");
    }

    #[test]
    fn collections_lost_doubled_wrong_or_invented_are_caught() {
        let credit =
            |reference: &str| BankCredit { bank: 1, bank_reference: reference.into(), amount: 5 };
        let booking = |reference: &str, amount: u128, id: u128| LedgerCollection {
            bank: 1,
            bank_reference: reference.into(),
            amount,
            transfer_id: id,
        };
        assert!(collections_booked_once(&[credit("C1")], &[booking("C1", 5, 1)]).is_empty());
        assert_eq!(collections_booked_once(&[credit("C1")], &[]).len(), 1);
        assert_eq!(collections_booked_once(&[credit("C1")], &[booking("C1", 6, 1)]).len(), 1);
        let twice =
            collections_booked_once(&[credit("C1")], &[booking("C1", 5, 1), booking("C1", 5, 2)]);
        assert!(twice[0].contains("booked 2 times"), "{twice:?}");
        let invented = collections_booked_once(&[], &[booking("C9", 5, 1)]);
        assert!(invented[0].contains("never credited"), "{invented:?}");
    }

    #[test]
    fn a_bank_whose_books_do_not_balance_is_caught() {
        assert!(conservation(&[("iso1".into(), None)]).is_empty());
        assert_eq!(conservation(&[("iso1".into(), Some("CNY off by 5".into()))]).len(), 1);
    }
}
