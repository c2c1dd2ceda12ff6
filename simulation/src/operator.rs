//! The operator: cluster administration through each node's `tianping.v1.Admin` API, as a
//! person with the CLI would do it. Every call goes to a running node of the ones given (any
//! member forwards a membership change to the leader) and is retried — through UNAVAILABLE,
//! a deadline, a refused connection, or a precondition that will pass (a learner still
//! catching up, a change still in flight) — until it succeeds or `STEP_BOUND` passes, the way
//! the clients retry writes.

use std::future::Future;
use std::time::Duration;

use tianping_proto::v1::admin_client::AdminClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::world::World;

/// Deadline of one admin attempt (`TransferLeader` itself waits a few seconds).
const CALL_DEADLINE: Duration = Duration::from_secs(6);
/// Longest one operator step keeps retrying.
pub const STEP_BOUND: Duration = Duration::from_secs(60);
/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Why one attempt failed.
enum Failure {
    Connect(String),
    Status(tonic::Status),
}

/// Sends `call` to the running nodes among `targets`, one after another, until one answers
/// with success or `STEP_BOUND` passes; only a malformed request (INVALID_ARGUMENT) stops
/// early. `what` names the step in errors.
pub async fn call<T, F, Fut>(
    world: &World,
    what: &str,
    targets: &[u64],
    mut call: F,
) -> Result<T, String>
where
    F: FnMut(AdminClient<Channel>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = madsim::time::Instant::now() + STEP_BOUND;
    let mut round = 0usize;
    let mut last = String::from("no running node to ask");
    while madsim::time::Instant::now() < deadline {
        let running: Vec<u64> = targets.iter().copied().filter(|id| world.is_up(*id)).collect();
        if let Some(node) = running.get(round % running.len().max(1)).and_then(|id| world.node(*id))
        {
            round += 1;
            let url = node.api_url();
            let attempt = async {
                let client =
                    AdminClient::connect(url).await.map_err(|e| Failure::Connect(e.to_string()))?;
                call(client).await.map_err(Failure::Status)
            };
            match tianping_node::runtime::timeout(CALL_DEADLINE, attempt).await {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(Failure::Status(status))) if status.code() == Code::InvalidArgument => {
                    return Err(format!("{what}: node {} refused it: {status}", node.id));
                }
                Ok(Err(Failure::Status(status))) => {
                    last = format!("node {}: {:?} {}", node.id, status.code(), status.message());
                }
                Ok(Err(Failure::Connect(error))) => last = format!("node {}: {error}", node.id),
                Err(_) => last = format!("node {}: no answer in {CALL_DEADLINE:?}", node.id),
            }
        }
        madsim::time::sleep(RETRY_PAUSE).await;
    }
    Err(format!("{what}: did not succeed within {STEP_BOUND:?} (last: {last})"))
}
