//! `tianping cluster status|add-learner|promote|remove|replace-node|transfer-leader|preferred-dc`
//! (and `initialize`, in `cluster_init`).
//!
//! Voter changes (`promote`, `remove`, `replace-node`) are refused by the leader when the new
//! voters would be fewer than three, an even count, a majority in one data center, or not a
//! majority reachable and caught up now; `--force --reason TEXT` overrides (logged at warn).

use serde_json::json;
use tianping_proto::v1::{
    AddLearnerRequest, ClusterStatusRequest, ClusterStatusResponse, ForceChange, Member,
    MembershipResponse, PromoteRequest, RemoveRequest, ReplaceNodeRequest,
    SetPreferredLeaderDataCenterRequest, TransferLeaderRequest,
};

use super::GlobalOptions;

/// `tianping cluster …`.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Show the leader, the term and every member (data center, addresses, replication lag).
    ///
    /// Lag is what the leader knows: entries of its log a member does not hold yet. When the
    /// addressed node is a follower, the lag is asked of the leader; `lag=?` means the leader
    /// could not be asked or has not heard from that member yet.
    ///
    /// Examples:
    ///
    ///   tianping cluster status
    ///   tianping --addr 127.0.0.1:8003 cluster status --json
    #[command(verbatim_doc_comment)]
    Status,
    /// Make a new cluster of the listed voters (tianping.v1.Admin/Initialize), once.
    ///
    /// Start every node first, each with its own node_id and data directory; then run this
    /// against any one of them with every initial voter. It waits (up to --wait) while the
    /// nodes come up. On a cluster that is initialized already it changes nothing and exits
    /// 0, so a deployment may run it on every start.
    ///
    /// Example (a Compose or Kubernetes cluster, 2 + 2 + 1 voters in three data centers):
    ///
    ///   tianping --addr tianping-1:8000 cluster initialize \
    ///       --member 1,dc-a,tianping-1:7000,tianping-1:8000 \
    ///       --member 2,dc-a,tianping-2:7000,tianping-2:8000 \
    ///       --member 3,dc-b,tianping-3:7000,tianping-3:8000 \
    ///       --member 4,dc-b,tianping-4:7000,tianping-4:8000 \
    ///       --member 5,dc-c,tianping-5:7000,tianping-5:8000
    #[command(verbatim_doc_comment)]
    Initialize(super::cluster_init::Initialize),
    /// Add a node as a learner: it receives the log but does not vote yet.
    ///
    /// Start the new node first (`tianping node --config node-6.toml`, with its own
    /// node_id and addresses); then add it here. The command returns once the membership
    /// naming it is committed; the learner catches up in the background. Watch its lag with
    /// `tianping cluster status`, then swap it for a voter with `tianping cluster
    /// replace-node` (or, with a second learner, `promote` both: the voter count stays odd).
    ///
    /// Example:
    ///
    ///   tianping cluster add-learner --node-id 6 --region local --data-center dc-c \
    ///       --raft-addr 127.0.0.1:7006 --api-addr 127.0.0.1:8006
    #[command(verbatim_doc_comment)]
    AddLearner(AddLearner),
    /// Make learners voters (openraft's joint consensus: two log entries).
    ///
    /// Refused while a learner lags the leader by more than 1000 entries, and when the new
    /// voters break a rule (at least three, an odd count, no data center holding a majority,
    /// a majority reachable and caught up): promoting one learner into three voters makes
    /// four, so to swap a machine use `replace-node` instead.
    ///
    /// Example:
    ///
    ///   tianping cluster promote 6 7
    #[command(verbatim_doc_comment)]
    Promote {
        /// Node ids of learners.
        #[arg(required = true, value_name = "NODE_ID")]
        node_ids: Vec<u64>,
        #[command(flatten)]
        force: Force,
    },
    /// Remove voters or learners from the cluster.
    ///
    /// A removed node stops receiving the log; stop its process afterwards. Removing the
    /// leader is allowed: it steps down once the change commits. Removing voters is refused
    /// when the remaining voters break a rule (see `promote`); removing learners never is.
    ///
    /// Example:
    ///
    ///   tianping cluster remove 6
    #[command(verbatim_doc_comment)]
    Remove {
        /// Node ids of members.
        #[arg(required = true, value_name = "NODE_ID")]
        node_ids: Vec<u64>,
        #[command(flatten)]
        force: Force,
    },
    /// Swap a voter for a caught-up learner in one membership change.
    ///
    /// The way to replace a machine: start the new node, `add-learner` it, wait until
    /// `status` shows it caught up, then replace. Both configurations commit the one joint
    /// change, so the voter count never passes through an even number. The old node leaves
    /// the membership; stop its process afterwards. Re-running after success answers with
    /// the old node already absent.
    ///
    /// Example:
    ///
    ///   tianping cluster replace-node --old 3 --new 6
    #[command(verbatim_doc_comment)]
    ReplaceNode {
        /// The voter that leaves.
        #[arg(long, value_name = "NODE_ID")]
        old: u64,
        /// The learner that takes its place.
        #[arg(long, value_name = "NODE_ID")]
        new: u64,
        #[command(flatten)]
        force: Force,
    },
    /// Hand leadership to a voter (e.g. before restarting the leader's machine).
    ///
    /// Returns once that voter leads; fails after a few seconds if it did not take over.
    ///
    /// Example:
    ///
    ///   tianping cluster transfer-leader 3
    #[command(verbatim_doc_comment)]
    TransferLeader {
        /// The voter to lead.
        #[arg(value_name = "NODE_ID")]
        to: u64,
    },
    /// Set (or clear) the preferred leader data center on every member.
    ///
    /// A leader outside that data center hands leadership to a caught-up voter inside it
    /// (checked every second, at most once per 10 s per node). The setting lives in each
    /// node's memory: put `preferred_leader_data_center = "dc-b"` in the node TOML files to
    /// keep it across restarts. Members that cannot be reached are reported; the exit status
    /// is then 1.
    ///
    /// Examples:
    ///
    ///   tianping cluster preferred-dc dc-b
    ///   tianping cluster preferred-dc --clear
    #[command(verbatim_doc_comment)]
    PreferredDc {
        /// The data center, e.g. dc-b.
        #[arg(value_name = "DATA_CENTER", required_unless_present = "clear")]
        data_center: Option<String>,
        /// Clear the preference instead.
        #[arg(long, conflicts_with = "data_center")]
        clear: bool,
    },
}

