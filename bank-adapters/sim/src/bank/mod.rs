//! One simulated bank: a pure, deterministic state machine. Every operation takes the time
//! (Unix ms) from its caller, and every random choice comes from the bank's seeded generator,
//! so the same seed and the same calls give the same bank, byte for byte.
//!
//! What it holds to, like a real bank:
//! - **One payment per end-to-end id.** The first order with an id is recorded and decided;
//!   every later order with the same id changes nothing and is answered with the first one's
//!   status (counted in [`InstructionRecord::attempts`]).
//! - **Money is conserved.** A payout debits the debtor and credits the creditor when the
//!   creditor banks here, or the clearing position otherwise; a collection credits an account
//!   from clearing; a return undoes a payout. Per currency, the balances plus the net
//!   clearing outflow always equal the opening balances ([`Bank::check_conservation`]).
//! - **Its books are its own truth.** Every account's balance is its opening balance plus its
//!   journal entries ([`Bank::check_journal`]). A booking fault (`crate::faults`) changes what
//!   the bank *tells* — its answers, its status queries — or books a real extra movement,
//!   never one without the other: each payment's record keeps what it told (`status`) and
//!   what it booked (`executions`) side by side.
//! - **Notifications are per account.** Each account has its own feed ([`journal`]): a
//!   customer reads its own account's entries, never those of the bank's other customers.
//! - **Refusals carry ISO reason codes.** `AC01` unknown debtor account, `AM03` a currency
//!   the account does not hold, `AM04` insufficient funds; a fault-injected rejection carries
//!   its own code. No money moves on a refusal, and the record is kept for queries.
//!
//! - **Callbacks are pushed where registered.** An account with a callback URL gets a
//!   callback for each final status of its payouts and each credit booked on it
//!   ([`callbacks`]), with their own faults; the server delivers them.
//!
//! Scheduled things — pending payments ending, returns, collections — happen in
//! [`Bank::advance`], which every operation calls first with its `now_ms`; each is booked at
//! its own due time, so statements date it correctly however late it is observed.

pub mod callbacks;
pub mod journal;
pub mod records;

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use tianping_bank_adapters::gateway::{Direction, EndToEndId, Party, check_text};
use tianping_bank_adapters::money::{Currency, Money};

use crate::faults::{DEFAULT_REJECT_REASON, Fault, FaultConfig, PPM_MAX, PendingEnd};
use callbacks::{
    CallbackEvent, CallbackFaults, CallbackStats, Delivered, DueCallback, Outbox,
    valid_callback_url,
};
pub use journal::Feed;
use records::{
    Account, BookingFaults, CollectionSchedule, EntryFaults, Execution, InstructionRecord,
    InstructionStatus, JournalEntry, PaymentOrder, Protocol, ReturnRecord,
};

/// The longest bank id: it prefixes every reference the bank makes, which must fit
/// ISO 20022 `Max35Text`.
pub const BANK_ID_CHARS_MAX: usize = 12;

/// ISO 20022 reason: account number unknown at this bank.
pub const REASON_UNKNOWN_ACCOUNT: &str = "AC01";
/// ISO 20022 reason: currency not held by the account.
pub const REASON_CURRENCY: &str = "AM03";
/// ISO 20022 reason: insufficient funds.
pub const REASON_INSUFFICIENT_FUNDS: &str = "AM04";

/// Why a bank operation failed (as opposed to a payment being rejected, which is an answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// A bank id outside `[a-z0-9-]{1,12}`.
    #[error("bank id {0:?} must be 1..={BANK_ID_CHARS_MAX} of a-z 0-9 -")]
    BadBankId(String),
    /// An account number the bank does not hold.
    #[error("no account {0}")]
    UnknownAccount(String),
    /// Two accounts with one number.
    #[error("account {0} is listed twice")]
    DuplicateAccount(String),
    /// An amount in another currency than the account's.
    #[error("account {account} holds {held}, not {given}")]
    WrongCurrency {
        /// The account.
        account: String,
        /// Its currency.
        held: Currency,
        /// The amount's currency.
        given: Currency,
    },
    /// A sum that does not fit its integer type.
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    /// A notification cursor the account's feed did not hand out (another account's, past
    /// its end, malformed).
    #[error("bad notification cursor {0:?} for this account's feed")]
    BadCursor(String),
    /// A reference the bank builds that ISO 20022 cannot carry.
    #[error("reference: {0}")]
    Reference(#[from] tianping_bank_adapters::gateway::ReferenceError),
    /// Text given to the bank — a payer's name, a remittance line — that its notifications
    /// and statements could not carry (ISO 20022 `Max140Text`).
    #[error("{0}")]
    BadText(tianping_bank_adapters::gateway::ReferenceError),
    /// A callback URL the bank cannot push to (not `http://host…`, too long, blanks).
    #[error("bad callback url {0:?}: http://host[:port][/path], visible ASCII")]
    BadCallbackUrl(String),
    /// An account's balance is not its opening balance plus its journal entries (a bug).
    #[error("account {account}: balance {balance} != opening + journal {journal}")]
    JournalDisagrees {
        /// The account.
        account: String,
        /// Its balance.
        balance: i128,
        /// Its opening balance plus the signed sum of its journal entries.
        journal: i128,
    },
    /// Balances plus clearing no longer equal the opening balances (a bug).
    #[error(
        "money not conserved in {currency}: balances {balances} + clearing {clearing} != opening {opening}"
    )]
    NotConserved {
        /// The currency.
        currency: Currency,
        /// Σ balances.
        balances: i128,
        /// Net clearing outflow.
        clearing: i128,
        /// Σ opening balances.
        opening: i128,
    },
}

/// How the answer to a request is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// At once.
    Now,
    /// After this many milliseconds.
    Late(u64),
    /// Never: the request hangs until the caller gives up.
    Hang,
    /// Never: the connection is dropped.
    Drop,
}

