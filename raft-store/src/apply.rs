//! What applying one log entry means, shared by both stores: a normal entry runs its batch
//! through the ledger state machine; blank and membership entries change no ledger state.
//! The store then writes the `WriteSet` (if any) together with the entry's log id and, for a
//! membership entry, the new membership — in one atomic write.

use openraft::entry::RaftEntry;
#[cfg(not(madsim))]
use tianping_ledger::{Batch, Command};
use tianping_ledger::{LedgerStore, StateMachine, WriteSet};

use crate::type_config::{Entry, EntryPayload, LedgerResponse, LogId, StoredMembership};

/// The outcome of one entry, before the store writes it.
pub(crate) struct EntryOutcome {
    /// The entry's log id: the new last-applied log id.
    pub(crate) log_id: LogId,
    /// Ledger writes (normal entries whose batch was accepted).
    pub(crate) writes: Option<WriteSet>,
    /// The new membership (membership entries).
    pub(crate) membership: Option<StoredMembership>,
    /// What the client hears.
    pub(crate) response: LedgerResponse,
}

/// Computes `entry`'s outcome against `store`, which must hold the state after every entry
/// before this one. Pure: `store` is not modified.
pub(crate) fn execute<S: LedgerStore + ?Sized>(
    machine: &StateMachine,
    store: &S,
    entry: &Entry,
) -> EntryOutcome {
    let log_id = entry.log_id();
    match &entry.payload {
        EntryPayload::Blank => {
            EntryOutcome { log_id, writes: None, membership: None, response: Ok(Vec::new()) }
        }
        EntryPayload::Membership(membership) => EntryOutcome {
            membership: Some(StoredMembership::new(Some(log_id), membership.clone())),
            log_id,
            writes: None,
            response: Ok(Vec::new()),
        },
        EntryPayload::Normal(batch) => match machine.apply(store, batch) {
            Ok((results, writes)) => EntryOutcome {
                log_id,
                writes: Some(writes),
                membership: None,
                response: Ok(results),
            },
            // Every replica refuses the same batch the same way; the entry still counts as
            // applied so the log moves on.
            Err(error) => {
                EntryOutcome { log_id, writes: None, membership: None, response: Err(error) }
            }
        },
    }
}

/// The transfer ids applying `batch` will look up (new transfers, payouts and collections
/// check that theirs is new; posts and voids read their pending transfer), for the RocksDB
/// store to read ahead in one batch. Only a hint: an id missing here is read on demand, an
/// extra one costs a lookup, so this can never change what an entry computes.
///
/// FIXME: this reads commands, which ARCHITECTURE.md's invariant keeps out of `raft-store`
/// ("it never interprets a command"). It belongs in the ledger, next to the code that does
/// those lookups (for instance a `LedgerStore::prefetch_transfers(&self, ids)` hook, a no-op
/// by default, that `StateMachine::apply` calls first); until then it is kept to this one
/// function.
#[cfg(not(madsim))]
pub(crate) fn transfer_ids_read(batch: &Batch) -> Vec<u128> {
    let mut ids = Vec::with_capacity(batch.commands.len());
    for command in &batch.commands {
        match command {
            Command::CreateTransfer(transfer) => {
                ids.push(transfer.id);
                if transfer.pending_id != 0 {
                    ids.push(transfer.pending_id);
                }
            }
            Command::CreatePayout(payout) => ids.push(payout.id),
            Command::BookCollection(collection) => ids.push(collection.id),
            Command::CreateAccount(_)
            | Command::SetAccountStatus(_)
            | Command::SetAccountLimits(_)
            | Command::ClaimPayouts(_)
            | Command::RecordPayoutOutcome(_) => {}
        }
    }
    ids
}
