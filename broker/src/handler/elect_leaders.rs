//! ElectLeaders. On one node every partition's only replica is already its
//! leader, preferred or not, so every known partition answers
//! ELECTION_NOT_NEEDED and an unknown one UNKNOWN_TOPIC_OR_PARTITION, as
//! Kafka's controller does. Asked for all partitions (null), Kafka leaves out
//! those that need no election, so the answer is empty. In a cluster the
//! controller will run the election.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::RequestContext;
use super::util::str_bytes;

pub(crate) fn handle(ctx: &RequestContext, request: ElectLeadersRequest) -> ElectLeadersResponse {
    let image = ctx.broker.image();
    let Some(wanted) = request.topic_partitions else {
        return ElectLeadersResponse::default();
    };
    let results = wanted
        .into_iter()
        .map(|topic| {
            let known = image.topic(topic.topic.0.as_str());
            let partitions = topic
                .partitions
                .iter()
                .map(|&partition| {
                    let (error, message) = match known {
                        Some(t) if t.partitions.iter().any(|p| p.partition == partition) => (
                            ResponseError::ElectionNotNeeded,
                            "Leader election not needed for topic partition.".to_owned(),
                        ),
                        Some(_) => (
                            ResponseError::UnknownTopicOrPartition,
                            format!("No such partition as {}-{partition}", topic.topic.0),
                        ),
                        None => (
                            ResponseError::UnknownTopicOrPartition,
                            format!("No such topic as {}", topic.topic.0),
                        ),
                    };
                    PartitionResult::default()
                        .with_partition_id(partition)
                        .with_error_code(error.code())
                        .with_error_message(Some(str_bytes(message)))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(topic.topic)
                .with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}
