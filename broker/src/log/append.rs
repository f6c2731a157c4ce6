//! The append path of a partition log: validate, check producer sequences,
//! assign offsets, write, then publish the new end. The write happens with
//! only the append lock held; readers take the state lock, which an append
//! holds just long enough to record what it wrote.

use std::io::IoSlice;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::{AppendInfo, PartitionLog, State};
use crate::log::batch::{self, BatchHeader, HEADER_SIZE};
use crate::log::config::TimestampType;
use crate::log::io_metrics::{FsyncCause, log_io_metrics};
use crate::log::segment::{Segment, write_all_vectored};
use crate::log::{LogError, producer_snapshot};
use crate::producer::{BatchVerdict, ProducerStateTable};

impl PartitionLog {
    /// Validates the batches of one produce request and appends them, all or
    /// none, assigning offsets. Nothing is fsynced here; see [`Self::flush_to`].
    pub fn append(&self, records: Bytes, now_ms: i64) -> Result<AppendInfo, LogError> {
        let started = Instant::now();
        let appended = self.append_timed(records, now_ms);
        log_io_metrics().append_done(started);
        appended
    }

    fn append_timed(&self, records: Bytes, now_ms: i64) -> Result<AppendInfo, LogError> {
        // CRC and structure are checked before taking any lock.
        let mut headers = batch::validate_all(&records)?;
        if self.state.read().config.compact {
            batch::require_keys(&records)?;
        }
        let _append = self.append_lock.lock();
        self.check_open_for_appends()?;
        #[cfg(feature = "test-hooks")]
        crate::log::test_hooks::before_append(&self.dir);
        let (config, first_offset, roll) = {
            let state = self.state.read();
            let config = state.config.clone();
            if let Some(big) = headers.iter().find(|h| h.size > config.max_message_bytes) {
                return Err(LogError::MessageTooLarge {
                    size: big.size,
                    max: config.max_message_bytes,
                });
            }
            if let Some(duplicate) = self.check_producers(&state, &headers)? {
                return Ok(duplicate);
            }
            let active = state.active();
            let age = now_ms.saturating_sub(active.created_ms);
            let roll = !active.is_empty()
                && (active.size() + records.len() as u64 > config.segment_bytes
                    || age >= config.segment_ms);
            (config, active.next_offset, roll)
        };
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let leader_epoch = self.leader_epoch.load(Ordering::Acquire);
        // Only the 61-byte headers are patched (copied); the records are
        // written straight from the request's buffer.
        let mut next = first_offset;
        let mut pos = 0;
        let mut patched = Vec::with_capacity(headers.len());
        for header in &mut headers {
            let batch = &records[pos..pos + header.size];
            patched.push(batch::patched_header(
                batch,
                next,
                leader_epoch,
                log_append_time,
            ));
            header.base_offset = next;
            if let Some(now) = log_append_time {
                header.max_timestamp = now;
            }
            next = header.last_offset() + 1;
            pos += header.size;
        }
        self.write_batches(
            &records,
            &headers,
            Some(&patched),
            first_offset,
            roll,
            now_ms,
        )?;
        Ok(AppendInfo {
            first_offset,
            last_offset: next - 1,
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset: self.log_start_offset(),
            duplicate: false,
        })
    }

    /// Appends batches a follower fetched from its leader, keeping their
    /// offsets and leader epochs (they must start at this log's end).
    /// Producer state is updated, not checked: the leader checked it.
    pub fn append_as_follower(&self, records: Bytes, now_ms: i64) -> Result<(), LogError> {
        let headers = batch::validate_all(&records)?;
        let Some(first) = headers.first() else {
            return Ok(());
        };
        // A log just restarted at the leader's log start may be asked to
        // take the batch holding that offset, which begins below it: the
        // log starts again at the batch's base (Kafka does the same on its
        // UnexpectedAppendOffsetException). Only the fetcher appends here.
        let end = self.log_end_offset();
        if self.log_start_offset() == end && first.base_offset < end && first.last_offset() >= end {
            self.truncate_fully_and_start_at(first.base_offset, now_ms)?;
        }
        let _append = self.append_lock.lock();
        self.check_open_for_appends()?;
        let (roll, expected) = {
            let state = self.state.read();
            let active = state.active();
            let age = now_ms.saturating_sub(active.created_ms);
            let roll = !active.is_empty()
                && (active.size() + records.len() as u64 > state.config.segment_bytes
                    || age >= state.config.segment_ms);
            (roll, active.next_offset)
        };
        if first.base_offset != expected {
            return Err(LogError::OffsetOutOfOrder {
                expected,
                got: first.base_offset,
            });
        }
        for header in &headers {
            self.epochs
                .assign(header.partition_leader_epoch, header.base_offset)?;
        }
        self.write_batches(&records, &headers, None, expected, roll, now_ms)
    }

