//! ListOffsets: earliest, latest, max timestamp, or the first offset at or
//! after a timestamp.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;

pub(crate) fn handle(ctx: &RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match ctx
                        .broker
                        .replicas
                        .leader(topic.name.0.as_str(), p.partition_index)
                    {
                        None => base
                            .with_error_code(
                                ctx.broker
                                    .not_hosted_error(topic.name.0.as_str(), p.partition_index)
                                    .code(),
                            )
                            .with_offset(-1)
                            .with_timestamp(-1),
                        Some(partition) => {
                            let (offset, timestamp) = partition.offset_for(p.timestamp);
                            let base = base.with_offset(offset).with_timestamp(timestamp);
                            // The leader epoch exists from v4 on.
                            if ctx.version >= 4 {
                                base.with_leader_epoch(partition.leader_epoch())
                            } else {
                                base
                            }
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
