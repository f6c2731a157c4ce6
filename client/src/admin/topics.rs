//! Topic lifecycle: CreateTopics, CreatePartitions and DeleteTopics.

use kafka_protocol::{
    messages::{
        ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
        create_partitions_request::CreatePartitionsTopic,
        create_topics_request::{CreatableTopic, CreatableTopicConfig},
        delete_topics_request::DeleteTopicState,
    },
    protocol::StrBytes,
};
use uuid::Uuid;

use super::{AdminClient, topic_name};
use crate::error::{KafkaError, Result};

/// Timeout passed to the broker for topic operations.
const BROKER_TIMEOUT_MS: i32 = 30_000;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count; `-1` lets the broker use `num.partitions`.
    pub partitions: i32,
    /// Replication factor; `-1` lets the broker use `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic-level configs (Kafka property names).
    pub configs: Vec<(String, String)>,
}

/// What the broker reports about a topic it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Topic name.
    pub name: String,
    /// Topic id (nil before CreateTopics v7).
    pub topic_id: Uuid,
    /// Partition count (-1 before CreateTopics v5).
    pub partitions: i32,
    /// Replication factor (-1 before CreateTopics v5).
    pub replication_factor: i16,
}

impl AdminClient {
    /// CreateTopics; the first per-topic error is returned as [`Error::Kafka`](crate::Error::Kafka).
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<Vec<CreatedTopic>> {
        let (_, response) = self
            .send(|_| {
                CreateTopicsRequest::default()
                    .with_topics(topics.iter().map(creatable_topic).collect())
                    .with_timeout_ms(BROKER_TIMEOUT_MS)
                    .with_validate_only(validate_only)
            })
            .await?;
        response
            .topics
            .into_iter()
            .map(|t| {
                let name = t.name.0.to_string();
                match KafkaError::from_code(
                    ApiKey::CreateTopics,
                    Some(name.clone()),
                    t.error_code,
                    t.error_message.map(|m| m.to_string()),
                ) {
                    Some(err) => Err(err.into()),
                    None => Ok(CreatedTopic {
                        name,
                        topic_id: t.topic_id,
                        partitions: t.num_partitions,
                        replication_factor: t.replication_factor,
                    }),
                }
            })
            .collect()
    }

    /// CreatePartitions: grow `topic` to `total_count` partitions.
    pub async fn create_partitions(
        &self,
        topic: &str,
        total_count: i32,
        validate_only: bool,
    ) -> Result<()> {
        let (_, response) = self
            .send(|_| {
                CreatePartitionsRequest::default()
                    .with_topics(vec![
                        CreatePartitionsTopic::default()
                            .with_name(topic_name(topic))
                            .with_count(total_count),
                    ])
                    .with_timeout_ms(BROKER_TIMEOUT_MS)
                    .with_validate_only(validate_only)
            })
            .await?;
        for r in response.results {
            if let Some(err) = KafkaError::from_code(
                ApiKey::CreatePartitions,
                Some(r.name.0.to_string()),
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            ) {
                return Err(err.into());
            }
        }
        Ok(())
    }

    /// DeleteTopics by name.
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<()> {
        let (_, response) = self
            .send(|version| {
                let request = DeleteTopicsRequest::default().with_timeout_ms(BROKER_TIMEOUT_MS);
                if version >= 6 {
                    request.with_topics(
                        topics
                            .iter()
                            .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                            .collect(),
                    )
                } else {
                    request.with_topic_names(topics.iter().map(|n| topic_name(n)).collect())
                }
            })
            .await?;
        for r in response.responses {
            if let Some(err) = KafkaError::from_code(
                ApiKey::DeleteTopics,
                r.name.map(|n| n.0.to_string()),
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            ) {
                return Err(err.into());
            }
        }
        Ok(())
    }
}

fn creatable_topic(t: &NewTopic) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(&t.name))
        .with_num_partitions(t.partitions)
        .with_replication_factor(t.replication_factor)
        .with_configs(
            t.configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.clone()))
                        .with_value(Some(StrBytes::from_string(v.clone())))
                })
                .collect(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_topic_maps_to_creatable_topic_with_configs() {
        let t = NewTopic {
            name: "orders".into(),
            partitions: 3,
            replication_factor: 1,
            configs: vec![("retention.ms".into(), "1000".into())],
        };
        let c = creatable_topic(&t);
        assert_eq!(c.name.0.as_str(), "orders");
        assert_eq!((c.num_partitions, c.replication_factor), (3, 1));
        assert_eq!(c.configs[0].name.as_str(), "retention.ms");
        assert_eq!(c.configs[0].value.as_deref(), Some("1000"));
    }
}
