//! Typed admin helpers over [`Connection`]: the requests the operator issues
//! to create, grow, reconfigure and delete topics and to observe the cluster.

use std::time::Duration;

use kafka_protocol::{
    messages::{
        ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
        DescribeClusterRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
        MetadataRequest, TopicName,
        create_partitions_request::CreatePartitionsTopic,
        create_topics_request::{CreatableTopic, CreatableTopicConfig},
        delete_topics_request::DeleteTopicState,
        describe_configs_request::DescribeConfigsResource,
        incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
        metadata_request::MetadataRequestTopic,
    },
    protocol::{Request, StrBytes},
};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{
    connection::Connection,
    error::{Error, KafkaError, Result},
};

/// `ConfigResource.Type.TOPIC` in Kafka's admin protocol.
const RESOURCE_TYPE_TOPIC: i8 = 2;
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
    /// Registered brokers.
    pub brokers: Vec<BrokerMetadata>,
}

/// Where a config value comes from (`DescribeConfigsResponse.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic itself: what the operator manages.
    TopicConfig,
    /// Dynamic per-broker config.
    DynamicBrokerConfig,
    /// Dynamic cluster-wide default.
    DynamicDefaultBrokerConfig,
    /// From the broker's properties file.
    StaticBrokerConfig,
    /// Built-in default.
    DefaultConfig,
    /// Any other code.
    Other(i8),
}

impl From<i8> for ConfigSource {
    fn from(code: i8) -> Self {
        match code {
            1 => Self::TopicConfig,
            2 => Self::DynamicBrokerConfig,
            3 => Self::DynamicDefaultBrokerConfig,
            4 => Self::StaticBrokerConfig,
            5 => Self::DefaultConfig,
            other => Self::Other(other),
        }
    }
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Property name.
    pub name: String,
    /// Value (`None` for sensitive or unset values).
    pub value: Option<String>,
    /// Cannot be altered.
    pub read_only: bool,
    /// Origin of the value.
    pub source: ConfigSource,
    /// Value is hidden.
    pub is_sensitive: bool,
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// `SET name=value`.
    Set {
        /// Property name.
        name: String,
        /// New value.
        value: String,
    },
    /// `DELETE name` (revert to the inherited value).
    Delete {
        /// Property name.
        name: String,
    },
}

/// Admin client over one bootstrap connection, reconnecting after transport errors.
///
/// Methods take `&self`; requests are serialised on the one connection.
#[derive(Debug)]
pub struct AdminClient {
    bootstrap: String,
    timeout: Duration,
    connection: Mutex<Option<Connection>>,
}

impl AdminClient {
    /// Connects to `bootstrap` (`host:port`) now, so an unreachable broker fails early.
    pub async fn connect(bootstrap: impl Into<String>) -> Result<Self> {
        let client = Self::lazy(bootstrap);
        *client.connection.lock().await =
            Some(Connection::connect(client.bootstrap.as_str()).await?);
        Ok(client)
    }