/// How an answer is to be delivered, and whether its signature is to be broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerFaults {
    /// When and whether.
    pub delivery: Delivery,
    /// Break the direct-connect signature.
    pub bad_signature: bool,
}

/// Counters of what the bank did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BankStats {
    /// Protocol requests handled (down refusals included).
    pub requests: u64,
    /// Requests refused because the bank was down.
    pub refused_down: u64,
    /// Payment orders received, duplicates included.
    pub orders: u64,
    /// Orders whose end-to-end id was already known.
    pub duplicate_orders: u64,
    /// Payments executed: money moved, whatever the bank told.
    pub executed: u64,
    /// Payments answered rejected (`execute-report-rejected` ones too, though they moved
    /// money).
    pub rejected: u64,
    /// Payments and returns a booking fault made the answers and the books disagree about.
    pub misreported: u64,
    /// Payments returned.
    pub returned: u64,
    /// Collections credited.
    pub collections: u64,
}

/// A bank's construction parameters.
#[derive(Debug, Clone)]
pub struct BankSetup {
    /// The id (prefix of its references and of its HTTP paths).
    pub id: String,
    /// A display name.
    pub name: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// Its accounts with opening balances.
    pub accounts: Vec<Account>,
    /// Scheduled collections.
    pub collections: Vec<CollectionSchedule>,
    /// Standing faults.
    pub faults: FaultConfig,
    /// The seed of its generator.
    pub seed: u64,
}

/// One simulated bank (module doc).
#[derive(Debug)]
pub struct Bank {
    id: String,
    name: String,
    protocol: Protocol,
    accounts: BTreeMap<String, Account>,
    /// Net money that left the bank to other banks, per currency (negative when more came in).
    clearing: BTreeMap<Currency, i128>,
    instructions: BTreeMap<EndToEndId, InstructionRecord>,
    feed: Feed,
    faults: FaultConfig,
    directives: BTreeMap<EndToEndId, Vec<Fault>>,
    collections: Vec<(CollectionSchedule, u32)>,
    rng: SmallRng,
    references: u64,
    stats: BankStats,
    /// Where each account's callbacks go (accounts without one get none).
    callback_urls: BTreeMap<String, String>,
    outbox: Outbox,
}

/// True for a bank id of `[a-z0-9-]{1,12}` (its references' prefix, its path segment).
pub fn valid_bank_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= BANK_ID_CHARS_MAX
        && id.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

impl Bank {
    /// A bank with its accounts at their opening balances.
    pub fn new(setup: BankSetup) -> Result<Bank, BankError> {
        if !valid_bank_id(&setup.id) {
            return Err(BankError::BadBankId(setup.id));
        }
        let mut accounts = BTreeMap::new();
        for account in setup.accounts {
            Party::new(&account.number, &account.name)?;
            let number = account.number.clone();
            if accounts.insert(number.clone(), account).is_some() {
                return Err(BankError::DuplicateAccount(number));
            }
        }
        for schedule in &setup.collections {
            if !accounts.contains_key(&schedule.account) {
                return Err(BankError::UnknownAccount(schedule.account.clone()));
            }
            // The last credit's remittance line is the longest.
            let last_line = collection_remittance(&schedule.remittance, schedule.count);
            check_credit_text(&schedule.payer_name, std::slice::from_ref(&last_line))?;
        }
        let feed = Feed::new(accounts.keys().map(String::as_str));
        Ok(Bank {
            id: setup.id,
            name: setup.name,
            protocol: setup.protocol,
            accounts,
            clearing: BTreeMap::new(),
            instructions: BTreeMap::new(),
            feed,
            faults: setup.faults,
            directives: BTreeMap::new(),
            collections: setup.collections.into_iter().map(|schedule| (schedule, 0)).collect(),
            rng: SmallRng::seed_from_u64(setup.seed),
            references: 0,
            stats: BankStats::default(),
            callback_urls: BTreeMap::new(),
            outbox: Outbox::default(),
        })
    }

    /// The bank's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The bank's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bank's protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The accounts, by number.
    pub fn accounts(&self) -> &BTreeMap<String, Account> {
        &self.accounts
    }

    /// Every instruction record, by end-to-end id.
    pub fn instructions(&self) -> &BTreeMap<EndToEndId, InstructionRecord> {
        &self.instructions
    }

    /// The journal: every booked entry, in booking order.
    pub fn journal(&self) -> &[JournalEntry] {
        self.feed.journal()
    }

    /// The counters.
    pub fn stats(&self) -> BankStats {
        self.stats
    }

    /// The standing faults.
    pub fn faults(&self) -> &FaultConfig {
        &self.faults
    }

    /// Replaces the standing faults.
    pub fn set_faults(&mut self, faults: FaultConfig) {
        self.faults = faults;
    }

    /// Adds faults for the next request about `end_to_end_id` (used once).
    pub fn add_directive(&mut self, end_to_end_id: EndToEndId, faults: Vec<Fault>) {
        self.directives.entry(end_to_end_id).or_default().extend(faults);
    }

    /// Registers (or, with `None`, withdraws) the URL the callbacks about `account` are pushed
    /// to ([`callbacks`] module doc). An account the bank does not hold is
    /// [`BankError::UnknownAccount`], a URL it cannot push to [`BankError::BadCallbackUrl`].
    pub fn register_callback(&mut self, account: &str, url: Option<&str>) -> Result<(), BankError> {
        if !self.accounts.contains_key(account) {
            return Err(BankError::UnknownAccount(account.to_owned()));
        }
        match url {
            Some(url) if !valid_callback_url(url) => Err(BankError::BadCallbackUrl(url.to_owned())),
            Some(url) => {
                self.callback_urls.insert(account.to_owned(), url.to_owned());
                Ok(())
            }
            None => {
                self.callback_urls.remove(account);
                Ok(())
            }
        }
    }

    /// The registered callback URLs, by account.
    pub fn callback_urls(&self) -> &BTreeMap<String, String> {
        &self.callback_urls
    }

