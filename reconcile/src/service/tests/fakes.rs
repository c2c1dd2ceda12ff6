//! In-process stand-ins for the two sides, behaving as the real ones do where the service
//! depends on it: a ledger that stamps every event with its own increasing time, resolves a
//! payout's reservation in place (no transfer record, as the state machine does), books
//! collections under their collection id, keeps posted sums on accounts and answers a
//! discrepancy's id a second time `exists`; and a bank whose statement lists each day's
//! entries in booking order with a closing balance of everything booked through the period.
//! Either can be taken down, and the ledger can move while it is being read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tianping_bank_adapters::bank_api::Clock;
use tianping_bank_adapters::calendar::Date;
use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::gateway::{
    Balance, BalanceType, BankEntry, Direction, EndToEndId, EntryStatus, GatewayError, Statement,
    StatementPeriod,
};
use tianping_bank_adapters::money::{Currency, Money};
use tianping_ledger::{
    Account, AccountFlags, AccountStatus, EventResult, Limits, NewDiscrepancy, OutflowUsage,
    Payout, PayoutState, ResultCode, Transfer, TransferFlags,
};

use crate::service::bank_side::BankSide;
use crate::service::ledger_side::{LedgerSide, PayoutPosition};

pub const BANK: u32 = 7;
pub const ACCOUNT: &str = "110060149018000123";
pub const IN_TRANSIT: u128 = 1000;
pub const SETTLEMENT: u128 = 1001;
pub const SUSPENSE: u128 = 1002;
pub const COLLECTION_CODE: u16 = 4;
pub const REVERSAL_CODE: u16 = 5;
pub const OPENING: u128 = 10_000_000;

/// The wall clock, moved by the test.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(unix_ms: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(unix_ms)))
    }

    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn ns(&self) -> u64 {
        self.now_unix_ms() * 1_000_000
    }
}

impl Clock for ManualClock {
    fn now_unix_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the fake ledger is unreachable")]
pub struct Down;

/// Something the ledger does while it is being read (a worker's write landing mid-read).
pub type Move = Box<dyn FnMut(&mut LedgerState, &mut BankState, u64) + Send>;

#[derive(Default)]
pub struct LedgerState {
    last_timestamp: u64,
    pub accounts: BTreeMap<u128, Account>,
    pub transfers: Vec<Transfer>,
    pub payouts: BTreeMap<u128, Payout>,
    pub discrepancies: BTreeMap<u128, NewDiscrepancy>,
    /// Every report as answered: (actor, id, code).
    pub reports: Vec<(String, u128, ResultCode)>,
}

fn account(id: u128) -> Account {
    Account {
        id,
        ledger: 1,
        code: 1,
        flags: AccountFlags::NONE,
        credit_line: 0,
        user_data: 0,
        debits_pending: 0,
        debits_posted: 0,
        credits_pending: 0,
        credits_posted: 0,
        status: AccountStatus::Active,
        status_changed_at: 0,
        limits: Limits::NONE,
        limits_day: 0,
        outflow_usage: OutflowUsage::default(),
        timestamp: 1,
    }
}

impl LedgerState {
    /// The next event's timestamp: the wall clock, strictly increasing.
    fn stamp(&mut self, now_ns: u64) -> u64 {
        self.last_timestamp = now_ns.max(self.last_timestamp + 1);
        self.last_timestamp
    }

    /// Opens account `id` (if it is not open yet).
    pub fn account(&mut self, id: u128) -> &mut Account {
        self.accounts.entry(id).or_insert_with(|| account(id))
    }

    fn post(&mut self, debit: u128, credit: u128, amount: u128) {
        self.account(debit).debits_posted += amount;
        self.account(credit).credits_posted += amount;
    }

