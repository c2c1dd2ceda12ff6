//! The client API (`tianping.v1.Ledger`): batches of commands in, one result per event out;
//! reads of accounts and of an account's history.
//!
//! Writes go through the node's one write path, `writer::Writer` (any node accepts them; a
//! follower forwards one hop to the leader). Reads pass `reads::Reader`'s consistency barrier
//! — linearizable by default, bounded staleness when the request accepts it (the rule is in
//! `reads`) — and then run on this node's replica in the state machine's task.
//!
//! Observability: the service is served wrapped in `request_id::Observed`, which gives each
//! request an id and a span; forwarding passes the id on and the leader measures each
//! proposal to its apply (`request_id::Proposal`, in `writer`).

use std::sync::Arc;

use tianping_ledger::query;
use tonic::{Request, Response, Status};

use crate::reads::Reader;
use crate::writer::{Applied, Writer};
use tianping_proto::convert as pb_convert;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::ledger_server::Ledger;
use tianping_proto::v1::{
    AccountTransfersRequest, AccountTransfersResponse, AuditRecordsRequest, AuditRecordsResponse,
    CreateAccountsRequest, CreateEventsResponse, CreateTransfersRequest, LookupAccountsResponse,
    LookupRequest, LookupTransfersResponse, SetAccountLimitsRequest, SetAccountStatusRequest,
};

/// Serves `tianping.v1.Ledger` for one node.
pub(crate) struct LedgerService {
    writer: Arc<Writer>,
    reader: Arc<Reader>,
}

impl LedgerService {
    pub(crate) fn new(writer: Arc<Writer>, reader: Arc<Reader>) -> Self {
        LedgerService { writer, reader }
    }
}

fn events_response(applied: Applied) -> CreateEventsResponse {
    pb_convert::events_response(&applied.results, applied.log_index)
}

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn create_accounts(
        &self,
        request: Request<CreateAccountsRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::account_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                LedgerClient::new(channel).create_accounts(forwarded).await
            })
            .await
    }

    async fn create_transfers(
        &self,
        request: Request<CreateTransfersRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::transfer_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                LedgerClient::new(channel).create_transfers(forwarded).await
            })
            .await
    }

    async fn set_account_status(
        &self,
        request: Request<SetAccountStatusRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::status_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                LedgerClient::new(channel).set_account_status(forwarded).await
            })
            .await
    }

    async fn set_account_limits(
        &self,
        request: Request<SetAccountLimitsRequest>,
    ) -> Result<Response<CreateEventsResponse>, Status> {
        let commands = pb_convert::limits_commands(request.get_ref())?;
        self.writer
            .write_or_forward(request, commands, events_response, |channel, forwarded| async move {
                LedgerClient::new(channel).set_account_limits(forwarded).await
            })
            .await
    }

    async fn lookup_accounts(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupAccountsResponse>, Status> {
        let ids = pb_convert::lookup_ids(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let (accounts, applied_index) = self
            .reader
            .read(consistency, move |ledger| {
                let accounts = query::lookup_accounts(ledger, &ids);
                let versions = query::controls_versions(ledger, &ids);
                accounts.into_iter().zip(versions).collect::<Vec<_>>()
            })
            .await?;
        let accounts = accounts
            .iter()
            .filter_map(|(account, version)| Some(pb_convert::account(account.as_ref()?, *version)))
            .collect();
        Ok(Response::new(LookupAccountsResponse { accounts, applied_index }))
    }

    async fn lookup_transfers(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupTransfersResponse>, Status> {
        let ids = pb_convert::lookup_ids(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let (transfers, applied_index) = self
            .reader
            .read(consistency, move |ledger| query::lookup_transfers(ledger, &ids))
            .await?;
        let transfers = transfers.iter().flatten().map(pb_convert::transfer).collect();
        Ok(Response::new(LookupTransfersResponse { transfers, applied_index }))
    }

    async fn get_account_transfers(
        &self,
        request: Request<AccountTransfersRequest>,
    ) -> Result<Response<AccountTransfersResponse>, Status> {
        let filter = pb_convert::history_filter(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let (transfers, applied_index) = self
            .reader
            .read(consistency, move |ledger| match filter {
                Some(filter) => query::account_transfers(ledger, &filter),
                None => Vec::new(),
            })
            .await?;
        let next_cursor = match filter {
            Some(filter) => pb_convert::history_cursor(&transfers, filter.limit),
            None => String::new(),
        };
        let transfers = transfers.iter().map(pb_convert::transfer).collect();
        Ok(Response::new(AccountTransfersResponse { transfers, next_cursor, applied_index }))
    }

    async fn list_audit_records(
        &self,
        request: Request<AuditRecordsRequest>,
    ) -> Result<Response<AuditRecordsResponse>, Status> {
        let listing = pb_convert::audit_listing(request.get_ref())?;
        let consistency = pb_convert::read_consistency(request.get_ref().read.as_ref());
        let (scanned, applied_index) = self
            .reader
            .read(consistency, move |ledger| match listing.timestamp_min {
                Some(timestamp_min) => query::audit_records(ledger, timestamp_min, listing.limit),
                None => Vec::new(),
            })
            .await?;
        Ok(Response::new(pb_convert::audit_response(&listing, &scanned, applied_index)))
    }
}
