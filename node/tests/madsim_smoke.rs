//! The simulation smoke test: three nodes, booted through the same `tianping_node::start` as
//! production, elect a leader and commit a ledger batch under madsim. Also the voter rules
//! of membership changes on five nodes, two of them killed.
//!
//! Run it (its own target directory, so the normal build's artifacts stay put):
//!
//! ```text
//! CARGO_TARGET_DIR=/root/.cache/tianping-target-madsim RUSTFLAGS="--cfg madsim" \
//!     cargo test --release -p tianping-node --test madsim_smoke
//! ```
//!
//! `MADSIM_TEST_SEED=<n>` replays one seed, `MADSIM_TEST_NUM=<n>` runs n seeds and
//! `MADSIM_TEST_CHECK_DETERMINISM=1` runs each seed twice and fails if they diverge.
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tianping_node::clock::Clock;
use tianping_node::{LedgerRaft, NodeConfig, Simulated};
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::{
    AddLearnerRequest, CreateAccountsRequest, CreateEventsResponse, CreateTransfersRequest,
    ForceChange, InitializeRequest, LookupRequest, NewAccount, NewTransfer, PromoteRequest,
    RemoveRequest, ReplaceNodeRequest,
};
use tianping_raft_store::{MemoryDisk, NodeInfo};

const NODES: u8 = 3;
const RAFT_PORT: u16 = 7000;
const API_PORT: u16 = 8000;
/// Simulated time the whole scenario may take.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);
/// Simulated time to elect a leader and for every node to learn it.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);
const WRITE_ATTEMPTS_MAX: usize = 50;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

fn node_ip(node_id: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, node_id))
}

/// What a running simulated node shares with the test: its Raft handle and its info.
type Slot = Arc<Mutex<Option<(LedgerRaft, NodeInfo)>>>;

fn raft_of(slot: &Slot) -> LedgerRaft {
    slot.lock().expect("slot").as_ref().expect("node started").0.clone()
}

fn account(id: &str) -> NewAccount {
    NewAccount { id: id.into(), ledger: 156, code: 1, ..Default::default() }
}

/// Sends `request` until the cluster answers it: right after an election a write can meet a
/// leader whose lease is not yet valid, which answers `UNAVAILABLE`.
async fn write<F, Fut>(mut send: F) -> CreateEventsResponse
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<CreateEventsResponse>, tonic::Status>>,
{
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS_MAX {
        match send().await {
            Ok(response) => return response.into_inner(),
            // Unavailable: no leader yet, or the node asked is down; deadline: the leader it
            // forwarded to died. Both are retried by clients with the same ids.
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
                ) =>
            {
                last = Some(status);
                madsim::time::sleep(RETRY_PAUSE).await;
            }
            Err(status) => panic!("write failed: {status:?}"),
        }
    }
    panic!("write still unavailable after {WRITE_ATTEMPTS_MAX} attempts: {last:?}")
}

/// A simulated cluster: each node's shared slot and the disk the simulation owns for it.
struct SimCluster {
    slots: Vec<Slot>,
    disks: Vec<MemoryDisk>,
    data: PathBuf,
}

impl SimCluster {
    /// Creates `nodes` simulated machines whose init (run again on every restart) boots a
    /// node through `tianping_node::start` on the machine's own disk.
    fn create(handle: &madsim::runtime::Handle, name: &str, nodes: u8) -> SimCluster {
        let data =
            std::env::temp_dir().join(format!("tianping-madsim-{name}-{}", std::process::id()));
        let (mut slots, mut disks) = (Vec::new(), Vec::new());
        for node_id in 1..=nodes {
            // The simulation owns the disk, so a restarted node sees exactly what was synced.
            let directory: PathBuf = data.join(format!("node-{node_id}"));
            let disk = MemoryDisk::new();
            disks.push(disk.clone());
            let slot: Slot = Arc::new(Mutex::new(None));
            slots.push(slot.clone());
            handle
                .create_node()
                .name(format!("node-{node_id}"))
                .ip(node_ip(node_id))
                .init(move || {
                    let (directory, slot) = (directory.clone(), slot.clone());
                    let environment = Simulated::new(disk.clone(), Clock::system());
                    async move {
                        let mut config = NodeConfig::new(
                            u64::from(node_id),
                            SocketAddr::new(node_ip(node_id), RAFT_PORT),
                            SocketAddr::new(node_ip(node_id), API_PORT),
                            directory,
                        );
                        config.data_center = format!("dc-{node_id}");
                        let node =
                            tianping_node::start(config, environment).await.expect("node starts");
                        *slot.lock().expect("slot") =
                            Some((node.raft().clone(), node.info().clone()));
                        // The node lives as long as its simulated machine.
                        std::future::pending::<()>().await;
                        drop(node);
                    }
                })
                .build();
        }
        SimCluster { slots, disks, data }
    }