    /// Reserves a payout (customer → in-transit, pending), as `create_payouts` does.
    pub fn reserve(&mut self, now_ns: u64, payout_id: u128, customer: u128, amount: u128) {
        let at = self.stamp(now_ns);
        self.transfers.push(Transfer {
            id: payout_id,
            debit_account_id: customer,
            credit_account_id: IN_TRANSIT,
            amount,
            amount_requested: amount,
            pending_id: 0,
            user_data: 0,
            timeout: 0,
            ledger: 1,
            code: 3,
            flags: TransferFlags::PENDING,
            timestamp: at,
        });
        self.account(customer).debits_pending += amount;
        self.account(IN_TRANSIT).credits_pending += amount;
        self.payouts.insert(
            payout_id,
            Payout {
                id: payout_id,
                debit_account_id: customer,
                credit_account_id: IN_TRANSIT,
                amount,
                user_data: 0,
                ledger: 1,
                code: 3,
                bank: BANK,
                beneficiary: "6222020200001234567".into(),
                state: PayoutState::Sent,
                fencing_token: 1,
                worker_id: 1,
                lease_until: u64::MAX,
                created_at: at,
                updated_at: at,
            },
        );
    }

    /// Records a payout's outcome: the reservation is posted or voided in place.
    pub fn finish(&mut self, now_ns: u64, payout_id: u128, state: PayoutState) {
        let at = self.stamp(now_ns);
        let Some(payout) = self.payouts.get_mut(&payout_id) else {
            panic!("no payout {payout_id}")
        };
        payout.state = state;
        payout.updated_at = at;
        let (customer, amount) = (payout.debit_account_id, payout.amount);
        self.account(customer).debits_pending -= amount;
        self.account(IN_TRANSIT).credits_pending -= amount;
        if state == PayoutState::Succeeded {
            self.post(customer, IN_TRANSIT, amount);
        }
    }

    /// Books a credit from the bank, as the worker does: settlement → `beneficiary`, under
    /// the collection id of the entry's reference.
    pub fn book(
        &mut self,
        now_ns: u64,
        reference: &str,
        beneficiary: u128,
        amount: u128,
        code: u16,
        user_data: u128,
    ) {
        let at = self.stamp(now_ns);
        self.transfers.push(Transfer {
            id: collection_id(BANK, reference),
            debit_account_id: SETTLEMENT,
            credit_account_id: beneficiary,
            amount,
            amount_requested: amount,
            pending_id: 0,
            user_data,
            timeout: 0,
            ledger: 1,
            code,
            flags: TransferFlags::NONE,
            timestamp: at,
        });
        self.post(SETTLEMENT, beneficiary, amount);
    }

    /// A plain posted transfer (an operator's).
    pub fn transfer(&mut self, now_ns: u64, id: u128, debit: u128, credit: u128, amount: u128) {
        let at = self.stamp(now_ns);
        self.transfers.push(Transfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            amount_requested: amount,
            pending_id: 0,
            user_data: 0,
            timeout: 0,
            ledger: 1,
            code: 9,
            flags: TransferFlags::NONE,
            timestamp: at,
        });
        self.post(debit, credit, amount);
    }
}

#[derive(Default)]
pub struct BankState {
    next_reference: u64,
    /// (booking day, entry), in booking order.
    pub entries: Vec<(Date, BankEntry)>,
}

impl BankState {
    fn entry(
        &mut self,
        now_ns: u64,
        direction: Direction,
        reversal: bool,
        payout_id: Option<u128>,
        amount: u128,
    ) -> String {
        self.next_reference += 1;
        let reference = format!("E{}", self.next_reference);
        let day = Date::from_unix_ms(now_ns / 1_000_000);
        self.entries.push((
            day,
            BankEntry {
                bank_reference: reference.clone(),
                end_to_end_id: payout_id
                    .map(|id| EndToEndId::from_payout_id(id).expect("short id")),
                direction,
                amount: Money { minor_units: amount, currency: Currency::Cny },
                status: EntryStatus::Booked,
                reversal,
                booking_date: Some(day),
                value_date: Some(day),
                remittance: Vec::new(),
                counterparty_name: None,
            },
        ));
        reference
    }

    /// The bank executes a payout.
    pub fn pay(&mut self, now_ns: u64, payout_id: u128, amount: u128) -> String {
        self.entry(now_ns, Direction::Debit, false, Some(payout_id), amount)
    }

