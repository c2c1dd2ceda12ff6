//! Tianping's bank protocol layer: how the ledger's payouts and collections are spoken to
//! banks, without knowing anything of the ledger's replication or storage.
//!
//! Module map:
//! - [`money`] — decimal text ⇄ integer minor units per ISO 4217 currency, exactly.

pub mod money;
