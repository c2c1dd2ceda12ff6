//! What the worker's loops ask of the ledger, as traits: the SDK's [`Client`] implements them
//! in production; the worker's tests implement them over the ledger's own state machine on a
//! memory store, so the loops book into a real ledger (its rules, its fencing) without a
//! cluster. Nothing here decides anything: the traits are the calls, one to one.

use std::future::Future;

use tianping_client::{
    ClaimAnswer, Client, Error, EventResult, NewCollection, Payout, PayoutBatchClaim,
    RecordPayoutOutcome,
};

/// The calls of the collections poller and the callback desk: payout lookups (a return
/// waits for its payout to be final; a payout callback is answered once the payout is final)
/// and collection bookings.
pub(crate) trait CollectionsLedger: Send + Sync {
    /// The payouts of `ids` that exist.
    fn lookup_payouts(
        &self,
        ids: &[u128],
    ) -> impl Future<Output = Result<Vec<Payout>, Error>> + Send;

    /// Books `collections` as one batch; one result each, in order.
    fn book_collections(
        &self,
        collections: &[NewCollection],
    ) -> impl Future<Output = Result<Vec<EventResult>, Error>> + Send;
}

/// The calls of the payout loop on top: claims, and outcome records with the claim's fencing
/// token (a refusal is [`Error::Refused`] with the ledger's code, as the SDK answers it).
pub(crate) trait WorkerLedger: CollectionsLedger {
    /// Claims up to `claim.max` payouts of one bank with a lease, under the round's claim id
    /// (a retry answers [`ClaimAnswer::Exists`] with what the claim still holds).
    fn claim_payouts(
        &self,
        claim: PayoutBatchClaim,
    ) -> impl Future<Output = Result<ClaimAnswer, Error>> + Send;

    /// Records one outcome: `ok` or `exists`, else [`Error::Refused`].
    fn record_payout_outcome(
        &self,
        outcome: RecordPayoutOutcome,
    ) -> impl Future<Output = Result<EventResult, Error>> + Send;
}

impl CollectionsLedger for Client {
    async fn lookup_payouts(&self, ids: &[u128]) -> Result<Vec<Payout>, Error> {
        Client::lookup_payouts(self, ids).await
    }

    async fn book_collections(
        &self,
        collections: &[NewCollection],
    ) -> Result<Vec<EventResult>, Error> {
        Client::book_collections(self, collections).await
    }
}

impl WorkerLedger for Client {
    async fn claim_payouts(&self, claim: PayoutBatchClaim) -> Result<ClaimAnswer, Error> {
        Client::claim_payouts(self, claim).await
    }

    async fn record_payout_outcome(
        &self,
        outcome: RecordPayoutOutcome,
    ) -> Result<EventResult, Error> {
        Client::record_payout_outcome(self, outcome).await
    }
}
