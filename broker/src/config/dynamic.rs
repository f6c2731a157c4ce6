//! Dynamic broker configs: the broker settings that IncrementalAlterConfigs
//! and AlterConfigs may change while the cluster runs, as Kafka's
//! `DynamicBrokerConfig` allows, and how they layer over the static ones.
//!
//! A change is a metadata `Config` record on the broker resource (node id,
//! or [`CLUSTER_DEFAULT`] for the cluster-wide default that Kafka names
//! with the empty resource name), so every node sees it and it survives
//! restarts. Each node resolves its effective configuration as per-broker
//! dynamic > cluster-wide dynamic > static (`server.properties`,
//! `KARST_*`, `--override`) > built-in default, and publishes it to the
//! code that reads it through an [`ArcSwap`] (one atomic load, no lock).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::broker::BrokerConfig;
use super::broker_keys;
use super::catalogue::{ConfigSource, Synonym};
use super::{ConfigError, closest};

/// The broker resource id under which the cluster-wide default dynamic
/// configs are stored (Kafka's resource name ""); node ids are never
/// negative.
pub const CLUSTER_DEFAULT: i32 = -1;

/// The broker settings Karst applies without a restart: the defaults a
/// topic inherits (applied to every topic without an override at the next
/// metadata update: retention at its next pass, `message.max.bytes` on the
/// next Produce) and the replication throttles (at once). Every other
/// setting is read at start and needs a restart.
// One line per group reads as a table.
#[rustfmt::skip]
pub const DYNAMIC_BROKER_KEYS: &[&str] = &[
    "log.retention.ms", "log.retention.minutes", "log.retention.hours",
    "log.retention.bytes",
    "log.segment.bytes",
    "log.roll.ms", "log.roll.hours",
    "log.flush.interval.messages", "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.message.timestamp.type",
    "log.cleanup.policy",
    "log.cleaner.delete.retention.ms",
    "compression.type",
    "message.max.bytes",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];

/// Whether `name` is a broker setting that can change without a restart.
pub fn is_dynamic(name: &str) -> bool {
    DYNAMIC_BROKER_KEYS.contains(&name)
}

/// Why a dynamic broker config change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DynamicConfigError {
    /// Known settings that need a restart; Kafka's wording, INVALID_REQUEST.
    #[error("Cannot update these configs dynamically: Set({})", .0.join(", "))]
    NotDynamic(Vec<String>),
    /// An unknown key or a bad value; INVALID_CONFIG.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Checks the dynamic broker configs `next` (name -> value) would leave on
/// a broker resource: every key dynamic, every value valid.
pub fn validate_dynamic_broker_configs(
    next: &BTreeMap<String, String>,
) -> Result<(), DynamicConfigError> {
    let mut not_dynamic = Vec::new();
    for (name, value) in next {
        let Some(key) = broker_keys::find(name) else {
            return Err(ConfigError::UnknownKey {
                key: name.clone(),
                value: value.clone(),
                did_you_mean: closest(name, DYNAMIC_BROKER_KEYS.iter().copied()),
            }
            .into());
        };
        if !is_dynamic(key.name) {
            not_dynamic.push(key.name.to_owned());
            continue;
        }
        key.kind.validate(name, value)?;
    }
    match not_dynamic.is_empty() {
        true => Ok(()),
        false => Err(DynamicConfigError::NotDynamic(not_dynamic)),
    }
}

/// The two dynamic layers over a broker's static settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicLayers {
    /// Set for every broker (DYNAMIC_DEFAULT_BROKER_CONFIG).
    cluster: BTreeMap<&'static str, String>,
    /// Set for this broker (DYNAMIC_BROKER_CONFIG); wins over `cluster`.
    node: BTreeMap<&'static str, String>,
}

