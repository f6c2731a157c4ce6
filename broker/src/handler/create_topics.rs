//! CreateTopics (incl. validate-only), returning topic ids and, from v5, the
//! resulting configs.

use std::collections::HashMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::RequestContext;
use super::util::str_bytes;
use crate::config::describe_topic_configs;
use crate::controller::NewTopic;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let broker = &ctx.broker;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *seen.entry(topic.name.0.as_str()).or_default() += 1;
    }
    let mut results = vec![None; request.topics.len()];
    let mut to_create = Vec::new();
    for (i, topic) in request.topics.iter().enumerate() {
        let name = topic.name.0.as_str();
        if seen[name] > 1 {
            results[i] = Some(
                CreatableTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "topic '{name}' appears more than once in the request"
                    )))),
            );
            continue;
        }
        let mut assignments: Vec<_> = topic.assignments.iter().collect();
        assignments.sort_by_key(|a| a.partition_index);
        let mut configs = Vec::new();
        for c in &topic.configs {
            if let Some(value) = &c.value {
                configs.push((c.name.to_string(), value.to_string()));
            }
        }
        to_create.push((
            i,
            NewTopic {
                name: name.to_owned(),
                num_partitions: topic.num_partitions,
                replication_factor: topic.replication_factor,
                assignments: assignments
                    .into_iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect(),
                configs,
            },
        ));
    }
    let topics: Vec<NewTopic> = to_create.iter().map(|(_, t)| t.clone()).collect();
    let outcomes = broker
        .controller
        .create_topics(topics, request.validate_only)
        .await;
    for ((i, topic), outcome) in to_create.into_iter().zip(outcomes) {
        let name = request.topics[i].name.clone();
        results[i] = Some(match outcome {
            Ok(created) => {
                let configs =
                    describe_topic_configs(&created.configs, &broker.replicas.broker_config())
                        .into_iter()
                        .map(|entry| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(entry.name))
                                .with_value(entry.value.map(str_bytes))
                                .with_read_only(entry.read_only)
                                .with_config_source(entry.source as i8)
                                .with_is_sensitive(entry.sensitive)
                        })
                        .collect();
                CreatableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(created.id)
                    .with_num_partitions(created.partitions.len() as i32)
                    .with_replication_factor(created.replication_factor())
                    // Configs are returned from v5 on.
                    .with_configs((ctx.version >= 5).then_some(configs))
            }
            Err(e) => {
                tracing::debug!(topic = %topic.name, error = %e, "create topic refused");
                CreatableTopicResult::default()
                    .with_name(name)
                    .with_error_code(e.code().code())
                    .with_error_message(Some(str_bytes(e.to_string())))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
            }
        });
    }
    CreateTopicsResponse::default().with_topics(
        results
            .into_iter()
            .map(|r| r.expect("every topic answered"))
            .collect(),
    )
}
