//! Moving partitions and their leadership: AlterPartitionReassignments,
//! ListPartitionReassignments and ElectLeaders, what the operator uses to
//! scale a cluster, change a topic's replication factor and rebalance
//! leaders after a rolling restart. The ISR of each partition comes from
//! [`AdminClient::metadata`] ([`super::PartitionMetadata::isr`]).

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ElectLeadersRequest,
    ListPartitionReassignmentsRequest,
};

use super::{AdminClient, topic_name};
use crate::error::{KafkaError, Result};

/// One partition, by topic name and index.
pub type TopicPartition = (String, i32);

/// The per-partition answer of a reassignment or an election.
pub type PartitionOutcome = (TopicPartition, std::result::Result<(), KafkaError>);

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    /// The target replicas followed by those being removed.
    pub replicas: Vec<i32>,
    /// Replicas catching up before the move completes.
    pub adding_replicas: Vec<i32>,
    /// Replicas leaving once every adding replica is in sync.
    pub removing_replicas: Vec<i32>,
}

/// Kafka's ElectionType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The first replica leads again if it is live and in sync.
    Preferred,
    /// A partition with no live in-sync replica takes any live replica
    /// (records it lacks are lost).
    Unclean,
}

impl AdminClient {
    /// Moves each partition to its target replicas (`Some`) or cancels its
    /// move in progress (`None`). Each partition succeeds or fails on its
    /// own; a request-level failure (no controller) is the `Err`.
    pub async fn alter_partition_reassignments(
        &self,
        moves: &[(&str, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<PartitionOutcome>> {
        let topics: Vec<ReassignableTopic> = by_topic(moves.iter().map(|(t, p, target)| {
            let replicas = target
                .as_ref()
                .map(|ids| ids.iter().copied().map(BrokerId).collect());
            let entry = ReassignablePartition::default()
                .with_partition_index(*p)
                .with_replicas(replicas);
            (*t, entry)
        }))
        .map(|(name, partitions)| {
            ReassignableTopic::default()
                .with_name(topic_name(name))
                .with_partitions(partitions)
        })
        .collect();
        let (_, response) = self
            .send(|_| AlterPartitionReassignmentsRequest::default().with_topics(topics))
            .await?;
        let api = ApiKey::AlterPartitionReassignments;
        let message = response.error_message.map(|m| m.to_string());
        if let Some(err) = KafkaError::from_code(api, None, response.error_code, message) {
            return Err(err.into());
        }
        Ok(response
            .responses
            .into_iter()
            .flat_map(|topic| {
                let name = topic.name.0.to_string();
                topic.partitions.into_iter().map(move |p| {
                    outcome(api, &name, p.partition_index, p.error_code, p.error_message)
                })
            })
            .collect())
    }

    /// The reassignments in progress, of the partitions named or all.
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[(&str, i32)]>,
    ) -> Result<Vec<OngoingReassignment>> {
        let topics = partitions.map(|wanted| {
            by_topic(wanted.iter().map(|(t, p)| (*t, *p)))
                .map(|(name, indexes)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(name))
                        .with_partition_indexes(indexes)
                })
                .collect()
        });
        let (_, response) = self
            .send(|_| ListPartitionReassignmentsRequest::default().with_topics(topics))
            .await?;
        let message = response.error_message.map(|m| m.to_string());
        let api = ApiKey::ListPartitionReassignments;
        if let Some(err) = KafkaError::from_code(api, None, response.error_code, message) {
            return Err(err.into());
        }
        let ids = |v: Vec<BrokerId>| v.into_iter().map(|b| b.0).collect();
        Ok(response
            .topics
            .into_iter()
            .flat_map(|topic| {
                let name = topic.name.0.to_string();
                topic
                    .partitions
                    .into_iter()
                    .map(move |p| OngoingReassignment {
                        topic: name.clone(),
                        partition: p.partition_index,
                        replicas: ids(p.replicas),
                        adding_replicas: ids(p.adding_replicas),
                        removing_replicas: ids(p.removing_replicas),
                    })
            })
            .collect())
    }

    /// Elects leaders of the partitions named, or of every partition that
    /// needs it (`None`; those needing none are not reported then).
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[(&str, i32)]>,
    ) -> Result<Vec<PartitionOutcome>> {
        let topics = partitions.map(|wanted| {
            by_topic(wanted.iter().map(|(t, p)| (*t, *p)))
                .map(|(name, indexes)| {
                    TopicPartitions::default()
                        .with_topic(topic_name(name))
                        .with_partitions(indexes)
                })
                .collect()
        });
        let election_type = match election {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        };
        let (_, response) = self
            .send(|_| {
                ElectLeadersRequest::default()
                    .with_election_type(election_type)
                    .with_topic_partitions(topics)
            })
            .await?;
        let api = ApiKey::ElectLeaders;
        if let Some(err) = KafkaError::from_code(api, None, response.error_code, None) {
            return Err(err.into());
        }
        Ok(response
            .replica_election_results
            .into_iter()
            .flat_map(|topic| {
                let name = topic.topic.0.to_string();
                topic.partition_result.into_iter().map(move |p| {
                    outcome(api, &name, p.partition_id, p.error_code, p.error_message)
                })
            })
            .collect())
    }
}

/// Items grouped by topic, topics in the order they first appear.
fn by_topic<'a, T>(
    items: impl Iterator<Item = (&'a str, T)>,
) -> impl Iterator<Item = (&'a str, Vec<T>)> {
    let mut groups: Vec<(&'a str, Vec<T>)> = Vec::new();
    for (topic, item) in items {
        match groups.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, group)) => group.push(item),
            None => groups.push((topic, vec![item])),
        }
    }
    groups.into_iter()
}

/// One partition's answer: success, or the Kafka error it carries.
fn outcome(
    api: ApiKey,
    topic: &str,
    partition: i32,
    code: i16,
    message: Option<kafka_protocol::protocol::StrBytes>,
) -> PartitionOutcome {
    let resource = Some(format!("{topic}-{partition}"));
    let message = message.map(|m| m.to_string());
    let result = match KafkaError::from_code(api, resource, code, message) {
        Some(err) => Err(err),
        None => Ok(()),
    };
    ((topic.to_owned(), partition), result)
}
