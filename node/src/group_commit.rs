//! Group commit: the leader turns concurrent client batches into one Raft log entry.
//!
//! Every log entry costs the same fixed work whatever it holds — an fsync shared with its
//! neighbours, one replication round, one atomic state-machine write — so a leader that
//! proposes each client's 100-transfer batch on its own spends most of its time on that fixed
//! cost. Here client batches queue in a channel; one task takes the first waiting batch and every
//! batch queued behind it, up to `GROUP_COMMIT_EVENTS_MAX` events and `ENTRY_BYTES_MAX`
//! encoded bytes, and proposes them as one `Batch`. At most `GROUP_COMMIT_IN_FLIGHT_MAX` groups are being committed at once: while they
//! are, new batches wait in the queue, so the busier the leader the larger its groups (and a
//! lone client on an idle leader is proposed at once, with no added wait).
//!
//! What merging must not change:
//! - Each client gets exactly its own events' results, in its order, and the entry's index.
//! - A linked chain never spans two clients: a batch whose last event is linked (an open
//!   chain, which the ledger refuses with `linked_event_chain_open`) ends its group, so the
//!   next client's first event cannot join the chain.
//! - Outcomes are those of applying the batches one after another in queue order, which is a
//!   valid serialization of concurrent requests: the ledger applies a batch's events in order
//!   and idempotency is per id, so a second client with the same id answers `exists` exactly
//!   as it would in the next entry.
//! - A refusal of the whole entry (not leader, raft stopped) reaches every client in the group
//!   as an unknown outcome; each retries with the same ids.
//! - A batch whose client stopped waiting before it was proposed is dropped, not proposed.
//!
//! What bounds it (issue 11 item 2): every entry is at most `ENTRY_BYTES_MAX` encoded bytes,
//! so `RAFT_PAYLOAD_ENTRIES_MAX` of them always fit in one Raft message a follower accepts (a
//! compile-time relation in `lib.rs`); a client batch that alone encodes larger is refused
//! before it is queued (`ProposeError::TooLarge`, `INVALID_ARGUMENT`); and the bytes waiting
//! or being committed are at most `GROUP_COMMIT_QUEUED_BYTES_MAX` — a batch that would pass
//! it is refused at once (`ProposeError::Overloaded`, `RESOURCE_EXHAUSTED`: nothing applied,
//! retry later with the same ids) instead of queueing without limit behind huge batches.

use std::sync::Arc;

use tianping_ledger::{BATCH_EVENTS_MAX, Batch, BatchError, Command, EventResult};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::LedgerRaft;
use crate::clock_guard::ClockGuard;

/// Most events in one grouped log entry: a full ledger batch. A client batch is already at
/// most this large (the API refuses larger ones), so every batch fits in a group of its own.
pub const GROUP_COMMIT_EVENTS_MAX: usize = BATCH_EVENTS_MAX;

/// Most grouped entries being committed at once. Enough to keep the log's fsync and the
/// replication pipeline busy; small enough that batches arriving meanwhile queue up and
/// make the next group large.
pub const GROUP_COMMIT_IN_FLIGHT_MAX: usize = 4;

/// Most client batches waiting for a group; a full queue makes `propose` wait (back-pressure).
const GROUP_COMMIT_QUEUE_MAX: usize = 4096;

/// Most encoded bytes (postcard, as the log and the Raft transport carry them) of the ledger
/// batch in one log entry. A full batch of `BATCH_EVENTS_MAX` transfers with every field at
/// its largest encodes to about 1.3 MiB, so any transfer batch a client may send fits; batches
/// heavy with free text (payouts' beneficiaries, status reasons) may not, and are refused
/// whole with the byte count so the client can split them.
pub const ENTRY_BYTES_MAX: usize = 4 << 20;

/// Most encoded bytes of client batches queued for group commit or being committed, on one
/// leader: enough for every in-flight group at its largest and as many again waiting, so
/// the pipeline never starves for want of budget, and a bound on what clients can make the
/// leader hold.
pub const GROUP_COMMIT_QUEUED_BYTES_MAX: usize = ENTRY_BYTES_MAX * GROUP_COMMIT_IN_FLIGHT_MAX * 2;

/// Largest postcard encoding of one transfer command: seven 128-bit fields at 19 varint
/// bytes, the 32-bit timeout and ledger at 5, the 16-bit code and flags at 3, and the enum tag.
const TRANSFER_COMMAND_BYTES_MAX: usize = 7 * 19 + 2 * 5 + 2 * 3 + 1;

// A full batch of the largest transfers fits in one entry, with the batch's own framing.
const _: () = assert!(TRANSFER_COMMAND_BYTES_MAX * BATCH_EVENTS_MAX + 64 <= ENTRY_BYTES_MAX);
// Every in-flight group at its largest fits within the queued-bytes budget, and the budget
// fits in a semaphore's permit count.
const _: () =
    assert!(ENTRY_BYTES_MAX * GROUP_COMMIT_IN_FLIGHT_MAX <= GROUP_COMMIT_QUEUED_BYTES_MAX);
