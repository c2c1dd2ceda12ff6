//! What a bank and Tianping say to each other, whatever the protocol: references (the
//! end-to-end id that is the bank's idempotency key, per-attempt ids), parties, a payout
//! instruction and its outcome, account entries and statements, and the checks that keep every
//! one of them writable into an ISO 20022 document or a signed direct-connect body.
//!
//! A leaf module: the protocols (`iso20022`, `direct`) and the gateway interface (`gateway`)
//! all speak these types, and none of them is needed to define them.

use crate::calendar::Date;
use crate::money::Money;

/// ISO 20022 `Max35Text`: the longest end-to-end, message, instruction or payment
/// information id a pain.001 may carry.
pub const REFERENCE_CHARS_MAX: usize = 35;

/// ISO 20022 `Max140Text`: the longest party name a pain.001 may carry.
pub const NAME_CHARS_MAX: usize = 140;

/// ISO 20022 `Max34Text` (`Othr/Id` of an account): the longest account number.
pub const ACCOUNT_CHARS_MAX: usize = 34;

/// ISO 20022 `ExternalStatusReason1Code` and `ExternalPaymentTransactionStatus1Code`
/// (`Max4Text`): the longest ISO reason (`AC04`) or status (`ACSC`) code.
pub const CODE_CHARS_MAX: usize = 4;

/// ISO 20022 `Max105Text` (`StsRsnInf/AddtlInf`): the longest explanation of a reason.
pub const REASON_INFO_CHARS_MAX: usize = 105;

/// How many random bytes a fresh message or instruction id holds (hex-encoded, 32 of the 35
/// characters): 128 bits, so two attempts never share an id by chance.
pub const ATTEMPT_ID_RANDOM_BYTES: usize = 16;

const _: () = assert!(ATTEMPT_ID_RANDOM_BYTES * 2 <= REFERENCE_CHARS_MAX);

/// Why an identifier, name or account number cannot be sent to a bank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The payout id in decimal is longer than ISO 20022 allows for an end-to-end id.
    #[error(
        "payout id {payout_id} has {digits} decimal digits; an end-to-end id holds at most {REFERENCE_CHARS_MAX}"
    )]
    PayoutIdTooLong {
        /// The refused payout id.
        payout_id: u128,
        /// Its decimal length.
        digits: usize,
    },
    /// Empty, too long, or holding characters outside the safe reference alphabet.
    #[error("{what} {text:?} must be 1..={max} characters of A-Z a-z 0-9 - . / (no blanks)")]
    BadReference {
        /// Which field.
        what: &'static str,
        /// The refused text.
        text: String,
        /// Its maximum length.
        max: usize,
    },
    /// A name that is empty, too long or holds control characters.
    #[error("{what} {text:?} must be 1..={max} characters without control characters")]
    BadName {
        /// Which field.
        what: &'static str,
        /// The refused text.
        text: String,
        /// Its maximum length.
        max: usize,
    },
    /// The operating system's random source failed while making a fresh id.
    #[error("no randomness for a fresh attempt id: {detail}")]
    NoRandomness {
        /// The source's error text.
        detail: String,
    },
}

/// At most `max` characters, each of the conservative alphabet every bank and every ISO 20022
/// profile accepts (letters, digits, `-`, `.`, `/`): the rule for references and for the
/// cursors a bank hands back.
pub(crate) fn in_reference_alphabet(text: &str, max: usize) -> bool {
    text.chars().count() <= max
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-./".contains(character))
}

/// Checks a reference (id, account number) against the conservative alphabet every bank and
/// every ISO 20022 profile accepts: letters, digits, `-`, `.`, `/`.
fn check_reference(what: &'static str, text: &str, max: usize) -> Result<(), ReferenceError> {
    if !text.is_empty() && in_reference_alphabet(text, max) {
        Ok(())
    } else {
        Err(ReferenceError::BadReference { what, text: text.to_owned(), max })
    }
}

/// Checks a free-text name: non-empty, bounded, no control characters (they break XML and
/// the signed canonical form alike).
fn check_name(what: &'static str, text: &str, max: usize) -> Result<(), ReferenceError> {
    let valid = !text.trim().is_empty()
        && text.chars().count() <= max
        && !text.chars().any(char::is_control);
    if valid { Ok(()) } else { Err(ReferenceError::BadName { what, text: text.to_owned(), max }) }
}

