//! [`DirectGateway`]: a bank that speaks the signed direct-connect protocol (银企直连) over HTTP
//! (paths in the module doc of [`crate::bank_api`]).
//!
//! Every request is sealed with our newest signing key and a fresh nonce; every answer is
//! verified by the gateway's [`Verifier`] — the bank's keys, the app id, a timestamp window
//! around the injected [`Clock`], a nonce never seen before — before a byte of its body is
//! read, and must be an `ANSWER` (a callback or a request replayed at us is refused). A
//! refused answer is an error whose outcome is unknown, and is counted
//! ([`DirectGateway::verifier_counts`]).

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bank_api::{Clock, JSON_CONTENT_TYPE, NOTIFICATION_PAGE_MAX, paths, unexpected_status};
use crate::direct::{
    BodyError, MessageKind, PayoutRequestBody, PayoutStatusBody, Verifier, VerifierCounts,
    VerifyError, fresh_nonce, seal,
};
use crate::direct_bodies::{
    NotificationsBody, NotificationsRequestBody, PayoutQueryBody, StatementBody,
    StatementRequestBody,
};
use crate::gateway::{
    BankGateway, EndToEndId, GatewayError, NotificationCursor, NotificationPage, PayoutInstruction,
    PayoutOutcome, PayoutQuery, Statement, StatementPeriod, check_account,
};
use crate::keys::KeyRing;
use crate::transport::{BankRequest, Transport};

/// A gateway to one direct-connect bank over a transport.
pub struct DirectGateway<T> {
    transport: T,
    app_id: String,
    signing: Arc<KeyRing>,
    verifier: Verifier,
    clock: Arc<dyn Clock>,
}

impl<T> std::fmt::Debug for DirectGateway<T> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DirectGateway")
            .field("app_id", &self.app_id)
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> DirectGateway<T> {
    /// A gateway that signs with `signing` (our private keys) as `app_id`, and verifies the
    /// bank's answers with `verifier` (the bank's public keys, configured for the same app
    /// id); `clock` stamps requests and judges answers' timestamps.
    pub fn new(
        transport: T,
        app_id: &str,
        signing: Arc<KeyRing>,
        verifier: Verifier,
        clock: Arc<dyn Clock>,
    ) -> DirectGateway<T> {
        DirectGateway { transport, app_id: app_id.to_owned(), signing, verifier, clock }
    }

    /// The verifier's counters: answers accepted and refused, by reason.
    pub fn verifier_counts(&self) -> VerifierCounts {
        self.verifier.stats().snapshot()
    }

    /// The transport (to inspect or reconfigure it).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Seals `body` into a request to `path`, sends it, verifies the answer and reads its
    /// body as `A`.
    async fn call<B: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<A, GatewayError> {
        let biz_content = serde_json::to_string(body).map_err(BodyError::from)?;
        let signer = self.signing.signer()?;
        let nonce = fresh_nonce()?;
        let envelope = seal(
            signer.as_ref(),
            &self.app_id,
            MessageKind::Request,
            self.clock.now_unix_ms(),
            &nonce,
            biz_content,
        )?;
        let bytes = serde_json::to_vec(&envelope).map_err(BodyError::from)?;
        let response = self
            .transport
            .send(BankRequest::post(path.to_owned(), JSON_CONTENT_TYPE, bytes))
            .await?;
        if response.status != 200 {
            return Err(unexpected_status(&response));
        }
        let verified = self.verifier.verify(&response.body, self.clock.now_unix_ms())?;
        if verified.kind != MessageKind::Answer {
            return Err(GatewayError::Signature(VerifyError::Malformed {
                detail: format!("expected an ANSWER, got a {}", verified.kind.name()),
            }));
        }
        Ok(serde_json::from_str(&verified.biz_content).map_err(BodyError::from)?)
    }

    /// Reads a status answer and checks it is about `end_to_end_id`.
    fn status_answer(
        answer: &PayoutStatusBody,
        end_to_end_id: &EndToEndId,
    ) -> Result<PayoutQuery, GatewayError> {
        let (answered_id, query) = answer.to_query()?;
        if &answered_id != end_to_end_id {
            return Err(GatewayError::WrongAnswer {
                detail: format!(
                    "asked about {}, the answer is about {}",
                    end_to_end_id.as_str(),
                    answered_id.as_str()
                ),
            });
        }
        Ok(query)
    }
}

impl<T: Transport> BankGateway for DirectGateway<T> {
    async fn submit_payout(
        &self,
        instruction: &PayoutInstruction,
    ) -> Result<PayoutOutcome, GatewayError> {
        let body = PayoutRequestBody::from_instruction(instruction);
        let answer: PayoutStatusBody = self.call(paths::DIRECT_PAYOUTS, &body).await?;
        match Self::status_answer(&answer, &instruction.end_to_end_id)? {
            PayoutQuery::Known(outcome) => Ok(outcome),
            // The bank denies a payment it was just given: nothing is settled.
            PayoutQuery::NotFound => {
                Ok(PayoutOutcome::Unknown { status: "NOT_FOUND after submit".to_owned() })
            }
        }
    }

    async fn query_payout(&self, end_to_end_id: &EndToEndId) -> Result<PayoutQuery, GatewayError> {
        let body = PayoutQueryBody { end_to_end_id: end_to_end_id.as_str().to_owned() };
        let answer: PayoutStatusBody = self.call(paths::DIRECT_PAYOUT_QUERY, &body).await?;
        Self::status_answer(&answer, end_to_end_id)
    }

    async fn fetch_notifications(
        &self,
        account: &str,
        cursor: &NotificationCursor,
        limit: usize,
    ) -> Result<NotificationPage, GatewayError> {
        check_account(account)?;
        let limit = limit.min(NOTIFICATION_PAGE_MAX);
        let body = NotificationsRequestBody {
            account: account.to_owned(),
            cursor: cursor.0.clone(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        };
        let answer: NotificationsBody = self.call(paths::DIRECT_NOTIFICATIONS, &body).await?;
        if answer.account != account {
            return Err(GatewayError::WrongAccount {
                asked: account.to_owned(),
                answered: answer.account,
            });
        }
        if answer.entries.len() > limit {
            return Err(GatewayError::WrongAnswer {
                detail: format!("{} entries for a limit of {limit}", answer.entries.len()),
            });
        }
        Ok(answer.to_page()?)
    }

    async fn fetch_statement(
        &self,
        account: &str,
        period: StatementPeriod,
    ) -> Result<Statement, GatewayError> {
        let body = StatementRequestBody::new(account, period);
        let answer: StatementBody = self.call(paths::DIRECT_STATEMENTS, &body).await?;
        let statement = answer.to_statement()?;
        if statement.account != account {
            return Err(GatewayError::WrongAccount {
                asked: account.to_owned(),
                answered: statement.account,
            });
        }
        Ok(statement)
    }

    fn callback_verifier(&self) -> Option<Verifier> {
        Some(self.verifier.sibling())
    }
}
