//! One partition replica: its log and its leader state. This is the only door
//! to a partition's log: produce, fetch, ListOffsets, DeleteRecords and the
//! group coordinator all go through it, so replication changes what
//! "committed" means here and nowhere else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use uuid::Uuid;

use super::leader::{Followers, Leadership, ProduceError};
use crate::log::{
    AppendInfo, Completion, FileSlice, IoLane, LogConfig, LogError, PartitionLog, log_io_metrics,
};
use crate::producer::ActiveProducer;

/// ListOffsets' special timestamps (Kafka's `ListOffsetsRequest` constants).
pub mod offset_spec {
    /// The high watermark (the last stable offset, without transactions).
    pub const LATEST: i64 = -1;
    /// The log start offset.
    pub const EARLIEST: i64 = -2;
    /// The record with the largest timestamp.
    pub const MAX_TIMESTAMP: i64 = -3;
    /// The local log start offset (equal to EARLIEST without tiered storage).
    pub const EARLIEST_LOCAL: i64 = -4;
    /// The last tiered offset (none without tiered storage).
    pub const LATEST_TIERED: i64 = -5;
}

/// Why DeleteRecords was refused for a partition.
#[derive(Debug, thiserror::Error)]
pub enum DeleteRecordsError {
    #[error("offset {offset} is outside [0, high watermark {high_watermark}]")]
    OffsetOutOfRange { offset: i64, high_watermark: i64 },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// What a read for a consumer found: the records (a file slice, sent with
/// `sendfile`) and the offsets a Fetch response reports beside them.
#[derive(Debug)]
pub struct FetchRead {
    pub records: Option<FileSlice>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// A partition this broker hosts.
#[derive(Debug)]
pub struct Partition {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub index: i32,
    /// This broker.
    pub(super) node_id: i32,
    pub(super) log: Arc<PartitionLog>,
    pub(super) leader_epoch: AtomicI32,
    pub(super) leadership: RwLock<Leadership>,
    /// On the leader: each follower's fetch progress.
    pub(super) followers: Mutex<Followers>,
    /// When this broker last became leader: followers that have not fetched
    /// yet get `replica.lag.time.max.ms` from here before leaving the ISR.
    pub(super) led_since_ms: AtomicI64,
    /// One AlterPartition at a time; cleared when the image changes.
    pub(super) isr_change_in_flight: AtomicBool,
    /// `min.insync.replicas` of the topic.
    pub(super) min_insync_replicas: AtomicI32,
    /// Offset below which records are committed (replicated to the ISR) and
    /// visible to consumers. Invariant: log start <= high watermark <= log end.
    pub(super) high_watermark: AtomicI64,
    /// Woken when this partition's high watermark moves: long-polling
    /// fetches wait here, so an append wakes only the fetches that read it.
    pub(super) high_watermark_moved: Notify,
    /// Woken by every append as leader: followers' fetches wait here.
    log_end_moved: Notify,
    /// Where appends run, in submission order, off the async workers.
    lane: IoLane,
}

impl Partition {
    /// A hosted replica, with no leadership yet: the replica manager
    /// applies the image's with [`Self::apply_leadership`] right after.
    pub(crate) fn new(
        topic: Arc<str>,
        topic_id: Uuid,
        index: i32,
        log: Arc<PartitionLog>,
        node_id: i32,
        min_insync_replicas: i32,
        checkpointed_high_watermark: Option<i64>,
    ) -> Self {
        let log_end = log.log_end_offset();
        let high_watermark = AtomicI64::new(
            checkpointed_high_watermark
                .map_or(log_end, |hw| hw.clamp(log.log_start_offset(), log_end)),
        );
        Self {
            topic,
            topic_id,
            index,
            node_id,
            log,
            leader_epoch: AtomicI32::new(-1),
            leadership: RwLock::new(Leadership {
                leader: -1,
                leader_epoch: -1,
                partition_epoch: -1,
                replicas: vec![],
                isr: vec![],
            }),
            followers: Mutex::new(Followers::default()),
            led_since_ms: AtomicI64::new(0),
            isr_change_in_flight: AtomicBool::new(false),
            min_insync_replicas: AtomicI32::new(min_insync_replicas),
            high_watermark,
            high_watermark_moved: Notify::new(),
            log_end_moved: Notify::new(),
            lane: IoLane::default(),
        }
    }

