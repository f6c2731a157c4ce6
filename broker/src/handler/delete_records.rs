//! DeleteRecords: move a partition's log start offset forward.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::replica::DeleteRecordsError;

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
                        .leader(topic.name.0.as_str(), p.partition_index)
                    else {
                        return result.with_low_watermark(-1).with_error_code(
                            ctx.broker
                                .not_hosted_error(topic.name.0.as_str(), p.partition_index)
                                .code(),
                        );
                    };
                    match partition.delete_records_before(p.offset) {
                        Ok(low_watermark) => result.with_low_watermark(low_watermark),
                        Err(DeleteRecordsError::OffsetOutOfRange { .. }) => result
                            .with_low_watermark(-1)
                            .with_error_code(ResponseError::OffsetOutOfRange.code()),
                        Err(DeleteRecordsError::Log(e)) => result
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
