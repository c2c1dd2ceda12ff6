//! The one place tests touch the ledger's API: a harness that applies and commits batches,
//! request builders with sensible defaults, and a snapshot of the stored state.

use tianping_ledger::invariants::{self, StateDump};
use tianping_ledger::store::Table;
use tianping_ledger::{
    AccountFlags, AccountStatus, Batch, BatchError, ClaimPayouts, Command, DiscrepancyClass,
    EventResult, LedgerConfig, LedgerStore, LedgerStoreMut, Limits, MemoryStore, NewAccount,
    NewCollection, NewDiscrepancy, NewPayout, NewTransfer, PayoutOutcome, RecordPayoutOutcome,
    ResolveDiscrepancy, ResultCode, SetAccountLimits, SetAccountStatus, StateMachine,
    TransferFlags,
};

/// 2025-11-24T16:00:00Z in nanoseconds: a plausible Raft entry time.
pub const T0: u64 = 1_764_000_000_000_000_000;
/// One second in nanoseconds.
pub const SECOND: u64 = 1_000_000_000;
/// The ledger (currency) most tests use.
pub const LEDGER: u32 = 156;
/// The account and transfer code most tests use.
pub const CODE: u16 = 1;
/// The bank most payouts and collections use.
pub const BANK: u32 = 7;

/// A state machine and the store it writes to.
pub struct Harness {
    pub machine: StateMachine,
    pub store: MemoryStore,
}

impl Harness {
    /// An empty ledger with the default configuration (UTC+8).
    pub fn new() -> Harness {
        Harness::with_config(LedgerConfig::default())
    }

    pub fn with_config(config: LedgerConfig) -> Harness {
        Harness {
            machine: StateMachine::new(config).expect("valid configuration"),
            store: MemoryStore::new(),
        }
    }

    /// Applies one batch and commits its writes.
    pub fn try_apply(&mut self, batch: &Batch) -> Result<Vec<EventResult>, BatchError> {
        let (results, writes) = self.machine.apply(&self.store, batch)?;
        assert_eq!(results.len(), batch.commands.len(), "one result per command");
        self.store.commit(&writes);
        Ok(results)
    }

    /// Applies `commands` at `timestamp`; a batch error fails the test.
    pub fn apply(&mut self, timestamp: u64, commands: Vec<Command>) -> Vec<EventResult> {
        let batch = Batch { timestamp, commands };
        self.try_apply(&batch).unwrap_or_else(|error| panic!("batch refused: {error}"))
    }

    /// Applies `commands` at `timestamp` and returns their codes.
    pub fn codes(&mut self, timestamp: u64, commands: Vec<Command>) -> Vec<ResultCode> {
        self.apply(timestamp, commands).iter().map(|result| result.code).collect()
    }

    /// Applies `commands`, all of which must succeed (`ok` or `exists`).
    pub fn apply_ok(&mut self, timestamp: u64, commands: Vec<Command>) -> Vec<EventResult> {
        let described: Vec<String> = commands.iter().map(|c| format!("{c:?}")).collect();
        let results = self.apply(timestamp, commands);
        for (result, command) in results.iter().zip(&described) {
            assert!(result.code.is_success(), "{command} failed with {}", result.code);
        }
        results
    }

    /// The stored account; panics when missing.
    pub fn account(&self, id: u128) -> tianping_ledger::Account {
        self.store.account(id).unwrap_or_else(|| panic!("account {id} missing"))
    }

    /// The stored payout; panics when missing.
    pub fn payout(&self, id: u128) -> tianping_ledger::Payout {
        self.store.payout(id).unwrap_or_else(|| panic!("payout {id} missing"))
    }

    pub fn last_timestamp(&self) -> u64 {
        self.store.meta().last_timestamp
    }

    /// Every invariant checker must pass.
    pub fn assert_invariants(&self) {
        let violations = invariants::check_all(&StateDump::load(&self.store));
        assert!(violations.is_empty(), "invariants violated: {violations:#?}");
    }
}

/// The stored state without the `Meta` record (whose timestamp every batch advances), as
/// canonical bytes: two equal snapshots mean the batches between them changed nothing.
pub fn content_snapshot<S: LedgerStore + ?Sized>(store: &S) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    let mut records = Vec::new();
    for table in Table::ALL.into_iter().filter(|table| *table != Table::Meta) {
        store.visit_table(table, &mut |key, value| {
            records.push((table, key.to_vec(), value.to_vec()));
        });
    }
    records
}

/// A plain account (no flags) on `LEDGER`.
pub fn account(id: u128) -> NewAccount {
    NewAccount { id, ledger: LEDGER, code: CODE, ..NewAccount::default() }
}

/// An account whose debits must not exceed its credits.
pub fn customer(id: u128) -> NewAccount {
    NewAccount { flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS, ..account(id) }
}

/// A single-phase transfer on `LEDGER`.
pub fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: LEDGER,
        code: CODE,
        ..NewTransfer::default()
    }
}

/// A pending transfer with `timeout` seconds.
pub fn pending(id: u128, debit: u128, credit: u128, amount: u128, timeout: u32) -> NewTransfer {
    NewTransfer { flags: TransferFlags::PENDING, timeout, ..transfer(id, debit, credit, amount) }
}

/// A post of `pending_id` (`amount` 0 = the full amount); accounts, ledger and code inherited.
pub fn post(id: u128, pending_id: u128, amount: u128) -> NewTransfer {
    NewTransfer {
        id,
        pending_id,
        amount,
        flags: TransferFlags::POST_PENDING,
        ..NewTransfer::default()
    }
}

