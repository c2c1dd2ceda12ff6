//! Election safety: at most one leader per term. A sampler (`LeaderSampler`) records, every
//! few simulated milliseconds while the faults run, which running node believes it leads and
//! in which term; two different nodes leading in one term is a split brain. Sampling can miss
//! a short-lived leader, never invent one, so a violation here is always real.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::world::{World, lock};

/// How often the sampler looks.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Every (term, leader) pair seen, by term.
pub type Observed = BTreeMap<u64, Vec<u64>>;

/// A task sampling the world's self-declared leaders until stopped.
pub struct LeaderSampler {
    observed: Arc<Mutex<Observed>>,
    stop: Arc<AtomicBool>,
    task: madsim::task::JoinHandle<()>,
}

impl LeaderSampler {
    /// Starts sampling on the current machine.
    pub fn start(world: Arc<World>) -> LeaderSampler {
        let observed = Arc::new(Mutex::new(Observed::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (task_observed, task_stop) = (observed.clone(), stop.clone());
        let task = madsim::task::spawn(async move {
            while !task_stop.load(Ordering::Relaxed) {
                for (term, node_id) in world.self_declared_leaders() {
                    let mut observed = lock(&task_observed);
                    let leaders = observed.entry(term).or_default();
                    if !leaders.contains(&node_id) {
                        leaders.push(node_id);
                    }
                }
                madsim::time::sleep(SAMPLE_EVERY).await;
            }
        });
        LeaderSampler { observed, stop, task }
    }

    /// Stops sampling; what was seen.
    pub async fn stop(self) -> Observed {
        self.stop.store(true, Ordering::Relaxed);
        // The task ends at its next wake-up; an error means it panicked, seen nothing more.
        let _ = self.task.await;
        std::mem::take(&mut *lock(&self.observed))
    }
}

/// Violations: every term in which more than one node led.
pub fn check(observed: &Observed) -> Vec<String> {
    observed
        .iter()
        .filter(|(_, leaders)| leaders.len() > 1)
        .map(|(term, leaders)| format!("term {term} had more than one leader: nodes {leaders:?}"))
        .collect()
}