    /// Money arrives; its reference is returned.
    pub fn credit(&mut self, now_ns: u64, amount: u128) -> String {
        self.entry(now_ns, Direction::Credit, false, None, amount)
    }

    /// The bank returns a payout.
    pub fn returned(&mut self, now_ns: u64, payout_id: u128, amount: u128) -> String {
        self.entry(now_ns, Direction::Credit, true, Some(payout_id), amount)
    }

    /// A debit of no payout of ours (a fee).
    pub fn fee(&mut self, now_ns: u64, amount: u128) -> String {
        self.entry(now_ns, Direction::Debit, false, None, amount)
    }

    fn statement(&self, period: StatementPeriod) -> Statement {
        let mut balance = i128::try_from(OPENING).expect("small");
        let mut entries = Vec::new();
        for (day, entry) in &self.entries {
            if *day > period.to() {
                continue;
            }
            let amount = i128::try_from(entry.amount.minor_units).expect("small");
            balance += if entry.direction == Direction::Credit { amount } else { -amount };
            if *day >= period.from() {
                entries.push(entry.clone());
            }
        }
        let closing = Balance {
            amount: Money { minor_units: balance.unsigned_abs(), currency: Currency::Cny },
            direction: if balance < 0 { Direction::Debit } else { Direction::Credit },
            date: period.to(),
        };
        Statement {
            statement_id: "S".into(),
            account: ACCOUNT.into(),
            balances: vec![(BalanceType::ClosingBooked, closing)],
            entries,
        }
    }
}

/// The ledger and the bank of one world: the ledger's `Move`s may act on both (a worker
/// records what the bank did).
#[derive(Clone)]
pub struct Sides {
    pub clock: ManualClock,
    pub ledger: Arc<Mutex<LedgerState>>,
    pub bank: Arc<Mutex<BankState>>,
    pub ledger_down: Arc<AtomicBool>,
    pub bank_down: Arc<AtomicBool>,
    /// Run inside the next account reads, before the answer is taken (one per read).
    pub before_accounts_read: Arc<Mutex<Vec<Move>>>,
    /// Run inside the next account reads, after the answer is taken.
    pub after_accounts_read: Arc<Mutex<Vec<Move>>>,
    /// Run inside the next statement fetches, before the statement is taken (one per fetch).
    pub during_statement: Arc<Mutex<Vec<Move>>>,
    /// Account reads answered (one or more per balance check).
    pub account_reads: Arc<AtomicU64>,
}

impl Sides {
    pub fn new(clock: ManualClock) -> Sides {
        let mut ledger = LedgerState::default();
        for id in [IN_TRANSIT, SETTLEMENT, SUSPENSE] {
            ledger.account(id);
        }
        Sides {
            clock,
            ledger: Arc::new(Mutex::new(ledger)),
            bank: Arc::new(Mutex::new(BankState::default())),
            ledger_down: Arc::new(AtomicBool::new(false)),
            bank_down: Arc::new(AtomicBool::new(false)),
            before_accounts_read: Arc::new(Mutex::new(Vec::new())),
            after_accounts_read: Arc::new(Mutex::new(Vec::new())),
            during_statement: Arc::new(Mutex::new(Vec::new())),
            account_reads: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.ledger.lock().expect("not poisoned")
    }

    pub fn bank(&self) -> std::sync::MutexGuard<'_, BankState> {
        self.bank.lock().expect("not poisoned")
    }

    fn check_ledger(&self) -> Result<(), Down> {
        if self.ledger_down.load(Ordering::SeqCst) { Err(Down) } else { Ok(()) }
    }

    fn run(&self, moves: &Arc<Mutex<Vec<Move>>>) {
        let next = {
            let mut moves = moves.lock().expect("not poisoned");
            if moves.is_empty() { None } else { Some(moves.remove(0)) }
        };
        if let Some(mut action) = next {
            let now = self.clock.ns();
            let mut ledger = self.ledger();
            let mut bank = self.bank();
            action(&mut ledger, &mut bank, now);
        }
    }
}

