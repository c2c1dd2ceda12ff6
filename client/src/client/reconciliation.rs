//! The SDK's reconciliation calls (`tianping.v1.Reconciliation`): a reconciler records the
//! discrepancies it finds, an operator lists and resolves them.

use tianping_ledger::{Discrepancy, EventResult, NewDiscrepancy, ResolveDiscrepancy};
use tianping_proto::convert as wire;
use tianping_proto::v1::reconciliation_client::ReconciliationClient;

use super::{Client, single};
use crate::error::{Effect, Error};
use crate::page::{Cursor, DiscrepancyQuery, Page};

impl Client {
    /// Records discrepancies, as one batch: each outflow-blocks its accounts in the same
    /// event. A discrepancy already recorded (same id, same facts) answers `exists` and blocks
    /// nothing again, so two reconcilers that find the same difference record it once.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client, found: tianping_client::NewDiscrepancy) -> Result<(), tianping_client::Error> {
    /// let results = client.record_discrepancies(&[found]).await?;
    /// println!("{}", results[0].code);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn record_discrepancies(
        &self,
        discrepancies: &[NewDiscrepancy],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::record_discrepancies_request(discrepancies);
        self.write_events(request, discrepancies.len(), |channel, request| async move {
            ReconciliationClient::new(channel).record_discrepancies(request).await
        })
        .await
    }

    /// Records one discrepancy: `ok` or `exists`, else [`Error::Refused`].
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client, found: tianping_client::NewDiscrepancy) -> Result<(), tianping_client::Error> {
    /// let result = client.record_discrepancy(found).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn record_discrepancy(
        &self,
        discrepancy: NewDiscrepancy,
    ) -> Result<EventResult, Error> {
        single(self.record_discrepancies(&[discrepancy]).await?)
    }

    /// Resolves discrepancies, as one batch (an operator's act, with a reason): each lifts the
    /// outflow blocks it set on accounts no other open discrepancy holds.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::ResolveDiscrepancy;
    ///
    /// let resolution = ResolveDiscrepancy {
    ///     id: 0x5eed,
    ///     reason: "bank rebooked the entry, ticket 812".into(),
    ///     actor: "ops:li.wei".into(),
    /// };
    /// let results = client.resolve_discrepancies(&[resolution]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn resolve_discrepancies(
        &self,
        resolutions: &[ResolveDiscrepancy],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::resolve_discrepancies_request(resolutions);
        self.write_events(request, resolutions.len(), |channel, request| async move {
            ReconciliationClient::new(channel).resolve_discrepancies(request).await
        })
        .await
    }

    /// Discrepancies by id (the ones found, in request order).
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// for discrepancy in client.lookup_discrepancies(&[0x5eed]).await? {
    ///     println!("{}: {}", discrepancy.request.class.name(), discrepancy.state.name());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lookup_discrepancies(&self, ids: &[u128]) -> Result<Vec<Discrepancy>, Error> {
        let request = wire::lookup_request(ids, self.options.read);
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                ReconciliationClient::new(channel).lookup_discrepancies(request).await
            })
            .await?;
        wire::parse_all("discrepancies", &response.discrepancies, wire::parse_discrepancy)
            .map_err(|error| Error::malformed(&address, error))
    }

    /// One page of discrepancies in recording order, oldest first.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::DiscrepancyQuery;
    ///
    /// let query = DiscrepancyQuery { open_only: true, ..DiscrepancyQuery::default() };
    /// let page = client.list_discrepancies(&query, None).await?;
    /// println!("{} open discrepancies", page.items.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_discrepancies(
        &self,
        query: &DiscrepancyQuery,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Discrepancy>, Error> {
        let listing = wire::DiscrepancyListing {
            open_only: query.open_only,
            bank: query.bank,
            timestamp_min: query.recorded_since,
            cursor: None,
            limit: query.limit,
        };
        let request =
            wire::list_discrepancies_request(&listing, Cursor::text(cursor), self.options.read)
                .map_err(Error::bad_request)?;
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                ReconciliationClient::new(channel).list_discrepancies(request).await
            })
            .await?;
        let (items, next_cursor, applied_index) = wire::parse_discrepancies_response(&response)
            .map_err(|error| Error::malformed(&address, error))?;
        Ok(Page::new(items, next_cursor, applied_index))
    }
}
