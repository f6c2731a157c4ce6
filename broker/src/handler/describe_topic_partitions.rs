//! DescribeTopicPartitions (KIP-966): topics and their partitions, paginated.
//!
//! Topics are answered in name order (all of them when the request names
//! none), starting at the cursor's topic and partition; at most
//! `response_partition_limit` partitions (capped at Kafka's default
//! `max.request.partition.size.limit`, 2000) go into one response, and
//! `next_cursor` says where the next request should start. An unknown topic
//! gets its own entry with UNKNOWN_TOPIC_OR_PARTITION.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};

use super::RequestContext;
use super::authorized_operations;
use super::metadata;
use super::util::str_bytes;
use crate::config::topic_name;
use crate::metadata::{MetadataImage, TopicImage};

/// Kafka's default `max.request.partition.size.limit`.
const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = ctx.broker.image();
    let names: BTreeSet<String> = if request.topics.is_empty() {
        image.topics.keys().cloned().collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.to_string())
            .collect()
    };
    let (cursor_topic, cursor_partition) = match &request.cursor {
        Some(c) => (c.topic_name.0.to_string(), c.partition_index.max(0)),
        None => (String::new(), 0),
    };
    let mut remaining = request
        .response_partition_limit
        .clamp(1, MAX_PARTITIONS_PER_RESPONSE) as usize;
    let mut topics = Vec::new();
    let mut next_cursor = None;
    let mut pending = names.range(cursor_topic.clone()..).peekable();
    while let Some(name) = pending.next() {
        if remaining == 0 {
            next_cursor = Some(cursor(name, 0));
            break;
        }
        let Some(topic) = image.topic(name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_name(Some(TopicName(str_bytes(name.clone())))),
            );
            continue;
        };
        let first = if *name == cursor_topic {
            cursor_partition
        } else {
            0
        };
        let partitions: Vec<_> = topic
            .partitions
            .iter()
            .filter(|p| p.partition >= first)
            .take(remaining)
            .map(|p| partition(&image, p))
            .collect();
        remaining -= partitions.len();
        let last = partitions.last().map(|p| p.partition_index);
        topics.push(describe(topic, partitions));
        if let Some(after) = last.map(|l| l + 1)
            && topic.partitions.iter().any(|p| p.partition >= after)
        {
            next_cursor = Some(cursor(name, after));
            break;
        }
        if remaining == 0
            && let Some(next) = pending.peek()
        {
            next_cursor = Some(cursor(next, 0));
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

fn cursor(topic: &str, partition: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(str_bytes(topic)))
        .with_partition_index(partition)
}

fn describe(
    topic: &TopicImage,
    partitions: Vec<DescribeTopicPartitionsResponsePartition>,
) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic_name::is_internal(&topic.name))
        .with_partitions(partitions)
        // Kafka always fills it here; without an authorizer, every operation.
        .with_topic_authorized_operations(authorized_operations::topic(true))
}

/// A partition as Metadata describes it: leader -1 and LEADER_NOT_AVAILABLE
/// without a live leader, fenced replicas offline.
fn partition(
    image: &MetadataImage,
    p: &crate::metadata::PartitionImage,
) -> DescribeTopicPartitionsResponsePartition {
    let (leader, error) = match metadata::live_leader(image, p) {
        Ok(leader) => (leader, 0),
        Err(e) => (-1, e.code()),
    };
    DescribeTopicPartitionsResponsePartition::default()
        .with_error_code(error)
        .with_partition_index(p.partition)
        .with_leader_id(BrokerId(leader))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
        .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
        .with_offline_replicas(metadata::offline_replicas(image, p))
        // No eligible leader replicas (KIP-966) without replication.
        .with_eligible_leader_replicas(Some(Vec::new()))
        .with_last_known_elr(Some(Vec::new()))
}