impl LedgerSide for Sides {
    type Error = Down;

    async fn transfers_after(
        &self,
        account_id: u128,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Transfer>, Down> {
        self.check_ledger()?;
        let ledger = self.ledger();
        Ok(ledger
            .transfers
            .iter()
            .filter(|t| {
                (t.debit_account_id == account_id || t.credit_account_id == account_id)
                    && t.timestamp > after
            })
            .take(limit)
            .copied()
            .collect())
    }

    async fn final_payouts_after(
        &self,
        state: PayoutState,
        bank: u32,
        after: PayoutPosition,
        limit: usize,
    ) -> Result<Vec<Payout>, Down> {
        self.check_ledger()?;
        let ledger = self.ledger();
        let mut payouts: Vec<Payout> = ledger
            .payouts
            .values()
            .filter(|p| p.state == state && p.bank == bank && PayoutPosition::after(p) > after)
            .cloned()
            .collect();
        payouts.sort_by_key(|p| (p.updated_at, p.id));
        payouts.truncate(limit);
        Ok(payouts)
    }

    async fn lookup_accounts(&self, ids: &[u128]) -> Result<Vec<Account>, Down> {
        self.check_ledger()?;
        self.account_reads.fetch_add(1, Ordering::SeqCst);
        self.run(&self.before_accounts_read);
        let found = {
            let ledger = self.ledger();
            ids.iter().filter_map(|id| ledger.accounts.get(id).copied()).collect()
        };
        self.run(&self.after_accounts_read);
        Ok(found)
    }

    async fn lookup_payouts(&self, ids: &[u128]) -> Result<Vec<Payout>, Down> {
        self.check_ledger()?;
        let ledger = self.ledger();
        Ok(ids.iter().filter_map(|id| ledger.payouts.get(id).cloned()).collect())
    }

    async fn lookup_transfers(&self, ids: &[u128]) -> Result<Vec<Transfer>, Down> {
        self.check_ledger()?;
        let ledger = self.ledger();
        Ok(ids
            .iter()
            .filter_map(|id| ledger.transfers.iter().find(|t| t.id == *id).copied())
            .collect())
    }

    async fn record_discrepancies(
        &self,
        discrepancies: &[NewDiscrepancy],
    ) -> Result<Vec<EventResult>, Down> {
        self.check_ledger()?;
        let now = self.clock.ns();
        let mut ledger = self.ledger();
        let mut results = Vec::new();
        for discrepancy in discrepancies {
            let at = ledger.stamp(now);
            let same = |existing: &NewDiscrepancy| {
                let mut theirs = existing.account_ids.clone();
                let mut ours = discrepancy.account_ids.clone();
                theirs.sort_unstable();
                ours.sort_unstable();
                (existing.bank, existing.class, &existing.reference, theirs)
                    == (discrepancy.bank, discrepancy.class, &discrepancy.reference, ours)
            };
            let code = match ledger.discrepancies.get(&discrepancy.id) {
                Some(existing) if same(existing) => ResultCode::Exists,
                Some(_) => ResultCode::DiscrepancyExistsWithDifferentFields,
                None if discrepancy
                    .account_ids
                    .iter()
                    .any(|id| !ledger.accounts.contains_key(id)) =>
                {
                    ResultCode::AccountNotFound
                }
                None => {
                    ledger.discrepancies.insert(discrepancy.id, discrepancy.clone());
                    ResultCode::Ok
                }
            };
            ledger.reports.push((discrepancy.actor.clone(), discrepancy.id, code));
            results.push(EventResult::code(code, at));
        }
        Ok(results)
    }
}

impl BankSide for Sides {
    async fn statement(
        &self,
        account: &str,
        period: StatementPeriod,
    ) -> Result<Statement, GatewayError> {
        if self.bank_down.load(Ordering::SeqCst) {
            return Err(GatewayError::Unavailable { detail: "the fake bank is down".into() });
        }
        assert_eq!(account, ACCOUNT, "the statement of the configured account");
        self.run(&self.during_statement);
        Ok(self.bank().statement(period))
    }
}
