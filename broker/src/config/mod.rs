//! Configuration with Kafka's own property names.
//!
//! Broker settings come from built-in defaults, a `server.properties` file,
//! `KARST_*` environment variables and `--override key=value`, in that order
//! of precedence, and for the keys in [`DYNAMIC_BROKER_KEYS`] from the
//! dynamic configs in the metadata log above them all. Topic settings are overrides stored in the metadata log;
//! their defaults derive from the broker's settings, as in Kafka.

mod broker;
mod broker_keys;
mod catalogue;
mod dynamic;
mod listener;
mod properties;
#[cfg(test)]
mod reference;
mod topic;
pub mod topic_name;

pub use broker::{BrokerConfig, ValueOrigin};
pub use catalogue::{ConfigEntry, ConfigSource, ConfigType, Synonym};
pub use dynamic::{
    CLUSTER_DEFAULT, DYNAMIC_BROKER_KEYS, DynamicConfigError, DynamicLayers, LiveBrokerConfig,
    is_dynamic, validate_dynamic_broker_configs,
};
pub use listener::Listener;
pub use topic::{
    describe_topic_configs, effective_topic_config, validate_topic_config, validate_topic_configs,
};

/// Kafka's `INVALID_CONFIG` error code, which AlterConfigs and CreateTopics
/// return for every [`ConfigError`].
pub const INVALID_CONFIG: i16 = 40;

/// A setting that cannot be accepted; the message names the key and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration '{key}' (value {value:?}){}", suggestion(.did_you_mean))]
    UnknownKey {
        key: String,
        value: String,
        /// The known key closest in spelling, if one is close.
        did_you_mean: Option<&'static str>,
    },
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error(
        "environment variable {var} does not name a configuration{}",
        suggestion(.did_you_mean)
    )]
    UnknownEnv {
        var: String,
        did_you_mean: Option<String>,
    },
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
}

impl ConfigError {
    /// The Kafka error code to answer a request that carried this setting.
    pub fn kafka_error_code(&self) -> i16 {
        INVALID_CONFIG
    }

    /// The configuration key at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. } | ConfigError::InvalidValue { key, .. } => {
                Some(key)
            }
            ConfigError::UnknownEnv { .. } | ConfigError::File { .. } => None,
        }
    }
}

fn suggestion<S: AsRef<str>>(did_you_mean: &Option<S>) -> String {
    match did_you_mean {
        Some(name) => format!("; did you mean {}?", name.as_ref()),
        None => String::new(),
    }
}

/// The candidate closest to `name` by edit distance, if it is within a
/// couple of typos (so that `num.partitons` suggests `num.partitions`).
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.len() / 5).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_suggest_the_key_that_was_meant() {
        let keys = ["num.partitions", "node.id", "log.dirs"];
        assert_eq!(closest("num.partitons", keys), Some("num.partitions"));
        assert_eq!(closest("log.dir", keys), Some("log.dirs"));
        assert_eq!(closest("compression", keys), None);
    }
}
