//! The change feed on the wire (`tianping/v1/feed.proto`), both directions: the node's (a
//! ledger `FeedEvent` → `pb_v1::FeedEvent`, every field set) and the SDK's (parsed strictly
//! back to the ledger's `FeedEvent`).
//!
//! The command and the result's detail travel in the ledger's own encoding (the batch format
//! version byte, then postcard), so every command kind the ledger has crosses the wire
//! without a second schema to keep in step; `kind`, the result code and the position are
//! plain fields a stream processor reads without decoding.

use tianping_ledger::feed::{FeedEvent, FeedPosition};
use tianping_ledger::format::{BATCH_FORMAT_VERSION, split_version};
use tianping_ledger::{BatchError, Command, Detail, EventResult};

use super::client::parse_event_result;
use super::{InvalidField, event_result, invalid};
use crate::v1 as pb_v1;

/// The result code name of an event whose whole batch was refused.
pub const BATCH_REFUSED_CODE_NAME: &str = "batch_refused";

/// The result code number of an event whose whole batch was refused (no `ResultCode` has it).
pub const BATCH_REFUSED_CODE: u32 = u32::MAX;

/// The metadata key of an `OUT_OF_RANGE` answer to `Subscribe` naming the oldest position the
/// node serves (`<log_index>.<event_index>`).
pub const FEED_OLDEST_HEADER: &str = "tianping-feed-oldest";

/// A position on the wire.
pub fn feed_position(position: FeedPosition) -> pb_v1::FeedPosition {
    pb_v1::FeedPosition { log_index: position.log_index, event_index: position.event_index }
}

/// A position from the wire (a missing one is the start of the log).
pub fn parse_feed_position(position: Option<&pb_v1::FeedPosition>) -> FeedPosition {
    position.map_or(FeedPosition::default(), |position| FeedPosition {
        log_index: position.log_index,
        event_index: position.event_index,
    })
}

fn versioned<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![BATCH_FORMAT_VERSION];
    // Writing postcard into a vector fails only if the value cannot be serialised at all,
    // which no ledger type does; an empty body would then be refused by the reader.
    if let Ok(body) = postcard::to_stdvec(value) {
        bytes.extend(body);
    }
    bytes
}

fn unversioned<T: serde::de::DeserializeOwned>(
    field: &str,
    bytes: &[u8],
) -> Result<T, InvalidField> {
    let (_, body) = split_version(bytes, "batch", BATCH_FORMAT_VERSION)
        .map_err(|error| invalid(field, error.to_string()))?;
    postcard::from_bytes(body).map_err(|error| invalid(field, format!("does not decode: {error}")))
}

/// One event on the wire, every field set.
pub fn feed_event(event: &FeedEvent) -> pb_v1::FeedEvent {
    let (result, detail, batch_refused, batch_refusal) = match &event.outcome {
        Ok(result) => (event_result(result), versioned(&result.detail), false, String::new()),
        Err(refusal) => (
            pb_v1::EventResult {
                code: BATCH_REFUSED_CODE,
                code_name: BATCH_REFUSED_CODE_NAME.to_owned(),
                timestamp: event.batch_timestamp,
                amount: String::new(),
            },
            versioned(&Detail::None),
            true,
            refusal.to_string(),
        ),
    };
    pb_v1::FeedEvent {
        position: Some(feed_position(event.position)),
        batch_timestamp: event.batch_timestamp,
        kind: event.command.kind().to_owned(),
        command: versioned(&event.command),
        result: Some(result),
        detail,
        batch_refused,
        batch_refusal,
    }
}

/// Parses one event from the wire (`path` names it in errors). The batch refusal travels as
/// text, so a refused event's outcome is rebuilt from `batch_refusal`.
pub fn parse_feed_event(path: &str, event: &pb_v1::FeedEvent) -> Result<FeedEvent, InvalidField> {
    let position =
        event.position.as_ref().ok_or_else(|| invalid(format!("{path}.position"), "missing"))?;
    let command: Command = unversioned(&format!("{path}.command"), &event.command)?;
    if command.kind() != event.kind {
        return Err(invalid(
            format!("{path}.kind"),
            format!("{:?} does not name the command's kind {:?}", event.kind, command.kind()),
        ));
    }
    let result =
        event.result.as_ref().ok_or_else(|| invalid(format!("{path}.result"), "missing"))?;
    let outcome = if event.batch_refused {
        Err(parse_batch_refusal(&format!("{path}.batch_refusal"), &event.batch_refusal)?)
    } else {
        let detail: Detail = unversioned(&format!("{path}.detail"), &event.detail)?;
        let parsed = parse_event_result(&format!("{path}.result"), result)?;
        Ok(EventResult { detail, ..parsed })
    };
    Ok(FeedEvent {
        position: parse_feed_position(Some(position)),
        batch_timestamp: event.batch_timestamp,
        command,
        outcome,
    })
}

/// Reads a `BatchError` back from its `Display` text (the two shapes it has).
fn parse_batch_refusal(field: &str, text: &str) -> Result<BatchError, InvalidField> {
    if text == BatchError::TimestampOverflow.to_string() {
        return Ok(BatchError::TimestampOverflow);
    }
    let count = text
        .strip_prefix("batch has ")
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(count, _)| count.parse::<usize>().ok())
        .ok_or_else(|| invalid(field, format!("{text:?} is not a batch refusal")))?;
    let refusal = BatchError::TooManyEvents { count };
    if refusal.to_string() != text {
        return Err(invalid(field, format!("{text:?} is not a batch refusal")));
    }
    Ok(refusal)
}
