//! The replica manager: which partitions this broker hosts, kept in step with
//! the metadata image.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::Notify;

use super::partition::Partition;
use crate::config::{BrokerConfig, effective_topic_config};
use crate::log::{LogConfig, LogError, LogManager};
use crate::metadata::{MetadataImage, TopicImage};

/// A partition could not be opened or removed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("topic {topic}: invalid config: {source}")]
    Config {
        topic: String,
        #[source]
        source: crate::log::LogConfigError,
    },
    #[error("partition {topic}-{partition}: {source}")]
    Log {
        topic: String,
        partition: i32,
        #[source]
        source: LogError,
    },
}

/// Partitions hosted here, by topic then partition index.
#[derive(Debug)]
pub struct ReplicaManager {
    node_id: i32,
    broker_config: Arc<BrokerConfig>,
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<Arc<str>, Vec<Arc<Partition>>>>,
    appended: Arc<Notify>,
}

impl ReplicaManager {
    pub fn new(node_id: i32, broker_config: Arc<BrokerConfig>, logs: Arc<LogManager>) -> Self {
        Self {
            node_id,
            broker_config,
            logs,
            partitions: RwLock::new(HashMap::new()),
            appended: Arc::new(Notify::new()),
        }
    }

    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// The partition, if this broker hosts it.
    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let partitions = self.partitions.read();
        let index = usize::try_from(partition).ok()?;
        partitions.get(topic)?.get(index).cloned()
    }

    /// Every hosted partition.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .values()
            .flat_map(|v| v.iter().cloned())
            .collect()
    }

    /// Resolves when any partition's high watermark moves (or spuriously).
    /// Callers re-check their condition, as with any condition variable.
    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// The log config of a topic: broker defaults overridden by the topic's configs.
    pub fn log_config(&self, topic: &TopicImage) -> Result<LogConfig, ReplicaError> {
        let effective = effective_topic_config(&topic.configs, &self.broker_config);
        LogConfig::from_topic_configs(&effective).map_err(|source| ReplicaError::Config {
            topic: topic.name.clone(),
            source,
        })
    }

    /// Brings hosted partitions in line with `image`: opens logs of new
    /// partitions led by or replicated to this node, applies config changes,
    /// and deletes the logs of topics that no longer exist.
    pub fn sync(&self, image: &MetadataImage) -> Result<(), ReplicaError> {
        let mut partitions = self.partitions.write();
        partitions.retain(|name, hosted| {
            let keep = image
                .topic(name)
                .is_some_and(|t| hosted.first().is_none_or(|p| p.topic_id == t.id));
            if !keep && let Err(error) = self.logs.delete_topic(name) {
                tracing::error!(topic = %name, %error, "could not delete the logs of a deleted topic");
            }
            keep
        });
        for topic in image.topics.values() {
            let config = self.log_config(topic)?;
            let name: Arc<str> = Arc::from(topic.name.as_str());
            let hosted = partitions.entry(name.clone()).or_default();
            for p in &topic.partitions {
                if !p.replicas.contains(&self.node_id) {
                    continue;
                }
                let index = p.partition as usize;
                if index < hosted.len() {
                    hosted[index].log.update_config(config.clone());
                    continue;
                }
                let log = self
                    .logs
                    .get_or_create(&topic.name, p.partition, config.clone())
                    .map_err(|source| ReplicaError::Log {
                        topic: topic.name.clone(),
                        partition: p.partition,
                        source,
                    })?;
                hosted.push(Arc::new(Partition::new(
                    name.clone(),
                    topic.id,
                    p.partition,
                    log,
                    p.leader_epoch,
                    self.appended.clone(),
                )));
            }
        }
        Ok(())
    }
}
