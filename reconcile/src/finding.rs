//! A finding: one difference between the ledger and a bank, with everything the discrepancy
//! record needs — the class, what it is about, both amounts, both sides' evidence, and the
//! ledger accounts to outflow-block — and its conversion to the ledger's `NewDiscrepancy`.

use tianping_ledger::discrepancy::{DISCREPANCY_ACCOUNTS_MAX, EVIDENCE_BYTES_MAX};
use tianping_ledger::{DiscrepancyClass, NewDiscrepancy, TEXT_BYTES_MAX};

use crate::ids::{IdAmounts, IdParts, discrepancy_id};
use crate::keys::FindingKey;

/// What a cut text ends with, so a reader knows there was more.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// The reference shown for a bank entry that came without one (the ledger requires a
/// reference; the id is derived from the real, empty key either way).
pub const EMPTY_REFERENCE: &str = "(no reference)";

const _: () = assert!(TRUNCATION_MARKER.len() < TEXT_BYTES_MAX);
const _: () = assert!(EMPTY_REFERENCE.len() <= TEXT_BYTES_MAX);

/// One difference found.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Finding {
    /// The bank.
    pub bank: u32,
    /// What kind of difference.
    pub class: DiscrepancyClass,
    /// What it is about.
    pub key: FindingKey,
    /// The bank entry it is about, when the key has several (a duplicate's copy, one of
    /// several returns): part of the id, so each extra execution is its own discrepancy.
    pub bank_reference: Option<String>,
    /// The ledger's amount, when it shows one (minor units).
    pub ledger_amount: Option<u128>,
    /// The bank's amount, when it shows one (minor units).
    pub bank_amount: Option<u128>,
    /// A balance mismatch's unexplained difference, the bank's balance minus what the ledger
    /// explains (minor units, signed); `None` for a movement.
    pub unexplained: Option<i128>,
    /// The ledger side's evidence.
    pub ledger_evidence: String,
    /// The bank side's evidence.
    pub bank_evidence: String,
    /// The ledger accounts to outflow-block: a payout's debit account, the account a booked
    /// credit went to, a balance's configured accounts; empty when the bank's movement belongs
    /// to no ledger account (the finding stands all the same).
    pub account_ids: Vec<u128>,
    /// When the difference happened (ns): the earliest item of it.
    pub at: u64,
}

/// Why a finding cannot become a `NewDiscrepancy`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FindingError {
    /// The reconciler's name is empty or longer than the ledger keeps: an actor is an
    /// identity, so it is refused rather than cut.
    #[error("actor {actor:?} must be 1..={TEXT_BYTES_MAX} bytes")]
    BadActor {
        /// The refused name.
        actor: String,
    },
    /// More accounts than one discrepancy may block, or one twice.
    #[error(
        "{count} accounts to block ({repeated} repeated); a discrepancy blocks at most {DISCREPANCY_ACCOUNTS_MAX}, each once"
    )]
    BadAccounts {
        /// How many.
        count: usize,
        /// How many repeat an earlier one.
        repeated: usize,
    },
}

impl Finding {
    /// The discrepancy id: the same for every reconciler that finds this difference.
    pub fn discrepancy_id(&self) -> u128 {
        let amounts = match self.unexplained {
            Some(difference) => IdAmounts::Unexplained(difference),
            None => IdAmounts::Sides { ledger: self.ledger_amount, bank: self.bank_amount },
        };
        discrepancy_id(&IdParts {
            bank: self.bank,
            class: self.class,
            key: &self.key,
            bank_reference: self.bank_reference.as_deref(),
            amounts,
        })
    }

    /// The ledger command's body: text bounded as the ledger bounds it (reference
    /// `TEXT_BYTES_MAX`, evidence `EVIDENCE_BYTES_MAX`, cut on a character boundary with
    /// [`TRUNCATION_MARKER`]), `cutoff` the reconciliation cut-off (ns), `actor` who found it.
    pub fn to_new_discrepancy(
        &self,
        cutoff: u64,
        actor: &str,
    ) -> Result<NewDiscrepancy, FindingError> {
        if actor.is_empty() || actor.len() > TEXT_BYTES_MAX {
            return Err(FindingError::BadActor { actor: actor.to_owned() });
        }
        let mut sorted = self.account_ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let repeated = self.account_ids.len() - sorted.len();
        if repeated > 0 || self.account_ids.len() > DISCREPANCY_ACCOUNTS_MAX {
            return Err(FindingError::BadAccounts { count: self.account_ids.len(), repeated });
        }
        let reference = self.key.reference(self.bank_reference.as_deref());
        let reference = if reference.is_empty() { EMPTY_REFERENCE.to_owned() } else { reference };
        Ok(NewDiscrepancy {
            id: self.discrepancy_id(),
            bank: self.bank,
            class: self.class,
            reference: truncate_text(&reference, TEXT_BYTES_MAX),
            account_ids: self.account_ids.clone(),
            ledger_amount: self.ledger_amount,
            bank_amount: self.bank_amount,
            ledger_evidence: truncate_text(&self.ledger_evidence, EVIDENCE_BYTES_MAX),
            bank_evidence: truncate_text(&self.bank_evidence, EVIDENCE_BYTES_MAX),
            cutoff,
            actor: actor.to_owned(),
        })
    }
}