/// Checks free text a bank document carries beside names — a remittance line, a payer's name
/// on a credit — by the rules of [`Party`] names (ISO 20022 `Max140Text`, not blank, no
/// control characters), so a bank's notification or statement can always be written.
pub fn check_text(what: &'static str, text: &str) -> Result<(), ReferenceError> {
    check_name(what, text, NAME_CHARS_MAX)
}

/// Checks an ISO 20022 external code (a reason such as `AC04`, a status such as `ACSC`):
/// 1..=[`CODE_CHARS_MAX`] characters of the reference alphabet, as the schemas' `Max4Text`
/// codes are.
pub fn check_code(what: &'static str, code: &str) -> Result<(), ReferenceError> {
    check_reference(what, code, CODE_CHARS_MAX)
}

/// Checks an account number as every request naming one sends it: the reference alphabet,
/// 1..=[`ACCOUNT_CHARS_MAX`] characters (ISO 20022 `Max34Text`), so it goes into a URL, a
/// document or a signed body unescaped.
pub fn check_account(account: &str) -> Result<(), ReferenceError> {
    check_reference("account", account, ACCOUNT_CHARS_MAX)
}

/// The end-to-end id of a payout: its ledger payout id in decimal, the bank's idempotency key.
///
/// Why decimal of the id and nothing else: the bank deduplicates by this text and a worker
/// that lost its lease must still produce the identical text, so it is a pure function of
/// the payout id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndToEndId(String);

impl EndToEndId {
    /// The end-to-end id of payout `payout_id`. Ids of more than 35 decimal digits (≥ 10^35)
    /// are refused: ISO 20022 `EndToEndId` is `Max35Text`, and a truncated or re-encoded id
    /// would no longer be the payout id.
    pub fn from_payout_id(payout_id: u128) -> Result<EndToEndId, ReferenceError> {
        let text = payout_id.to_string();
        if text.len() > REFERENCE_CHARS_MAX {
            return Err(ReferenceError::PayoutIdTooLong { payout_id, digits: text.len() });
        }
        Ok(EndToEndId(text))
    }

    /// An end-to-end id as a bank reported it (`OrgnlEndToEndId`, `EndToEndId`): any valid
    /// reference, which may or may not be one of ours ([`EndToEndId::payout_id`] tells).
    pub fn parse(text: &str) -> Result<EndToEndId, ReferenceError> {
        check_reference("end-to-end id", text, REFERENCE_CHARS_MAX)?;
        Ok(EndToEndId(text.to_owned()))
    }

