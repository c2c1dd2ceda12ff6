//! What list calls take and give: queries, pages with their cursor, and the cluster status.

use tianping_ledger::{PayoutState, QUERY_LIMIT_MAX};
use tianping_proto::v1 as pb;

/// Where the next page of a listing starts. Opaque: pass it back unchanged, with the query
/// that produced it.
///
/// ```
/// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
/// use tianping_client::AuditQuery;
///
/// let first = client.audit_records(&AuditQuery::default(), None).await?;
/// if let Some(cursor) = &first.next {
///     let second = client.audit_records(&AuditQuery::default(), Some(cursor)).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    pub(crate) fn text(cursor: Option<&Cursor>) -> &str {
        cursor.map_or("", |cursor| cursor.0.as_str())
    }
}

/// One page of a listing.
///
/// ```
/// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
/// use tianping_client::{PayoutQuery, PayoutState};
///
/// let page = client.list_payouts(&PayoutQuery::new(PayoutState::Reserved), None).await?;
/// println!("{} payouts, read at log index {}", page.items.len(), page.applied_index);
/// let more = page.next.is_some();
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The page's records, in the listing's order.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` when this was the last.
    pub next: Option<Cursor>,
    /// The read reflects the log up to at least this index.
    pub applied_index: u64,
}

impl<T> Page<T> {
    pub(crate) fn new(items: Vec<T>, next_cursor: String, applied_index: u64) -> Page<T> {
        let next = (!next_cursor.is_empty()).then_some(Cursor(next_cursor));
        Page { items, next, applied_index }
    }
}

/// Which audit records to list.
///
/// ```
/// use tianping_client::AuditQuery;
///
/// let one_account = AuditQuery { account_id: Some(42), limit: 100, ..AuditQuery::default() };
/// assert_eq!(one_account.timestamp_min, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this account's records (`None`: every account's).
    pub account_id: Option<u128>,
    /// The earliest record included (0: from the start).
    pub timestamp_min: u64,
    /// Most records scanned per page, 1..=8190.
    pub limit: usize,
}

impl Default for AuditQuery {
    /// Every account's records from the start, the largest pages.
    fn default() -> AuditQuery {
        AuditQuery { account_id: None, timestamp_min: 0, limit: QUERY_LIMIT_MAX }
    }
}

/// Which payouts to list: one state, one bank or every bank.
///
/// ```
/// use tianping_client::{PayoutQuery, PayoutState};
///
/// let stuck = PayoutQuery { bank: Some(3), ..PayoutQuery::new(PayoutState::Unknown) };
/// assert_eq!(stuck.limit, 8_190);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayoutQuery {
    /// The state listed.
    pub state: PayoutState,
    /// One bank (`None`: every bank).
    pub bank: Option<u32>,
    /// Most payouts per page, 1..=8190.
    pub limit: usize,
}

impl PayoutQuery {
    /// Every bank's payouts in `state`, the largest pages.
    ///
    /// ```
    /// use tianping_client::{PayoutQuery, PayoutState};
    ///
    /// assert_eq!(PayoutQuery::new(PayoutState::Sent).bank, None);
    /// ```
    pub fn new(state: PayoutState) -> PayoutQuery {
        PayoutQuery { state, bank: None, limit: QUERY_LIMIT_MAX }
    }
}

/// Which discrepancies [`crate::Client::list_discrepancies`] lists.
///
/// ```
/// use tianping_client::DiscrepancyQuery;
///
/// let open = DiscrepancyQuery { open_only: true, bank: Some(1), ..DiscrepancyQuery::default() };
/// assert_eq!(open.limit, 8_190);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscrepancyQuery {
    /// Only discrepancies still open.
    pub open_only: bool,
    /// One bank (`None`: every bank).
    pub bank: Option<u32>,
    /// Recorded at or after this time (ns since the Unix epoch; 0: from the start).
    pub recorded_since: u64,
    /// Most records scanned per page, 1..=8190.
    pub limit: usize,
}

impl Default for DiscrepancyQuery {
    /// Every discrepancy of every bank, the largest pages.
    fn default() -> DiscrepancyQuery {
        DiscrepancyQuery { open_only: false, bank: None, recorded_since: 0, limit: QUERY_LIMIT_MAX }
    }
}

/// A member of the cluster, as a node reports it.
///
/// ```
/// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
/// for member in client.cluster_status().await?.members {
///     println!("node {} in {} at {}", member.node_id, member.data_center, member.api_address);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The node's id.
    pub node_id: u64,
    /// Its region.
    pub region: String,
    /// Its data center.
    pub data_center: String,
    /// Its client API address (`HOST:PORT`).
    pub api_address: String,
    /// False for a learner.
    pub voter: bool,
    /// How many entries it lags the leader, when the answering node is the leader.
    pub lag: Option<u64>,
}

/// One node's view of the cluster.
///
/// ```
/// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
/// let status = client.cluster_status().await?;
/// assert!(status.leader_id.is_some() || status.members.is_empty() || true);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The node that answered.
    pub node_id: u64,
    /// The leader it knows (`None` during an election or before initialization).
    pub leader_id: Option<u64>,
    /// Its term.
    pub term: u64,
    /// Its last log index.
    pub last_log_index: u64,
    /// Its applied index.
    pub applied_index: u64,
    /// The members it knows, by node id.
    pub members: Vec<Member>,
}

impl ClusterStatus {
    pub(crate) fn from_wire(status: &pb::ClusterStatusResponse) -> ClusterStatus {
        ClusterStatus {
            node_id: status.node_id,
            leader_id: status.has_leader.then_some(status.leader_id),
            term: status.term,
            last_log_index: status.last_log_index,
            applied_index: status.applied_index,
            members: status
                .members
                .iter()
                .map(|member| Member {
                    node_id: member.node_id,
                    region: member.region.clone(),
                    data_center: member.data_center.clone(),
                    api_address: member.api_address.clone(),
                    voter: member.voter,
                    lag: member.lag_known.then_some(member.lag),
                })
                .collect(),
        }
    }
}
