//! Every result code, each reached by a small scenario: fixture accounts, setup batches that
//! must succeed, then the batch under test and the code one of its events must get. A few
//! cases break two checks at once to pin the documented order of `create_transfer`'s
//! checks. The last test proves every `ResultCode` is reached by some case.

use std::collections::BTreeSet;

use tianping_ledger::{
    AccountFlags, AccountLimitsChange, AccountStatus, AccountStatusChange, ClaimPayouts, Command,
    Limits, NewAccount, NewTransfer, PAYOUT_CLAIM_MAX, PAYOUT_LEASE_MS_MAX, PAYOUT_LEASE_MS_MIN,
    PayoutOutcome, RecordPayoutOutcome, ResultCode, SetAccountLimits, SetAccountStatus,
    TEXT_BYTES_MAX, TransferFlags,
};

use crate::support::*;

/// Plain accounts (no balance constraint).
const A: u128 = 1;
const B: u128 = 2;
/// A customer: debits must not exceed credits; unfunded.
const C: u128 = 3;
/// Credits must not exceed debits.
const D: u128 = 4;
/// On another ledger.
const E: u128 = 5;
/// Bank-in-transit for payouts.
const TRANSIT: u128 = 6;
/// Closed by the cases that need a closed account (it never moves money before).
const Z: u128 = 7;
const SETTLEMENT: u128 = 8;
const SUSPENSE: u128 = 9;
/// No account has this id.
const MISSING: u128 = 404;
const OTHER_LEDGER: u32 = 840;

/// Codes no request can produce today. Each is listed with why; the coverage test fails if
/// one becomes reachable (then remove it here) or if any other code is never reached.
const UNREACHABLE: &[(ResultCode, &str)] = &[];

fn fixture() -> Vec<Command> {
    vec![
        create_account(account(A)),
        create_account(account(B)),
        create_account(customer(C)),
        create_account(NewAccount {
            flags: AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            ..account(D)
        }),
        create_account(NewAccount { ledger: OTHER_LEDGER, ..account(E) }),
        create_account(account(TRANSIT)),
        create_account(account(Z)),
        create_account(account(SETTLEMENT)),
        create_account(account(SUSPENSE)),
    ]
}

/// One scenario.
struct Case {
    name: &'static str,
    setup: Vec<Vec<Command>>,
    timestamp: u64,
    test: Vec<Command>,
    /// The event of `test` whose code is checked.
    index: usize,
    expect: ResultCode,
}

/// The batch under test runs here, after setup batches one second apart from `T0`.
const TEST_AT: u64 = T0 + 100 * SECOND;

fn case(name: &'static str, expect: ResultCode) -> Case {
    Case { name, setup: Vec::new(), timestamp: TEST_AT, test: Vec::new(), index: 0, expect }
}

impl Case {
    /// A setup batch; every event of it must succeed.
    fn given(mut self, commands: Vec<Command>) -> Case {
        self.setup.push(commands);
        self
    }

    /// The single event under test.
    fn when(self, command: Command) -> Case {
        self.when_batch(vec![command], 0)
    }

    /// A batch under test and the index of the event checked.
    fn when_batch(mut self, commands: Vec<Command>, index: usize) -> Case {
        self.test = commands;
        self.index = index;
        self
    }

    /// The batch under test runs at `timestamp`.
    fn at(mut self, timestamp: u64) -> Case {
        self.timestamp = timestamp;
        self
    }
}

/// Runs a case; returns the code of its event under test.
fn check(case: &Case) -> Result<ResultCode, String> {
    let mut ledger = Harness::new();
    ledger.apply_ok(T0, fixture());
    for (offset, commands) in (1..).zip(&case.setup) {
        let results = ledger.apply(T0 + offset * SECOND, commands.clone());
        for (command, result) in commands.iter().zip(results) {
            if !result.code.is_success() {
                return Err(format!("setup {command:?} failed with {}", result.code));
            }
        }
    }
    let results = ledger.apply(case.timestamp, case.test.clone());
    ledger.assert_invariants();
    Ok(results[case.index].code)
}

// Short builders for the table.

fn t(id: u128, debit: u128, credit: u128, amount: u128) -> Command {
    create_transfer(transfer(id, debit, credit, amount))
}

fn tx(request: NewTransfer) -> Command {
    create_transfer(request)
}

fn reserve(id: u128, debit: u128, credit: u128, amount: u128) -> Command {
    create_transfer(pending(id, debit, credit, amount, 0))
}

fn pay(id: u128, debit: u128, amount: u128) -> Command {
    create_payout(payout(id, debit, TRANSIT, amount))
}

fn collect(id: u128, reference: &str, beneficiary: u128, amount: u128) -> Command {
    book_collection(collection(id, reference, SETTLEMENT, SUSPENSE, beneficiary, amount))
}

fn assign_request(id: u128, reference: &str, account_id: u128) -> tianping_ledger::AssignSuspense {
    match assign(id, reference, account_id) {
        Command::AssignSuspense(request) => request,
        _ => unreachable!("assign builds an assignment"),
    }
}

fn report(id: u128, account_ids: &[u128]) -> tianping_ledger::NewDiscrepancy {
    discrepancy(id, account_ids)
}

fn report_as(report: tianping_ledger::NewDiscrepancy) -> Command {
    Command::RecordDiscrepancy(report)
}

fn resolve_as(id: u128, reason: &str, actor: &str) -> Command {
    Command::ResolveDiscrepancy(tianping_ledger::ResolveDiscrepancy {
        id,
        reason: reason.to_owned(),
        actor: actor.to_owned(),
    })
}

fn status_change(account_id: u128, status: AccountStatus, reason: &str, actor: &str) -> Command {
    Command::SetAccountStatus(SetAccountStatus {
        account_id,
        status,
        reason: reason.to_owned(),
        actor: actor.to_owned(),
    })
}

/// A versioned status change `id` of `account_id`, decided on controls version `expected`.
fn change_status(id: u128, account_id: u128, expected: u64, status: AccountStatus) -> Command {
    Command::ChangeAccountStatus(AccountStatusChange {
        id,
        account_id,
        expected_controls_version: expected,
        status,
        reason: "risk review".to_owned(),
        actor: "risk:carol".to_owned(),
    })
}

/// A versioned limits change.
fn change_limits(id: u128, account_id: u128, expected: u64, limits: Limits) -> Command {
    Command::ChangeAccountLimits(AccountLimitsChange {
        id,
        account_id,
        expected_controls_version: expected,
        limits,
        reason: "risk review".to_owned(),
        actor: "risk:carol".to_owned(),
    })
}

fn claim_with(worker_id: u128, bank: u32, max: u32, lease_ms: u64) -> Command {
    Command::ClaimPayouts(ClaimPayouts { worker_id, bank, max, lease_ms })
}

fn limits(per_transfer: Option<u128>, per_day: Option<u128>, count: Option<u32>) -> Limits {
    Limits {
        per_transfer_amount_max: per_transfer,
        per_day_amount_max: per_day,
        per_day_count_max: count,
    }
}

fn close(account_id: u128) -> Command {
    set_status(account_id, AccountStatus::Closed)
}

const HALF: u128 = 1 << 127;

