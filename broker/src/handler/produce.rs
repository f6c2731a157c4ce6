//! Produce: validate and append record batches; answer acks=1 after the
//! append, acks=all after the batches are durable (fsync with group commit
//! on one node), acks=0 never.

use std::sync::Arc;

use futures::future::join_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};

use super::util::{code, str_bytes};
use super::{Reply, RequestContext};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::replica::Partition;

/// What an append left to do before the partition's answer is final.
struct Appended {
    response: PartitionProduceResponse,
    /// Offset up to which the log must be durable before answering acks=all.
    durable_to: Option<(Arc<Partition>, i64)>,
}

pub(crate) async fn handle(ctx: &RequestContext, request: ProduceRequest) -> Reply {
    let broker = &ctx.broker;
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    let image = broker.image();
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = if topic.name.0.is_empty() {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let appended = if !valid_acks {
                error(data.index, ResponseError::InvalidRequiredAcks)
            } else if request.transactional_id.is_some() {
                error(
                    data.index,
                    ResponseError::TransactionalIdAuthorizationFailed,
                )
            } else {
                match name.as_deref() {
                    None => error(data.index, ResponseError::UnknownTopicId),
                    Some(name) => append(broker, name, data.index, data.records, acks),
                }
            };
            partitions.push(appended);
        }
        topics.push((topic.name, topic.topic_id, partitions));
    }
    if acks == 0 {
        return Reply::None;
    }
    let respond = move |topics: Vec<(_, _, Vec<PartitionProduceResponse>)>| {
        let mut response = ProduceResponse::default().with_responses(
            topics
                .into_iter()
                .map(|(name, id, partitions)| {
                    TopicProduceResponse::default()
                        .with_name(name)
                        .with_topic_id(id)
                        .with_partition_responses(partitions)
                })
                .collect(),
        );
        super::leader_hints::add_to_produce(&image, &mut response);
        ResponseKind::Produce(response)
    };
    let needs_flush = topics
        .iter()
        .any(|(_, _, ps)| ps.iter().any(|p| p.durable_to.is_some()));
    if !needs_flush {
        return Reply::Now(Box::new(respond(
            topics
                .into_iter()
                .map(|(n, id, ps)| (n, id, ps.into_iter().map(|p| p.response).collect()))
                .collect(),
        )));
    }
    let timeout = std::time::Duration::from_millis(request.timeout_ms.max(0) as u64);
    Reply::Later(Box::pin(async move {
        let mut done = Vec::with_capacity(topics.len());
        for (name, id, partitions) in topics {
            let responses = join_all(partitions.into_iter().map(|p| async move {
                match p.durable_to {
                    None => p.response,
                    Some((partition, offset)) => match partition.wait_committed(offset, timeout).await {
                        Ok(()) => p.response,
                        Err(e) => {
                            tracing::warn!(topic = %partition.topic, partition = partition.index, error = %e, "acks=all not met");
                            p.response
                                .with_error_code(e.error_code().code())
                                .with_base_offset(-1)
                        }
                    },
                }
            }))
            .await;
            done.push((name, id, responses));
        }
        respond(done)
    }))
}

fn error(index: i32, error: ResponseError) -> Appended {
    Appended {
        response: PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(error.code())
            .with_base_offset(-1),
        durable_to: None,
    }
}

fn append(
    broker: &Broker,
    topic: &str,
    index: i32,
    records: Option<bytes::Bytes>,
    acks: i16,
) -> Appended {
    let Some(partition) = broker.replicas.get(topic, index) else {
        return error(index, broker.not_hosted_error(topic, index));
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return error(index, ResponseError::CorruptMessage);
    };
    let bytes = records.len() as u64;
    match partition.append_as_leader(records, now_ms(), acks) {
        Ok(info) => {
            broker.metrics.topic_bytes_in(
                topic,
                bytes,
                (info.last_offset - info.first_offset + 1) as u64,
            );
            Appended {
                response: PartitionProduceResponse::default()
                    .with_index(index)
                    .with_base_offset(info.first_offset)
                    .with_log_append_time_ms(info.log_append_time)
                    .with_log_start_offset(info.log_start_offset),
                durable_to: (acks == -1).then(|| (partition.clone(), info.last_offset + 1)),
            }
        }
        Err(e) => {
            tracing::debug!(topic, partition = index, error = %e, "produce refused");
            let mut response = error(index, e.error_code()).response;
            response.error_message = Some(str_bytes(e.to_string()));
            Appended {
                response: response.with_error_code(code(Some(e.error_code()))),
                durable_to: None,
            }
        }
    }
}
