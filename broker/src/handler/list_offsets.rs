//! ListOffsets: earliest, latest, max timestamp, or the first offset at or
//! after a timestamp.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::replica::Partition;

/// Special timestamps of ListOffsets (Kafka's `ListOffsetsRequest` constants).
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

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
                        .get(topic.name.0.as_str(), p.partition_index)
                    {
                        None => base
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_offset(-1)
                            .with_timestamp(-1),
                        Some(partition) => {
                            let (offset, timestamp) = lookup(&partition, p.timestamp);
                            let base = base.with_offset(offset).with_timestamp(timestamp);
                            // The leader epoch exists from v4 on.
                            if ctx.version >= 4 {
                                base.with_leader_epoch(partition.leader_epoch)
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

/// The (offset, timestamp) answer for one partition; (-1, -1) when no
/// record matches, as Kafka answers.
fn lookup(partition: &Partition, timestamp: i64) -> (i64, i64) {
    let log = &partition.log;
    match timestamp {
        // No transactions yet: the last stable offset is the high watermark.
        LATEST => (partition.high_watermark(), -1),
        EARLIEST | EARLIEST_LOCAL => (log.log_start_offset(), -1),
        LATEST_TIERED => (-1, -1),
        MAX_TIMESTAMP => log
            .max_timestamp()
            .map_or((-1, -1), |(ts, offset)| (offset, ts)),
        ts if ts >= 0 => log
            .offset_for_timestamp(ts)
            .filter(|(offset, _)| *offset < partition.high_watermark())
            .map_or((-1, -1), |(offset, ts)| (offset, ts)),
        _ => (-1, -1),
    }
}
