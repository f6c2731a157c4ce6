//! Topic-level configs: the keys Kafka has, how they are checked, and how
//! their defaults derive from the broker's settings.

use std::collections::BTreeMap;

use super::broker::BrokerConfig;
use super::catalogue::{ConfigEntry, ConfigSource, Kind, Synonym};
use super::{ConfigError, closest};

pub(super) struct TopicKey {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    /// Broker settings that give the default, most specific first; empty
    /// when the default is `fixed`.
    pub(super) synonyms: &'static [&'static str],
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

/// Every topic config Karst accepts (the configuration reference lists
/// them from here, see `config::reference`).
pub(super) const KEYS: &[TopicKey] = &[
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
    from_broker(
        "message.timestamp.difference.max.ms",
        Kind::Long(0),
        &["log.message.timestamp.difference.max.ms"],
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
    from_broker(
        "segment.jitter.ms",
        Kind::Long(0),
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
    ),
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
    from_broker(
        "message.downconversion.enable",
        Kind::Bool,
        &["log.message.downconversion.enable"],
    ),
    from_broker(
        "local.retention.ms",
        Kind::Long(-2),
        &["log.local.retention.ms"],
    ),
    from_broker(
        "local.retention.bytes",
        Kind::Long(-2),
        &["log.local.retention.bytes"],
    ),
    from_broker(
        "compression.gzip.level",
        Kind::Int(i32::MIN as i64),
        &["compression.gzip.level"],
    ),
    from_broker(
        "compression.lz4.level",
        Kind::Int(i32::MIN as i64),
        &["compression.lz4.level"],
    ),
    from_broker(
        "compression.zstd.level",
        Kind::Int(i32::MIN as i64),
        &["compression.zstd.level"],
    ),
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
            value: value.to_owned(),
            did_you_mean: closest(key, KEYS.iter().map(|k| k.name)),
        })?;
    k.kind.validate(key, value)
}

