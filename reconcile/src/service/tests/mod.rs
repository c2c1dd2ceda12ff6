//! The service's period against in-process fakes of the two sides (`fakes`): consistent
//! traffic of every kind finds nothing; each injected difference is found with its class,
//! reference and accounts and recorded once across two reconcilers running side by side; a
//! ledger that moves while it is read never makes a false balance mismatch; an unreachable
//! side fails the period and finds nothing; the start, midnight and a payout in flight longer
//! than the lateness find nothing either.

mod fakes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tianping_ledger::{DiscrepancyClass, PayoutState};

use self::fakes::{
    ACCOUNT, BANK, COLLECTION_CODE, IN_TRANSIT, ManualClock, Move, OPENING, REVERSAL_CODE,
    SETTLEMENT, SUSPENSE, Sides,
};
use crate::service::config::{BankConfig, Config};
use crate::service::metrics::ReconcileMetrics;
use crate::service::reconciler::{BankReconciler, Sides as PeriodSides};
use crate::service::summary::{BalanceOutcome, BalanceSkip};
use crate::service::{run_once_with, serve_with};

/// 2025-11-24T12:00:00Z.
const NOON_MS: u64 = 1_763_985_600_000;
const PERIOD_MS: u64 = 10_000;
const LATENESS_MS: u64 = 120_000;
/// Periods for anything to be decided: a lateness, the ledger's settling, and some.
const DECIDED: usize = (LATENESS_MS / PERIOD_MS) as usize + 4;
const CUSTOMER: u128 = 5001;
const PAYER: u128 = 6001;

fn config(name: &str) -> Config {
    Config {
        name: name.into(),
        cluster: vec!["127.0.0.1:7001".into()],
        balance_period: Duration::from_millis(PERIOD_MS),
        matching_period: Duration::from_millis(6 * PERIOD_MS),
        lateness_ns: LATENESS_MS * 1_000_000,
        utc_offset_seconds: 0,
        banks: vec![BankConfig {
            bank: BANK,
            currency: tianping_bank_adapters::money::Currency::Cny,
            account: ACCOUNT.into(),
            bank_in_transit_account_id: IN_TRANSIT,
            settlement_account_id: SETTLEMENT,
            suspense_account_id: SUSPENSE,
            reversal_code: REVERSAL_CODE,
            opening_baseline: i128::try_from(OPENING).expect("small"),
            block_account_ids: Vec::new(),
            connection: None,
        }],
        base_directory: ".".into(),
        tls: None,
    }
}

/// What was recorded, as (class, reference, accounts).
type Recorded = BTreeSet<(DiscrepancyClass, String, Vec<u128>)>;

/// One world: a clock, the two sides, metrics.
struct World {
    clock: ManualClock,
    sides: Sides,
    metrics: ReconcileMetrics,
    next_payout: u128,
}

impl World {
    fn at(unix_ms: u64) -> World {
        let clock = ManualClock::at(unix_ms);
        let sides = Sides::new(clock.clone());
        for account in [CUSTOMER, PAYER] {
            sides.ledger().account(account);
        }
        World { clock, sides, metrics: ReconcileMetrics::new(), next_payout: 100 }
    }

    fn new() -> World {
        World::at(NOON_MS)
    }

    fn reconciler(&self, name: &str) -> BankReconciler {
        let config = config(name);
        BankReconciler::new(&config, &config.banks[0], self.clock.ns()).expect("valid")
    }

    fn now(&self) -> u64 {
        self.clock.ns()
    }

    /// One balance period: the clock moves, then each reconciler runs its period.
    async fn step(&self, reconcilers: &mut [&mut BankReconciler]) -> Vec<bool> {
        self.clock.advance_ms(PERIOD_MS);
        let sides = PeriodSides {
            ledger: &self.sides,
            bank: &self.sides,
            clock: &self.clock,
            metrics: &self.metrics,
        };
        let mut succeeded = Vec::new();
        for reconciler in reconciler_refs(reconcilers) {
            succeeded.push(reconciler.period(&sides).await.is_ok());
        }
        succeeded
    }

