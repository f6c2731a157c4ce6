//! Fetch: raw batches from partition logs up to the high watermark,
//! long-polling until `min_bytes` are available or `max_wait_ms` passes.
//! The records are file slices that the connection sends with `sendfile`
//! ([`encode`]). Fetch sessions (KIP-227) are declined (session id 0): every
//! request is a full fetch, which every client supports.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use uuid::Uuid;

use super::RequestContext;
use crate::broker::Broker;
use crate::log::FileSlice;
use crate::replica::Partition;

pub(crate) mod encode;

/// A Fetch response and the records of each of its partitions, in topic then
/// partition order (the response's own `records` fields stay empty).
#[derive(Debug)]
pub(crate) struct FetchReply {
    pub(crate) response: FetchResponse,
    pub(crate) records: Vec<Option<FileSlice>>,
}

pub(crate) async fn handle(ctx: &RequestContext, request: FetchRequest) -> FetchReply {
    let broker = &ctx.broker;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let satisfied =
        |bytes: usize, errored: bool| bytes >= request.min_bytes.max(1) as usize || errored;
    let replica = follower_id(&request);
    // A fetch that finds enough at once (the busy consumer's case) answers
    // without setting up any wait.
    let (reply, bytes, errored) = read_all(broker, &request, replica);
    if satisfied(bytes, errored) || tokio::time::Instant::now() >= deadline {
        return finish(broker, reply, errored);
    }
    // The partitions this fetch waits on: an append elsewhere never wakes it.
    let watched = watched_partitions(broker, &request);
    loop {
        // Register for wake-ups before reading, so an append between the
        // read and the wait is not missed.
        // Followers wait for appends, consumers for the high watermark.
        let mut moved: Vec<_> = watched
            .iter()
            .map(|p| match replica {
                Some(_) => Box::pin(p.log_end_moved()),
                None => Box::pin(p.high_watermark_moved()),
            })
            .collect();
        for notified in &mut moved {
            notified.as_mut().enable();
        }
        let (reply, bytes, errored) = read_all(broker, &request, replica);
        if satisfied(bytes, errored) || tokio::time::Instant::now() >= deadline {
            return finish(broker, reply, errored);
        }
        let any_moved = async {
            if moved.is_empty() {
                std::future::pending::<()>().await;
            }
            futures::future::select_all(moved).await;
        };
        if tokio::time::timeout_at(deadline, any_moved).await.is_err() {
            // Deadline: one last read, then answer with what there is.
            let (reply, _, errored) = read_all(broker, &request, replica);
            return finish(broker, reply, errored);
        }
    }
}

/// The broker id of a follower's fetch (replica id >= 0), `None` for a
/// consumer. Before v15 it is in the request; from v15 in `replica_state`.
fn follower_id(request: &FetchRequest) -> Option<i32> {
    let id = if request.replica_state.replica_id.0 >= 0 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    (id >= 0).then_some(id)
}

/// The hosted partitions a fetch reads (unknown ones are answered with an
/// error at once, so they need no wait).
fn watched_partitions(broker: &Broker, request: &FetchRequest) -> Vec<Arc<Partition>> {
    let image = broker.image();
    let mut watched = Vec::new();
    for topic in &request.topics {
        let name = if topic.topic_id != Uuid::nil() {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.as_str())
        } else {
            Some(topic.topic.0.as_str())
        };
        let Some(name) = name else { continue };
        watched.extend(
            topic
                .partitions
                .iter()
                .filter_map(|p| broker.replicas.get(name, p.partition)),
        );
    }
    watched
}

/// The answer: leader hints on partitions refused for leadership (KIP-951),
/// bytes out counted.
fn finish(broker: &Broker, mut reply: FetchReply, errored: bool) -> FetchReply {
    if errored {
        super::leader_hints::add_to_fetch(&broker.image(), &mut reply.response);
    }
    count_bytes_out(broker, &reply);
    reply
}

fn count_bytes_out(broker: &Broker, reply: &FetchReply) {
    let mut records = reply.records.iter();
    for topic in &reply.response.responses {
        let sent: usize = records
            .by_ref()
            .take(topic.partitions.len())
            .map(|r| r.as_ref().map_or(0, FileSlice::len))
            .sum();
        if sent > 0 {
            broker
                .metrics
                .topic_bytes_out(topic.topic.0.as_str(), sent as u64);
        }
    }
}

