//! The log of one partition: a set of segments, appended at the end, read
//! from anywhere, trimmed at the start by retention and DeleteRecords.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;

use super::batch::{self, BatchHeader, HEADER_SIZE};
use super::config::{LogConfig, TimestampType};
use super::segment::{Segment, read_header};
use super::{LogError, checkpoint, producer_snapshot};
use crate::producer::{BatchVerdict, ProducerStateTable};

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

/// One partition's log. Appends are serialized; reads and fsyncs do their
/// I/O without holding the append lock.
#[derive(Debug)]
pub struct PartitionLog {
    pub(super) dir: PathBuf,
    pub(super) state: RwLock<State>,
    /// Invariant: log start <= flushed <= log end (flushed may lag start
    /// after DeleteRecords, which is harmless).
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    flushed_offset: AtomicI64,
    /// Bumped by every truncation, so that an fsync that raced one does not
    /// mark re-appended, unsynced offsets as flushed.
    truncations: AtomicU64,
    /// One fsync in flight at a time; callers queued here share the next one.
    flush_lock: tokio::sync::Mutex<()>,
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
            let segment = Segment::open(dir, base, needs_recovery && i == last, now_ms)?;
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
        let log_end = state.active().next_offset;
        state.producers = producer_snapshot::rebuild(dir, &state.segments, log_start, log_end)?;
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            log_start_offset: AtomicI64::new(log_start.min(log_end)),
            log_end_offset: AtomicI64::new(log_end),
            flushed_offset: AtomicI64::new(log_end),
            flush_lock: tokio::sync::Mutex::new(()),
            truncations: AtomicU64::new(0),
            state: RwLock::new(state),
        }))
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

    pub fn config(&self) -> LogConfig {
        self.state.read().config.clone()
    }

    pub fn update_config(&self, config: LogConfig) {
        let mut state = self.state.write();
        if state.config != config {
            state.config = config;
        }
    }

    /// Validates the batches of one produce request and appends them, all or
    /// none, assigning offsets. Nothing is fsynced here; see [`Self::flush_to`].
    pub fn append(&self, records: Bytes, now_ms: i64) -> Result<AppendInfo, LogError> {
        // CRC and structure are checked before taking the lock.
        let mut headers = batch::validate_all(&records)?;
        let mut bytes = records.to_vec();
        let mut state = self.state.write();
        let config = state.config.clone();
        if let Some(big) = headers.iter().find(|h| h.size > config.max_message_bytes) {
            return Err(LogError::MessageTooLarge {
                size: big.size,
                max: config.max_message_bytes,
            });
        }
        // Later batches of one request are checked against the state the
        // earlier ones leave behind.
        let mut scratch: Option<ProducerStateTable> = None;
        for header in &headers {
            let table = scratch.as_ref().unwrap_or(&state.producers);
            let verdict = table.check(header)?;
            if headers.len() > 1 {
                scratch
                    .get_or_insert_with(|| state.producers.clone())
                    .update(header);
            }
            if let BatchVerdict::Duplicate {
                first_offset,
                last_offset,
            } = verdict
            {
                if headers.len() > 1 {
                    return Err(LogError::DuplicateSequence);
                }
                return Ok(AppendInfo {
                    first_offset,
                    last_offset,
                    log_append_time: -1,
                    log_start_offset: self.log_start_offset(),
                    duplicate: true,
                });
            }
        }
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let first_offset = state.active().next_offset;
        let mut next = first_offset;
        let mut pos = 0;
        let mut record_count = 0i64;
        for header in &mut headers {
            let batch = &mut bytes[pos..pos + header.size];
            batch::set_base_offset(batch, next);
            header.base_offset = next;
            if let Some(now) = log_append_time {
                batch::set_log_append_time(batch, now);
                header.max_timestamp = now;
            }
            next = header.last_offset() + 1;
            record_count += i64::from(header.last_offset_delta) + 1;
            pos += header.size;
        }
        let active = state.active();
        let age = now_ms.saturating_sub(active.created_ms);
        if !active.is_empty()
            && (active.size() + bytes.len() as u64 > config.segment_bytes
                || age >= config.segment_ms)
        {
            self.roll(&mut state, first_offset, now_ms)?;
        }
        state
            .active_mut()
            .append(&bytes, &headers, config.index_interval_bytes)?;
        for header in &headers {
            state.producers.update(header);
        }
        state.unflushed_records += record_count;
        state.unflushed_since_ms.get_or_insert(now_ms);
        self.log_end_offset.store(next, Ordering::Release);
        Ok(AppendInfo {
            first_offset,
            last_offset: next - 1,
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset: self.log_start_offset(),
            duplicate: false,
        })
    }

    /// Closes the active segment (fsyncing it) and starts one at `base_offset`.
    fn roll(&self, state: &mut State, base_offset: i64, now_ms: i64) -> Result<(), LogError> {
        state.active().sync()?;
        producer_snapshot::write(&self.dir, base_offset, &state.producers)?;
        self.flushed_offset.fetch_max(base_offset, Ordering::AcqRel);
        let segment = Segment::open(&self.dir, base_offset, false, now_ms)?;
        state.segments.insert(base_offset, segment);
        Ok(())
    }

    /// Raw batches from the one holding `offset`, whole batches only, at most
    /// `max_bytes` unless the first batch alone is larger (then it is returned
    /// whole, so a consumer always progresses), and only batches that start
    /// below `max_offset_exclusive` (the high watermark).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
    ) -> Result<Bytes, LogError> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        if offset >= max_offset_exclusive.min(end) {
            return Ok(Bytes::new());
        }
        // The segment holding `offset`; compaction can leave gaps at a
        // segment's end, so a read falls through to the next segment.
        let mut from = offset;
        let (file, pos, segment_end) = loop {
            let (file, mut pos, segment_end, next_base) = {
                let state = self.state.read();
                let Some((_, segment)) = state.segments.range(..=from).next_back() else {
                    return Ok(Bytes::new());
                };
                let next_base = state.segments.range(from + 1..).next().map(|(b, _)| *b);
                (
                    segment.file(),
                    segment.position_hint(from),
                    segment.size(),
                    next_base,
                )
            };
            // Skip the batches between the index entry and the one holding `from`.
            let found = loop {
                let Some(header) = read_header(&file, pos, segment_end)? else {
                    break false;
                };
                if header.last_offset() >= from {
                    break true;
                }
                pos += header.size as u64;
            };
            match (found, next_base) {
                (true, _) => break (file, pos, segment_end),
                (false, Some(next)) if next < max_offset_exclusive => from = next,
                (false, _) => return Ok(Bytes::new()),
            }
        };
        let want = (max_bytes.max(HEADER_SIZE) as u64).min(segment_end - pos) as usize;
        let mut buf = vec![0u8; want];
        file.read_exact_at(&mut buf, pos)
            .map_err(LogError::io(format!("read {}", self.dir.display())))?;
        let mut keep = 0;
        while keep + HEADER_SIZE <= buf.len() {
            let header = BatchHeader::parse(&buf[keep..])?;
            if header.base_offset >= max_offset_exclusive {
                break;
            }
            if keep + header.size > buf.len() {
                if keep == 0 {
                    // The first batch is larger than max_bytes: send it whole.
                    buf.resize(header.size, 0);
                    file.read_exact_at(&mut buf, pos)
                        .map_err(LogError::io(format!("read {}", self.dir.display())))?;
                    keep = header.size;
                }
                break;
            }
            keep += header.size;
        }
        buf.truncate(keep);
        Ok(Bytes::from(buf))
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

    /// Resolves once everything below `offset` is on disk. Concurrent callers
    /// share fsyncs: while one runs, others queue, and the next one covers
    /// everything appended before it started.
    pub async fn flush_to(&self, offset: i64) -> Result<(), LogError> {
        if self.flushed_offset.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _turn = self.flush_lock.lock().await;
        // Loops only when a truncation raced the fsync (replication, rare).
        while self.flushed_offset.load(Ordering::Acquire) < offset.min(self.log_end_offset()) {
            let (file, target, truncations) = {
                let mut state = self.state.write();
                state.unflushed_records = 0;
                state.unflushed_since_ms = None;
                let truncations = self.truncations.load(Ordering::Acquire);
                (state.active().file(), self.log_end_offset(), truncations)
            };
            let dir = self.dir.display().to_string();
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(|e| LogError::io(format!("fsync {dir}"))(std::io::Error::other(e)))?
                .map_err(LogError::io(format!("fsync {}", self.dir.display())))?;
            let _state = self.state.read();
            if self.truncations.load(Ordering::Acquire) == truncations {
                self.flushed_offset.fetch_max(target, Ordering::AcqRel);
            }
        }
        Ok(())
    }

    /// Fsyncs when `flush.messages` or `flush.ms` asks for it (called
    /// periodically, off the request path).
    pub fn flush_if_due(&self, now_ms: i64) -> Result<(), LogError> {
        let due = {
            let state = self.state.read();
            let by_count = state.unflushed_records >= state.config.flush_messages;
            let by_time = state
                .unflushed_since_ms
                .is_some_and(|since| now_ms.saturating_sub(since) >= state.config.flush_ms);
            by_count || by_time
        };
        if due { self.flush_all() } else { Ok(()) }
    }

    /// Fsyncs the active segment and its indexes now (shutdown, periodic flush).
    pub fn flush_all(&self) -> Result<(), LogError> {
        let mut state = self.state.write();
        let target = self.log_end_offset();
        state.active().sync()?;
        producer_snapshot::write(&self.dir, target, &state.producers)?;
        state.unflushed_records = 0;
        state.unflushed_since_ms = None;
        self.flushed_offset.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Moves the log start offset to `offset` (DeleteRecords) and deletes
    /// segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let offset = offset.min(self.log_end_offset());
        let new_start = self
            .log_start_offset
            .fetch_max(offset, Ordering::AcqRel)
            .max(offset);
        checkpoint::write_log_start(&self.dir, new_start)?;
        self.enforce_retention(i64::MIN)?;
        Ok(self.log_start_offset())
    }

    /// Removes every record at or above `offset`, as a follower does after
    /// a leader change (replication). Whole batches only: the batch holding
    /// `offset` goes too, so the new log end offset is that batch's base
    /// offset (Kafka does the same). Never truncates below the log start
    /// offset. A read that snapshotted the old segments concurrently may fail
    /// with a storage error; truncation is rare and fetches are retried.
    /// Returns the new log end offset.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let removed: Vec<Segment> = {
            let mut state = self.state.write();
            let offset = offset.max(self.log_start_offset());
            if offset >= self.log_end_offset() {
                return Ok(self.log_end_offset());
            }
            let doomed: Vec<i64> = state
                .segments
                .range(offset + 1..)
                .map(|(b, _)| *b)
                .collect();
            let mut removed: Vec<Segment> = doomed
                .iter()
                .filter_map(|b| state.segments.remove(b))
                .collect();
            if state.segments.is_empty() {
                // `offset` is below every segment base only if the log start
                // offset is; keep the first segment, emptied.
                let mut first = removed.remove(0);
                first.truncate_to(first.base_offset)?;
                state.segments.insert(first.base_offset, first);
            } else {
                state.active_mut().truncate_to(offset)?;
            }
            let new_end = state.active().next_offset;
            debug_assert!(new_end <= offset, "truncation never extends the log");
            let active_base = state.active().base_offset;
            state.compacted_through = state.compacted_through.min(active_base);
            self.truncations.fetch_add(1, Ordering::AcqRel);
            self.log_end_offset.store(new_end, Ordering::Release);
            self.flushed_offset.fetch_min(new_end, Ordering::AcqRel);
            if self.log_start_offset.fetch_min(new_end, Ordering::AcqRel) > new_end {
                checkpoint::write_log_start(&self.dir, new_end)?;
            }
            // Producer state must forget the removed batches, and the
            // snapshot on disk must not describe them either.
            let log_start = self.log_start_offset();
            state.producers =
                producer_snapshot::rebuild(&self.dir, &state.segments, log_start, new_end)?;
            producer_snapshot::write(&self.dir, new_end, &state.producers)?;
            removed
        };
        for segment in removed {
            segment.delete()?;
        }
        Ok(self.log_end_offset())
    }

    /// Deletes closed segments that are below the log start offset, older
    /// than `retention.ms`, or beyond `retention.bytes` (the latter two only
    /// under `cleanup.policy=delete`). Returns how many were deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let removed: Vec<Segment> = {
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
            if let Some(first) = state.segments.keys().next() {
                let moved = self.log_start_offset.fetch_max(*first, Ordering::AcqRel) < *first;
                if moved {
                    checkpoint::write_log_start(&self.dir, *first)?;
                }
            }
            removed
        };
        let count = removed.len();
        for segment in removed {
            tracing::debug!(dir = %self.dir.display(), base_offset = segment.base_offset, "deleting segment");
            segment.delete()?;
        }
        Ok(count)
    }
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

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
