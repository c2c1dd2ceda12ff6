//! The `x-request-id` metadata: a client may send one per request; every node's answer
//! carries it (and the node's logs and the forwarded request to the leader). The rule for an
//! acceptable id is stated once, here: 1 to `REQUEST_ID_BYTES_MAX` printable ASCII characters,
//! no spaces. A node replaces an id that breaks it with one of its own (`tianping-node`'s
//! `request_id` module applies the same rule), so a client that wants its id in the node's
//! logs checks it first (`is_valid_request_id`).

/// Metadata key of a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id a node accepts, in bytes: long enough for a UUID or a trace id with a
/// prefix, short enough that logs and metadata stay small.
pub const REQUEST_ID_BYTES_MAX: usize = 64;

/// True when a node accepts `text` as a request id: not empty, at most
/// `REQUEST_ID_BYTES_MAX` bytes, printable ASCII without spaces (so it can neither forge log
/// lines nor bloat every log record).
pub fn is_valid_request_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= REQUEST_ID_BYTES_MAX
        && text.bytes().all(|byte| byte.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_printable_ids_only() {
        assert!(is_valid_request_id("order-42"));
        assert!(is_valid_request_id(&"x".repeat(REQUEST_ID_BYTES_MAX)));
        for bad in ["", "a b", "tab\there", "line\nbreak", "é", &"x".repeat(65)] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }
}
