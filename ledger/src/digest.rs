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
    let mut hasher = Sha256::new();
    for table in Table::ALL {
        store.visit_table(table, &mut |key, value| {
            hasher.update([table as u8]);
            hasher.update((key.len() as u64).to_le_bytes());
            hasher.update(key);
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value);
        });
    }
    StateDigest(hasher.finalize().into())
}