    /// Creates a client that connects on first use.
    pub fn lazy(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            timeout: Duration::from_secs(30),
            connection: Mutex::new(None),
        }
    }

    /// Sets the per-request deadline (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bootstrap address.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Sends any request at the negotiated version. `build` receives that version
    /// because some fields differ between versions (e.g. DeleteTopics v6 names
    /// topics differently). Transport errors drop the connection; the next call reconnects.
    pub async fn send<R: Request>(
        &self,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(i16, R::Response)> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| Error::UnknownApiKey(R::KEY))?;
        let mut guard = self.connection.lock().await;
        let deadline = self.timeout;
        let result = tokio::time::timeout(deadline, async {
            if guard.is_none() {
                *guard = Some(Connection::connect(self.bootstrap.as_str()).await?);
            }
            let conn = guard.as_mut().expect("connected above");
            let version = conn.negotiated_version::<R>()?;
            let response = conn.send(build(version), Some(version)).await?;
            Ok((version, response))
        })
        .await
        .unwrap_or(Err(Error::Timeout {
            api,
            millis: deadline.as_millis() as u64,
        }));
        if result.as_ref().is_err_and(Error::is_transport) {
            *guard = None;
        }
        result
    }

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
        let (_, response) = self.send(|_| DescribeClusterRequest::default()).await?;
        if let Some(err) = KafkaError::from_code(
            ApiKey::DescribeCluster,
            None,
            response.error_code,
            response.error_message.map(|m| m.to_string()),
        ) {
            return Err(err.into());
        }
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.to_string(),
            controller_id: response.controller_id.0,
            brokers: response
                .brokers
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

    /// CreateTopics; the first per-topic error is returned as [`Error::Kafka`].
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

    /// DescribeConfigs of one topic (all keys).
    pub async fn describe_topic_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>> {
        let (_, response) = self
            .send(|_| {
                DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(RESOURCE_TYPE_TOPIC)
                        .with_resource_name(StrBytes::from_string(topic.to_owned()))
                        .with_configuration_keys(None),
                ])
            })
            .await?;
        let mut out = Vec::new();
        for result in response.results {
            if let Some(err) = KafkaError::from_code(
                ApiKey::DescribeConfigs,
                Some(result.resource_name.to_string()),
                result.error_code,
                result.error_message.map(|m| m.to_string()),
            ) {
                return Err(err.into());
            }
            out.extend(result.configs.into_iter().map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                read_only: c.read_only,
                source: ConfigSource::from(c.config_source),
                is_sensitive: c.is_sensitive,
            }));
        }
        Ok(out)
    }

    /// IncrementalAlterConfigs on one topic.
    pub async fn incremental_alter_topic_configs(
        &self,
        topic: &str,
        ops: &[AlterConfigOp],
        validate_only: bool,
    ) -> Result<()> {
        let (_, response) = self
            .send(|_| {
                IncrementalAlterConfigsRequest::default()
                    .with_resources(vec![
                        AlterConfigsResource::default()
                            .with_resource_type(RESOURCE_TYPE_TOPIC)
                            .with_resource_name(StrBytes::from_string(topic.to_owned()))
                            .with_configs(ops.iter().map(alterable_config).collect()),
                    ])
                    .with_validate_only(validate_only)
            })
            .await?;
        for r in response.responses {
            if let Some(err) = KafkaError::from_code(
                ApiKey::IncrementalAlterConfigs,
                Some(r.resource_name.to_string()),
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            ) {
                return Err(err.into());
            }
        }
        Ok(())
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
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

fn alterable_config(op: &AlterConfigOp) -> AlterableConfig {
    match op {
        AlterConfigOp::Set { name, value } => AlterableConfig::default()
            .with_name(StrBytes::from_string(name.clone()))
            .with_config_operation(0)
            .with_value(Some(StrBytes::from_string(value.clone()))),
        AlterConfigOp::Delete { name } => AlterableConfig::default()
            .with_name(StrBytes::from_string(name.clone()))
            .with_config_operation(1)
            .with_value(None),
    }
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

    #[test]
    fn alter_ops_use_kafka_operation_codes() {
        let set = alterable_config(&AlterConfigOp::Set {
            name: "a".into(),
            value: "1".into(),
        });
        let del = alterable_config(&AlterConfigOp::Delete { name: "a".into() });
        assert_eq!((set.config_operation, set.value.as_deref()), (0, Some("1")));
        assert_eq!((del.config_operation, del.value), (1, None));
    }

    #[test]
    fn config_source_codes() {
        assert_eq!(ConfigSource::from(1), ConfigSource::TopicConfig);
        assert_eq!(ConfigSource::from(5), ConfigSource::DefaultConfig);
        assert_eq!(ConfigSource::from(9), ConfigSource::Other(9));
    }

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
