//! Produce: validate and append record batches; answer acks=1 after the
//! append, acks=all after the batches are durable (fsync with group commit
//! on one node), acks=0 never.
//!
//! The appends of one request run together as one job on the blocking-I/O
//! pool ([`crate::io_pool`]), so a write that sleeps never stalls the async
//! worker that serves other connections, and a small request pays for one
//! hand-off, not one per partition. The connection awaits this handler
//! before it reads its next request, so appends from one connection stay in
//! order.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind, TopicName};
use uuid::Uuid;

use super::util::{code, str_bytes};
use super::{Reply, RequestContext};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::io_pool;
use crate::log::{AppendInfo, LogError};
use crate::replica::Partition;

/// What an append left to do before the partition's answer is final.
struct Appended {
    response: PartitionProduceResponse,
    /// Offset up to which the log must be durable before answering acks=all.
    durable_to: Option<(Arc<Partition>, i64)>,
}

/// A partition's batches waiting for the I/O pool, and where its answer goes.
struct Pending {
    topic: usize,
    slot: usize,
    partition: Arc<Partition>,
    records: Bytes,
}

/// One topic of the response: its name, id and partitions' answers.
type TopicSlots<T> = (TopicName, Uuid, Vec<T>);

pub(crate) async fn handle(ctx: &RequestContext, request: ProduceRequest) -> Reply {
    let broker = &ctx.broker;
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    let image = broker.image();
    let mut topics: Vec<TopicSlots<Option<Appended>>> =
        Vec::with_capacity(request.topic_data.len());
    let mut pending = Vec::new();
    for topic in request.topic_data {
        let name = if topic.name.0.is_empty() {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let refused = if !valid_acks {
                Some(ResponseError::InvalidRequiredAcks)
            } else if request.transactional_id.is_some() {
                Some(ResponseError::TransactionalIdAuthorizationFailed)
            } else {
                match name.as_deref().map(|n| broker.replicas.get(n, data.index)) {
                    None => Some(ResponseError::UnknownTopicId),
                    Some(None) => Some(ResponseError::UnknownTopicOrPartition),
                    Some(Some(partition)) => match data.records.filter(|r| !r.is_empty()) {
                        None => Some(ResponseError::CorruptMessage),
                        Some(records) => {
                            pending.push(Pending {
                                topic: topics.len(),
                                slot: partitions.len(),
                                partition,
                                records,
                            });
                            None
                        }
                    },
                }
            };
            partitions.push(refused.map(|e| error(data.index, e)));
        }
        topics.push((topic.name, topic.topic_id, partitions));
    }
    append_all(broker, pending, acks, &mut topics).await;
    let topics: Vec<TopicSlots<Appended>> = topics
        .into_iter()
        .map(|(name, id, slots)| {
            let answered = slots
                .into_iter()
                .map(|s| s.expect("every partition is answered"));
            (name, id, answered.collect())
        })
        .collect();
    if acks == 0 {
        return Reply::None;
    }
    let respond = move |topics: Vec<(_, _, Vec<PartitionProduceResponse>)>| {
        ResponseKind::Produce(
            ProduceResponse::default().with_responses(
                topics
                    .into_iter()
                    .map(|(name, id, partitions)| {
                        TopicProduceResponse::default()
                            .with_name(name)
                            .with_topic_id(id)
                            .with_partition_responses(partitions)
                    })
                    .collect(),
            ),
        )
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
    Reply::Later(Box::pin(async move {
        let mut done = Vec::with_capacity(topics.len());
        for (name, id, partitions) in topics {
            let responses = join_all(partitions.into_iter().map(|p| async move {
                match p.durable_to {
                    None => p.response,
                    Some((partition, offset)) => match partition.wait_committed(offset).await {
                        Ok(()) => p.response,
                        Err(e) => {
                            tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "fsync failed");
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

/// Runs the request's appends as one job on the I/O pool and files each
/// partition's answer in its slot.
async fn append_all(
    broker: &Broker,
    pending: Vec<Pending>,
    acks: i16,
    topics: &mut [TopicSlots<Option<Appended>>],
) {
    if pending.is_empty() {
        return;
    }
    let now = now_ms();
    let results = io_pool::run(move || {
        pending
            .into_iter()
            .map(|p| {
                #[cfg(feature = "test-hooks")]
                io_pool::test_hooks::before_append(&p.partition.topic);
                let bytes = p.records.len() as u64;
                let result = p.partition.append_as_leader(p.records, now);
                (p.topic, p.slot, p.partition, bytes, result)
            })
            .collect::<Vec<_>>()
    })
    .await;
    for (topic, slot, partition, bytes, result) in results {
        topics[topic].2[slot] = Some(answer(broker, partition, bytes, acks, result));
    }
}

/// The answer for one partition's append.
fn answer(
    broker: &Broker,
    partition: Arc<Partition>,
    bytes: u64,
    acks: i16,
    result: Result<AppendInfo, LogError>,
) -> Appended {
    let index = partition.index;
    match result {
        Ok(info) => {
            broker.metrics.topic_bytes_in(
                &partition.topic,
                bytes,
                (info.last_offset - info.first_offset + 1) as u64,
            );
            Appended {
                response: PartitionProduceResponse::default()
                    .with_index(index)
                    .with_base_offset(info.first_offset)
                    .with_log_append_time_ms(info.log_append_time)
                    .with_log_start_offset(info.log_start_offset),
                durable_to: (acks == -1).then(|| (partition, info.last_offset + 1)),
            }
        }
        Err(e) => {
            tracing::debug!(topic = %partition.topic, partition = index, error = %e, "produce refused");
            let mut response = error(index, e.error_code()).response;
            response.error_message = Some(str_bytes(e.to_string()));
            Appended {
                response: response.with_error_code(code(Some(e.error_code()))),
                durable_to: None,
            }
        }
    }
}
