//! AlterConfigs (replace all overrides) and IncrementalAlterConfigs
//! (SET / DELETE / APPEND / SUBTRACT) for topics and for dynamic broker
//! configs (resource name: a node id, or "" for the cluster-wide default);
//! validate-only supported.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse as LegacyResult;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::util::str_bytes;
use crate::broker::Broker;
use crate::config::CLUSTER_DEFAULT;
use crate::controller::{Command, ConfigChange, ConfigOp, TopicError};
use crate::metadata::ConfigResourceKey;

pub(crate) async fn handle_alter(
    ctx: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for r in request.resources {
        responses.push({
            let changes: Vec<ConfigChange> = r
                .configs
                .iter()
                .map(|c| ConfigChange {
                    name: c.name.to_string(),
                    op: c
                        .value
                        .as_ref()
                        .map_or(ConfigOp::Delete, |v| ConfigOp::Set(v.to_string())),
                })
                .collect();
            let (code, message) = apply(
                &ctx.broker,
                r.resource_type,
                &r.resource_name,
                Ok(changes),
                true,
                request.validate_only,
            )
            .await;
            LegacyResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(message)
        });
    }
    AlterConfigsResponse::default().with_responses(responses)
}

pub(crate) async fn handle_incremental(
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for r in request.resources {
        responses.push({
            let changes: Result<Vec<ConfigChange>, TopicError> = r
                .configs
                .iter()
                .map(|c| {
                    let value = c
                        .value
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let op = match c.config_operation {
                        0 => ConfigOp::Set(value),
                        1 => ConfigOp::Delete,
                        2 => ConfigOp::Append(value),
                        3 => ConfigOp::Subtract(value),
                        other => {
                            return Err(TopicError::InvalidRequest(format!(
                                "unknown config operation {other} for {}",
                                c.name
                            )));
                        }
                    };
                    Ok(ConfigChange {
                        name: c.name.to_string(),
                        op,
                    })
                })
                .collect();
            let (code, message) = apply(
                &ctx.broker,
                r.resource_type,
                &r.resource_name,
                changes,
                false,
                request.validate_only,
            )
            .await;
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(message)
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Validates and (unless `validate_only`) commits config changes to one
/// resource; returns the error code and message for its result.
async fn apply(
    broker: &Broker,
    resource_type: i8,
    resource_name: &StrBytes,
    changes: Result<Vec<ConfigChange>, TopicError>,
    replace_all: bool,
    validate_only: bool,
) -> (i16, Option<StrBytes>) {
    let resource = match resource_type {
        RESOURCE_TOPIC => ConfigResourceKey::Topic(resource_name.to_string()),
        // "" is the cluster-wide default (DYNAMIC_DEFAULT_BROKER_CONFIG).
        RESOURCE_BROKER if resource_name.is_empty() => ConfigResourceKey::Broker(CLUSTER_DEFAULT),
        RESOURCE_BROKER => match resource_name.parse::<i32>() {
            Ok(id) if id >= 0 => ConfigResourceKey::Broker(id),
            _ => {
                return (
                    ResponseError::InvalidRequest.code(),
                    Some(str_bytes(format!(
                        "broker resource name must be a node id or empty, not {resource_name:?}"
                    ))),
                );
            }
        },
        other => {
            return (
                ResponseError::InvalidRequest.code(),
                Some(str_bytes(format!("unsupported resource type {other}"))),
            );
        }
    };
    let outcome = match changes {
        Ok(changes) => {
            let command = Command::AlterConfigs {
                resource,
                changes,
                replace_all,
                validate_only,
            };
            broker.controller.submit(command).await.map(drop)
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => (0, None),
        Err(e) => (e.code().code(), Some(str_bytes(e.to_string()))),
    }
}
