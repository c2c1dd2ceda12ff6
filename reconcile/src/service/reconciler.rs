//! One bank's reconciliation, one period at a time ([`BankReconciler::period`]).
//!
//! A period, in order (the order is what makes the balance check's figures one cut-off):
//!
//! 1. Reports a failed period left queued are recorded first.
//! 2. The ledger stream is read on to its end; its movements are kept, not yet fed.
//! 3. The mirror accounts are read and the stream read on until the read is placed within it
//!    (`mirror`): the cut-off, a point of the ledger stream. Bounded attempts, else the
//!    balance check is skipped.
//! 4. Only now the statement is fetched: everything the ledger had posted at the cut-off
//!    happened at the bank before the cut-off, so before this fetch, and is on it.
//! 5. The statement's new entries are fed to the matcher first, then the ledger's movements
//!    read in 2 and 3, and the ledger's watermark moves to when the read began, less
//!    [`LEDGER_SETTLE_NS`] (an entry stamped just before our read may still be committing),
//!    so a quiet ledger does not hold the bank's entries open. Bank first, because an
//!    entry's instant is when it was first seen (`bank_stream`), and the ledger's movements of
//!    the same money are older: fed first they could close (both watermarks past them) before
//!    the entry that matches them is in the window — at start, when a day of both is fed at
//!    once, and after the bank was unreachable for longer than the lateness, when the ledger's
//!    movements of the outage waited for the statement instead of being fed alone.
//! 6. Questions (bank entries of payouts the window held nothing for) are answered with the
//!    payouts' current state. A payout still in flight, or final in the ledger but not yet
//!    read by the stream, keeps its entries: they are fed again at the next fetch, so they
//!    meet the payout's movement when it comes instead of being judged without it.
//! 7. The balance check (`balance::check_balance`) at the cut-off: the mirror accounts' sums
//!    as read, the statement's closing balance, the recent entries of payouts not final at
//!    the cut-off (in flight, executed) and credits not booked at it.
//! 8. The hourly matching run is summed up when due, and every finding is reported.
//!
//! Any read failing fails the period (logged, counted, retried next period); nothing is
//! decided from a partial read: the matcher closes a key only when both streams are past it,
//! and a stream only moves on a complete read. Movements read but not fed (the statement
//! failed, or the window is full) wait, in order, for the next period; while too many wait,
//! the ledger is not read further.
//!
//! **At start.** The ledger stream starts at the first instant of the first statement day
//! read. A ledger movement in the first lateness after that may have its bank entry on the
//! day before, which is not read: its `missing_at_bank` is not reported (logged at debug).

use std::collections::{BTreeSet, VecDeque};

use tianping_bank_adapters::bank_api::Clock;
use tianping_bank_adapters::collection_id::collection_id;
use tianping_bank_adapters::gateway::{
    Balance, BankEntry, Direction, EndToEndId, EntryStatus, GatewayError, StatementPeriod,
};
use tianping_ledger::DiscrepancyClass;

use crate::WINDOW_ITEMS_MAX_DEFAULT;
use crate::balance::{AtBank, BalanceInput, InFlightPayout, UnbookedCredit, check_balance};
use crate::counts::Counts;
use crate::finding::Finding;
use crate::judge::{AccountContext, Outcome, PayoutQuestion};
use crate::keys::MatchKey;
use crate::matcher::{MatchError, Matcher, MatcherConfig, Side};
use crate::movement::{BankMovement, BankRecord, LedgerMovement, LedgerPayout};
use crate::service::bank_side::BankSide;
use crate::service::bank_stream::{BankStream, RecentEntry};
use crate::service::config::{BankConfig, Config};
use crate::service::ledger_side::LedgerSide;
use crate::service::ledger_stream::{Known, LedgerStream, RoundError};
use crate::service::metrics::ReconcileMetrics;
use crate::service::mirror::{Located, MirrorAccounts, MirrorSums, locate};
use crate::service::report::{Recorded, Reporter};
use crate::service::summary::{BalanceOutcome, BalanceSkip, BankSummary};

