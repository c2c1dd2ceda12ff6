//! [`Iso20022Gateway`]: a bank that speaks ISO 20022 XML over HTTP (paths in the module doc of
//! [`crate::bank_api`]).

use crate::bank_api::{
    NEXT_CURSOR_HEADER, NOTIFICATION_PAGE_MAX, XML_CONTENT_TYPE, checked_query_value, paths,
    unexpected_status,
};
use crate::gateway::{
    BankGateway, EndToEndId, GatewayError, NotificationCursor, NotificationPage, PayoutInstruction,
    PayoutOutcome, PayoutQuery, Statement, StatementPeriod, check_account,
};
use crate::iso20022::pain002::{Pain002Version, StatusReport};
use crate::iso20022::{XmlError, camt, pain001, pain002};
use crate::transport::{BankRequest, BankResponse, Transport};

/// A gateway to one ISO 20022 bank over a transport.
#[derive(Debug)]
pub struct Iso20022Gateway<T> {
    transport: T,
    initiating_party: String,
}

impl<T: Transport> Iso20022Gateway<T> {
    /// A gateway that sends through `transport` and names us `initiating_party` in every
    /// pain.001 (`InitgPty/Nm`).
    pub fn new(transport: T, initiating_party: &str) -> Iso20022Gateway<T> {
        Iso20022Gateway { transport, initiating_party: initiating_party.to_owned() }
    }

    /// The transport (to inspect or reconfigure it).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    async fn call(&self, request: BankRequest) -> Result<BankResponse, GatewayError> {
        Ok(self.transport.send(request).await?)
    }
}

fn body_text(response: &BankResponse) -> Result<&str, GatewayError> {
    std::str::from_utf8(&response.body).map_err(|error| {
        GatewayError::Xml(XmlError::Malformed { detail: format!("answer is not UTF-8: {error}") })
    })
}

/// Reads a pain.002 of either version the adapters know (`.10` answers a pain.001.001.09;
/// some banks answer `.12`).
fn read_status_report(text: &str) -> Result<StatusReport, XmlError> {
    match pain002::read(text, Pain002Version::V10) {
        Err(XmlError::WrongVersion { .. }) => pain002::read(text, Pain002Version::V12),
        other => other,
    }
}

/// The outcome a report gives for `end_to_end_id`; a report that does not name it settles
/// nothing.
fn outcome_in(report: &StatusReport, end_to_end_id: &EndToEndId) -> PayoutOutcome {
    report.outcome_for(end_to_end_id).unwrap_or_else(|| PayoutOutcome::Unknown {
        status: format!("the status report does not name {}", end_to_end_id.as_str()),
    })
}

impl<T: Transport> BankGateway for Iso20022Gateway<T> {
    async fn submit_payout(
        &self,
        instruction: &PayoutInstruction,
    ) -> Result<PayoutOutcome, GatewayError> {
        let document =
            pain001::write(instruction, &self.initiating_party).map_err(|error| match error {
                XmlError::Reference(reference) => GatewayError::NotSent(reference),
                other => GatewayError::Xml(other),
            })?;
        let request = BankRequest::post(
            paths::ISO_PAYMENTS.to_owned(),
            XML_CONTENT_TYPE,
            document.into_bytes(),
        );
        let response = self.call(request).await?;
        if response.status != 200 {
            return Err(unexpected_status(&response));
        }
        let report = read_status_report(body_text(&response)?)?;
        Ok(outcome_in(&report, &instruction.end_to_end_id))
    }

    async fn query_payout(&self, end_to_end_id: &EndToEndId) -> Result<PayoutQuery, GatewayError> {
        let path = format!("{}/{}", paths::ISO_PAYMENTS, end_to_end_id.as_str());
        let response = self.call(BankRequest::get(path)).await?;
        match response.status {
            404 => Ok(PayoutQuery::NotFound),
            200 => {
                let report = read_status_report(body_text(&response)?)?;
                Ok(PayoutQuery::Known(outcome_in(&report, end_to_end_id)))
            }
            _ => Err(unexpected_status(&response)),
        }
    }

    async fn fetch_notifications(
        &self,
        account: &str,
        cursor: &NotificationCursor,
        limit: usize,
    ) -> Result<NotificationPage, GatewayError> {
        check_account(account)?;
        checked_query_value("notification cursor", &cursor.0)?;
        let limit = limit.min(NOTIFICATION_PAGE_MAX);
        let path = format!(
            "{}?account={account}&cursor={}&limit={limit}",
            paths::ISO_NOTIFICATIONS,
            cursor.0
        );
        let response = self.call(BankRequest::get(path)).await?;
        if response.status != 200 {
            return Err(unexpected_status(&response));
        }
        let next_cursor = response
            .header(NEXT_CURSOR_HEADER)
            .ok_or_else(|| GatewayError::WrongAnswer {
                detail: format!("no {NEXT_CURSOR_HEADER} header"),
            })?
            .to_owned();
        let document = camt::read_notifications(body_text(&response)?)?;
        // The account as the bank named it (a document without any `Ntfctn` carries no entry:
        // the account asked for stands in).
        let named = match document.notifications.first() {
            Some(notice) => notice.account.clone(),
            None => account.to_owned(),
        };
        let mut entries = Vec::new();
        for notice in document.notifications {
            // Every `Ntfctn` must be of the account asked for: one of another account is
            // refused whole, never booked in part.
            if notice.account != account {
                return Err(GatewayError::WrongAccount {
                    asked: account.to_owned(),
                    answered: notice.account,
                });
            }
            entries.extend(notice.entries);
        }
        if entries.len() > limit {
            return Err(GatewayError::WrongAnswer {
                detail: format!("{} entries for a limit of {limit}", entries.len()),
            });
        }
        Ok(NotificationPage {
            account: named,
            entries,
            next_cursor: NotificationCursor(next_cursor),
        })
    }

    async fn fetch_statement(
        &self,
        account: &str,
        period: StatementPeriod,
    ) -> Result<Statement, GatewayError> {
        checked_query_value("account", account)?;
        let path = format!(
            "{}?account={account}&from={}&to={}",
            paths::ISO_STATEMENTS,
            period.from(),
            period.to()
        );
        let response = self.call(BankRequest::get(path)).await?;
        if response.status != 200 {
            return Err(unexpected_status(&response));
        }
        let document = camt::read_statements(body_text(&response)?)?;
        document.statements.into_iter().find(|statement| statement.account == account).ok_or_else(
            || GatewayError::WrongAnswer {
                detail: format!("the camt.053 holds no statement of account {account}"),
            },
        )
    }
}
