//! The committed log, replayed: the history checkers' reference. After a run, the log of a
//! replica whose log is whole (from the first entry up to its applied index: no purge has
//! cut it) runs entry by entry, in order, through a fresh `tianping_ledger::StateMachine` on
//! a `MemoryStore` — the same pure apply every node runs (`raft-store`'s `apply`: blank and
//! membership entries change nothing, a normal entry applies its `Batch` with the entry's own
//! timestamp, a refused batch changes nothing). The log comes in as `cluster::LogEntry`s, so
//! this module knows nothing of openraft's entries or of the disk they were read from. What
//! it records:
//! - every appearance of every transfer id in the log: entry index, position in the batch,
//!   result code, timestamp and amount (`checker::committed_log`);
//! - every account's balances after each entry that changed them (`checker::balance_reads`);
//! - the state digest at the replica's applied index, to compare with the replica's own;
//! - what `tianping_ledger::invariants::events` saw batch by batch: an accepted debit through
//!   a block, a freeze or a limit in force, or a half-applied linked chain
//!   (`checker::account_controls`).
//!
//! A run whose every log was purged leaves no replica to replay (the simulation keeps logs
//! whole in some seeds only): the history checkers that need the replay are then skipped,
//! and `checker::history_coverage` says why.

use std::collections::BTreeMap;

use tianping_ledger::invariants::events::EventObserver;
use tianping_ledger::{
    Command, Detail, LedgerConfig, LedgerStoreMut, MemoryStore, ResultCode, StateDigest,
    StateMachine,
};

use crate::cluster::{LogEntry, Replica};
use crate::history::Balances;

/// One appearance of a transfer id in the committed log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appearance {
    /// The entry's log index.
    pub index: u64,
    /// The event's position in the entry's batch.
    pub position: usize,
    /// Its result code.
    pub code: ResultCode,
    /// Its result's timestamp (for `exists`: the original's).
    pub timestamp: u64,
    /// The amount its result names (`None` when it names none).
    pub amount: Option<u128>,
    /// The ledger the command named: whose workload's "nothing unsent" judges it
    /// (`History::ledgers_judged_elsewhere`).
    pub ledger: u32,
}

/// The replayed committed log: everything the history checkers compare the clients' answers
/// and reads with.
#[derive(Debug)]
pub struct Replay {
    /// The node whose log was replayed.
    pub node_id: u64,
    /// The last index replayed: the node's applied index.
    pub last_index: u64,
    /// Entries replayed, and how many of them carried a batch.
    pub entries: u64,
    /// See `entries`.
    pub batches: u64,
    /// Every appearance of every transfer id, in log order.
    pub appearances: BTreeMap<u128, Vec<Appearance>>,
    /// Every account's balances after each entry that changed them, in log order (before
    /// its first entry the account does not exist).
    pub balances: BTreeMap<u128, Vec<(u64, Balances)>>,
    /// The replay's state digest at `last_index`.
    pub digest: StateDigest,
    /// The node's own state digest at its applied index (`last_index`).
    pub replica_digest: StateDigest,
    /// The event observer's violations, in log order, each with its entry index.
    pub event_violations: Vec<String>,
    /// Accepted debits the observer held to statuses and limits.
    pub limited_debits: u64,
    /// Accepted status and limit changes the observer followed.
    pub account_changes: u64,
    /// Every versioned account control change applied (`ok`), in log order: (change id,
    /// account, log index). `checker::controls_held` holds their order to the order sent.
    pub control_changes: Vec<(u128, u128, u64)>,
}

/// Replays the log of the most advanced replica whose log is whole — the one that judges the
/// most history; `log_of(node)` reads a node's log, in index order, and is asked only until
/// one replays, most advanced first (reading a log is the costly part). `Err` says why no
/// replica could be replayed (a note for the report, not a violation).
pub fn from_replicas(
    replicas: &[Replica],
    mut log_of: impl FnMut(u64) -> Vec<LogEntry>,
) -> Result<Replay, String> {
    let mut candidates: Vec<&Replica> = replicas.iter().collect();
    candidates.sort_by_key(|replica| std::cmp::Reverse(replica.applied));
    let mut reasons = Vec::new();
    for replica in candidates {
        match replay(replica, &log_of(replica.node_id)) {
            Ok(replay) => return Ok(replay),
            Err(reason) => reasons.push(format!("node {}: {reason}", replica.node_id)),
        }
    }
    Err(if reasons.is_empty() { "no replica was read".to_owned() } else { reasons.join("; ") })
}

