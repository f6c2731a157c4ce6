//! ElectLeaders (KIP-460): preferred (the first replica leads again, if it
//! is live and in sync) or unclean (a leaderless partition whose in-sync
//! replicas are all gone takes any live replica). The controller decides
//! (see `controller::election`); each partition gets Kafka's answer:
//! ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
//! ELIGIBLE_LEADERS_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION. Asked for
//! all partitions (null), those needing no election are left out.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::RequestContext;
use super::util::str_bytes;
use crate::controller::{ElectionType, TopicPartition};

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let election = match request.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            tracing::debug!(
                election_type = other,
                "ElectLeaders with an unknown election type"
            );
            return ElectLeadersResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code());
        }
    };
    let partitions: Option<Vec<TopicPartition>> = request.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let outcomes = match ctx
        .broker
        .controller
        .elect_leaders(election, partitions)
        .await
    {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::warn!(error = %e, "ElectLeaders could not reach the controller");
            return ElectLeadersResponse::default().with_error_code(e.code().code());
        }
    };
    // Grouped by topic, in the order each topic first appears.
    let mut order: Vec<String> = Vec::new();
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), outcome) in outcomes {
        let result = PartitionResult::default().with_partition_id(partition);
        let result = match outcome {
            Ok(()) => result,
            Err(e) => result
                .with_error_code(e.code().code())
                .with_error_message(Some(str_bytes(e.to_string()))),
        };
        if !by_topic.contains_key(&topic) {
            order.push(topic.clone());
        }
        by_topic.entry(topic).or_default().push(result);
    }
    let results = order
        .into_iter()
        .map(|topic| {
            let partitions = by_topic.remove(&topic).unwrap_or_default();
            ReplicaElectionResult::default()
                .with_topic(TopicName(str_bytes(topic)))
                .with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}