    pub(super) fn led_since_ms(&self) -> i64 {
        self.led_since_ms.load(Ordering::Acquire)
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// What is damaged in this partition's log (a closed segment that cannot
    /// be read whole), naming the file; `None` when the log is sound.
    pub fn damage(&self) -> Option<String> {
        self.log.damage()
    }

    /// The partition's active idempotent producers (DescribeProducers).
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        self.log.active_producers()
    }

    /// Bytes of the partition's log on disk.
    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    /// Applies a changed topic config (retention, segment size, flush,
    /// min.insync.replicas...).
    pub(crate) fn update_config(&self, config: LogConfig, min_insync_replicas: i32) {
        self.log.update_config(config);
        self.min_insync_replicas
            .store(min_insync_replicas, Ordering::Release);
    }

    /// Appends record batches as the partition leader, stamped with its
    /// leader epoch, and advances the high watermark to what the ISR holds
    /// (at once when the ISR is this broker alone). With acks=all, refused
    /// up front when the ISR is smaller than `min.insync.replicas`.
    pub fn append_as_leader(
        &self,
        records: Bytes,
        now_ms: i64,
        acks: i16,
    ) -> Result<AppendInfo, ProduceError> {
        let single_replica = {
            let leadership = self.leadership.read();
            if leadership.leader != self.node_id {
                return Err(ProduceError::NotLeader);
            }
            let min = self.min_insync_replicas.load(Ordering::Acquire);
            if acks == -1 && (leadership.isr.len() as i32) < min {
                return Err(ProduceError::NotEnoughReplicas {
                    isr: leadership.isr.len(),
                    min,
                });
            }
            leadership.replicas.len() <= 1
        };
        let info = self.log.append(records, now_ms)?;
        if acks == -1 && single_replica {
            // The fsync starts now, not when [`Self::wait_committed`] is
            // awaited: a connection awaits its replies in order.
            self.log.request_flush(info.last_offset + 1);
        }
        self.log_end_moved.notify_waiters();
        self.maybe_advance_high_watermark();
        Ok(info)
    }

    /// [`Self::append_as_leader`] on this partition's I/O lane: no async
    /// worker waits on the disk, and appends keep the order in which they
    /// were submitted (the caller may go on before this resolves).
    pub fn submit_append_as_leader(
        self: &Arc<Self>,
        records: Bytes,
        now_ms: i64,
        acks: i16,
    ) -> Completion<Result<AppendInfo, ProduceError>> {
        let partition = self.clone();
        self.lane
            .run(move || partition.append_as_leader(records, now_ms, acks))
    }

    /// [`Self::append_as_follower`] on this partition's I/O lane.
    pub fn submit_append_as_follower(
        self: &Arc<Self>,
        records: Bytes,
        now_ms: i64,
    ) -> Completion<Result<(), LogError>> {
        let partition = self.clone();
        self.lane
            .run(move || partition.append_as_follower(records, now_ms))
    }

