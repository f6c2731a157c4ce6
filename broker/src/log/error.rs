//! Errors of the log, each with the Kafka error code a client receives.

use kafka_protocol::ResponseError;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("corrupt record batch: {0}")]
    CorruptMessage(&'static str),
    #[error("record batch magic {0} is not supported; only magic 2 (Kafka 0.11+) is")]
    UnsupportedMagic(i8),
    #[error("invalid record batch: {0}")]
    InvalidRecord(&'static str),
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: usize },
    #[error("offset {offset} is outside the log [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// A follower's fetched batches do not start at its log end.
    #[error("fetched batches start at offset {got}, not at the log end offset {expected}")]
    OffsetOutOfOrder { expected: i64, got: i64 },
    #[error(transparent)]
    Sequence(#[from] crate::producer::SequenceError),
    #[error("a request mixes duplicate and new batches of an idempotent producer")]
    DuplicateSequence,
    /// Part of the partition's log cannot be read (a damaged segment); the
    /// message names the file. The partition is offline for those offsets.
    #[error("damaged log: {0}")]
    Damaged(String),
    /// The broker is shutting down: its logs take no more appends (the
    /// client retries on the partition's next leader).
    #[error("the broker is shutting down")]
    ShuttingDown,
    /// The I/O thread running the append failed (a bug, logged there);
    /// the client may retry.
    #[error(transparent)]
    Lane(#[from] super::io_lanes::LaneError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LogError {
        let context = context.into();
        move |source| LogError::Io { context, source }
    }

    /// Names `path` in an I/O error's context, so that the log line or
    /// the error message says which file failed.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Self::Io { context, source } => Self::Io {
                context: format!("{}: {context}", path.display()),
                source,
            },
            other => other,
        }
    }

    /// The Kafka error code for this failure.
    pub fn error_code(&self) -> ResponseError {
        match self {
            Self::CorruptMessage(_) => ResponseError::CorruptMessage,
            Self::UnsupportedMagic(_) | Self::InvalidRecord(_) => ResponseError::InvalidRecord,
            Self::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
            Self::OffsetOutOfRange { .. } | Self::OffsetOutOfOrder { .. } => {
                ResponseError::OffsetOutOfRange
            }
            Self::Sequence(crate::producer::SequenceError::InvalidProducerEpoch { .. }) => {
                ResponseError::InvalidProducerEpoch
            }
            Self::Sequence(crate::producer::SequenceError::OutOfOrderSequence { .. }) => {
                ResponseError::OutOfOrderSequenceNumber
            }
            Self::DuplicateSequence => ResponseError::DuplicateSequenceNumber,
            Self::Io { .. } | Self::Damaged(_) => ResponseError::KafkaStorageError,
            Self::Lane(_) => ResponseError::UnknownServerError,
            Self::ShuttingDown => ResponseError::NotLeaderOrFollower,
        }
    }
}
