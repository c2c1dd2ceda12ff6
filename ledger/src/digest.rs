//! The state digest: SHA-256 over every record of every table in canonical order. Two
//! replicas that applied the same log prefix must produce the same digest (invariant 4).

use sha2::{Digest, Sha256};

use crate::store::{LedgerStore, Table};

/// A 32-byte digest of the whole ledger state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateDigest(pub [u8; 32]);

impl std::fmt::Display for StateDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for StateDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateDigest({self})")
    }
}

/// Hashes the whole state of `store`. Every record contributes its table tag and its
/// length-prefixed key and value, so no two different states share an input stream.
pub fn state_digest<S: LedgerStore + ?Sized>(store: &S) -> StateDigest {
    let mut digest = StateDigestBuilder::new();
    for table in Table::ALL {
        store.visit_table(table, &mut |key, value| digest.add(table, key, value));
    }
    digest.finish()
}

/// Builds a `StateDigest` record by record, for callers that stream the state (snapshots)
/// rather than hold a `LedgerStore`. Fed every record in table order and, within a table, in
/// ascending key order, it yields exactly `state_digest` of that state.
#[derive(Clone, Default)]
pub struct StateDigestBuilder {
    hasher: Sha256,
}

impl StateDigestBuilder {
    /// A digest of no records yet.
    pub fn new() -> StateDigestBuilder {
        StateDigestBuilder::default()
    }

    /// Adds one record as canonical `(key, value)` bytes of `table`.
    pub fn add(&mut self, table: Table, key: &[u8], value: &[u8]) {
        self.hasher.update([table as u8]);
        self.hasher.update((key.len() as u64).to_le_bytes());
        self.hasher.update(key);
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
    }

    /// The digest of every record added.
    pub fn finish(self) -> StateDigest {
        StateDigest(self.hasher.finalize().into())
    }
}