    /// Waits for every node to start, initializes the cluster on node 1 and waits until
    /// every node knows the elected leader, which it returns.
    async fn initialize(&self) -> u64 {
        self.initialize_voters(self.slots.len()).await
    }

    /// As `initialize`, with only the first `voters` nodes as voters (the rest wait, started,
    /// to be added).
    async fn initialize_voters(&self, voters: usize) -> u64 {
        while self.slots.iter().any(|slot| slot.lock().expect("slot").is_none()) {
            madsim::time::sleep(Duration::from_millis(10)).await;
        }
        let members: BTreeMap<u64, NodeInfo> = (1..)
            .zip(&self.slots[..voters])
            .map(|(node_id, slot)| {
                let guard = slot.lock().expect("slot");
                (node_id, guard.as_ref().expect("node started").1.clone())
            })
            .collect();
        // As an operator does it: `Initialize` on node 1, which admits every member's store to
        // the new cluster (node identity) before openraft starts it.
        let members = members
            .iter()
            .map(|(node_id, info)| tianping_node::members::member(*node_id, info, true))
            .collect();
        admin(1).await.initialize(InitializeRequest { members }).await.expect("initialize");
        let first = raft_of(&self.slots[0]);
        let leader = first
            .wait(Some(CONVERGE_TIMEOUT))
            .metrics(|metrics| metrics.current_leader.is_some(), "a leader is elected")
            .await
            .expect("leader elected")
            .current_leader
            .expect("leader known");
        for slot in &self.slots[..voters] {
            raft_of(slot)
                .wait(Some(CONVERGE_TIMEOUT))
                .current_leader(leader, "every node knows the leader")
                .await
                .expect("leader known everywhere");
        }
        leader
    }

    fn slot(&self, node_id: u8) -> &Slot {
        &self.slots[usize::from(node_id - 1)]
    }

    async fn wait_applied(&self, node_id: u8, index: u64) {
        raft_of(self.slot(node_id))
            .wait(Some(CONVERGE_TIMEOUT))
            .applied_index_at_least(Some(index), "batch applied")
            .await
            .expect("applied in time");
    }

    fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

async fn client(node_id: u8) -> LedgerClient<tonic::transport::Channel> {
    LedgerClient::connect(format!("http://{}:{API_PORT}", node_ip(node_id)))
        .await
        .expect("connect to the client API")
}

fn transfer(id: &str, amount: &str) -> CreateTransfersRequest {
    CreateTransfersRequest {
        transfers: vec![NewTransfer {
            id: id.into(),
            debit_account_id: "1".into(),
            credit_account_id: "2".into(),
            amount: amount.into(),
            ledger: 156,
            code: 1,
            ..Default::default()
        }],
    }
}

/// Creates accounts 1 and 2 and moves `amount` from 1 to 2 (transfer `id`) through `node_id`;
/// the transfer batch's log index.
async fn open_accounts_and_transfer(node_id: u8, id: &str, amount: &str) -> u64 {
    let client = client(node_id).await;
    let accounts = CreateAccountsRequest { accounts: vec![account("1"), account("2")] };
    let created = write(|| {
        let (mut client, request) = (client.clone(), accounts.clone());
        async move { client.create_accounts(request).await }
    })
    .await;
    let names: Vec<&str> = created.results.iter().map(|r| r.code_name.as_str()).collect();
    assert_eq!(names, ["ok", "ok"]);
    send_transfer(node_id, id, amount).await
}

async fn send_transfer(node_id: u8, id: &str, amount: &str) -> u64 {
    let client = client(node_id).await;
    let request = transfer(id, amount);
    let moved = write(|| {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.create_transfers(request).await }
    })
    .await;
    assert_eq!(moved.results[0].code_name, "ok");
    moved.log_index
}

/// Node `node_id`'s own replica shows `moved` debited from account 1 and credited to 2.
async fn assert_balances(node_id: u8, moved: &str) {
    let found = client(node_id)
        .await
        .lookup_accounts(LookupRequest { ids: vec!["1".into(), "2".into()], read: None })
        .await
        .expect("lookup accounts")
        .into_inner()
        .accounts;
    assert_eq!(found.len(), 2, "node {node_id}");
    assert_eq!(found[0].debits_posted, moved, "node {node_id}");
    assert_eq!(found[1].credits_posted, moved, "node {node_id}");
}

/// What `scenario` returned, failing the test when it does not finish within
/// `SCENARIO_TIMEOUT` of simulated time or panics.
async fn finished<T>(scenario: madsim::task::JoinHandle<T>) -> T {
    madsim::time::timeout(SCENARIO_TIMEOUT, scenario)
        .await
        .expect("scenario finished in simulated time")
        .expect("scenario task")
}

