//! Cluster members on the wire (`tianping.v1.Member`) ⇄ the Raft membership's `NodeInfo`.
//!
//! The one piece of wire conversion the server keeps: `NodeInfo` is raft-store's node record
//! in openraft's type configuration, which `tianping-proto` must never link (clients would
//! build openraft). Everything else on the wire converts in `tianping_proto::convert`.

use std::collections::BTreeMap;

use tianping_proto::InvalidField;
use tianping_proto::v1 as pb_v1;
use tianping_raft_store::{NodeId, NodeInfo};

/// A cluster member on the wire (`tianping.v1.Member`).
pub fn member(node_id: NodeId, info: &NodeInfo, voter: bool) -> pb_v1::Member {
    pb_v1::Member {
        node_id,
        region: info.region.clone(),
        data_center: info.data_center.clone(),
        raft_address: info.raft_address.clone(),
        api_address: info.api_address.clone(),
        voter,
        ..Default::default()
    }
}

/// The initial voters of an `Initialize` request: at least one, ids unique and non-zero,
/// both addresses present.
pub fn initial_members(
    request: &pb_v1::InitializeRequest,
) -> Result<BTreeMap<NodeId, NodeInfo>, InvalidField> {
    if request.members.is_empty() {
        return Err(InvalidField::new("members", "at least one member is required"));
    }
    let mut members = BTreeMap::new();
    for (index, member) in request.members.iter().enumerate() {
        let (node_id, info) = member_info(member, &format!("members[{index}]"))?;
        if members.insert(node_id, info).is_some() {
            return Err(InvalidField::new(
                format!("members[{index}].node_id"),
                "repeats an earlier member's id",
            ));
        }
    }
    Ok(members)
}

/// A member's id and `NodeInfo`, checked: id non-zero, both addresses present. `path` names
/// the member in errors (e.g. `members[2]`).
fn member_info(member: &pb_v1::Member, path: &str) -> Result<(NodeId, NodeInfo), InvalidField> {
    let invalid = |name: &str, reason: &str| InvalidField::new(format!("{path}.{name}"), reason);
    if member.node_id == 0 {
        return Err(invalid("node_id", "must not be 0"));
    }
    if member.raft_address.is_empty() {
        return Err(invalid("raft_address", "is required"));
    }
    if member.api_address.is_empty() {
        return Err(invalid("api_address", "is required"));
    }
    let info = NodeInfo {
        region: member.region.clone(),
        data_center: member.data_center.clone(),
        raft_address: member.raft_address.clone(),
        api_address: member.api_address.clone(),
    };
    Ok((member.node_id, info))
}

/// The learner an `AddLearner` request names, checked like an initial member.
pub fn learner(request: &pb_v1::AddLearnerRequest) -> Result<(NodeId, NodeInfo), InvalidField> {
    match &request.member {
        Some(member) => member_info(member, "member"),
        None => Err(InvalidField::new("member", "is required")),
    }
}