/// A void of `pending_id`.
pub fn void(id: u128, pending_id: u128) -> NewTransfer {
    NewTransfer { id, pending_id, flags: TransferFlags::VOID_PENDING, ..NewTransfer::default() }
}

/// A payout through `BANK`.
pub fn payout(id: u128, debit: u128, credit: u128, amount: u128) -> NewPayout {
    NewPayout {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: LEDGER,
        code: CODE,
        bank: BANK,
        beneficiary: "6222020200001234567".to_owned(),
        ..NewPayout::default()
    }
}

/// A collection from `BANK` booked settlement → `beneficiary`, suspense as fallback.
pub fn collection(
    id: u128,
    reference: &str,
    settlement: u128,
    suspense: u128,
    beneficiary: u128,
    amount: u128,
) -> NewCollection {
    NewCollection {
        id,
        bank: BANK,
        bank_reference: reference.to_owned(),
        beneficiary_account_id: beneficiary,
        settlement_account_id: settlement,
        suspense_account_id: suspense,
        amount,
        ledger: LEDGER,
        code: CODE,
        ..NewCollection::default()
    }
}

pub fn create_account(account: NewAccount) -> Command {
    Command::CreateAccount(account)
}

pub fn create_transfer(transfer: NewTransfer) -> Command {
    Command::CreateTransfer(transfer)
}

pub fn create_payout(payout: NewPayout) -> Command {
    Command::CreatePayout(payout)
}

/// An operator assigns the collection booked at `BANK` under `reference` to `account_id`.
pub fn assign(id: u128, reference: &str, account_id: u128) -> Command {
    Command::AssignSuspense(tianping_ledger::AssignSuspense {
        id,
        bank: BANK,
        bank_reference: reference.to_owned(),
        account_id,
        reason: "payer named the account in the remittance".to_owned(),
        actor: "ops:desk".to_owned(),
    })
}

pub fn book_collection(collection: NewCollection) -> Command {
    Command::BookCollection(collection)
}

/// An audited status change by an operator.
pub fn set_status(account_id: u128, status: AccountStatus) -> Command {
    Command::SetAccountStatus(SetAccountStatus {
        account_id,
        status,
        reason: "reconciliation difference".to_owned(),
        actor: "ops:alice".to_owned(),
    })
}

/// An audited limits change by an operator.
pub fn set_limits(account_id: u128, limits: Limits) -> Command {
    Command::SetAccountLimits(SetAccountLimits {
        account_id,
        limits,
        reason: "risk policy".to_owned(),
        actor: "ops:alice".to_owned(),
    })
}

/// A claim of up to `max` payouts of `BANK` for `lease_ms`.
pub fn claim(worker_id: u128, max: u32, lease_ms: u64) -> Command {
    Command::ClaimPayouts(ClaimPayouts { worker_id, bank: BANK, max, lease_ms })
}

/// A claim like `claim`'s under claim id `claim_id`.
pub fn claim_batch(claim_id: u128, worker_id: u128, max: u32, lease_ms: u64) -> Command {
    Command::ClaimPayoutBatch(tianping_ledger::PayoutBatchClaim {
        claim_id,
        worker_id,
        bank: BANK,
        max,
        lease_ms,
    })
}

pub fn record(
    payout_id: u128,
    worker_id: u128,
    fencing_token: u64,
    outcome: PayoutOutcome,
) -> Command {
    Command::RecordPayoutOutcome(RecordPayoutOutcome {
        payout_id,
        worker_id,
        fencing_token,
        outcome,
    })
}

/// The same command with its `linked` flag set (accounts, transfers, payouts).
pub fn linked(command: Command) -> Command {
    set_linked(command, true)
}

/// The same command with its `linked` flag set or cleared; other kinds have no flag.
pub fn set_linked(command: Command, on: bool) -> Command {
    match command {
        Command::CreateAccount(mut account) => {
            account.flags = account.flags.with(AccountFlags::LINKED, on);
            Command::CreateAccount(account)
        }
        Command::CreateTransfer(mut transfer) => {
            transfer.flags = transfer.flags.with(TransferFlags::LINKED, on);
            Command::CreateTransfer(transfer)
        }
        Command::CreatePayout(mut payout) => {
            payout.flags = payout.flags.with(TransferFlags::LINKED, on);
            Command::CreatePayout(payout)
        }
        other => other,
    }
}

/// A reconciler's report of a booking `BANK` does not show, naming `account_ids`.
pub fn discrepancy(id: u128, account_ids: &[u128]) -> NewDiscrepancy {
    NewDiscrepancy {
        id,
        bank: BANK,
        class: DiscrepancyClass::MissingAtBank,
        reference: format!("E2E-{id}"),
        account_ids: account_ids.to_vec(),
        ledger_amount: Some(500),
        bank_amount: None,
        ledger_evidence: format!("payout {id} succeeded, 500 minor units"),
        bank_evidence: "no statement entry for the end-to-end id".to_owned(),
        cutoff: T0,
        actor: "reconciler:dc-a".to_owned(),
    }
}

/// Records `discrepancy(id, account_ids)`.
pub fn record_discrepancy(id: u128, account_ids: &[u128]) -> Command {
    Command::RecordDiscrepancy(discrepancy(id, account_ids))
}

/// An operator resolves discrepancy `id`.
pub fn resolve_discrepancy(id: u128) -> Command {
    Command::ResolveDiscrepancy(ResolveDiscrepancy {
        id,
        reason: "bank confirmed the booking on the next statement".to_owned(),
        actor: "ops:alice".to_owned(),
    })
}
