//! Replica states sampled while the faults run, not only at the end. Every `SAMPLE_EVERY` of
//! simulated time, each running node's replica is read: its ledger must pass the ledger
//! invariants at that instant, and its digest at its applied index must equal the digest any
//! node had at that index at any earlier sample. The end-of-seed checkers (`ledger_invariants`,
//! `digests`) see only final states, which a later snapshot install or catch-up can make
//! right again; a replica that diverged for a while and was then overwritten shows up here.
//! A read that does not answer within `READ_BOUND` (a node paused or restarting) is skipped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tianping_ledger::StateDigest;
use tianping_ledger::invariants::{StateDump, check_all};

use crate::world::{World, lock};

/// How often the sampler reads every running replica.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Longest one replica read may take before the sample skips that node.
const READ_BOUND: Duration = Duration::from_millis(500);
/// Violations kept (a diverged replica repeats its violation at every sample).
const VIOLATIONS_MAX: usize = 20;

/// The first digest seen at an applied index: the digest, which node had it, and when (ms).
type FirstSeen = BTreeMap<u64, (StateDigest, u64, u128)>;

/// A task sampling every running replica until stopped.
pub struct StateSampler {
    violations: Arc<Mutex<Vec<String>>>,
    samples: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    task: madsim::task::JoinHandle<()>,
}

impl StateSampler {
    /// Starts sampling on the current machine.
    pub fn start(world: Arc<World>) -> StateSampler {
        let violations = Arc::new(Mutex::new(Vec::new()));
        let samples = Arc::new(Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let (task_violations, task_samples, task_stop) =
            (violations.clone(), samples.clone(), stop.clone());
        let task = madsim::task::spawn(async move {
            let started = madsim::time::Instant::now();
            let mut first_seen = FirstSeen::new();
            while !task_stop.load(Ordering::Relaxed) {
                madsim::time::sleep(SAMPLE_EVERY).await;
                let now_ms = started.elapsed().as_millis();
                let running: Vec<u64> = world.running();
                for node_id in running {
                    let read = madsim::time::timeout(READ_BOUND, world.replica(node_id)).await;
                    let Ok(Ok(replica)) = read else { continue };
                    *lock(&task_samples) += 1;
                    let mut found: Vec<String> = check_all(&StateDump::load(&replica.ledger))
                        .into_iter()
                        .map(|violation| {
                            format!(
                                "node {node_id} at {now_ms} ms (applied {}): {violation}",
                                replica.applied
                            )
                        })
                        .collect();
                    match first_seen.get(&replica.applied) {
                        Some((digest, first_node, first_ms)) if *digest != replica.digest => {
                            found.push(format!(
                                "node {node_id} at {now_ms} ms holds a different state at applied index {} than node {first_node} held at {first_ms} ms",
                                replica.applied
                            ));
                        }
                        Some(_) => {}
                        None => {
                            first_seen.insert(replica.applied, (replica.digest, node_id, now_ms));
                        }
                    }
                    let mut violations = lock(&task_violations);
                    let room = VIOLATIONS_MAX.saturating_sub(violations.len());
                    violations.extend(found.into_iter().take(room));
                }
            }
        });
        StateSampler { violations, samples, stop, task }
    }

    /// Stops sampling; the violations seen and how many replica samples were taken.
    pub async fn stop(self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        // The task ends at its next wake-up; an error means it panicked, seen nothing more.
        let _ = self.task.await;
        let samples = *lock(&self.samples);
        (std::mem::take(&mut *lock(&self.violations)), samples)
    }
}
