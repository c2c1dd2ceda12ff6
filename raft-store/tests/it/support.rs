//! Shared test helpers: log entries carrying ledger batches, and a reference replay.

use futures_util::stream;
use openraft::storage::{IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use openraft::{RaftLogReader, RaftTypeConfig};
use tianping_ledger::{
    AccountFlags, AccountStatus, AssignSuspense, Batch, ClaimPayouts, Command, DiscrepancyClass,
    LedgerConfig, LedgerStore, LedgerStoreMut, MemoryStore, NewAccount, NewCollection,
    NewDiscrepancy, NewPayout, NewTransfer, ResolveDiscrepancy, SetAccountStatus, StateDigest,
    StateMachine,
};
use tianping_raft_store::snapshot::add_record_to_write_set;
use tianping_raft_store::{Entry, EntryPayload, LogId, SnapshotData, TypeConfig};

/// Accounts the workload creates (ids 1..=ACCOUNTS).
pub const ACCOUNTS: u64 = 50;

pub fn machine() -> StateMachine {
    StateMachine::new(LedgerConfig::default()).expect("default ledger configuration")
}

pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(<TypeConfig as RaftTypeConfig>::LeaderId::new_committed(term, 0), index)
}

pub fn normal(term: u64, index: u64, batch: Batch) -> Entry {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(batch) }
}

/// 2025-11-24T16:00:00Z plus `index` tenths of a second: the leader's clock for entry
/// `index` (one-second reservations expire ten entries later).
fn timestamp_of(index: u64) -> u64 {
    1_764_000_000_000_000_000 + index * 100_000_000
}

/// Commands that fill the other tables: a payout and a claim of it (payouts, payout index),
/// a bank collection (collections), an unmatched one (suspense index) and the assignment of
/// the previous entry's unmatched one (suspense assignments, index removal), a discrepancy and
/// the resolution of the one two entries back (discrepancies, their index and blocks) and an
/// account status change (audit). Payout changes fill the payout history.
fn side_commands(index: u64) -> Vec<Command> {
    let bank = 7;
    vec![
        Command::CreatePayout(NewPayout {
            id: u128::from(index) << 40 | 1,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: 5,
            ledger: 1,
            code: 1,
            bank,
            beneficiary: format!("beneficiary {index}"),
            ..NewPayout::default()
        }),
        Command::ClaimPayouts(ClaimPayouts { worker_id: 9, bank, max: 1, lease_ms: 5_000 }),
        Command::BookCollection(NewCollection {
            id: u128::from(index) << 40 | 2,
            bank,
            bank_reference: format!("reference {index}"),
            beneficiary_account_id: 3,
            settlement_account_id: 4,
            suspense_account_id: 5,
            amount: 11,
            ledger: 1,
            code: 1,
            ..NewCollection::default()
        }),
        Command::BookCollection(NewCollection {
            id: u128::from(index) << 40 | 3,
            bank,
            bank_reference: format!("unmatched {index}"),
            beneficiary_account_id: 999,
            settlement_account_id: 4,
            suspense_account_id: 5,
            amount: 2,
            ledger: 1,
            code: 1,
            ..NewCollection::default()
        }),
        Command::AssignSuspense(AssignSuspense {
            id: u128::from(index) << 40 | 4,
            bank,
            bank_reference: format!("unmatched {}", index.saturating_sub(1)),
            account_id: 3,
            reason: "payer found".to_owned(),
            actor: "test".to_owned(),
        }),
        // A discrepancy naming three accounts (one audit record each: keys (timestamp,
        // account)), resolved two entries later (blocks filed, then lifted).
        Command::RecordDiscrepancy(NewDiscrepancy {
            id: u128::from(index) << 40 | 5,
            bank,
            class: DiscrepancyClass::ALL[usize::try_from(index % 6).unwrap_or(0)],
            reference: format!("payout {index}"),
            account_ids: vec![7, 8, 9],
            ledger_amount: Some(5),
            bank_amount: None,
            ledger_evidence: "succeeded".to_owned(),
            bank_evidence: String::new(),
            cutoff: timestamp_of(index),
            actor: "reconciler".to_owned(),
        }),
        Command::ResolveDiscrepancy(ResolveDiscrepancy {
            id: u128::from(index.saturating_sub(8)) << 40 | 5,
            reason: "explained".to_owned(),
            actor: "test".to_owned(),
        }),
        Command::SetAccountStatus(SetAccountStatus {
            account_id: 6,
            status: if index.is_multiple_of(2) {
                AccountStatus::OutflowBlocked
            } else {
                AccountStatus::Active
            },
            reason: "reconciliation".to_owned(),
            actor: "test".to_owned(),
        }),
    ]
}