    async fn run(&self, reconcilers: &mut [&mut BankReconciler], periods: usize) {
        for _ in 0..periods {
            let succeeded = self.step(reconcilers).await;
            assert!(succeeded.iter().all(|ok| *ok), "a period failed");
        }
    }

    fn payout_id(&mut self) -> u128 {
        self.next_payout += 1;
        self.next_payout
    }

    /// A payout the bank paid and the worker recorded `succeeded`.
    fn paid(&mut self, amount: u128) -> u128 {
        let id = self.payout_id();
        let now = self.now();
        self.sides.ledger().reserve(now, id, CUSTOMER, amount);
        self.sides.bank().pay(now, id, amount);
        self.sides.ledger().finish(now, id, PayoutState::Succeeded);
        id
    }

    /// A payout the bank refused, recorded `failed`.
    fn refused(&mut self, amount: u128) -> u128 {
        let id = self.payout_id();
        let now = self.now();
        self.sides.ledger().reserve(now, id, CUSTOMER, amount);
        self.sides.ledger().finish(now, id, PayoutState::Failed);
        id
    }

    /// A credit the worker booked to the payer's account.
    fn collected(&self, amount: u128) -> String {
        let now = self.now();
        let reference = self.sides.bank().credit(now, amount);
        self.sides.ledger().book(now, &reference, PAYER, amount, COLLECTION_CODE, 0);
        reference
    }

    /// A paid payout the bank returned and the worker booked back.
    fn returned(&mut self, amount: u128) {
        let id = self.paid(amount);
        let now = self.now();
        let reference = self.sides.bank().returned(now, id, amount);
        self.sides.ledger().book(now, &reference, CUSTOMER, amount, REVERSAL_CODE, id);
    }

    /// Some of every consistent kind.
    fn consistent_traffic(&mut self, round: u128) {
        self.paid(1_000 + round);
        self.collected(2_000 + round);
        self.refused(300 + round);
        if round.is_multiple_of(3) {
            self.returned(40 + round);
        }
        if round == 7 {
            // A credit naming nobody: the worker books it to suspense.
            let now = self.now();
            let reference = self.sides.bank().credit(now, 66);
            self.sides.ledger().book(now, &reference, SUSPENSE, 66, COLLECTION_CODE, 0);
        }
    }

    fn recorded(&self) -> Recorded {
        let ledger = self.sides.ledger();
        ledger
            .discrepancies
            .values()
            .map(|d| {
                let mut accounts = d.account_ids.clone();
                accounts.sort_unstable();
                (d.class, d.reference.clone(), accounts)
            })
            .collect()
    }

    /// Every discrepancy was answered `ok` exactly once, whoever reported it how often.
    fn recorded_once_each(&self) {
        let ledger = self.sides.ledger();
        let mut new: BTreeMap<u128, usize> = BTreeMap::new();
        for (_, id, code) in &ledger.reports {
            if *code == tianping_ledger::ResultCode::Ok {
                *new.entry(*id).or_default() += 1;
            } else {
                assert_eq!(*code, tianping_ledger::ResultCode::Exists, "report of {id:x}");
            }
        }
        for id in ledger.discrepancies.keys() {
            assert_eq!(new.get(id), Some(&1), "discrepancy {id:x} recorded once");
        }
    }
}

fn reconciler_refs<'a>(
    reconcilers: &'a mut [&mut BankReconciler],
) -> impl Iterator<Item = &'a mut BankReconciler> {
    reconcilers.iter_mut().map(|reconciler| &mut **reconciler)
}

fn unexplained(reconciler: &BankReconciler) -> Option<i128> {
    match reconciler.summary().balance {
        BalanceOutcome::Checked { unexplained, .. } => Some(unexplained),
        _ => None,
    }
}

