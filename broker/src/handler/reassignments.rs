//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455).
//!
//! The controller decides each partition on its own (see
//! `controller::reassignment`): a target replica list starts or replaces a
//! move, null cancels one, and a bad target (empty, a broker twice, an
//! unregistered broker) or an unknown partition gets Kafka's error code in
//! its own entry, never by closing the connection. A move in progress is
//! in the metadata image, so the list is read from it on any node.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::RequestContext;
use super::util::str_bytes;
use crate::controller::Reassignment;
use crate::metadata::{PartitionImage, TopicImage};

pub(crate) async fn alter(
    ctx: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let reassignments: Vec<Reassignment> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|p| Reassignment {
                topic: topic.name.0.to_string(),
                partition: p.partition_index,
                target: p
                    .replicas
                    .as_ref()
                    .map(|ids| ids.iter().map(|b| b.0).collect()),
                allow_replication_factor_change: request.allow_replication_factor_change,
            })
        })
        .collect();
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change);
    let mut outcomes = match ctx
        .broker
        .controller
        .alter_reassignments(reassignments)
        .await
    {
        Ok(outcomes) => outcomes.into_iter(),
        Err(e) => {
            return response
                .with_error_code(e.code().code())
                .with_error_message(Some(str_bytes(e.to_string())));
        }
    };
    let responses = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match outcomes.next().expect("one outcome per partition") {
                        Ok(()) => answer,
                        Err(e) => answer
                            .with_error_code(e.code().code())
                            .with_error_message(Some(str_bytes(e.to_string()))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    response.with_responses(responses)
}

/// The moves in progress: of every partition, or of those named (unknown
/// ones are left out, as Kafka does).
pub(crate) fn list(
    ctx: &RequestContext,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let image = ctx.broker.image();
    let topics = match request.topics {
        None => image
            .topics
            .values()
            .filter_map(|topic| ongoing(topic, topic.partitions.iter()))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|w| {
                let topic = image.topic(w.name.0.as_str())?;
                let partitions = w
                    .partition_indexes
                    .iter()
                    .filter_map(|i| usize::try_from(*i).ok())
                    .filter_map(|i| topic.partitions.get(i));
                ongoing(topic, partitions)
            })
            .collect(),
    };
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

/// `topic`'s entry for those of `partitions` being reassigned, if any.
fn ongoing<'a>(
    topic: &TopicImage,
    partitions: impl Iterator<Item = &'a PartitionImage>,
) -> Option<OngoingTopicReassignment> {
    let ids = |v: &[i32]| v.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let moving: Vec<OngoingPartitionReassignment> = partitions
        .filter(|p| p.is_reassigning())
        .map(|p| {
            OngoingPartitionReassignment::default()
                .with_partition_index(p.partition)
                .with_replicas(ids(&p.replicas))
                .with_adding_replicas(ids(&p.adding_replicas))
                .with_removing_replicas(ids(&p.removing_replicas))
        })
        .collect();
    (!moving.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(str_bytes(topic.name.clone())))
            .with_partitions(moving)
    })
}
