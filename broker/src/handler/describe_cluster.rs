//! DescribeCluster: cluster id, controller and brokers.
//!
//! This is a broker endpoint (KIP-919): like a Kafka broker it answers a
//! request for controller endpoints with MISMATCHED_ENDPOINT_TYPE and an
//! unknown endpoint type with UNSUPPORTED_ENDPOINT_TYPE (INVALID_REQUEST in
//! v0, which has neither error).
//!
//! Fenced brokers are left out, as in Metadata, unless a v2+ request asks
//! for them with `include_fenced_brokers` (KIP-1073); then they come marked
//! `is_fenced`.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::RequestContext;
use super::authorized_operations;
use super::util::str_bytes;

/// Kafka's `EndpointType` ids.
const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let refuse = |error: ResponseError, message: String| {
        let error = if ctx.version == 0 {
            ResponseError::InvalidRequest
        } else {
            error
        };
        DescribeClusterResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(message)))
    };
    match request.endpoint_type {
        ENDPOINT_BROKER => {}
        ENDPOINT_CONTROLLER => {
            return refuse(
                ResponseError::MismatchedEndpointType,
                "this is a broker endpoint; ask the controller listener for controllers".to_owned(),
            );
        }
        other => {
            return refuse(
                ResponseError::UnsupportedEndpointType,
                format!("unknown endpoint type {other}"),
            );
        }
    }
    let broker = &ctx.broker;
    let image = broker.image();
    let include_fenced = ctx.version >= 2 && request.include_fenced_brokers;
    let brokers = image
        .brokers
        .values()
        .filter(|b| include_fenced || !b.fenced)
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(str_bytes(b.host.clone()))
                .with_port(b.port)
                .with_rack(b.rack.clone().map(str_bytes))
                .with_is_fenced(b.fenced)
        })
        .collect();
    // On one node the broker is also the active controller, at the same endpoint.
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(str_bytes(broker.cluster_id.clone()))
        // A live broker, as in Metadata (KIP-590).
        .with_controller_id(BrokerId(super::metadata::controller_for_clients(
            &image,
            broker.node_id,
        )))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(authorized_operations::cluster(
            request.include_cluster_authorized_operations,
        ))
}