    /// The pushed callbacks' counters.
    pub fn callback_stats(&self) -> CallbackStats {
        self.outbox.stats()
    }

    /// Callbacks waiting or in flight.
    pub fn callbacks_waiting(&self) -> usize {
        self.outbox.len()
    }

    /// Books what is due at `now_ms`, then hands out up to `max` callbacks due for delivery,
    /// each with the URL it goes to; each is in flight until [`Bank::callback_settled`]. A
    /// callback whose account's URL was withdrawn meanwhile is abandoned.
    pub fn due_callbacks(
        &mut self,
        now_ms: u64,
        max: usize,
    ) -> Result<Vec<(DueCallback, String)>, BankError> {
        self.advance(now_ms)?;
        let mut due = Vec::new();
        for callback in self.outbox.take_due(now_ms, max) {
            match self.callback_urls.get(&callback.account) {
                Some(url) => {
                    let url = url.clone();
                    due.push((callback, url));
                }
                None => self.outbox.abandon(callback.id),
            }
        }
        Ok(due)
    }

    /// Takes back callback `id` after a delivery that went as `delivered`, at `now_ms`.
    pub fn callback_settled(&mut self, id: u64, delivered: Delivered, now_ms: u64) {
        self.outbox.settle(id, delivered, now_ms);
    }

    /// True for an answer's or a callback's signature to be broken, by the standing
    /// `bad_signature_ppm` (drawn only when it is not zero).
    pub fn draw_bad_signature(&mut self) -> bool {
        self.chance(self.faults.bad_signature_ppm)
    }

    /// True while a down window covers `now_ms`; counts the refusal the caller makes.
    pub fn refuse_if_down(&mut self, now_ms: u64) -> bool {
        self.stats.requests = self.stats.requests.saturating_add(1);
        let down = self.faults.is_down(now_ms);
        if down {
            self.stats.refused_down = self.stats.refused_down.saturating_add(1);
        }
        down
    }

    /// The net clearing outflow per currency.
    pub fn clearing(&self) -> &BTreeMap<Currency, i128> {
        &self.clearing
    }

    /// 16 bytes from the bank's generator in hex: the nonce of a signed answer.
    pub fn draw_nonce(&mut self) -> String {
        let bytes: [u8; 16] = self.rng.random();
        hex::encode(bytes)
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.rng.random_range(0..PPM_MAX) < ppm
    }

    fn next_reference(&mut self, kind: char) -> String {
        self.references = self.references.saturating_add(1);
        format!("{}-{kind}{}", self.id.to_uppercase(), self.references)
    }

    /// A fresh message id for a document the bank writes.
    pub fn next_message_id(&mut self) -> String {
        self.next_reference('M')
    }

    /// The faults that apply to a request about `end_to_end_id`: those it carried and the
    /// directives waiting for it (taken, so they apply once).
    fn take_faults(
        &mut self,
        end_to_end_id: Option<&EndToEndId>,
        carried: Vec<Fault>,
    ) -> Vec<Fault> {
        let mut faults = carried;
        if let Some(id) = end_to_end_id
            && let Some(directed) = self.directives.remove(id)
        {
            faults.extend(directed);
        }
        faults
    }

    /// Answer faults for a request: the explicit ones, then the standing probabilities.
    fn answer_faults(&mut self, explicit: &[Fault], new_payment: bool) -> AnswerFaults {
        let mut delivery = Delivery::Now;
        let mut bad_signature = false;
        for fault in explicit {
            match fault {
                Fault::TimeoutAfterExecute | Fault::TimeoutBeforeExecute => {
                    delivery = Delivery::Hang;
                }
                Fault::LoseAnswer => delivery = Delivery::Drop,
                Fault::AnswerLate { ms } if delivery == Delivery::Now => {
                    delivery = Delivery::Late(*ms);
                }
                Fault::BadSignature => bad_signature = true,
                _ => {}
            }
        }
        if new_payment && delivery == Delivery::Now {
            if self.chance(self.faults.timeout_after_execute_ppm) {
                delivery = Delivery::Hang;
            } else if self.chance(self.faults.lose_answer_ppm) {
                delivery = Delivery::Drop;
            }
        }
        if delivery == Delivery::Now && self.chance(self.faults.answer_late_ppm) {
            delivery = Delivery::Late(self.faults.answer_late_ms);
        }
        if !bad_signature && self.chance(self.faults.bad_signature_ppm) {
            bad_signature = true;
        }
        AnswerFaults { delivery, bad_signature }
    }

    fn entry_faults(&mut self, explicit: &[Fault]) -> EntryFaults {
        let mut faults = EntryFaults::default();
        for fault in explicit {
            match fault {
                Fault::LoseNotification => faults.lose = true,
                Fault::DuplicateNotification => faults.duplicate = true,
                Fault::ReorderNotification => faults.reorder = true,
                _ => {}
            }
        }
        faults.lose |= self.chance(self.faults.lose_notification_ppm);
        faults.duplicate |= self.chance(self.faults.duplicate_notification_ppm);
        faults.reorder |= self.chance(self.faults.reorder_notification_ppm);
        faults
    }

    /// The faults of a callback: the explicit ones, then the standing probabilities. Called
    /// only for an account with a callback URL, so a bank without callbacks draws as before.
    fn callback_faults(&mut self, explicit: &[Fault]) -> CallbackFaults {
        let mut faults = CallbackFaults::default();
        for fault in explicit {
            match fault {
                Fault::LoseCallback => faults.lose = true,
                Fault::DuplicateCallback => faults.duplicate = true,
                Fault::ReorderCallback => faults.reorder = true,
                Fault::LateCallback { ms } => faults.late_ms = Some(*ms),
                _ => {}
            }
        }
        faults.lose |= self.chance(self.faults.lose_callback_ppm);
        faults.duplicate |= self.chance(self.faults.duplicate_callback_ppm);
        faults.reorder |= self.chance(self.faults.reorder_callback_ppm);
        if faults.late_ms.is_none() && self.chance(self.faults.late_callback_ppm) {
            faults.late_ms = Some(self.faults.late_callback_ms);
        }
        faults
    }