fn cases() -> Vec<Case> {
    use AccountStatus::{Frozen, OutflowBlocked};
    use ResultCode as R;
    use TransferFlags as F;
    let long = "x".repeat(TEXT_BYTES_MAX + 1);
    vec![
        // Shared codes.
        case("ok", R::Ok).when(t(100, A, B, 10)),
        case("linked_event_failed", R::LinkedEventFailed)
            .when_batch(vec![linked(t(100, A, B, 10)), t(101, A, MISSING, 10)], 0),
        case("linked failure names its own code", R::CreditAccountNotFound)
            .when_batch(vec![linked(t(100, A, B, 10)), t(101, A, MISSING, 10)], 1),
        case("linked_event_chain_open", R::LinkedEventChainOpen)
            .when_batch(vec![linked(t(100, A, B, 10))], 0),
        case("chain open: earlier members fail", R::LinkedEventFailed)
            .when_batch(vec![linked(t(100, A, B, 10)), linked(t(101, A, B, 10))], 0),
        case("exists: account", R::Exists).when(create_account(account(A))),
        case("exists: linked flag is not part of the body", R::Exists)
            .when_batch(vec![linked(create_account(account(A))), t(100, A, B, 1)], 0),
        case("exists: transfer", R::Exists).given(vec![t(100, A, B, 10)]).when(t(100, A, B, 10)),
        case("exists: chain replayed", R::Exists)
            .given(vec![linked(t(100, A, B, 10)), t(101, B, A, 1)])
            .when_batch(vec![linked(t(100, A, B, 10)), t(101, B, A, 1)], 1),
        case("reserved_flag: account", R::ReservedFlag)
            .when(create_account(NewAccount { flags: AccountFlags(1 << 15), ..account(20) })),
        case("reserved_flag: transfer", R::ReservedFlag)
            .when(tx(NewTransfer { flags: F(1 << 12), ..transfer(100, A, B, 1) })),
        case("reserved_flag: payout with pending flag", R::ReservedFlag).when(create_payout(
            tianping_ledger::NewPayout { flags: F::PENDING, ..payout(200, A, TRANSIT, 1) },
        )),
        case("id_must_not_be_zero: account", R::IdMustNotBeZero).when(create_account(account(0))),
        case("id_must_not_be_zero: transfer", R::IdMustNotBeZero).when(t(0, A, B, 1)),
        case("id_must_not_be_zero: status", R::IdMustNotBeZero).when(set_status(0, Frozen)),
        case("id_must_not_be_zero: outcome", R::IdMustNotBeZero).when(record(
            0,
            1,
            1,
            PayoutOutcome::Sent,
        )),
        case("id_must_not_be_zero: collection", R::IdMustNotBeZero).when(collect(0, "r", A, 1)),
        case("id_must_not_be_int_max: account", R::IdMustNotBeIntMax)
            .when(create_account(account(u128::MAX))),
        case("id_must_not_be_int_max: payout", R::IdMustNotBeIntMax).when(pay(u128::MAX, A, 1)),
        case("flags_are_mutually_exclusive: account", R::FlagsAreMutuallyExclusive).when(
            create_account(NewAccount {
                flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
                    | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
                ..account(20)
            }),
        ),
        case("flags_are_mutually_exclusive: pending and void", R::FlagsAreMutuallyExclusive).when(
            tx(NewTransfer { flags: F::PENDING | F::VOID_PENDING, ..transfer(100, A, B, 1) }),
        ),
        case("flags_are_mutually_exclusive: balancing post", R::FlagsAreMutuallyExclusive).when(
            tx(NewTransfer { flags: F::BALANCING_DEBIT | F::POST_PENDING, ..post(101, 100, 0) }),
        ),
        case("ledger_must_not_be_zero: account", R::LedgerMustNotBeZero)
            .when(create_account(NewAccount { ledger: 0, ..account(20) })),
        case("ledger_must_not_be_zero: transfer", R::LedgerMustNotBeZero)
            .when(tx(NewTransfer { ledger: 0, ..transfer(100, A, B, 1) })),
        case("code_must_not_be_zero: account", R::CodeMustNotBeZero)
            .when(create_account(NewAccount { code: 0, ..account(20) })),
        case("code_must_not_be_zero: collection", R::CodeMustNotBeZero).when(book_collection(
            tianping_ledger::NewCollection {
                code: 0,
                ..collection(300, "r", SETTLEMENT, SUSPENSE, A, 1)
            },
        )),
        // Accounts.
        case(
            "credit_line_requires_debits_must_not_exceed_credits",
            R::CreditLineRequiresDebitsMustNotExceedCredits,
        )
        .when(create_account(NewAccount { credit_line: 5, ..account(20) })),
        case("exists_with_different_flags", R::ExistsWithDifferentFlags)
            .when(create_account(NewAccount { flags: AccountFlags::HISTORY, ..account(A) })),
        case("exists_with_different_user_data: account", R::ExistsWithDifferentUserData)
            .when(create_account(NewAccount { user_data: 9, ..account(A) })),
        case("exists_with_different_ledger: account", R::ExistsWithDifferentLedger)
            .when(create_account(NewAccount { ledger: OTHER_LEDGER, ..account(A) })),
        case("exists_with_different_code: account", R::ExistsWithDifferentCode)
            .when(create_account(NewAccount { code: 2, ..account(A) })),
        case("exists_with_different_credit_line", R::ExistsWithDifferentCreditLine)
            .when(create_account(NewAccount { credit_line: 10, ..customer(C) })),
        // Transfers: request checks.
        case("debit_account_id_must_not_be_zero", R::DebitAccountIdMustNotBeZero)
            .when(t(100, 0, B, 1)),
        case("debit_account_id_must_not_be_int_max", R::DebitAccountIdMustNotBeIntMax).when(t(
            100,
            u128::MAX,
            B,
            1,
        )),
        case("credit_account_id_must_not_be_zero", R::CreditAccountIdMustNotBeZero)
            .when(t(100, A, 0, 1)),
        case("credit_account_id_must_not_be_int_max", R::CreditAccountIdMustNotBeIntMax).when(t(
            100,
            A,
            u128::MAX,
            1,
        )),
        case("accounts_must_be_different", R::AccountsMustBeDifferent).when(t(100, A, A, 1)),
        case("pending_id_must_be_zero", R::PendingIdMustBeZero)
            .when(tx(NewTransfer { pending_id: 5, ..transfer(100, A, B, 1) })),
        case("pending_id_must_not_be_zero", R::PendingIdMustNotBeZero).when(tx(post(101, 0, 0))),
        case("pending_id_must_not_be_int_max", R::PendingIdMustNotBeIntMax).when(tx(post(
            101,
            u128::MAX,
            0,
        ))),
        case("pending_id_must_be_different", R::PendingIdMustBeDifferent).when(tx(void(101, 101))),
        case("timeout_reserved_for_pending_transfer", R::TimeoutReservedForPendingTransfer)
            .when(tx(NewTransfer { timeout: 5, ..transfer(100, A, B, 1) })),
        case("timeout_reserved_for_pending_transfer: void", R::TimeoutReservedForPendingTransfer)
            .given(vec![reserve(100, A, B, 5)])
            .when(tx(NewTransfer { timeout: 5, ..void(101, 100) })),
        case("amount_must_not_be_zero", R::AmountMustNotBeZero).when(t(100, A, B, 0)),
        case("debit_account_not_found", R::DebitAccountNotFound).when(t(100, MISSING, B, 1)),
        case("credit_account_not_found", R::CreditAccountNotFound).when(t(100, A, MISSING, 1)),
        case("accounts_must_have_the_same_ledger", R::AccountsMustHaveTheSameLedger)
            .when(t(100, A, E, 1)),
        case(
            "transfer_must_have_the_same_ledger_as_accounts",
            R::TransferMustHaveTheSameLedgerAsAccounts,
        )
        .when(tx(NewTransfer { ledger: OTHER_LEDGER, ..transfer(100, A, B, 1) })),
        // Transfers: resolving a pending transfer.
        case("pending_transfer_not_found", R::PendingTransferNotFound).when(tx(post(101, 999, 0))),
        case("pending_transfer_not_pending", R::PendingTransferNotPending)
            .given(vec![t(100, A, B, 5)])
            .when(tx(post(101, 100, 0))),
        case(
            "pending_transfer_has_different_debit_account_id",
            R::PendingTransferHasDifferentDebitAccountId,
        )
        .given(vec![reserve(100, A, B, 5)])
        .when(tx(NewTransfer { debit_account_id: TRANSIT, ..post(101, 100, 0) })),
        case(
            "pending_transfer_has_different_credit_account_id",
            R::PendingTransferHasDifferentCreditAccountId,
        )
        .given(vec![reserve(100, A, B, 5)])
        .when(tx(NewTransfer { credit_account_id: TRANSIT, ..post(101, 100, 0) })),
        case("pending_transfer_has_different_ledger", R::PendingTransferHasDifferentLedger)
            .given(vec![reserve(100, A, B, 5)])
            .when(tx(NewTransfer { ledger: OTHER_LEDGER, ..void(101, 100) })),
        case("pending_transfer_has_different_code", R::PendingTransferHasDifferentCode)
            .given(vec![reserve(100, A, B, 5)])
            .when(tx(NewTransfer { code: 2, ..post(101, 100, 0) })),
        case("exceeds_pending_transfer_amount", R::ExceedsPendingTransferAmount)
            .given(vec![reserve(100, A, B, 5)])
            .when(tx(post(101, 100, 6))),
        case("pending_transfer_has_different_amount", R::PendingTransferHasDifferentAmount)
            .given(vec![reserve(100, A, B, 5)])
            .when(tx(NewTransfer { amount: 4, ..void(101, 100) })),
        case("pending_transfer_already_posted", R::PendingTransferAlreadyPosted)
            .given(vec![reserve(100, A, B, 5), tx(post(101, 100, 2))])
            .when(tx(post(102, 100, 0))),
        case("pending_transfer_already_voided", R::PendingTransferAlreadyVoided)
            .given(vec![reserve(100, A, B, 5), tx(void(101, 100))])
            .when(tx(void(102, 100))),
        case("pending_transfer_expired", R::PendingTransferExpired)
            .given(vec![create_transfer(pending(100, A, B, 5, 1))])
            .when(tx(post(101, 100, 0))),
        case("pending_transfer_expired: mid-batch, before the sweep", R::PendingTransferExpired)
            .given(vec![create_transfer(pending(100, A, B, 5, 1))])
            // Setup event 0 ran at T0 + 1 s exactly, so the reservation expires at T0 + 2 s;
            // this batch starts 2 ns earlier, and its third event is the first at or past it.
            .at(T0 + 2 * SECOND - 2)
            .when_batch(vec![t(110, A, B, 1), t(111, A, B, 1), tx(post(101, 100, 0))], 2),
        case("pending_transfer_belongs_to_payout", R::PendingTransferBelongsToPayout)
            .given(vec![pay(200, A, 5)])
            .when(tx(void(101, 200))),
        // Transfers: idempotency.
        case("transfer_exists_with_different_flags", R::TransferExistsWithDifferentFlags)
            .given(vec![t(100, A, B, 5)])
            .when(reserve(100, A, B, 5)),
        case("exists_with_different_debit_account_id", R::ExistsWithDifferentDebitAccountId)
            .given(vec![t(100, A, B, 5)])
            .when(t(100, TRANSIT, B, 5)),
        case("exists_with_different_credit_account_id", R::ExistsWithDifferentCreditAccountId)
            .given(vec![t(100, A, B, 5)])
            .when(t(100, A, TRANSIT, 5)),
        case("exists_with_different_amount", R::ExistsWithDifferentAmount)
            .given(vec![t(100, A, B, 5)])
            .when(t(100, A, B, 6)),
        case("exists_with_different_amount: balancing keeps the request", R::Exists)
            .given(vec![tx(NewTransfer { flags: F::BALANCING_DEBIT, ..transfer(100, C, B, 50) })])
            .when(tx(NewTransfer { flags: F::BALANCING_DEBIT, ..transfer(100, C, B, 50) })),
        case("exists_with_different_pending_id", R::ExistsWithDifferentPendingId)
            .given(vec![reserve(100, A, B, 5), tx(post(101, 100, 0))])
            .when(tx(post(101, 999, 0))),
        case("exists_with_different_timeout", R::ExistsWithDifferentTimeout)
            .given(vec![create_transfer(pending(100, A, B, 5, 500))])
            .when(create_transfer(pending(100, A, B, 5, 600))),
        case("exists_with_different_user_data: transfer", R::ExistsWithDifferentUserData)
            .given(vec![t(100, A, B, 5)])
            .when(tx(NewTransfer { user_data: 1, ..transfer(100, A, B, 5) })),
        case("exists_with_different_ledger: transfer", R::ExistsWithDifferentLedger)
            .given(vec![t(100, A, B, 5)])
            .when(tx(NewTransfer { ledger: OTHER_LEDGER, ..transfer(100, A, B, 5) })),
        case("exists_with_different_code: transfer", R::ExistsWithDifferentCode)
            .given(vec![t(100, A, B, 5)])
            .when(tx(NewTransfer { code: 2, ..transfer(100, A, B, 5) })),
        case("exists: post with inherited fields", R::Exists)
            .given(vec![reserve(100, A, B, 5), tx(post(101, 100, 0))])
            .when(tx(NewTransfer { debit_account_id: A, ledger: LEDGER, ..post(101, 100, 0) })),
        // Transfers: status.
        case("debit_account_frozen", R::DebitAccountFrozen)
            .given(vec![set_status(A, Frozen)])
            .when(t(100, A, B, 1)),
        case("debit_account_closed", R::DebitAccountClosed)
            .given(vec![close(Z)])
            .when(t(100, Z, B, 1)),
        case("debit_account_outflow_blocked", R::DebitAccountOutflowBlocked)
            .given(vec![set_status(A, OutflowBlocked)])
            .when(t(100, A, B, 1)),
        case("debit_account_outflow_blocked: post", R::DebitAccountOutflowBlocked)
            .given(vec![reserve(100, A, B, 5), set_status(A, OutflowBlocked)])
            .when(tx(post(101, 100, 0))),
        case("outflow-blocked accounts still take credits", R::Ok)
            .given(vec![set_status(B, OutflowBlocked)])
            .when(t(100, A, B, 1)),
        case("frozen accounts still release reservations", R::Ok)
            .given(vec![reserve(100, A, B, 5), set_status(A, Frozen), set_status(B, Frozen)])
            .when(tx(void(101, 100))),
        case("credit_account_frozen", R::CreditAccountFrozen)
            .given(vec![set_status(B, Frozen)])
            .when(t(100, A, B, 1)),
        case("credit_account_closed", R::CreditAccountClosed)
            .given(vec![close(Z)])
            .when(t(100, A, Z, 1)),
        // Transfers: limits.
        case("exceeds_per_transfer_limit", R::ExceedsPerTransferLimit)
            .given(vec![set_limits(A, limits(Some(10), None, None))])
            .when(t(100, A, B, 11)),
        case("exceeds_daily_amount_limit", R::ExceedsDailyAmountLimit)
            .given(vec![set_limits(A, limits(None, Some(15), None)), t(100, A, B, 10)])
            .when(t(101, A, B, 6)),
        case(
            "exceeds_daily_amount_limit: voids do not give quota back",
            R::ExceedsDailyAmountLimit,
        )
        .given(vec![
            set_limits(A, limits(None, Some(15), None)),
            reserve(100, A, B, 10),
            tx(void(101, 100)),
        ])
        .when(t(102, A, B, 6)),
        case("daily limits reset at local midnight", R::Ok)
            .given(vec![set_limits(A, limits(None, Some(15), Some(1))), t(100, A, B, 15)])
            .at(T0 + 86_400 * SECOND)
            .when(t(101, A, B, 15)),
        case("exceeds_daily_count_limit", R::ExceedsDailyCountLimit)
            .given(vec![set_limits(A, limits(None, None, Some(1))), t(100, A, B, 1)])
            .when(t(101, A, B, 1)),
        case("exceeds_daily_count_limit: payouts count", R::ExceedsDailyCountLimit)
            .given(vec![set_limits(A, limits(None, None, Some(1))), pay(200, A, 1)])
            .when(t(101, A, B, 1)),
        // Transfers: overflow.
        case("overflows_debits_pending", R::OverflowsDebitsPending)
            .given(vec![reserve(100, A, B, u128::MAX)])
            .when(reserve(101, A, TRANSIT, 1)),
        case("overflows_credits_pending", R::OverflowsCreditsPending)
            .given(vec![reserve(100, A, B, u128::MAX)])
            .when(reserve(101, TRANSIT, B, 1)),
        case("overflows_debits_posted", R::OverflowsDebitsPosted)
            .given(vec![t(100, A, B, u128::MAX)])
            .when(t(101, A, TRANSIT, 1)),
        case("overflows_credits_posted", R::OverflowsCreditsPosted)
            .given(vec![t(100, A, B, u128::MAX)])
            .when(t(101, TRANSIT, B, 1)),
        case("overflows_debits", R::OverflowsDebits)
            .given(vec![reserve(100, A, B, HALF), t(101, A, TRANSIT, HALF - 1)])
            .when(t(102, A, TRANSIT, 1)),
        case("overflows_credits", R::OverflowsCredits)
            .given(vec![reserve(100, A, B, HALF), t(101, TRANSIT, B, HALF - 1)])
            .when(t(102, TRANSIT, B, 1)),
        case("overflows_timeout: pending transfer", R::OverflowsTimeout)
            .at(u64::MAX - 100 * SECOND)
            .when(create_transfer(pending(100, A, B, 1, u32::MAX))),
        case("overflows_timeout: payout lease", R::OverflowsTimeout)
            .at(u64::MAX - SECOND)
            .when(claim(1, 1, PAYOUT_LEASE_MS_MAX)),
        case("exceeds_credits", R::ExceedsCredits).when(t(100, C, B, 1)),
        case("exceeds_credits: credit line", R::ExceedsCredits)
            .given(vec![create_account(NewAccount { credit_line: 10, ..customer(20) })])
            .when(t(100, 20, B, 11)),
        case("exceeds_credits: pending counts", R::ExceedsCredits)
            .given(vec![t(100, A, C, 10), reserve(101, C, B, 6)])
            .when(t(102, C, B, 5)),
        case("exceeds_debits", R::ExceedsDebits).when(t(100, A, D, 1)),
        // Account status and limits.
        case("account_not_found", R::AccountNotFound).when(set_status(MISSING, Frozen)),
        case("account_not_found: limits", R::AccountNotFound)
            .when(set_limits(MISSING, Limits::NONE)),
        case("reason_must_not_be_empty", R::ReasonMustNotBeEmpty)
            .when(status_change(A, Frozen, "", "ops")),
        case("actor_must_not_be_empty", R::ActorMustNotBeEmpty).when(Command::SetAccountLimits(
            SetAccountLimits {
                account_id: A,
                limits: Limits::NONE,
                reason: "why".to_owned(),
                actor: String::new(),
            },
        )),
        case("text_too_long: reason", R::TextTooLong).when(status_change(A, Frozen, &long, "ops")),
        case("text_too_long: beneficiary", R::TextTooLong).when(create_payout(
            tianping_ledger::NewPayout { beneficiary: long.clone(), ..payout(200, A, TRANSIT, 1) },
        )),
        case("text_too_long: bank reference", R::TextTooLong).when(collect(300, &long, A, 1)),
        case("status: the same status again is ok", R::Ok)
            .given(vec![set_status(A, Frozen)])
            .when(set_status(A, Frozen)),
        case("status: closed stays closed, idempotently", R::Ok)
            .given(vec![close(Z)])
            .when(close(Z)),
        case("account_closed", R::AccountClosed)
            .given(vec![close(Z)])
            .when(set_status(Z, AccountStatus::Active)),
        case("account_closed: limits", R::AccountClosed)
            .given(vec![close(Z)])
            .when(set_limits(Z, limits(Some(1), None, None))),
        case("close_requires_zero_balance", R::CloseRequiresZeroBalance)
            .given(vec![t(100, A, B, 1)])
            .when(close(A)),
        case("close_requires_zero_balance: pending", R::CloseRequiresZeroBalance)
            .given(vec![reserve(100, A, B, 1)])
            .when(close(B)),
        case("closing a balanced account", R::Ok)
            .given(vec![t(100, A, B, 5), t(101, B, A, 5)])
            .when(close(B)),
        // Payouts.
        case("bank_must_not_be_zero: payout", R::BankMustNotBeZero).when(create_payout(
            tianping_ledger::NewPayout { bank: 0, ..payout(200, A, TRANSIT, 1) },
        )),
        case("bank_must_not_be_zero: claim", R::BankMustNotBeZero).when(claim_with(
            1,
            0,
            1,
            PAYOUT_LEASE_MS_MIN,
        )),
        case("bank_must_not_be_zero: collection", R::BankMustNotBeZero).when(book_collection(
            tianping_ledger::NewCollection {
                bank: 0,
                ..collection(300, "r", SETTLEMENT, SUSPENSE, A, 1)
            },
        )),
        case("beneficiary_must_not_be_empty", R::BeneficiaryMustNotBeEmpty).when(create_payout(
            tianping_ledger::NewPayout { beneficiary: String::new(), ..payout(200, A, TRANSIT, 1) },
        )),
        case("exists: payout", R::Exists).given(vec![pay(200, A, 5)]).when(pay(200, A, 5)),
        case("exists_with_different_amount: payout", R::ExistsWithDifferentAmount)
            .given(vec![pay(200, A, 5)])
            .when(pay(200, A, 6)),
        case("exists_with_different_bank", R::ExistsWithDifferentBank)
            .given(vec![pay(200, A, 5)])
            .when(create_payout(tianping_ledger::NewPayout {
                bank: BANK + 1,
                ..payout(200, A, TRANSIT, 5)
            })),
        case("exists_with_different_beneficiary", R::ExistsWithDifferentBeneficiary)
            .given(vec![pay(200, A, 5)])
            .when(create_payout(tianping_ledger::NewPayout {
                beneficiary: "someone else".to_owned(),
                ..payout(200, A, TRANSIT, 5)
            })),
        case("id_already_used: payout", R::IdAlreadyUsed)
            .given(vec![t(100, A, B, 5)])
            .when(pay(100, A, 5)),
        case("id_already_used: collection", R::IdAlreadyUsed)
            .given(vec![t(100, A, B, 5)])
            .when(collect(100, "r", A, 5)),
        // Finality of state-dependent refusals: C is unfunded, so 100 is refused for funds;
        // C is then funded in the same batch and 100 is retried.
        case("id_already_failed: transfer retried after funding", R::IdAlreadyFailed)
            .when_batch(vec![t(100, C, A, 5), t(101, A, C, 5), t(100, C, A, 5)], 2),
        case("id_already_failed: payout retried after funding", R::IdAlreadyFailed)
            .when_batch(vec![pay(200, C, 5), t(101, A, C, 5), pay(200, C, 5)], 2),
        case("id_already_failed: a payout under a refused transfer's id", R::IdAlreadyFailed)
            .when_batch(vec![t(100, C, A, 5), t(101, A, C, 5), pay(100, C, 5)], 2),
        case("id_already_failed: a collection under a refused transfer's id", R::IdAlreadyFailed)
            .when_batch(vec![t(100, C, A, 5), collect(100, "r", A, 5)], 1),
        case(
            "id_already_failed: post retried once the pending transfer exists",
            R::IdAlreadyFailed,
        )
        .when_batch(vec![tx(post(101, 100, 0)), reserve(100, A, B, 5), tx(post(101, 100, 0))], 2),
        case("id_already_failed: a linked chain's member, retried", R::IdAlreadyFailed).when_batch(
            vec![linked(t(100, A, B, 5)), t(101, C, A, 5), t(102, A, C, 5), t(101, C, A, 5)],
            3,
        ),
        // Order: the request's own validation comes first …
        case("order: validation before id_already_failed", R::AmountMustNotBeZero)
            .when_batch(vec![t(100, C, A, 5), t(100, C, A, 0)], 1),
        // … and an id that succeeded stays `exists` (a success is never recorded as refused).
        case("order: exists before id_already_failed", R::Exists)
            .when_batch(vec![t(100, A, B, 5), t(100, A, B, 5)], 1),
        // A validation refusal is not recorded, so the corrected request may use the id.
        case("a validation refusal is not final", R::Ok)
            .when_batch(vec![t(100, C, A, 0), t(100, A, B, 5)], 1),
        // A rolled-back member that did not fail on its own is not recorded either.
        case("a linked_event_failed member is not final", R::Ok)
            .when_batch(vec![linked(t(100, A, B, 5)), t(101, C, A, 5), t(100, A, B, 5)], 2),
        case("payout reservation checks: exceeds_credits", R::ExceedsCredits).when(pay(200, C, 1)),
        case("payout reservation checks: outflow blocked", R::DebitAccountOutflowBlocked)
            .given(vec![set_status(A, OutflowBlocked)])
            .when(pay(200, A, 1)),
        case("worker_id_must_not_be_zero: claim", R::WorkerIdMustNotBeZero).when(claim(
            0,
            1,
            PAYOUT_LEASE_MS_MIN,
        )),
        case("worker_id_must_not_be_zero: outcome", R::WorkerIdMustNotBeZero)
            .given(vec![pay(200, A, 5)])
            .when(record(200, 0, 1, PayoutOutcome::Sent)),
        case("claim_max_out_of_range: zero", R::ClaimMaxOutOfRange).when(claim(
            1,
            0,
            PAYOUT_LEASE_MS_MIN,
        )),
        case("claim_max_out_of_range: too many", R::ClaimMaxOutOfRange).when(claim(
            1,
            PAYOUT_CLAIM_MAX + 1,
            PAYOUT_LEASE_MS_MIN,
        )),
        case("lease_out_of_range: short", R::LeaseOutOfRange).when(claim(
            1,
            1,
            PAYOUT_LEASE_MS_MIN - 1,
        )),
        case("lease_out_of_range: long", R::LeaseOutOfRange).when(claim(
            1,
            1,
            PAYOUT_LEASE_MS_MAX + 1,
        )),
        case("claim with nothing to do is ok", R::Ok).when(claim(1, 1, PAYOUT_LEASE_MS_MIN)),
        case("batch claim: the claim id must not be zero", R::IdMustNotBeZero).when(claim_batch(
            0,
            1,
            1,
            PAYOUT_LEASE_MS_MIN,
        )),
        case("batch claim: the claim id must not be u128::MAX", R::IdMustNotBeIntMax)
            .when(claim_batch(u128::MAX, 1, 1, PAYOUT_LEASE_MS_MIN)),
        case("order: batch claim id before the claim's shape", R::IdMustNotBeZero)
            .when(claim_batch(0, 0, 0, 0)),
        case("batch claim: the claim's shape as for a claim", R::ClaimMaxOutOfRange)
            .when(claim_batch(900, 1, 0, PAYOUT_LEASE_MS_MIN)),
        case("batch claim: a retry answers exists", R::Exists)
            .given(vec![pay(200, A, 5), claim_batch(900, 1, 2, 60_000)])
            .when(claim_batch(900, 1, 2, 60_000)),
        case("batch claim: the id by another worker", R::ExistsWithDifferentClaim)
            .given(vec![pay(200, A, 5), claim_batch(900, 1, 2, 60_000)])
            .when(claim_batch(900, 2, 2, 60_000)),
        case("batch claim: the id with another lease", R::ExistsWithDifferentClaim)
            .given(vec![pay(200, A, 5), claim_batch(900, 1, 2, 60_000)])
            .when(claim_batch(900, 1, 2, 5_000)),
        case("order: batch claim's shape before its identity", R::LeaseOutOfRange)
            .given(vec![pay(200, A, 5), claim_batch(900, 1, 2, 60_000)])
            .when(claim_batch(900, 2, 2, 1)),
        case("batch claim that took nothing leaves its id free", R::Ok)
            .given(vec![claim_batch(900, 1, 2, 60_000)])
            .when(claim_batch(900, 2, 1, 5_000)),
        case("payout_not_found", R::PayoutNotFound).when(record(200, 1, 1, PayoutOutcome::Sent)),
        case("payout_not_found: a transfer is not a payout", R::PayoutNotFound)
            .given(vec![t(100, A, B, 5)])
            .when(record(100, 1, 1, PayoutOutcome::Sent)),
        case("payout_not_claimed", R::PayoutNotClaimed).given(vec![pay(200, A, 5)]).when(record(
            200,
            1,
            0,
            PayoutOutcome::Sent,
        )),
        case("fencing_token_stale", R::FencingTokenStale)
            .given(vec![pay(200, A, 5), claim(1, 1, 60_000)])
            .when(record(200, 1, 2, PayoutOutcome::Sent)),
        case("payout_claimed_by_another_worker", R::PayoutClaimedByAnotherWorker)
            .given(vec![pay(200, A, 5), claim(1, 1, 60_000)])
            .when(record(200, 2, 1, PayoutOutcome::Sent)),
        case("payout_lease_expired", R::PayoutLeaseExpired)
            .given(vec![pay(200, A, 5), claim(1, 1, PAYOUT_LEASE_MS_MIN)])
            .when(record(200, 1, 1, PayoutOutcome::Sent)),
        case("outcome: the same state again is ok", R::Ok)
            .given(vec![
                pay(200, A, 5),
                claim(1, 1, 600_000),
                record(200, 1, 1, PayoutOutcome::Sent),
            ])
            .when(record(200, 1, 1, PayoutOutcome::Sent)),
        case("outcome: a final outcome retried is exists", R::Exists)
            .given(vec![
                pay(200, A, 5),
                claim(1, 1, 600_000),
                record(200, 1, 1, PayoutOutcome::Failed),
            ])
            .when(record(200, 1, 1, PayoutOutcome::Failed)),
        case("payout_already_final", R::PayoutAlreadyFinal)
            .given(vec![
                pay(200, A, 5),
                claim(1, 1, 600_000),
                record(200, 1, 1, PayoutOutcome::Succeeded),
            ])
            .when(record(200, 1, 1, PayoutOutcome::Failed)),
        // Collections.
        case("bank_reference_must_not_be_empty", R::BankReferenceMustNotBeEmpty)
            .when(collect(300, "", A, 5)),
        case("settlement_account_not_found", R::SettlementAccountNotFound)
            .when(book_collection(collection(300, "r", MISSING, SUSPENSE, A, 5))),
        case("settlement_account_not_found: another ledger", R::SettlementAccountNotFound)
            .when(book_collection(collection(300, "r", E, SUSPENSE, A, 5))),
        case("suspense_account_not_found", R::SuspenseAccountNotFound)
            .when(book_collection(collection(300, "r", SETTLEMENT, MISSING, A, 5))),
        case("accounts_must_be_different: collection", R::AccountsMustBeDifferent)
            .when(book_collection(collection(300, "r", SETTLEMENT, SETTLEMENT, A, 5))),
        case("collection: frozen settlement refuses", R::DebitAccountFrozen)
            .given(vec![set_status(SETTLEMENT, Frozen)])
            .when(collect(300, "r", A, 5)),
        case("collection: outflow-blocked settlement still books", R::Ok)
            .given(vec![set_status(SETTLEMENT, OutflowBlocked)])
            .when(collect(300, "r", A, 5)),
        case("collection: frozen suspense refuses an unmatched credit", R::CreditAccountFrozen)
            .given(vec![set_status(SUSPENSE, Frozen)])
            .when(collect(300, "r", MISSING, 5)),
        case("exists: collection", R::Exists)
            .given(vec![collect(300, "r", A, 5)])
            .when(collect(300, "r", A, 5)),
        case("collection_exists_with_different_id", R::CollectionExistsWithDifferentId)
            .given(vec![collect(300, "r", A, 5)])
            .when(collect(301, "r", A, 5)),
        case("collection_exists_with_different_amount", R::CollectionExistsWithDifferentAmount)
            .given(vec![collect(300, "r", A, 5)])
            .when(collect(300, "r", A, 6)),
        case(
            "collection_exists_with_different_beneficiary",
            R::CollectionExistsWithDifferentBeneficiary,
        )
        .given(vec![collect(300, "r", A, 5)])
        .when(collect(300, "r", B, 5)),
        case("collection_exists_with_different_accounts", R::CollectionExistsWithDifferentAccounts)
            .given(vec![collect(300, "r", A, 5)])
            .when(book_collection(collection(300, "r", SETTLEMENT, TRANSIT, A, 5))),
        case("collection: the same reference at another bank is new", R::Ok)
            .given(vec![collect(300, "r", A, 5)])
            .when(book_collection(tianping_ledger::NewCollection {
                bank: BANK + 1,
                ..collection(301, "r", SETTLEMENT, SUSPENSE, A, 5)
            })),
        // Suspense assignments (MISSING as the beneficiary sends a collection to suspense).
        case("collection_not_found", R::CollectionNotFound).when(assign(400, "r", A)),
        case("collection_not_in_suspense", R::CollectionNotInSuspense)
            .given(vec![collect(300, "r", A, 5)])
            .when(assign(400, "r", B)),
        case("suspense: assigned", R::Ok)
            .given(vec![collect(300, "r", MISSING, 5)])
            .when(assign(400, "r", A)),
        case("exists: suspense assignment", R::Exists)
            .given(vec![collect(300, "r", MISSING, 5)])
            .given(vec![assign(400, "r", A)])
            .when(assign(400, "r", A)),
        case("suspense_already_assigned", R::SuspenseAlreadyAssigned)
            .given(vec![collect(300, "r", MISSING, 5)])
            .given(vec![assign(400, "r", A)])
            .when(assign(401, "r", A)),
        case("suspense: the same id for another account", R::ExistsWithDifferentCreditAccountId)
            .given(vec![collect(300, "r", MISSING, 5)])
            .given(vec![assign(400, "r", A)])
            .when(assign(400, "r", B)),
        case("suspense: the id of a transfer", R::IdAlreadyUsed)
            .given(vec![collect(300, "r", MISSING, 5), t(400, A, B, 1)])
            .when(assign(400, "r", A)),
        case("suspense: missing target", R::CreditAccountNotFound)
            .given(vec![collect(300, "r", MISSING, 5)])
            .when(assign(400, "r", MISSING)),
        case("suspense: target on another ledger", R::AccountsMustHaveTheSameLedger)
            .given(vec![collect(300, "r", MISSING, 5)])
            .when(assign(400, "r", E)),
        case("suspense: target is the suspense account", R::AccountsMustBeDifferent)
            .given(vec![collect(300, "r", MISSING, 5)])
            .when(assign(400, "r", SUSPENSE)),
        case("suspense: target is the settlement account", R::AccountsMustBeDifferent)
            .given(vec![collect(300, "r", MISSING, 5)])
            .when(assign(400, "r", SETTLEMENT)),
        case("suspense: frozen target", R::CreditAccountFrozen)
            .given(vec![collect(300, "r", MISSING, 5), set_status(A, Frozen)])
            .when(assign(400, "r", A)),
        case("suspense: frozen suspense account", R::DebitAccountFrozen)
            .given(vec![collect(300, "r", MISSING, 5), set_status(SUSPENSE, Frozen)])
            .when(assign(400, "r", A)),
        case("suspense: target whose credits must not exceed debits", R::ExceedsDebits)
            .given(vec![collect(300, "r", MISSING, 5)])
            .when(assign(400, "r", D)),
        case("suspense: reason required", R::ReasonMustNotBeEmpty)
            .given(vec![collect(300, "r", MISSING, 5)])
            .when(Command::AssignSuspense(tianping_ledger::AssignSuspense {
                reason: String::new(),
                ..assign_request(400, "r", A)
            })),
        // Discrepancies.
        case("discrepancy: recorded", R::Ok).when(record_discrepancy(600, &[A, B])),
        case("discrepancy: no accounts is still recorded", R::Ok)
            .when(record_discrepancy(600, &[])),
        case("discrepancy: id zero", R::IdMustNotBeZero).when(record_discrepancy(0, &[A])),
        case("discrepancy: bank zero", R::BankMustNotBeZero)
            .when(report_as(tianping_ledger::NewDiscrepancy { bank: 0, ..report(600, &[A]) })),
        case("discrepancy: reference required", R::BankReferenceMustNotBeEmpty).when(report_as(
            tianping_ledger::NewDiscrepancy { reference: String::new(), ..report(600, &[A]) },
        )),
        case("discrepancy: reference too long", R::TextTooLong).when(report_as(
            tianping_ledger::NewDiscrepancy { reference: long.clone(), ..report(600, &[A]) },
        )),
        case("discrepancy: evidence may be longer than other texts", R::Ok).when(report_as(
            tianping_ledger::NewDiscrepancy {
                bank_evidence: "e".repeat(tianping_ledger::EVIDENCE_BYTES_MAX),
                ..report(600, &[A])
            },
        )),
        case("discrepancy: evidence too long", R::TextTooLong).when(report_as(
            tianping_ledger::NewDiscrepancy {
                ledger_evidence: "e".repeat(tianping_ledger::EVIDENCE_BYTES_MAX + 1),
                ..report(600, &[A])
            },
        )),
        case("discrepancy: actor required", R::ActorMustNotBeEmpty).when(report_as(
            tianping_ledger::NewDiscrepancy { actor: String::new(), ..report(600, &[A]) },
        )),
        case("too_many_discrepancy_accounts", R::TooManyDiscrepancyAccounts)
            .when(record_discrepancy(600, &[1, 2, 3, 4, 5, 6, 7, 8, 9])),
        case("discrepancy: the most accounts", R::Ok)
            .when(record_discrepancy(600, &[1, 2, 3, 4, 5, 6, 7, 8])),
        case("discrepancy: account id zero", R::IdMustNotBeZero)
            .when(record_discrepancy(600, &[A, 0])),
        case("discrepancy: account named twice", R::AccountsMustBeDifferent)
            .when(record_discrepancy(600, &[A, B, A])),
        case("discrepancy: missing account", R::AccountNotFound)
            .when(record_discrepancy(600, &[A, MISSING])),
        case("exists: a second reconciler reports the same difference", R::Exists)
            .given(vec![record_discrepancy(600, &[A, B])])
            .when(report_as(tianping_ledger::NewDiscrepancy {
                account_ids: vec![B, A],
                actor: "reconciler:dc-b".to_owned(),
                cutoff: T0 + SECOND,
                bank_evidence: "dc-b saw it too".to_owned(),
                ..report(600, &[])
            })),
        case("discrepancy_exists_with_different_fields", R::DiscrepancyExistsWithDifferentFields)
            .given(vec![record_discrepancy(600, &[A])])
            .when(record_discrepancy(600, &[B])),
        case("discrepancy: the same id for another class", R::DiscrepancyExistsWithDifferentFields)
            .given(vec![record_discrepancy(600, &[A])])
            .when(report_as(tianping_ledger::NewDiscrepancy {
                class: tianping_ledger::DiscrepancyClass::DuplicateAtBank,
                ..report(600, &[A])
            })),
        case("discrepancy: blocks a payout", R::DebitAccountOutflowBlocked)
            .given(vec![record_discrepancy(600, &[A])])
            .when(pay(200, A, 5)),
        case("discrepancy: a frozen account stays frozen", R::DebitAccountFrozen)
            .given(vec![set_status(A, Frozen)])
            .given(vec![record_discrepancy(600, &[A])])
            .when(t(100, A, B, 1)),
        case("discrepancy: resolved", R::Ok)
            .given(vec![record_discrepancy(600, &[A])])
            .when(resolve_discrepancy(600)),
        case("discrepancy: resolving unblocks", R::Ok)
            .given(vec![record_discrepancy(600, &[A])])
            .given(vec![resolve_discrepancy(600)])
            .when(t(100, A, B, 1)),
        case(
            "discrepancy: another open discrepancy keeps the block",
            R::DebitAccountOutflowBlocked,
        )
        .given(vec![record_discrepancy(600, &[A]), record_discrepancy(601, &[B, A])])
        .given(vec![resolve_discrepancy(600)])
        .when(t(100, A, B, 1)),
        case(
            "discrepancy: an operator's later block outlasts the resolution",
            R::DebitAccountOutflowBlocked,
        )
        .given(vec![record_discrepancy(600, &[A])])
        .given(vec![set_status(A, AccountStatus::Active)])
        .given(vec![set_status(A, OutflowBlocked)])
        .given(vec![resolve_discrepancy(600)])
        .when(t(100, A, B, 1)),
        case("discrepancy_not_found", R::DiscrepancyNotFound).when(resolve_discrepancy(600)),
        case("exists: a resolution retried", R::Exists)
            .given(vec![record_discrepancy(600, &[A])])
            .given(vec![resolve_discrepancy(600)])
            .when(resolve_discrepancy(600)),
        case("discrepancy_already_resolved", R::DiscrepancyAlreadyResolved)
            .given(vec![record_discrepancy(600, &[A])])
            .given(vec![resolve_discrepancy(600)])
            .when(resolve_as(600, "another explanation", "ops:bob")),
        case("discrepancy: resolution reason required", R::ReasonMustNotBeEmpty)
            .when(resolve_as(600, "", "ops:bob")),
        case("discrepancy: resolution actor required", R::ActorMustNotBeEmpty)
            .when(resolve_as(600, "why", "")),
        case("discrepancy: resolution text too long", R::TextTooLong)
            .when(resolve_as(600, &long, "ops:bob")),
        case("order: discrepancy accounts checked in list order", R::IdMustNotBeIntMax)
            .when(record_discrepancy(600, &[A, u128::MAX, 0])),
        case("order: too many accounts before their ids", R::TooManyDiscrepancyAccounts)
            .when(record_discrepancy(600, &[0, 0, 0, 0, 0, 0, 0, 0, 0])),
        case("order: evidence before actor", R::TextTooLong).when(report_as(
            tianping_ledger::NewDiscrepancy {
                bank_evidence: "e".repeat(tianping_ledger::EVIDENCE_BYTES_MAX + 1),
                actor: String::new(),
                ..report(600, &[A])
            },
        )),
        case(
            "order: discrepancy identity before account lookup",
            R::DiscrepancyExistsWithDifferentFields,
        )
        .given(vec![record_discrepancy(600, &[A])])
        .when(record_discrepancy(600, &[MISSING])),
        // Versioned control changes.
        case("versioned status change applies", R::Ok).when(change_status(700, A, 0, Frozen)),
        case("versioned change: a freeze holds against a payment", R::DebitAccountFrozen)
            .given(vec![change_status(700, A, 0, Frozen)])
            .when(t(100, A, B, 1)),
        case("exists: a versioned change retried", R::Exists)
            .given(vec![change_status(700, A, 0, Frozen)])
            .given(vec![change_status(701, A, 1, AccountStatus::Active)])
            .when(change_status(700, A, 0, Frozen)),
        case("controls_version_stale: a late copy cannot undo a freeze", R::ControlsVersionStale)
            .given(vec![change_status(700, A, 0, Frozen)])
            .when(change_status(701, A, 0, AccountStatus::Active)),
        case("controls_version_stale: a limits change moves the version", R::ControlsVersionStale)
            .given(vec![change_limits(700, A, 0, limits(Some(5), None, None))])
            .when(change_status(701, A, 0, OutflowBlocked)),
        case("controls_version_stale: a discrepancy's block moves it", R::ControlsVersionStale)
            .given(vec![record_discrepancy(600, &[A])])
            .when(change_status(701, A, 0, AccountStatus::Active)),
        case("controls_version_stale: an unconditional change moves it", R::ControlsVersionStale)
            .given(vec![set_status(A, Frozen)])
            .when(change_limits(701, A, 0, limits(None, Some(9), None))),
        case("controls_version_stale: a confirmation is a newer decision", R::ControlsVersionStale)
            .given(vec![change_status(700, A, 0, AccountStatus::Active)])
            .when(change_status(701, A, 0, Frozen)),
        case("versioned change decided on the current version", R::Ok)
            .given(vec![set_status(A, Frozen), set_status(A, AccountStatus::Active)])
            .when(change_status(701, A, 2, OutflowBlocked)),
        case(
            "exists_with_different_change: the id on another account",
            R::ExistsWithDifferentChange,
        )
        .given(vec![change_status(700, A, 0, Frozen)])
        .when(change_status(700, B, 0, Frozen)),
        case("exists_with_different_change: the id for other limits", R::ExistsWithDifferentChange)
            .given(vec![change_limits(700, A, 0, limits(Some(5), None, None))])
            .when(change_limits(700, A, 1, limits(Some(6), None, None))),
        case("versioned change: the id must not be zero", R::IdMustNotBeZero)
            .when(change_status(0, A, 0, Frozen)),
        case("versioned change: the id must not be u128::MAX", R::IdMustNotBeIntMax)
            .when(change_limits(u128::MAX, A, 0, limits(None, None, Some(1)))),
        case("versioned change: account not found", R::AccountNotFound)
            .when(change_status(700, MISSING, 0, Frozen)),
        case("order: versioned change identity before the version", R::Exists)
            .given(vec![change_status(700, A, 0, Frozen)])
            .when(change_status(700, A, 0, Frozen)),
        case("order: versioned change version before the status rules", R::ControlsVersionStale)
            .given(vec![change_status(700, A, 0, Frozen)])
            .when(change_status(701, A, 5, Frozen)),
        case("order: resolution validation before lookup", R::IdMustNotBeZero)
            .when(resolve_as(0, "", "")),
        // Order of create_transfer's checks when two fail at once.
        case("order: reserved_flag before id", R::ReservedFlag)
            .when(tx(NewTransfer { flags: F(1 << 12), ..transfer(0, A, B, 1) })),
        case("order: id before flags_are_mutually_exclusive", R::IdMustNotBeZero)
            .when(tx(NewTransfer { flags: F::PENDING | F::POST_PENDING, ..transfer(0, A, B, 1) })),
        case("order: flags before account ids", R::FlagsAreMutuallyExclusive).when(tx(
            NewTransfer { flags: F::PENDING | F::VOID_PENDING, ..transfer(100, 0, 0, 1) },
        )),
        case("order: debit id before credit id", R::DebitAccountIdMustNotBeZero).when(t(
            100,
            0,
            u128::MAX,
            1,
        )),
        case("order: accounts_must_be_different before amount", R::AccountsMustBeDifferent)
            .when(t(100, A, A, 0)),
        case("order: pending_id_must_be_zero before timeout", R::PendingIdMustBeZero)
            .when(tx(NewTransfer { pending_id: 7, timeout: 5, ..transfer(100, A, B, 1) })),
        case("order: ledger before code before amount", R::LedgerMustNotBeZero)
            .when(tx(NewTransfer { ledger: 0, code: 0, ..transfer(100, A, B, 0) })),
        case("order: code before amount", R::CodeMustNotBeZero)
            .when(tx(NewTransfer { code: 0, ..transfer(100, A, B, 0) })),
        case("order: exists comparison before account lookup", R::ExistsWithDifferentAmount)
            .given(vec![t(100, A, B, 5), set_status(A, Frozen)])
            .when(t(100, A, B, 6)),
        case("order: different flags before different amount", R::TransferExistsWithDifferentFlags)
            .given(vec![t(100, A, B, 5)])
            .when(reserve(100, A, B, 6)),
        case("order: debit account lookup before credit", R::DebitAccountNotFound).when(t(
            100,
            MISSING,
            MISSING + 1,
            1,
        )),
        case("order: same ledger before transfer ledger", R::AccountsMustHaveTheSameLedger)
            .when(tx(NewTransfer { ledger: 9, ..transfer(100, A, E, 1) })),
        case("order: debit frozen before credit closed", R::DebitAccountFrozen)
            .given(vec![set_status(A, Frozen), close(Z)])
            .when(t(100, A, Z, 1)),
        case("order: outflow block before credit frozen", R::DebitAccountOutflowBlocked)
            .given(vec![set_status(A, OutflowBlocked), set_status(B, Frozen)])
            .when(t(100, A, B, 1)),
        case("order: status before limits", R::CreditAccountFrozen)
            .given(vec![set_limits(A, limits(Some(1), None, None)), set_status(B, Frozen)])
            .when(t(100, A, B, 2)),
        case("order: limits before balance", R::ExceedsPerTransferLimit)
            .given(vec![set_limits(C, limits(Some(1), None, None))])
            .when(t(100, C, B, 2)),
        case("order: daily amount before daily count", R::ExceedsDailyAmountLimit)
            .given(vec![set_limits(A, limits(None, Some(5), Some(1))), t(100, A, B, 5)])
            .when(t(101, A, B, 1)),
        case("order: debit side before credit side", R::ExceedsCredits).when(t(100, C, D, 1)),
        case("order: balance before timeout overflow", R::ExceedsCredits)
            .at(u64::MAX - 100 * SECOND)
            .when(create_transfer(pending(100, C, B, 1, u32::MAX))),
        case("order: balancing clamps before the balance checks", R::Ok)
            .given(vec![t(100, A, C, 7)])
            .when(tx(NewTransfer { flags: F::BALANCING_DEBIT, ..transfer(101, C, B, 50) })),
        case("order: post account ids before the pending lookup", R::DebitAccountIdMustNotBeIntMax)
            .when(tx(NewTransfer { debit_account_id: u128::MAX, ..post(101, 999, 0) })),
        case("order: already posted before amount", R::PendingTransferAlreadyPosted)
            .given(vec![reserve(100, A, B, 5), tx(post(101, 100, 0))])
            .when(tx(post(102, 100, 6))),
        case("order: payout reservation before amount", R::PendingTransferBelongsToPayout)
            .given(vec![pay(200, A, 5)])
            .when(tx(NewTransfer { amount: 4, ..void(101, 200) })),
        case(
            "order: different debit account before different code",
            R::PendingTransferHasDifferentDebitAccountId,
        )
        .given(vec![reserve(100, A, B, 5)])
        .when(tx(NewTransfer { debit_account_id: TRANSIT, code: 2, ..post(101, 100, 0) })),
        case("order: outcome final before fencing", R::PayoutAlreadyFinal)
            .given(vec![
                pay(200, A, 5),
                claim(1, 1, 600_000),
                record(200, 1, 1, PayoutOutcome::Succeeded),
            ])
            .when(Command::RecordPayoutOutcome(RecordPayoutOutcome {
                payout_id: 200,
                worker_id: 2,
                fencing_token: 7,
                outcome: PayoutOutcome::Sent,
            })),
    ]
}