/// How far behind our read the ledger's watermark is set: a movement the leader stamped a
/// moment before our read began may commit after it; five seconds covers a commit across
/// data centers many times over. One arriving later still is fed at the watermark
/// (`LedgerMovement::delayed_to`), never refused.
pub const LEDGER_SETTLE_NS: u64 = 5_000_000_000;

/// Most ledger rounds one period reads (four pages each): a ledger far ahead (the first
/// period, after an outage) is caught up over several periods, its balance checks skipped
/// until it is.
pub const ROUNDS_PER_PERIOD_MAX: usize = 4_096;

/// Most ledger movements kept read but not fed (the bank unreachable, the window full): as
/// many as the window holds, which is what the matcher would hold of them anyway.
pub const LEDGER_WAITING_MAX: usize = WINDOW_ITEMS_MAX_DEFAULT;

/// Reads of the mirror accounts per balance check before it is skipped (`mirror`).
pub const BALANCE_READ_ATTEMPTS: usize = 3;

const NS_PER_MS: u64 = 1_000_000;
const NS_PER_SECOND: u64 = 1_000_000_000;

/// Why a period failed.
#[derive(Debug, thiserror::Error)]
pub enum PeriodError {
    /// The ledger did not answer (or answered what cannot be read).
    #[error("ledger: {detail}")]
    Ledger {
        /// The SDK's error.
        detail: String,
    },
    /// The bank did not answer.
    #[error("bank: {0}")]
    Bank(#[from] GatewayError),
    /// The streams could not go on (a sum overflowed, the matcher refused): a bug to report.
    #[error("stream: {detail}")]
    Stream {
        /// What failed.
        detail: String,
    },
}

impl PeriodError {
    /// The side that failed, for the metric.
    pub const fn side(&self) -> &'static str {
        match self {
            PeriodError::Ledger { .. } => "ledger",
            PeriodError::Bank(_) => "bank",
            PeriodError::Stream { .. } => "stream",
        }
    }

    fn ledger(error: &impl std::fmt::Display) -> PeriodError {
        PeriodError::Ledger { detail: error.to_string() }
    }
}

impl From<MatchError> for PeriodError {
    fn from(error: MatchError) -> PeriodError {
        PeriodError::Stream { detail: error.to_string() }
    }
}

impl<E: std::error::Error + 'static> From<RoundError<E>> for PeriodError {
    fn from(error: RoundError<E>) -> PeriodError {
        match error {
            RoundError::Ledger(error) => PeriodError::ledger(&error),
            RoundError::Sums(error) => PeriodError::Stream { detail: error.to_string() },
        }
    }
}

/// What a period talks to.
pub struct Sides<'a, L, B, C> {
    /// The ledger.
    pub ledger: &'a L,
    /// The bank.
    pub bank: &'a B,
    /// The wall clock (the simulation's under madsim).
    pub clock: &'a C,
    /// Where figures go.
    pub metrics: &'a ReconcileMetrics,
}

/// Where the mirror accounts were read within the ledger stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cut {
    /// The last item consumed at the cut-off.
    seq: u64,
    /// The accounts' posted sums there (as read).
    sums: MirrorSums,
}

/// What a recent bank entry is to the balance check.
enum EntryKind {
    /// A debit of one of our payouts.
    PayoutDebit(u128),
    /// Money in, booked under this collection id.
    Credit(u128),
    /// Anything else (a debit of no payout of ours, a credit taken back): unexplained by
    /// nature, never excused.
    Other,
}

/// The state of one bank's reconciliation between periods.
#[derive(Debug)]
pub struct BankReconciler {
    config: BankConfig,
    lateness_ns: u64,
    matcher: Matcher,
    ledger: LedgerStream,
    statements: BankStream,
    anchor: Option<MirrorSums>,
    horizon_ns: u64,
    carried: Vec<(MatchKey, BankRecord)>,
    ledger_waiting: VecDeque<LedgerMovement>,
    bank_waiting: VecDeque<BankMovement>,
    questions: Vec<PayoutQuestion>,
    reporter: Reporter,
    last_balance_discrepancy: Option<u128>,
    matching_period_ns: u64,
    next_matching_ns: u64,
    counts_metered: Counts,
    counts_at_run: Counts,
    found: [u64; DiscrepancyClass::ALL.len()],
    found_at_run: [u64; DiscrepancyClass::ALL.len()],
    before_horizon: u64,
    collections_to_suspense: u64,
    recorded: Recorded,
    balance: BalanceOutcome,
    consecutive_failures: u32,
    last_failure: Option<String>,
}

