//! The versioned envelopes this crate writes: a stored log entry and a snapshot chunk are each
//! one version byte, then the postcard bytes of the value. The version is checked before the
//! body is decoded, so a node refuses bytes written by a newer build with an error that names
//! the format and both versions (`tianping_ledger::format::FormatError`), instead of
//! misreading them: postcard is not self-describing.
//!
//! - `LOG_ENTRY_FORMAT_VERSION` covers openraft's `Entry` envelope (log id, payload kind,
//!   membership); the ledger's `Batch` inside it carries its own `BATCH_FORMAT_VERSION`, which
//!   also travels with the entry in Raft messages on the wire.
//! - `SNAPSHOT_FORMAT_VERSION` covers the chunk layout of `snapshot` (records, trailer). Every
//!   chunk carries it, on disk and on the wire, so a receiver refuses a snapshot of an unknown
//!   format at its first chunk, before any state is replaced.
//!
//! Golden bytes in `tests/it/formats.rs` pin both; a change that alters them needs a new
//! version (ARCHITECTURE.md, "Formats and rolling upgrades").

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tianping_ledger::format::{FormatError, split_version};

use crate::type_config::Entry;

/// The stored log entry format this build writes and the newest it reads: version 1 is the
/// postcard encoding of openraft's `Entry` (openraft `=0.10.0-alpha.37`) around a version-1
/// ledger batch.
pub const LOG_ENTRY_FORMAT_VERSION: u8 = 1;

/// The snapshot chunk format this build writes and the newest it reads: version 1 is the
/// postcard encoding of `snapshot`'s chunk (records of `(table, key, value)`, or the trailer);
/// version 2 has the same layout and may hold records of the three tables added with batch
/// format 2 (`AccountControls`, `ControlChanges`, `ClaimedBatches`), which a version-1 node
/// could not place: it refuses the snapshot by name at its first chunk. This build reads
/// both.
pub const SNAPSHOT_FORMAT_VERSION: u8 = 2;

/// `value`'s bytes behind `version`.
pub(crate) fn encode_versioned<T: Serialize>(
    value: &T,
    format: &'static str,
    version: u8,
) -> io::Result<Vec<u8>> {
    postcard::to_extend(value, vec![version])
        .map_err(|error| invalid_data(format!("encoding a {format}: {error}")))
}

/// The value behind a version byte, refusing a version this build does not read.
pub(crate) fn decode_versioned<T: DeserializeOwned>(
    bytes: &[u8],
    format: &'static str,
    newest_known: u8,
) -> Result<T, FormatError> {
    let (version, body) = split_version(bytes, format, newest_known)?;
    postcard::from_bytes(body).map_err(|error| FormatError::Undecodable {
        format,
        version,
        reason: error.to_string(),
    })
}

/// A log entry as the RocksDB store keeps it.
pub fn encode_log_entry(entry: &Entry) -> io::Result<Vec<u8>> {
    encode_versioned(entry, "log entry", LOG_ENTRY_FORMAT_VERSION)
}

/// The inverse of `encode_log_entry`.
pub fn decode_log_entry(bytes: &[u8]) -> Result<Entry, FormatError> {
    decode_versioned(bytes, "log entry", LOG_ENTRY_FORMAT_VERSION)
}

/// A format error as the `io::Error` openraft's storage traits carry (`InvalidData`, with the
/// format error's text).
pub(crate) fn format_error(error: FormatError) -> io::Error {
    invalid_data(error.to_string())
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
