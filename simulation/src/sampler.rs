//! The tasks that sample the world while a seed runs, for the checkers that need more than
//! the final state: `LeaderSampler` (which nodes believe they lead, for
//! `tianping_history::checker::leaders`) and `StateSampler` (every running replica, for
//! `tianping_history::checker::state_sampler`). The checks are the history crate's; what
//! stays here is what needs the simulator — the madsim task, its clock, reading the nodes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tianping_history::checker::leaders::LeaderSample;
use tianping_history::checker::state_sampler::StateSamples;

use crate::world::{World, lock};

/// How often the leader sampler looks: below the shortest election timeout, so a leader that
/// lasts one election is seen.
const LEADER_SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// How often the state sampler reads every running replica.
const STATE_SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Longest one replica read may take before the state sample skips that node (a node paused
/// or restarting).
const READ_BOUND: Duration = Duration::from_millis(500);

/// A task sampling the world's self-declared leaders until stopped.
pub struct LeaderSampler {
    samples: Arc<Mutex<Vec<LeaderSample>>>,
    stop: Arc<AtomicBool>,
    task: madsim::task::JoinHandle<()>,
}

impl LeaderSampler {
    /// Starts sampling on the current machine. Only the first sample of each (term, node)
    /// pair is kept: the check needs no more, and memory stays bounded by the elections.
    pub fn start(world: Arc<World>) -> LeaderSampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (task_samples, task_stop) = (samples.clone(), stop.clone());
        let task = madsim::task::spawn(async move {
            let mut seen: BTreeSet<(u64, u64)> = BTreeSet::new();
            while !task_stop.load(Ordering::Relaxed) {
                for (term, node_id) in world.self_declared_leaders() {
                    if seen.insert((term, node_id)) {
                        let sample = LeaderSample { at: world.elapsed(), node_id, term };
                        lock(&task_samples).push(sample);
                    }
                }
                madsim::time::sleep(LEADER_SAMPLE_EVERY).await;
            }
        });
        LeaderSampler { samples, stop, task }
    }

    /// Stops sampling; what was seen, in the order seen.
    pub async fn stop(self) -> Vec<LeaderSample> {
        self.stop.store(true, Ordering::Relaxed);
        // The task ends at its next wake-up; an error means it panicked, seen nothing more.
        let _ = self.task.await;
        std::mem::take(&mut *lock(&self.samples))
    }
}

/// A task reading every running replica every `STATE_SAMPLE_EVERY` until stopped, and
/// judging each read at once (`StateSamples`), so no replica copy is kept.
pub struct StateSampler {
    judged: Arc<Mutex<StateSamples>>,
    stop: Arc<AtomicBool>,
    task: madsim::task::JoinHandle<()>,
}

impl StateSampler {
    /// Starts sampling on the current machine.
    pub fn start(world: Arc<World>) -> StateSampler {
        let judged = Arc::new(Mutex::new(StateSamples::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (task_judged, task_stop) = (judged.clone(), stop.clone());
        let task = madsim::task::spawn(async move {
            while !task_stop.load(Ordering::Relaxed) {
                madsim::time::sleep(STATE_SAMPLE_EVERY).await;
                let at = world.elapsed();
                for node_id in world.running() {
                    let read = madsim::time::timeout(READ_BOUND, world.replica(node_id)).await;
                    let Ok(Ok(replica)) = read else { continue };
                    lock(&task_judged).observe(at, &replica);
                }
            }
        });
        StateSampler { judged, stop, task }
    }

    /// Stops sampling; the violations seen and how many replica samples were taken.
    pub async fn stop(self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        // The task ends at its next wake-up; an error means it panicked, seen nothing more.
        let _ = self.task.await;
        let judged = std::mem::take(&mut *lock(&self.judged));
        let samples = judged.samples();
        (judged.into_violations(), samples)
    }
}