fn now_ns(clock: &impl Clock) -> u64 {
    clock.now_unix_ms().saturating_mul(NS_PER_MS)
}

impl BankReconciler {
    /// The reconciliation of `bank`, started at `now_ns`.
    pub fn new(
        config: &Config,
        bank: &BankConfig,
        now_ns: u64,
    ) -> Result<BankReconciler, crate::matcher::ConfigError> {
        let context = AccountContext {
            bank: bank.bank,
            currency: bank.currency,
            utc_offset_seconds: config.utc_offset_seconds,
        };
        let matcher = Matcher::new(MatcherConfig {
            context,
            lateness_ns: config.lateness_ns,
            window_items_max: WINDOW_ITEMS_MAX_DEFAULT,
        })?;
        let statements =
            BankStream::new(bank.bank, config.utc_offset_seconds, config.lateness_ns, now_ns);
        let start_ns = statements.start_ns();
        let accounts = MirrorAccounts {
            settlement: bank.settlement_account_id,
            in_transit: bank.bank_in_transit_account_id,
        };
        let retention_ns = config.lateness_ns.saturating_mul(2);
        let matching_period_ns =
            u64::try_from(config.matching_period.as_nanos()).unwrap_or(u64::MAX);
        Ok(BankReconciler {
            config: bank.clone(),
            lateness_ns: config.lateness_ns,
            matcher,
            ledger: LedgerStream::new(
                bank.bank,
                accounts,
                bank.reversal_code,
                start_ns,
                retention_ns,
            ),
            statements,
            anchor: None,
            horizon_ns: start_ns.saturating_add(config.lateness_ns),
            carried: Vec::new(),
            ledger_waiting: VecDeque::new(),
            bank_waiting: VecDeque::new(),
            questions: Vec::new(),
            reporter: Reporter::new(bank.bank, &config.name),
            last_balance_discrepancy: None,
            matching_period_ns,
            next_matching_ns: now_ns.saturating_add(matching_period_ns),
            counts_metered: Counts::default(),
            counts_at_run: Counts::default(),
            found: [0; DiscrepancyClass::ALL.len()],
            found_at_run: [0; DiscrepancyClass::ALL.len()],
            before_horizon: 0,
            collections_to_suspense: 0,
            recorded: Recorded::default(),
            balance: BalanceOutcome::NotRun,
            consecutive_failures: 0,
            last_failure: None,
        })
    }

    /// The bank.
    pub const fn bank(&self) -> u32 {
        self.config.bank
    }

