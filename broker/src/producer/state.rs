//! The producer state of one partition.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::log::BatchHeader;

/// How many recent batches per producer are remembered for duplicate
/// detection: a producer has at most 5 requests in flight per partition.
const CACHED_BATCHES: usize = 5;

/// A batch remembered for duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct CachedBatch {
    first_sequence: i32,
    last_sequence: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ProducerEntry {
    epoch: i16,
    /// Oldest first.
    batches: VecDeque<CachedBatch>,
    /// The max timestamp of the producer's last batch, for DescribeProducers.
    /// Snapshots written before it was kept load with Kafka's "no timestamp";
    /// the next batch of the producer sets it.
    #[serde(default = "no_timestamp")]
    last_timestamp: i64,
}

/// Kafka's `RecordBatch.NO_TIMESTAMP`.
fn no_timestamp() -> i64 {
    -1
}

/// One active producer of a partition, as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// The last sequence appended, -1 before the first batch of this epoch.
    pub last_sequence: i32,
    /// The max timestamp of the last batch appended.
    pub last_timestamp: i64,
}

/// What to do with an idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchVerdict {
    /// New and in sequence: append it.
    Append,
    /// Already appended at these offsets: acknowledge without appending.
    Duplicate { first_offset: i64, last_offset: i64 },
}

/// Why an idempotent batch is refused (Kafka's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("producer {producer_id} sent sequence {got}, expected {expected}")]
    OutOfOrderSequence {
        producer_id: i64,
        got: i32,
        expected: i32,
    },
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

fn last_sequence(header: &BatchHeader) -> i32 {
    let last = i64::from(header.base_sequence) + i64::from(header.last_offset_delta);
    (last % (i64::from(i32::MAX) + 1)) as i32
}

/// Producer ids and their recent batches for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateTable {
    /// Decides about a batch before it is appended. Batches without a
    /// producer id (non-idempotent) are always appended.
    pub fn check(&self, header: &BatchHeader) -> Result<BatchVerdict, SequenceError> {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return Ok(BatchVerdict::Append);
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            // Unknown producer (new, or its state expired): accept, as Kafka does.
            return Ok(BatchVerdict::Append);
        };
        if header.producer_epoch < entry.epoch {
            return Err(SequenceError::InvalidProducerEpoch {
                producer_id: header.producer_id,
                epoch: header.producer_epoch,
                current: entry.epoch,
            });
        }
        if header.producer_epoch > entry.epoch {
            // A new epoch starts its sequences again at 0.
            return if header.base_sequence == 0 {
                Ok(BatchVerdict::Append)
            } else {
                Err(SequenceError::OutOfOrderSequence {
                    producer_id: header.producer_id,
                    got: header.base_sequence,
                    expected: 0,
                })
            };
        }
        let last = last_sequence(header);
        if let Some(cached) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last)
        {
            return Ok(BatchVerdict::Duplicate {
                first_offset: cached.first_offset,
                last_offset: cached.last_offset,
            });
        }
        match entry.batches.back() {
            Some(newest) if header.base_sequence != next_sequence(newest.last_sequence) => {
                Err(SequenceError::OutOfOrderSequence {
                    producer_id: header.producer_id,
                    got: header.base_sequence,
                    expected: next_sequence(newest.last_sequence),
                })
            }
            _ => Ok(BatchVerdict::Append),
        }
    }

    /// Records an appended batch (its header carries the assigned offsets).
    pub fn update(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(CachedBatch {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
        });
        entry.last_timestamp = header.max_timestamp;
    }

    /// The producers tracked, by producer id: a read-only view for
    /// DescribeProducers.
    pub fn active(&self) -> Vec<ActiveProducer> {
        let mut active: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&producer_id, entry)| ActiveProducer {
                producer_id,
                epoch: entry.epoch,
                last_sequence: entry.batches.back().map_or(-1, |b| b.last_sequence),
                last_timestamp: entry.last_timestamp,
            })
            .collect();
        active.sort_by_key(|p| p.producer_id);
        active
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        count: i32,
        base_offset: i64,
    ) -> BatchHeader {
        BatchHeader {
            base_offset,
            size: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: base_offset * 10,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            record_count: count,
        }
    }

    #[test]
    fn in_sequence_batches_append_and_retries_are_duplicates() {
        let mut table = ProducerStateTable::default();
        let first = header(7, 0, 0, 3, 100);
        assert_eq!(table.check(&first), Ok(BatchVerdict::Append));
        table.update(&first);
        let second = header(7, 0, 3, 2, 103);
        assert_eq!(table.check(&second), Ok(BatchVerdict::Append));
        table.update(&second);
        assert_eq!(
            table.check(&header(7, 0, 0, 3, -1)),
            Ok(BatchVerdict::Duplicate {
                first_offset: 100,
                last_offset: 102
            })
        );
        assert_eq!(
            table.check(&header(7, 0, 9, 1, -1)),
            Err(SequenceError::OutOfOrderSequence {
                producer_id: 7,
                got: 9,
                expected: 5
            })
        );
    }

    #[test]
    fn epochs_fence_old_producers_and_restart_sequences() {
        let mut table = ProducerStateTable::default();
        table.update(&header(1, 2, 0, 1, 0));
        assert!(matches!(
            table.check(&header(1, 1, 1, 1, -1)),
            Err(SequenceError::InvalidProducerEpoch { .. })
        ));
        assert_eq!(
            table.check(&header(1, 3, 0, 1, -1)),
            Ok(BatchVerdict::Append)
        );
        assert!(table.check(&header(1, 3, 5, 1, -1)).is_err());
        // Non-idempotent batches are never checked.
        assert_eq!(
            table.check(&header(-1, -1, -1, 1, -1)),
            Ok(BatchVerdict::Append)
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut table = ProducerStateTable::default();
        for i in 0..7 {
            table.update(&header(3, 0, i, 1, i64::from(i)));
        }
        assert!(matches!(
            table.check(&header(3, 0, 6, 1, -1)),
            Ok(BatchVerdict::Duplicate { .. })
        ));
        assert!(
            table.check(&header(3, 0, 1, 1, -1)).is_err(),
            "too old to be recognized"
        );
    }

    #[test]
    fn active_producers_show_their_last_batch() {
        let mut table = ProducerStateTable::default();
        table.update(&header(9, 1, 0, 3, 100));
        table.update(&header(9, 1, 3, 2, 103));
        table.update(&header(4, 0, 0, 1, 105));
        // Non-idempotent batches have no producer state.
        table.update(&header(-1, -1, -1, 1, 106));
        assert_eq!(
            table.active(),
            vec![
                ActiveProducer {
                    producer_id: 4,
                    epoch: 0,
                    last_sequence: 0,
                    last_timestamp: 1050,
                },
                ActiveProducer {
                    producer_id: 9,
                    epoch: 1,
                    last_sequence: 4,
                    last_timestamp: 1030,
                },
            ]
        );
    }

    #[test]
    fn snapshots_without_timestamps_still_load() {
        let old = r#"{"producers":{"5":{"epoch":2,"batches":[{"first_sequence":0,"last_sequence":1,"first_offset":0,"last_offset":1}]}}}"#;
        let table: ProducerStateTable = serde_json::from_str(old).expect("old snapshot loads");
        assert_eq!(table.active()[0].last_timestamp, -1);
        assert_eq!(table.active()[0].last_sequence, 1);
    }
}
