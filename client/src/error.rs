//! Typed errors: transport, protocol and the Kafka error codes brokers return.

use kafka_protocol::{ResponseError, messages::ApiKey};

/// Result alias used throughout the client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error code returned by the broker for one request or resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{api:?} on {resource:?} failed: {kind} (code {code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
pub struct KafkaError {
    /// The API that returned the error.
    pub api: ApiKey,
    /// The resource (topic name, broker id, ...) the error is about, if any.
    pub resource: Option<String>,
    /// The raw Kafka error code.
    pub code: i16,
    /// The decoded error kind (`Unknown(code)` for codes this crate does not know).
    pub kind: ResponseError,
    /// The broker's error message, when the API version carries one.
    pub message: Option<String>,
}

impl KafkaError {
    /// Builds an error from a non-zero code; returns `None` for code 0.
    pub fn from_code(
        api: ApiKey,
        resource: Option<String>,
        code: i16,
        message: Option<String>,
    ) -> Option<Self> {
        let kind = ResponseError::try_from_code(code)?;
        Some(Self {
            api,
            resource,
            code,
            kind,
            message,
        })
    }
}

/// Everything that can go wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connection could not be established.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The broker closed the connection before answering.
    #[error("connection closed by the broker")]
    Closed,
    /// No answer within the deadline.
    #[error("{api:?} timed out after {millis} ms")]
    Timeout {
        /// The API that was waiting.
        api: ApiKey,
        /// The deadline in milliseconds.
        millis: u64,
    },
    /// A response frame announced a size above the client's limit or below zero.
    #[error("response frame of {size} bytes is outside 0..={max}")]
    FrameSize {
        /// The announced size.
        size: i64,
        /// The limit.
        max: usize,
    },
    /// A request could not be encoded at the chosen version (e.g. a field the version lacks).
    #[error("encoding {api:?} v{version}: {reason}")]
    Encode {
        /// The API.
        api: ApiKey,
        /// The version used.
        version: i16,
        /// What `kafka-protocol` reported.
        reason: String,
    },
    /// A response could not be decoded at the version requested.
    #[error("decoding {api:?} v{version} response: {reason}")]
    Decode {
        /// The API.
        api: ApiKey,
        /// The version used.
        version: i16,
        /// What `kafka-protocol` reported.
        reason: String,
    },
    /// The response carried another request's correlation id.
    #[error("correlation id mismatch: sent {sent}, received {received}")]
    CorrelationMismatch {
        /// The id sent.
        sent: i32,
        /// The id received.
        received: i32,
    },
    /// The request type's API key is not one `kafka-protocol` knows.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// No version is supported by both client and broker (or the broker lacks the API).
    #[error("{api:?}: no common version (client {client_min}..={client_max}, broker {broker:?})")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// Lowest version the client can speak.
        client_min: i16,
        /// Highest version the client can speak.
        client_max: i16,
        /// The broker's range, `None` if it does not offer the API.
        broker: Option<(i16, i16)>,
    },
    /// The broker answered with a Kafka error code.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

impl Error {
    /// The Kafka error kind when this is a broker-side error.
    pub fn kafka_kind(&self) -> Option<ResponseError> {
        match self {
            Error::Kafka(e) => Some(e.kind),
            _ => None,
        }
    }

    /// True when the error is about reaching the broker rather than about the request
    /// (callers typically reconnect and retry with backoff).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Io(_)
                | Error::Closed
                | Error::Timeout { .. }
                | Error::FrameSize { .. }
                | Error::CorrelationMismatch { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_error_from_zero_code_is_none() {
        assert!(KafkaError::from_code(ApiKey::CreateTopics, None, 0, None).is_none());
    }

    #[test]
    fn kafka_error_keeps_code_kind_and_message() {
        let e = KafkaError::from_code(
            ApiKey::CreateTopics,
            Some("orders".into()),
            36,
            Some("Topic 'orders' already exists.".into()),
        )
        .unwrap();
        assert_eq!(e.kind, ResponseError::TopicAlreadyExists);
        assert_eq!(e.code, 36);
        let text = e.to_string();
        assert!(
            text.contains("orders") && text.contains("code 36") && text.contains("already exists"),
            "{text}"
        );
        let err: Error = e.into();
        assert_eq!(err.kafka_kind(), Some(ResponseError::TopicAlreadyExists));
        assert!(!err.is_transport());
    }
}
