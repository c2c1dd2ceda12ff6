//! How long a cluster takes to commit again after `kill -9` of its leader, under every latency
//! profile, in simulated time (so the figure is the same on any machine):
//!
//! ```text
//! CARGO_TARGET_DIR=<madsim target> RUSTFLAGS="--cfg madsim" MADSIM_TEST_NUM=5 \
//!     cargo test --release -p tianping-simulation --test failover_time -- --nocapture
//! ```
//!
//! Each seed elects a leader, creates the clients' accounts, kills the leader's machine (its
//! disk loses what it had not synced) and then, from the client machine of data center 1, sends
//! one transfer (the same id every attempt) to the running nodes in turn until one answers
//! `ok` or `exists`. It prints `failover: first commit <N> ms after kill -9 of leader node <K>
//! (<profile>, seed <S>)`; the resolution is one attempt (`ATTEMPT_DEADLINE` at worst, a few
//! round trips usually). The bound it checks is the drills' recovery bound: a figure past it is
//! a liveness failure, not a slow run.
#![cfg(madsim)]

use std::time::Duration;

use madsim::time::Instant;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{CreateTransfersRequest, NewTransfer};
use tianping_simulation::client;
use tianping_simulation::drills::harness::RECOVERY_BOUND;
use tianping_simulation::latency::LatencyProfile;
use tianping_simulation::world::{World, WorldConfig};

/// Longest one probe attempt waits for its answer.
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(1);
/// Pause between two probe attempts.
const ATTEMPT_PAUSE: Duration = Duration::from_millis(10);

#[madsim::test]
async fn metro_failover_time() {
    failover_time(LatencyProfile::Metro).await;
}

#[madsim::test]
async fn national_failover_time() {
    failover_time(LatencyProfile::National).await;
}

#[madsim::test]
async fn cross_border_failover_time() {
    failover_time(LatencyProfile::CrossBorder).await;
}

async fn failover_time(profile: LatencyProfile) {
    let seed = madsim::runtime::Handle::current().seed();
    let world = World::create(&WorldConfig::with_latency(profile));
    let leader = world.initialize_from_client().await.expect("a leader is elected");
    let probing = world.clone();
    let (killed, took) = world.clients[0]
        .machine
        .spawn(async move {
            client::create_accounts(&probing).await.expect("accounts created");
            // The leader may have changed since the election: kill whoever leads now.
            let leader =
                tianping_simulation::faults::await_leader(&probing).await.unwrap_or(leader);
            probing.crash(leader);
            let killed_at = Instant::now();
            let committed = first_commit(&probing, killed_at + RECOVERY_BOUND).await;
            (leader, committed.then(|| killed_at.elapsed()))
        })
        .await
        .expect("the probe ran");
    world.finish(&[]).await;
    let took = took.unwrap_or_else(|| {
        panic!("{profile}: no commit within {RECOVERY_BOUND:?} of killing leader node {killed}")
    });
    println!(
        "failover: first commit {} ms after kill -9 of leader node {killed} ({profile}, seed {seed})",
        took.as_millis()
    );
}

/// Sends one transfer to the running nodes in turn until it is committed (`ok`, or `exists`
/// for an earlier attempt that committed unanswered) or `deadline` passes.
async fn first_commit(world: &World, deadline: Instant) -> bool {
    let request = CreateTransfersRequest {
        transfers: vec![NewTransfer {
            id: "900000001".into(),
            debit_account_id: "1".into(),
            credit_account_id: "2".into(),
            amount: "1".into(),
            ledger: 1,
            code: 1,
            ..Default::default()
        }],
    };
    let mut round = 0usize;
    while Instant::now() < deadline {
        let running = world.running();
        let Some(node) = running.get(round % running.len().max(1)).and_then(|id| world.node(*id))
        else {
            return false;
        };
        round += 1;
        let attempt = async {
            let mut api = LedgerClient::connect(node.api_url()).await.ok()?;
            api.create_transfers(request.clone()).await.ok().map(|answer| answer.into_inner())
        };
        if let Ok(Some(answer)) = tianping_node::runtime::timeout(ATTEMPT_DEADLINE, attempt).await
            && answer
                .results
                .first()
                .is_some_and(|result| result.code_name == "ok" || result.code_name == "exists")
        {
            return true;
        }
        madsim::time::sleep(ATTEMPT_PAUSE).await;
    }
    false
}