    /// The payout id, when this is the canonical decimal of one (no leading zeros or signs),
    /// so a bank echoing "0042" is not mistaken for payout 42.
    pub fn payout_id(&self) -> Option<u128> {
        let id: u128 = self.0.parse().ok()?;
        (id.to_string() == self.0).then_some(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message or instruction id: unique per attempt, so a bank that keeps a message log never
/// drops a resend as a duplicate *message*, while the end-to-end id still makes it the same
/// *payment*.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(String);

impl AttemptId {
    /// A fresh id: 128 random bits from the operating system, in hex.
    pub fn fresh() -> Result<AttemptId, ReferenceError> {
        let mut bytes = [0u8; ATTEMPT_ID_RANDOM_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|error| ReferenceError::NoRandomness { detail: error.to_string() })?;
        Ok(AttemptId(hex::encode(bytes)))
    }

    /// An id chosen by the caller (a bank's own ids when parsing, or a simulator's), checked
    /// against the reference alphabet and `Max35Text`.
    pub fn parse(text: &str) -> Result<AttemptId, ReferenceError> {
        check_reference("message/instruction id", text, REFERENCE_CHARS_MAX)?;
        Ok(AttemptId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The per-attempt ids of one payout submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptIds {
    /// Group header `MsgId` (and the direct-connect request id).
    pub message_id: AttemptId,
    /// `PmtId/InstrId` (and `PmtInfId`, one payment per message).
    pub instruction_id: AttemptId,
}

impl AttemptIds {
    /// Two fresh ids for a new attempt.
    pub fn fresh() -> Result<AttemptIds, ReferenceError> {
        Ok(AttemptIds { message_id: AttemptId::fresh()?, instruction_id: AttemptId::fresh()? })
    }
}

/// One side of a payment: the account at the bank and its holder's name, both checked so
/// they cannot break a document or a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    account: String,
    name: String,
}

impl Party {
    /// A party with a bank account number (`Max34Text`, reference alphabet) and a name
    /// (`Max140Text`, no control characters).
    pub fn new(account: &str, name: &str) -> Result<Party, ReferenceError> {
        check_account(account)?;
        check_name("name", name, NAME_CHARS_MAX)?;
        Ok(Party { account: account.to_owned(), name: name.to_owned() })
    }

    /// The account number.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The holder's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Everything a bank needs to execute one payout attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutInstruction {
    /// The payout id in decimal: the same on every attempt.
    pub end_to_end_id: EndToEndId,
    /// Fresh on every attempt.
    pub attempt: AttemptIds,
    /// The amount in minor units with its currency.
    pub amount: Money,
    /// Our custody account that pays.
    pub debtor: Party,
    /// The beneficiary.
    pub creditor: Party,
    /// The day the bank should execute.
    pub requested_execution_date: Date,
    /// The attempt's creation time (Unix ms, from the caller's clock), written as `CreDtTm`.
    pub created_at_unix_ms: u64,
}

/// A bank's reason for a status, as an ISO 20022 external code (`AC04` closed account,
/// `AM04` insufficient funds, …) or a bank-proprietary code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCode {
    /// The code as the bank sent it.
    pub code: String,
    /// Whether it is from the ISO external code list (`Rsn/Cd`) or the bank's own (`Rsn/Prtry`).
    pub kind: ReasonKind,
    /// The bank's free-text explanation, if any.
    pub additional_info: Option<String>,
}

impl ReasonCode {
    /// Checks that the reason fits the elements that carry it: an ISO code (`Rsn/Cd`) by
    /// [`check_code`], a proprietary one (`Rsn/Prtry`) as a reference of up to
    /// [`REFERENCE_CHARS_MAX`], the explanation (`AddtlInf`) as up to
    /// [`REASON_INFO_CHARS_MAX`] characters without control characters.
    pub fn check(&self) -> Result<(), ReferenceError> {
        match self.kind {
            ReasonKind::Iso => check_code("reason code", &self.code)?,
            ReasonKind::Proprietary => {
                check_reference("proprietary reason code", &self.code, REFERENCE_CHARS_MAX)?;
            }
        }
        match &self.additional_info {
            Some(info) => check_name("reason explanation", info, REASON_INFO_CHARS_MAX),
            None => Ok(()),
        }
    }
}

/// Where a reason code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonKind {
    /// ISO 20022 `ExternalStatusReason1Code`.
    Iso,
    /// The bank's proprietary code.
    Proprietary,
}

/// What the bank said about a payout. Only `Executed` and `Rejected` are final: the worker
/// books `succeeded` / `failed` on them and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    /// Received and technically valid (`ACTC`, `RCVD`, `ACCP`): not yet executed.
    Accepted,
    /// Being processed (`PDNG`, `ACSP`, `ACWC`): not yet executed.
    Pending,
    /// Settled on the debtor's account (`ACSC`, `ACCC`): final success.
    Executed {
        /// The bank's own reference for the movement, when it gave one.
        bank_reference: Option<String>,
    },
    /// Refused (`RJCT`): final failure; the money never left.
    Rejected {
        /// Why.
        reason: Option<ReasonCode>,
    },
    /// The bank answered but its answer does not settle the outcome (an unknown status code,
    /// a `PART` status for a single payment): the caller must query again later.
    Unknown {
        /// The status as the bank wrote it.
        status: String,
    },
}

impl PayoutOutcome {
    /// True for `Executed` and `Rejected`, the only answers a worker may book as final.
    pub fn is_final(&self) -> bool {
        match self {
            PayoutOutcome::Executed { .. } | PayoutOutcome::Rejected { .. } => true,
            PayoutOutcome::Accepted | PayoutOutcome::Pending | PayoutOutcome::Unknown { .. } => {
                false
            }
        }
    }
}

/// The answer to a query by end-to-end id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutQuery {
    /// The bank has never seen this end-to-end id: it is safe to submit it (with the same id).
    NotFound,
    /// The bank knows the payment and says this.
    Known(PayoutOutcome),
}

/// Direction of a movement on our account, as ISO 20022 `CdtDbtInd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Money in (`CRDT`).
    Credit,
    /// Money out (`DBIT`).
    Debit,
}

