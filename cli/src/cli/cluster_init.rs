//! `tianping cluster initialize`: makes a new cluster of the listed voters, once.
//!
//! For deployments that start every node first and initialize afterwards from a separate
//! step (a Compose service, a Kubernetes Job, an operator at a terminal): the nodes may still
//! be starting, so the command waits for the addressed node and retries while it answers
//! UNAVAILABLE (a peer not up yet), up to `--wait`. Run again on an initialized cluster it
//! changes nothing and succeeds, saying so, so the step can run on every deployment; the
//! node itself refuses a second `Initialize` once it holds Raft state.

use std::time::{Duration, Instant};

use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::{ClusterStatusRequest, InitializeRequest, Member};
use tonic::transport::Channel;

use super::GlobalOptions;

/// Pause between attempts while the nodes come up.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Longest one Initialize call may take: the addressed node admits every other member's
/// store through its Raft port before openraft initializes.
const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(30);

/// `tianping cluster initialize` options.
#[derive(Debug, clap::Args)]
pub struct Initialize {
    /// An initial voter, as `ID,DATA_CENTER,RAFT_HOST:PORT,API_HOST:PORT` (the addresses the
    /// other nodes and clients reach it at, host names allowed), optionally followed by
    /// `,REGION`. Repeat for every voter, the addressed node included.
    #[arg(long = "member", required = true, value_name = "ID,DC,RAFT,API[,REGION]")]
    members: Vec<String>,
    /// How long to keep trying while the addressed node or its peers are not up yet.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    wait: Duration,
}

/// One `--member` value on the wire.
fn parse_member(text: &str) -> anyhow::Result<Member> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let (id, data_center, raft, api, region) = match fields.as_slice() {
        [id, dc, raft, api] => (*id, *dc, *raft, *api, ""),
        [id, dc, raft, api, region] => (*id, *dc, *raft, *api, *region),
        _ => anyhow::bail!(
            "--member {text:?}: expected ID,DATA_CENTER,RAFT_HOST:PORT,API_HOST:PORT[,REGION]"
        ),
    };
    let node_id: u64 = id
        .parse()
        .map_err(|_| anyhow::anyhow!("--member {text:?}: node id {id:?} is not a number"))?;
    for (name, address) in [("raft", raft), ("api", api)] {
        if address
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            anyhow::bail!("--member {text:?}: the {name} address {address:?} is not HOST:PORT");
        }
    }
    Ok(Member {
        node_id,
        region: region.to_owned(),
        data_center: data_center.to_owned(),
        raft_address: raft.to_owned(),
        api_address: api.to_owned(),
        voter: true,
        ..Default::default()
    })
}

/// Runs `tianping cluster initialize`.
pub async fn run(options: &GlobalOptions, initialize: Initialize) -> anyhow::Result<()> {
    let members =
        initialize.members.iter().map(|text| parse_member(text)).collect::<Result<Vec<_>, _>>()?;
    let address = super::resolve_address(options)?;
    let deadline = Instant::now() + initialize.wait;
    let last_error = loop {
        match super::admin(&address).await {
            Ok(client) => match attempt(&address, client, &members).await {
                Ok(Attempt::Done(message)) => {
                    println!("{message}");
                    return Ok(());
                }
                Ok(Attempt::Retry(error)) => {
                    if Instant::now() + RETRY_PAUSE >= deadline {
                        break error;
                    }
                    eprintln!("tianping: not yet: {error}");
                }
                Err(error) => return Err(error),
            },
            Err(error) if Instant::now() + RETRY_PAUSE < deadline => {
                eprintln!("tianping: not yet: {error:#}");
            }
            Err(error) => break error,
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    };
    Err(last_error.context(format!(
        "the cluster was not initialized within {}",
        humantime::format_duration(initialize.wait)
    )))
}

/// What one attempt came to: done (with the line to print), or worth retrying.
enum Attempt {
    Done(String),
    Retry(anyhow::Error),
}

/// Asks the node whether it belongs to a cluster already; if not, sends `Initialize`.
async fn attempt(
    address: &str,
    mut client: AdminClient<Channel>,
    members: &[Member],
) -> anyhow::Result<Attempt> {
    let status = match client.cluster_status(ClusterStatusRequest {}).await {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::Unavailable => {
            return Ok(Attempt::Retry(super::status_error(address, &status)));
        }
        Err(status) => return Err(super::status_error(address, &status)),
    };
    if !status.members.is_empty() {
        let voters = status.members.iter().filter(|member| member.voter).count();
        return Ok(Attempt::Done(format!(
            "already initialized: node {} belongs to cluster {} ({voters} voters); nothing \
             changed",
            status.node_id, status.cluster_id
        )));
    }
    let request = InitializeRequest { members: members.to_vec() };
    let call = tokio::time::timeout(INITIALIZE_TIMEOUT, client.initialize(request));
    match call.await {
        Ok(Ok(_)) => Ok(Attempt::Done(format!(
            "initialized: {} voters through node {}; `tianping cluster status` shows the leader",
            members.len(),
            status.node_id
        ))),
        Ok(Err(status)) if status.code() == tonic::Code::Unavailable => {
            Ok(Attempt::Retry(super::status_error(address, &status)))
        }
        Ok(Err(status)) => Err(super::status_error(address, &status)),
        Err(_elapsed) => Ok(Attempt::Retry(anyhow::anyhow!(
            "{address} did not answer Initialize within {} s",
            INITIALIZE_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_member;

    #[test]
    fn members_parse_with_and_without_a_region_and_bad_ones_are_named() {
        let member = parse_member("1,dc-a,tianping-1:7000,tianping-1:8000").expect("valid");
        assert_eq!(member.node_id, 1);
        assert_eq!(member.data_center, "dc-a");
        assert_eq!(member.raft_address, "tianping-1:7000");
        assert_eq!(member.api_address, "tianping-1:8000");
        assert_eq!(member.region, "");
        assert!(member.voter);
        let member = parse_member("5, dc-c, 10.0.3.5:7000, 10.0.3.5:8000, cn-east").expect("ok");
        assert_eq!((member.node_id, member.region.as_str()), (5, "cn-east"));
        for (bad, named) in [
            ("x,dc-a,h:1,h:2", "not a number"),
            ("1,dc-a,h:1", "expected ID"),
            ("1,dc-a,h,h:2", "raft address"),
            ("1,dc-a,h:1,:2", "api address"),
            ("1,dc-a,h:1,h:70000", "api address"),
        ] {
            let error = parse_member(bad).expect_err(bad).to_string();
            assert!(error.contains(named), "{bad}: {error}");
        }
    }
}
