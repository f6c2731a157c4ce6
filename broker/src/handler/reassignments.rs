//! AlterPartitionReassignments and ListPartitionReassignments.
//!
//! On one node a partition's replicas can only be this node, so a
//! reassignment to the current replicas is a no-op that succeeds, one to any
//! other broker is refused with INVALID_REPLICA_ASSIGNMENT (no such broker),
//! and cancelling one (null replicas) gets NO_REASSIGNMENT_IN_PROGRESS.
//! Nothing is ever in progress, so the list is empty. An unknown topic or
//! partition is answered with UNKNOWN_TOPIC_OR_PARTITION in its own entry,
//! never by closing the connection. In a cluster the controller will run
//! the moves and list them while they are in progress.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::RequestContext;
use super::util::str_bytes;
use crate::metadata::{MetadataImage, TopicImage};

pub(crate) fn alter(
    ctx: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let image = ctx.broker.image();
    let responses = request
        .topics
        .into_iter()
        .map(|topic| {
            let known = image.topic(topic.name.0.as_str());
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let outcome = reassign(&image, known, p.partition_index, p.replicas);
                    let response = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match outcome {
                        Ok(()) => response,
                        Err((error, message)) => response
                            .with_error_code(error.code())
                            .with_error_message(Some(str_bytes(message))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_responses(responses)
}

/// The outcome of one partition's reassignment on this single node.
fn reassign(
    image: &MetadataImage,
    topic: Option<&std::sync::Arc<TopicImage>>,
    partition: i32,
    target: Option<Vec<BrokerId>>,
) -> Result<(), (ResponseError, String)> {
    let Some(topic) = topic else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            "Unable to find the topic".to_owned(),
        ));
    };
    if !topic.partitions.iter().any(|p| p.partition == partition) {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("Unable to find partition {}-{partition}", topic.name),
        ));
    }
    let Some(target) = target else {
        return Err((
            ResponseError::NoReassignmentInProgress,
            format!(
                "No ongoing reassignment for partition {}-{partition}",
                topic.name
            ),
        ));
    };
    let target: Vec<i32> = target.into_iter().map(|b| b.0).collect();
    if target.is_empty() {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "The manual partition assignment includes an empty replica list.".to_owned(),
        ));
    }
    if let Some(unknown) = target.iter().find(|b| !image.brokers.contains_key(b)) {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            format!(
                "The manual partition assignment includes broker {unknown}, but no such broker is registered."
            ),
        ));
    }
    let mut sorted = target.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != target.len() {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "The manual partition assignment includes a duplicate replica.".to_owned(),
        ));
    }
    // Every registered broker is this node, so the target is the current
    // replica set: nothing to move.
    Ok(())
}

pub(crate) fn list(
    _ctx: &RequestContext,
    _request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
}
