//! DescribeConfigs for topics (overrides, broker-derived defaults, sources
//! and synonyms) and for this broker (dynamic, static and default values).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::RequestContext;
use super::util::str_bytes;
use crate::config::{ConfigEntry, describe_topic_configs};

/// Kafka's `ConfigResource.Type` codes.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let broker = &ctx.broker;
    let image = broker.image();
    // Static settings with the dynamic broker configs applied.
    let config = broker.replicas.broker_config();
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let entries = match resource.resource_type {
                RESOURCE_TOPIC => match image.topic(&name) {
                    Some(topic) => describe_topic_configs(&topic.configs, &config),
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(format!(
                                "topic '{name}' does not exist"
                            ))));
                    }
                },
                RESOURCE_BROKER if name.is_empty() => config.describe_cluster_default(),
                RESOURCE_BROKER if name == broker.node_id.to_string() => config.describe(),
                RESOURCE_BROKER => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!(
                            "this is broker {}, not {name}",
                            broker.node_id
                        ))));
                }
                other => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!(
                            "unsupported resource type {other}"
                        ))));
                }
            };
            let keys = resource.configuration_keys;
            let configs = entries
                .into_iter()
                .filter(|e| {
                    keys.as_ref()
                        .is_none_or(|k| k.iter().any(|k| k.as_str() == e.name))
                })
                .map(|e| entry(e, request.include_synonyms, ctx.version))
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(e: ConfigEntry, include_synonyms: bool, version: i16) -> DescribeConfigsResourceResult {
    let synonyms = if include_synonyms && version >= 1 {
        e.synonyms
            .iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(s.name.clone()))
                    .with_value(s.value.clone().map(str_bytes))
                    .with_source(s.source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(e.name))
        .with_value(if e.sensitive {
            None
        } else {
            e.value.map(str_bytes)
        })
        .with_read_only(e.read_only)
        .with_config_source(e.source as i8)
        .with_is_sensitive(e.sensitive)
        .with_synonyms(synonyms)
        .with_config_type(e.config_type as i8)
}