/// Overriding the voter rules of `promote`, `remove` and `replace-node`.
#[derive(Debug, clap::Args)]
pub struct Force {
    /// Make the change even if the voter rules refuse it (e.g. shrinking to rebuild a data
    /// center). The leader logs who, why and what at warn.
    #[arg(long, requires = "reason")]
    force: bool,
    /// Why the rules do not apply (required with --force, at most 256 bytes).
    #[arg(long, requires = "force", value_name = "TEXT")]
    reason: Option<String>,
    /// Who forces (at most 256 bytes). Default: `operator:$USER`.
    #[arg(long, requires = "force", value_name = "NAME")]
    actor: Option<String>,
}

impl Force {
    /// The request's `force` field: present only with `--force`.
    fn wire(&self) -> Option<ForceChange> {
        self.force.then(|| ForceChange {
            reason: self.reason.clone().unwrap_or_default(),
            actor: self.actor.clone().unwrap_or_else(super::account_controls::default_actor),
        })
    }
}

/// `tianping cluster add-learner` options.
#[derive(Debug, clap::Args)]
pub struct AddLearner {
    /// The new node's id (its config's node_id; unique, never reused).
    #[arg(long)]
    node_id: u64,
    /// The new node's Raft address, HOST:PORT, as the other nodes reach it.
    #[arg(long, value_name = "HOST:PORT")]
    raft_addr: String,
    /// The new node's client API address, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    api_addr: String,
    /// Its region, e.g. cn-east.
    #[arg(long, default_value = "")]
    region: String,
    /// Its data center, e.g. dc-a.
    #[arg(long, default_value = "")]
    data_center: String,
}