    /// Resolves once the records below `end_offset` are as safe as acks=all
    /// promises. A partition with one replica: fsynced (group commit
    /// shares the fsyncs). Replicated: every ISR member has them (the high
    /// watermark covers them), as Kafka, which leaves fsync to `flush.*`;
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
    /// `min.insync.replicas` meanwhile, REQUEST_TIMED_OUT after `timeout`.
    pub async fn wait_committed(
        &self,
        end_offset: i64,
        timeout: Duration,
    ) -> Result<(), ProduceError> {
        if self.leadership.read().replicas.len() <= 1 {
            let started = std::time::Instant::now();
            let flushed = self.log.flush_to(end_offset).await;
            log_io_metrics().durable_wait_done(started);
            return Ok(flushed?);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let moved = self.high_watermark_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            {
                let leadership = self.leadership.read();
                if leadership.leader != self.node_id {
                    return Err(ProduceError::NotLeader);
                }
                if self.high_watermark() >= end_offset {
                    let min = self.min_insync_replicas.load(Ordering::Acquire);
                    if (leadership.isr.len() as i32) < min {
                        return Err(ProduceError::NotEnoughReplicasAfterAppend {
                            isr: leadership.isr.len(),
                            min,
                        });
                    }
                    return Ok(());
                }
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return Err(ProduceError::TimedOut);
            }
        }
    }

    /// A future that resolves on the next append as leader (followers'
    /// fetches long-poll here); enable it before reading, as for
    /// [`Self::high_watermark_moved`].
    pub fn log_end_moved(&self) -> Notified<'_> {
        self.log_end_moved.notified()
    }

    pub(super) fn advance_high_watermark(&self, to: i64) {
        if self.high_watermark.fetch_max(to, Ordering::AcqRel) < to {
            self.high_watermark_moved.notify_waiters();
        }
    }

    /// A future that resolves when the high watermark moves after it was
    /// enabled; callers enable it, read, then await it (no lost wake-up).
    pub fn high_watermark_moved(&self) -> Notified<'_> {
        self.high_watermark_moved.notified()
    }

    /// Batches from `fetch_offset` for a consumer: whole batches, at most
    /// `max_bytes` (unless the first batch alone is larger), only committed
    /// ones (below the high watermark).
    pub fn read_for_consumer(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
    ) -> Result<FetchRead, LogError> {
        let high_watermark = self.high_watermark();
        let records = if max_bytes == 0 {
            None
        } else {
            self.log
                .read_slice(fetch_offset, max_bytes, high_watermark)?
        };
        Ok(FetchRead {
            records,
            high_watermark,
            log_start_offset: self.log.log_start_offset(),
        })
    }

    /// Committed batches from `offset`, copied into memory, for readers that
    /// decode records (the group coordinator loading its state).
    pub fn read_committed_bytes(&self, offset: i64, max_bytes: usize) -> Result<Bytes, LogError> {
        self.log.read(offset, max_bytes, self.high_watermark())
    }

    /// ListOffsets for one partition: (offset, timestamp) for one of the
    /// [`offset_spec`] constants or a timestamp; (-1, -1) when no committed
    /// record matches, as Kafka answers.
    pub fn offset_for(&self, spec: i64) -> (i64, i64) {
        use offset_spec::*;
        let high_watermark = self.high_watermark();
        match spec {
            LATEST => (high_watermark, -1),
            EARLIEST | EARLIEST_LOCAL => (self.log.log_start_offset(), -1),
            LATEST_TIERED => (-1, -1),
            MAX_TIMESTAMP => self
                .log
                .max_timestamp()
                .filter(|(_, offset)| *offset < high_watermark)
                .map_or((-1, -1), |(ts, offset)| (offset, ts)),
            ts if ts >= 0 => self
                .log
                .offset_for_timestamp(ts)
                .filter(|(offset, _)| *offset < high_watermark)
                .map_or((-1, -1), |(offset, ts)| (offset, ts)),
            _ => (-1, -1),
        }
    }

    /// DeleteRecords: moves the log start offset to `offset` (at most the
    /// high watermark; -1 means the high watermark). Returns the new log
    /// start offset (Kafka's "low watermark").
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, DeleteRecordsError> {
        let high_watermark = self.high_watermark();
        let offset = if offset == -1 { high_watermark } else { offset };
        if !(0..=high_watermark).contains(&offset) {
            return Err(DeleteRecordsError::OffsetOutOfRange {
                offset,
                high_watermark,
            });
        }
        Ok(self.log.delete_records_before(offset)?)
    }
}
