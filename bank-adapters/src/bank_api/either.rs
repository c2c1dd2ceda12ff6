//! [`ProtocolGateway`]: one gateway type over both protocols. `BankGateway`'s async methods
//! rule out `dyn BankGateway`, and a worker's `run` takes one gateway type for all its banks,
//! so a worker serving an ISO 20022 bank and a direct-connect bank passes this enum — over
//! HTTP in the binary, over the simulator's network in the simulation.

use crate::bank_api::direct::DirectGateway;
use crate::bank_api::iso20022::Iso20022Gateway;
use crate::gateway::{
    BankGateway, EndToEndId, GatewayError, NotificationCursor, NotificationPage, PayoutInstruction,
    PayoutOutcome, PayoutQuery, Statement, StatementPeriod,
};
use crate::transport::Transport;

/// A gateway to one bank over transport `T`, whichever protocol the bank speaks. Boxed: the
/// two gateways differ much in size.
#[derive(Debug)]
pub enum ProtocolGateway<T> {
    /// An ISO 20022 bank.
    Iso20022(Box<Iso20022Gateway<T>>),
    /// A direct-connect bank.
    Direct(Box<DirectGateway<T>>),
}

impl<T: Transport> BankGateway for ProtocolGateway<T> {
    async fn submit_payout(
        &self,
        instruction: &PayoutInstruction,
    ) -> Result<PayoutOutcome, GatewayError> {
        match self {
            ProtocolGateway::Iso20022(gateway) => gateway.submit_payout(instruction).await,
            ProtocolGateway::Direct(gateway) => gateway.submit_payout(instruction).await,
        }
    }

    async fn query_payout(&self, end_to_end_id: &EndToEndId) -> Result<PayoutQuery, GatewayError> {
        match self {
            ProtocolGateway::Iso20022(gateway) => gateway.query_payout(end_to_end_id).await,
            ProtocolGateway::Direct(gateway) => gateway.query_payout(end_to_end_id).await,
        }
    }

    async fn fetch_notifications(
        &self,
        account: &str,
        cursor: &NotificationCursor,
        limit: usize,
    ) -> Result<NotificationPage, GatewayError> {
        match self {
            ProtocolGateway::Iso20022(gateway) => {
                gateway.fetch_notifications(account, cursor, limit).await
            }
            ProtocolGateway::Direct(gateway) => {
                gateway.fetch_notifications(account, cursor, limit).await
            }
        }
    }

    async fn fetch_statement(
        &self,
        account: &str,
        period: StatementPeriod,
    ) -> Result<Statement, GatewayError> {
        match self {
            ProtocolGateway::Iso20022(gateway) => gateway.fetch_statement(account, period).await,
            ProtocolGateway::Direct(gateway) => gateway.fetch_statement(account, period).await,
        }
    }

    fn callback_verifier(&self) -> Option<crate::direct::Verifier> {
        match self {
            ProtocolGateway::Iso20022(gateway) => gateway.callback_verifier(),
            ProtocolGateway::Direct(gateway) => gateway.callback_verifier(),
        }
    }
}
