//! What a simulated bank keeps: accounts, payment instructions and journal entries.

use serde::{Deserialize, Serialize};
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{BankEntry, Direction, EndToEndId, EntryStatus, Party};
use tianping_bank_adapters::money::{Currency, Money};

use crate::bank::callbacks::CallbackFaults;
use crate::faults::PendingEnd;

/// The protocol a bank speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// ISO 20022 XML (pain.001 in, pain.002 / camt.054 / camt.053 out).
    Iso20022,
    /// Signed direct-connect JSON envelopes.
    Direct,
}

/// An account held at the bank, with an integer balance in its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account number.
    pub number: String,
    /// The holder's name.
    pub name: String,
    /// The one currency the account holds.
    pub currency: Currency,
    /// The balance the bank opened with (statements start from it).
    pub opening_balance: u128,
    /// The balance now, in minor units (never negative: the bank refuses overdrafts).
    pub balance: u128,
}

/// One payment order as the bank received it, whichever protocol carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    /// The payer's idempotency key.
    pub end_to_end_id: EndToEndId,
    /// The attempt's message id.
    pub message_id: String,
    /// The attempt's instruction id.
    pub instruction_id: String,
    /// The attempt's payment information id (ISO 20022; the instruction id otherwise).
    pub payment_information_id: String,
    /// The amount.
    pub amount: Money,
    /// The paying account.
    pub debtor: Party,
    /// The beneficiary (an account at this bank or elsewhere).
    pub creditor: Party,
}

/// Where a payment instruction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionStatus {
    /// Received, not yet executed; ends at `until_ms` as `then`.
    Pending {
        /// When it ends.
        until_ms: u64,
        /// How it ends.
        then: PendingEnd,
    },
    /// Debited (and credited, when the creditor is at this bank).
    Executed {
        /// The reference of the debit entry.
        bank_reference: String,
        /// When.
        at_ms: u64,
    },
    /// Refused; no money moved.
    Rejected {
        /// The ISO reason code.
        reason_code: String,
        /// The bank's explanation.
        additional_info: String,
    },
}

/// A return (reversal) of an executed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRecord {
    /// When it was booked.
    pub at_ms: u64,
    /// The reference of the reversal entry on the debtor's account.
    pub bank_reference: String,
}

/// The faults that apply to the notification entry a payment produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryFaults {
    /// Never deliver it.
    pub lose: bool,
    /// Deliver it twice.
    pub duplicate: bool,
    /// Deliver it after the next entry.
    pub reorder: bool,
}

/// The booking faults of one payment (`crate::faults` module doc): what makes the bank's
/// answers about it and its books disagree. Decided when the order arrives and kept with the
/// record, so a pending payment executed later keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingFaults {
    /// Execute and book, but tell "rejected" with this reason code.
    pub report_rejected: Option<String>,
    /// Tell "executed", book nothing.
    pub drop_booking: bool,
    /// Execute this many minor units off the instructed amount (0: none).
    pub amount_off_minor_units: i64,
    /// Execute twice, tell once.
    pub execute_twice: bool,
    /// Never notify the return's entries (with `InstructionRecord::return_after_ms`).
    pub return_unnotified: bool,
}

impl BookingFaults {
    /// The amount the bank books for `instructed`: off by `amount_off_minor_units` when the
    /// result is at least one minor unit and fits, else the instructed amount.
    pub fn executed_amount(&self, instructed: Money) -> Money {
        let offset = i128::from(self.amount_off_minor_units);
        let changed = i128::try_from(instructed.minor_units)
            .ok()
            .and_then(|amount| amount.checked_add(offset))
            .and_then(|amount| u128::try_from(amount).ok())
            .filter(|amount| *amount >= 1);
        match changed {
            Some(minor_units) => Money { minor_units, currency: instructed.currency },
            None => instructed,
        }
    }
}

/// One debit the bank really booked for a payment: the truth, whatever the bank told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The debit entry's reference.
    pub bank_reference: String,
    /// The amount debited.
    pub amount: Money,
    /// When.
    pub at_ms: u64,
}

/// Everything the bank keeps about one end-to-end id: the first order it received, how many
/// times it was sent, where it stands as the bank tells it, and what it really booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionRecord {
    /// The first order received with this end-to-end id (later ones only count as attempts).
    pub order: PaymentOrder,
    /// How many orders arrived with this end-to-end id.
    pub attempts: u32,
    /// When the first one arrived.
    pub received_at_ms: u64,
    /// Where it stands, as the bank tells it (its answers and status queries). Under a
    /// booking fault this may contradict `executions`.
    pub status: InstructionStatus,
    /// A return scheduled this long after execution, by a fault.
    pub return_after_ms: Option<u64>,
    /// The return, once booked.
    pub returned: Option<ReturnRecord>,
    /// Faults for the debit entry (kept for a pending payment executed later).
    pub entry_faults: EntryFaults,
    /// Faults that make the answers and the books disagree.
    pub booking_faults: BookingFaults,
    /// Faults for the payment's status callback (drawn only when its debtor account has a
    /// callback URL).
    pub callback_faults: CallbackFaults,
    /// Every debit the bank really booked for this payment, in booking order: none until it
    /// executes (or ever, when rejected or under `drop_booking`), one normally, two under
    /// `execute_twice`. A return reverses the first.
    pub executions: Vec<Execution>,
}

/// One booked movement on one of the bank's accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The bank's unique reference.
    pub bank_reference: String,
    /// The account it moved.
    pub account: String,
    /// In or out.
    pub direction: Direction,
    /// How much.
    pub amount: Money,
    /// True for a return.
    pub reversal: bool,
    /// When it was booked, Unix ms.
    pub booked_at_ms: u64,
    /// The payment's end-to-end id, when it has one.
    pub end_to_end_id: Option<EndToEndId>,
    /// Remittance lines.
    pub remittance: Vec<String>,
    /// The other side's name.
    pub counterparty_name: Option<String>,
}

impl JournalEntry {
    /// The entry as a notification or statement shows it.
    pub fn to_bank_entry(&self) -> BankEntry {
        let date = Date::from_unix_ms(self.booked_at_ms);
        BankEntry {
            bank_reference: self.bank_reference.clone(),
            end_to_end_id: self.end_to_end_id.clone(),
            direction: self.direction,
            amount: self.amount,
            status: EntryStatus::Booked,
            reversal: self.reversal,
            booking_date: Some(date),
            value_date: Some(date),
            remittance: self.remittance.clone(),
            counterparty_name: self.counterparty_name.clone(),
        }
    }

    /// The entry's effect on its account's balance, signed.
    pub fn signed_amount(&self) -> Option<i128> {
        let magnitude = i128::try_from(self.amount.minor_units).ok()?;
        match self.direction {
            Direction::Credit => Some(magnitude),
            Direction::Debit => magnitude.checked_neg(),
        }
    }
}

/// A collection (incoming credit) the bank posts on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionSchedule {
    /// The credited account.
    pub account: String,
    /// The amount of each credit, in the account's currency.
    pub minor_units: u128,
    /// The payer's name.
    pub payer_name: String,
    /// The remittance line (the reference the payer typed); the credit's number is appended.
    pub remittance: String,
    /// The first credit, Unix ms.
    pub first_at_ms: u64,
    /// The time between credits.
    pub every_ms: u64,
    /// How many credits in all.
    pub count: u32,
}