#[tokio::test]
async fn consistent_streams_find_nothing() {
    let mut world = World::new();
    let mut one = world.reconciler("reconciler-dc-a");
    let mut two = world.reconciler("reconciler-dc-b");
    for round in 0..30 {
        world.consistent_traffic(round);
        world.run(&mut [&mut one, &mut two], 1).await;
        // Every period's balance check is made, and nothing is unexplained.
        assert_eq!(unexplained(&one), Some(0), "period {round}");
        assert_eq!(unexplained(&two), Some(0), "period {round}");
    }
    world.run(&mut [&mut one, &mut two], DECIDED).await;
    assert_eq!(world.recorded(), Recorded::new());
    let summary = one.summary();
    // Every payout paid (30, and 10 more that were returned), collection (30 and one to
    // suspense) and return (10).
    assert_eq!(summary.counts.matched, 81, "{summary:?}");
    assert_eq!(summary.findings_total(), 0);
    assert_eq!(summary.counts.failed_unpaid, 30);
    assert_eq!(summary.collections_to_suspense, 1);
    // The hourly matching run was summed up.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, world.metrics.registry()).expect("text");
    assert!(text.contains("tianping_reconcile_matching_runs_total{bank=\"7\"}"), "{text}");
}

/// One injected difference, in the middle of consistent traffic, found by two reconcilers.
async fn found(inject: impl FnOnce(&mut World) -> Recorded) -> (World, Recorded) {
    let mut world = World::new();
    let mut one = world.reconciler("reconciler-dc-a");
    let mut two = world.reconciler("reconciler-dc-b");
    for round in 0..3 {
        world.consistent_traffic(round);
        world.run(&mut [&mut one, &mut two], 1).await;
    }
    let expected = inject(&mut world);
    for round in 3..6 {
        world.consistent_traffic(round);
        world.run(&mut [&mut one, &mut two], 1).await;
    }
    world.run(&mut [&mut one, &mut two], 2 * DECIDED).await;
    world.recorded_once_each();
    assert_eq!(
        world.sides.ledger().discrepancies.len(),
        expected.len(),
        "one record per difference"
    );
    let both_reported = world
        .sides
        .ledger()
        .reports
        .iter()
        .filter(|(actor, ..)| actor == "reconciler-dc-b")
        .count();
    assert!(both_reported >= expected.len(), "the second reconciler reported too");
    (world, expected)
}

fn balance(accounts: Vec<u128>) -> (DiscrepancyClass, String, Vec<u128>) {
    (DiscrepancyClass::BalanceMismatch, ACCOUNT.to_owned(), accounts)
}

#[tokio::test]
async fn a_payout_the_bank_never_paid_is_missing_at_bank() {
    let (world, expected) = found(|world| {
        let id = world.payout_id();
        let now = world.now();
        world.sides.ledger().reserve(now, id, CUSTOMER, 500);
        world.sides.ledger().finish(now, id, PayoutState::Succeeded);
        [(DiscrepancyClass::MissingAtBank, id.to_string(), vec![CUSTOMER]), balance(vec![])].into()
    })
    .await;
    assert_eq!(world.recorded(), expected);
}

#[tokio::test]
async fn a_credit_nobody_booked_is_missing_in_ledger() {
    let (world, expected) = found(|world| {
        let reference = world.sides.bank().credit(world.now(), 700);
        [(DiscrepancyClass::MissingInLedger, reference, vec![]), balance(vec![])].into()
    })
    .await;
    assert_eq!(world.recorded(), expected);
}

#[tokio::test]
async fn a_payout_paid_for_another_amount_is_an_amount_mismatch() {
    let (world, expected) = found(|world| {
        let id = world.payout_id();
        let now = world.now();
        world.sides.ledger().reserve(now, id, CUSTOMER, 500);
        world.sides.bank().pay(now, id, 501);
        world.sides.ledger().finish(now, id, PayoutState::Succeeded);
        [(DiscrepancyClass::AmountMismatch, id.to_string(), vec![CUSTOMER]), balance(vec![])].into()
    })
    .await;
    assert_eq!(world.recorded(), expected);
}

#[tokio::test]
async fn a_payout_executed_twice_is_a_duplicate_at_bank() {
    let (world, expected) = found(|world| {
        let id = world.paid(500);
        world.sides.bank().pay(world.now(), id, 500);
        [(DiscrepancyClass::DuplicateAtBank, id.to_string(), vec![CUSTOMER]), balance(vec![])]
            .into()
    })
    .await;
    assert_eq!(world.recorded(), expected);
}