/// Reads every requested partition once. Returns the reply, the bytes
/// read and whether any partition reported an error.
fn read_all(
    broker: &Broker,
    request: &FetchRequest,
    replica: Option<i32>,
) -> (FetchReply, usize, bool) {
    let image = broker.image();
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let mut errored = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut records = Vec::new();
    for topic in &request.topics {
        let name = if topic.topic_id != Uuid::nil() {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in &topic.partitions {
            let (data, slice) = match name.as_deref() {
                None => (error(wanted.partition, ResponseError::UnknownTopicId), None),
                Some(name) => {
                    // Kafka returns at least one batch for the first partition
                    // with data even past max_bytes, so consumers progress.
                    let budget = if total == 0 {
                        remaining.max(1)
                    } else {
                        remaining
                    };
                    let limit = (wanted.partition_max_bytes.max(0) as usize).min(budget);
                    read_partition(broker, name, wanted, limit, replica)
                }
            };
            errored |= data.error_code != 0;
            let n = slice.as_ref().map_or(0, FileSlice::len);
            total += n;
            remaining = remaining.saturating_sub(n);
            partitions.push(data);
            records.push(slice);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    let reply = FetchReply {
        response: FetchResponse::default().with_responses(topics),
        records,
    };
    (reply, total, errored)
}

/// Reads one partition: for a consumer up to the high watermark, for a
/// follower up to the log end (recording its progress at the leader).
/// Only the leader serves either; a request from an older or newer leader
/// epoch than this broker's is refused (KIP-320).
fn read_partition(
    broker: &Broker,
    topic: &str,
    wanted: &FetchPartition,
    max_bytes: usize,
    replica: Option<i32>,
) -> (PartitionData, Option<FileSlice>) {
    let index = wanted.partition;
    let fetch_offset = wanted.fetch_offset;
    let Some(partition) = broker.replicas.get(topic, index) else {
        return (error(index, broker.not_hosted_error(topic, index)), None);
    };
    // Only the leader serves, and a follower only for a partition it is
    // a replica of.
    if !partition.is_leader() || replica.is_some_and(|r| !partition.has_replica(r)) {
        return (error(index, ResponseError::NotLeaderOrFollower), None);
    }
    let epoch = partition.leader_epoch();
    if wanted.current_leader_epoch >= 0 && wanted.current_leader_epoch != epoch {
        let code = if wanted.current_leader_epoch < epoch {
            ResponseError::FencedLeaderEpoch
        } else {
            ResponseError::UnknownLeaderEpoch
        };
        return (error(index, code), None);
    }
    let read = match replica {
        None => partition.read_for_consumer(fetch_offset, max_bytes),
        Some(replica) => {
            let (max_bytes, throttled) = broker
                .replicas
                .leader_throttle_allowance(&partition, replica, max_bytes);
            partition
                .read_for_follower(replica, fetch_offset, max_bytes, crate::clock::now_ms())
                .map(|(read, expand)| {
                    if let Some(change) = expand {
                        broker.replicas.propose_isr_change(&partition, change);
                    }
                    if throttled {
                        let sent = read.records.as_ref().map_or(0, FileSlice::len);
                        broker.replicas.spend_leader_throttle(sent);
                    }
                    read
                })
        }
    };
    match read {
        // No transactions yet: the last stable offset is the high watermark.
        Ok(read) => (
            PartitionData::default()
                .with_partition_index(index)
                .with_high_watermark(read.high_watermark)
                .with_last_stable_offset(read.high_watermark)
                .with_log_start_offset(read.log_start_offset),
            read.records,
        ),
        Err(e) => (
            PartitionData::default()
                .with_partition_index(index)
                .with_error_code(e.error_code().code())
                .with_high_watermark(partition.high_watermark())
                .with_last_stable_offset(partition.high_watermark())
                .with_log_start_offset(partition.log_start_offset()),
            None,
        ),
    }
}

fn error(index: i32, error: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(error.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
}
