//! Where each bank is: the `[banks.connection]` table of the worker's configuration and the
//! HTTP gateway built from it. Both live in `tianping_bank_adapters::connection`, shared with
//! the reconciler, which reads the same table; this module re-exports them so the worker's
//! callers (the `tianping bank-worker` binary) name them as before.

pub use tianping_bank_adapters::connection::{
    BANK_CALL_TIMEOUT_MS_DEFAULT, BankConnection, DIRECT_NONCE_CAPACITY, DIRECT_WINDOW_MS_DEFAULT,
};
#[cfg(not(madsim))]
pub use tianping_bank_adapters::connection::{ConnectError, NetworkGateway, connect};
