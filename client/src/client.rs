//! `Client`: every call of the client API, sent to the leader under the retry policy.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tianping_ledger::{
    Account, AccountLimitsChange, AccountStatusChange, AssignSuspense, AuditRecord, Collection,
    Detail, EventResult, HistoryFilter, NewAccount, NewCollection, NewPayout, NewTransfer, Payout,
    PayoutBatchClaim, PayoutHistoryRecord, QUERY_LIMIT_MAX, RecordPayoutOutcome, ResultCode,
    Transfer,
};
use tianping_proto::ReadConsistency;
use tianping_proto::convert as wire;
use tianping_proto::request_id::{REQUEST_ID_HEADER, is_valid_request_id};
use tianping_proto::v1 as pb;
use tianping_proto::v1::admin_client::AdminClient;
use tianping_proto::v1::ledger_client::LedgerClient;
use tianping_proto::v1::payouts_client::PayoutsClient;
use tianping_tls::{Channels, TlsFiles};
use tonic::transport::{Channel, Endpoint};

mod reconciliation;

use crate::claim::ClaimAnswer;
use crate::error::{Effect, Error, classify, deadline};
use crate::page::{AuditQuery, ClusterStatus, Cursor, Page, PayoutQuery};
use crate::retry::RetryPolicy;
use crate::routing::{Leader, Routing};

/// Longest a leader lookup (`ClusterStatus` to one node) may take.
const STATUS_TIMEOUT_MAX: Duration = Duration::from_secs(2);

/// How a `Client` is set up. `ClientConfig::new` gives the defaults for a list of nodes.
///
/// ```
/// use std::time::Duration;
/// use tianping_client::{ClientConfig, ReadConsistency};
///
/// let mut config = ClientConfig::new(["127.0.0.1:7001", "127.0.0.1:7002"]);
/// config.request_timeout = Duration::from_secs(3);
/// config.request_id_prefix = "billing".to_owned();
/// config.read_consistency = ReadConsistency::BoundedStaleness(Duration::from_millis(500));
/// assert_eq!(config.addresses.len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Client API addresses (`HOST:PORT`) of some of the cluster's nodes; any one that answers
    /// is enough to find the rest.
    pub addresses: Vec<String>,
    /// The deadline of each attempt (sent as the gRPC timeout, and enforced here).
    pub request_timeout: Duration,
    /// Longest a connection attempt to one node may take.
    pub connect_timeout: Duration,
    /// The retry policy of every call.
    pub retry: RetryPolicy,
    /// Request ids are `<prefix>-<n>`; printable ASCII, no spaces (see
    /// `tianping_proto::request_id`).
    pub request_id_prefix: String,
    /// The consistency of reads unless a call says otherwise.
    pub read_consistency: ReadConsistency,
    /// Mutual TLS: the CA bundle that signs the nodes' certificates, and this client's
    /// certificate and key (read again at each connection, so a rotation needs no restart).
    /// None: plaintext, which only a node started with `--insecure` accepts.
    pub tls: Option<TlsFiles>,
}

impl ClientConfig {
    /// The defaults for these nodes: 10 s per attempt, `RetryPolicy::default()`, linearizable
    /// reads, request ids `sdk-<process id>-<start time>-<n>`.
    ///
    /// ```
    /// use tianping_client::{ClientConfig, ReadConsistency};
    ///
    /// let config = ClientConfig::new(["127.0.0.1:7001"]);
    /// assert_eq!(config.read_consistency, ReadConsistency::Linearizable);
    /// assert!(config.request_id_prefix.starts_with("sdk-"));
    /// ```
    pub fn new<A: Into<String>>(addresses: impl IntoIterator<Item = A>) -> ClientConfig {
        let started_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis());
        ClientConfig {
            addresses: addresses.into_iter().map(Into::into).collect(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            retry: RetryPolicy::default(),
            request_id_prefix: format!("sdk-{:x}-{started_ms:x}", std::process::id()),
            read_consistency: ReadConsistency::Linearizable,
            tls: None,
        }
    }
}

/// What the clones of one client share: the routing, the connections, the id counter.
#[derive(Debug)]
struct Shared {
    config: ClientConfig,
    routing: Mutex<Routing>,
    channels: Mutex<HashMap<String, Channel>>,
    /// How channels are opened: TLS from `config.tls`, or plaintext.
    security: Channels,
    next_request: AtomicU64,
}

/// Per-handle settings (`with_*` makes a handle that shares everything else).
#[derive(Clone, Debug)]
struct CallOptions {
    request_id: Option<String>,
    timeout: Duration,
    read: ReadConsistency,
}

/// A client of a Tianping cluster: finds the leader, follows it when it moves, retries every
/// call under one [`RetryPolicy`] with the same ids and request id, and gives typed answers
/// ([`Error`] for the rest).
///
/// Cloning is cheap and clones share connections and the leader; `with_request_id`,
/// `with_timeout` and `with_read_consistency` make such a clone with one setting changed.
///
/// ```no_run
/// use tianping_client::{Client, ClientConfig, NewTransfer};
///
/// # async fn example() -> Result<(), tianping_client::Error> {
/// let client = Client::new(ClientConfig::new(["127.0.0.1:7001"]))?;
/// let result = client
///     .create_transfer(NewTransfer {
///         id: 1001,
///         debit_account_id: 1,
///         credit_account_id: 2,
///         amount: 2_500,
///         ledger: 1,
///         code: 1,
///         ..NewTransfer::default()
///     })
///     .await?;
/// println!("moved {:?} at {}", result.detail, result.timestamp);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
    options: CallOptions,
}

