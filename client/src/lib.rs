//! Tianping's Rust SDK.
//!
//! A [`Client`] talks to a cluster given a few of its nodes' client API addresses. It finds
//! the leader (`ClusterStatus`) and sends every call there, follows the leader when it moves,
//! and retries under one [`RetryPolicy`] — exponential backoff with jitter, capped by the
//! elapsed time — always resending the *same* request: ids are idempotency keys, so a write
//! applied by an attempt whose answer was lost answers `exists` when retried. Each attempt
//! carries a deadline (the gRPC timeout) and a request id (`x-request-id`, `<prefix>-<n>` or
//! the caller's own), which the nodes log and echo.
//!
//! Values are the ledger's own types ([`NewAccount`], [`NewTransfer`], [`Account`],
//! [`Transfer`], [`EventResult`], [`ResultCode`], ...), re-exported here; ids and amounts are
//! `u128`. The wire (decimal strings, names of states) stays inside `tianping-proto`.
//!
//! Security: `ClientConfig::tls` names the CA bundle, client certificate and key for mutual
//! TLS (`tianping certs dev` makes local ones); without it the client speaks plaintext, which
//! only a node started with `--insecure` accepts.
//!
//! Failures are one [`Error`] whose variants say what to do: `BadRequest` (fix the named
//! field), `OutcomeUnknown` (retry with the same ids), `Refused` (the ledger's result code, for
//! single-event calls; a state-dependent refusal spends the id — a new id is the caller's
//! decision), `Status` (another gRPC status), `Unavailable` (a read found no node).
//!
//! ```no_run
//! use tianping_client::{Client, ClientConfig, NewAccount, NewTransfer, TransferFlags};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), tianping_client::Error> {
//!     let client = Client::new(ClientConfig::new(["127.0.0.1:7001", "127.0.0.1:7002"]))?;
//!     client.create_accounts(&[
//!         NewAccount { id: 1, ledger: 1, code: 1, ..NewAccount::default() },
//!         NewAccount { id: 2, ledger: 1, code: 1, ..NewAccount::default() },
//!     ]).await?;
//!     // Reserve 100, then post it.
//!     let hold = NewTransfer {
//!         id: 10, debit_account_id: 1, credit_account_id: 2, amount: 100, ledger: 1, code: 1,
//!         flags: TransferFlags::PENDING, ..NewTransfer::default()
//!     };
//!     client.create_transfer(hold).await?;
//!     let post = NewTransfer {
//!         id: 11, pending_id: 10, ledger: 1, code: 1,
//!         flags: TransferFlags::POST_PENDING, ..NewTransfer::default()
//!     };
//!     client.create_transfer(post).await?;
//!     let account = client.lookup_account(2).await?;
//!     println!("{account:?}");
//!     Ok(())
//! }
//! ```
//!
//! Module map: `client` (`Client`, `ClientConfig`, every call), `routing` (leader finding,
//! pure), `retry` (`RetryPolicy` over `backon`), `error` (`Error`, status classification),
//! `page` (queries, pages, cursors, cluster status), `claim` (payout claims by claim id),
//! `feed` (the change feed: `Client::subscribe`, resuming across nodes).

mod claim;
mod client;
mod error;
mod feed;
mod page;
mod retry;
mod routing;

pub use claim::{ClaimAnswer, ClaimIdError, new_claim_id};
pub use client::{Client, ClientConfig};
pub use error::Error;
pub use feed::{FEED_SILENCE_MAX, FeedRecord, Subscription, parse_position};
pub use page::{AuditQuery, ClusterStatus, Cursor, DiscrepancyQuery, Member, Page, PayoutQuery};
pub use retry::RetryPolicy;
pub use tianping_ledger::feed::{FeedEvent, FeedPosition};
/// Where a client's TLS files are (`ClientConfig::tls`).
pub use tianping_tls::TlsFiles;

pub use tianping_ledger::{
    Account, AccountFlags, AccountLimitsChange, AccountStatus, AccountStatusChange, AssignSuspense,
    AuditAction, AuditRecord, BatchError, ClaimPayouts, Collection, CollectionKey, Command, Detail,
    Discrepancy, DiscrepancyClass, DiscrepancyState, EventResult, HistoryFilter, Limits,
    NewAccount, NewCollection, NewDiscrepancy, NewPayout, NewTransfer, Payout, PayoutBatchClaim,
    PayoutClaim, PayoutHistoryRecord, PayoutOutcome, PayoutState, RecordPayoutOutcome,
    ResolveDiscrepancy, ResultCode, SuspenseReason, Transfer, TransferFlags,
};
pub use tianping_proto::ReadConsistency;
/// gRPC status codes, as [`Error::Status`] and friends carry them.
pub use tonic::Code;