/// `text` if it fits in `bytes_max` bytes; otherwise its longest prefix that ends on a
/// character boundary and leaves room for [`TRUNCATION_MARKER`], followed by the marker.
/// `bytes_max` is at least the marker's length (both callers pass ledger bounds above it).
pub fn truncate_text(text: &str, bytes_max: usize) -> String {
    if text.len() <= bytes_max {
        return text.to_owned();
    }
    let mut end = bytes_max.saturating_sub(TRUNCATION_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + TRUNCATION_MARKER.len());
    cut.push_str(&text[..end]);
    cut.push_str(TRUNCATION_MARKER);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MatchKey;

    fn finding() -> Finding {
        Finding {
            bank: 3,
            class: DiscrepancyClass::MissingAtBank,
            key: FindingKey::Match(MatchKey::Payout(42)),
            bank_reference: None,
            ledger_amount: Some(100),
            bank_amount: None,
            unexplained: None,
            ledger_evidence: "payout 42 succeeded".into(),
            bank_evidence: "none".into(),
            account_ids: vec![1001],
            at: 5,
        }
    }

    #[test]
    fn converts_with_its_id_and_bounded_text() {
        let found = finding();
        let new = found.to_new_discrepancy(99, "reconciler-dc-a").expect("valid");
        assert_eq!(new.id, found.discrepancy_id());
        assert_eq!(
            (new.bank, new.class, new.reference.as_str(), new.cutoff),
            (3, DiscrepancyClass::MissingAtBank, "42", 99)
        );
        assert_eq!((new.ledger_amount, new.bank_amount), (Some(100), None));
        assert_eq!(new.account_ids, vec![1001]);

        let long = Finding {
            key: FindingKey::Match(MatchKey::Collection(7)),
            bank_reference: Some("名".repeat(200)),
            ledger_evidence: "é".repeat(EVIDENCE_BYTES_MAX),
            bank_evidence: "x".repeat(EVIDENCE_BYTES_MAX),
            ..finding()
        };
        let new = long.to_new_discrepancy(0, "r").expect("valid");
        assert!(
            new.reference.len() <= TEXT_BYTES_MAX && new.reference.ends_with(TRUNCATION_MARKER)
        );
        assert!(new.ledger_evidence.len() <= EVIDENCE_BYTES_MAX);
        assert!(new.ledger_evidence.ends_with(TRUNCATION_MARKER));
        // Exactly at the bound: kept whole.
        assert_eq!(new.bank_evidence, long.bank_evidence);
        // The id is the untruncated key's.
        assert_eq!(new.id, long.discrepancy_id());

        let empty = Finding {
            key: FindingKey::Match(MatchKey::Collection(7)),
            bank_reference: Some(String::new()),
            ..finding()
        };
        assert_eq!(
            empty.to_new_discrepancy(0, "r").map(|new| new.reference),
            Ok(EMPTY_REFERENCE.into())
        );
    }

    #[test]
    fn refuses_a_bad_actor_or_accounts() {
        assert!(matches!(finding().to_new_discrepancy(0, ""), Err(FindingError::BadActor { .. })));
        let long_actor = "a".repeat(TEXT_BYTES_MAX + 1);
        assert!(finding().to_new_discrepancy(0, &long_actor).is_err());
        assert!(finding().to_new_discrepancy(0, &"a".repeat(TEXT_BYTES_MAX)).is_ok());
        let repeated = Finding { account_ids: vec![1, 2, 1], ..finding() };
        assert_eq!(
            repeated.to_new_discrepancy(0, "r"),
            Err(FindingError::BadAccounts { count: 3, repeated: 1 })
        );
        let many = Finding { account_ids: (1..=9).collect(), ..finding() };
        assert!(many.to_new_discrepancy(0, "r").is_err());
        let none = Finding { account_ids: Vec::new(), ..finding() };
        assert!(none.to_new_discrepancy(0, "r").is_ok());
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_text("short", 64), "short");
        for bytes_max in TRUNCATION_MARKER.len()..TRUNCATION_MARKER.len() + 8 {
            let cut = truncate_text(&"名".repeat(40), bytes_max);
            assert!(cut.len() <= bytes_max, "{bytes_max}: {cut}");
            assert!(cut.ends_with(TRUNCATION_MARKER));
            assert!(cut.trim_end_matches(TRUNCATION_MARKER).chars().all(|c| c == '名'));
        }
    }
}
