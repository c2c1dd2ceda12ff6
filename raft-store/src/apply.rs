//! What applying one log entry means, shared by both stores: a normal entry runs its batch
//! through the ledger state machine; blank and membership entries change no ledger state.
//! The store then writes the `WriteSet` (if any) together with the entry's log id and, for a
//! membership entry, the new membership — in one atomic write.

use openraft::entry::RaftEntry;
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
