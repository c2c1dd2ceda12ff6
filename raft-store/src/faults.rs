//! Storage fault injection for tests: a hook the RocksDB store asks before each read of a
//! ledger table and before each applied entry's write, which may answer an I/O error in place
//! of the medium's answer. It exists so tests can prove that a failing disk stops the state
//! machine (an error to openraft) instead of being read as "absent" — RocksDB's own
//! environment hooks are not reachable from safe Rust. Production configurations leave it
//! unset; the cost is one `Option` check per access.

use std::io;
use std::sync::Arc;

use tianping_ledger::Table;

/// A storage access a `FaultHook` may fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StorageAccess {
    /// A point read, batched read or scan of one ledger table.
    Read(Table),
    /// The atomic write of one applied entry (its ledger writes and last-applied log id).
    ApplyWrite,
}

/// Asked before every `StorageAccess`; `Some(error)` makes that access fail with `error`.
pub type FaultHook = Arc<dyn Fn(StorageAccess) -> Option<io::Error> + Send + Sync>;