/// The workload's entry at `index` (1-based): index 1 creates the accounts, later entries
/// move money between them; every third transfer is a two-phase reservation with a timeout,
/// so expiries and pending transfers are exercised too, and every fourth entry also carries
/// a payout, a claim, a collection and a status change.
pub fn workload_entry(index: u64, transfers_per_entry: u64) -> Entry {
    let mut commands: Vec<Command> = if index == 1 {
        (1..=ACCOUNTS)
            .map(|id| {
                Command::CreateAccount(NewAccount {
                    id: u128::from(id),
                    ledger: 1,
                    code: 1,
                    // Half keep balance history, so the history tables fill too.
                    flags: if id % 2 == 0 { AccountFlags::HISTORY } else { AccountFlags::NONE },
                    ..NewAccount::default()
                })
            })
            .collect()
    } else {
        (0..transfers_per_entry)
            .map(|n| {
                let seed = index * 7919 + n * 104_729;
                let debit = seed % ACCOUNTS + 1;
                let credit = (debit + 1 + (seed / 7) % (ACCOUNTS - 1)) % ACCOUNTS + 1;
                let pending = n % 3 == 0;
                Command::CreateTransfer(NewTransfer {
                    id: u128::from(index) << 32 | u128::from(n),
                    debit_account_id: u128::from(debit),
                    credit_account_id: u128::from(credit),
                    amount: u128::from(1 + seed % 1000),
                    ledger: 1,
                    code: 1,
                    flags: if pending {
                        tianping_ledger::TransferFlags::PENDING
                    } else {
                        tianping_ledger::TransferFlags::default()
                    },
                    timeout: if pending { 1 } else { 0 },
                    ..NewTransfer::default()
                })
            })
            .collect()
    };
    if index.is_multiple_of(4) {
        commands.extend(side_commands(index));
    }
    normal(1, index, Batch { timestamp: timestamp_of(index), commands })
}

/// Appends and waits for the store to report the entries flushed; `true` if it did.
pub async fn append_acknowledged<LS: RaftLogStorage<TypeConfig>>(
    store: &mut LS,
    entries: Vec<Entry>,
) -> bool {
    let (sender, receiver) = TypeConfig::oneshot();
    // An error return is fine here: what counts is whether the flush was reported.
    let _returned = store.append(entries, IOFlushed::signal(sender)).await;
    matches!(receiver.await, Ok(Ok(())))
}

/// Applies `entries` (no client waiting).
pub async fn apply<SM: RaftStateMachine<TypeConfig>>(
    sm: &mut SM,
    entries: Vec<Entry>,
) -> std::io::Result<()> {
    sm.apply(stream::iter(entries.into_iter().map(|entry| Ok((entry, None))))).await
}

/// What openraft does when a node restarts: re-applies the log entries after the state
/// machine's last-applied one (every entry here is committed). Returns the last index
/// applied, if any.
pub async fn reapply_log<LS, SM>(log_store: &mut LS, state_machine: &mut SM) -> Option<u64>
where
    LS: RaftLogStorage<TypeConfig>,
    SM: RaftStateMachine<TypeConfig>,
{
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    let purged = log_store.get_log_state().await.expect("log state").last_purged_log_id;
    // What openraft refuses to start from: state that the log cannot rebuild.
    assert!(purged <= applied, "purged {purged:?} past the applied {applied:?}");
    let start = applied.map_or(0, |id| id.index + 1);
    let entries =
        log_store.get_log_reader().await.try_get_log_entries(start..).await.expect("log reads");
    if let (Some(first), Some(applied)) = (entries.first(), applied) {
        assert_eq!(first.log_id.index, applied.index + 1, "the log continues the applied state");
    }
    let last = entries.last().map(|entry| entry.log_id.index);
    apply(state_machine, entries).await.expect("re-apply");
    last.or(applied.map(|id| id.index))
}

/// The workload's entries `1..=last`.
pub fn workload(last: u64, transfers_per_entry: u64) -> Vec<Entry> {
    (1..=last).map(|index| workload_entry(index, transfers_per_entry)).collect()
}

