//! How the broker's settings are described (DescribeConfigs): value,
//! source, writability and synonyms in Kafka's order.

use super::super::broker_keys::{self, KEYS};
use super::super::catalogue::{ConfigEntry, ConfigSource, Synonym};
use super::super::dynamic;
use super::BrokerConfig;

impl BrokerConfig {
    /// Every broker setting for DescribeConfigs on this broker: the value
    /// set for this broker (DYNAMIC_BROKER_CONFIG), for every broker
    /// (DYNAMIC_DEFAULT_BROKER_CONFIG), given at start (STATIC_BROKER_CONFIG)
    /// or the default (DEFAULT_CONFIG), with the settings that share its
    /// meaning as synonyms, most specific first. Only dynamic keys are
    /// writable (`read_only` false).
    pub fn describe(&self) -> Vec<ConfigEntry> {
        KEYS.iter()
            .map(|k| {
                let source = self.source_of(k.name);
                let value = self.get(k.name).map(str::to_owned);
                let related = broker_keys::described_synonyms_of(k.name);
                let names = if related.is_empty() {
                    std::slice::from_ref(&k.name)
                } else {
                    related
                };
                let synonyms = self.synonyms(names, k.name);
                ConfigEntry {
                    name: k.name.to_owned(),
                    value,
                    source,
                    is_default: source == ConfigSource::DefaultConfig,
                    read_only: !dynamic::is_dynamic(k.name),
                    sensitive: false,
                    config_type: k.kind.config_type(),
                    synonyms,
                }
            })
            .collect()
    }

    /// The synonyms of a setting as Kafka's DescribeConfigs lists them: source
    /// by source, most specific first (per-broker dynamic, cluster-wide
    /// dynamic, static settings, then built-in defaults), each of `names`
    /// that has a value in that source, and a name may appear once per
    /// source. Like Kafka, everything before the first entry named `primary`
    /// is dropped, so topic `retention.ms` lists no synonym at all unless
    /// `log.retention.ms` itself has a value (it has no default), while
    /// `segment.bytes` lists `log.segment.bytes` (STATIC, then DEFAULT).
    pub(crate) fn synonyms(&self, names: &[&str], primary: &str) -> Vec<Synonym> {
        let dynamics = self.dynamic.synonyms(names);
        let statics = names.iter().filter_map(|name| {
            self.explicit.get(name).map(|(value, _)| Synonym {
                name: (*name).to_owned(),
                value: Some(value.clone()),
                source: ConfigSource::StaticBrokerConfig,
            })
        });
        let defaults = names.iter().filter_map(|name| {
            broker_keys::find(name)
                .and_then(|k| k.default)
                .map(|value| Synonym {
                    name: (*name).to_owned(),
                    value: Some(value.to_owned()),
                    source: ConfigSource::DefaultConfig,
                })
        });
        dynamics
            .into_iter()
            .chain(statics)
            .chain(defaults)
            .skip_while(|s| s.name != primary)
            .collect()
    }

    /// Source of a broker setting's effective value.
    pub(crate) fn source_of(&self, name: &str) -> ConfigSource {
        if let Some(source) = self.dynamic.source_of(name) {
            source
        } else if self.explicit.contains_key(name) {
            ConfigSource::StaticBrokerConfig
        } else {
            ConfigSource::DefaultConfig
        }
    }

    /// DescribeConfigs of the cluster-wide default resource (name ""): as
    /// in Kafka, only the settings that have a cluster-wide dynamic value.
    pub fn describe_cluster_default(&self) -> Vec<ConfigEntry> {
        self.dynamic
            .cluster_defaults()
            .filter_map(|(name, value)| {
                let key = broker_keys::find(name)?;
                Some(ConfigEntry {
                    name: name.to_owned(),
                    value: Some(value.to_owned()),
                    source: ConfigSource::DynamicDefaultBrokerConfig,
                    is_default: false,
                    read_only: false,
                    sensitive: false,
                    config_type: key.kind.config_type(),
                    synonyms: vec![Synonym {
                        name: name.to_owned(),
                        value: Some(value.to_owned()),
                        source: ConfigSource::DynamicDefaultBrokerConfig,
                    }],
                })
            })
            .collect()
    }
}
