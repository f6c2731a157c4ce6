//! Topic-level configs: the keys Kafka has, how they are checked, and how
//! their defaults derive from the broker's settings.

use std::collections::BTreeMap;

use super::ConfigError;
use super::broker::BrokerConfig;
use super::catalogue::{ConfigEntry, ConfigSource, Kind, Synonym};

struct TopicKey {
    name: &'static str,
    kind: Kind,
    /// Broker settings that give the default, most specific first; empty
    /// when the default is `fixed`.
    synonyms: &'static [&'static str],
    fixed: &'static str,
}

const fn from_broker(
    name: &'static str,
    kind: Kind,
    synonyms: &'static [&'static str],
) -> TopicKey {
    TopicKey {
        name,
        kind,
        synonyms,
        fixed: "",
    }
}

const fn fixed(name: &'static str, kind: Kind, value: &'static str) -> TopicKey {
    TopicKey {
        name,
        kind,
        synonyms: &[],
        fixed: value,
    }
}

const POLICIES: &[&str] = &["delete", "compact"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const COMPRESSION: &[&str] = &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];

const KEYS: &[TopicKey] = &[
    from_broker(
        "cleanup.policy",
        Kind::ListOf(POLICIES),
        &["log.cleanup.policy"],
    ),
    from_broker(
        "compression.type",
        Kind::OneOf(COMPRESSION),
        &["compression.type"],
    ),
    from_broker(
        "delete.retention.ms",
        Kind::Long(0),
        &["log.cleaner.delete.retention.ms"],
    ),
    from_broker(
        "file.delete.delay.ms",
        Kind::Long(0),
        &["log.segment.delete.delay.ms"],
    ),
    from_broker(
        "flush.messages",
        Kind::Long(1),
        &["log.flush.interval.messages"],
    ),
    from_broker(
        "flush.ms",
        Kind::Long(0),
        &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
    ),
    from_broker(
        "index.interval.bytes",
        Kind::Int(0),
        &["log.index.interval.bytes"],
    ),
    from_broker(
        "max.compaction.lag.ms",
        Kind::Long(1),
        &["log.cleaner.max.compaction.lag.ms"],
    ),
    from_broker("max.message.bytes", Kind::Int(0), &["message.max.bytes"]),
    from_broker(
        "message.timestamp.type",
        Kind::OneOf(TIMESTAMP_TYPES),
        &["log.message.timestamp.type"],
    ),
    from_broker(
        "message.timestamp.before.max.ms",
        Kind::Long(0),
        &["log.message.timestamp.before.max.ms"],
    ),
    from_broker(
        "message.timestamp.after.max.ms",
        Kind::Long(0),
        &["log.message.timestamp.after.max.ms"],
    ),
    fixed(
        "message.timestamp.difference.max.ms",
        Kind::Long(0),
        "9223372036854775807",
    ),
    from_broker(
        "min.cleanable.dirty.ratio",
        Kind::Ratio,
        &["log.cleaner.min.cleanable.ratio"],
    ),
    from_broker(
        "min.compaction.lag.ms",
        Kind::Long(0),
        &["log.cleaner.min.compaction.lag.ms"],
    ),
    from_broker(
        "min.insync.replicas",
        Kind::Int(1),
        &["min.insync.replicas"],
    ),
    from_broker("preallocate", Kind::Bool, &["log.preallocate"]),
    from_broker("retention.bytes", Kind::Long(-1), &["log.retention.bytes"]),
    from_broker(
        "retention.ms",
        Kind::Long(-1),
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
    ),
    from_broker("segment.bytes", Kind::Int(14), &["log.segment.bytes"]),
    from_broker(
        "segment.index.bytes",
        Kind::Int(4),
        &["log.index.size.max.bytes"],
    ),
    from_broker("segment.jitter.ms", Kind::Long(0), &["log.roll.jitter.ms"]),
    from_broker(
        "segment.ms",
        Kind::Long(1),
        &["log.roll.ms", "log.roll.hours"],
    ),
    from_broker(
        "unclean.leader.election.enable",
        Kind::Bool,
        &["unclean.leader.election.enable"],
    ),
    fixed("message.downconversion.enable", Kind::Bool, "true"),
    fixed("local.retention.ms", Kind::Long(-2), "-2"),
    fixed("local.retention.bytes", Kind::Long(-2), "-2"),
    fixed("remote.storage.enable", Kind::Bool, "false"),
    fixed("leader.replication.throttled.replicas", Kind::List, ""),
    fixed("follower.replication.throttled.replicas", Kind::List, ""),
];

