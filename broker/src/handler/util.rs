//! Small helpers shared by handlers.

use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;

/// A string field of a response.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// The error code of an optional error (0 = none).
pub(crate) fn code(error: Option<ResponseError>) -> i16 {
    error.map_or(0, |e| e.code())
}
