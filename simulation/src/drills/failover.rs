//! The failover drill: under load from every data center, kill the leader — in some seeds
//! its whole data center — sometimes also crash another node, partition another data
//! center or cut the whole cluster's power, restart everything later; one or two rounds per seed, all drawn from the seed.
//! Then heal, measure how long the cluster takes to commit again, let every node catch up
//! and run every checker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use tianping_node::pb::v1::ledger_client::LedgerClient;
use tianping_node::pb::v1::{CreateTransfersRequest, NewTransfer};

use super::Report;
use crate::checker::{self, Evidence};
use crate::client::{self, ATTEMPT_DEADLINE, History, SharedHistory};
use crate::faults;
use crate::world::{World, WorldConfig};

/// After the faults stop, the first write must commit within this.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(15);
/// After that, every node must apply everything acknowledged within this.
const CATCH_UP_BOUND: Duration = Duration::from_secs(30);
/// Longest the clients take to notice the stop and finish their batch in flight.
const CLIENT_STOP_BOUND: Duration = Duration::from_secs(60);

fn secs(range: std::ops::Range<u64>) -> Duration {
    Duration::from_millis(thread_rng().gen_range(range.start * 1000..range.end * 1000))
}

/// Runs one seed of the drill on a world shaped by `config`.
pub async fn run(config: &WorldConfig) -> Report {
    let handle = madsim::runtime::Handle::current();
    let seed = handle.seed();
    let started = madsim::time::Instant::now();
    let world = World::create(config);
    // The drill's own machine: faults, the liveness probe, the final reads. Partitions never
    // cut it off (they clog the nodes' and clients' links only).
    let controller = handle
        .create_node()
        .name("controller")
        .ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 2, 0, 1)))
        .build();
    let drill_world = world.clone();
    let planted = config.planted_bug;
    let outcome = controller.spawn(async move { drive(drill_world, started, planted).await }).await;
    world.finish();
    let (faults, load, violations) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => (Vec::new(), String::new(), vec![format!("drill task failed: {error}")]),
    };
    Report { seed, simulated: started.elapsed(), faults, load, violations }
}

