//! The drills' operator: the node's admin API (`tianping.v1.Admin`) as an SRE drives it
//! through `tianping cluster …` — add a learner, promote, remove, replace a node, transfer
//! leadership, read the leader's view of each member's lag — each call sent to the members
//! in turn and retried while no leader is reachable or a change is still in flight.

use std::future::Future;
use std::time::{Duration, Instant};

use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{
    AddLearnerRequest, ClusterStatusResponse, Member, MembershipResponse, PromoteRequest,
    RemoveRequest, ReplaceNodeRequest, TransferLeaderRequest, TransferLeaderResponse,
};
use tianping_supervisor::cluster::status_of;
use tonic::transport::{Channel, Endpoint};

/// Longest one admin call may take (a membership change waits for its joint commit, a
/// leader transfer for the new leader's election).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// How long to rest between rounds over the members.
const RETRY_PAUSE: Duration = Duration::from_millis(300);

/// Longest an operation is retried before the drill gives up on it.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `call` to each of `addresses` in turn until one answers, retrying for up to
/// `OPERATION_TIMEOUT` while the answers say to retry (`UNAVAILABLE`: no leader reachable;
/// `FAILED_PRECONDITION`: a change still in flight, a learner not caught up yet;
/// `DEADLINE_EXCEEDED`, a lost connection). Any other refusal, or the last one at the
/// deadline, is returned in words.
async fn call<T, F, Fut>(addresses: &[String], what: &str, mut call: F) -> Result<T, String>
where
    F: FnMut(AdminClient<Channel>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = Instant::now() + OPERATION_TIMEOUT;
    let mut last = "no member to ask".to_owned();
    loop {
        for address in addresses {
            let endpoint = Endpoint::from_shared(format!("http://{address}"))
                .map_err(|error| format!("{what}: address {address:?}: {error}"))?
                .connect_timeout(Duration::from_secs(1));
            let admin = AdminClient::new(endpoint.connect_lazy());
            match tokio::time::timeout(CALL_TIMEOUT, call(admin)).await {
                Ok(Ok(answer)) => return Ok(answer.into_inner()),
                Ok(Err(status)) => {
                    last = format!("{:?}: {}", status.code(), status.message());
                    let retry = matches!(
                        status.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::FailedPrecondition
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Unknown
                            | tonic::Code::Cancelled
                    );
                    if !retry {
                        return Err(format!("{what}: {last}"));
                    }
                }
                Err(_) => last = format!("{address} did not answer within {CALL_TIMEOUT:?}"),
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: still refused after {OPERATION_TIMEOUT:?}: {last}"));
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Admits `member` (a started node, its Raft address the ingress in front of it) as a learner.
pub async fn add_learner(
    addresses: &[String],
    member: Member,
) -> Result<MembershipResponse, String> {
    let what = format!("AddLearner node {}", member.node_id);
    let request = AddLearnerRequest { member: Some(member) };
    call(addresses, &what, |mut admin| {
        let request = request.clone();
        async move { admin.add_learner(request).await }
    })
    .await
}

/// Asks once (through the first member that answers at all) to admit `member` as a learner,
/// without retrying a refusal: `Ok` if it was admitted, else the refusal's code. For a drill
/// that expects a refusal (a voter's id on a blank disk).
pub async fn add_learner_once(addresses: &[String], member: Member) -> Result<(), tonic::Code> {
    let request = AddLearnerRequest { member: Some(member) };
    let mut code = tonic::Code::Unavailable;
    for address in addresses {
        let Ok(endpoint) = Endpoint::from_shared(format!("http://{address}")) else { continue };
        let endpoint = endpoint.connect_timeout(Duration::from_secs(1));
        let mut admin = AdminClient::new(endpoint.connect_lazy());
        match tokio::time::timeout(CALL_TIMEOUT, admin.add_learner(request.clone())).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(status)) if status.code() == tonic::Code::Unavailable => code = status.code(),
            Ok(Err(status)) => return Err(status.code()),
            Err(_) => code = tonic::Code::DeadlineExceeded,
        }
    }
    Err(code)
}

/// Makes `node_ids` (caught-up learners) voters in one joint change.
pub async fn promote(addresses: &[String], node_ids: &[u64]) -> Result<MembershipResponse, String> {
    let request = PromoteRequest { node_ids: node_ids.to_vec(), force: None };
    call(addresses, &format!("Promote {node_ids:?}"), |mut admin| {
        let request = request.clone();
        async move { admin.promote(request).await }
    })
    .await
}

/// Removes `node_ids` from the membership in one joint change.
pub async fn remove(addresses: &[String], node_ids: &[u64]) -> Result<MembershipResponse, String> {
    let request = RemoveRequest { node_ids: node_ids.to_vec(), force: None };
    call(addresses, &format!("Remove {node_ids:?}"), |mut admin| {
        let request = request.clone();
        async move { admin.remove(request).await }
    })
    .await
}

/// Swaps voter `old` for the caught-up learner `new` in one joint change.
pub async fn replace_node(
    addresses: &[String],
    old: u64,
    new: u64,
) -> Result<MembershipResponse, String> {
    let request = ReplaceNodeRequest { old_node_id: old, new_node_id: new, force: None };
    call(addresses, &format!("ReplaceNode {old} by {new}"), |mut admin| {
        let request = request.clone();
        async move { admin.replace_node(request).await }
    })
    .await
}

/// Hands leadership to voter `to`; returns once it leads.
pub async fn transfer_leader(
    addresses: &[String],
    to: u64,
) -> Result<TransferLeaderResponse, String> {
    let request = TransferLeaderRequest { to_node_id: to };
    call(addresses, &format!("TransferLeader to {to}"), |mut admin| async move {
        admin.transfer_leader(request).await
    })
    .await
}

/// The leader's status (the one that knows each member's lag), asked through the first of
/// `addresses` that names a leader; `None` while none does or the leader does not answer.
pub async fn leader_status(addresses: &[String]) -> Option<ClusterStatusResponse> {
    for address in addresses {
        let Ok(status) = status_of(address).await else { continue };
        if !status.has_leader {
            continue;
        }
        if status.node_id == status.leader_id {
            return Some(status);
        }
        let leader = status.members.iter().find(|member| member.node_id == status.leader_id)?;
        return status_of(&leader.api_address)
            .await
            .ok()
            .filter(|status| status.has_leader && status.leader_id == status.node_id);
    }
    None
}

/// One node's membership as the history crate's `membership` check reads it: its voters,
/// learners and whether the configuration is joint (`None`: it did not answer).
pub async fn membership_view(address: &str) -> Option<(Vec<u64>, Vec<u64>, bool)> {
    let status = status_of(address).await.ok()?;
    let voters = status.members.iter().filter(|m| m.voter).map(|m| m.node_id).collect();
    let learners = status.members.iter().filter(|m| !m.voter).map(|m| m.node_id).collect();
    Some((voters, learners, status.joint))
}