#[tokio::test]
async fn a_return_nobody_booked_is_reversed_at_bank() {
    let (world, expected) = found(|world| {
        let id = world.paid(500);
        world.clock.advance_ms(LATENESS_MS * 3);
        world.sides.bank().returned(world.now(), id, 500);
        [(DiscrepancyClass::ReversedAtBank, id.to_string(), vec![CUSTOMER]), balance(vec![])].into()
    })
    .await;
    assert_eq!(world.recorded(), expected);
}

#[tokio::test]
async fn a_payout_the_ledger_voided_but_the_bank_paid_is_missing_in_ledger() {
    let (world, expected) = found(|world| {
        let id = world.refused(500);
        world.sides.bank().pay(world.now(), id, 500);
        [(DiscrepancyClass::MissingInLedger, id.to_string(), vec![CUSTOMER]), balance(vec![])]
            .into()
    })
    .await;
    assert_eq!(world.recorded(), expected);
}

#[tokio::test]
async fn a_debit_of_no_payout_is_missing_in_ledger_and_a_balance_mismatch() {
    let (world, expected) = found(|world| {
        let reference = world.sides.bank().fee(world.now(), 25);
        [(DiscrepancyClass::MissingInLedger, reference, vec![]), balance(vec![])].into()
    })
    .await;
    assert_eq!(world.recorded(), expected);
}

#[tokio::test]
async fn a_payout_in_flight_executed_twice_is_unexplained_at_once() {
    let mut world = World::new();
    let mut reconciler = world.reconciler("reconciler-dc-a");
    world.consistent_traffic(0);
    world.run(&mut [&mut reconciler], 1).await;
    let id = world.payout_id();
    let now = world.now();
    world.sides.ledger().reserve(now, id, CUSTOMER, 800);
    world.sides.bank().pay(now, id, 800);
    world.sides.bank().pay(now, id, 800);
    world.run(&mut [&mut reconciler], 1).await;
    // Its first execution is in flight; the second is money out that nothing explains.
    assert_eq!(unexplained(&reconciler), Some(-800));
}

#[tokio::test]
async fn a_balance_mismatch_blocks_the_configured_accounts() {
    let mut world = World::new();
    let mut config = config("reconciler-dc-a");
    config.banks[0].block_account_ids = vec![CUSTOMER];
    let mut reconciler =
        BankReconciler::new(&config, &config.banks[0], world.now()).expect("valid");
    world.consistent_traffic(0);
    world.run(&mut [&mut reconciler], 2).await;
    // An operator's transfer out of settlement the bank never saw: one movement the matcher
    // sees as a collection nobody paid in, and a balance difference.
    let now = world.now();
    world.sides.ledger().transfer(now, 77, SETTLEMENT, PAYER, 90);
    world.run(&mut [&mut reconciler], DECIDED).await;
    let recorded = world.recorded();
    assert!(recorded.contains(&balance(vec![CUSTOMER])), "{recorded:?}");
    assert!(
        recorded.contains(&(DiscrepancyClass::MissingAtBank, "77".to_owned(), vec![PAYER])),
        "{recorded:?}"
    );
    assert_eq!(unexplained(&reconciler), Some(-90));
}

/// Runs `moves` inside the account reads of consecutive periods (one per period) and checks
/// every period's balance check is made and explains everything.
async fn moving_while_read(world: &mut World, before: Vec<Move>, after: Vec<Move>) {
    let mut reconciler = world.reconciler("reconciler-dc-a");
    world.consistent_traffic(0);
    world.run(&mut [&mut reconciler], 2).await;
    assert_eq!(unexplained(&reconciler), Some(0));
    let periods = before.len().max(after.len());
    world.sides.before_accounts_read.lock().expect("lock").extend(before);
    world.sides.after_accounts_read.lock().expect("lock").extend(after);
    for period in 0..periods + DECIDED {
        world.run(&mut [&mut reconciler], 1).await;
        assert_eq!(
            unexplained(&reconciler),
            Some(0),
            "period {period}: {:?}",
            reconciler.summary()
        );
    }
    assert_eq!(world.recorded(), Recorded::new());
}