const _: () = assert!(GROUP_COMMIT_QUEUED_BYTES_MAX <= u32::MAX as usize);

/// A client batch's results once its group is applied.
#[derive(Debug)]
pub(crate) struct Committed {
    /// One result per event of the client's batch, in its order.
    pub results: Vec<EventResult>,
    /// The log index of the entry that holds it.
    pub log_index: u64,
}

/// Why a client batch was not committed.
#[derive(Clone, Debug)]
pub(crate) enum ProposeError {
    /// This node is not the leader (any more); `leader` is the one it knows of, if any.
    NotLeader {
        /// openraft's words (naming the new leader when known), for the client.
        reason: String,
    },
    /// The ledger refused the whole entry.
    Refused(BatchError),
    /// The Raft node stopped, or the group task is gone.
    Stopped(String),
    /// The batch alone encodes to `bytes`, over `ENTRY_BYTES_MAX`: it can never be proposed
    /// whole. Nothing was queued.
    TooLarge {
        /// Its encoded size.
        bytes: usize,
    },
    /// This node's clock is not known to be within `max_clock_offset_ms` of a majority of the
    /// voters (`clock_guard`): nothing was proposed; the same batch may be sent again.
    ClockOffset(String),
    /// Queuing `bytes` more would pass `GROUP_COMMIT_QUEUED_BYTES_MAX`. Nothing was queued;
    /// the same batch may be sent again later.
    Overloaded {
        /// The refused batch's encoded size.
        bytes: usize,
    },
}

/// One client batch waiting for a group.
struct Proposal {
    commands: Vec<Command>,
    /// The commands' encoded size, counted against the entry's byte cap.
    bytes: usize,
    /// Its share of `GROUP_COMMIT_QUEUED_BYTES_MAX`, given back when it is answered.
    budget: OwnedSemaphorePermit,
    reply: oneshot::Sender<Result<Committed, ProposeError>>,
}

impl Proposal {
    /// True when the batch ends inside a chain, so nothing may follow it in the same entry.
    fn ends_open_chain(&self) -> bool {
        self.commands.last().is_some_and(Command::is_linked)
    }
}

/// The handle services propose through. Cloning shares the queue.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Proposal>,
    /// One permit per byte that may be queued or in flight.
    queued_bytes: Arc<Semaphore>,
}

impl GroupCommit {
    /// Starts the grouping task for `raft`. It ends when every handle is dropped.
    pub(crate) fn start(raft: LedgerRaft, guard: Arc<ClockGuard>) -> GroupCommit {
        let (queue, proposals) = mpsc::channel(GROUP_COMMIT_QUEUE_MAX);
        tokio::spawn(group_proposals(raft, guard, proposals));
        GroupCommit { queue, queued_bytes: Arc::new(Semaphore::new(GROUP_COMMIT_QUEUED_BYTES_MAX)) }
    }

    /// Commits `commands` (one non-empty client batch of at most `GROUP_COMMIT_EVENTS_MAX`
    /// events), possibly together with other clients' batches, and returns its own results.
    pub(crate) async fn propose(&self, commands: Vec<Command>) -> Result<Committed, ProposeError> {
        let bytes = postcard::experimental::serialized_size(&commands).map_err(|error| {
            ProposeError::Stopped(format!("internal error: the batch does not encode: {error}"))
        })?;
        if bytes > ENTRY_BYTES_MAX {
            return Err(ProposeError::TooLarge { bytes });
        }
        // `bytes <= ENTRY_BYTES_MAX <= u32::MAX` (asserted above), so the conversion holds.
        let permits = u32::try_from(bytes).map_err(|_| ProposeError::TooLarge { bytes })?;
        let budget = self
            .queued_bytes
            .clone()
            .try_acquire_many_owned(permits)
            .map_err(|_| ProposeError::Overloaded { bytes })?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Proposal { commands, bytes, budget, reply })
            .await
            .map_err(|_closed| ProposeError::Stopped("the group-commit task stopped".to_owned()))?;
        answer.await.map_err(|_dropped| {
            ProposeError::Stopped("the group-commit task dropped the batch".to_owned())
        })?
    }
}

/// Forms groups from the queue and hands each to its own commit task.
async fn group_proposals(
    raft: LedgerRaft,
    guard: Arc<ClockGuard>,
    mut proposals: mpsc::Receiver<Proposal>,
) {
    let in_flight = Arc::new(Semaphore::new(GROUP_COMMIT_IN_FLIGHT_MAX));
    // A batch that did not fit in the previous group opens the next one.
    let mut carried: Option<Proposal> = None;
    loop {
        let first = match carried.take() {
            Some(proposal) => proposal,
            None => match proposals.recv().await {
                Some(proposal) => proposal,
                None => return,
            },
        };
        // Wait for a commit slot before gathering: batches arriving meanwhile join this group.
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        // A client that stopped waiting (deadline, disconnect, a forwarding node that gave up)
        // has retried or will: proposing its batch now could commit it after that retry was
        // answered. Dropped unproposed, it answers nobody and changes nothing.
        if first.reply.is_closed() {
            continue;
        }
        let mut events = first.commands.len();
        let mut bytes = first.bytes;
        let mut group = vec![first];
        while !group.last().is_some_and(Proposal::ends_open_chain) {
            let Ok(next) = proposals.try_recv() else { break };
            if next.reply.is_closed() {
                continue;
            }
            let grown = events.checked_add(next.commands.len()).zip(bytes.checked_add(next.bytes));
            match grown {
                Some((total, total_bytes))
                    if total <= GROUP_COMMIT_EVENTS_MAX && total_bytes <= ENTRY_BYTES_MAX =>
                {
                    events = total;
                    bytes = total_bytes;
                    group.push(next);
                }
                _ => {
                    carried = Some(next);
                    break;
                }
            }
        }
        let (raft, guard) = (raft.clone(), Arc::clone(&guard));
        tokio::spawn(async move {
            commit_group(&raft, &guard, group, events).await;
            drop(permit);
        });
    }
}

