//! OffsetFetch: committed offsets of one group (v0-7) or several (v8+);
//! partitions without a commit answer offset -1.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use crate::broker::Broker;
use crate::group::CommittedOffset;
use crate::handler::RequestContext;
use crate::handler::util::str_bytes;

/// (topic, [(partition, committed)]) for the requested topics, or every
/// committed one when `topics` is None.
type Fetched = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

fn fetch(broker: &Broker, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Fetched {
    let group = broker.groups.group(group_id);
    let offsets = group.map(|g| g.lock().offsets.clone()).unwrap_or_default();
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|p| (p, offsets.get(&(topic.clone(), p)).cloned()))
                    .collect();
                (topic, found)
            })
            .collect(),
        None => {
            let mut by_topic: std::collections::BTreeMap<
                String,
                Vec<(i32, Option<CommittedOffset>)>,
            > = Default::default();
            for ((topic, partition), committed) in offsets {
                by_topic
                    .entry(topic)
                    .or_default()
                    .push((partition, Some(committed)));
            }
            by_topic.into_iter().collect()
        }
    }
}

/// A v0-7 answer for a group this broker does not coordinate: the error at
/// the top (v2+) and on every partition asked for (v0-1 have only those).
fn refused(request: OffsetFetchRequest, error: ResponseError) -> OffsetFetchResponse {
    let topics = request
        .topics
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|p| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(-1)
                        .with_error_code(error.code())
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default()
        .with_error_code(error.code())
        .with_topics(topics)
}

pub(crate) fn handle(ctx: &RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version < 8 {
        // Offsets of a group led elsewhere must not read as "no commit":
        // the consumer would reset its position.
        if let Err(error) = ctx.broker.groups.check_coordinator(&request.group_id.0) {
            return refused(request, error);
        }
        let topics = request.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        let topics = fetch(&ctx.broker, &request.group_id.0, topics)
            .into_iter()
            .map(|(topic, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(p, c)| {
                        let (offset, epoch, metadata) = split(c);
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(Some(str_bytes(metadata)))
                    })
                    .collect();
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(partitions)
            })
            .collect();
        return OffsetFetchResponse::default().with_topics(topics);
    }
    let image = ctx.broker.image();
    let groups = request
        .groups
        .into_iter()
        .map(|g| {
            if let Err(error) = ctx.broker.groups.check_coordinator(&g.group_id.0) {
                return OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_error_code(error.code());
            }
            let topics = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| {
                        let name = if t.name.0.is_empty() {
                            image
                                .topic_by_id(&t.topic_id)
                                .map(|i| i.name.clone())
                                .unwrap_or_default()
                        } else {
                            t.name.0.to_string()
                        };
                        (name, t.partition_indexes)
                    })
                    .collect()
            });
            let topics = fetch(&ctx.broker, &g.group_id.0, topics)
                .into_iter()
                .map(|(topic, partitions)| {
                    let partitions = partitions
                        .into_iter()
                        .map(|(p, c)| {
                            let (offset, epoch, metadata) = split(c);
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(str_bytes(metadata)))
                        })
                        .collect();
                    let id = image.topic(&topic).map(|t| t.id).unwrap_or_default();
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(str_bytes(topic)))
                        .with_topic_id(id)
                        .with_partitions(partitions)
                })
                .collect();
            OffsetFetchResponseGroup::default()
                .with_group_id(g.group_id)
                .with_topics(topics)
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}

fn split(committed: Option<CommittedOffset>) -> (i64, i32, String) {
    committed.map_or((-1, -1, String::new()), |c| {
        (c.offset, c.leader_epoch, c.metadata)
    })
}
