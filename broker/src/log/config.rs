//! Per-partition log settings, from a topic's effective configs.

use std::collections::BTreeMap;

/// How a record's timestamp is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// As the producer set it.
    CreateTime,
    /// Overwritten with the broker's clock at append.
    LogAppendTime,
}

/// The settings the log acts on, named after the topic configs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment after this age.
    pub segment_ms: i64,
    /// `retention.ms`: delete closed segments older than this; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments beyond this size; -1 unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest record batch accepted.
    pub max_message_bytes: usize,
    /// `index.interval.bytes`: bytes between offset index entries.
    pub index_interval_bytes: u64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `cleanup.policy` contains `delete`.
    pub delete: bool,
    /// `cleanup.policy` contains `compact`.
    pub compact: bool,
    /// `flush.messages`: fsync after this many unflushed records (background).
    pub flush_messages: i64,
    /// `flush.ms`: fsync data older than this (background).
    pub flush_ms: i64,
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    pub delete_retention_ms: i64,
}

/// A topic config value the log cannot use (already validated upstream, so
/// this means a bug or a hand-edited metadata log).
#[derive(Debug, thiserror::Error)]
#[error("topic config {key}={value:?} is not usable by the log")]
pub struct LogConfigError {
    pub key: String,
    pub value: String,
}

impl LogConfig {
    /// Builds the log settings from a topic's effective configs (every key
    /// resolved, see `config::effective_topic_config`).
    pub fn from_topic_configs(configs: &BTreeMap<String, String>) -> Result<Self, LogConfigError> {
        let get = |key: &str| -> Result<&str, LogConfigError> {
            configs
                .get(key)
                .map(String::as_str)
                .ok_or_else(|| LogConfigError {
                    key: key.to_owned(),
                    value: String::new(),
                })
        };
        let num = |key: &str| -> Result<i64, LogConfigError> {
            let v = get(key)?;
            v.trim().parse().map_err(|_| LogConfigError {
                key: key.to_owned(),
                value: v.to_owned(),
            })
        };
        let policy = get("cleanup.policy")?;
        Ok(Self {
            segment_bytes: num("segment.bytes")?.max(14) as u64,
            segment_ms: num("segment.ms")?,
            retention_ms: num("retention.ms")?,
            retention_bytes: num("retention.bytes")?,
            max_message_bytes: num("max.message.bytes")?.max(0) as usize,
            index_interval_bytes: num("index.interval.bytes")?.max(0) as u64,
            timestamp_type: if get("message.timestamp.type")? == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            delete: policy.contains("delete"),
            compact: policy.contains("compact"),
            flush_messages: num("flush.messages")?,
            flush_ms: num("flush.ms")?,
            delete_retention_ms: num("delete.retention.ms")?,
        })
    }
}

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            timestamp_type: TimestampType::CreateTime,
            delete: true,
            compact: false,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
        }
    }
}
