//! Reconciliation's discrepancies (`tianping.v1.Reconciliation`): reconcilers record the
//! differences they find (each outflow-blocks its accounts in the same event), operators list
//! and resolve them.
//!
//! Writes go through the one write path (`writer::Writer`), reads through the consistency
//! barrier (`reads::Reader`), as the other services' do.

use std::sync::Arc;

use tianping_ledger::DiscrepancyState;
use tianping_ledger::query::{self, DiscrepancyFilter};
use tonic::{Request, Response, Status};

use crate::reads::Reader;
use crate::writer::{Applied, Writer};
use tianping_proto::convert as pb_convert;
use tianping_proto::v1::reconciliation_client::ReconciliationClient;
use tianping_proto::v1::reconciliation_server::Reconciliation;
use tianping_proto::v1::{
    CreateEventsResponse, ListDiscrepanciesRequest, ListDiscrepanciesResponse,
    LookupDiscrepanciesResponse, LookupRequest, RecordDiscrepanciesRequest,
    ResolveDiscrepanciesRequest,
};

/// Serves `tianping.v1.Reconciliation` for one node.
pub(crate) struct ReconciliationService {
    writer: Arc<Writer>,
    reader: Arc<Reader>,
}

impl ReconciliationService {
    pub(crate) fn new(writer: Arc<Writer>, reader: Arc<Reader>) -> Self {
        ReconciliationService { writer, reader }
    }
}

fn events_response(applied: Applied) -> CreateEventsResponse {
    pb_convert::events_response(&applied.results, applied.log_index)
}

#[tonic::async_trait]
impl Reconciliation for ReconciliationService {
    async fn record_discrepancies(
        &self,
        request: Request<RecordDiscrepanciesRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::record_discrepancy_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                ReconciliationClient::new(channel).record_discrepancies(forwarded).await
            })
            .await
    }

    async fn resolve_discrepancies(
        &self,
        request: Request<ResolveDiscrepanciesRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::resolve_discrepancy_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                ReconciliationClient::new(channel).resolve_discrepancies(forwarded).await
            })
            .await
    }

    async fn lookup_discrepancies(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupDiscrepanciesResponse>, Status> {
        let ids = pb_convert::lookup_ids(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let (found, applied_index) = self
            .reader
            .read(consistency, move |ledger| {
                ids.iter()
                    .map(|id| tianping_ledger::LedgerStore::discrepancy(ledger, *id))
                    .collect::<Vec<_>>()
            })
            .await?;
        let discrepancies = found.iter().flatten().map(pb_convert::discrepancy).collect();
        Ok(Response::new(LookupDiscrepanciesResponse { discrepancies, applied_index }))
    }

    async fn list_discrepancies(
        &self,
        request: Request<ListDiscrepanciesRequest>,
    ) -> Result<Response<ListDiscrepanciesResponse>, Status> {
        let listing = pb_convert::discrepancy_listing(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let filter = DiscrepancyFilter {
            state: listing.open_only.then_some(DiscrepancyState::Open),
            bank: listing.bank,
        };
        // The query pages by the last timestamp returned; a lower bound is the cursor just
        // before it.
        let floor = listing.timestamp_min.checked_sub(1);
        let cursor = match (listing.cursor, floor) {
            (Some(cursor), Some(floor)) => Some(cursor.max(floor)),
            (cursor, floor) => cursor.or(floor),
        };
        let ((records, next), applied_index) = self
            .reader
            .read(consistency, move |ledger| {
                query::list_discrepancies(ledger, &filter, cursor, listing.limit)
            })
            .await?;
        Ok(Response::new(pb_convert::discrepancies_response(&records, next, applied_index)))
    }
}