    /// Makes `epoch` the leader epoch of batches appended from now on and
    /// records where it starts (a new leader's first offset).
    pub fn assign_leader_epoch(&self, epoch: i32) -> Result<(), LogError> {
        let _append = self.append_lock.lock();
        self.leader_epoch.store(epoch, Ordering::Release);
        self.epochs.assign(epoch, self.log_end_offset())
    }

    /// The latest leader epoch this log has seen.
    pub fn latest_leader_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// OffsetForLeaderEpoch: `(the largest epoch <= epoch, where it ends)`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// Writes validated batches at the end of the log (rolling first when
    /// due) and records them: indexes, producer state, log end offset.
    /// `patched` holds new headers (leader appends); without it the batches
    /// are written as they are (follower appends).
    fn write_batches(
        &self,
        records: &Bytes,
        headers: &[BatchHeader],
        patched: Option<&[[u8; HEADER_SIZE]]>,
        first_offset: i64,
        roll: bool,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let index_interval_bytes = self.state.read().config.index_interval_bytes;
        let mut pieces = Vec::with_capacity(2 * headers.len());
        let mut pos = 0;
        match patched {
            Some(patched) => {
                for (head, header) in patched.iter().zip(headers) {
                    pieces.push(IoSlice::new(head));
                    pieces.push(IoSlice::new(&records[pos + HEADER_SIZE..pos + header.size]));
                    pos += header.size;
                }
            }
            None => pieces.push(IoSlice::new(records)),
        }
        if roll {
            // The bulk of the roll's fsync, without the state lock: reads
            // of this partition go on meanwhile.
            let active = self.state.read().active().file();
            let started = Instant::now();
            active
                .sync_data()
                .map_err(LogError::io(format!("fsync {}", self.dir.display())))?;
            log_io_metrics().fsync_done(FsyncCause::Roll, started);
            self.roll(&mut self.state.write(), first_offset, now_ms)?;
        }
        let (file, size) = {
            let state = self.state.read();
            (state.active().file(), state.active().size())
        };
        if let Err(error) = write_all_vectored(&file, &mut pieces) {
            // Nothing was recorded: cut off whatever part was written.
            let _ = file.set_len(size);
            return Err(LogError::io(format!("append to {}", self.dir.display()))(
                error,
            ));
        }
        let mut state = self.state.write();
        state.active_mut().appended(headers, index_interval_bytes);
        for header in headers {
            state.producers.update(header);
        }
        state.unflushed_records += headers
            .iter()
            .map(|h| i64::from(h.last_offset_delta) + 1)
            .sum::<i64>();
        state.unflushed_since_ms.get_or_insert(now_ms);
        let next = headers.last().map_or(first_offset, |h| h.last_offset() + 1);
        self.log_end_offset.store(next, Ordering::Release);
        Ok(())
    }

    /// Checks idempotent producers' sequences. `Some` when the request is a
    /// retry of the last appended batch: the original offsets, nothing to
    /// append. Later batches of one request are checked against the state
    /// the earlier ones leave behind.
    fn check_producers(
        &self,
        state: &State,
        headers: &[BatchHeader],
    ) -> Result<Option<AppendInfo>, LogError> {
        let mut scratch: Option<ProducerStateTable> = None;
        for header in headers {
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
                return Ok(Some(AppendInfo {
                    first_offset,
                    last_offset,
                    log_append_time: -1,
                    log_start_offset: self.log_start_offset(),
                    duplicate: true,
                }));
            }
        }
        Ok(None)
    }

    /// Closes the active segment (fsyncing it and its indexes) and starts
    /// one at `base_offset`. Runs under the state lock; callers fsync the
    /// segment's data first, so little is left to sync here.
    fn roll(&self, state: &mut State, base_offset: i64, now_ms: i64) -> Result<(), LogError> {
        state.active_mut().sync()?;
        producer_snapshot::write(&self.dir, base_offset, &state.producers)?;
        self.flushed_offset.fetch_max(base_offset, Ordering::AcqRel);
        let segment = Segment::open(&self.dir, base_offset, false, now_ms)?;
        state.segments.insert(base_offset, segment);
        Ok(())
    }
}
