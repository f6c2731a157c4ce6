//! DeleteRecords: move a partition's log start offset forward.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;

/// `offset = -1` in a DeleteRecords request means "up to the high watermark".
const TO_HIGH_WATERMARK: i64 = -1;

pub(crate) fn handle(ctx: &RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let Some(partition) = ctx
                        .broker
                        .replicas
                        .get(topic.name.0.as_str(), p.partition_index)
                    else {
                        return result
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let high_watermark = partition.high_watermark();
                    let offset = if p.offset == TO_HIGH_WATERMARK {
                        high_watermark
                    } else {
                        p.offset
                    };
                    if offset < 0 || offset > high_watermark {
                        return result
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::OffsetOutOfRange.code());
                    }
                    match partition.log.delete_records_before(offset) {
                        Ok(low_watermark) => result.with_low_watermark(low_watermark),
                        Err(e) => result
                            .with_low_watermark(-1)
                            .with_error_code(e.error_code().code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