    /// Queues the status callback of the payment `record`, if its status is final and its
    /// debtor account has a callback URL.
    fn push_status(&mut self, record: &InstructionRecord, now_ms: u64) {
        let account = record.order.debtor.account();
        let final_status = !matches!(record.status, InstructionStatus::Pending { .. });
        if final_status && self.callback_urls.contains_key(account) {
            let event = CallbackEvent::PayoutStatus(record.order.end_to_end_id.clone());
            self.outbox.enqueue(account, event, record.callback_faults, now_ms);
        }
    }

    /// The booking faults of a new payment: the explicit ones, then the standing
    /// probabilities (drawn only when not zero, so a bank without them draws as before).
    /// `return_unnotified` is decided with the return itself, in [`Bank::submit`].
    fn booking_faults(&mut self, explicit: &[Fault]) -> BookingFaults {
        let mut faults = BookingFaults::default();
        for fault in explicit {
            match fault {
                Fault::ExecuteReportRejected { reason_code } => {
                    faults.report_rejected = Some(reason_code.clone());
                }
                Fault::DropBooking => faults.drop_booking = true,
                Fault::AmountOff { minor_units } => faults.amount_off_minor_units = *minor_units,
                Fault::ExecuteTwice => faults.execute_twice = true,
                _ => {}
            }
        }
        if faults.report_rejected.is_none() && self.chance(self.faults.execute_report_rejected_ppm)
        {
            faults.report_rejected = Some(
                self.faults
                    .reject_reason_code
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REJECT_REASON.to_owned()),
            );
        }
        faults.drop_booking |= self.chance(self.faults.drop_booking_ppm);
        if faults.amount_off_minor_units == 0 && self.chance(self.faults.amount_off_ppm) {
            faults.amount_off_minor_units = self.faults.amount_off_minor_units;
        }
        faults.execute_twice |= self.chance(self.faults.execute_twice_ppm);
        faults
    }

    /// Receives a payment order at `now_ms` with the faults its request carried. Returns the
    /// record (the first order's, for a duplicate) and how to deliver the answer; `None` as
    /// record means the bank did nothing and says nothing (a timeout before executing).
    pub fn submit(
        &mut self,
        order: PaymentOrder,
        carried: Vec<Fault>,
        now_ms: u64,
    ) -> Result<(Option<InstructionRecord>, AnswerFaults), BankError> {
        self.advance(now_ms)?;
        self.stats.orders = self.stats.orders.saturating_add(1);
        let faults = self.take_faults(Some(&order.end_to_end_id), carried);
        if let Some(record) = self.instructions.get_mut(&order.end_to_end_id) {
            record.attempts = record.attempts.saturating_add(1);
            let record = record.clone();
            self.stats.duplicate_orders = self.stats.duplicate_orders.saturating_add(1);
            let answer = self.answer_faults(&faults, false);
            return Ok((Some(record), answer));
        }
        let before_execute = faults.contains(&Fault::TimeoutBeforeExecute)
            || self.chance(self.faults.timeout_before_execute_ppm);
        if before_execute {
            return Ok((None, AnswerFaults { delivery: Delivery::Hang, bad_signature: false }));
        }
        let entry_faults = self.entry_faults(&faults);
        let mut return_after_ms = faults.iter().find_map(|fault| match fault {
            Fault::Return { after_ms } => Some(*after_ms),
            _ => None,
        });
        if return_after_ms.is_none() && self.chance(self.faults.return_ppm) {
            return_after_ms = Some(self.faults.return_after_ms);
        }
        let mut booking_faults = self.booking_faults(&faults);
        if let Some(after_ms) = faults.iter().find_map(|fault| match fault {
            Fault::ReturnUnnotified { after_ms } => Some(*after_ms),
            _ => None,
        }) {
            return_after_ms = Some(after_ms);
            booking_faults.return_unnotified = true;
        } else if return_after_ms.is_none() && self.chance(self.faults.return_unnotified_ppm) {
            return_after_ms = Some(self.faults.return_after_ms);
            booking_faults.return_unnotified = true;
        }
        let explicit_reject = faults.iter().find_map(|fault| match fault {
            Fault::Reject { reason_code } => Some(reason_code.clone()),
            _ => None,
        });
        let explicit_pending = faults.iter().find_map(|fault| match fault {
            Fault::Pending { ms, then } => Some((*ms, *then)),
            _ => None,
        });
        let end_to_end_id = order.end_to_end_id.clone();
        let callback_faults = if self.callback_urls.contains_key(order.debtor.account()) {
            self.callback_faults(&faults)
        } else {
            CallbackFaults::default()
        };
        let mut record = InstructionRecord {
            order,
            attempts: 1,
            received_at_ms: now_ms,
            status: InstructionStatus::Pending { until_ms: now_ms, then: PendingEnd::Execute },
            return_after_ms,
            returned: None,
            entry_faults,
            booking_faults,
            callback_faults,
            executions: Vec::new(),
        };
        let status = if let Some(reason) = self.refusal(&record.order) {
            reason
        } else if let Some(reason_code) = explicit_reject.or_else(|| {
            self.chance(self.faults.reject_ppm).then(|| {
                self.faults
                    .reject_reason_code
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REJECT_REASON.to_owned())
            })
        }) {
            InstructionStatus::Rejected {
                reason_code,
                additional_info: "refused by the bank's fault injection".to_owned(),
            }
        } else if let Some((ms, then)) = explicit_pending {
            InstructionStatus::Pending { until_ms: now_ms.saturating_add(ms), then }
        } else if self.chance(self.faults.pending_ppm) {
            let then = if self.chance(self.faults.pending_reject_ppm) {
                PendingEnd::Reject
            } else {
                PendingEnd::Execute
            };
            InstructionStatus::Pending {
                until_ms: now_ms.saturating_add(self.faults.pending_ms),
                then,
            }
        } else {
            let (status, executions) = self.execute(&record, now_ms)?;
            record.executions = executions;
            status
        };
        if matches!(status, InstructionStatus::Rejected { .. }) {
            self.stats.rejected = self.stats.rejected.saturating_add(1);
        }
        record.status = status;
        self.instructions.insert(end_to_end_id, record.clone());
        self.push_status(&record, now_ms);
        let answer = self.answer_faults(&faults, true);
        Ok((Some(record), answer))
    }

    /// The status a query by end-to-end id finds at `now_ms`, with its answer faults.
    pub fn query(
        &mut self,
        end_to_end_id: &EndToEndId,
        carried: Vec<Fault>,
        now_ms: u64,
    ) -> Result<(Option<InstructionRecord>, AnswerFaults), BankError> {
        self.advance(now_ms)?;
        let faults = self.take_faults(Some(end_to_end_id), carried);
        let answer = self.answer_faults(&faults, false);
        Ok((self.instructions.get(end_to_end_id).cloned(), answer))
    }

    /// Answer faults for a request that names no payment (notifications, statements).
    pub fn plain_answer_faults(&mut self, carried: Vec<Fault>) -> AnswerFaults {
        self.answer_faults(&carried, false)
    }

    /// Why the order cannot be executed as given, checked before any fault or money moves.
    fn refusal(&self, order: &PaymentOrder) -> Option<InstructionStatus> {
        let reject = |code: &str, info: String| {
            Some(InstructionStatus::Rejected {
                reason_code: code.to_owned(),
                additional_info: info,
            })
        };
        let Some(debtor) = self.accounts.get(order.debtor.account()) else {
            return reject(
                REASON_UNKNOWN_ACCOUNT,
                format!("no account {}", order.debtor.account()),
            );
        };
        if debtor.currency != order.amount.currency {
            return reject(
                REASON_CURRENCY,
                format!("account {} holds {}", debtor.number, debtor.currency),
            );
        }
        if let Some(creditor) = self.accounts.get(order.creditor.account())
            && creditor.currency != order.amount.currency
        {
            return reject(
                REASON_CURRENCY,
                format!("creditor account {} holds {}", creditor.number, creditor.currency),
            );
        }
        None
    }

    /// Executes `record` at `at_ms` as its booking faults say, or refuses it (an unknown
    /// account, a currency, insufficient funds: refusals no booking fault overrides). Returns
    /// what the bank tells and the debits it really booked:
    /// - normally: executed, with the one debit;
    /// - `drop_booking`: executed with a fresh reference no entry carries; nothing booked;
    /// - `amount_off_minor_units`: booked at [`BookingFaults::executed_amount`], told executed;
    /// - `execute_twice`, when the funds cover both: two debits, told executed with the first;
    /// - `report_rejected`: booked as above, told rejected with its reason code.
    ///
    /// Every sum is checked before anything changes, so a refusal or an overflow leaves no
    /// trace.
    fn execute(
        &mut self,
        record: &InstructionRecord,
        at_ms: u64,
    ) -> Result<(InstructionStatus, Vec<Execution>), BankError> {
        let order = &record.order;
        if let Some(refusal) = self.refusal(order) {
            return Ok((refusal, Vec::new()));
        }
        let faults = &record.booking_faults;
        let amount = faults.executed_amount(order.amount);
        let debtor = self
            .accounts
            .get(order.debtor.account())
            .ok_or_else(|| BankError::UnknownAccount(order.debtor.account().to_owned()))?;
        if debtor.balance < amount.minor_units {
            let refusal = InstructionStatus::Rejected {
                reason_code: REASON_INSUFFICIENT_FUNDS.to_owned(),
                additional_info: format!("account {} lacks the funds", debtor.number),
            };
            return Ok((refusal, Vec::new()));
        }
        if faults.drop_booking {
            self.stats.misreported = self.stats.misreported.saturating_add(1);
            let told =
                InstructionStatus::Executed { bank_reference: self.next_reference('E'), at_ms };
            return Ok((told, Vec::new()));
        }
        let twice = faults.execute_twice
            && amount.minor_units.checked_mul(2).is_some_and(|both| debtor.balance >= both);
        let times = if twice { Times::Twice } else { Times::Once };
        let (first_reference, executions) =
            self.book_payment(order, amount, times, record.entry_faults, at_ms)?;
        self.stats.executed = self.stats.executed.saturating_add(1);
        if twice || amount != order.amount || faults.report_rejected.is_some() {
            self.stats.misreported = self.stats.misreported.saturating_add(1);
        }
        let told = match &faults.report_rejected {
            Some(reason_code) => InstructionStatus::Rejected {
                reason_code: reason_code.clone(),
                // The text of any fault-injected rejection: nothing tells this one apart.
                additional_info: "refused by the bank's fault injection".to_owned(),
            },
            None => InstructionStatus::Executed { bank_reference: first_reference, at_ms },
        };
        Ok((told, executions))
    }

    /// Books `order` executed once or twice at `amount` (the debit, and the credit when the
    /// creditor banks here or is the debtor; the clearing position otherwise), all checked
    /// before anything changes. The first entry is notified with `faults`, the others with
    /// drawn ones. Returns the first debit's reference and every execution.
    fn book_payment(
        &mut self,
        order: &PaymentOrder,
        amount: Money,
        times: Times,
        faults: EntryFaults,
        at_ms: u64,
    ) -> Result<(String, Vec<Execution>), BankError> {
        let mut entries = Vec::new();
        let mut outflow: i128 = 0;
        let first = self.payment_legs(order, amount, at_ms, &mut entries, &mut outflow)?;
        let first_reference = first.bank_reference.clone();
        let mut executions = vec![first];
        if times == Times::Twice {
            executions.push(self.payment_legs(order, amount, at_ms, &mut entries, &mut outflow)?);
        }
        let position = self
            .clearing
            .get(&amount.currency)
            .copied()
            .unwrap_or(0)
            .checked_add(outflow)
            .ok_or(BankError::Overflow("clearing"))?;
        self.post(&entries, Notify::FirstWith(faults))?;
        if outflow != 0 {
            self.clearing.insert(amount.currency, position);
        }
        Ok((first_reference, executions))
    }

    /// The entries of one execution of `order` at `amount`, appended to `entries`, and the
    /// money it sends out of the bank added to `outflow`.
    fn payment_legs(
        &mut self,
        order: &PaymentOrder,
        amount: Money,
        at_ms: u64,
        entries: &mut Vec<JournalEntry>,
        outflow: &mut i128,
    ) -> Result<Execution, BankError> {
        let debit_reference = self.next_reference('E');
        let debit = JournalEntry {
            bank_reference: debit_reference.clone(),
            account: order.debtor.account().to_owned(),
            direction: Direction::Debit,
            amount,
            reversal: false,
            booked_at_ms: at_ms,
            end_to_end_id: Some(order.end_to_end_id.clone()),
            remittance: Vec::new(),
            counterparty_name: Some(order.creditor.name().to_owned()),
        };
        let internal = order.creditor.account() != order.debtor.account()
            && self.accounts.contains_key(order.creditor.account());
        if internal {
            let credit = JournalEntry {
                bank_reference: self.next_reference('E'),
                account: order.creditor.account().to_owned(),
                direction: Direction::Credit,
                counterparty_name: Some(order.debtor.name().to_owned()),
                ..debit.clone()
            };
            entries.extend([debit, credit]);
        } else if order.creditor.account() == order.debtor.account() {
            // Paying oneself moves nothing; the bank still books both legs.
            let credit = JournalEntry {
                bank_reference: self.next_reference('E'),
                direction: Direction::Credit,
                ..debit.clone()
            };
            entries.extend([debit, credit]);
        } else {
            *outflow = outflow
                .checked_add(amount_as_i128(amount.minor_units)?)
                .ok_or(BankError::Overflow("clearing"))?;
            entries.push(debit);
        }
        Ok(Execution { bank_reference: debit_reference, amount, at_ms })
    }

    fn shift_clearing(&mut self, amount: Money, outflow: i128) -> Result<(), BankError> {
        let position = self.clearing.entry(amount.currency).or_insert(0);
        *position = position.checked_add(outflow).ok_or(BankError::Overflow("clearing"))?;
        Ok(())
    }

    /// Applies entries to balances (all checked first) and books them in the journal and
    /// the notification feed as `notify` says.
    fn post(&mut self, entries: &[JournalEntry], notify: Notify) -> Result<(), BankError> {
        let mut balances: BTreeMap<&str, u128> = BTreeMap::new();
        for entry in entries {
            let account = self
                .accounts
                .get(&entry.account)
                .ok_or_else(|| BankError::UnknownAccount(entry.account.clone()))?;
            if account.currency != entry.amount.currency {
                return Err(BankError::WrongCurrency {
                    account: entry.account.clone(),
                    held: account.currency,
                    given: entry.amount.currency,
                });
            }
            let current = balances.get(entry.account.as_str()).copied().unwrap_or(account.balance);
            let next = match entry.direction {
                Direction::Credit => current.checked_add(entry.amount.minor_units),
                Direction::Debit => current.checked_sub(entry.amount.minor_units),
            }
            .ok_or(BankError::Overflow("account balance"))?;
            balances.insert(entry.account.as_str(), next);
        }
        let balances: Vec<(String, u128)> =
            balances.into_iter().map(|(account, balance)| (account.to_owned(), balance)).collect();
        for (account, balance) in balances {
            if let Some(held) = self.accounts.get_mut(&account) {
                held.balance = balance;
            }
        }
        for (index, entry) in entries.iter().enumerate() {
            let entry_faults = match notify {
                Notify::FirstWith(faults) if index == 0 => faults,
                Notify::FirstWith(_) => self.entry_faults(&[]),
                Notify::Never => EntryFaults { lose: true, ..EntryFaults::default() },
            };
            // Every entry's account was found above, and the feeds are the accounts': this
            // never refuses (and `check_journal` would catch a balance booked without it).
            let journal_index = self.feed.journal().len();
            self.feed.book(entry.clone(), entry_faults)?;
            let notified = !matches!(notify, Notify::Never);
            let pushed = entry.direction == Direction::Credit
                && self.callback_urls.contains_key(&entry.account);
            if notified && pushed {
                let faults = self.callback_faults(&[]);
                let event = CallbackEvent::Entry(journal_index);
                self.outbox.enqueue(&entry.account, event, faults, entry.booked_at_ms);
            }
        }
        Ok(())
    }

    /// Credits `account` with money from outside the bank (a collection) at `now_ms`. The
    /// payer's name and the remittance lines must fit the bank's documents
    /// ([`BankError::BadText`]; nothing is booked then).
    pub fn inject_credit(
        &mut self,
        account: &str,
        amount: Money,
        payer_name: &str,
        remittance: Vec<String>,
        end_to_end_id: Option<EndToEndId>,
        now_ms: u64,
    ) -> Result<String, BankError> {
        check_credit_text(payer_name, &remittance)?;
        self.advance(now_ms)?;
        self.credit_from_outside(account, amount, payer_name, remittance, end_to_end_id, now_ms)
    }

    fn credit_from_outside(
        &mut self,
        account: &str,
        amount: Money,
        payer_name: &str,
        remittance: Vec<String>,
        end_to_end_id: Option<EndToEndId>,
        at_ms: u64,
    ) -> Result<String, BankError> {
        let reference = self.next_reference('E');
        let entry = JournalEntry {
            bank_reference: reference.clone(),
            account: account.to_owned(),
            direction: Direction::Credit,
            amount,
            reversal: false,
            booked_at_ms: at_ms,
            end_to_end_id,
            remittance,
            counterparty_name: Some(payer_name.to_owned()),
        };
        let faults = self.entry_faults(&[]);
        self.post(&[entry], Notify::FirstWith(faults))?;
        let inflow = amount_as_i128(amount.minor_units)?
            .checked_neg()
            .ok_or(BankError::Overflow("clearing"))?;
        self.shift_clearing(amount, inflow)?;
        self.stats.collections = self.stats.collections.saturating_add(1);
        Ok(reference)
    }

    /// Books everything due at or before `now_ms`, each at its own due time, in time order
    /// (ties: pending ends, then returns, then collections; within a kind, by key).
    pub fn advance(&mut self, now_ms: u64) -> Result<(), BankError> {
        loop {
            let next = self.next_due(now_ms);
            let Some((_, due)) = next else { break };
            match due {
                Due::PendingEnd(id, at_ms, then) => self.end_pending(&id, at_ms, then)?,
                Due::Return(id, at_ms) => self.book_return(&id, at_ms)?,
                Due::Collection(index, at_ms) => self.book_collection(index, at_ms)?,
            }
        }
        self.feed.release_held(now_ms);
        Ok(())
    }

    fn next_due(&self, now_ms: u64) -> Option<(u64, Due)> {
        let mut best: Option<(u64, Due)> = None;
        let mut consider = |at_ms: u64, due: Due| {
            if at_ms <= now_ms && best.as_ref().is_none_or(|(best_at, _)| at_ms < *best_at) {
                best = Some((at_ms, due));
            }
        };
        for (id, record) in &self.instructions {
            if let InstructionStatus::Pending { until_ms, then } = &record.status {
                consider(*until_ms, Due::PendingEnd(id.clone(), *until_ms, *then));
            }
            // A return reverses what the bank booked, whatever it told.
            if let (Some(first), Some(after_ms), None) =
                (record.executions.first(), record.return_after_ms, &record.returned)
            {
                let return_at = first.at_ms.saturating_add(after_ms);
                consider(return_at, Due::Return(id.clone(), return_at));
            }
        }
        for (index, (schedule, posted)) in self.collections.iter().enumerate() {
            if *posted < schedule.count {
                let at_ms = schedule
                    .first_at_ms
                    .saturating_add(schedule.every_ms.saturating_mul(u64::from(*posted)));
                consider(at_ms, Due::Collection(index, at_ms));
            }
        }
        best
    }

    fn end_pending(
        &mut self,
        id: &EndToEndId,
        at_ms: u64,
        then: PendingEnd,
    ) -> Result<(), BankError> {
        let Some(record) = self.instructions.get(id).cloned() else { return Ok(()) };
        let (status, executions) = match then {
            PendingEnd::Execute => self.execute(&record, at_ms)?,
            PendingEnd::Reject => {
                let refusal = InstructionStatus::Rejected {
                    reason_code: DEFAULT_REJECT_REASON.to_owned(),
                    additional_info: "refused after a long pending period".to_owned(),
                };
                (refusal, Vec::new())
            }
        };
        if matches!(status, InstructionStatus::Rejected { .. }) {
            self.stats.rejected = self.stats.rejected.saturating_add(1);
        }
        if let Some(stored) = self.instructions.get_mut(id) {
            stored.status = status;
            stored.executions = executions;
            let record = stored.clone();
            self.push_status(&record, at_ms);
        }
        Ok(())
    }

    /// Returns an executed payment's first execution, at the amount booked: a reversal
    /// credit to the debtor, and a reversal debit to the creditor when it banks here (skipped,
    /// and the return with it, if it lacks the funds) or the clearing position otherwise.
    /// Under `return_unnotified` none of its entries is notified.
    fn book_return(&mut self, id: &EndToEndId, at_ms: u64) -> Result<(), BankError> {
        let Some(record) = self.instructions.get(id).cloned() else { return Ok(()) };
        let Some(executed) = record.executions.first() else { return Ok(()) };
        let order = &record.order;
        let amount = executed.amount;
        let reference = self.next_reference('R');
        let credit = JournalEntry {
            bank_reference: reference.clone(),
            account: order.debtor.account().to_owned(),
            direction: Direction::Credit,
            amount,
            reversal: true,
            booked_at_ms: at_ms,
            end_to_end_id: Some(order.end_to_end_id.clone()),
            remittance: vec!["returned payment".to_owned()],
            counterparty_name: Some(order.creditor.name().to_owned()),
        };
        let unnotified = record.booking_faults.return_unnotified;
        let notify = |faults: EntryFaults| {
            if unnotified { Notify::Never } else { Notify::FirstWith(faults) }
        };
        let internal = order.creditor.account() != order.debtor.account()
            && self.accounts.contains_key(order.creditor.account());
        let creditor_can_pay = self
            .accounts
            .get(order.creditor.account())
            .is_some_and(|account| account.balance >= amount.minor_units);
        if internal {
            if !creditor_can_pay {
                // A return the creditor cannot fund is dropped, not retried forever.
                if let Some(stored) = self.instructions.get_mut(id) {
                    stored.return_after_ms = None;
                }
                return Ok(());
            }
            let debit = JournalEntry {
                bank_reference: self.next_reference('R'),
                account: order.creditor.account().to_owned(),
                direction: Direction::Debit,
                counterparty_name: Some(order.debtor.name().to_owned()),
                ..credit.clone()
            };
            self.post(&[credit, debit], notify(EntryFaults::default()))?;
        } else if order.creditor.account() == order.debtor.account() {
            let debit = JournalEntry {
                bank_reference: self.next_reference('R'),
                direction: Direction::Debit,
                ..credit.clone()
            };
            self.post(&[credit, debit], notify(EntryFaults::default()))?;
        } else {
            let inflow = amount_as_i128(amount.minor_units)?
                .checked_neg()
                .ok_or(BankError::Overflow("clearing"))?;
            self.shift_clearing(amount, inflow)?;
            let faults = if unnotified { EntryFaults::default() } else { self.entry_faults(&[]) };
            self.post(&[credit], notify(faults))?;
        }
        if let Some(stored) = self.instructions.get_mut(id) {
            stored.returned = Some(ReturnRecord { at_ms, bank_reference: reference });
        }
        self.stats.returned = self.stats.returned.saturating_add(1);
        if unnotified {
            self.stats.misreported = self.stats.misreported.saturating_add(1);
        }
        Ok(())
    }

    fn book_collection(&mut self, index: usize, at_ms: u64) -> Result<(), BankError> {
        let Some((schedule, posted)) = self.collections.get(index).cloned() else { return Ok(()) };
        if let Some(entry) = self.collections.get_mut(index) {
            entry.1 = posted.saturating_add(1);
        }
        let currency = self
            .accounts
            .get(&schedule.account)
            .map(|account| account.currency)
            .ok_or_else(|| BankError::UnknownAccount(schedule.account.clone()))?;
        let amount = Money { minor_units: schedule.minor_units, currency };
        let remittance =
            vec![collection_remittance(&schedule.remittance, posted.saturating_add(1))];
        self.credit_from_outside(
            &schedule.account,
            amount,
            &schedule.payer_name,
            remittance,
            None,
            at_ms,
        )?;
        Ok(())
    }

    /// Up to `limit` notification entries of `account` after `cursor` (the empty cursor is
    /// the start of its feed) and the cursor of the next page, at `now_ms`. Only `account`'s
    /// entries: the bank's other accounts are other customers' ([`journal`] module doc). An
    /// account the bank does not hold is [`BankError::UnknownAccount`], a cursor another
    /// account's feed handed out [`BankError::BadCursor`].
    pub fn notifications(
        &mut self,
        account: &str,
        cursor: &str,
        limit: usize,
        now_ms: u64,
    ) -> Result<(Vec<JournalEntry>, String), BankError> {
        self.advance(now_ms)?;
        self.feed.page(account, cursor, limit)
    }

    /// The statement of `account` over `from..=to`, at `now_ms`.
    pub fn statement(
        &mut self,
        account: &str,
        period: tianping_bank_adapters::gateway::StatementPeriod,
        now_ms: u64,
    ) -> Result<tianping_bank_adapters::gateway::Statement, BankError> {
        self.advance(now_ms)?;
        let held = self
            .accounts
            .get(account)
            .ok_or_else(|| BankError::UnknownAccount(account.to_owned()))?
            .clone();
        let statement_id = self.next_reference('S');
        journal::statement(&held, self.feed.journal(), period, statement_id)
    }

    /// Checks that, per currency, the balances plus the net clearing outflow equal the
    /// opening balances.
    pub fn check_conservation(&self) -> Result<(), BankError> {
        let mut per_currency: BTreeMap<Currency, (i128, i128)> = BTreeMap::new();
        for account in self.accounts.values() {
            let (balances, opening) = per_currency.entry(account.currency).or_insert((0, 0));
            *balances = balances
                .checked_add(amount_as_i128(account.balance)?)
                .ok_or(BankError::Overflow("conservation"))?;
            *opening = opening
                .checked_add(amount_as_i128(account.opening_balance)?)
                .ok_or(BankError::Overflow("conservation"))?;
        }
        for (currency, (balances, opening)) in per_currency {
            let clearing = self.clearing.get(&currency).copied().unwrap_or(0);
            if balances.checked_add(clearing) != Some(opening) {
                return Err(BankError::NotConserved { currency, balances, clearing, opening });
            }
        }
        Ok(())
    }

    /// Checks that every account's balance is its opening balance plus the signed sum of its
    /// journal entries: the bank's books agree with themselves, whatever it told.
    pub fn check_journal(&self) -> Result<(), BankError> {
        let mut sums: BTreeMap<&str, i128> = BTreeMap::new();
        for account in self.accounts.values() {
            sums.insert(account.number.as_str(), amount_as_i128(account.opening_balance)?);
        }
        for entry in self.feed.journal() {
            let sum = sums
                .get_mut(entry.account.as_str())
                .ok_or_else(|| BankError::UnknownAccount(entry.account.clone()))?;
            let signed = entry.signed_amount().ok_or(BankError::Overflow("journal"))?;
            *sum = sum.checked_add(signed).ok_or(BankError::Overflow("journal"))?;
        }
        for account in self.accounts.values() {
            let balance = amount_as_i128(account.balance)?;
            let journal = sums.get(account.number.as_str()).copied().unwrap_or(0);
            if balance != journal {
                return Err(BankError::JournalDisagrees {
                    account: account.number.clone(),
                    balance,
                    journal,
                });
            }
        }
        Ok(())
    }
}