/// Checks a topic's whole set of overrides: each one, then the rules that
/// tie them together with the broker-derived defaults, as Kafka's
/// `LogConfig.validate` does (compaction lags in order, local retention
/// within total retention, a compression level in range for its codec).
pub fn validate_topic_configs(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Result<(), ConfigError> {
    for (key, value) in overrides {
        validate_topic_config(key, value)?;
    }
    let effective = effective_topic_config(overrides, broker);
    let num = |key: &str| -> i64 {
        effective
            .get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    };
    let blame = |key: &str, reason: String| ConfigError::InvalidValue {
        key: key.to_owned(),
        value: effective.get(key).cloned().unwrap_or_default(),
        reason,
    };
    if num("min.compaction.lag.ms") > num("max.compaction.lag.ms") {
        return Err(blame(
            "min.compaction.lag.ms",
            format!(
                "must not exceed max.compaction.lag.ms ({})",
                num("max.compaction.lag.ms")
            ),
        ));
    }
    for (local, total) in [
        ("local.retention.ms", "retention.ms"),
        ("local.retention.bytes", "retention.bytes"),
    ] {
        let (l, t) = (num(local), num(total));
        if l >= 0 && t >= 0 && l > t && overrides.contains_key(local) {
            return Err(blame(local, format!("must not exceed {total} ({t})")));
        }
    }
    for (key, codec, range) in [
        ("compression.gzip.level", "gzip", 1..=9),
        ("compression.lz4.level", "lz4", 1..=17),
        ("compression.zstd.level", "zstd", -131_072..=22),
    ] {
        let level = num(key);
        let default = key == "compression.gzip.level" && level == -1;
        if overrides.contains_key(key) && !default && !range.contains(&level) {
            return Err(blame(
                key,
                format!("{codec} levels are {}..={}", range.start(), range.end()),
            ));
        }
    }
    Ok(())
}

/// The broker-derived default of a topic key, and the synonyms Kafka lists
/// for it (see [`BrokerConfig::synonyms`]).
fn default_of(key: &TopicKey, broker: &BrokerConfig) -> (Option<String>, Vec<Synonym>) {
    if key.synonyms.is_empty() {
        return (Some(key.fixed.to_owned()), vec![]);
    }
    let synonyms = broker.synonyms(key.synonyms, key.synonyms[0]);
    let value = match key.name {
        // Kafka resolves these from several broker settings with units.
        "retention.ms" => Some(broker.log_retention_ms.to_string()),
        "segment.ms" => Some(broker.log_roll_ms.to_string()),
        "segment.jitter.ms" => Some(match broker.get("log.roll.jitter.ms") {
            Some(ms) => ms.to_owned(),
            None => broker
                .get("log.roll.jitter.hours")
                .and_then(|h| h.parse::<i64>().ok())
                .map_or(0, |h| h.saturating_mul(3_600_000))
                .to_string(),
        }),
        "flush.ms" => Some(
            broker
                .get("log.flush.interval.ms")
                .or(broker.get("log.flush.scheduler.interval.ms"))
                .unwrap_or("9223372036854775807")
                .to_owned(),
        ),
        _ => broker.get(key.synonyms[0]).map(str::to_owned),
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
                is_default: source == ConfigSource::DefaultConfig,
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
        // Kafka lists the override only: `log.retention.ms` has no value.
        assert_eq!(retention.synonyms.len(), 1);
        let segment = entries.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(segment.source, ConfigSource::DefaultConfig);
    }

    fn synonyms_of<'a>(entries: &'a [ConfigEntry], name: &str) -> Vec<(&'a str, ConfigSource)> {
        let entry = entries.iter().find(|e| e.name == name).unwrap();
        entry
            .synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.source))
            .collect()
    }

    #[test]
    fn synonyms_are_the_ones_kafka_lists() {
        use ConfigSource::{DefaultConfig, DynamicTopicConfig, StaticBrokerConfig};
        let mut broker = BrokerConfig::default();
        let entries = describe_topic_configs(&BTreeMap::new(), &broker);
        // No `log.retention.ms` anywhere: none, although `.hours` has a default.
        assert_eq!(synonyms_of(&entries, "retention.ms"), vec![]);
        assert_eq!(
            synonyms_of(&entries, "segment.bytes"),
            vec![("log.segment.bytes", DefaultConfig)]
        );
        assert_eq!(
            synonyms_of(&entries, "cleanup.policy"),
            vec![("log.cleanup.policy", DefaultConfig)]
        );

        broker.set("log.retention.ms", "60000").unwrap();
        broker.set("log.segment.bytes", "1048576").unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert("cleanup.policy".to_owned(), "compact".to_owned());
        let entries = describe_topic_configs(&overrides, &broker);
        assert_eq!(
            synonyms_of(&entries, "retention.ms"),
            vec![
                ("log.retention.ms", StaticBrokerConfig),
                ("log.retention.hours", DefaultConfig)
            ]
        );
        assert_eq!(
            synonyms_of(&entries, "segment.bytes"),
            vec![
                ("log.segment.bytes", StaticBrokerConfig),
                ("log.segment.bytes", DefaultConfig)
            ]
        );
        assert_eq!(
            synonyms_of(&entries, "cleanup.policy"),
            vec![
                ("cleanup.policy", DynamicTopicConfig),
                ("log.cleanup.policy", DefaultConfig)
            ]
        );
    }

    /// Kafka 4.x with no broker settings: each topic config lists its broker
    /// setting's built-in default, except where that setting has no default
    /// (Kafka drops the more general ones, `log.retention.hours` and co.).
    #[test]
    fn every_topic_config_lists_kafkas_default_synonyms() {
        const NONE_IN_KAFKA: &[&str] = &[
            "retention.ms",
            "segment.ms",
            "segment.jitter.ms",
            "flush.ms",
            "remote.storage.enable",
            "leader.replication.throttled.replicas",
            "follower.replication.throttled.replicas",
        ];
        let broker = BrokerConfig::default();
        let entries = describe_topic_configs(&BTreeMap::new(), &broker);
        for key in KEYS {
            let listed = synonyms_of(&entries, key.name);
            if NONE_IN_KAFKA.contains(&key.name) {
                assert_eq!(listed, vec![], "{}", key.name);
                continue;
            }
            assert_eq!(
                listed,
                vec![(key.synonyms[0], ConfigSource::DefaultConfig)],
                "{}",
                key.name
            );
            let entry = entries.iter().find(|e| e.name == key.name).unwrap();
            assert_eq!(entry.source, ConfigSource::DefaultConfig, "{}", key.name);
        }
        let jitter = entries
            .iter()
            .find(|e| e.name == "segment.jitter.ms")
            .unwrap();
        assert_eq!(jitter.value.as_deref(), Some("0"));
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

    #[test]
    fn a_static_broker_setting_is_the_source_of_an_unset_topic_config() {
        let mut broker = BrokerConfig::default();
        broker.set("log.segment.bytes", "1048576").unwrap();
        let entries = describe_topic_configs(&BTreeMap::new(), &broker);
        let segment = entries.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(segment.value.as_deref(), Some("1048576"));
        assert_eq!(segment.source, ConfigSource::StaticBrokerConfig);
        assert!(!segment.is_default);
        assert_eq!(segment.synonyms[0].name, "log.segment.bytes");
        let remote = entries
            .iter()
            .find(|e| e.name == "remote.storage.enable")
            .unwrap();
        assert_eq!(remote.source, ConfigSource::DefaultConfig);
        assert!(remote.is_default);
    }

    #[test]
    fn every_config_kafka_documents_for_topics_is_known() {
        for key in [
            "cleanup.policy",
            "compression.type",
            "delete.retention.ms",
            "file.delete.delay.ms",
            "flush.messages",
            "flush.ms",
            "index.interval.bytes",
            "max.compaction.lag.ms",
            "max.message.bytes",
            "message.timestamp.type",
            "message.timestamp.difference.max.ms",
            "min.cleanable.dirty.ratio",
            "min.compaction.lag.ms",
            "min.insync.replicas",
            "retention.bytes",
            "retention.ms",
            "segment.bytes",
            "segment.index.bytes",
            "segment.jitter.ms",
            "segment.ms",
            "unclean.leader.election.enable",
            "message.downconversion.enable",
            "local.retention.ms",
            "local.retention.bytes",
            "remote.storage.enable",
        ] {
            let effective = effective_topic_config(&BTreeMap::new(), &BrokerConfig::default());
            let value = effective
                .get(key)
                .unwrap_or_else(|| panic!("{key} missing"));
            validate_topic_config(key, value)
                .unwrap_or_else(|e| panic!("default of {key} is refused: {e}"));
        }
    }

    #[test]
    fn overrides_that_contradict_each_other_are_refused() {
        let broker = BrokerConfig::default();
        let set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(validate_topic_configs(&set(&[("cleanup.policy", "compact")]), &broker).is_ok());
        let err = validate_topic_configs(
            &set(&[
                ("min.compaction.lag.ms", "10"),
                ("max.compaction.lag.ms", "5"),
            ]),
            &broker,
        )
        .unwrap_err();
        assert!(err.to_string().contains("max.compaction.lag.ms"));
        let err = validate_topic_configs(
            &set(&[("retention.ms", "1000"), ("local.retention.ms", "2000")]),
            &broker,
        )
        .unwrap_err();
        assert_eq!(err.key(), Some("local.retention.ms"));
        assert!(
            validate_topic_configs(&set(&[("compression.zstd.level", "99")]), &broker).is_err()
        );
        let err = validate_topic_configs(&set(&[("retention.msec", "1")]), &broker).unwrap_err();
        assert_eq!(err.kafka_error_code(), crate::config::INVALID_CONFIG);
        assert!(err.to_string().contains("did you mean retention.ms?"));
    }
}
