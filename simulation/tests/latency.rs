//! The world's latency bites, under every latency profile: in simulated time, a read from the client machine of data
//! center 1 answered by a node of data center 1 takes an intra-data-center round trip, one
//! answered by the node of data center 3 takes at least two inter-data-center delays, and a
//! linearizable read inside data center 3 pays the Raft transport's distance to a quorum.
//!
//! The local bound is `LOCAL_MAX`, not the 1 ms an intra-data-center round trip would take:
//! madsim sleeps at least 1 ms per sleep, so a local read costs ~5 ms of simulated time (the
//! connect's random delay, the two hops, and two yields in the node, 1 ms each).
//!
//! ```text
//! CARGO_TARGET_DIR=<madsim target> RUSTFLAGS="--cfg madsim" \
//!     cargo test --release -p tianping-simulation --test latency
//! ```
#![cfg(madsim)]

use std::time::Duration;

use madsim::time::Instant;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{LookupRequest, ReadOptions};
use tianping_simulation::client;
use tianping_simulation::latency::LatencyProfile;
use tianping_simulation::world::{World, WorldConfig};

/// Reads measured per node, after one warm-up read.
const READS: usize = 5;
/// The most a read answered inside the client's data center may take (see the module doc).
const LOCAL_MAX: Duration = Duration::from_millis(10);
/// A bounded-staleness read this lax is answered from the replica, with no round trip to the
/// leader, once the node has learned a read index.
const STALENESS_MS: u64 = 60_000;

/// How long each of `READS` reads of account 1 through node `node_id` took, from the machine
/// the caller runs on (`max_staleness_ms` 0: linearizable).
async fn timed_reads(world: &World, node_id: u64, max_staleness_ms: u64) -> Vec<Duration> {
    let node = world.node(node_id).expect("the node exists");
    let mut api = LedgerClient::connect(node.api_url()).await.expect("connects");
    let request =
        LookupRequest { ids: vec!["1".to_owned()], read: Some(ReadOptions { max_staleness_ms }) };
    // Warm-up: a follower's first bounded read asks the leader for a read index.
    api.lookup_accounts(request.clone()).await.expect("warm-up read");
    let mut took = Vec::new();
    for _ in 0..READS {
        let started = Instant::now();
        let answer = api.lookup_accounts(request.clone()).await.expect("read").into_inner();
        took.push(started.elapsed());
        assert_eq!(answer.accounts.len(), 1, "node {node_id} answered without account 1");
    }
    took
}

#[madsim::test]
async fn metro_reads_across_data_centers_pay_the_distance() {
    reads_across_data_centers_pay_the_distance(LatencyProfile::Metro).await;
}

#[madsim::test]
async fn national_reads_across_data_centers_pay_the_distance() {
    reads_across_data_centers_pay_the_distance(LatencyProfile::National).await;
}

#[madsim::test]
async fn cross_border_reads_across_data_centers_pay_the_distance() {
    reads_across_data_centers_pay_the_distance(LatencyProfile::CrossBorder).await;
}

async fn reads_across_data_centers_pay_the_distance(profile: LatencyProfile) {
    let config = WorldConfig::with_latency(profile);
    let world = World::create(&config);
    world.initialize_from_client().await.expect("a leader is elected");
    let (local, remote) = (world.nodes_in(0), world.nodes_in(2));
    let (near, far) = (local[0], remote[0]);
    let measuring = world.clone();
    let (near_reads, far_reads) = world.clients[0]
        .machine
        .spawn(async move {
            client::create_accounts(&measuring).await.expect("accounts created");
            let near_reads = timed_reads(&measuring, near, STALENESS_MS).await;
            let far_reads = timed_reads(&measuring, far, STALENESS_MS).await;
            (near_reads, far_reads)
        })
        .await
        .expect("the client in data center 1 ran");
    let measuring = world.clone();
    let quorum_reads = world.clients[2]
        .machine
        .spawn(async move { timed_reads(&measuring, far, 0).await })
        .await
        .expect("the client in data center 3 ran");
    world.finish(&[]).await;
    println!("{profile}: dc-1 client: node {near} {near_reads:?}, node {far} {far_reads:?}");
    println!("{profile}: dc-3 client, linearizable: node {far} {quorum_reads:?}");

    let round_trip_min = config.inter_dc_latency.one_way.start * 2;
    let round_trip_max = config.inter_dc_latency.worst() * 2 + LOCAL_MAX;
    for took in &near_reads {
        assert!(*took < LOCAL_MAX, "dc-1 to dc-1 read took {took:?}");
    }
    for took in &far_reads {
        assert!(*took >= round_trip_min, "dc-1 to dc-3 read took only {took:?}");
        assert!(*took <= round_trip_max, "dc-1 to dc-3 read took {took:?}");
    }
    // Node 5 is alone in data center 3: as a follower it asks the leader for a read index, as
    // the leader it confirms its leadership with a quorum; either crosses data centers.
    for took in &quorum_reads {
        assert!(*took >= round_trip_min, "linearizable read in dc-3 took only {took:?}");
    }
}