/// How many times a payment is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Times {
    /// As a bank should.
    Once,
    /// Under `execute_twice`.
    Twice,
}

/// How a posting's entries reach the notification feed.
#[derive(Debug, Clone, Copy)]
enum Notify {
    /// The first entry with these faults, every other one with faults drawn from the
    /// standing probabilities.
    FirstWith(EntryFaults),
    /// None of them: the journal and the statements have them, the feed never will.
    Never,
}

/// Something due in [`Bank::advance`].
#[derive(Debug, Clone)]
enum Due {
    PendingEnd(EndToEndId, u64, PendingEnd),
    Return(EndToEndId, u64),
    Collection(usize, u64),
}

/// The remittance line of a scheduled collection's `number`th credit.
fn collection_remittance(remittance: &str, number: u32) -> String {
    format!("{remittance} #{number}")
}

/// Checks an incoming credit's payer name and remittance lines against what the bank's
/// notifications and statements can carry ([`check_text`]).
fn check_credit_text(payer_name: &str, remittance: &[String]) -> Result<(), BankError> {
    check_text("payer name", payer_name).map_err(BankError::BadText)?;
    for line in remittance {
        check_text("remittance line", line).map_err(BankError::BadText)?;
    }
    Ok(())
}

fn amount_as_i128(minor_units: u128) -> Result<i128, BankError> {
    i128::try_from(minor_units).map_err(|_| BankError::Overflow("amount"))
}
