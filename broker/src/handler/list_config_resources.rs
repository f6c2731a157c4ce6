//! ListConfigResources (v1, KIP-1142; v0 was ListClientMetricsResources):
//! the resources that have configs, per type. Karst has topic and broker
//! configs; it has no client-metrics subscriptions, group configs or broker
//! loggers to list, so those types answer with none. An empty type list
//! means every type, except in v0, which lists client-metrics resources
//! only.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};

use super::RequestContext;
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::util::str_bytes;

/// Kafka's `ConfigResource.Type` codes this API knows besides topic and broker.
const RESOURCE_BROKER_LOGGER: i8 = 8;
const RESOURCE_CLIENT_METRICS: i8 = 16;
const RESOURCE_GROUP: i8 = 32;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: ListConfigResourcesRequest,
) -> ListConfigResourcesResponse {
    if ctx.version == 0 {
        return ListConfigResourcesResponse::default();
    }
    let known = [
        RESOURCE_TOPIC,
        RESOURCE_BROKER,
        RESOURCE_BROKER_LOGGER,
        RESOURCE_CLIENT_METRICS,
        RESOURCE_GROUP,
    ];
    if request.resource_types.iter().any(|t| !known.contains(t)) {
        return ListConfigResourcesResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code());
    }
    let wanted = |t: i8| request.resource_types.is_empty() || request.resource_types.contains(&t);
    let broker = &ctx.broker;
    let mut resources = Vec::new();
    if wanted(RESOURCE_TOPIC) {
        let image = broker.image();
        resources.extend(image.topics.keys().map(|name| {
            ConfigResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(str_bytes(name.clone()))
        }));
    }
    if wanted(RESOURCE_BROKER) {
        resources.push(
            ConfigResource::default()
                .with_resource_type(RESOURCE_BROKER)
                .with_resource_name(str_bytes(broker.node_id.to_string())),
        );
    }
    ListConfigResourcesResponse::default().with_config_resources(resources)
}
