//! The broker's shared state: what every connection, handler and
//! background task reaches through one `Arc<Broker>`. Start-up, listeners
//! and shutdown live in [`crate::node`].

use std::sync::Arc;

use kafka_protocol::ResponseError;

use crate::config::BrokerConfig;
use crate::controller::{ControllerChannel, NewTopic, TopicError};
use crate::group::GroupCoordinator;
use crate::metadata::{MetadataImage, MetadataStore, TopicImage};
use crate::metrics::Metrics;
use crate::producer::ProducerIdAllocator;
use crate::replica::ReplicaManager;

/// State shared by every connection and background task.
#[derive(Debug)]
pub struct Broker {
    pub(crate) config: Arc<BrokerConfig>,
    pub(crate) node_id: i32,
    pub(crate) cluster_id: String,
    pub(crate) metadata: Arc<MetadataStore>,
    /// The only way metadata changes (admin writes, auto-creation, producer
    /// ids, registration).
    pub(crate) controller: ControllerChannel,
    pub(crate) replicas: Arc<ReplicaManager>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) producer_ids: ProducerIdAllocator,
    pub(crate) groups: Arc<GroupCoordinator>,
}
impl Broker {
    /// The current metadata image.
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Why `topic`-`partition` is not served here: another broker leads it
    /// (NOT_LEADER_OR_FOLLOWER: the client refreshes its metadata and goes
    /// there) or it does not exist (UNKNOWN_TOPIC_OR_PARTITION).
    pub(crate) fn not_hosted_error(&self, topic: &str, partition: i32) -> ResponseError {
        let exists = self
            .image()
            .topic(topic)
            .is_some_and(|t| t.partitions.iter().any(|p| p.partition == partition));
        if exists {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        }
    }

    /// Creates `name` with the broker defaults if `auto.create.topics.enable`.
    pub(crate) async fn auto_create_topic(
        &self,
        name: &str,
    ) -> Option<Result<Arc<TopicImage>, TopicError>> {
        if !self.config.auto_create_topics_enable {
            return None;
        }
        let topic = NewTopic {
            name: name.to_owned(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: vec![],
            configs: vec![],
        };
        let outcome = self
            .controller
            .create_topics(vec![topic], false)
            .await
            .pop()?;
        Some(match outcome {
            // Lost a race with another creator: the topic exists, use it.
            Err(TopicError::AlreadyExists(_)) => self
                .image()
                .topic(name)
                .cloned()
                .ok_or_else(|| TopicError::UnknownTopic(name.to_owned())),
            other => other,
        })
    }
}
