//! The log of one partition: a set of segments, appended at the end, read
//! from anywhere, trimmed at the start by retention and DeleteRecords.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::batch::BatchHeader;
use super::config::LogConfig;
use super::leader_epoch::LeaderEpochCache;
use super::segment::{Segment, read_header};
use super::slice::FileSlice;
use super::{LogError, checkpoint, producer_snapshot};
use crate::producer::{ActiveProducer, ProducerStateTable};

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on the batches, or -1 under CreateTime.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch was a retry of one already appended (idempotent producer):
    /// nothing was appended and the offsets are the original ones.
    pub duplicate: bool,
}

#[derive(Debug)]
pub(super) struct State {
    /// Segments by base offset; the last one is the active segment.
    /// Invariant: never empty, and contiguous in offsets.
    pub(super) segments: BTreeMap<i64, Segment>,
    pub(super) config: LogConfig,
    /// Base of the active segment when compaction last ran: closed segments
    /// below it are clean.
    pub(super) compacted_through: i64,
    /// Records appended since the last fsync and when the first of them was.
    unflushed_records: i64,
    unflushed_since_ms: Option<i64>,
    /// Idempotent producers' recent batches, checked under the append lock.
    producers: ProducerStateTable,
}

impl State {
    pub(super) fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has a segment")
    }
}

/// One partition's log. Appends are serialized by the append lock, which
/// they hold across their write; the state lock guards only bookkeeping
/// (segments, sizes, indexes), so reads never wait for an append's I/O.
#[derive(Debug)]
pub struct PartitionLog {
    pub(super) dir: PathBuf,
    pub(super) state: RwLock<State>,
    /// Held by appends and truncations, the two writers of the active
    /// segment's file; taken before `state`, never after.
    append_lock: Mutex<()>,
    /// Set (under `append_lock`) when the broker shuts down, before the
    /// final flush: no append lands after it, so the clean-shutdown marker
    /// never covers a write the process may cut short on exit.
    closed_for_appends: AtomicBool,
    /// Invariant: log start <= flushed <= log end (flushed may lag start
    /// after DeleteRecords, which is harmless).
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    flushed_offset: AtomicI64,
    /// Bumped by every truncation, so that an fsync that raced one does not
    /// mark re-appended, unsynced offsets as flushed.
    truncations: AtomicU64,
    /// The fsyncs acks=all waits for, shared by concurrent waiters.
    group_commit: GroupCommit,
    /// Why part of the log cannot be read, naming the file: found at start
    /// or by a read. Reported (metrics, `/readyz`), never fatal to the broker.
    damage: Mutex<Option<String>>,
    /// Where each leader epoch starts (KIP-101).
    pub(super) epochs: LeaderEpochCache,
    /// The leader epoch stamped on batches appended as leader.
    pub(super) leader_epoch: AtomicI32,
}