fn client_machine(handle: &madsim::runtime::Handle) -> madsim::runtime::NodeHandle {
    handle.create_node().name("client").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))).build()
}

#[madsim::test]
async fn three_nodes_elect_a_leader_and_commit_a_batch() {
    let handle = madsim::runtime::Handle::current();
    let cluster = SimCluster::create(&handle, "smoke", NODES);
    let scenario = client_machine(&handle).spawn(async move {
        let leader = cluster.initialize().await;
        // Write through a follower: it forwards to the leader, one hop.
        let follower =
            (1..=NODES).find(|node_id| u64::from(*node_id) != leader).expect("a follower");
        let index = open_accounts_and_transfer(follower, "10", "250").await;
        // Committed means applied everywhere, eventually; every replica reads it from its own
        // memory store.
        for node_id in 1..=NODES {
            cluster.wait_applied(node_id, index).await;
            assert_balances(node_id, "250").await;
        }
        cluster.finish();
        (leader, index)
    });
    let (leader, index) = finished(scenario).await;
    println!("madsim smoke: leader {leader}, transfer batch committed at log index {index}");
}

#[madsim::test]
async fn a_crashed_leader_restarts_from_its_synced_disk_and_catches_up() {
    let handle = madsim::runtime::Handle::current();
    let cluster = SimCluster::create(&handle, "restart", NODES);
    let scenario_handle = handle.clone();
    let scenario = client_machine(&handle).spawn(async move {
        let handle = scenario_handle;
        let leader = u8::try_from(cluster.initialize().await).expect("small node id");
        let first = open_accounts_and_transfer(leader, "10", "250").await;
        // Power cut on the leader: its machine stops and every unsynced write is lost.
        handle.kill(format!("node-{leader}"));
        cluster.disks[usize::from(leader - 1)].crash();
        let survivor = (1..=NODES).find(|node_id| *node_id != leader).expect("a survivor");
        let second = send_transfer(survivor, "11", "100").await;
        assert!(second > first);
        // The restarted node boots through the same `start` on what its disk kept, and
        // catches up with what was committed while it was down.
        handle.restart(format!("node-{leader}"));
        madsim::time::sleep(Duration::from_millis(100)).await;
        while cluster.slot(leader).lock().expect("slot").is_none() {
            madsim::time::sleep(Duration::from_millis(10)).await;
        }
        for node_id in 1..=NODES {
            cluster.wait_applied(node_id, second).await;
            assert_balances(node_id, "350").await;
        }
        cluster.finish();
        (leader, second)
    });
    let (leader, index) = finished(scenario).await;
    println!("madsim restart: leader {leader} crashed, restarted, caught up to index {index}");
}

async fn admin(node_id: u64) -> AdminClient<tonic::transport::Channel> {
    let ip = node_ip(u8::try_from(node_id).expect("small node id"));
    AdminClient::connect(format!("http://{ip}:{API_PORT}")).await.expect("connect to admin")
}

/// Asks node `node_id` to remove `ids` (with `force` when given); the voters after, or the
/// refusal.
async fn remove(node_id: u64, ids: &[u64], force: Option<&str>) -> Result<Vec<u64>, tonic::Status> {
    let force = force.map(|reason| ForceChange { reason: reason.into(), actor: "sim".into() });
    let answer =
        admin(node_id).await.remove(RemoveRequest { node_ids: ids.to_vec(), force }).await?;
    let members = answer.into_inner().members;
    Ok(members.iter().filter(|member| member.voter).map(|member| member.node_id).collect())
}

/// `refused` is FAILED_PRECONDITION naming `rule`.
fn assert_refused(refused: Result<Vec<u64>, tonic::Status>, rule: &str) {
    let status = refused.expect_err(rule);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{rule}: {status:?}");
    assert!(status.message().contains(rule), "{rule}: {}", status.message());
}