#[tokio::test]
async fn a_ledger_that_moves_before_the_accounts_are_read_is_no_mismatch() {
    let mut world = World::new();
    let before: Vec<Move> = vec![
        // A payout paid and recorded between the stream's read and the accounts' read.
        Box::new(|ledger, bank, now| {
            ledger.reserve(now, 901, CUSTOMER, 4_000);
            bank.pay(now, 901, 4_000);
            ledger.finish(now, 901, PayoutState::Succeeded);
        }),
        // A credit arriving and booked there.
        Box::new(|ledger, bank, now| {
            let reference = bank.credit(now, 3_000);
            ledger.book(now, &reference, PAYER, 3_000, COLLECTION_CODE, 0);
        }),
    ];
    moving_while_read(&mut world, before, Vec::new()).await;
}

#[tokio::test]
async fn a_ledger_that_moves_after_the_accounts_are_read_is_no_mismatch() {
    let mut world = World::new();
    let after: Vec<Move> = vec![
        // Recorded after the accounts were read: at the cut-off it is in flight, and the
        // statement (fetched later) shows its debit.
        Box::new(|ledger, bank, now| {
            ledger.reserve(now, 902, CUSTOMER, 4_000);
            bank.pay(now, 902, 4_000);
            ledger.finish(now, 902, PayoutState::Succeeded);
        }),
        // Reserved and executed after the read, not yet recorded.
        Box::new(|ledger, bank, now| {
            ledger.reserve(now, 903, CUSTOMER, 1_500);
            bank.pay(now, 903, 1_500);
        }),
        // A credit booked after the read: not booked at the cut-off, on the statement.
        Box::new(|ledger, bank, now| {
            let reference = bank.credit(now, 3_000);
            ledger.book(now, &reference, PAYER, 3_000, COLLECTION_CODE, 0);
        }),
        // The payout executed earlier is recorded at last.
        Box::new(|ledger, _, now| ledger.finish(now, 903, PayoutState::Succeeded)),
    ];
    moving_while_read(&mut world, Vec::new(), after).await;
}

#[tokio::test]
async fn a_ledger_that_never_stands_still_skips_the_check_and_finds_nothing() {
    let world = World::new();
    let mut reconciler = world.reconciler("reconciler-dc-a");
    // Before the anchor is learned, every read is followed by a posted movement: the read
    // cannot be placed, the check is skipped, never guessed.
    let moves: Vec<Move> = (0..3)
        .map(|index| -> Move {
            Box::new(move |ledger, bank, now| {
                let reference = bank.credit(now, 10 + index);
                ledger.book(now, &reference, PAYER, 10 + index, COLLECTION_CODE, 0);
            })
        })
        .collect();
    world.sides.after_accounts_read.lock().expect("lock").extend(moves);
    world.run(&mut [&mut reconciler], 1).await;
    assert_eq!(reconciler.summary().balance, BalanceOutcome::Skipped(BalanceSkip::LedgerMoving));
    world.run(&mut [&mut reconciler], DECIDED).await;
    assert_eq!(unexplained(&reconciler), Some(0));
    assert_eq!(world.recorded(), Recorded::new());
}

#[tokio::test]
async fn an_unreachable_side_fails_the_period_and_finds_nothing() {
    let mut world = World::new();
    let mut reconciler = world.reconciler("reconciler-dc-a");
    world.consistent_traffic(0);
    world.run(&mut [&mut reconciler], 2).await;
    let switches =
        [(world.sides.ledger_down.clone(), "ledger"), (world.sides.bank_down.clone(), "bank")];
    for (down, side) in switches {
        down.store(true, Ordering::SeqCst);
        for round in 0..DECIDED as u128 {
            world.consistent_traffic(round);
            assert_eq!(world.step(&mut [&mut reconciler]).await, [false], "{side} down");
        }
        assert!(reconciler.summary().failure.is_some_and(|failure| failure.starts_with(side)));
        down.store(false, Ordering::SeqCst);
        world.run(&mut [&mut reconciler], 1).await;
        assert!(reconciler.summary().failure.is_none());
    }
    world.run(&mut [&mut reconciler], DECIDED).await;
    assert_eq!(world.recorded(), Recorded::new());
    assert_eq!(unexplained(&reconciler), Some(0));
    // A difference made while the ledger was down is still found once it is back.
    world.sides.ledger_down.store(true, Ordering::SeqCst);
    let reference = world.sides.bank().credit(world.now(), 55);
    world.step(&mut [&mut reconciler]).await;
    world.sides.ledger_down.store(false, Ordering::SeqCst);
    world.run(&mut [&mut reconciler], 2 * DECIDED).await;
    assert!(world.recorded().contains(&(DiscrepancyClass::MissingInLedger, reference, vec![])));
}