impl DynamicLayers {
    /// The layers for `node_id` from the metadata image's broker configs.
    /// Keys that are not dynamic or values that do not parse (the
    /// controller refuses both) are left out.
    pub fn from_image(
        node_id: i32,
        broker_configs: &BTreeMap<i32, BTreeMap<String, String>>,
    ) -> Self {
        let layer = |id: i32| -> BTreeMap<&'static str, String> {
            broker_configs
                .get(&id)
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| {
                    let key = broker_keys::find(name).filter(|k| is_dynamic(k.name))?;
                    key.kind.validate(name, value).ok()?;
                    Some((key.name, value.trim().to_owned()))
                })
                .collect()
        };
        Self {
            cluster: layer(CLUSTER_DEFAULT),
            node: layer(node_id),
        }
    }

    /// Test and embedding helper: one layer's values.
    #[cfg(test)]
    pub(crate) fn new(cluster: &[(&'static str, &str)], node: &[(&'static str, &str)]) -> Self {
        let own = |pairs: &[(&'static str, &str)]| {
            pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
        };
        Self {
            cluster: own(cluster),
            node: own(node),
        }
    }

    /// The dynamic value of `name`, per-broker first.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.node
            .get(name)
            .or_else(|| self.cluster.get(name))
            .map(String::as_str)
    }

    /// The cluster-wide default values, by name.
    pub(super) fn cluster_defaults(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.cluster.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// The dynamic source of `name`'s value, if it has one.
    pub(super) fn source_of(&self, name: &str) -> Option<ConfigSource> {
        if self.node.contains_key(name) {
            Some(ConfigSource::DynamicBrokerConfig)
        } else if self.cluster.contains_key(name) {
            Some(ConfigSource::DynamicDefaultBrokerConfig)
        } else {
            None
        }
    }

    /// The dynamic synonyms of `names`, per-broker layer first.
    pub(super) fn synonyms(&self, names: &[&str]) -> Vec<Synonym> {
        let layer = |values: &BTreeMap<&'static str, String>, source| {
            names
                .iter()
                .filter_map(move |name| {
                    values.get(name).map(|value| Synonym {
                        name: (*name).to_owned(),
                        value: Some(value.clone()),
                        source,
                    })
                })
                .collect::<Vec<_>>()
        };
        let mut synonyms = layer(&self.node, ConfigSource::DynamicBrokerConfig);
        synonyms.extend(layer(
            &self.cluster,
            ConfigSource::DynamicDefaultBrokerConfig,
        ));
        synonyms
    }
}

/// A node's effective broker configuration, kept current with the dynamic
/// configs of the metadata log. Readers take a snapshot with one atomic
/// load; only [`LiveBrokerConfig::update`] (on a metadata change) writes.
#[derive(Debug)]
pub struct LiveBrokerConfig {
    node_id: i32,
    /// The static configuration the node started with.
    base: Arc<BrokerConfig>,
    current: ArcSwap<BrokerConfig>,
    /// The layers `current` was built from, to skip unchanged updates.
    applied: Mutex<DynamicLayers>,
}

impl LiveBrokerConfig {
    pub fn new(node_id: i32, base: Arc<BrokerConfig>) -> Self {
        Self {
            node_id,
            current: ArcSwap::new(base.clone()),
            base,
            applied: Mutex::new(DynamicLayers::default()),
        }
    }

    /// The effective configuration now.
    pub fn get(&self) -> Arc<BrokerConfig> {
        self.current.load_full()
    }

    /// Applies the dynamic configs of a new metadata image; whether the
    /// effective configuration changed.
    pub fn update(&self, broker_configs: &BTreeMap<i32, BTreeMap<String, String>>) -> bool {
        let layers = DynamicLayers::from_image(self.node_id, broker_configs);
        let mut applied = self.applied.lock();
        if *applied == layers {
            return false;
        }
        match self.base.with_dynamic(layers.clone()) {
            Ok(config) => {
                tracing::info!(
                    node = self.node_id,
                    ?layers,
                    "dynamic broker configs applied"
                );
                self.current.store(Arc::new(config));
                *applied = layers;
                true
            }
            Err(error) => {
                tracing::warn!(%error, "dynamic broker configs refused; keeping the previous ones");
                false
            }
        }
    }
}

#[cfg(test)]
#[path = "dynamic_tests.rs"]
mod tests;
