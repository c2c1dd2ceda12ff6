//! The bank side of the reconciler's I/O: one call, a statement. A trait so the service's
//! period runs unchanged over the HTTP gateway (`serve`), the simulation's gateways (madsim)
//! and a test's statements in memory.

use std::future::Future;

use tianping_bank_adapters::gateway::{BankGateway, GatewayError, Statement, StatementPeriod};

/// What the reconciler asks of a bank.
pub trait BankSide: Send + Sync {
    /// The statement (camt.053) of `account` for `period`: its entries in the bank's booking
    /// order and its closing booked balance, as the bank stands at the call.
    fn statement(
        &self,
        account: &str,
        period: StatementPeriod,
    ) -> impl Future<Output = Result<Statement, GatewayError>> + Send;
}

/// Any [`BankGateway`] as a bank side: the production one (`NetworkGateway`) and the
/// simulation's.
#[derive(Debug)]
pub struct GatewayBank<G>(pub G);

impl<G: BankGateway> BankSide for GatewayBank<G> {
    async fn statement(
        &self,
        account: &str,
        period: StatementPeriod,
    ) -> Result<Statement, GatewayError> {
        self.0.fetch_statement(account, period).await
    }
}
