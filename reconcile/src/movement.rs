//! The two streams' items.
//!
//! The ledger side is what the ledger booked that touches a bank: payouts (with the state they
//! stand in), collections and returned payouts. Its time is the ledger's (ns since the Unix
//! epoch): a payout's last state change, a collection's booking. The bank side is the
//! statement's entries with the instant the bank booked each (ns since the Unix epoch, the same
//! clock): a statement's date alone would make a day the smallest window.
//!
//! A booked collection is known by its transfer id, `collection_id(bank, bank_reference)`:
//! read from the ledger's records the bank's reference is not there (a transfer does not carry
//! it), so it is kept when known (a `Collection` record) and the id is what matching uses.

use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::gateway::{BankEntry, Direction};
use tianping_bank_adapters::money::Money;
use tianping_ledger::{Collection, Payout, PayoutState, Transfer};

use crate::keys::MatchKey;

/// What the ledger holds of a payout that reconciliation needs: enough to judge what the bank
/// did with it and to name the account to outflow-block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LedgerPayout {
    /// The payout id (its end-to-end id at the bank).
    pub payout_id: u128,
    /// The customer account it pays from: the one outflow-blocked when it differs.
    pub debit_account_id: u128,
    /// The amount reserved, in minor units.
    pub amount: u128,
    /// Where it stands.
    pub state: PayoutState,
}

impl LedgerPayout {
    /// The facts of a stored payout.
    pub fn of(payout: &Payout) -> LedgerPayout {
        LedgerPayout {
            payout_id: payout.id,
            debit_account_id: payout.debit_account_id,
            amount: payout.amount,
            state: payout.state,
        }
    }
}

/// A payout as the ledger stream carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PayoutMovement {
    /// The payout.
    pub payout: LedgerPayout,
    /// Its last state change (ns): when a succeeded payout was recorded paid.
    pub at: u64,
}

/// A collection the ledger booked (settlement → beneficiary or suspense).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BookedCollection {
    /// Its transfer id: `collection_id(bank, bank_reference)` when the worker booked it.
    pub collection_id: u128,
    /// The bank's reference it was booked by, when the ledger's record at hand shows it (a
    /// `Collection` does, a `Transfer` does not): evidence only.
    pub bank_reference: Option<String>,
    /// The account credited (the beneficiary, or suspense): outflow-blocked when the bank
    /// does not have the money.
    pub credited_account_id: u128,
    /// The amount, in minor units.
    pub amount: u128,
    /// When it was booked (ns).
    pub at: u64,
}

/// A returned payout the ledger booked back (a collection with the reversal code and
/// `user_data` = the payout id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BookedReturn {
    /// The payout returned.
    pub payout_id: u128,
    /// Its transfer id (`collection_id` of the return's bank reference).
    pub collection_id: u128,
    /// The bank's reference of the return, when known: evidence only.
    pub bank_reference: Option<String>,
    /// The account credited back (the payout's debit account, or suspense).
    pub credited_account_id: u128,
    /// The amount, in minor units.
    pub amount: u128,
    /// When it was booked (ns).
    pub at: u64,
}

/// One item of the ledger stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LedgerMovement {
    /// A payout, in whatever state it stands.
    Payout(PayoutMovement),
    /// A booked collection.
    Collection(BookedCollection),
    /// A booked return of a payout.
    Return(BookedReturn),
}

impl LedgerMovement {
    /// A stored payout, at its last state change.
    pub fn of_payout(payout: &Payout) -> LedgerMovement {
        LedgerMovement::Payout(PayoutMovement {
            payout: LedgerPayout::of(payout),
            at: payout.updated_at,
        })
    }

    /// A stored collection: a return when it was booked with `reversal_code` for a payout
    /// (`user_data` non-zero), as the bank worker books returns; a collection otherwise.
    pub fn of_collection(collection: &Collection, reversal_code: u16) -> LedgerMovement {
        let request = &collection.request;
        LedgerMovement::of_booking(
            Booking {
                collection_id: request.id,
                bank_reference: Some(request.bank_reference.clone()),
                credited_account_id: collection.credited_account_id,
                amount: request.amount,
                code: request.code,
                user_data: request.user_data,
                at: collection.timestamp,
            },
            reversal_code,
        )
    }

    /// A posted transfer out of the bank-settlement account, as the reconciler reads the
    /// ledger (an account's transfers): every collection and returned payout the worker books
    /// is one, under its collection id. By the same rule as [`LedgerMovement::of_collection`]
    /// it is a return or a collection; the bank's reference is not on a transfer.
    pub fn of_settlement_transfer(transfer: &Transfer, reversal_code: u16) -> LedgerMovement {
        LedgerMovement::of_booking(
            Booking {
                collection_id: transfer.id,
                bank_reference: None,
                credited_account_id: transfer.credit_account_id,
                amount: transfer.amount,
                code: transfer.code,
                user_data: transfer.user_data,
                at: transfer.timestamp,
            },
            reversal_code,
        )
    }

