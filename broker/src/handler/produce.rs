//! Produce: validate and append record batches; answer acks=1 after the
//! append, acks=all after the batches are durable (fsync with group commit
//! on one node), acks=0 never.

use std::sync::Arc;

use futures::future::join_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};

use super::util::str_bytes;
use super::{Reply, RequestContext};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::log::{AppendInfo, Completion, LogError};
use crate::replica::{Partition, ProduceError};

/// One partition's answer: refused at once, or known when its append (on
/// the partition's I/O lane) is done.
enum Answer {
    Now(PartitionProduceResponse),
    Appending {
        index: i32,
        partition: Arc<Partition>,
        bytes: u64,
        appended: Completion<Result<AppendInfo, ProduceError>>,
    },
}

pub(crate) async fn handle(ctx: &RequestContext, request: ProduceRequest) -> Reply {
    let broker = &ctx.broker;
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    let image = broker.image();
    let now = now_ms();
    // Appends are submitted here, in the request's order, and run on the
    // partitions' I/O lanes; the connection reads its next request
    // meanwhile and the answer waits in its reply queue.
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = if topic.name.0.is_empty() {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let answer = if !valid_acks {
                Answer::Now(error(data.index, ResponseError::InvalidRequiredAcks))
            } else if request.transactional_id.is_some() {
                Answer::Now(error(
                    data.index,
                    ResponseError::TransactionalIdAuthorizationFailed,
                ))
            } else {
                match name.as_deref() {
                    None => Answer::Now(error(data.index, ResponseError::UnknownTopicId)),
                    Some(name) => submit(broker, name, data.index, data.records, acks, now),
                }
            };
            partitions.push(answer);
        }
        topics.push((topic.name, topic.topic_id, partitions));
    }
    if acks == 0 {
        // Nobody waits for the answers; the appends run all the same.
        return Reply::None;
    }
    let broker = broker.clone();
    let timeout = std::time::Duration::from_millis(request.timeout_ms.max(0) as u64);
    Reply::Later(Box::pin(async move {
        let mut done = Vec::with_capacity(topics.len());
        for (name, id, partitions) in topics {
            let responses = join_all(
                partitions
                    .into_iter()
                    .map(|answer| finish(&broker, answer, acks, timeout)),
            )
            .await;
            done.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_partition_responses(responses),
            );
        }
        let mut response = ProduceResponse::default().with_responses(done);
        super::leader_hints::add_to_produce(&image, &mut response);
        ResponseKind::Produce(response)
    }))
}

fn error(index: i32, error: ResponseError) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(error.code())
        .with_base_offset(-1)
}

/// Submits one partition's records for appending as its leader.
fn submit(
    broker: &Broker,
    topic: &str,
    index: i32,
    records: Option<bytes::Bytes>,
    acks: i16,
    now_ms: i64,
) -> Answer {
    let Some(partition) = broker.replicas.get(topic, index) else {
        return Answer::Now(error(index, broker.not_hosted_error(topic, index)));
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return Answer::Now(error(index, ResponseError::CorruptMessage));
    };
    Answer::Appending {
        index,
        bytes: records.len() as u64,
        appended: partition.submit_append_as_leader(records, now_ms, acks),
        partition,
    }
}

/// One partition's response once its append is done and, for acks=all,
/// once the records are committed.
async fn finish(
    broker: &Broker,
    answer: Answer,
    acks: i16,
    timeout: std::time::Duration,
) -> PartitionProduceResponse {
    let (index, partition, bytes, appended) = match answer {
        Answer::Now(response) => return response,
        Answer::Appending {
            index,
            partition,
            bytes,
            appended,
        } => (index, partition, bytes, appended),
    };
    let info = match appended.await.map_err(LogError::from) {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => return refused(&partition, index, &e, e.error_code()),
        Err(e) => return refused(&partition, index, &e, e.error_code()),
    };
    broker.metrics.topic_bytes_in(
        &partition.topic,
        bytes,
        (info.last_offset - info.first_offset + 1) as u64,
    );
    let response = PartitionProduceResponse::default()
        .with_index(index)
        .with_base_offset(info.first_offset)
        .with_log_append_time_ms(info.log_append_time)
        .with_log_start_offset(info.log_start_offset);
    if acks != -1 {
        return response;
    }
    match partition
        .wait_committed(info.last_offset + 1, timeout)
        .await
    {
        Ok(()) => response,
        Err(e) => {
            tracing::warn!(topic = %partition.topic, partition = index, error = %e, "acks=all not met");
            response
                .with_error_code(e.error_code().code())
                .with_base_offset(-1)
        }
    }
}

/// The response to an append that was refused, with Kafka's code and why.
fn refused(
    partition: &Partition,
    index: i32,
    why: &dyn std::fmt::Display,
    code: ResponseError,
) -> PartitionProduceResponse {
    tracing::debug!(topic = %partition.topic, partition = index, error = %why, "produce refused");
    let mut response = error(index, code);
    response.error_message = Some(str_bytes(why.to_string()));
    response
}
