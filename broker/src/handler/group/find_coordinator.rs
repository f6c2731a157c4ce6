//! FindCoordinator: a group's coordinator is the leader of its
//! `__consumer_offsets` partition, on whichever broker that is (Kafka's
//! rule); the topic is created on first use. Transactions are not served,
//! so a transactional key gets this broker.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::group::store::{OFFSETS_TOPIC, ensure_offsets_topic, partition_for};
use crate::handler::RequestContext;
use crate::handler::util::str_bytes;
use crate::metadata::MetadataImage;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// One key's answer: (node id, host, port) or the error.
type Found = Result<(i32, String, i32), ResponseError>;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let broker = &ctx.broker;
    let ready = match request.key_type {
        KEY_TYPE_GROUP => ensure_offsets_topic(&broker.groups).await,
        KEY_TYPE_TRANSACTION => Ok(()),
        _ => Err(ResponseError::InvalidRequest),
    };
    let image = broker.image();
    let find = |key: &str| -> Found {
        ready?;
        match request.key_type {
            KEY_TYPE_GROUP if key.is_empty() => Err(ResponseError::InvalidGroupId),
            KEY_TYPE_GROUP => group_coordinator(&image, key),
            _ => endpoint(&image, broker.node_id),
        }
    };
    if ctx.version >= 4 {
        let keys: Vec<StrBytes> = request.coordinator_keys;
        let coordinators = keys
            .into_iter()
            .map(|key| {
                let coordinator = Coordinator::default();
                let coordinator = match find(&key) {
                    Ok((node, host, port)) => coordinator
                        .with_node_id(BrokerId(node))
                        .with_host(str_bytes(host))
                        .with_port(port),
                    Err(e) => coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(e.code()),
                };
                coordinator.with_key(key)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    // Before v4 one key, and an empty group id is looked up like any other.
    let found = ready.and_then(|()| match request.key_type {
        KEY_TYPE_GROUP => group_coordinator(&image, &request.key),
        _ => endpoint(&image, broker.node_id),
    });
    match found {
        Ok((node, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node))
            .with_host(str_bytes(host))
            .with_port(port),
        Err(e) => FindCoordinatorResponse::default()
            .with_error_code(e.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    }
}

/// The leader of `group_id`'s offsets partition.
fn group_coordinator(image: &MetadataImage, group_id: &str) -> Found {
    let topic = image
        .topic(OFFSETS_TOPIC)
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    let index = partition_for(group_id, topic.partitions.len() as i32);
    let leader = topic
        .partitions
        .iter()
        .find(|p| p.partition == index)
        .map_or(-1, |p| p.leader);
    endpoint(image, leader)
}

/// A live broker's endpoint: a fenced one cannot coordinate.
fn endpoint(image: &MetadataImage, node: i32) -> Found {
    image
        .brokers
        .get(&node)
        .filter(|b| !b.fenced)
        .map(|b| (node, b.host.clone(), b.port))
        .ok_or(ResponseError::CoordinatorNotAvailable)
}