#[test]
fn every_case_gets_its_code() {
    let mut failures = Vec::new();
    for case in cases() {
        match check(&case) {
            Ok(code) if code == case.expect => {}
            Ok(code) => {
                failures.push(format!("{}: expected {}, got {code}", case.name, case.expect))
            }
            Err(error) => failures.push(format!("{}: {error}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_result_code_is_reached() {
    let reached: BTreeSet<ResultCode> =
        cases().iter().filter_map(|case| check(case).ok()).collect();
    let unreachable: BTreeSet<ResultCode> = UNREACHABLE.iter().map(|(code, _)| *code).collect();
    let missing: Vec<&str> = ResultCode::ALL
        .iter()
        .filter(|code| !reached.contains(code) && !unreachable.contains(code))
        .map(|code| code.name())
        .collect();
    assert!(missing.is_empty(), "no case reaches {missing:?}");
    let reached_anyway: Vec<&str> =
        unreachable.intersection(&reached).map(|code| code.name()).collect();
    assert!(reached_anyway.is_empty(), "listed as unreachable but reached: {reached_anyway:?}");
}

#[test]
fn result_codes_round_trip_their_wire_values() {
    let mut names = BTreeSet::new();
    for code in ResultCode::ALL {
        assert_eq!(ResultCode::from_value(code.value()), Some(*code));
        assert!(names.insert(code.name()), "duplicate name {}", code.name());
    }
    let values: Vec<u16> = ResultCode::ALL.iter().map(|code| code.value()).collect();
    assert!(values.windows(2).all(|pair| pair[0] < pair[1]), "ALL is in numeric order");
    assert_eq!(ResultCode::from_value(u16::MAX), None);
}