/// Status of an account entry, as ISO 20022 `Sts/Cd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Booked (`BOOK`): final on the account.
    Booked,
    /// Pending (`PDNG`): may still change or disappear.
    Pending,
    /// Information only (`INFO`): never booked.
    Information,
}

/// One movement on one of our accounts, from a notification or a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankEntry {
    /// The bank's unique reference for the entry (`AcctSvcrRef`): collections are booked once
    /// per `(bank, bank_reference)`.
    pub bank_reference: String,
    /// The end-to-end id of the payment the entry belongs to, when the bank gave it (our
    /// payouts carry their payout id; incoming credits carry the payer's).
    pub end_to_end_id: Option<EndToEndId>,
    /// Money in or out.
    pub direction: Direction,
    /// The amount.
    pub amount: Money,
    /// Booked, pending or information.
    pub status: EntryStatus,
    /// `RvslInd`: this entry reverses an earlier one (a returned payout days later).
    pub reversal: bool,
    /// When it was booked.
    pub booking_date: Option<Date>,
    /// When it takes value.
    pub value_date: Option<Date>,
    /// Unstructured remittance information lines (`RmtInf/Ustrd`), e.g. a collection's
    /// reference the payer typed.
    pub remittance: Vec<String>,
    /// The counterparty's name, when given.
    pub counterparty_name: Option<String>,
}

/// An opaque position in one account's notification feed, returned by the bank with each
/// page. A cursor belongs to the account whose feed handed it out: the simulator refuses it on
/// another account's feed, and a caller keeps one cursor per account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationCursor(pub String);

/// One page of one account's notifications and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPage {
    /// The account every entry of the page moved, as the bank's answer named it (for an
    /// ISO 20022 document without any `Ntfctn`, which carries no entry, the account asked
    /// for): the gateway has checked it is the account asked for
    /// ([`crate::gateway::GatewayError::WrongAccount`] otherwise), and a caller booking the
    /// entries can check it once more against its own account.
    pub account: String,
    /// Entries in the bank's order.
    pub entries: Vec<BankEntry>,
    /// The cursor to ask with next time (equal to the one asked with when nothing is new).
    pub next_cursor: NotificationCursor,
}

/// A statement period, both days inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementPeriod {
    from: Date,
    to: Date,
}

impl StatementPeriod {
    /// The period, if `from` is not after `to`.
    pub fn new(from: Date, to: Date) -> Option<StatementPeriod> {
        (from <= to).then_some(StatementPeriod { from, to })
    }

    /// The first day.
    pub fn from(&self) -> Date {
        self.from
    }

    /// The last day.
    pub fn to(&self) -> Date {
        self.to
    }
}

/// A balance on a statement: the amount and whether it is a credit (positive) or a debit
/// (overdrawn) balance, so a negative balance never needs a signed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// The magnitude.
    pub amount: Money,
    /// `CRDT` for a positive balance, `DBIT` for an overdrawn one.
    pub direction: Direction,
    /// The day the balance is for.
    pub date: Date,
}

/// The kind of a statement balance, as ISO 20022 `Bal/Tp/CdOrPrtry/Cd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceType {
    /// `OPBD`: booked balance at the start of the period.
    OpeningBooked,
    /// `CLBD`: booked balance at the end of the period.
    ClosingBooked,
    /// Any other code (`ITBD`, `CLAV`, a proprietary one), kept as written.
    Other(String),
}

impl BalanceType {
    /// The ISO code.
    pub fn code(&self) -> &str {
        match self {
            BalanceType::OpeningBooked => "OPBD",
            BalanceType::ClosingBooked => "CLBD",
            BalanceType::Other(code) => code,
        }
    }

    /// The type of an ISO code.
    pub fn from_code(code: &str) -> BalanceType {
        match code {
            "OPBD" => BalanceType::OpeningBooked,
            "CLBD" => BalanceType::ClosingBooked,
            other => BalanceType::Other(other.to_owned()),
        }
    }
}

/// A bank statement for one account and period (camt.053): what reconciliation (对账)
/// compares with the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The bank's statement id.
    pub statement_id: String,
    /// The account number.
    pub account: String,
    /// The balances, in the bank's order (opening and closing booked among them, normally).
    pub balances: Vec<(BalanceType, Balance)>,
    /// Entries, reversals included.
    pub entries: Vec<BankEntry>,
}