/// Checks a topic config override; unknown keys are refused (INVALID_CONFIG).
pub fn validate_topic_config(key: &str, value: &str) -> Result<(), ConfigError> {
    let k = KEYS
        .iter()
        .find(|k| k.name == key)
        .ok_or_else(|| ConfigError::UnknownKey {
            key: key.to_owned(),
        })?;
    k.kind.validate(key, value)
}

/// The broker-derived default of a topic key, and the synonyms behind it.
fn default_of(key: &TopicKey, broker: &BrokerConfig) -> (Option<String>, Vec<Synonym>) {
    if key.synonyms.is_empty() {
        return (Some(key.fixed.to_owned()), vec![]);
    }
    let synonyms: Vec<Synonym> = key
        .synonyms
        .iter()
        .filter(|s| broker.get(s).is_some())
        .map(|s| Synonym {
            name: (*s).to_owned(),
            value: broker.get(s).map(str::to_owned),
            source: broker.source_of(s),
        })
        .collect();
    let value = match key.name {
        // Kafka resolves these from several broker settings with units.
        "retention.ms" => Some(broker.log_retention_ms.to_string()),
        "segment.ms" => Some(broker.log_roll_ms.to_string()),
        "flush.ms" => Some(
            broker
                .get("log.flush.interval.ms")
                .or(broker.get("log.flush.scheduler.interval.ms"))
                .unwrap_or("9223372036854775807")
                .to_owned(),
        ),
        _ => synonyms.first().and_then(|s| s.value.clone()),
    };
    (value, synonyms)
}

/// Every topic config: the override when set, else the broker-derived
/// default, with its source and synonyms, as DescribeConfigs reports them.
pub fn describe_topic_configs(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Vec<ConfigEntry> {
    KEYS.iter()
        .map(|k| {
            let (default, mut synonyms) = default_of(k, broker);
            let (value, source) = match overrides.get(k.name) {
                Some(v) => {
                    synonyms.insert(
                        0,
                        Synonym {
                            name: k.name.to_owned(),
                            value: Some(v.clone()),
                            source: ConfigSource::DynamicTopicConfig,
                        },
                    );
                    (Some(v.clone()), ConfigSource::DynamicTopicConfig)
                }
                None => {
                    let source = synonyms
                        .first()
                        .map_or(ConfigSource::DefaultConfig, |s| s.source);
                    (default, source)
                }
            };
            ConfigEntry {
                name: k.name.to_owned(),
                value,
                source,
                read_only: false,
                sensitive: false,
                config_type: k.kind.config_type(),
                synonyms,
            }
        })
        .collect()
}

/// Every topic config key resolved to a value (overrides, else defaults).
pub fn effective_topic_config(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> BTreeMap<String, String> {
    describe_topic_configs(overrides, broker)
        .into_iter()
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_broker_settings_and_overrides_win() {
        let mut broker = BrokerConfig::default();
        broker.set("log.retention.hours", "1").unwrap();
        let mut overrides = BTreeMap::new();
        let effective = effective_topic_config(&overrides, &broker);
        assert_eq!(effective["retention.ms"], "3600000");
        assert_eq!(effective["cleanup.policy"], "delete");
        assert_eq!(effective["max.message.bytes"], "1048588");
        overrides.insert("retention.ms".to_owned(), "5000".to_owned());
        let entries = describe_topic_configs(&overrides, &broker);
        let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!(retention.value.as_deref(), Some("5000"));
        assert_eq!(retention.source, ConfigSource::DynamicTopicConfig);
        assert_eq!(retention.synonyms[1].name, "log.retention.hours");
        let segment = entries.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(segment.source, ConfigSource::DefaultConfig);
    }

    #[test]
    fn unknown_and_invalid_topic_configs_are_refused() {
        assert!(validate_topic_config("retention.ms", "1000").is_ok());
        assert!(matches!(
            validate_topic_config("retention.msec", "1"),
            Err(ConfigError::UnknownKey { .. })
        ));
        assert!(validate_topic_config("cleanup.policy", "compact,delete").is_ok());
        assert!(validate_topic_config("segment.bytes", "10").is_err());
    }
}
