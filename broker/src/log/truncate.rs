//! Truncations of a partition log: DeleteRecords moving the log start
//! forward, a follower cutting its tail back to the leader's, and a
//! follower starting over at the leader's log start.

use std::sync::atomic::Ordering;

use super::PartitionLog;
use crate::log::segment::Segment;
use crate::log::{LogError, checkpoint, producer_snapshot};
use crate::producer::ProducerStateTable;

impl PartitionLog {
    /// Moves the log start offset to `offset` (DeleteRecords) and deletes
    /// segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let offset = offset.min(self.log_end_offset());
        let new_start = self
            .log_start_offset
            .fetch_max(offset, Ordering::AcqRel)
            .max(offset);
        // Segments go first, the checkpoint after: on a full disk deleting
        // frees the room the checkpoint needs, and a start that lost the
        // checkpoint still begins at the first remaining segment.
        self.enforce_retention(i64::MIN)?;
        checkpoint::write_log_start(&self.dir, new_start)?;
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
        let _append = self.append_lock.lock();
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
            self.epochs.truncate_from(new_end)?;
            removed
        };
        for segment in removed {
            segment.delete()?;
        }
        Ok(self.log_end_offset())
    }

    /// Empties the log and starts it again at `offset`: a follower whose
    /// log ends below the leader's log start offset (it was away while
    /// retention or DeleteRecords removed what it lacks) cannot catch up
    /// by fetching, so, as Kafka's `truncateFullyAndStartAt`, it drops
    /// everything and fetches from the leader's start.
    pub fn truncate_fully_and_start_at(&self, offset: i64, now_ms: i64) -> Result<(), LogError> {
        let _append = self.append_lock.lock();
        let mut state = self.state.write();
        {
            // The fallible steps first, so a failure leaves the log as it
            // was: a segment already based at `offset` is emptied and kept,
            // else a new one is created beside the old ones.
            let fresh = match state.segments.get_mut(&offset) {
                Some(same_base) => {
                    same_base.truncate_to(offset)?;
                    None
                }
                None => Some(Segment::open(&self.dir, offset, false, now_ms)?),
            };
            let mut old = std::mem::take(&mut state.segments);
            let kept = fresh.unwrap_or_else(|| old.remove(&offset).expect("found above"));
            state.segments.insert(offset, kept);
            state.compacted_through = offset;
            state.producers = ProducerStateTable::default();
            self.truncations.fetch_add(1, Ordering::AcqRel);
            self.log_end_offset.store(offset, Ordering::Release);
            self.flushed_offset.store(offset, Ordering::Release);
            self.log_start_offset.store(offset, Ordering::Release);
            checkpoint::write_log_start(&self.dir, offset)?;
            producer_snapshot::write(&self.dir, offset, &state.producers)?;
            self.epochs.truncate_from(i64::MIN)?;
            // A read holding an old segment keeps its open file.
            for segment in old.into_values() {
                segment.delete()?;
            }
        }
        Ok(())
    }
}