    /// One period (module doc). A failure is logged and counted here too.
    pub async fn period<L: LedgerSide, B: BankSide, C: Clock>(
        &mut self,
        sides: &Sides<'_, L, B, C>,
    ) -> Result<(), PeriodError> {
        let bank = self.config.bank;
        let result = self.run_period(sides).await;
        match &result {
            Ok(()) => {
                self.consecutive_failures = 0;
                self.last_failure = None;
                sides.metrics.period(bank, None, 0);
            }
            Err(error) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_failure = Some(error.to_string());
                sides.metrics.period(bank, Some(error.side()), self.consecutive_failures);
                tracing::warn!(
                    bank,
                    %error,
                    consecutive = self.consecutive_failures,
                    "reconciliation period failed; retrying next period"
                );
            }
        }
        let counts = *self.matcher.counts();
        sides.metrics.matched(bank, counts.matched.saturating_sub(self.counts_metered.matched));
        sides.metrics.window_items(bank, self.matcher.window().items());
        self.counts_metered = counts;
        result
    }

    async fn run_period<L: LedgerSide, B: BankSide, C: Clock>(
        &mut self,
        sides: &Sides<'_, L, B, C>,
    ) -> Result<(), PeriodError> {
        let metrics = sides.metrics;
        self.flush(sides.ledger, metrics).await?;
        let read_at = now_ns(sides.clock);
        let caught_up = self.catch_up(sides.ledger, None).await?;
        let cut = if caught_up {
            self.locate_cut(sides.ledger).await?
        } else {
            Err(BalanceSkip::NotCaughtUp)
        };
        let observed_at = now_ns(sides.clock);
        let period = self.statements.period(observed_at);
        let statement = sides.bank.statement(&self.config.account, period).await?;
        let taken = self.take_statement(statement, period, observed_at, metrics)?;
        let fed = self.drain(Side::Ledger, metrics)?;
        if caught_up && fed {
            self.advance(Side::Ledger, read_at.saturating_sub(LEDGER_SETTLE_NS), metrics)?;
        }
        self.answer_questions(sides.ledger, metrics).await?;
        let balance = match (cut, taken) {
            (Err(skip), _) => BalanceOutcome::Skipped(skip),
            (Ok(_), None) => BalanceOutcome::Skipped(BalanceSkip::WindowFull),
            (Ok(_), Some(None)) => BalanceOutcome::Skipped(BalanceSkip::NoClosingBalance),
            (Ok(cut), Some(Some(closing))) => {
                self.check_balance(sides.ledger, cut, closing, observed_at, metrics).await?
            }
        };
        if let BalanceOutcome::Skipped(reason) = &balance {
            metrics.balance_skipped(self.config.bank, reason.label());
            tracing::warn!(bank = self.config.bank, %reason, "balance check skipped this period");
        }
        self.balance = balance;
        self.matching_run(observed_at, metrics);
        self.flush(sides.ledger, metrics).await?;
        Ok(())
    }

    /// Records what is queued.
    async fn flush<L: LedgerSide>(
        &mut self,
        ledger: &L,
        metrics: &ReconcileMetrics,
    ) -> Result<(), PeriodError> {
        let recorded =
            self.reporter.flush(ledger, metrics).await.map_err(|e| PeriodError::ledger(&e))?;
        self.recorded.new += recorded.new;
        self.recorded.existing += recorded.existing;
        self.recorded.refused += recorded.refused;
        Ok(())
    }

    /// Reads the ledger stream to its end (or [`ROUNDS_PER_PERIOD_MAX`] rounds, or until
    /// [`LEDGER_WAITING_MAX`] movements wait), keeping its movements to be fed after the
    /// statement's entries; with `candidates`, the posted sums after each item are kept too.
    /// True when the stream is caught up.
    async fn catch_up<L: LedgerSide>(
        &mut self,
        ledger: &L,
        mut candidates: Option<&mut Vec<MirrorSums>>,
    ) -> Result<bool, PeriodError> {
        for _ in 0..ROUNDS_PER_PERIOD_MAX {
            if self.ledger_waiting.len() >= LEDGER_WAITING_MAX {
                return Ok(false);
            }
            let round = self.ledger.round(ledger).await?;
            for item in round.items {
                if let Some(candidates) = candidates.as_deref_mut() {
                    candidates.push(item.sums);
                }
                if let Some(movement) = item.movement {
                    if let LedgerMovement::Collection(collection) = &movement
                        && collection.credited_account_id == self.config.suspense_account_id
                    {
                        self.collections_to_suspense += 1;
                    }
                    self.ledger_waiting.push_back(movement);
                }
            }
            if round.finished {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads the mirror accounts and places the read within the stream (`mirror`).
    async fn locate_cut<L: LedgerSide>(
        &mut self,
        ledger: &L,
    ) -> Result<Result<Cut, BalanceSkip>, PeriodError> {
        let ids = [self.config.settlement_account_id, self.config.bank_in_transit_account_id];
        for attempt in 1..=BALANCE_READ_ATTEMPTS {
            let accounts =
                ledger.lookup_accounts(&ids).await.map_err(|e| PeriodError::ledger(&e))?;
            let find = |id: u128| accounts.iter().find(|account| account.id == id);
            let (Some(settlement), Some(in_transit)) = (find(ids[0]), find(ids[1])) else {
                tracing::error!(
                    bank = self.config.bank,
                    settlement = ids[0],
                    in_transit = ids[1],
                    "a mirror account does not exist in the ledger"
                );
                return Ok(Err(BalanceSkip::MirrorAccountMissing));
            };
            let read = MirrorSums::of(settlement, in_transit);
            let first_seq = self.ledger.seq();
            let mut candidates = vec![self.ledger.sums()];
            if !self.catch_up(ledger, Some(&mut candidates)).await? {
                return Ok(Err(BalanceSkip::NotCaughtUp));
            }
            match locate(self.anchor, read, &candidates) {
                Located::At { index, anchor, relearned } => {
                    if relearned {
                        tracing::info!(
                            bank = self.config.bank,
                            first = self.anchor.is_none(),
                            "the mirror accounts' totals before the stream were learned from a quiet read"
                        );
                    }
                    self.anchor = Some(anchor);
                    let seq = first_seq.saturating_add(u64::try_from(index).unwrap_or(u64::MAX));
                    return Ok(Ok(Cut { seq, sums: read }));
                }
                Located::NotFound => tracing::debug!(
                    bank = self.config.bank,
                    attempt,
                    "the mirror accounts moved while read; reading again"
                ),
            }
        }
        Ok(Err(BalanceSkip::LedgerMoving))
    }

    /// Takes a statement: its new entries fed (after the carried ones), the bank's watermark
    /// moved to the fetch. `None` when it was not taken (entries of an earlier statement still
    /// wait for room in the window), else its closing balance.
    fn take_statement(
        &mut self,
        statement: tianping_bank_adapters::gateway::Statement,
        period: StatementPeriod,
        observed_at: u64,
        metrics: &ReconcileMetrics,
    ) -> Result<Option<Option<Balance>>, PeriodError> {
        let bank = self.config.bank;
        if !self.drain(Side::Bank, metrics)? {
            return Ok(None);
        }
        let absorbed = self.statements.absorb(statement, period, observed_at);
        let observed = self.statements.observed();
        for (key, record) in std::mem::take(&mut self.carried) {
            self.bank_waiting.push_back(carried_movement(&key, record, observed));
        }
        self.bank_waiting.extend(absorbed.movements);
        if self.drain(Side::Bank, metrics)? {
            self.advance(Side::Bank, observed, metrics)?;
        }
        for (day, entries) in &absorbed.closed_days {
            metrics.day_closed(bank);
            tracing::info!(bank, day = %day, entries, "statement day closed: matched in full");
        }
        for (kind, count) in [("repeated", absorbed.repeated), ("outside", absorbed.outside)] {
            if count > 0 {
                metrics.statement_anomaly(bank, kind, count);
                tracing::warn!(bank, kind, count, "statement entries not fed");
            }
        }
        for day in &absorbed.shrunk_days {
            metrics.statement_anomaly(bank, "shrunk", 1);
            tracing::error!(bank, day = %day, "the statement lists fewer entries for a day than were fed");
        }
        Ok(Some(absorbed.closing))
    }

    /// Answers the questions the matcher asked (module doc, step 6).
    async fn answer_questions<L: LedgerSide>(
        &mut self,
        ledger: &L,
        metrics: &ReconcileMetrics,
    ) -> Result<(), PeriodError> {
        if self.questions.is_empty() {
            return Ok(());
        }
        let ids: BTreeSet<u128> = self.questions.iter().map(PayoutQuestion::payout_id).collect();
        let ids: Vec<u128> = ids.into_iter().collect();
        let payouts = ledger.lookup_payouts(&ids).await.map_err(|e| PeriodError::ledger(&e))?;
        for question in std::mem::take(&mut self.questions) {
            let payout = payouts.iter().find(|payout| payout.id == question.payout_id());
            match payout {
                Some(payout) if payout.state.is_final() && !self.ledger.consumed_final(payout) => {
                    // Final since the stream's read: its movement comes next period.
                    for entry in question.entries {
                        self.carried.push((question.key.clone(), entry));
                    }
                }
                Some(payout) if !payout.state.is_final() => {
                    let answer = question.answer(Some(&LedgerPayout::of(payout)));
                    let reported: BTreeSet<String> = answer
                        .findings
                        .iter()
                        .filter_map(|finding| finding.bank_reference.clone())
                        .collect();
                    for entry in question.entries {
                        if !reported.contains(&entry.bank_reference) {
                            self.carried.push((question.key.clone(), entry));
                        }
                    }
                    for finding in answer.findings {
                        self.found(finding, metrics);
                    }
                }
                _ => {
                    let answer = question.answer(payout.map(LedgerPayout::of).as_ref());
                    for finding in answer.findings {
                        self.found(finding, metrics);
                    }
                }
            }
        }
        Ok(())
    }

    /// The balance check at `cut` (module doc, step 7).
    async fn check_balance<L: LedgerSide>(
        &mut self,
        ledger: &L,
        cut: Cut,
        closing: Balance,
        observed_at: u64,
        metrics: &ReconcileMetrics,
    ) -> Result<BalanceOutcome, PeriodError> {
        let bank = self.config.bank;
        // What the stream no longer remembers is asked of the ledger, once per entry.
        let mut ask_payouts = BTreeSet::new();
        let mut ask_bookings = BTreeSet::new();
        for entry in self.statements.recent_mut() {
            if entry.settled {
                continue;
            }
            match entry_kind(bank, entry) {
                EntryKind::PayoutDebit(payout_id) => {
                    if self.ledger.payout_final(payout_id, cut.seq) == Known::Unknown {
                        ask_payouts.insert(payout_id);
                    }
                }
                EntryKind::Credit(collection_id) => {
                    if self.ledger.booked(collection_id, cut.seq) == Known::Unknown {
                        ask_bookings.insert(collection_id);
                    }
                }
                EntryKind::Other => {}
            }
        }
        let settled_through = self.ledger.settled_through();
        let final_before: BTreeSet<u128> = if ask_payouts.is_empty() {
            BTreeSet::new()
        } else {
            let ids: Vec<u128> = ask_payouts.into_iter().collect();
            let payouts = ledger.lookup_payouts(&ids).await.map_err(|e| PeriodError::ledger(&e))?;
            payouts
                .iter()
                .filter(|payout| payout.state.is_final() && payout.updated_at <= settled_through)
                .map(|payout| payout.id)
                .collect()
        };
        let booked_before: BTreeSet<u128> = if ask_bookings.is_empty() {
            BTreeSet::new()
        } else {
            let ids: Vec<u128> = ask_bookings.into_iter().collect();
            let transfers =
                ledger.lookup_transfers(&ids).await.map_err(|e| PeriodError::ledger(&e))?;
            transfers
                .iter()
                .filter(|transfer| transfer.timestamp <= settled_through)
                .map(|transfer| transfer.id)
                .collect()
        };

        let mut in_flight = Vec::new();
        let mut in_flight_ids = BTreeSet::new();
        let mut unbooked = Vec::new();
        for entry in self.statements.recent_mut() {
            entry.held = false;
            if entry.settled {
                continue;
            }
            match entry_kind(bank, entry) {
                EntryKind::PayoutDebit(payout_id) => {
                    let final_at_cut = match self.ledger.payout_final(payout_id, cut.seq) {
                        Known::Before => true,
                        Known::After => false,
                        Known::Unknown => final_before.contains(&payout_id),
                    };
                    if final_at_cut {
                        entry.settled = true;
                    } else if in_flight_ids.insert(payout_id) {
                        // Only a payout's first debit is its execution; a second is money
                        // out twice, which nothing explains.
                        entry.held = true;
                        in_flight.push(InFlightPayout {
                            payout_id,
                            amount: entry.record.amount.minor_units,
                            at_bank: AtBank::Executed,
                        });
                    }
                }
                EntryKind::Credit(collection_id) => {
                    let booked_at_cut = match self.ledger.booked(collection_id, cut.seq) {
                        Known::Before => true,
                        Known::After => false,
                        Known::Unknown => booked_before.contains(&collection_id),
                    };
                    if booked_at_cut {
                        entry.settled = true;
                    } else {
                        unbooked.push(UnbookedCredit {
                            bank_reference: entry.record.bank_reference.clone(),
                            amount: entry.record.amount.minor_units,
                            booked_at: entry.record.booked_at,
                        });
                    }
                }
                EntryKind::Other => {}
            }
        }
        let input = BalanceInput {
            bank,
            account: &self.config.account,
            currency: self.config.currency,
            cutoff: observed_at,
            lateness_ns: self.lateness_ns,
            bank_balance: closing,
            opening_baseline: self.config.opening_baseline,
            settlement: cut.sums.settlement,
            in_transit: cut.sums.in_transit,
            in_flight: &in_flight,
            unbooked_credits: &unbooked,
            block_account_ids: &self.config.block_account_ids,
        };
        let report = match check_balance(&input) {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(bank, %error, "the balance check refused its figures");
                return Ok(BalanceOutcome::Skipped(BalanceSkip::Refused(error)));
            }
        };
        metrics.balance_checked(
            bank,
            observed_at / NS_PER_SECOND,
            report.executed_in_flight.0,
            report.unexplained,
        );
        tracing::debug!(
            bank,
            bank_balance = report.bank,
            explained = report.explained,
            unexplained = report.unexplained,
            in_flight = report.executed_in_flight.0,
            unbooked = report.recent_unbooked.0,
            "balance checked"
        );
        let outcome = BalanceOutcome::Checked {
            bank: report.bank,
            explained: report.explained,
            unexplained: report.unexplained,
            in_flight: report.executed_in_flight.0,
        };
        match report.finding {
            Some(finding) => self.found(finding, metrics),
            None => self.last_balance_discrepancy = None,
        }
        Ok(outcome)
    }

    /// Sums up the matching run when it is due.
    fn matching_run(&mut self, now: u64, metrics: &ReconcileMetrics) {
        if now < self.next_matching_ns {
            return;
        }
        let counts = *self.matcher.counts();
        let before = self.counts_at_run;
        let findings: u64 = self
            .found
            .iter()
            .zip(&self.found_at_run)
            .map(|(now, before)| now.saturating_sub(*before))
            .sum();
        metrics.matching_run(self.config.bank);
        tracing::info!(
            bank = self.config.bank,
            ledger_movements = counts.ledger_movements.saturating_sub(before.ledger_movements),
            bank_entries = counts.bank_entries.saturating_sub(before.bank_entries),
            matched = counts.matched.saturating_sub(before.matched),
            in_flight = counts.in_flight.saturating_sub(before.in_flight),
            questions = counts.questions.saturating_sub(before.questions),
            findings,
            window_items = self.matcher.window().items(),
            peak_items = self.matcher.peak_items(),
            "matching run (对账): figures since the last run"
        );
        self.counts_at_run = counts;
        self.found_at_run = self.found;
        let period = self.matching_period_ns.max(1);
        let missed = now.saturating_sub(self.next_matching_ns) / period;
        self.next_matching_ns =
            self.next_matching_ns.saturating_add(period.saturating_mul(missed.saturating_add(1)));
    }

    /// A finding: reported, unless it is the start's blind spot or a balance difference
    /// reported already.
    fn found(&mut self, finding: Finding, metrics: &ReconcileMetrics) {
        let bank = self.config.bank;
        if finding.class == DiscrepancyClass::MissingAtBank && finding.at < self.horizon_ns {
            self.before_horizon += 1;
            tracing::debug!(
                bank,
                reference = %finding.key.reference(finding.bank_reference.as_deref()),
                "missing_at_bank within a lateness of the stream's start: its entry may be on an unread day; not reported"
            );
            return;
        }
        let cutoff = if finding.class == DiscrepancyClass::BalanceMismatch {
            let id = finding.discrepancy_id();
            if self.last_balance_discrepancy == Some(id) {
                return;
            }
            self.last_balance_discrepancy = Some(id);
            finding.at
        } else {
            self.matcher.watermark(Side::Ledger).min(self.matcher.watermark(Side::Bank))
        };
        self.found[finding.class as usize] += 1;
        metrics.finding(bank, finding.class);
        self.reporter.queue(&finding, cutoff, metrics);
    }

    fn route(&mut self, outcomes: Vec<Outcome>, metrics: &ReconcileMetrics) {
        for outcome in outcomes {
            match outcome {
                Outcome::Finding(finding) => self.found(finding, metrics),
                Outcome::Question(question) => self.questions.push(question),
            }
        }
    }

    fn window_full(&self) -> bool {
        self.matcher.window().items() >= self.matcher.config().window_items_max
    }

    /// Moves `side`'s watermark forward to `to` (never back).
    fn advance(
        &mut self,
        side: Side,
        to: u64,
        metrics: &ReconcileMetrics,
    ) -> Result<(), PeriodError> {
        if to <= self.matcher.watermark(side) {
            return Ok(());
        }
        let mut out = Vec::new();
        self.matcher.advance(side, to, &mut out)?;
        self.route(out, metrics);
        Ok(())
    }

    /// Feeds `side`'s waiting movements, in order, while the window has room; true when
    /// none waits any more. A ledger movement the read delivered after the watermark had
    /// passed it is fed at the watermark; so is a bank entry (a carried one).
    fn drain(&mut self, side: Side, metrics: &ReconcileMetrics) -> Result<bool, PeriodError> {
        loop {
            let at = match side {
                Side::Ledger => self.ledger_waiting.front().map(LedgerMovement::at),
                Side::Bank => self.bank_waiting.front().map(|movement| movement.booked_at),
            };
            let Some(at) = at else { return Ok(true) };
            self.advance(side, at, metrics)?;
            if self.window_full() {
                tracing::warn!(
                    bank = self.config.bank,
                    ?side,
                    "the matching window is full; movements wait"
                );
                return Ok(false);
            }
            let mut out = Vec::new();
            let watermark = self.matcher.watermark(side);
            match side {
                Side::Ledger => {
                    if let Some(movement) = self.ledger_waiting.pop_front() {
                        self.matcher.push_ledger(movement.delayed_to(watermark), &mut out)?;
                    }
                }
                Side::Bank => {
                    if let Some(movement) = self.bank_waiting.pop_front() {
                        let booked_at = movement.booked_at.max(watermark);
                        self.matcher.push_bank(BankMovement { booked_at, ..movement }, &mut out)?;
                    }
                }
            }
            self.route(out, metrics);
        }
    }

    /// What a pass found, for the summary.
    pub fn summary(&self) -> BankSummary {
        BankSummary {
            bank: self.config.bank,
            currency: self.config.currency,
            counts: *self.matcher.counts(),
            window_items: self.matcher.window().items(),
            collections_to_suspense: self.collections_to_suspense,
            not_reported_at_start: self.before_horizon,
            findings: self.found,
            recorded: self.recorded,
            pending_reports: self.reporter.pending(),
            balance: self.balance.clone(),
            failure: self.last_failure.clone(),
        }
    }
}

/// What a recent entry is to the balance check.
fn entry_kind(bank: u32, entry: &RecentEntry) -> EntryKind {
    match (&entry.key, entry.record.direction) {
        (MatchKey::Payout(payout_id), Direction::Debit) => EntryKind::PayoutDebit(*payout_id),
        // Every booked credit, a return among them, is booked by the worker under this id.
        (_, Direction::Credit) => {
            EntryKind::Credit(collection_id(bank, &entry.record.bank_reference))
        }
        _ => EntryKind::Other,
    }
}

/// A question's entry fed again: the bank entry as the matcher keyed it, seen at `observed`.
fn carried_movement(key: &MatchKey, record: BankRecord, observed: u64) -> BankMovement {
    let end_to_end_id =
        key.payout_id().and_then(|payout_id| EndToEndId::from_payout_id(payout_id).ok());
    BankMovement {
        entry: BankEntry {
            bank_reference: record.bank_reference,
            end_to_end_id,
            direction: record.direction,
            amount: record.amount,
            status: EntryStatus::Booked,
            reversal: record.reversal,
            booking_date: None,
            value_date: record.value_date,
            remittance: Vec::new(),
            counterparty_name: None,
        },
        booked_at: observed,
    }
}
