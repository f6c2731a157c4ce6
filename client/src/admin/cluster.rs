//! Observing the cluster: Metadata and DescribeCluster, and what they report
//! about brokers, topics and partitions.

use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, MetadataRequest, metadata_request::MetadataRequestTopic,
};
use uuid::Uuid;

use super::{AdminClient, topic_name};
use crate::error::{KafkaError, Result};

/// A broker as Metadata/DescribeCluster report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader node id (-1 when leaderless).
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Assigned replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Partition-level error code (0 when fine).
    pub error_code: i16,
}

/// One topic from a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (nil before Metadata v10).
    pub topic_id: Uuid,
    /// Internal topic (e.g. `__consumer_offsets`).
    pub is_internal: bool,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// The replication factor, taken as the widest replica set of any partition.
    pub fn replication_factor(&self) -> usize {
        self.partitions
            .iter()
            .map(|p| p.replicas.len())
            .max()
            .unwrap_or(0)
    }
}

/// The answer to a Metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Active controller id (-1 if unknown).
    pub controller_id: i32,
    /// Live brokers.
    pub brokers: Vec<BrokerMetadata>,
    /// Topics that exist (topics answering UNKNOWN_TOPIC_OR_PARTITION are left out).
    pub topics: Vec<TopicMetadata>,
}

/// The answer to DescribeCluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Active controller id.
    pub controller_id: i32,
    /// Live brokers: registered and not fenced.
    pub brokers: Vec<BrokerMetadata>,
    /// Node ids of registered brokers that are fenced (missed their
    /// heartbeats, or shutting down), as DescribeCluster v2+ reports them
    /// when asked (KIP-1073); empty from a broker that cannot say.
    pub fenced_brokers: Vec<i32>,
}

impl AdminClient {
    /// Metadata for `topics` (`None`: every topic).
    pub async fn metadata(&self, topics: Option<&[&str]>) -> Result<ClusterMetadata> {
        let (_, response) = self
            .send(|version| {
                let list = topics.map(|names| {
                    names
                        .iter()
                        .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                        .collect()
                });
                // v0 has no null list: an empty list means "all topics".
                let list = if version == 0 {
                    Some(list.unwrap_or_default())
                } else {
                    list
                };
                MetadataRequest::default()
                    .with_topics(list)
                    .with_allow_auto_topic_creation(false)
            })
            .await?;
        let brokers = response
            .brokers
            .into_iter()
            .map(|b| BrokerMetadata {
                node_id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.map(|r| r.to_string()),
            })
            .collect();
        let mut out = Vec::new();
        for topic in response.topics {
            let name = topic.name.map(|n| n.0.to_string()).unwrap_or_default();
            if topic.error_code == kafka_protocol::ResponseError::UnknownTopicOrPartition.code() {
                continue;
            }
            if let Some(err) =
                KafkaError::from_code(ApiKey::Metadata, Some(name.clone()), topic.error_code, None)
            {
                return Err(err.into());
            }
            let mut partitions: Vec<_> = topic
                .partitions
                .into_iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            out.push(TopicMetadata {
                name,
                topic_id: topic.topic_id,
                is_internal: topic.is_internal,
                partitions,
            });
        }
        Ok(ClusterMetadata {
            cluster_id: response.cluster_id.map(|c| c.to_string()),
            controller_id: response.controller_id.0,
            brokers,
            topics: out,
        })
    }

    /// Metadata of one topic, `None` if it does not exist.
    pub async fn describe_topic(&self, name: &str) -> Result<Option<TopicMetadata>> {
        Ok(self
            .metadata(Some(&[name]))
            .await?
            .topics
            .into_iter()
            .find(|t| t.name == name))
    }

    /// DescribeCluster: cluster id, controller and brokers.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let (_, response) = self
            .send(|version| {
                DescribeClusterRequest::default().with_include_fenced_brokers(version >= 2)
            })
            .await?;
        if let Some(err) = KafkaError::from_code(
            ApiKey::DescribeCluster,
            None,
            response.error_code,
            response.error_message.map(|m| m.to_string()),
        ) {
            return Err(err.into());
        }
        let (fenced, live): (Vec<_>, Vec<_>) =
            response.brokers.into_iter().partition(|b| b.is_fenced);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.to_string(),
            controller_id: response.controller_id.0,
            fenced_brokers: fenced.iter().map(|b| b.broker_id.0).collect(),
            brokers: live
                .into_iter()
                .map(|b| BrokerMetadata {
                    node_id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.map(|r| r.to_string()),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_factor_is_widest_replica_set() {
        let p = |replicas: Vec<i32>| PartitionMetadata {
            partition: 0,
            leader: 1,
            leader_epoch: 0,
            replicas,
            isr: vec![],
            error_code: 0,
        };
        let t = TopicMetadata {
            name: "t".into(),
            topic_id: Uuid::nil(),
            is_internal: false,
            partitions: vec![p(vec![1, 2]), p(vec![1, 2, 3])],
        };
        assert_eq!(t.replication_factor(), 3);
    }
}