/// The digest a fresh replica reaches from `snapshot` (if any) plus `entries`, in order.
pub fn replay_digest(snapshot: Option<&SnapshotData>, entries: &[Entry]) -> StateDigest {
    let mut store = MemoryStore::new();
    if let Some(snapshot) = snapshot {
        snapshot
            .for_each_chunk_records(&mut |records| {
                let mut writes =
                    tianping_ledger::WriteSet { meta: store.meta(), ..Default::default() };
                for record in &records {
                    add_record_to_write_set(record, &mut writes)?;
                }
                store.commit(&writes);
                Ok(())
            })
            .expect("snapshot replays");
    }
    let machine = machine();
    for entry in entries {
        if let EntryPayload::Normal(batch) = &entry.payload
            && let Ok((_, writes)) = machine.apply(&store, batch)
        {
            store.commit(&writes);
        }
    }
    tianping_ledger::state_digest(&store)
}

/// Every entry in `log_store`'s log.
pub async fn log_entries<LS: RaftLogStorage<TypeConfig>>(log_store: &mut LS) -> Vec<Entry> {
    log_store.get_log_reader().await.try_get_log_entries(..).await.expect("log reads")
}

/// Checks a reopened node: its state (`digest`, read after the reopen) is exactly the replay
/// of its snapshot plus its log up to its last-applied entry, and that log continues the
/// snapshot.
pub async fn assert_state_is_replay_of_log<LS, SM>(
    log_store: &mut LS,
    state_machine: &mut SM,
    digest: impl Fn(&SM) -> std::io::Result<StateDigest>,
) where
    LS: RaftLogStorage<TypeConfig>,
    SM: RaftStateMachine<TypeConfig, SnapshotData = SnapshotData>,
{
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    let snapshot = state_machine.get_current_snapshot().await.expect("snapshot reads");
    let snapshot_index =
        snapshot.as_ref().and_then(|s| s.meta.last_log_id.as_ref()).map(|id| id.index);
    let applied_index = applied.map(|id| id.index);
    let replayed: Vec<Entry> = log_entries(log_store)
        .await
        .into_iter()
        .filter(|entry| {
            Some(entry.log_id.index) > snapshot_index && Some(entry.log_id.index) <= applied_index
        })
        .collect();
    if let (Some(first), Some(snapshot_index)) = (replayed.first(), snapshot_index) {
        assert_eq!(first.log_id.index, snapshot_index + 1, "log continues the snapshot");
    }
    let expected = replay_digest(snapshot.as_ref().map(|s| &s.snapshot), &replayed);
    assert_eq!(
        digest(state_machine).expect("digest"),
        expected,
        "state differs from a replay of the log"
    );
}

/// Appends and applies workload entries `1..=entries` one by one, as a follower would,
/// stopping at the first append whose flush is not reported or apply that fails; returns the
/// indexes whose flush was reported (acknowledged).
pub async fn append_and_apply<LS, SM>(
    log_store: &mut LS,
    state_machine: &mut SM,
    entries: u64,
    transfers_per_entry: u64,
) -> Vec<u64>
where
    LS: RaftLogStorage<TypeConfig>,
    SM: RaftStateMachine<TypeConfig>,
{
    let mut acknowledged = Vec::new();
    for index in 1..=entries {
        let entry = workload_entry(index, transfers_per_entry);
        if !append_acknowledged(log_store, vec![entry.clone()]).await {
            break;
        }
        acknowledged.push(index);
        if apply(state_machine, vec![entry]).await.is_err() {
            break;
        }
    }
    acknowledged
}

/// A node reopened after a crash that followed a snapshot of `snapshot` and the applying of
/// workload entries up to `last_entry`: it holds that snapshot, its state is the snapshot's
/// (not that of the entries applied after it), its log continues the snapshot, and re-applying
/// the log reaches the state of every entry.
pub async fn assert_reopens_at_snapshot<LS, SM>(
    log_store: &mut LS,
    state_machine: &mut SM,
    snapshot: &tianping_raft_store::SnapshotMeta,
    last_entry: u64,
    transfers_per_entry: u64,
    digest: impl Fn(&SM) -> std::io::Result<StateDigest>,
) where
    LS: RaftLogStorage<TypeConfig>,
    SM: RaftStateMachine<TypeConfig, SnapshotData = SnapshotData>,
{
    let current = state_machine.get_current_snapshot().await.expect("reads").expect("a snapshot");
    assert_eq!(&current.meta, snapshot);
    let (applied, _) = state_machine.applied_state().await.expect("applied state");
    assert_eq!(applied, snapshot.last_log_id, "the state of the snapshot, not of the rest");
    assert_state_is_replay_of_log(log_store, state_machine, &digest).await;
    assert_eq!(reapply_log(log_store, state_machine).await, Some(last_entry));
    assert_eq!(
        digest(state_machine).expect("digest"),
        replay_digest(None, &workload(last_entry, transfers_per_entry))
    );
}