impl Statement {
    /// The opening booked balance (`OPBD`), if the statement has one.
    pub fn opening_booked(&self) -> Option<&Balance> {
        self.balance(&BalanceType::OpeningBooked)
    }

    /// The closing booked balance (`CLBD`), if the statement has one.
    pub fn closing_booked(&self) -> Option<&Balance> {
        self.balance(&BalanceType::ClosingBooked)
    }

    fn balance(&self, kind: &BalanceType) -> Option<&Balance> {
        self.balances.iter().find(|(found, _)| found == kind).map(|(_, balance)| balance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_to_end_id_is_the_payout_id_and_fits_max35text() {
        let id = EndToEndId::from_payout_id(42).expect("small id");
        assert_eq!(id.as_str(), "42");
        assert_eq!(id.payout_id(), Some(42));
        let largest = 10u128.pow(35) - 1;
        assert_eq!(EndToEndId::from_payout_id(largest).map(|id| id.payout_id()), Ok(Some(largest)));
        assert!(matches!(
            EndToEndId::from_payout_id(10u128.pow(35)),
            Err(ReferenceError::PayoutIdTooLong { digits: 36, .. })
        ));
        assert!(EndToEndId::from_payout_id(u128::MAX).is_err());
        // A bank's echo with leading zeros is a reference, but not our payout 42.
        assert_eq!(EndToEndId::parse("0042").map(|id| id.payout_id()), Ok(None));
        assert!(EndToEndId::parse("has space").is_err());
        assert!(EndToEndId::parse("").is_err());
    }

    #[test]
    fn attempt_ids_are_fresh() {
        let first = AttemptIds::fresh().expect("randomness");
        let second = AttemptIds::fresh().expect("randomness");
        assert_ne!(first.message_id, second.message_id);
        assert_ne!(first.message_id, first.instruction_id);
        assert_eq!(first.message_id.as_str().len(), 32);
        assert!(AttemptId::parse(first.message_id.as_str()).is_ok());
    }

    #[test]
    fn parties_are_checked() {
        assert!(Party::new("6222020200001234567", "张三").is_ok());
        assert!(Party::new("", "x").is_err());
        assert!(Party::new("12 34", "x").is_err());
        assert!(Party::new("1234", "").is_err());
        assert!(Party::new("1234", "a\nb").is_err());
        assert!(Party::new(&"1".repeat(35), "x").is_err());
        assert!(Party::new("1234", &"名".repeat(141)).is_err());
    }

    #[test]
    fn document_text_and_codes_are_checked_at_the_schemas_limits() {
        assert!(check_text("line", &"名".repeat(NAME_CHARS_MAX)).is_ok());
        for bad in [String::new(), " ".to_owned(), "a\tb".to_owned(), "x".repeat(141)] {
            assert!(check_text("line", &bad).is_err(), "{bad:?}");
        }
        assert!(check_code("code", "AM04").is_ok() && check_code("code", "X").is_ok());
        for bad in ["", "AM045", "A M"] {
            assert!(check_code("code", bad).is_err(), "{bad:?}");
        }
        let reason = |code: &str, kind, info: Option<String>| ReasonCode {
            code: code.to_owned(),
            kind,
            additional_info: info,
        };
        assert!(reason("AC04", ReasonKind::Iso, Some("x".repeat(105))).check().is_ok());
        assert!(reason("B-1234567", ReasonKind::Proprietary, None).check().is_ok());
        assert!(reason("INSUFFICIENT", ReasonKind::Iso, None).check().is_err());
        assert!(reason(&"P".repeat(36), ReasonKind::Proprietary, None).check().is_err());
        assert!(reason("AC04", ReasonKind::Iso, Some("x".repeat(106))).check().is_err());
        assert!(reason("AC04", ReasonKind::Iso, Some(String::new())).check().is_err());
    }

    #[test]
    fn only_executed_and_rejected_are_final() {
        assert!(PayoutOutcome::Executed { bank_reference: None }.is_final());
        assert!(PayoutOutcome::Rejected { reason: None }.is_final());
        assert!(!PayoutOutcome::Accepted.is_final());
        assert!(!PayoutOutcome::Pending.is_final());
        assert!(!PayoutOutcome::Unknown { status: "PART".into() }.is_final());
    }
}