/// Proposes one group as one entry and answers each client with its share.
async fn commit_group(raft: &LedgerRaft, guard: &ClockGuard, group: Vec<Proposal>, events: usize) {
    let mut commands = Vec::with_capacity(events);
    let mut replies = Vec::with_capacity(group.len());
    // Each batch's bytes count against the queued budget until its client is answered.
    let mut budgets = Vec::with_capacity(group.len());
    for proposal in group {
        replies.push((proposal.commands.len(), proposal.reply));
        commands.extend(proposal.commands);
        budgets.push(proposal.budget);
    }
    // Stamped only by a clock a majority of the voters vouches for (`clock_guard`).
    let timestamp = match guard.stamp().await {
        Ok(timestamp) => timestamp,
        Err(refusal) => {
            for (_, reply) in replies {
                let _ = reply.send(Err(ProposeError::ClockOffset(refusal.clone())));
            }
            return;
        }
    };
    let batch = Batch { timestamp, commands };
    #[cfg(feature = "planted-bugs")]
    let (batch, replies) = match planted_ack_before_commit(raft, batch, replies).await {
        Some(unanswered) => unanswered,
        None => return,
    };
    let outcome = match raft.client_write(batch).await {
        Ok(written) => match written.data {
            Ok(results) if results.len() == events => Ok((results, written.log_id.index)),
            Ok(results) => Err(ProposeError::Stopped(format!(
                "internal error: the ledger answered {} results for {events} events",
                results.len()
            ))),
            Err(refused) => Err(ProposeError::Refused(refused)),
        },
        Err(error) => Err(match error.forward_to_leader() {
            Some(forward) => ProposeError::NotLeader { reason: forward.to_string() },
            None => ProposeError::Stopped(format!("raft node stopped: {error}")),
        }),
    };
    match outcome {
        Ok((results, log_index)) => {
            let mut results = results.into_iter();
            for (count, reply) in replies {
                let results = results.by_ref().take(count).collect();
                // A client that gave up (deadline, disconnect) no longer listens; its batch is
                // committed all the same and a retry with the same ids answers `exists`.
                let _ = reply.send(Ok(Committed { results, log_index }));
            }
        }
        Err(error) => {
            for (_, reply) in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
    drop(budgets);
}

/// PLANTED BUG `ack-before-commit` (feature `planted-bugs`: the simulation, and the
/// `split-brain` drill on a binary built with it): the leader
/// computes the group's results on its own replica, answers every client with them at once
/// and commits the entry in the background — so a leader that crashes (or is deposed)
/// before the entry commits has acknowledged writes no replica keeps, and groups in flight
/// are speculated against a state that misses each other. Returns the batch and replies
/// untouched when the bug is not planted.
#[cfg(feature = "planted-bugs")]
async fn planted_ack_before_commit(
    raft: &LedgerRaft,
    batch: Batch,
    replies: Vec<(usize, oneshot::Sender<Result<Committed, ProposeError>>)>,
) -> Option<(Batch, Vec<(usize, oneshot::Sender<Result<Committed, ProposeError>>)>)> {
    use openraft::async_runtime::watch::WatchReceiver;
    use tianping_raft_store::planted::{PlantedBug, active};
    if !active(PlantedBug::AckBeforeCommit) {
        return Some((batch, replies));
    }
    let Ok(machine) = tianping_ledger::StateMachine::new(tianping_ledger::LedgerConfig::default())
    else {
        return Some((batch, replies));
    };
    let speculated = batch.clone();
    let computed = raft
        .with_state_machine(move |store: &mut crate::StateMachineStore| {
            Box::pin(async move { store.with_ledger(|ledger| machine.apply(ledger, &speculated)) })
        })
        .await;
    let Ok(Ok(Ok((results, _writes)))) = computed else { return Some((batch, replies)) };
    let log_index = raft.metrics().borrow_watched().last_applied.map_or(0, |id| id.index);
    let mut results = results.into_iter();
    for (count, reply) in replies {
        let results = results.by_ref().take(count).collect();
        let _ = reply.send(Ok(Committed { results, log_index }));
    }
    let raft = raft.clone();
    tokio::spawn(async move {
        let _ = raft.client_write(batch).await;
    });
    None
}
