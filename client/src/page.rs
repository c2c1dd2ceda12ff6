//! What list calls take and give: queries, pages with their cursor, and the cluster status.

use tianping_ledger::store::PayoutIndexKey;
use tianping_ledger::{PayoutState, QUERY_LIMIT_MAX};
use tianping_proto::convert::payout_cursor;
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

    /// Where a [`crate::Client::list_payouts`] listing of `state` and `bank` continues just
    /// after the payout `payout_id` filed at `order` — its time within the state: `updated_at`
    /// for a final state, `created_at` for `reserved`, `lease_until` for a leased one.
    ///
    /// Why a caller builds one: a listing's last page says "no more" (`next` is `None`), and
    /// a caller that follows a state as it grows — the reconciler reads `succeeded` and
    /// `failed` payouts in the order they became final — must come back later to just after
    /// the last payout it read, or start at a time without scanning all history before it
    /// (`order` = that time − 1, `payout_id` = `u128::MAX`). Pass it with a query of the same
    /// state and bank.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{Cursor, PayoutQuery, PayoutState};
    ///
    /// let query = PayoutQuery { bank: Some(1), ..PayoutQuery::new(PayoutState::Succeeded) };
    /// // Payouts of bank 1 that succeeded at or after 1 764 000 000 s.
    /// let start = Cursor::payouts_after(PayoutState::Succeeded, 1, 1_764_000_000_000_000_000 - 1, u128::MAX);
    /// let page = client.list_payouts(&query, Some(&start)).await?;
    /// if let Some(last) = page.items.last() {
    ///     let resume = Cursor::payouts_after(PayoutState::Succeeded, 1, last.updated_at, last.id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn payouts_after(state: PayoutState, bank: u32, order: u64, payout_id: u128) -> Cursor {
        Cursor(payout_cursor(Some(PayoutIndexKey { state, bank, order, payout_id })))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A built cursor is one the node's listing reads back as the same index key, and refuses
    /// for another state or bank, as it refuses any cursor of another listing.
    #[test]
    fn a_built_payout_cursor_positions_the_listing() {
        let cursor = Cursor::payouts_after(PayoutState::Succeeded, 7, 1_000, 42);
        let request = |state: &str, bank: u32| pb::ListPayoutsRequest {
            state: state.to_owned(),
            bank,
            cursor: Cursor::text(Some(&cursor)).to_owned(),
            limit: 10,
            read: None,
        };
        let listing =
            tianping_proto::convert::payout_listing(&request("succeeded", 7)).expect("accepted");
        assert_eq!(
            listing.cursor,
            Some(PayoutIndexKey {
                state: PayoutState::Succeeded,
                bank: 7,
                order: 1_000,
                payout_id: 42
            })
        );
        assert!(tianping_proto::convert::payout_listing(&request("failed", 7)).is_err());
        assert!(tianping_proto::convert::payout_listing(&request("succeeded", 8)).is_err());
    }
}
