//! Topic and broker configs: DescribeConfigs and IncrementalAlterConfigs.

use kafka_protocol::{
    messages::{
        ApiKey, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
        describe_configs_request::DescribeConfigsResource,
        incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
    },
    protocol::StrBytes,
};

use super::AdminClient;
use crate::error::{KafkaError, Result};

/// `ConfigResource.Type.TOPIC` in Kafka's admin protocol.
const RESOURCE_TYPE_TOPIC: i8 = 2;
/// `ConfigResource.Type.BROKER`: a node id, or "" for the cluster-wide default.
const RESOURCE_TYPE_BROKER: i8 = 4;

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

impl AdminClient {
    /// DescribeConfigs of one topic (all keys).
    pub async fn describe_topic_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>> {
        self.describe_configs(RESOURCE_TYPE_TOPIC, topic).await
    }

    /// DescribeConfigs of the broker this client is connected to, as
    /// resource `broker` (its node id, or "" for the cluster-wide default).
    pub async fn describe_broker_configs(&self, broker: &str) -> Result<Vec<ConfigEntry>> {
        self.describe_configs(RESOURCE_TYPE_BROKER, broker).await
    }

    async fn describe_configs(&self, resource_type: i8, name: &str) -> Result<Vec<ConfigEntry>> {
        let (_, response) = self
            .send(|_| {
                DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(StrBytes::from_string(name.to_owned()))
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
        self.incremental_alter_configs(RESOURCE_TYPE_TOPIC, topic, ops, validate_only)
            .await
    }

    /// IncrementalAlterConfigs of dynamic broker configs on resource
    /// `broker`: a node id, or "" for the cluster-wide default.
    pub async fn incremental_alter_broker_configs(
        &self,
        broker: &str,
        ops: &[AlterConfigOp],
        validate_only: bool,
    ) -> Result<()> {
        self.incremental_alter_configs(RESOURCE_TYPE_BROKER, broker, ops, validate_only)
            .await
    }

    async fn incremental_alter_configs(
        &self,
        resource_type: i8,
        name: &str,
        ops: &[AlterConfigOp],
        validate_only: bool,
    ) -> Result<()> {
        let (_, response) = self
            .send(|_| {
                IncrementalAlterConfigsRequest::default()
                    .with_resources(vec![
                        AlterConfigsResource::default()
                            .with_resource_type(resource_type)
                            .with_resource_name(StrBytes::from_string(name.to_owned()))
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
}
