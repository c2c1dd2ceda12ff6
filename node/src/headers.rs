//! The gRPC metadata keys nodes read and write: a leaf module, so forwarding (`forward`),
//! request ids (`request_id`) and the write path (`writer`) share them without importing one
//! another (they used to form a cycle: forward → request_id → writer → forward).

use tonic::Request;

pub use tianping_proto::request_id::{REQUEST_ID_BYTES_MAX, REQUEST_ID_HEADER};

/// Metadata key a node sets on a request it forwards, so the receiver does not forward again.
pub const FORWARDED_HEADER: &str = "x-tianping-forwarded";

/// True when `request` was forwarded by another node already.
pub(crate) fn is_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED_HEADER)
}