#[madsim::test]
async fn unsafe_voter_changes_are_refused_and_force_with_a_reason_overrides() {
    let handle = madsim::runtime::Handle::current();
    let cluster = SimCluster::create(&handle, "membership", 5);
    let scenario_handle = handle.clone();
    let scenario = client_machine(&handle).spawn(async move {
        let handle = scenario_handle;
        let leader = cluster.initialize().await;
        let followers: Vec<u64> = (1..=5).filter(|id| *id != leader).collect();
        let (healthy, down) = (&followers[..2], &followers[2..]);
        // Three of five removed would leave two; one removed would leave four.
        assert_refused(remove(leader, &followers[..3], None).await, "fewer_than_three_voters");
        assert_refused(remove(followers[0], &followers[..1], None).await, "even_voter_count");

        // Two followers die. Removing the two healthy ones would leave the leader and the two
        // dead: a majority that cannot answer, so the joint change could never commit.
        for node_id in down {
            handle.kill(format!("node-{node_id}"));
        }
        let bound = raft_of(cluster.slot(1)).config().election_timeout_max;
        madsim::time::sleep(Duration::from_millis(bound * 2 + 200)).await;
        let refused = remove(healthy[0], healthy, None).await;
        let message = refused.as_ref().err().map(|status| status.message().to_owned());
        assert_refused(refused, "majority_not_reachable_and_caught_up");
        let not_ready = format!("not ready: {down:?}");
        assert!(message.is_some_and(|message| message.contains(&not_ready)), "{not_ready}");

        // `force` needs a reason; with one it overrides: one dead node leaves, four voters
        // (even) remain, three of them answer, and writes go on.
        let blank = remove(leader, &down[..1], Some(" ")).await.expect_err("no reason");
        assert_eq!(blank.code(), tonic::Code::InvalidArgument, "{blank:?}");
        assert_refused(remove(leader, &down[..1], None).await, "even_voter_count");
        let forced = remove(leader, &down[..1], Some("host lost")).await.expect("forced");
        let mut expected = vec![leader, healthy[0], healthy[1], down[1]];
        expected.sort_unstable();
        assert_eq!(forced, expected);
        let healthy_node = u8::try_from(healthy[0]).expect("small node id");
        open_accounts_and_transfer(healthy_node, "10", "250").await;
        // The other dead node leaves without force: three voters, all reachable.
        let after = remove(healthy[1], &down[1..], None).await.expect("removal");
        expected.retain(|id| *id != down[1]);
        assert_eq!(after, expected);
        let index = send_transfer(healthy_node, "11", "100").await;
        cluster.wait_applied(healthy_node, index).await;
        cluster.finish();
        leader
    });
    let leader = finished(scenario).await;
    println!("madsim membership: leader {leader}; unsafe removals refused, a forced one made");
}

#[madsim::test]
async fn a_learner_replaces_the_leader_in_one_change_where_promoting_it_is_refused() {
    let handle = madsim::runtime::Handle::current();
    let cluster = SimCluster::create(&handle, "replace", 4);
    let scenario = client_machine(&handle).spawn(async move {
        let leader = cluster.initialize_voters(3).await;
        let follower = if leader == 1 { 2 } else { 1 };
        let info = cluster.slot(4).lock().expect("slot").as_ref().expect("node 4").1.clone();
        let member = tianping_node::members::member(4, &info, false);
        admin(follower)
            .await
            .add_learner(AddLearnerRequest { member: Some(member) })
            .await
            .expect("add learner 4");
        let index =
            open_accounts_and_transfer(u8::try_from(follower).expect("id"), "10", "250").await;
        cluster.wait_applied(4, index).await;

        // Promoting it alone would make four voters.
        let refused = admin(follower)
            .await
            .promote(PromoteRequest { node_ids: vec![4], force: None })
            .await
            .map(|answer| answer.into_inner().members.len());
        assert_eq!(
            refused.as_ref().map_err(tonic::Status::code),
            Err(tonic::Code::FailedPrecondition)
        );
        let message = refused.expect_err("refused").message().to_owned();
        assert!(message.contains("even_voter_count"), "{message}");

        // Replacing the leader by it is one joint change: three voters before and after.
        let replace = ReplaceNodeRequest { old_node_id: leader, new_node_id: 4, force: None };
        let replaced = admin(follower)
            .await
            .replace_node(replace.clone())
            .await
            .expect("replace")
            .into_inner();
        let voters: Vec<u64> =
            replaced.members.iter().filter(|member| member.voter).map(|m| m.node_id).collect();
        let mut expected: Vec<u64> = vec![1, 2, 3, 4];
        expected.retain(|id| *id != leader);
        assert_eq!(voters, expected);
        assert_eq!(replaced.members.len(), 3, "the old leader left the membership");
        let index = send_transfer(4, "11", "100").await;
        for node_id in &expected {
            cluster.wait_applied(u8::try_from(*node_id).expect("id"), index).await;
            assert_balances(u8::try_from(*node_id).expect("id"), "350").await;
        }
        // A retry (its first answer lost) is answered: the old node is gone already.
        let mut retried = None;
        for _ in 0..100 {
            match admin(4).await.replace_node(replace.clone()).await {
                Ok(answer) => {
                    retried = Some(answer.into_inner());
                    break;
                }
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::FailedPrecondition | tonic::Code::Unavailable
                    ) =>
                {
                    madsim::time::sleep(RETRY_PAUSE).await;
                }
                Err(status) => panic!("the retried replacement was refused: {status}"),
            }
        }
        assert_eq!(retried.expect("retry answered").already_absent, vec![leader]);
        cluster.finish();
        leader
    });
    let leader = finished(scenario).await;
    println!("madsim replace: node 4 replaced leader {leader} in one membership change");
}