#[tokio::test]
async fn starting_late_in_the_day_finds_only_what_differs() {
    // Four hours of consistent history, and one payout the bank never paid at 09:00.
    let mut world = World::at(NOON_MS - 4 * 3_600_000);
    let mut missing = 0;
    for round in 0..240 {
        world.consistent_traffic(round);
        if round == 60 {
            missing = world.payout_id();
            let now = world.now();
            world.sides.ledger().reserve(now, missing, CUSTOMER, 500);
            world.sides.ledger().finish(now, missing, PayoutState::Succeeded);
        }
        world.clock.advance_ms(60_000);
    }
    let mut reconciler = world.reconciler("reconciler-dc-a");
    world.run(&mut [&mut reconciler], DECIDED).await;
    assert_eq!(
        world.recorded(),
        [(DiscrepancyClass::MissingAtBank, missing.to_string(), vec![CUSTOMER]), balance(vec![])]
            .into()
    );
}

#[tokio::test]
async fn midnight_closes_yesterday_and_finds_nothing() {
    let mut world = World::at(NOON_MS + 12 * 3_600_000 - 5 * 60_000); // 23:55
    let mut reconciler = world.reconciler("reconciler-dc-a");
    for round in 0..120 {
        world.consistent_traffic(round);
        world.run(&mut [&mut reconciler], 1).await;
        assert_eq!(unexplained(&reconciler), Some(0), "period {round}");
    }
    assert_eq!(world.recorded(), Recorded::new());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, world.metrics.registry()).expect("text");
    assert!(
        text.contains("tianping_reconcile_statement_days_closed_total{bank=\"7\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_payout_in_flight_longer_than_the_lateness_is_no_difference() {
    let mut world = World::new();
    let mut reconciler = world.reconciler("reconciler-dc-a");
    world.consistent_traffic(0);
    world.run(&mut [&mut reconciler], 1).await;
    // The bank executes; the worker dies and the payout stays `sent` for three latenesses.
    let id = world.payout_id();
    let now = world.now();
    world.sides.ledger().reserve(now, id, CUSTOMER, 800);
    world.sides.bank().pay(now, id, 800);
    world.run(&mut [&mut reconciler], 3 * DECIDED).await;
    assert_eq!(unexplained(&reconciler), Some(0), "in flight is explained however long");
    world.sides.ledger().finish(world.now(), id, PayoutState::Succeeded);
    world.run(&mut [&mut reconciler], 2 * DECIDED).await;
    assert_eq!(world.recorded(), Recorded::new());
    assert_eq!(unexplained(&reconciler), Some(0));
}

#[tokio::test]
async fn a_payout_made_final_while_its_question_is_asked_waits_for_its_movement() {
    let mut world = World::new();
    let mut reconciler = world.reconciler("reconciler-dc-a");
    world.consistent_traffic(0);
    world.run(&mut [&mut reconciler], 1).await;
    let id = world.payout_id();
    let now = world.now();
    world.sides.ledger().reserve(now, id, CUSTOMER, 800);
    world.sides.bank().pay(now, id, 800);
    // Its debit is asked about once a lateness (the payout stays in flight): find the rhythm.
    let mut asked = Vec::new();
    let mut period = 0;
    while asked.len() < 2 {
        let before = reconciler.summary().counts.questions;
        world.run(&mut [&mut reconciler], 1).await;
        period += 1;
        if reconciler.summary().counts.questions > before {
            asked.push(period);
        }
        assert!(period < 10 * DECIDED, "the in-flight debit is asked about again and again");
    }
    let next = asked[1] + (asked[1] - asked[0]);
    world.run(&mut [&mut reconciler], next - period - 1).await;
    // The worker records it during the fetch of the period that asks again: after the
    // stream's read, before the question's lookup. The answer must not be "succeeded".
    let finish: Move =
        Box::new(move |ledger, _, now| ledger.finish(now, id, PayoutState::Succeeded));
    world.sides.during_statement.lock().expect("lock").push(finish);
    let before = reconciler.summary().counts.questions;
    world.run(&mut [&mut reconciler], 1).await;
    assert!(reconciler.summary().counts.questions > before, "asked in the same period");
    assert_eq!(unexplained(&reconciler), Some(0));
    for _ in 0..2 * DECIDED {
        world.run(&mut [&mut reconciler], 1).await;
        assert_eq!(unexplained(&reconciler), Some(0));
    }
    assert_eq!(world.recorded(), Recorded::new());
    assert!(reconciler.summary().counts.matched >= 2, "its debit met its movement at last");
}

#[tokio::test]
async fn the_start_does_not_report_what_lies_on_the_unread_day() {
    // 23:59:50: a payout is reserved and the bank pays it on the 24th.
    let mut world = World::at(NOON_MS + 12 * 3_600_000 - 10_000);
    let id = world.payout_id();
    let now = world.now();
    world.sides.ledger().reserve(now, id, CUSTOMER, 800);
    world.sides.bank().pay(now + 5_000_000_000, id, 800);
    // 00:00:30: the worker records it, on the 25th.
    world.clock.advance_ms(40_000);
    world.sides.ledger().finish(world.now(), id, PayoutState::Succeeded);
    // 00:03: the reconciler starts and reads the 25th only.
    world.clock.advance_ms(150_000);
    let mut reconciler = world.reconciler("reconciler-dc-a");
    world.run(&mut [&mut reconciler], DECIDED).await;
    assert_eq!(world.recorded(), Recorded::new());
    assert_eq!(unexplained(&reconciler), Some(0));
    assert_eq!(reconciler.summary().not_reported_at_start, 1);
}

#[tokio::test]
async fn one_pass_summarises_and_is_not_clean_with_a_difference() {
    let world = World::new();
    let config = config("reconciler-run");
    let banks = BTreeMap::from([(BANK, world.sides.clone())]);
    let summary = run_once_with(&config, &world.sides, &banks, &world.clock, &world.metrics)
        .await
        .expect("runs");
    assert!(summary.is_clean(), "{summary}");
    // Money the ledger booked in that the bank never received.
    world.sides.ledger().transfer(world.now(), 78, SETTLEMENT, PAYER, 90);
    let summary = run_once_with(&config, &world.sides, &banks, &world.clock, &world.metrics)
        .await
        .expect("runs");
    assert!(!summary.is_clean(), "{summary}");
    assert!(summary.to_string().contains("balance_mismatch 1"), "{summary}");
    // A bank side missing for a configured bank is refused before anything runs.
    let none: BTreeMap<u32, Sides> = BTreeMap::new();
    assert!(
        run_once_with(&config, &world.sides, &none, &world.clock, &world.metrics).await.is_err()
    );
}

#[tokio::test]
async fn serve_runs_a_period_each_tick_until_shut_down() {
    let world = World::new();
    let mut config = config("reconciler-serve");
    config.balance_period = Duration::from_millis(100);
    let banks = BTreeMap::from([(BANK, world.sides.clone())]);
    let shutdown = tokio::time::sleep(Duration::from_millis(450));
    serve_with(&config, &world.sides, &banks, &world.clock, &world.metrics, shutdown)
        .await
        .expect("serves");
    let reads = world.sides.account_reads.load(Ordering::SeqCst);
    assert!((3..=6).contains(&reads), "{reads} balance checks in 450 ms of 100 ms periods");
}