impl Client {
    /// A client of the nodes in `config`. Connects lazily: the first call finds the leader.
    /// Fails only for an unusable configuration (no address, an address that is no
    /// `HOST:PORT`, a request id prefix a node would refuse).
    ///
    /// ```
    /// use tianping_client::{Client, ClientConfig, Error};
    ///
    /// let none: [&str; 0] = [];
    /// assert!(matches!(Client::new(ClientConfig::new(none)), Err(Error::Config(_))));
    /// let mut config = ClientConfig::new(["127.0.0.1:7001"]);
    /// config.request_id_prefix = "has space".into();
    /// assert!(matches!(Client::new(config), Err(Error::Config(_))));
    /// ```
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        if config.addresses.is_empty() {
            return Err(Error::Config("no node address given".into()));
        }
        for address in &config.addresses {
            endpoint(address, config.connect_timeout)?;
        }
        if !is_valid_request_id(&format!("{}-{}", config.request_id_prefix, u64::MAX)) {
            return Err(Error::Config(format!(
                "request id prefix {:?}: with a counter it must be at most 64 printable ASCII \
                 characters without spaces",
                config.request_id_prefix
            )));
        }
        let options = CallOptions {
            request_id: None,
            timeout: config.request_timeout,
            read: config.read_consistency,
        };
        let security = Channels::from_files(config.tls.as_ref())
            .map_err(|error| Error::Config(format!("TLS: {error}")))?;
        let shared = Shared {
            routing: Mutex::new(Routing::new(config.addresses.clone())),
            channels: Mutex::new(HashMap::new()),
            security,
            next_request: AtomicU64::new(1),
            config,
        };
        Ok(Client { shared: Arc::new(shared), options })
    }

    /// A handle whose calls carry `request_id` as `x-request-id` (every attempt of every call
    /// made through it) instead of a generated one. Refused unless a node would accept it.
    ///
    /// ```
    /// # fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// let traced = client.with_request_id("order-42-capture")?;
    /// assert!(client.with_request_id("two words").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_request_id(&self, request_id: &str) -> Result<Client, Error> {
        if !is_valid_request_id(request_id) {
            return Err(Error::BadRequest {
                field: REQUEST_ID_HEADER.into(),
                reason: format!("{request_id:?} is not 1 to 64 printable ASCII characters"),
            });
        }
        let mut handle = self.clone();
        handle.options.request_id = Some(request_id.to_owned());
        Ok(handle)
    }

    /// A handle whose attempts each have this deadline.
    ///
    /// ```
    /// # fn example(client: tianping_client::Client) {
    /// let hurried = client.with_timeout(std::time::Duration::from_millis(500));
    /// # }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        let mut handle = self.clone();
        handle.options.timeout = timeout;
        handle
    }

    /// A handle whose reads have this consistency (linearizable unless the config said
    /// otherwise).
    ///
    /// ```
    /// # fn example(client: tianping_client::Client) {
    /// use std::time::Duration;
    /// use tianping_client::ReadConsistency;
    ///
    /// let relaxed =
    ///     client.with_read_consistency(ReadConsistency::BoundedStaleness(Duration::from_secs(1)));
    /// # }
    /// ```
    pub fn with_read_consistency(&self, read: ReadConsistency) -> Client {
        let mut handle = self.clone();
        handle.options.read = read;
        handle
    }

    /// The leader this client sends to now (node id and client address), if it knows one.
    ///
    /// ```
    /// # fn example(client: tianping_client::Client) {
    /// if let Some((node_id, address)) = client.leader() {
    ///     println!("sending to node {node_id} at {address}");
    /// }
    /// # }
    /// ```
    pub fn leader(&self) -> Option<(u64, String)> {
        let routing = self.shared.routing.lock().ok()?;
        routing.leader().map(|leader| (leader.node_id, leader.address.clone()))
    }

    // -------------------------------------------------------------------------------------
    // Accounts.

    /// Creates accounts as one batch; one result per account, in order (`ok`, `exists`, or
    /// the refusal's code).
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{AccountFlags, NewAccount};
    ///
    /// let customer = NewAccount {
    ///     id: 1,
    ///     ledger: 1,
    ///     code: 10,
    ///     flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    ///     ..NewAccount::default()
    /// };
    /// let bank = NewAccount { id: 2, ledger: 1, code: 20, ..NewAccount::default() };
    /// for result in client.create_accounts(&[customer, bank]).await? {
    ///     println!("{:?}", result.code);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_accounts(
        &self,
        accounts: &[NewAccount],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::create_accounts_request(accounts);
        self.write_events(request, accounts.len(), |channel, request| async move {
            LedgerClient::new(channel).create_accounts(request).await
        })
        .await
    }

    /// Creates one account: `ok` or `exists` (same id, same fields), else
    /// [`Error::Refused`].
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::NewAccount;
    ///
    /// client.create_account(NewAccount { id: 7, ledger: 1, code: 10, ..NewAccount::default() }).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_account(&self, account: NewAccount) -> Result<EventResult, Error> {
        single(self.create_accounts(&[account]).await?)
    }

    /// Accounts by id, found ones only, in request order.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// for account in client.lookup_accounts(&[1, 2]).await? {
    ///     println!("{}: {} posted credits", account.id, account.credits_posted);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lookup_accounts(&self, ids: &[u128]) -> Result<Vec<Account>, Error> {
        let (address, response) = self.lookup_accounts_on_the_wire(ids).await?;
        wire::parse_all("accounts", &response.accounts, wire::parse_account)
            .map_err(|error| Error::malformed(&address, error))
    }

    /// `lookup_accounts`, with the log index the read reflects (every entry up to at least
    /// that index): what a view built from reads (the feed's Redis publisher) records beside
    /// the balances.
    pub async fn lookup_accounts_applied(
        &self,
        ids: &[u128],
    ) -> Result<(Vec<Account>, u64), Error> {
        let (address, response) = self.lookup_accounts_on_the_wire(ids).await?;
        let accounts = wire::parse_all("accounts", &response.accounts, wire::parse_account)
            .map_err(|error| Error::malformed(&address, error))?;
        Ok((accounts, response.applied_index))
    }

    /// The `LookupAccounts` answer as it came, and from where.
    async fn lookup_accounts_on_the_wire(
        &self,
        ids: &[u128],
    ) -> Result<(String, pb::LookupAccountsResponse), Error> {
        let request = wire::lookup_request(ids, self.options.read);
        self.call(Effect::Read, request, |channel, request| async move {
            LedgerClient::new(channel).lookup_accounts(request).await
        })
        .await
    }

    /// One account, or `None` when no account has this id.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// if let Some(account) = client.lookup_account(1).await? {
    ///     let available = account.credits_posted - account.debits_posted - account.debits_pending;
    ///     println!("available: {available}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lookup_account(&self, id: u128) -> Result<Option<Account>, Error> {
        Ok(self.lookup_accounts(&[id]).await?.into_iter().find(|account| account.id == id))
    }

    // -------------------------------------------------------------------------------------
    // Transfers.

    /// Creates transfers as one batch — single-phase, pending (`TransferFlags::PENDING`),
    /// post (`POST_PENDING`) or void (`VOID_PENDING`), linked chains — one result per
    /// transfer, in order.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{NewTransfer, ResultCode};
    ///
    /// let fee = NewTransfer {
    ///     id: 501,
    ///     debit_account_id: 1,
    ///     credit_account_id: 3,
    ///     amount: 30,
    ///     ledger: 1,
    ///     code: 2,
    ///     ..NewTransfer::default()
    /// };
    /// let results = client.create_transfers(&[fee]).await?;
    /// assert!(matches!(results[0].code, ResultCode::Ok | ResultCode::Exists) || true);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_transfers(
        &self,
        transfers: &[NewTransfer],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::create_transfers_request(transfers);
        self.write_events(request, transfers.len(), |channel, request| async move {
            LedgerClient::new(channel).create_transfers(request).await
        })
        .await
    }

    /// Creates one transfer: `ok` or `exists` (its detail is the amount moved or reserved),
    /// else [`Error::Refused`] with the ledger's code.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{Detail, Error, NewTransfer, ResultCode};
    ///
    /// let transfer = NewTransfer {
    ///     id: 1001,
    ///     debit_account_id: 1,
    ///     credit_account_id: 2,
    ///     amount: 2_500,
    ///     ledger: 1,
    ///     code: 1,
    ///     ..NewTransfer::default()
    /// };
    /// match client.create_transfer(transfer).await {
    ///     Ok(result) => assert_eq!(result.detail, Detail::Amount(2_500)),
    ///     Err(Error::Refused { code: ResultCode::ExceedsCredits, .. }) => println!("no funds"),
    ///     Err(error) => return Err(error),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_transfer(&self, transfer: NewTransfer) -> Result<EventResult, Error> {
        single(self.create_transfers(&[transfer]).await?)
    }

    /// Creates transfers like [`Client::create_transfers`], and names the Raft log index of
    /// the entry that holds them: what a drill's history records beside each answer, so a
    /// violation can say where an acknowledged write should have been.
    pub async fn create_transfers_logged(
        &self,
        transfers: &[NewTransfer],
    ) -> Result<(Vec<EventResult>, u64), Error> {
        let request = wire::create_transfers_request(transfers);
        self.write_events_logged(request, transfers.len(), |channel, request| async move {
            LedgerClient::new(channel).create_transfers(request).await
        })
        .await
    }

    /// Transfers by id, found ones only, in request order.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// let found = client.lookup_transfers(&[1001, 1002]).await?;
    /// println!("{} of 2 found", found.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lookup_transfers(&self, ids: &[u128]) -> Result<Vec<Transfer>, Error> {
        let request = wire::lookup_request(ids, self.options.read);
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                LedgerClient::new(channel).lookup_transfers(request).await
            })
            .await?;
        wire::parse_all("transfers", &response.transfers, wire::parse_transfer)
            .map_err(|error| Error::malformed(&address, error))
    }

    /// One transfer, or `None`.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// let transfer = client.lookup_transfer(1001).await?;
    /// println!("{transfer:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lookup_transfer(&self, id: u128) -> Result<Option<Transfer>, Error> {
        Ok(self.lookup_transfers(&[id]).await?.into_iter().find(|transfer| transfer.id == id))
    }

    /// One page of an account's transfers in time order (`filter.reversed`: newest first).
    /// `filter.timestamp_max == u64::MAX` means no upper bound; `filter.limit` is 1..=8190.
    /// Pass the page's `next` cursor back, with the same filter, for the next page.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::HistoryFilter;
    ///
    /// let filter = HistoryFilter {
    ///     account_id: 1,
    ///     timestamp_min: 0,
    ///     timestamp_max: u64::MAX,
    ///     limit: 100,
    ///     reversed: true,
    /// };
    /// let mut cursor = None;
    /// loop {
    ///     let page = client.account_transfers(&filter, cursor.as_ref()).await?;
    ///     for transfer in &page.items {
    ///         println!("{} {}", transfer.timestamp, transfer.amount);
    ///     }
    ///     match page.next {
    ///         Some(next) => cursor = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn account_transfers(
        &self,
        filter: &HistoryFilter,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Transfer>, Error> {
        let request =
            wire::account_transfers_request(filter, Cursor::text(cursor), self.options.read)
                .map_err(Error::bad_request)?;
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                LedgerClient::new(channel).get_account_transfers(request).await
            })
            .await?;
        let items = wire::parse_all("transfers", &response.transfers, wire::parse_transfer)
            .map_err(|error| Error::malformed(&address, error))?;
        Ok(Page::new(items, response.next_cursor, response.applied_index))
    }

    // -------------------------------------------------------------------------------------
    // Account controls.

    /// An account's controls version (`None` when no account has this id): how many times
    /// its status and limits changed, the version a status or limits change is decided on.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// if let Some(version) = client.controls_version(1).await? {
    ///     println!("account 1's controls changed {version} times");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn controls_version(&self, account_id: u128) -> Result<Option<u64>, Error> {
        let (address, response) = self.lookup_accounts_on_the_wire(&[account_id]).await?;
        for (index, account) in response.accounts.iter().enumerate() {
            let found = wire::parse_account(&format!("accounts[{index}]"), account)
                .map_err(|error| Error::malformed(&address, error))?;
            if found.id == account_id {
                return Ok(Some(account.controls_version));
            }
        }
        Ok(None)
    }

    /// Changes accounts' status (block, unblock, freeze, close), audited, as one batch. Each
    /// change carries its own id (a retry, by this client or by hand, answers `exists`) and
    /// the controls version it was decided on ([`Client::controls_version`]): if the account's
    /// controls changed since, it is refused `controls_version_stale` and changes nothing.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{AccountStatus, AccountStatusChange};
    ///
    /// let version = client.controls_version(1).await?.unwrap_or(0);
    /// let freeze = AccountStatusChange {
    ///     id: 0x5eed_2024_0017,
    ///     account_id: 1,
    ///     expected_controls_version: version,
    ///     status: AccountStatus::Frozen,
    ///     reason: "court order 2024-17".into(),
    ///     actor: "ops:alice".into(),
    /// };
    /// client.set_account_status(&[freeze]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_account_status(
        &self,
        changes: &[AccountStatusChange],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::set_account_status_request(changes);
        self.write_events(request, changes.len(), |channel, request| async move {
            LedgerClient::new(channel).set_account_status(request).await
        })
        .await
    }

    /// Replaces accounts' outflow limits (`Limits::NONE` lifts them), audited, as one batch;
    /// each change once, and only over the controls version it names (see
    /// [`Client::set_account_status`]).
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{AccountLimitsChange, Limits};
    ///
    /// let limits = Limits { per_day_amount_max: Some(1_000_000), ..Limits::NONE };
    /// let change = AccountLimitsChange {
    ///     id: 0x5eed_2024_0018,
    ///     account_id: 1,
    ///     expected_controls_version: client.controls_version(1).await?.unwrap_or(0),
    ///     limits,
    ///     reason: "new customer".into(),
    ///     actor: "risk".into(),
    /// };
    /// client.set_account_limits(&[change]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_account_limits(
        &self,
        changes: &[AccountLimitsChange],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::set_account_limits_request(changes);
        self.write_events(request, changes.len(), |channel, request| async move {
            LedgerClient::new(channel).set_account_limits(request).await
        })
        .await
    }

    /// One page of audit records (status and limits changes) in time order. A page may hold
    /// fewer records than the limit when filtered by account: follow `next`.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::AuditQuery;
    ///
    /// let query = AuditQuery { account_id: Some(1), ..AuditQuery::default() };
    /// let page = client.audit_records(&query, None).await?;
    /// for record in page.items {
    ///     println!("{} {:?} by {}: {}", record.timestamp, record.action, record.actor, record.reason);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn audit_records(
        &self,
        query: &AuditQuery,
        cursor: Option<&Cursor>,
    ) -> Result<Page<AuditRecord>, Error> {
        let request = wire::audit_records_request(
            query.account_id,
            query.timestamp_min,
            query.limit,
            Cursor::text(cursor),
            self.options.read,
        )
        .map_err(Error::bad_request)?;
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                LedgerClient::new(channel).list_audit_records(request).await
            })
            .await?;
        let items = wire::parse_all("records", &response.records, wire::parse_audit_record)
            .map_err(|error| Error::malformed(&address, error))?;
        Ok(Page::new(items, response.next_cursor, response.applied_index))
    }

    // -------------------------------------------------------------------------------------
    // Payouts and collections.

    /// Reserves funds and records payouts as one batch; one result per payout.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::NewPayout;
    ///
    /// let payout = NewPayout {
    ///     id: 9001,
    ///     debit_account_id: 1,
    ///     credit_account_id: 4,
    ///     amount: 10_000,
    ///     ledger: 1,
    ///     code: 3,
    ///     bank: 1,
    ///     beneficiary: "DE89370400440532013000".into(),
    ///     ..NewPayout::default()
    /// };
    /// let results = client.create_payouts(&[payout]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_payouts(&self, payouts: &[NewPayout]) -> Result<Vec<EventResult>, Error> {
        let request = wire::create_payouts_request(payouts);
        self.write_events(request, payouts.len(), |channel, request| async move {
            PayoutsClient::new(channel).create_payouts(request).await
        })
        .await
    }

    /// Creates one payout: `ok` or `exists`, else [`Error::Refused`].
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client, payout: tianping_client::NewPayout) -> Result<(), tianping_client::Error> {
    /// let reserved = client.create_payout(payout).await?;
    /// println!("reserved {:?}", reserved.detail);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_payout(&self, payout: NewPayout) -> Result<EventResult, Error> {
        single(self.create_payouts(&[payout]).await?)
    }

    /// Payouts by id, found ones only, in request order.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// for payout in client.lookup_payouts(&[9001]).await? {
    ///     println!("{}: {:?}", payout.id, payout.state);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lookup_payouts(&self, ids: &[u128]) -> Result<Vec<Payout>, Error> {
        let request = wire::lookup_request(ids, self.options.read);
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                PayoutsClient::new(channel).lookup_payouts(request).await
            })
            .await?;
        wire::parse_all("payouts", &response.payouts, wire::parse_payout)
            .map_err(|error| Error::malformed(&address, error))
    }

    /// One payout, or `None`.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// let payout = client.get_payout(9001).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_payout(&self, id: u128) -> Result<Option<Payout>, Error> {
        Ok(self.lookup_payouts(&[id]).await?.into_iter().find(|payout| payout.id == id))
    }

    /// One page of the payouts in a state (of one bank or every bank).
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{PayoutQuery, PayoutState};
    ///
    /// let query = PayoutQuery { state: PayoutState::Unknown, bank: Some(1), limit: 50 };
    /// let page = client.list_payouts(&query, None).await?;
    /// println!("{} payouts to inquire about", page.items.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_payouts(
        &self,
        query: &PayoutQuery,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Payout>, Error> {
        let request = wire::list_payouts_request(
            query.state,
            query.bank,
            query.limit,
            Cursor::text(cursor),
            self.options.read,
        )
        .map_err(Error::bad_request)?;
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                PayoutsClient::new(channel).list_payouts(request).await
            })
            .await?;
        let items = wire::parse_all("payouts", &response.payouts, wire::parse_payout)
            .map_err(|error| Error::malformed(&address, error))?;
        Ok(Page::new(items, response.next_cursor, response.applied_index))
    }

    /// A worker claims up to `claim.max` payouts of one bank for `claim.lease_ms`, under
    /// `claim.claim_id`, the id of its claim round ([`new_claim_id`](crate::new_claim_id));
    /// each claim has its fencing token (`payout.fencing_token`) and says whether to ask the
    /// bank before any resend (`must_inquire_first`). A refused claim is [`Error::Refused`]
    /// (`exists_with_different_claim`: the id was used with other fields).
    ///
    /// A claim whose answer was lost is retried with the same claim id, by this client's
    /// retries and by the caller while the lease could still run: it answers
    /// [`ClaimAnswer::Exists`] with the payouts the first attempt claimed and still holds
    /// (same tokens), so the worker drives them at once instead of claiming a second batch.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use tianping_client::{PayoutBatchClaim, new_claim_id};
    ///
    /// let round = PayoutBatchClaim {
    ///     claim_id: new_claim_id()?,
    ///     worker_id: 77,
    ///     bank: 1,
    ///     max: 16,
    ///     lease_ms: 30_000,
    /// };
    /// for claim in client.claim_payouts(round).await?.into_claims() {
    ///     println!("{} token {}", claim.payout.id, claim.payout.fencing_token);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn claim_payouts(&self, claim: PayoutBatchClaim) -> Result<ClaimAnswer, Error> {
        let request = wire::claim_payouts_request(&claim);
        let (address, response) = self
            .call(Effect::Write, request, |channel, request| async move {
                PayoutsClient::new(channel).claim_payouts(request).await
            })
            .await?;
        let (result, _log_index) = wire::parse_claim_response(&response)
            .map_err(|error| Error::malformed(&address, error))?;
        match (result.code, result.detail) {
            (ResultCode::Ok, Detail::Claims(claims)) => Ok(ClaimAnswer::Claimed(claims)),
            (ResultCode::Exists, Detail::Claims(claims)) => Ok(ClaimAnswer::Exists(claims)),
            (code, _) => Err(Error::Refused { code, timestamp: result.timestamp }),
        }
    }

    /// Records what the bank did with claimed payouts, as one batch; one result per outcome.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::{PayoutOutcome, RecordPayoutOutcome};
    ///
    /// let done = RecordPayoutOutcome {
    ///     payout_id: 9001,
    ///     worker_id: 77,
    ///     fencing_token: 1,
    ///     outcome: PayoutOutcome::Succeeded,
    /// };
    /// client.record_payout_outcomes(&[done]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn record_payout_outcomes(
        &self,
        outcomes: &[RecordPayoutOutcome],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::record_payout_outcomes_request(outcomes);
        self.write_events(request, outcomes.len(), |channel, request| async move {
            PayoutsClient::new(channel).record_payout_outcomes(request).await
        })
        .await
    }

    /// Records one payout outcome: `ok` or `exists`, else [`Error::Refused`] (a stale
    /// fencing token, another worker's claim, an expired lease).
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client, report: tianping_client::RecordPayoutOutcome) -> Result<(), tianping_client::Error> {
    /// client.record_payout_outcome(report).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn record_payout_outcome(
        &self,
        outcome: RecordPayoutOutcome,
    ) -> Result<EventResult, Error> {
        single(self.record_payout_outcomes(&[outcome]).await?)
    }

    /// Books bank credits, once per `(bank, bank_reference)`, as one batch. A booked
    /// collection's detail is `Detail::Collection` (the account credited, and why it went to
    /// suspense if it did).
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::NewCollection;
    ///
    /// let credit = NewCollection {
    ///     id: 7001,
    ///     bank: 1,
    ///     bank_reference: "CAMT-2024-000123".into(),
    ///     beneficiary_account_id: 1,
    ///     settlement_account_id: 5,
    ///     suspense_account_id: 6,
    ///     amount: 12_000,
    ///     ledger: 1,
    ///     code: 4,
    ///     ..NewCollection::default()
    /// };
    /// let results = client.book_collections(&[credit]).await?;
    /// println!("{:?}", results[0].detail);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn book_collections(
        &self,
        collections: &[NewCollection],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::book_collections_request(collections);
        let events = collections.len();
        let (address, response) = self
            .call(Effect::Write, request, |channel, request| async move {
                PayoutsClient::new(channel).book_collections(request).await
            })
            .await?;
        let (results, _log_index) = wire::parse_collections_response(&response, events)
            .map_err(|error| Error::malformed(&address, error))?;
        Ok(results)
    }

    /// Books one bank credit: `ok` or `exists`, else [`Error::Refused`].
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client, credit: tianping_client::NewCollection) -> Result<(), tianping_client::Error> {
    /// let booked = client.book_collection(credit).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn book_collection(&self, collection: NewCollection) -> Result<EventResult, Error> {
        single(self.book_collections(&[collection]).await?)
    }

    /// A payout's whole history, oldest first: created (reserved), each claim with its worker,
    /// fencing token and lease, each recorded outcome — what `tianping payout show` tells.
    /// Read page by page (`QUERY_LIMIT_MAX` records each; a payout changes state only a
    /// handful of times); empty for an unknown payout.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// for change in client.payout_history(9001).await? {
    ///     println!(
    ///         "{} {:?} worker {} token {}",
    ///         change.timestamp, change.state, change.worker_id, change.fencing_token
    ///     );
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn payout_history(&self, payout_id: u128) -> Result<Vec<PayoutHistoryRecord>, Error> {
        let mut records = Vec::new();
        let mut cursor = None;
        loop {
            let page =
                self.payout_history_page(payout_id, QUERY_LIMIT_MAX, cursor.as_ref()).await?;
            records.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(records),
            }
        }
    }

    /// One page of a payout's history, oldest first, after `cursor`.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// let page = client.payout_history_page(9001, 10, None).await?;
    /// if let Some(cursor) = &page.next {
    ///     let more = client.payout_history_page(9001, 10, Some(cursor)).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn payout_history_page(
        &self,
        payout_id: u128,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<PayoutHistoryRecord>, Error> {
        let request =
            wire::payout_history_request(payout_id, limit, Cursor::text(cursor), self.options.read)
                .map_err(Error::bad_request)?;
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                PayoutsClient::new(channel).get_payout_history(request).await
            })
            .await?;
        let (items, next_cursor, applied_index) =
            wire::parse_payout_history_response(payout_id, &response)
                .map_err(|error| Error::malformed(&address, error))?;
        Ok(Page::new(items, next_cursor, applied_index))
    }

    /// One page of the suspense desk: collections booked to suspense and not yet assigned,
    /// of one bank (or, with `None`, every bank, by bank), oldest first.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// let page = client.list_suspense(Some(1), 50, None).await?;
    /// for waiting in page.items {
    ///     println!(
    ///         "{} {} {:?}",
    ///         waiting.request.bank_reference, waiting.request.amount, waiting.suspense
    ///     );
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_suspense(
        &self,
        bank: Option<u32>,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Collection>, Error> {
        let request =
            wire::list_suspense_request(bank, limit, Cursor::text(cursor), self.options.read)
                .map_err(Error::bad_request)?;
        let (address, response) = self
            .call(Effect::Read, request, |channel, request| async move {
                PayoutsClient::new(channel).list_suspense(request).await
            })
            .await?;
        let (items, next_cursor, applied_index) = wire::parse_suspense_response(&response)
            .map_err(|error| Error::malformed(&address, error))?;
        Ok(Page::new(items, next_cursor, applied_index))
    }

    /// Assigns collections waiting in suspense to their accounts, as one batch. Each moves
    /// its collection's amount suspense → account once: a retry with the same id answers
    /// `exists`, another id for an assigned collection `suspense_already_assigned`.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client, assignment: tianping_client::AssignSuspense) -> Result<(), tianping_client::Error> {
    /// let results = client.assign_suspense_batch(&[assignment]).await?;
    /// println!("{}", results[0].code);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn assign_suspense_batch(
        &self,
        assignments: &[AssignSuspense],
    ) -> Result<Vec<EventResult>, Error> {
        let request = wire::assign_suspense_request(assignments);
        self.write_events(request, assignments.len(), |channel, request| async move {
            PayoutsClient::new(channel).assign_suspense(request).await
        })
        .await
    }

    /// Assigns one collection waiting in suspense to an account (audited with `reason` and
    /// `actor`): `ok` or `exists`, else [`Error::Refused`].
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// use tianping_client::AssignSuspense;
    ///
    /// let assignment = AssignSuspense {
    ///     id: 8001,
    ///     bank: 1,
    ///     bank_reference: "CAMT-2024-000123".into(),
    ///     account_id: 42,
    ///     reason: "remittance information names the customer".into(),
    ///     actor: "ops:li.wei".into(),
    /// };
    /// let result = client.assign_suspense(assignment).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn assign_suspense(&self, assignment: AssignSuspense) -> Result<EventResult, Error> {
        single(self.assign_suspense_batch(&[assignment]).await?)
    }

    // -------------------------------------------------------------------------------------
    // Cluster.

    /// The cluster as the leader (or, with no leader, any node) sees it.
    ///
    /// ```
    /// # async fn example(client: tianping_client::Client) -> Result<(), tianping_client::Error> {
    /// let status = client.cluster_status().await?;
    /// println!("leader {:?}, term {}, applied {}", status.leader_id, status.term, status.applied_index);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn cluster_status(&self) -> Result<ClusterStatus, Error> {
        let (_address, response) = self
            .call(Effect::Read, pb::ClusterStatusRequest {}, |channel, request| async move {
                AdminClient::new(channel).cluster_status(request).await
            })
            .await?;
        Ok(ClusterStatus::from_wire(&response))
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.shared.config.retry
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.options.timeout
    }

    /// Every node address the client knows (the configured ones, then members learned).
    pub(crate) fn known_addresses(&self) -> Vec<String> {
        match self.shared.routing.lock() {
            Ok(routing) => routing.all_addresses(),
            Err(_) => self.shared.config.addresses.clone(),
        }
    }

    pub(crate) fn channel_to(&self, address: &str) -> Result<Channel, Error> {
        self.channel(address)
    }

    // -------------------------------------------------------------------------------------
    // The machinery.

    fn request_id(&self) -> String {
        match &self.options.request_id {
            Some(request_id) => request_id.clone(),
            None => {
                let n = self.shared.next_request.fetch_add(1, Ordering::Relaxed);
                format!("{}-{n}", self.shared.config.request_id_prefix)
            }
        }
    }

    /// A create request of `events` events: its results, parsed.
    async fn write_events<M, F, Fut>(
        &self,
        message: M,
        events: usize,
        send: F,
    ) -> Result<Vec<EventResult>, Error>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<pb::CreateEventsResponse>, tonic::Status>>,
    {
        Ok(self.write_events_logged(message, events, send).await?.0)
    }

    /// `write_events`, with the log index the answer named.
    async fn write_events_logged<M, F, Fut>(
        &self,
        message: M,
        events: usize,
        send: F,
    ) -> Result<(Vec<EventResult>, u64), Error>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<pb::CreateEventsResponse>, tonic::Status>>,
    {
        let (address, response) = self.call(Effect::Write, message, send).await?;
        wire::parse_events_response(&response, events)
            .map_err(|error| Error::malformed(&address, error))
    }

    /// Sends `message` to the leader under the retry policy, every attempt with the same
    /// request id and its own deadline. Returns the address that answered and the answer.
    async fn call<M, R, F, Fut>(
        &self,
        effect: Effect,
        message: M,
        send: F,
    ) -> Result<(String, R), Error>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let request_id = self.request_id();
        let request_id_value = tonic::metadata::MetadataValue::try_from(request_id.as_str())
            .map_err(|_| Error::BadRequest {
                field: REQUEST_ID_HEADER.into(),
                reason: format!("{request_id:?} is not valid metadata"),
            })?;
        let timeout = self.options.timeout;
        self.shared
            .config
            .retry
            .run(|attempt| {
                let mut request = tonic::Request::new(message.clone());
                request.set_timeout(timeout);
                request.metadata_mut().insert(REQUEST_ID_HEADER, request_id_value.clone());
                let send = &send;
                async move {
                    let (address, channel) = self.route(effect, attempt).await?;
                    match tokio::time::timeout(timeout, send(channel, request)).await {
                        Ok(Ok(response)) => Ok((address, response.into_inner())),
                        Ok(Err(status)) => {
                            let error = classify(&status, effect, attempt);
                            if error.is_retryable() {
                                self.lost(&address);
                            }
                            Err(error)
                        }
                        Err(_elapsed) => {
                            self.lost(&address);
                            Err(deadline(effect, attempt, &address))
                        }
                    }
                }
            })
            .await
    }

    fn lost(&self, address: &str) {
        if let Ok(mut routing) = self.shared.routing.lock() {
            routing.lost(address);
        }
    }

    /// The node to send to: the leader while trusted, else whatever a refresh finds.
    async fn route(&self, effect: Effect, attempt: u32) -> Result<(String, Channel), Error> {
        let leader = self.shared.routing.lock().ok().and_then(|routing| routing.leader().cloned());
        match leader {
            Some(Leader { address, .. }) => Ok((address.clone(), self.channel(&address)?)),
            None => self.refresh(effect, attempt).await,
        }
    }

    /// Asks the known nodes in turn for their cluster status; the first that names a leader
    /// decides. With no leader anywhere, the first node that answered is used (it will say
    /// UNAVAILABLE until an election ends, and the retry policy waits).
    async fn refresh(&self, effect: Effect, attempt: u32) -> Result<(String, Channel), Error> {
        let order = match self.shared.routing.lock() {
            Ok(mut routing) => routing.refresh_order(),
            Err(_) => Vec::new(),
        };
        let timeout = self.options.timeout.min(STATUS_TIMEOUT_MAX);
        let mut answered = None;
        let mut last = tonic::Status::unavailable("no node address to ask for the leader");
        for address in order {
            let channel = self.channel(&address)?;
            let mut request = tonic::Request::new(pb::ClusterStatusRequest {});
            request.set_timeout(timeout);
            let mut admin = AdminClient::new(channel.clone());
            let asked = admin.cluster_status(request);
            match tokio::time::timeout(timeout, asked).await {
                Ok(Ok(response)) => {
                    let leader = self
                        .shared
                        .routing
                        .lock()
                        .ok()
                        .and_then(|mut routing| routing.learn(response.get_ref()));
                    if let Some(leader) = leader {
                        let channel = self.channel(&leader.address)?;
                        return Ok((leader.address, channel));
                    }
                    if answered.is_none() {
                        answered = Some((address, channel));
                    }
                }
                Ok(Err(status)) => last = status,
                Err(_elapsed) => {
                    last =
                        tonic::Status::deadline_exceeded(format!("{address}: no cluster status"));
                }
            }
        }
        if let Some(answered) = answered {
            return Ok(answered);
        }
        // Whatever the last node said, no node could be asked: that is "try again later".
        let message =
            format!("no node named a leader (last: {:?}: {})", last.code(), last.message());
        Err(classify(&tonic::Status::unavailable(message), effect, attempt))
    }

    /// The (lazily connecting) channel to `address`, made once and shared by every clone.
    fn channel(&self, address: &str) -> Result<Channel, Error> {
        let mut channels = self
            .shared
            .channels
            .lock()
            .map_err(|_| Error::Config("the connection table was poisoned".into()))?;
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        let endpoint = endpoint(address, self.shared.config.connect_timeout)?;
        let channel = self.shared.security.lazy(endpoint);
        channels.insert(address.to_owned(), channel.clone());
        Ok(channel)
    }
}

