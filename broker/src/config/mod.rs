//! Configuration with Kafka's own property names.
//!
//! Broker settings come from built-in defaults, a `server.properties` file,
//! `KARST_*` environment variables and `--override key=value`, in that order
//! of precedence. Topic settings are overrides stored in the metadata log;
//! their defaults derive from the broker's settings, as in Kafka.

mod broker;
mod catalogue;
mod properties;
mod topic;

pub use broker::{BrokerConfig, Listener};
pub use catalogue::{ConfigEntry, ConfigSource, ConfigType, Synonym};
pub use topic::{describe_topic_configs, effective_topic_config, validate_topic_config};

/// A setting that cannot be accepted; the message names the key and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration '{key}'")]
    UnknownKey { key: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("environment variable {var} does not name a configuration")]
    UnknownEnv { var: String },
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
}
