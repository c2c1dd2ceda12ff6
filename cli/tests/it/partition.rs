//! A partitioned minority cannot acknowledge writes. Three node processes, each in its own
//! network namespace (`netns`) with a Raft link and a client link; the test cuts the leader's
//! Raft link, so it is alone in Raft but clients still reach it. Writes sent to it must all
//! fail; the other two elect a leader and commit; after healing, every node holds the same
//! ledger, with every acknowledged write exactly once and none of the isolated node's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::netns::Namespaces;
use crate::processes::ProcessCluster;
use crate::support::bounded;
use crate::workload::{Attempt, audit, create_accounts, send_transfer};

/// Longest one write may take before the client gives up on it.
const WRITE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Pause between one client's writes.
const WRITE_PAUSE: Duration = Duration::from_millis(20);

/// How long the partition lasts at least, and how many writes the majority must have
/// acknowledged during it before it is healed.
const PARTITION_MIN: Duration = Duration::from_secs(4);
const MAJORITY_ACKS_MIN: usize = 10;

/// Longest the majority may take to commit again once the leader is cut off.
const MAJORITY_BOUND: Duration = Duration::from_secs(15);

/// Most writes one client sends during the partition.
const WRITES_PER_CLIENT_MAX: usize = 400;

/// How a write to the isolated node may fail: no leader / not the leader, the node's own
/// deadline, or the client's (the node kept it waiting for a commit that cannot happen).
fn refusal_allowed(reason: &str) -> bool {
    reason == "timeout"
        || reason.starts_with("Unavailable")
        || reason.starts_with("DeadlineExceeded")
        || reason.starts_with("Cancelled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_leader_acknowledges_nothing_and_the_majority_carries_on() {
    bounded(async {
        let namespaces = Namespaces::create(3);
        let cluster = ProcessCluster::start_in_namespaces(namespaces, |_| {}).await;
        let leader = cluster.initialize().await;
        create_accounts(&cluster, leader).await;
        let all: Vec<u64> = cluster.nodes.iter().map(|node| node.node_id).collect();
        let majority: Vec<u64> = all.iter().copied().filter(|id| *id != leader).collect();

        // A few writes through every node while the cluster is whole.
        let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
        let next_id = Arc::new(AtomicU64::new(1));
        for node_id in &all {
            let mut client = cluster.ledger(*node_id);
            let id = u128::from(next_id.fetch_add(1, Ordering::SeqCst));
            let attempt = send_transfer(&mut client, *node_id, id, WRITE_TIMEOUT).await;
            assert!(attempt.acknowledged(), "the whole cluster acknowledges: {attempt:?}");
            attempts.lock().expect("attempts").push(attempt);
        }

        // Cut the leader off the Raft network; clients keep writing to every node.
        cluster.namespaces().cut_raft(leader);
        let cut_at = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for node_id in all.iter().copied() {
            let mut client = cluster.ledger(node_id);
            let (attempts, stop, next_id) = (attempts.clone(), stop.clone(), next_id.clone());
            clients.push(tokio::spawn(async move {
                for _ in 0..WRITES_PER_CLIENT_MAX {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = u128::from(next_id.fetch_add(1, Ordering::SeqCst));
                    let attempt = send_transfer(&mut client, node_id, id, WRITE_TIMEOUT).await;
                    attempts.lock().expect("attempts").push(attempt);
                    tokio::time::sleep(WRITE_PAUSE).await;
                }
            }));
        }
        let first_majority_commit = loop {
            let acks: Vec<Instant> = attempts
                .lock()
                .expect("attempts")
                .iter()
                .filter(|a| a.acknowledged() && a.sent >= cut_at)
                .map(|a| a.answered)
                .collect();
            if acks.len() >= MAJORITY_ACKS_MIN && cut_at.elapsed() >= PARTITION_MIN {
                break acks.into_iter().min().expect("acks");
            }
            assert!(
                cut_at.elapsed() < MAJORITY_BOUND,
                "the majority acknowledged only {} writes within {MAJORITY_BOUND:?} of the cut",
                acks.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            client.await.expect("client task");
        }
        // Still cut off: the old leader has not learned of the new one.
        let isolated = cluster.status(leader).await.expect("the isolated node answers");
        let new_leader = cluster.wait_converged(&majority).await;
        assert_ne!(new_leader, leader, "the majority elected one of its own");
        eprintln!(
            "partition: majority committed {} ms after the cut; new leader {new_leader}; \
             isolated node {leader} still sees leader {} (term {})",
            first_majority_commit.duration_since(cut_at).as_millis(),
            isolated.leader_id,
            isolated.term
        );

        // Not one write sent to the isolated node was acknowledged, and each failed the
        // allowed way. (Writes sent to the majority during the partition may have been
        // forwarded to it before the majority elected a new leader: they fail too, or commit
        // on the new leader — the audit checks that those present were acknowledged or not.)
        let attempts = attempts.lock().expect("attempts").clone();
        let to_isolated: Vec<&Attempt> =
            attempts.iter().filter(|a| a.node_id == leader && a.sent >= cut_at).collect();
        assert!(to_isolated.len() >= 2, "the isolated node was sent writes: {to_isolated:?}");
        for attempt in &to_isolated {
            match &attempt.outcome {
                Ok(ack) => panic!("the isolated node acknowledged a write: {attempt:?} {ack:?}"),
                Err(reason) => assert!(refusal_allowed(reason), "unexpected refusal: {attempt:?}"),
            }
        }
        let acknowledged = attempts.iter().filter(|a| a.acknowledged()).count();
        let mut refusals: BTreeMap<&str, usize> = BTreeMap::new();
        for attempt in &to_isolated {
            if let Err(reason) = &attempt.outcome {
                let kind = reason.split(':').next().unwrap_or_default();
                *refusals.entry(kind).or_default() += 1;
            }
        }
        eprintln!(
            "partition: {} writes, {acknowledged} acknowledged, {} sent to the isolated node, \
             none acknowledged: {refusals:?}; e.g. {:?}",
            attempts.len(),
            to_isolated.len(),
            to_isolated.last().map(|attempt| &attempt.outcome)
        );

        // Heal: the old leader steps down, drops its uncommitted entries and catches up.
        cluster.namespaces().heal_raft(leader);
        cluster.wait_converged(&all).await;
        let mut replicas = Vec::new();
        for node_id in &all {
            replicas.push(audit(&cluster, *node_id, &attempts).await);
        }
        for (node_id, replica) in all.iter().zip(&replicas).skip(1) {
            assert_eq!(*replica, replicas[0], "node {node_id} holds node {}'s ledger", all[0]);
        }
        for attempt in &to_isolated {
            assert!(
                !replicas[0].transfers.contains_key(&attempt.id),
                "a write only the isolated node took was committed: {attempt:?}"
            );
        }
    })
    .await;
}