fn endpoint(address: &str, connect_timeout: Duration) -> Result<Endpoint, Error> {
    Channels::endpoint(address)
        .map(|endpoint| endpoint.connect_timeout(connect_timeout))
        .map_err(|error| Error::Config(format!("{address:?} is not a usable HOST:PORT: {error}")))
}

/// The one result of a single-event call: a success (`ok`, `exists`), or `Refused`.
fn single(results: Vec<EventResult>) -> Result<EventResult, Error> {
    let mut results = results.into_iter();
    match (results.next(), results.next()) {
        (Some(result), None) if matches!(result.code, ResultCode::Ok | ResultCode::Exists) => {
            Ok(result)
        }
        (Some(result), None) => {
            Err(Error::Refused { code: result.code, timestamp: result.timestamp })
        }
        // `parse_events_response` already holds the count to the events sent.
        (first, _) => Err(Error::MalformedAnswer {
            address: String::new(),
            field: "results".into(),
            reason: format!("expected one result, got {}", usize::from(first.is_some()) + 1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test]
    async fn calls_are_send_and_a_client_needs_no_cluster_to_be_made() {
        let client = Client::new(ClientConfig::new(["127.0.0.1:1"]));
        let Ok(client) = client else { panic!("a valid configuration") };
        let call = client.create_transfer(NewTransfer::default());
        assert_send(&call);
        drop(call);
        assert_eq!(client.leader(), None);
        assert_eq!(client.request_id(), format!("{}-1", client.shared.config.request_id_prefix));
        assert_eq!(client.request_id(), format!("{}-2", client.shared.config.request_id_prefix));
        let traced = client.with_request_id("order-9");
        assert_eq!(traced.map(|traced| traced.request_id()).ok().as_deref(), Some("order-9"));
    }

    #[tokio::test]
    async fn nothing_listening_is_outcome_unknown_for_writes_and_unavailable_for_reads() {
        let mut config = ClientConfig::new(["127.0.0.1:1"]);
        config.retry = RetryPolicy {
            delay_min: Duration::from_millis(1),
            delay_max: Duration::from_millis(5),
            elapsed_max: Duration::from_millis(200),
            attempts_max: 20,
        };
        config.connect_timeout = Duration::from_millis(200);
        let Ok(client) = Client::new(config) else { panic!("a valid configuration") };
        let write = client.create_transfer(NewTransfer { id: 1, ..NewTransfer::default() }).await;
        assert!(
            matches!(write, Err(Error::OutcomeUnknown { attempts, .. }) if attempts > 1),
            "{write:?}"
        );
        let read = client.lookup_account(1).await;
        assert!(matches!(read, Err(Error::Unavailable { .. })), "{read:?}");
    }

    #[test]
    fn single_event_answers() {
        let ok = EventResult::code(ResultCode::Ok, 1);
        assert_eq!(single(vec![ok.clone()]), Ok(ok));
        let exists = EventResult::code(ResultCode::Exists, 2);
        assert_eq!(single(vec![exists.clone()]), Ok(exists));
        assert_eq!(
            single(vec![EventResult::code(ResultCode::IdAlreadyFailed, 3)]),
            Err(Error::Refused { code: ResultCode::IdAlreadyFailed, timestamp: 3 })
        );
        assert!(matches!(single(Vec::new()), Err(Error::MalformedAnswer { .. })));
    }
}