async fn drive(
    world: Arc<World>,
    started: madsim::time::Instant,
    planted: Option<client::PlantedBug>,
) -> (Vec<String>, String, Vec<String>) {
    let mut log = Vec::new();
    let at = |line: String| format!("{:>8.3}s {line}", started.elapsed().as_secs_f64());
    let leader = match world.initialize().await {
        Ok(leader) => leader,
        Err(error) => return (log, String::new(), vec![format!("startup: {error}")]),
    };
    log.push(at(format!("leader {leader} elected")));
    if let Err(error) = client::create_accounts(&world).await {
        return (log, String::new(), vec![format!("setup: {error}")]);
    }
    let history: SharedHistory = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = world
        .clients
        .iter()
        .enumerate()
        .map(|(index, machine)| {
            let task = client::run(
                world.clone(),
                u32::try_from(index).unwrap_or(u32::MAX),
                machine.data_center,
                history.clone(),
                stop.clone(),
                planted,
            );
            machine.machine.spawn(task)
        })
        .collect();

    madsim::time::sleep(secs(1..4)).await;
    let rounds = thread_rng().gen_range(1..=2);
    for _ in 0..rounds {
        let whole_data_center = thread_rng().gen_bool(0.4);
        let line = if whole_data_center {
            faults::kill_leader_data_center(&world).await
        } else {
            faults::kill_leader(&world).await
        };
        log.push(at(line));
        let down = world.crashed();
        let data_centers = world.data_center_count();
        // Sometimes another fault on top: a partition of a data center that still runs, a
        // crash of one more node (either may cost the quorum for a while), or a power loss
        // of the whole cluster (every node back on only what it synced).
        match thread_rng().gen_range(0..10) {
            0..=2 if data_centers > 1 => {
                let healthy: Vec<usize> = (0..data_centers)
                    .filter(|dc| world.nodes_in(*dc).iter().all(|id| !down.contains(id)))
                    .collect();
                if !healthy.is_empty() {
                    let victim = healthy[thread_rng().gen_range(0..healthy.len())];
                    madsim::time::sleep(secs(0..2)).await;
                    log.push(at(faults::partition(&world, victim)));
                    madsim::time::sleep(secs(1..4)).await;
                    log.push(at(faults::heal(&world)));
                }
            }
            3..=5 => {
                let up: Vec<u64> =
                    world.nodes.iter().map(|n| n.id).filter(|id| world.is_up(*id)).collect();
                if !up.is_empty() {
                    let victim = up[thread_rng().gen_range(0..up.len())];
                    madsim::time::sleep(secs(0..2)).await;
                    log.push(at(faults::crash(&world, victim)));
                }
            }
            6..=7 => {
                madsim::time::sleep(secs(0..2)).await;
                log.push(at(faults::power_loss(&world)));
            }
            _ => {}
        }
        madsim::time::sleep(secs(2..8)).await;
        log.push(at(faults::restart_crashed(&world).await));
        madsim::time::sleep(secs(1..4)).await;
    }

    // The faults stop: heal, restart, and time the first commit.
    log.push(at(faults::heal(&world)));
    log.push(at(faults::restart_crashed(&world).await));
    let healed = madsim::time::Instant::now();
    let probe_id: u128 = (u128::from(u32::MAX) << 40) | 1;
    if let Ok(mut history) = history.lock() {
        history.sent.insert(probe_id);
    }
    let all: Vec<u64> = world.nodes.iter().map(|node| node.id).collect();
    let probe = probe(&world, &all, probe_id, &history).await;
    let recovery = probe.map(|_| healed.elapsed());
    log.push(at(format!("probe committed after {recovery:?}")));
    stop.store(true, Ordering::Relaxed);
    for task in clients {
        if madsim::time::timeout(CLIENT_STOP_BOUND, task).await.is_err() {
            log.push(at("a client did not stop in time".to_owned()));
        }
    }
    let history = std::mem::take(&mut *history.lock().unwrap_or_else(|p| p.into_inner()));
    let target_index =
        history.acks.values().map(|ack| ack.log_index).chain(probe).max().unwrap_or(0);
    let mut lagging = Vec::new();
    for node in &world.nodes {
        if !world.wait_applied(node.id, target_index, CATCH_UP_BOUND).await {
            lagging.push(node.id);
        }
    }
    let (mut replicas, mut unreadable) = (Vec::new(), Vec::new());
    for node in &world.nodes {
        match world.replica(node.id).await {
            Ok(replica) => replicas.push(replica),
            Err(error) => unreadable.push(error),
        }
    }
    let snapshots: Vec<u64> =
        world.nodes.iter().map(|node| world.snapshot_index(node.id)).collect();
    let load = format!(
        "snapshot indexes {snapshots:?}, {} transfers sent, {} acknowledged ({} ok), {} batches acknowledged, {} unknown, {} failed attempts, {} read-backs, last index {target_index}",
        history.sent.len(),
        history.acks.len(),
        history.acks.values().filter(|ack| ack.code_name == "ok").count(),
        history.batches_acked,
        history.batches_unknown,
        history.failed_attempts,
        history.reads.len(),
    );
    let evidence = Evidence {
        history,
        replicas,
        unreadable,
        recovery,
        recovery_bound: RECOVERY_BOUND,
        target_index,
        lagging,
    };
    (log, load, checker::check_all(&evidence))
}

/// Writes one valid transfer through any of `nodes` until it is acknowledged or
/// `RECOVERY_BOUND` passes; the log index that holds it. The acknowledgement joins the history.
pub(super) async fn probe(
    world: &World,
    nodes: &[u64],
    id: u128,
    history: &SharedHistory,
) -> Option<u64> {
    let request = CreateTransfersRequest {
        transfers: vec![NewTransfer {
            id: id.to_string(),
            debit_account_id: "1".into(),
            credit_account_id: "2".into(),
            amount: "1".into(),
            ledger: 1,
            code: 1,
            ..Default::default()
        }],
    };
    let deadline = madsim::time::Instant::now() + RECOVERY_BOUND;
    let mut round = 0usize;
    while madsim::time::Instant::now() < deadline {
        let node = nodes.get(round % nodes.len().max(1)).and_then(|id| world.node(*id))?;
        round += 1;
        let sent = async {
            let mut client = LedgerClient::connect(node.api_url()).await.ok()?;
            client.create_transfers(request.clone()).await.ok().map(|r| r.into_inner())
        };
        if let Ok(Some(response)) = tianping_node::runtime::timeout(ATTEMPT_DEADLINE, sent).await
            && let Some(result) = response.results.first()
        {
            if let Ok(mut history) = history.lock() {
                history.acks.insert(
                    id,
                    client::Ack {
                        code_name: result.code_name.clone(),
                        timestamp: result.timestamp,
                        amount: result.amount.clone(),
                        log_index: response.log_index,
                    },
                );
            }
            return Some(response.log_index);
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