impl PartitionLog {
    /// Opens the log in `dir` (created if missing). With `needs_recovery`
    /// (no clean shutdown) the active segment is verified batch by batch and
    /// a torn tail is cut off.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        needs_recovery: bool,
        now_ms: i64,
    ) -> Result<Arc<Self>, LogError> {
        std::fs::create_dir_all(dir).map_err(LogError::io(format!("create {}", dir.display())))?;
        let mut bases: Vec<i64> = std::fs::read_dir(dir)
            .map_err(LogError::io(format!("list {}", dir.display())))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse::<i64>().ok()
            })
            .collect();
        bases.sort_unstable();
        let checkpointed_start = checkpoint::read_log_start(dir)?;
        if bases.is_empty() {
            bases.push(checkpointed_start.unwrap_or(0));
        }
        let last = bases.len() - 1;
        let mut segments = BTreeMap::new();
        for (i, base) in bases.into_iter().enumerate() {
            let segment = if i == last {
                Segment::open(dir, base, needs_recovery, now_ms)?
            } else {
                Segment::open_closed(dir, base, now_ms)?
            };
            segments.insert(base, segment);
        }
        let mut state = State {
            segments,
            config,
            unflushed_records: 0,
            unflushed_since_ms: None,
            producers: ProducerStateTable::default(),
            compacted_through: i64::MIN,
        };
        let first_base = *state.segments.keys().next().expect("at least one segment");
        let log_start = checkpointed_start.unwrap_or(first_base).max(first_base);
        let damage = state.segments.values().find_map(|s| s.damage.clone());
        let log_end = state.active().next_offset;
        state.producers = producer_snapshot::rebuild(dir, &state.segments, log_start, log_end)?;
        let epochs = LeaderEpochCache::open(dir)?;
        epochs.truncate_from(log_end)?;
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            log_start_offset: AtomicI64::new(log_start.min(log_end)),
            log_end_offset: AtomicI64::new(log_end),
            flushed_offset: AtomicI64::new(log_end),
            group_commit: GroupCommit::default(),
            truncations: AtomicU64::new(0),
            state: RwLock::new(state),
            append_lock: Mutex::new(()),
            closed_for_appends: AtomicBool::new(false),
            damage: Mutex::new(damage),
            leader_epoch: AtomicI32::new(epochs.latest_epoch().unwrap_or(0)),
            epochs,
        }))
    }

    /// Why part of this log cannot be read, if it cannot (naming the file).
    pub fn damage(&self) -> Option<String> {
        self.damage.lock().clone()
    }

    /// Records damage found by a read (reported once) and returns the
    /// error the read answers with.
    fn damaged(&self, file: &str, position: u64, reason: &str) -> LogError {
        let message = format!("{file}: {reason} at byte {position}");
        let mut damage = self.damage.lock();
        if damage.is_none() {
            tracing::error!("partition log damaged: {message}");
            *damage = Some(message.clone());
        }
        LogError::Damaged(message)
    }

    /// Refuses appends from now on, after any append in progress ends
    /// (shutdown, before the final flush and the clean-shutdown marker).
    pub fn close_for_appends(&self) {
        let _append = self.append_lock.lock();
        self.closed_for_appends.store(true, Ordering::Release);
    }

    /// With the append lock held: whether appends are refused now.
    pub(super) fn check_open_for_appends(&self) -> Result<(), LogError> {
        if self.closed_for_appends.load(Ordering::Acquire) {
            return Err(LogError::ShuttingDown);
        }
        Ok(())
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.state.read().segments.values().map(Segment::size).sum()
    }

    /// The idempotent producers this log remembers (DescribeProducers).
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        self.state.read().producers.active()
    }

    pub fn config(&self) -> LogConfig {
        self.state.read().config.clone()
    }

    pub fn update_config(&self, config: LogConfig) {
        let mut state = self.state.write();
        if state.config != config {
            state.config = config;
        }
    }

    /// The batches from the one holding `offset`, whole batches only, at
    /// most `max_bytes` unless the first batch alone is larger (then it is
    /// returned whole, so a consumer always progresses), and only batches
    /// that start below `max_offset_exclusive` (the high watermark). Only
    /// batch headers are read: the bytes stay in the file for `sendfile`.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
    ) -> Result<Option<FileSlice>, LogError> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        if offset >= max_offset_exclusive.min(end) {
            return Ok(None);
        }
        // The segment holding `offset`; compaction can leave gaps at a
        // segment's end, so a read falls through to the next segment.
        let mut from = offset;
        loop {
            let (file, hint, jump, segment_end, next_base) = {
                let state = self.state.read();
                let Some((_, segment)) = state.segments.range(..=from).next_back() else {
                    return Ok(None);
                };
                if let Some(damage) = &segment.damage
                    && from >= segment.next_offset
                {
                    return Err(LogError::Damaged(damage.clone()));
                }
                let next_base = state.segments.range(from + 1..).next().map(|(b, _)| *b);
                let hint = segment.position_hint(from);
                // The slice starts at or after `hint`, so a batch boundary
                // within `max_bytes` of `hint` is within reach of the slice.
                let reach = hint.saturating_add(max_bytes as u64).min(segment.size());
                (
                    segment.file(),
                    hint,
                    segment.batch_boundary_at_or_before(reach, max_offset_exclusive),
                    segment.size(),
                    next_base,
                )
            };
            // Skip the batches between the index entry and the one holding
            // `from`. A batch that runs past the segment's end is damage (a
            // rewritten length): the read fails for this partition alone.
            let mut pos = hint;
            let first = loop {
                match read_header(&file, pos, segment_end) {
                    Ok(None) => break None,
                    Ok(Some(header)) if pos + header.size as u64 > segment_end => {
                        return Err(self.damaged_segment(
                            from,
                            pos,
                            "a record batch runs past the end of the segment",
                        ));
                    }
                    Ok(Some(header)) if header.last_offset() >= from => break Some(header),
                    Ok(Some(header)) => pos += header.size as u64,
                    Err(LogError::CorruptMessage(reason)) => {
                        return Err(self.damaged_segment(from, pos, reason));
                    }
                    // Shorter than the broker wrote it: cut from outside.
                    Err(LogError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        return Err(self.damaged_segment(from, pos, "the segment file ends early"));
                    }
                    Err(error) => return Err(error),
                }
            };
            match (first, next_base) {
                (Some(first), _) if first.base_offset >= max_offset_exclusive => return Ok(None),
                (Some(first), _) => {
                    let limit = pos.saturating_add(max_bytes as u64).min(segment_end);
                    let end = slice_end(&file, pos, &first, jump, limit, max_offset_exclusive)?;
                    return Ok(Some(FileSlice::new(file, pos, (end - pos) as usize)));
                }
                (None, Some(next)) if next < max_offset_exclusive => from = next,
                (None, _) => return Ok(None),
            }
        }
    }

    /// [`Self::damaged`] for the segment holding `offset`.
    fn damaged_segment(&self, offset: i64, position: u64, reason: &str) -> LogError {
        let base = self
            .state
            .read()
            .segments
            .range(..=offset)
            .next_back()
            .map_or(0, |(base, _)| *base);
        let file = self
            .dir
            .join(format!("{}.log", super::segment::file_stem(base)));
        self.damaged(&file.display().to_string(), position, reason)
    }

    /// [`Self::read_slice`] copied into memory, for readers that decode
    /// records (timestamps, compaction, tests).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
    ) -> Result<Bytes, LogError> {
        match self.read_slice(offset, max_bytes, max_offset_exclusive)? {
            None => Ok(Bytes::new()),
            Some(slice) => slice
                .read()
                .map_err(LogError::io(format!("read {}", self.dir.display()))),
        }
    }

    /// The first record at or after `timestamp`: (offset, its timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Option<(i64, i64)> {
        let start = self.log_start_offset();
        let hint = {
            let state = self.state.read();
            let segment = state
                .segments
                .values()
                .find(|s| s.max_timestamp().is_some_and(|(ts, _)| ts >= timestamp))?;
            segment.offset_hint_for_timestamp(timestamp).max(start)
        };
        let mut offset = hint;
        let end = self.log_end_offset();
        while offset < end {
            let batch = self.read(offset, 1, end).ok()?;
            let header = BatchHeader::parse(&batch).ok()?;
            if header.max_timestamp >= timestamp {
                return first_record_at_or_after(&batch, &header, timestamp, offset);
            }
            offset = header.last_offset() + 1;
        }
        None
    }

    /// The record with the largest timestamp: (timestamp, offset).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let (ts, batch_offset) = {
            let state = self.state.read();
            state
                .segments
                .values()
                .filter_map(Segment::max_timestamp)
                .max_by_key(|(ts, _)| *ts)?
        };
        let batch = self
            .read(batch_offset.max(self.log_start_offset()), 1, i64::MAX)
            .ok()?;
        let header = BatchHeader::parse(&batch).ok()?;
        first_record_at_or_after(&batch, &header, ts, 0).map(|(offset, ts)| (ts, offset))
    }

    /// Deletes closed segments that are below the log start offset, older
    /// than `retention.ms`, or beyond `retention.bytes` (the latter two only
    /// under `cleanup.policy=delete`). Returns how many were deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let (removed, new_start) = {
            let mut state = self.state.write();
            let config = state.config.clone();
            let log_start = self.log_start_offset();
            let mut total: u64 = state.segments.values().map(Segment::size).sum();
            let mut doomed = Vec::new();
            let closed = state.segments.len() - 1;
            for segment in state.segments.values().take(closed) {
                let below_start = segment.next_offset <= log_start;
                let expired = config.delete
                    && config.retention_ms >= 0
                    && now_ms != i64::MIN
                    && segment
                        .max_timestamp()
                        .is_some_and(|(ts, _)| ts < now_ms.saturating_sub(config.retention_ms));
                let oversized = config.delete
                    && config.retention_bytes >= 0
                    && total - segment.size() >= config.retention_bytes as u64;
                if !(below_start || expired || oversized) {
                    break;
                }
                total -= segment.size();
                doomed.push(segment.base_offset);
            }
            let removed: Vec<Segment> = doomed
                .iter()
                .filter_map(|b| state.segments.remove(b))
                .collect();
            let first = *state
                .segments
                .keys()
                .next()
                .expect("a log always has a segment");
            let moved = self.log_start_offset.fetch_max(first, Ordering::AcqRel) < first;
            (removed, moved.then_some(first))
        };
        let count = removed.len();
        for segment in removed {
            tracing::debug!(dir = %self.dir.display(), base_offset = segment.base_offset, "deleting segment");
            segment.delete()?;
        }
        // After the deletion (which frees space on a full disk); a start
        // without it begins at the first remaining segment anyway.
        if let Some(first) = new_start {
            checkpoint::write_log_start(&self.dir, first)?;
        }
        Ok(count)
    }
}