/// Runs `tianping cluster …`.
pub async fn run(options: &GlobalOptions, command: ClusterCommand) -> anyhow::Result<()> {
    // Before connecting here: it waits for a node that may still be starting.
    if let ClusterCommand::Initialize(initialize) = command {
        return super::cluster_init::run(options, initialize).await;
    }
    let address = super::resolve_address(options)?;
    let client = super::admin(&address).await?;
    match command {
        ClusterCommand::Initialize(initialize) => {
            super::cluster_init::run(options, initialize).await
        }
        ClusterCommand::Status => status(options, &address, client).await,
        ClusterCommand::AddLearner(learner) => {
            let request = AddLearnerRequest {
                member: Some(Member {
                    node_id: learner.node_id,
                    region: learner.region,
                    data_center: learner.data_center,
                    raft_address: learner.raft_addr,
                    api_address: learner.api_addr,
                    ..Default::default()
                }),
            };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.add_learner(request).await }
            })
            .await?;
            print_membership(
                options,
                &format!("node {} added as a learner", learner.node_id),
                &response,
            )?;
            if !options.json {
                println!(
                    "it catches up in the background: watch `tianping cluster status`, then run \
                     `tianping cluster replace-node --old ID --new {}` (or promote it together \
                     with a second learner: the voter count must stay odd)",
                    learner.node_id
                );
            }
            Ok(())
        }
        ClusterCommand::Promote { node_ids, force } => {
            let request = PromoteRequest { node_ids: node_ids.clone(), force: force.wire() };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.promote(request).await }
            })
            .await?;
            print_membership(options, &format!("promoted {}", ids_text(&node_ids)), &response)
        }
        ClusterCommand::Remove { node_ids, force } => {
            let request = RemoveRequest { node_ids: node_ids.clone(), force: force.wire() };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.remove(request).await }
            })
            .await?;
            print_membership(options, &format!("removed {}", ids_text(&node_ids)), &response)
        }
        ClusterCommand::ReplaceNode { old, new, force } => {
            let request =
                ReplaceNodeRequest { old_node_id: old, new_node_id: new, force: force.wire() };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.replace_node(request).await }
            })
            .await?;
            print_membership(options, &format!("node {new} replaced node {old}"), &response)
        }
        ClusterCommand::TransferLeader { to } => {
            let request = TransferLeaderRequest { to_node_id: to };
            let response = super::request(&address, || {
                let (mut client, request) = (client.clone(), request);
                async move { client.transfer_leader(request).await }
            })
            .await?;
            if options.json {
                super::print_json(&response)
            } else {
                println!("node {} leads now (term {})", response.leader_id, response.term);
                Ok(())
            }
        }
        ClusterCommand::PreferredDc { data_center, clear } => {
            let data_center = if clear { String::new() } else { data_center.unwrap_or_default() };
            preferred_dc(options, &address, client, data_center).await
        }
    }
}

fn ids_text(ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| format!("node {id}")).collect();
    ids.join(", ")
}

fn member_line(member: &Member, leader: Option<u64>) -> String {
    let role = if Some(member.node_id) == leader {
        "leader "
    } else if member.voter {
        "voter  "
    } else {
        "learner"
    };
    let lag = if member.lag_known {
        format!("lag={} (matched {})", member.lag, member.matched_index)
    } else {
        "lag=?".to_owned()
    };
    format!(
        "  node {} {role} region={} dc={} api={} raft={} {lag}",
        member.node_id,
        display_or_dash(&member.region),
        display_or_dash(&member.data_center),
        member.api_address,
        member.raft_address
    )
}