/// Replays `log` (the replica's, in index order) up to the replica's applied index; `Err`
/// when the log cannot stand for the replica's history (purged, with a hole, or short).
pub fn replay(replica: &Replica, log: &[LogEntry]) -> Result<Replay, String> {
    let machine = StateMachine::new(LedgerConfig::default())
        .map_err(|error| format!("the ledger configuration: {error}"))?;
    let first = log.first().map(|entry| entry.index);
    // Index 0 is openraft's initial membership entry: a log that starts at 1 lost no state.
    match first {
        Some(0 | 1) => {}
        Some(index) => return Err(format!("log purged: it starts at index {index}")),
        None if replica.applied == 0 => {}
        None => return Err("log purged: it is empty".to_owned()),
    }
    let mut store = MemoryStore::new();
    let mut replay = Replay {
        node_id: replica.node_id,
        last_index: replica.applied,
        entries: 0,
        batches: 0,
        appearances: BTreeMap::new(),
        balances: BTreeMap::new(),
        digest: StateDigest([0; 32]),
        replica_digest: replica.digest,
        event_violations: Vec::new(),
        limited_debits: 0,
        account_changes: 0,
        control_changes: Vec::new(),
    };
    let mut observer = EventObserver::new(machine);
    let mut expected = first.unwrap_or(0);
    for entry in log.iter().take_while(|entry| entry.index <= replica.applied) {
        let index = entry.index;
        if index != expected {
            return Err(format!("log has a hole: index {index} where {expected} was due"));
        }
        expected += 1;
        replay.entries += 1;
        // Blank and membership entries change no ledger state (raft-store `apply`).
        let Some(batch) = &entry.batch else { continue };
        replay.batches += 1;
        // A refused batch changes nothing, on every replica alike.
        let Ok((results, writes)) = machine.apply(&store, batch) else { continue };
        for (command, result) in batch.commands.iter().zip(&results) {
            let change = match command {
                Command::ChangeAccountStatus(change) => (change.id, change.account_id),
                Command::ChangeAccountLimits(change) => (change.id, change.account_id),
                _ => continue,
            };
            if result.code == ResultCode::Ok {
                replay.control_changes.push((change.0, change.1, index));
            }
        }
        for (position, (command, result)) in batch.commands.iter().zip(&results).enumerate() {
            let Command::CreateTransfer(transfer) = command else { continue };
            let amount = match result.detail {
                Detail::Amount(amount) => Some(amount),
                _ => None,
            };
            replay.appearances.entry(transfer.id).or_default().push(Appearance {
                index,
                position,
                code: result.code,
                timestamp: result.timestamp,
                amount,
                ledger: transfer.ledger,
            });
        }
        for account in &writes.accounts {
            let balances = Balances {
                debits_pending: account.debits_pending,
                debits_posted: account.debits_posted,
                credits_pending: account.credits_pending,
                credits_posted: account.credits_posted,
            };
            replay.balances.entry(account.id).or_default().push((index, balances));
        }
        store.commit(&writes);
        let seen = observer.observe(&store, &batch.commands, &results);
        replay
            .event_violations
            .extend(seen.into_iter().map(|violation| format!("log index {index}: {violation}")));
    }
    replay.limited_debits = observer.limited_debits;
    replay.account_changes = observer.account_changes;
    if replica.applied > 0 && expected != replica.applied + 1 {
        return Err(format!(
            "log ends at index {} below the applied index {}",
            expected.saturating_sub(1),
            replica.applied
        ));
    }
    replay.digest = tianping_ledger::state_digest(&store);
    Ok(replay)
}

#[cfg(test)]
mod tests {
    use tianping_ledger::ResultCode;

    use super::{from_replicas, replay};
    use crate::cluster::LogEntry;
    use crate::testing::{accounts, run, standard};

    #[test]
    fn a_whole_log_replays_to_the_replicas_state() {
        let run = standard();
        let replayed = replay(&run.replica, &run.log).expect("a whole log replays");
        assert_eq!((replayed.last_index, replayed.entries, replayed.batches), (4, 5, 4));
        assert_eq!(replayed.digest, run.replica.digest);
        let codes: Vec<ResultCode> = replayed.appearances[&11].iter().map(|a| a.code).collect();
        assert_eq!(codes, vec![ResultCode::ExceedsCredits]);
        let changed_at: Vec<u64> = replayed.balances[&3].iter().map(|(index, _)| *index).collect();
        assert_eq!(changed_at, vec![1, 3, 4]);
    }

    #[test]
    fn a_log_that_cannot_stand_for_the_replica_is_refused() {
        let run = standard();
        let purged: Vec<LogEntry> = run.log[2..].to_vec();
        let error = replay(&run.replica, &purged).err();
        assert_eq!(error.as_deref(), Some("log purged: it starts at index 2"));
        let mut holed = run.log.clone();
        holed.remove(2);
        let error = replay(&run.replica, &holed).err();
        assert_eq!(error.as_deref(), Some("log has a hole: index 3 where 2 was due"));
        let short: Vec<LogEntry> = run.log[..3].to_vec();
        let error = replay(&run.replica, &short).err();
        assert_eq!(error.as_deref(), Some("log ends at index 2 below the applied index 4"));
        assert_eq!(replay(&run.replica, &[]).err().as_deref(), Some("log purged: it is empty"));
    }

    #[test]
    fn the_most_advanced_whole_log_is_replayed() {
        let ahead = standard();
        let mut behind = run(vec![accounts()]);
        behind.replica.node_id = 2;
        let replicas = [behind.replica, ahead.replica];
        // Node 1 is ahead but its log was purged: node 2's whole log is replayed instead.
        let purged = ahead.log[3..].to_vec();
        let chosen =
            from_replicas(
                &replicas,
                |node| if node == 1 { purged.clone() } else { behind.log.clone() },
            );
        assert_eq!(chosen.map(|replay| (replay.node_id, replay.last_index)), Ok((2, 1)));
        let none = from_replicas(&replicas, |_| Vec::new()).err();
        assert_eq!(
            none.as_deref(),
            Some("node 1: log purged: it is empty; node 2: log purged: it is empty")
        );
        assert_eq!(
            from_replicas(&[], |_| Vec::new()).err().as_deref(),
            Some("no replica was read")
        );
    }
}