/// Where a slice that starts with batch `first` at `pos` ends: after the
/// last whole batch within `limit` that starts below `max_offset`, walking
/// headers from `jump` (a batch start known to qualify) when it is past
/// `pos`; at least after `first`.
fn slice_end(
    file: &std::fs::File,
    pos: u64,
    first: &BatchHeader,
    jump: u64,
    limit: u64,
    max_offset: i64,
) -> Result<u64, LogError> {
    let first_end = pos + first.size as u64;
    if first_end >= limit {
        return Ok(first_end);
    }
    let mut end = jump.max(first_end);
    while let Some(header) = read_header(file, end, limit)? {
        let batch_end = end + header.size as u64;
        if header.base_offset >= max_offset || batch_end > limit {
            break;
        }
        end = batch_end;
    }
    Ok(end)
}

/// The first record of `batch` with a timestamp >= `timestamp` and an offset
/// >= `min_offset`, decoding the batch (it may be compressed).
fn first_record_at_or_after(
    batch: &Bytes,
    header: &BatchHeader,
    timestamp: i64,
    min_offset: i64,
) -> Option<(i64, i64)> {
    if header.is_log_append_time() {
        return Some((header.base_offset.max(min_offset), header.max_timestamp));
    }
    let mut buf = batch.slice(..header.size);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).ok()?;
    set.records
        .iter()
        .find(|r| r.timestamp >= timestamp && r.offset >= min_offset)
        .map(|r| (r.offset, r.timestamp))
}

#[path = "append.rs"]
mod append;
#[path = "group_commit.rs"]
mod group_commit;
#[path = "truncate.rs"]
mod truncate;
use group_commit::GroupCommit;

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
