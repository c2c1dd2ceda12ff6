//! The state machine: applies a batch of commands to a store's state and returns one result
//! per event plus the batch's `WriteSet`. Pure and deterministic: the only inputs are the
//! store's state, the batch and the configuration; no clock, randomness or I/O.

mod accounts;
mod collections;
mod context;
mod discrepancies;
mod expiry;
mod movement;
mod payouts;
mod suspense;
mod transfers;

use crate::command::{Batch, BatchError, Command, EventResult};
use crate::result::ResultCode;
use crate::store::{LedgerStore, Meta, WriteSet};
use crate::{BATCH_EVENTS_MAX, EXPIRIES_PER_BATCH_MAX};

use context::Context;

const SECONDS_PER_DAY: i64 = 86_400;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// UTC offsets in use on Earth lie within ±14 h; ±18 h is what ISO 8601 allows.
const UTC_OFFSET_SECONDS_MAX: i32 = 18 * 3600;

/// Replicated configuration: every replica of a cluster must use the same values (they are
/// part of the cluster's genesis configuration), or their states diverge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// The offset from UTC, in seconds, of the time zone whose midnight resets daily limits.
    pub utc_offset_seconds: i32,
}

impl Default for LedgerConfig {
    /// China Standard Time (+08:00).
    fn default() -> Self {
        LedgerConfig { utc_offset_seconds: 8 * 3600 }
    }
}

/// A configuration value outside its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The ledger state machine. Holds only configuration; all state lives in the store.
#[derive(Clone, Copy, Debug)]
pub struct StateMachine {
    config: LedgerConfig,
}

impl StateMachine {
    /// Checks the configuration once, so applying never has to.
    pub fn new(config: LedgerConfig) -> Result<StateMachine, ConfigError> {
        if config.utc_offset_seconds.abs() > UTC_OFFSET_SECONDS_MAX {
            return Err(ConfigError(format!(
                "utc_offset_seconds {} is outside ±{UTC_OFFSET_SECONDS_MAX}",
                config.utc_offset_seconds
            )));
        }
        Ok(StateMachine { config })
    }

    /// The configuration in force.
    pub fn config(&self) -> LedgerConfig {
        self.config
    }