fn display_or_dash(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

fn print_membership(
    options: &GlobalOptions,
    what: &str,
    response: &MembershipResponse,
) -> anyhow::Result<()> {
    if options.json {
        return super::print_json(response);
    }
    if !response.already_absent.is_empty() {
        println!(
            "already no members (nothing to do for them): {}",
            ids_text(&response.already_absent)
        );
    }
    println!(
        "{what} (by leader node {}, membership at log index {})",
        response.leader_id, response.log_index
    );
    for member in &response.members {
        println!("{}", member_line(member, None));
    }
    Ok(())
}

/// The addressed node's status, with lag from the leader when the node is a follower.
async fn status(
    options: &GlobalOptions,
    address: &str,
    client: tianping_proto::v1::admin_client::AdminClient<tonic::transport::Channel>,
) -> anyhow::Result<()> {
    let status = super::request(address, || {
        let mut client = client.clone();
        async move { client.cluster_status(ClusterStatusRequest {}).await }
    })
    .await?;
    let (members, lag_source) = lag_from_leader(&status).await;
    let leader = status.has_leader.then_some(status.leader_id);
    if options.json {
        return super::print_json(&json!({
            "node_id": status.node_id,
            "leader_id": leader,
            "term": status.term,
            "last_log_index": status.last_log_index,
            "applied_index": status.applied_index,
            "joint": status.joint,
            "preferred_leader_data_center": status.preferred_leader_data_center,
            "cluster_id": status.cluster_id,
            "incarnation_id": status.incarnation_id,
            "peer_clocks": status.peer_clocks,
            "lag_source": lag_source,
            "members": members,
        }));
    }
    let voters = members.iter().filter(|member| member.voter).count();
    let leader_text =
        leader.map_or_else(|| "no leader known".to_owned(), |id| format!("leader node {id}"));
    println!(
        "cluster: {leader_text}, term {}, {voters} voters, {} learners{} (answered by node {}: \
         last log index {}, applied {})",
        status.term,
        members.len() - voters,
        if status.joint { ", membership change in progress (joint)" } else { "" },
        status.node_id,
        status.last_log_index,
        status.applied_index
    );
    for member in &members {
        println!("{}", member_line(member, leader));
    }
    println!("lag: {lag_source}");
    println!(
        "identity (node {}): cluster {}, store incarnation {}",
        status.node_id,
        if status.cluster_id.is_empty() {
            "none (this node's store was admitted to no cluster: new, or its disk replaced)"
        } else {
            &status.cluster_id
        },
        status.incarnation_id
    );
    println!("{}", clocks_line(&status));
    println!(
        "preferred leader data center (node {}): {}",
        status.node_id,
        if status.preferred_leader_data_center.is_empty() {
            "none"
        } else {
            &status.preferred_leader_data_center
        }
    );
    Ok(())
}

/// The peers' clocks as the answering node last measured them, on one line.
fn clocks_line(status: &ClusterStatusResponse) -> String {
    if status.peer_clocks.is_empty() {
        return format!(
            "clocks (node {}): no peer measured (a node measures its peers' clocks while it leads)",
            status.node_id
        );
    }
    let peers: Vec<String> = status
        .peer_clocks
        .iter()
        .map(|peer| {
            format!(
                "node {} {:+} ms ±{} ms ({} ms ago{})",
                peer.node_id,
                peer.offset_ms,
                peer.uncertainty_ms,
                peer.age_ms,
                if peer.fresh { "" } else { ", stale" }
            )
        })
        .collect();
    format!("clocks (peers minus node {}): {}", status.node_id, peers.join(", "))
}

/// The members with lag: the answering node's own when it leads, else the leader's; and
/// where the lag came from, in words.
async fn lag_from_leader(status: &ClusterStatusResponse) -> (Vec<Member>, String) {
    if !status.has_leader {
        return (status.members.clone(), "unknown (no leader)".to_owned());
    }
    if status.leader_id == status.node_id {
        return (status.members.clone(), format!("from the leader, node {}", status.node_id));
    }
    let Some(leader) = status.members.iter().find(|member| member.node_id == status.leader_id)
    else {
        return (status.members.clone(), "unknown (the leader's address is not known)".to_owned());
    };
    let asked = async {
        let mut client = super::admin(&leader.api_address).await?;
        client
            .cluster_status(ClusterStatusRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|error| super::status_error(&leader.api_address, &error))
    };
    match asked.await {
        Ok(from_leader) if from_leader.node_id == status.leader_id => {
            (from_leader.members, format!("from the leader, node {}", status.leader_id))
        }
        Ok(_) => (status.members.clone(), "unknown (leadership moved; retry)".to_owned()),
        Err(error) => (status.members.clone(), format!("unknown ({error})")),
    }
}

/// Sends the preference to every member the addressed node knows.
async fn preferred_dc(
    options: &GlobalOptions,
    address: &str,
    client: tianping_proto::v1::admin_client::AdminClient<tonic::transport::Channel>,
    data_center: String,
) -> anyhow::Result<()> {
    let status = super::request(address, || {
        let mut client = client.clone();
        async move { client.cluster_status(ClusterStatusRequest {}).await }
    })
    .await?;
    if status.members.is_empty() {
        return Err(anyhow::anyhow!(
            "node {} knows no members yet (not initialized?)",
            status.node_id
        ));
    }
    if !data_center.is_empty()
        && !status.members.iter().any(|member| member.data_center == data_center)
    {
        eprintln!("tianping: warning: no member is in data center {data_center:?} yet");
    }
    let mut failures = Vec::new();
    let mut done = Vec::new();
    for member in &status.members {
        let request = SetPreferredLeaderDataCenterRequest { data_center: data_center.clone() };
        let outcome = async {
            let mut client = super::admin(&member.api_address).await?;
            client
                .set_preferred_leader_data_center(request)
                .await
                .map_err(|error| super::status_error(&member.api_address, &error))
        };
        match outcome.await {
            Ok(_) => done.push(member.node_id),
            Err(error) => failures.push(format!("node {}: {error}", member.node_id)),
        }
    }
    let shown = if data_center.is_empty() { "none" } else { data_center.as_str() };
    if options.json {
        super::print_json(&json!({
            "preferred_leader_data_center": data_center,
            "set_on": done,
            "failed": failures,
        }))?;
    } else {
        println!("preferred leader data center: {shown}; set on {}", ids_text(&done));
        for failure in &failures {
            println!("not set on {failure}");
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} of {} members were not reached",
            failures.len(),
            status.members.len()
        ))
    }
}
