//! The ledger side of the reconciler's I/O: the reads and the one write it makes, over what
//! the cluster serves today (no ledger API of its own). A trait so the service's period runs
//! unchanged over the SDK (`serve`, the simulation) and a test's ledger in memory.
//!
//! Every read is linearizable (the SDK's default): what the reconciler reads after a write was
//! acknowledged includes it, which the balance check's cut-off relies on (`mirror`).

use std::future::Future;

use tianping_client::{Client, Cursor, HistoryFilter, PayoutQuery};
use tianping_ledger::{
    Account, EventResult, NewDiscrepancy, Payout, PayoutState, QUERY_LIMIT_MAX, Transfer,
};

/// Where a listing of final payouts stands: the last payout read, by the index the ledger
/// files final payouts under (the instant they became final, then the id).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayoutPosition {
    /// When it became final (`updated_at`, ns).
    pub updated_at: u64,
    /// The payout.
    pub payout_id: u128,
}

impl PayoutPosition {
    /// Just before everything that became final at or after `at` (ns).
    pub const fn before(at: u64) -> PayoutPosition {
        PayoutPosition { updated_at: at.saturating_sub(1), payout_id: u128::MAX }
    }

    /// Just after `payout`.
    pub const fn after(payout: &Payout) -> PayoutPosition {
        PayoutPosition { updated_at: payout.updated_at, payout_id: payout.id }
    }
}

/// What the reconciler asks of the ledger.
pub trait LedgerSide: Send + Sync {
    /// Why a call failed (the cluster unreachable, a malformed answer).
    type Error: std::error::Error + Send + Sync + 'static;

    /// At most `limit` (1..=`QUERY_LIMIT_MAX`) transfers of `account_id` with a timestamp
    /// after `after` (ns), oldest first.
    fn transfers_after(
        &self,
        account_id: u128,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Transfer>, Self::Error>> + Send;

    /// At most `limit` (1..=`QUERY_LIMIT_MAX`) payouts of `bank` in the final `state`, in
    /// the order they became final, after `after`.
    fn final_payouts_after(
        &self,
        state: PayoutState,
        bank: u32,
        after: PayoutPosition,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Payout>, Self::Error>> + Send;

    /// The accounts of `ids` that exist (any number of ids).
    fn lookup_accounts(
        &self,
        ids: &[u128],
    ) -> impl Future<Output = Result<Vec<Account>, Self::Error>> + Send;

    /// The payouts of `ids` that exist (any number of ids).
    fn lookup_payouts(
        &self,
        ids: &[u128],
    ) -> impl Future<Output = Result<Vec<Payout>, Self::Error>> + Send;

    /// The transfers of `ids` that exist (any number of ids).
    fn lookup_transfers(
        &self,
        ids: &[u128],
    ) -> impl Future<Output = Result<Vec<Transfer>, Self::Error>> + Send;

    /// Records discrepancies as one batch (at most `BATCH_EVENTS_MAX`): one result each, `ok`
    /// for a new one, `exists` for one already recorded (by this reconciler or another).
    fn record_discrepancies(
        &self,
        discrepancies: &[NewDiscrepancy],
    ) -> impl Future<Output = Result<Vec<EventResult>, Self::Error>> + Send;
}

impl LedgerSide for Client {
    type Error = tianping_client::Error;

    async fn transfers_after(
        &self,
        account_id: u128,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Transfer>, Self::Error> {
        let filter = HistoryFilter {
            account_id,
            timestamp_min: after.saturating_add(1),
            timestamp_max: u64::MAX,
            limit,
            reversed: false,
        };
        Ok(self.account_transfers(&filter, None).await?.items)
    }

    async fn final_payouts_after(
        &self,
        state: PayoutState,
        bank: u32,
        after: PayoutPosition,
        limit: usize,
    ) -> Result<Vec<Payout>, Self::Error> {
        let query = PayoutQuery { state, bank: Some(bank), limit };
        let cursor = Cursor::payouts_after(state, bank, after.updated_at, after.payout_id);
        Ok(self.list_payouts(&query, Some(&cursor)).await?.items)
    }

    async fn lookup_accounts(&self, ids: &[u128]) -> Result<Vec<Account>, Self::Error> {
        let mut found = Vec::new();
        for chunk in ids.chunks(QUERY_LIMIT_MAX) {
            found.extend(Client::lookup_accounts(self, chunk).await?);
        }
        Ok(found)
    }

    async fn lookup_payouts(&self, ids: &[u128]) -> Result<Vec<Payout>, Self::Error> {
        let mut found = Vec::new();
        for chunk in ids.chunks(QUERY_LIMIT_MAX) {
            found.extend(Client::lookup_payouts(self, chunk).await?);
        }
        Ok(found)
    }

    async fn lookup_transfers(&self, ids: &[u128]) -> Result<Vec<Transfer>, Self::Error> {
        let mut found = Vec::new();
        for chunk in ids.chunks(QUERY_LIMIT_MAX) {
            found.extend(Client::lookup_transfers(self, chunk).await?);
        }
        Ok(found)
    }

    async fn record_discrepancies(
        &self,
        discrepancies: &[NewDiscrepancy],
    ) -> Result<Vec<EventResult>, Self::Error> {
        Client::record_discrepancies(self, discrepancies).await
    }
}