    /// Applies `batch` to the state in `store`, returning one result per command (in order)
    /// and the writes to commit. `store` is not modified: the caller commits the `WriteSet`
    /// (together with its own bookkeeping, such as the last applied log id).
    ///
    /// Timestamps: the batch's time is `base = max(batch.timestamp, last_timestamp + 1)`, so
    /// time never goes backwards even if a new leader's clock is behind. Pending transfers
    /// whose timeout passed `base` expire first (at most `EXPIRIES_PER_BATCH_MAX`, each taking
    /// the next timestamp), then command `i` gets the next timestamp in order. Every change
    /// therefore has a unique, strictly increasing timestamp.
    pub fn apply<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
        batch: &Batch,
    ) -> Result<(Vec<EventResult>, WriteSet), BatchError> {
        let count = batch.commands.len();
        if count > BATCH_EVENTS_MAX {
            return Err(BatchError::TooManyEvents { count });
        }
        let last_timestamp = store.meta().last_timestamp;
        let base = batch.timestamp.max(last_timestamp.saturating_add(1));
        let headroom = (EXPIRIES_PER_BATCH_MAX + count) as u64;
        if base.checked_add(headroom).is_none() {
            return Err(BatchError::TimestampOverflow);
        }

        store.prefetch_transfers(&transfer_ids_read(&batch.commands));
        let mut context = Context::new(store, count);
        let expired = expiry::expire_due(&mut context, base);
        let first_event_timestamp = base + expired;
        let results = self.apply_events(&mut context, &batch.commands, first_event_timestamp);
        let consumed = expired + count as u64;
        let meta = Meta { last_timestamp: base + consumed.saturating_sub(1) };
        Ok((results, context.into_write_set(meta)))
    }

    /// Runs the events, honouring linked chains: a chain is the run of events with `linked`
    /// set plus the event after it. A chain applies entirely or not at all; the event that
    /// broke it reports its own code and every other member `linked_event_failed`. `exists`
    /// does not break a chain, so replaying a whole applied chain reports `exists` for each.
    fn apply_events<S: LedgerStore + ?Sized>(
        &self,
        context: &mut Context<'_, S>,
        commands: &[Command],
        first_timestamp: u64,
    ) -> Vec<EventResult> {
        let timestamp_of = |index: usize| first_timestamp + index as u64;
        let mut results: Vec<EventResult> = Vec::with_capacity(commands.len());
        let mut start = 0;
        while start < commands.len() {
            let mut end = start;
            while end < commands.len() && commands[end].is_linked() {
                end += 1;
            }
            if end == start {
                results.push(self.apply_event(context, &commands[start], timestamp_of(start)));
                start += 1;
                continue;
            }
            if end == commands.len() {
                // The batch ended inside a chain: nothing of it applies.
                for index in start..commands.len() - 1 {
                    results.push(EventResult::code(
                        ResultCode::LinkedEventFailed,
                        timestamp_of(index),
                    ));
                }
                let last = commands.len() - 1;
                results
                    .push(EventResult::code(ResultCode::LinkedEventChainOpen, timestamp_of(last)));
                break;
            }
            self.apply_chain(context, &commands[start..=end], start, first_timestamp, &mut results);
            start = end + 1;
        }
        assert_eq!(results.len(), commands.len(), "one result per event");
        results
    }

    fn apply_chain<S: LedgerStore + ?Sized>(
        &self,
        context: &mut Context<'_, S>,
        chain: &[Command],
        offset: usize,
        first_timestamp: u64,
        results: &mut Vec<EventResult>,
    ) {
        let timestamp_of = |index: usize| first_timestamp + (offset + index) as u64;
        let savepoint = context.begin_chain();
        let mut chain_results = Vec::with_capacity(chain.len());
        for (index, command) in chain.iter().enumerate() {
            let result = self.apply_event(context, command, timestamp_of(index));
            if result.code.is_success() {
                chain_results.push(result);
                continue;
            }
            context.rollback_chain(savepoint);
            for earlier in 0..index {
                results
                    .push(EventResult::code(ResultCode::LinkedEventFailed, timestamp_of(earlier)));
            }
            results.push(result);
            for later in index + 1..chain.len() {
                results.push(EventResult::code(ResultCode::LinkedEventFailed, timestamp_of(later)));
            }
            return;
        }
        context.end_chain();
        results.extend(chain_results);
    }

    fn apply_event<S: LedgerStore + ?Sized>(
        &self,
        context: &mut Context<'_, S>,
        command: &Command,
        timestamp: u64,
    ) -> EventResult {
        let day = self.day_of(timestamp);
        match command {
            Command::CreateAccount(account) => {
                accounts::create_account(context, account, timestamp)
            }
            Command::CreateTransfer(transfer) => {
                transfers::create_transfer(context, transfer, timestamp, day)
            }
            Command::SetAccountStatus(change) => {
                accounts::set_account_status(context, change, timestamp)
            }
            Command::SetAccountLimits(change) => {
                accounts::set_account_limits(context, change, timestamp, day)
            }
            Command::CreatePayout(payout) => {
                payouts::create_payout(context, payout, timestamp, day)
            }
            Command::ClaimPayouts(claim) => payouts::claim_payouts(context, claim, timestamp),
            Command::RecordPayoutOutcome(outcome) => {
                payouts::record_payout_outcome(context, outcome, timestamp)
            }
            Command::BookCollection(collection) => {
                collections::book_collection(context, collection, timestamp)
            }
            Command::AssignSuspense(assignment) => {
                suspense::assign_suspense(context, assignment, timestamp)
            }
            Command::RecordDiscrepancy(report) => {
                discrepancies::record_discrepancy(context, report, timestamp)
            }
            Command::ResolveDiscrepancy(resolution) => {
                discrepancies::resolve_discrepancy(context, resolution, timestamp)
            }
            Command::ChangeAccountStatus(change) => {
                accounts::change_account_status(context, change, timestamp)
            }
            Command::ChangeAccountLimits(change) => {
                accounts::change_account_limits(context, change, timestamp, day)
            }
            Command::ClaimPayoutBatch(claim) => {
                payouts::claim_payout_batch(context, claim, timestamp)
            }
        }
    }

    /// The day number (since the epoch, in the configured offset) that daily limits use.
    pub fn day_of(&self, timestamp: u64) -> i64 {
        let seconds = (timestamp / NANOS_PER_SECOND) as i64;
        (seconds + i64::from(self.config.utc_offset_seconds)).div_euclid(SECONDS_PER_DAY)
    }
}

/// Converts whole seconds to nanoseconds, `None` on overflow.
pub(crate) fn seconds_to_nanos(seconds: u64) -> Option<u64> {
    seconds.checked_mul(NANOS_PER_SECOND)
}

/// Converts milliseconds to nanoseconds, `None` on overflow.
pub(crate) fn millis_to_nanos(millis: u64) -> Option<u64> {
    millis.checked_mul(1_000_000)
}

/// The transfer ids applying `commands` looks up: each transfer's own id (idempotency), the
/// pending transfer a post or void resolves, and the reservations behind payouts and
/// collections (which share their ids). Sorted and deduplicated, for `prefetch_transfers`.
fn transfer_ids_read(commands: &[Command]) -> Vec<u128> {
    let mut ids = Vec::with_capacity(commands.len());
    for command in commands {
        match command {
            Command::CreateTransfer(transfer) => {
                ids.push(transfer.id);
                if transfer.pending_id != 0 {
                    ids.push(transfer.pending_id);
                }
            }
            Command::CreatePayout(payout) => ids.push(payout.id),
            Command::BookCollection(collection) => ids.push(collection.id),
            Command::AssignSuspense(assignment) => ids.push(assignment.id),
            Command::CreateAccount(_)
            | Command::SetAccountStatus(_)
            | Command::SetAccountLimits(_)
            | Command::ClaimPayouts(_)
            | Command::RecordPayoutOutcome(_)
            | Command::RecordDiscrepancy(_)
            | Command::ResolveDiscrepancy(_)
            | Command::ChangeAccountStatus(_)
            | Command::ChangeAccountLimits(_)
            | Command::ClaimPayoutBatch(_) => {}
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}