    fn of_booking(booking: Booking, reversal_code: u16) -> LedgerMovement {
        if booking.code == reversal_code && booking.user_data != 0 {
            LedgerMovement::Return(BookedReturn {
                payout_id: booking.user_data,
                collection_id: booking.collection_id,
                bank_reference: booking.bank_reference,
                credited_account_id: booking.credited_account_id,
                amount: booking.amount,
                at: booking.at,
            })
        } else {
            LedgerMovement::Collection(BookedCollection {
                collection_id: booking.collection_id,
                bank_reference: booking.bank_reference,
                credited_account_id: booking.credited_account_id,
                amount: booking.amount,
                at: booking.at,
            })
        }
    }

    /// Its time on the ledger's clock (ns).
    pub const fn at(&self) -> u64 {
        match self {
            LedgerMovement::Payout(movement) => movement.at,
            LedgerMovement::Collection(movement) => movement.at,
            LedgerMovement::Return(movement) => movement.at,
        }
    }

    /// The same movement taken to have happened no earlier than `at`: how the reconciler
    /// feeds a movement its read delivered after the stream's watermark had passed it (a
    /// listing read a moment before another), so the matcher's time order holds. The key, the
    /// amount and the accounts are unchanged; only the waiting starts later.
    pub fn delayed_to(mut self, at: u64) -> LedgerMovement {
        let time = match &mut self {
            LedgerMovement::Payout(movement) => &mut movement.at,
            LedgerMovement::Collection(movement) => &mut movement.at,
            LedgerMovement::Return(movement) => &mut movement.at,
        };
        *time = (*time).max(at);
        self
    }

    /// The amount, in minor units.
    pub const fn amount(&self) -> u128 {
        match self {
            LedgerMovement::Payout(movement) => movement.payout.amount,
            LedgerMovement::Collection(movement) => movement.amount,
            LedgerMovement::Return(movement) => movement.amount,
        }
    }

    /// The key it meets the bank's entry under.
    pub fn key(&self) -> MatchKey {
        match self {
            LedgerMovement::Payout(movement) => MatchKey::Payout(movement.payout.payout_id),
            LedgerMovement::Collection(movement) => MatchKey::Collection(movement.collection_id),
            LedgerMovement::Return(movement) => MatchKey::Return(movement.payout_id),
        }
    }

    /// The account a difference in this movement outflow-blocks: the payout's debit account,
    /// or the account a collection or return credited.
    pub const fn account_id(&self) -> u128 {
        match self {
            LedgerMovement::Payout(movement) => movement.payout.debit_account_id,
            LedgerMovement::Collection(movement) => movement.credited_account_id,
            LedgerMovement::Return(movement) => movement.credited_account_id,
        }
    }
}

/// What a booking of money in says, whichever record it was read from.
struct Booking {
    collection_id: u128,
    bank_reference: Option<String>,
    credited_account_id: u128,
    amount: u128,
    code: u16,
    user_data: u128,
    at: u64,
}

/// One item of the bank stream: a statement entry and the instant the bank booked it (ns since
/// the Unix epoch; the camt.053 `BookgDt/DtTm`, or when the entry was notified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankMovement {
    /// The entry.
    pub entry: BankEntry,
    /// When the bank booked it (ns).
    pub booked_at: u64,
}

/// What the matcher keeps of a bank entry while it waits: what matching compares and the
/// evidence shows (remittance lines and names are left behind, so the window stays small).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankRecord {
    /// The bank's reference of the entry.
    pub bank_reference: String,
    /// Money in or out.
    pub direction: Direction,
    /// The amount with its currency.
    pub amount: Money,
    /// A reversal of an earlier entry.
    pub reversal: bool,
    /// When it takes value, if the bank said.
    pub value_date: Option<Date>,
    /// When the bank booked it (ns).
    pub booked_at: u64,
}

impl BankRecord {
    /// The record of a bank movement (its strings are moved, not copied).
    pub fn of(movement: BankMovement) -> BankRecord {
        let BankMovement { entry, booked_at } = movement;
        BankRecord {
            bank_reference: entry.bank_reference,
            direction: entry.direction,
            amount: entry.amount,
            reversal: entry.reversal,
            value_date: entry.value_date,
            booked_at,
        }
    }
}
