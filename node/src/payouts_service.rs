//! The payout outbox and collections API (`tianping.v1.Payouts`): money out through bank
//! workers (create → claim → outcome) and money in (bank credits booked once per reference).
//!
//! Writes go through the same single write path as the ledger's (`writer::Writer`: proposed
//! on the leader, forwarded one hop otherwise); reads pass the same consistency barrier
//! (`reads::Reader`). A worker's claim is linearizable by construction (it is a log entry), so
//! two workers never hold the same payout with the same fencing token.

use std::sync::Arc;

use tianping_ledger::query;
use tonic::{Request, Response, Status};

use crate::reads::Reader;
use crate::writer::{Applied, Writer};
use tianping_proto::convert as pb_convert;
use tianping_proto::v1::payouts_client::PayoutsClient;
use tianping_proto::v1::payouts_server::Payouts;
use tianping_proto::v1::{
    AssignSuspenseRequest, BookCollectionsRequest, BookCollectionsResponse, ClaimPayoutsRequest,
    ClaimPayoutsResponse, CreateEventsResponse, CreatePayoutsRequest, ListPayoutsRequest,
    ListPayoutsResponse, ListSuspenseRequest, ListSuspenseResponse, LookupPayoutsResponse,
    LookupRequest, PayoutHistoryRequest, PayoutHistoryResponse, RecordPayoutOutcomesRequest,
};

/// Serves `tianping.v1.Payouts` for one node.
pub(crate) struct PayoutsService {
    writer: Arc<Writer>,
    reader: Arc<Reader>,
}

impl PayoutsService {
    pub(crate) fn new(writer: Arc<Writer>, reader: Arc<Reader>) -> Self {
        PayoutsService { writer, reader }
    }
}

fn events_response(applied: Applied) -> CreateEventsResponse {
    pb_convert::events_response(&applied.results, applied.log_index)
}

#[tonic::async_trait]
impl Payouts for PayoutsService {
    async fn create_payouts(
        &self,
        request: Request<CreatePayoutsRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::payout_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                PayoutsClient::new(channel).create_payouts(forwarded).await
            })
            .await
    }

    async fn claim_payouts(
        &self,
        request: Request<ClaimPayoutsRequest>,
    ) -> Result<Response<ClaimPayoutsResponse>, Status> {
        let command = pb_convert::claim_command(request.get_ref())?;
        let respond =
            |applied: Applied| pb_convert::claim_response(&applied.results, applied.log_index);
        self.writer
            .write_or_forward(request, vec![command], respond, |channel, forwarded| async move {
                PayoutsClient::new(channel).claim_payouts(forwarded).await
            })
            .await
    }

    async fn record_payout_outcomes(
        &self,
        request: Request<RecordPayoutOutcomesRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::outcome_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                PayoutsClient::new(channel).record_payout_outcomes(forwarded).await
            })
            .await
    }

    async fn book_collections(
        &self,
        request: Request<BookCollectionsRequest>,
    ) -> Result<Response<BookCollectionsResponse>, Status> {
        let commands = pb_convert::collection_commands(request.get_ref())?;
        let respond = |applied: Applied| {
            pb_convert::collections_response(&applied.results, applied.log_index)
        };
        self.writer
            .write_or_forward(request, commands, respond, |channel, forwarded| async move {
                PayoutsClient::new(channel).book_collections(forwarded).await
            })
            .await
    }

    async fn lookup_payouts(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupPayoutsResponse>, Status> {
        let ids = pb_convert::lookup_ids(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let (payouts, applied_index) = self
            .reader
            .read(consistency, move |ledger| {
                ids.iter()
                    .map(|id| tianping_ledger::LedgerStore::payout(ledger, *id))
                    .collect::<Vec<_>>()
            })
            .await?;
        let payouts = payouts.iter().flatten().map(pb_convert::payout).collect();
        Ok(Response::new(LookupPayoutsResponse { payouts, applied_index }))
    }

    async fn list_payouts(
        &self,
        request: Request<ListPayoutsRequest>,
    ) -> Result<Response<ListPayoutsResponse>, Status> {
        let listing = pb_convert::payout_listing(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let ((payouts, next), applied_index) = self
            .reader
            .read(consistency, move |ledger| {
                query::payouts_by_state(
                    ledger,
                    listing.state,
                    listing.bank,
                    listing.cursor,
                    listing.limit,
                )
            })
            .await?;
        Ok(Response::new(ListPayoutsResponse {
            payouts: payouts.iter().map(pb_convert::payout).collect(),
            next_cursor: pb_convert::payout_cursor(next),
            applied_index,
        }))
    }

    async fn get_payout_history(
        &self,
        request: Request<PayoutHistoryRequest>,
    ) -> Result<Response<PayoutHistoryResponse>, Status> {
        let listing = pb_convert::payout_history_listing(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let ((records, next), applied_index) = self
            .reader
            .read(consistency, move |ledger| {
                query::payout_history(ledger, listing.payout_id, listing.cursor, listing.limit)
            })
            .await?;
        Ok(Response::new(pb_convert::payout_history_response(&records, next, applied_index)))
    }

    async fn list_suspense(
        &self,
        request: Request<ListSuspenseRequest>,
    ) -> Result<Response<ListSuspenseResponse>, Status> {
        let listing = pb_convert::suspense_listing(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let ((collections, next), applied_index) = self
            .reader
            .read(consistency, move |ledger| {
                query::suspense_collections(ledger, listing.bank, listing.cursor, listing.limit)
            })
            .await?;
        Ok(Response::new(pb_convert::suspense_response(&collections, next, applied_index)))
    }

    async fn assign_suspense(
        &self,
        request: Request<AssignSuspenseRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::assignment_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                PayoutsClient::new(channel).assign_suspense(forwarded).await
            })
            .await
    }
}
