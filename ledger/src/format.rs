//! Format versions: every encoding that outlives the process that wrote it or crosses to
//! another node starts with a version byte, so a change of the encoding is a new version that
//! an older reader refuses by name instead of misreading (postcard is not self-describing: a
//! field added to a command would shift every byte after it and still decode as something).
//!
//! The ledger owns one such format, the batch (`BATCH_FORMAT_VERSION`): a `Batch` serialises
//! as the version, then its timestamp and commands, whatever carries it — a log entry on disk,
//! an append-entries message on the wire. `raft-store` versions its own envelopes (log
//! entries, snapshot chunks) with the same `FormatError`.
//!
//! The encodings are pinned by golden bytes (`tests/it/formats.rs`): changing a command type
//! changes those bytes, which must then come with a new version number and a reader for the
//! old one (see ARCHITECTURE.md, "Formats and rolling upgrades").

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::command::{Batch, Command};

/// The batch format this build writes and the newest it reads: version 1 is the postcard
/// encoding of `Batch { timestamp, commands }` as it was when versions were introduced;
/// version 2 appends three commands (`ChangeAccountStatus`, `ChangeAccountLimits`: account
/// controls with an id and an expected version; `ClaimPayoutBatch`: a payout claim with a
/// claim id). Every version-1 batch is a valid version-2
/// batch with the same meaning (the old commands keep their variant numbers and bytes), so
/// this build reads both with one decoder; a version-1 node refuses version 2 by name
/// instead of failing on an unknown command.
pub const BATCH_FORMAT_VERSION: u8 = 2;

/// Bytes in a versioned format that this build cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The version byte names a format this build does not know (written by a newer node, or
    /// not this format at all).
    UnknownVersion {
        /// Which format (`"batch"`, `"log entry"`, `"snapshot chunk"`).
        format: &'static str,
        /// The version found.
        found: u8,
        /// The newest version this build reads (it reads 1 up to this).
        newest_known: u8,
    },
    /// There were no bytes, so not even a version.
    Empty {
        /// Which format.
        format: &'static str,
    },
    /// The version is known but the bytes after it do not decode as that version.
    Undecodable {
        /// Which format.
        format: &'static str,
        /// The version the bytes claimed.
        version: u8,
        /// What the decoder said.
        reason: String,
    },
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::UnknownVersion { format, found, newest_known } => write!(
                f,
                "{format} format version {found} is unknown to this node, which reads versions \
                 1 to {newest_known}: it was written by a newer node (upgrade this one) or is \
                 not a {format}"
            ),
            FormatError::Empty { format } => write!(f, "{format} is empty: no format version"),
            FormatError::Undecodable { format, version, reason } => {
                write!(f, "{format} of format version {version} does not decode: {reason}")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// Splits `bytes` into their version and body, refusing a version outside 1..=`newest_known`.
pub fn split_version<'a>(
    bytes: &'a [u8],
    format: &'static str,
    newest_known: u8,
) -> Result<(u8, &'a [u8]), FormatError> {
    let (&version, body) = bytes.split_first().ok_or(FormatError::Empty { format })?;
    if version == 0 || version > newest_known {
        return Err(FormatError::UnknownVersion { format, found: version, newest_known });
    }
    Ok((version, body))
}

/// Encodes a batch: the version, then the body (what `Batch`'s `Serialize` writes).
pub fn encode_batch(batch: &Batch) -> Vec<u8> {
    crate::codec::encode_value(batch)
}

/// Decodes bytes written by `encode_batch`, naming an unknown version in the error. (Nested
/// inside another postcard value, as in a log entry, an unknown version is still refused, but
/// postcard reports it without the text; the stores check their own envelope's version
/// first.)
pub fn decode_batch(bytes: &[u8]) -> Result<Batch, FormatError> {
    let (version, _) = split_version(bytes, "batch", BATCH_FORMAT_VERSION)?;
    postcard::from_bytes(bytes).map_err(|error| FormatError::Undecodable {
        format: "batch",
        version,
        reason: error.to_string(),
    })
}

/// A batch is the tuple (version, timestamp, commands): in postcard, one version byte before
/// exactly the bytes the unversioned `Batch` had.
impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(3)?;
        tuple.serialize_element(&BATCH_FORMAT_VERSION)?;
        tuple.serialize_element(&self.timestamp)?;
        tuple.serialize_element(&self.commands)?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Batch, D::Error> {
        deserializer.deserialize_tuple(3, BatchVisitor)
    }
}

struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Batch;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a batch of format version 1 to {BATCH_FORMAT_VERSION}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
        let version: u8 = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        if version == 0 || version > BATCH_FORMAT_VERSION {
            return Err(de::Error::custom(FormatError::UnknownVersion {
                format: "batch",
                found: version,
                newest_known: BATCH_FORMAT_VERSION,
            }));
        }
        let timestamp: u64 =
            seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let commands: Vec<Command> =
            seq.next_element()?.ok_or_else(|| de::Error::invalid_length(2, &self))?;
        Ok(Batch { timestamp, commands })
    }
}
