//! Group state in `__consumer_offsets`: the compacted internal topic whose
//! partition leader is a group's coordinator. Commits are acknowledged only
//! once durable; a partition's groups are rebuilt from it when this broker
//! becomes its leader.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::GroupCoordinator;
use super::records::{OffsetsRecord, decode};

use crate::controller::NewTopic;
use crate::log::{AppendInfo, Completion};
use crate::replica::ProduceError;

/// Kafka's name for the internal offsets topic.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The `__consumer_offsets` partition of a group: Java's `String.hashCode`
/// made non-negative, modulo the partition count, exactly as Kafka computes it.
pub(crate) fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (hash & 0x7fff_ffff) % partitions.max(1)
}

/// Creates `__consumer_offsets` (compacted) if it does not exist yet.
pub(crate) async fn ensure_offsets_topic(groups: &GroupCoordinator) -> Result<(), ResponseError> {
    if groups.image().topic(OFFSETS_TOPIC).is_some() {
        return Ok(());
    }
    // As Kafka: `offsets.topic.replication.factor`, or fewer replicas when
    // fewer brokers are alive (a young cluster must still get its groups).
    let live_brokers = groups.image().live_brokers().count().max(1);
    let replication_factor = groups
        .config
        .offsets_topic_replication_factor
        .min(i16::try_from(live_brokers).unwrap_or(i16::MAX));
    let topic = NewTopic {
        name: OFFSETS_TOPIC.to_owned(),
        num_partitions: groups.config.offsets_topic_num_partitions,
        replication_factor,
        assignments: vec![],
        configs: vec![
            ("cleanup.policy".to_owned(), "compact".to_owned()),
            ("segment.bytes".to_owned(), "104857600".to_owned()),
        ],
    };
    match groups
        .controller
        .create_topics(vec![topic], false)
        .await
        .pop()
    {
        Some(Ok(_)) | Some(Err(crate::controller::TopicError::AlreadyExists(_))) => Ok(()),
        Some(Err(error)) => {
            tracing::error!(%error, "could not create {OFFSETS_TOPIC}");
            Err(ResponseError::CoordinatorNotAvailable)
        }
        None => Err(ResponseError::CoordinatorNotAvailable),
    }
}

/// Appends `records` (key, value or tombstone) for `group_id` and waits
/// until they are durable.
pub(crate) async fn append(
    groups: &Arc<GroupCoordinator>,
    group_id: &str,
    records: Vec<(Bytes, Option<Bytes>)>,
) -> Result<(), ResponseError> {
    submit(groups, group_id, records)?.durable(group_id).await
}

/// A write to `__consumer_offsets` whose place in the log is fixed: it is
/// queued on the partition's I/O lane (no async worker waits on the disk).
pub(crate) struct Submitted {
    partition: Arc<crate::replica::Partition>,
    appended: Completion<Result<AppendInfo, ProduceError>>,
}

impl Submitted {
    /// Waits until the write is appended, then until it is durable.
    pub(crate) async fn durable(self, group_id: &str) -> Result<(), ResponseError> {
        let info = match self.appended.await {
            Ok(Ok(info)) => info,
            Ok(Err(error)) => return Err(write_error(group_id, error)),
            Err(error) => {
                tracing::error!(%error, group_id, "could not append to {OFFSETS_TOPIC}");
                return Err(ResponseError::CoordinatorNotAvailable);
            }
        };
        // offsets.commit.timeout.ms (Kafka's default)
        let timeout = std::time::Duration::from_secs(5);
        self.partition
            .wait_committed(info.last_offset + 1, timeout)
            .await
            .map_err(|error| write_error(group_id, error))
    }
}

/// NOT_COORDINATOR once this broker no longer leads the offsets partition;
/// COORDINATOR_NOT_AVAILABLE for anything else (the client retries).
fn write_error(group_id: &str, error: ProduceError) -> ResponseError {
    tracing::error!(%error, group_id, "{OFFSETS_TOPIC} write failed");
    match error {
        ProduceError::NotLeader => ResponseError::NotCoordinator,
        _ => ResponseError::CoordinatorNotAvailable,
    }
}

/// Queues `records` for `group_id` on the offsets partition's I/O lane at
/// once (in the caller's order, so that later group states land after
/// earlier ones); [`Submitted::durable`] waits for them.
pub(crate) fn submit(
    groups: &GroupCoordinator,
    group_id: &str,
    records: Vec<(Bytes, Option<Bytes>)>,
) -> Result<Submitted, ResponseError> {
    // FindCoordinator and JoinGroup create the topic before any group
    // writes to it.
    if groups.image().topic(OFFSETS_TOPIC).is_none() {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    // The coordinator of a group is the leader of its offsets partition
    // (a follower hosts the partition too, but must not write to it).
    groups.check_coordinator(group_id)?;
    let partition = groups
        .replicas
        .get(OFFSETS_TOPIC, groups.offsets_partition(group_id))
        .ok_or(ResponseError::NotCoordinator)?;
    let now = crate::clock::now_ms();
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: now,
            key: Some(key),
            value,
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .map_err(|_| ResponseError::UnknownServerError)?;
    let appended = partition.submit_append_as_leader(buf.freeze(), now, -1);
    Ok(Submitted {
        partition,
        appended,
    })
}

/// Rebuilds the groups and committed offsets of one `__consumer_offsets`
/// partition from its log (when this node becomes its leader); later
/// records win and tombstones delete.
pub(crate) fn load_partition(coordinator: &GroupCoordinator, index: i32) {
    let Some(partition) = coordinator.replicas.get(OFFSETS_TOPIC, index) else {
        return;
    };
    let end = partition.high_watermark();
    let mut offset = partition.log_start_offset();
    let mut loaded = 0usize;
    while offset < end {
        let Ok(bytes) = partition.read_committed_bytes(offset, 1 << 20) else {
            break;
        };
        if bytes.is_empty() {
            break;
        }
        let mut buf = bytes;
        let Ok(sets) = RecordBatchDecoder::decode_all(&mut buf) else {
            break;
        };
        let mut last = offset;
        for record in sets.into_iter().flat_map(|s| s.records) {
            last = last.max(record.offset + 1);
            let Some(key) = record.key else { continue };
            if let Some(decoded) = decode(key, record.value) {
                coordinator.apply_loaded(decoded);
                loaded += 1;
            }
        }
        if last <= offset {
            break;
        }
        offset = last;
    }
    if loaded > 0 {
        tracing::info!(
            partition = index,
            records = loaded,
            "loaded consumer groups from {OFFSETS_TOPIC}"
        );
    }
}

impl GroupCoordinator {
    fn apply_loaded(&self, record: OffsetsRecord) {
        match record {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                let group = self.group_or_create(&group);
                let mut group = group.lock();
                match value {
                    Some(v) => group.offsets.insert((topic, partition), v),
                    None => group.offsets.remove(&(topic, partition)),
                };
            }
            OffsetsRecord::Group {
                group,
                value: Some(snapshot),
            } => {
                let group = self.group_or_create(&group);
                group.lock().restore(snapshot, std::time::Instant::now());
            }
            OffsetsRecord::Group { group, value: None } => self.remove(&group),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::partition_for;

    #[test]
    fn partition_matches_kafka() {
        // Java: "test-group".hashCode() == 627841412, % 50 == 12.
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
    }
}
