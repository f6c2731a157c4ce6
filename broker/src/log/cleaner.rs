//! Log compaction (`cleanup.policy=compact`): closed segments are rewritten
//! to keep only the latest record of each key; tombstones (null values) are
//! dropped once `delete.retention.ms` has passed. Offsets never change, so
//! compaction leaves gaps that reads step over. The rewrite happens beside
//! the segment without any lock; only the swap takes the append lock,
//! briefly, so appends and fetches are never blocked by cleaning.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use super::batch::BatchHeader;
use super::segment::{Segment, file_stem, read_header};
use super::{LogError, PartitionLog};

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionOutcome {
    pub segments_rewritten: usize,
    pub records_removed: usize,
}

/// Calls `f` with each whole batch of a segment file.
fn for_each_batch(
    file: &File,
    size: u64,
    mut f: impl FnMut(&BatchHeader, Bytes) -> Result<(), LogError>,
) -> Result<(), LogError> {
    let mut pos = 0;
    while let Some(header) = read_header(file, pos, size)? {
        let mut buf = vec![0u8; header.size];
        file.read_exact_at(&mut buf, pos)
            .map_err(LogError::io("read batch for compaction"))?;
        f(&header, Bytes::from(buf))?;
        pos += header.size as u64;
    }
    Ok(())
}

fn decode(batch: Bytes) -> Result<Vec<kafka_protocol::records::Record>, LogError> {
    let mut buf = batch;
    RecordBatchDecoder::decode(&mut buf)
        .map(|set| set.records)
        .map_err(|_| LogError::CorruptMessage("a stored batch could not be decoded for compaction"))
}

impl PartitionLog {
    /// Compacts the closed segments if the topic is compacted and a segment
    /// was closed since the last pass.
    pub fn compact(&self, now_ms: i64) -> Result<CompactionOutcome, LogError> {
        let (segments, active_base, delete_retention_ms) = {
            let state = self.state.read();
            let active_base = state.active().base_offset;
            if !state.config.compact || state.compacted_through >= active_base {
                return Ok(CompactionOutcome::default());
            }
            let segments: Vec<(i64, Arc<File>, u64)> = state
                .segments
                .values()
                .map(|s| (s.base_offset, s.file(), s.size()))
                .collect();
            (segments, active_base, state.config.delete_retention_ms)
        };
        // The latest offset of every key, over the whole log.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for (_, file, size) in &segments {
            for_each_batch(file, *size, |header, batch| {
                if header.is_control() {
                    return Ok(());
                }
                for record in decode(batch)? {
                    if let Some(key) = record.key {
                        latest.insert(key, record.offset);
                    }
                }
                Ok(())
            })?;
        }
        let mut outcome = CompactionOutcome::default();
        for (base, file, size) in segments.iter().filter(|(base, ..)| *base < active_base) {
            let mut cleaned = Vec::with_capacity(*size as usize);
            let mut removed = 0;
            for_each_batch(file, *size, |header, batch| {
                if header.is_control() {
                    cleaned.extend_from_slice(&batch);
                    return Ok(());
                }
                let tombstones_expire =
                    header.max_timestamp < now_ms.saturating_sub(delete_retention_ms);
                let records = decode(batch.clone())?;
                let total = records.len();
                let kept: Vec<_> = records
                    .into_iter()
                    .filter(|r| {
                        r.key
                            .as_ref()
                            .is_some_and(|k| latest.get(k) == Some(&r.offset))
                            && (r.value.is_some() || !tombstones_expire)
                    })
                    .collect();
                removed += total - kept.len();
                if kept.len() == total {
                    cleaned.extend_from_slice(&batch);
                } else if !kept.is_empty() {
                    let mut buf = BytesMut::new();
                    let options = RecordEncodeOptions {
                        version: 2,
                        compression: compression_of(header),
                    };
                    RecordBatchEncoder::encode(&mut buf, &kept, &options).map_err(|_| {
                        LogError::InvalidRecord("compacted records could not be re-encoded")
                    })?;
                    cleaned.extend_from_slice(&buf);
                }
                Ok(())
            })?;
            if removed == 0 {
                continue;
            }
            self.swap_segment(*base, *size, &cleaned, now_ms)?;
            outcome.segments_rewritten += 1;
            outcome.records_removed += removed;
        }
        self.state.write().compacted_through = active_base;
        if outcome.segments_rewritten > 0 {
            tracing::info!(dir = %self.dir.display(), ?outcome, "compacted");
        }
        Ok(outcome)
    }

    /// Replaces segment `base` (if it is still `size` bytes: retention may
    /// have removed it meanwhile) with `bytes`, rebuilding its indexes.
    fn swap_segment(
        &self,
        base: i64,
        size: u64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<(), LogError> {
        let stem = file_stem(base);
        let tmp = self.dir.join(format!("{stem}.log.cleaned"));
        let io = |what: &str| LogError::io(format!("{what} {}", tmp.display()));
        let mut file = File::create(&tmp).map_err(io("create"))?;
        file.write_all(bytes).map_err(io("write"))?;
        file.sync_data().map_err(io("fsync"))?;
        let mut state = self.state.write();
        if state.segments.get(&base).map(Segment::size) != Some(size) {
            let _ = std::fs::remove_file(&tmp);
            return Ok(());
        }
        std::fs::rename(&tmp, self.dir.join(format!("{stem}.log"))).map_err(io("rename"))?;
        for index in ["index", "timeindex"] {
            let _ = std::fs::remove_file(self.dir.join(format!("{stem}.{index}")));
        }
        let segment = Segment::open(&self.dir, base, false, now_ms)?;
        state.segments.insert(base, segment);
        Ok(())
    }
}

fn compression_of(header: &BatchHeader) -> kafka_protocol::records::Compression {
    use kafka_protocol::records::Compression;
    match header.compression() {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogConfig;
    use kafka_protocol::records::{Compression, Record, TimestampType};

    fn keyed(updates: &[(&str, Option<&str>)], ts: i64) -> Bytes {
        let records: Vec<Record> = updates
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: ts,
                key: Some(Bytes::from(k.to_string())),
                value: v.map(|v| Bytes::from(v.to_string())),
                headers: Default::default(),
                delete_horizon: false,
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::Lz4,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.freeze()
    }

    fn all_records(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let bytes = log.read(offset, 1 << 20, end).unwrap();
            if bytes.is_empty() {
                break;
            }
            let mut buf = bytes;
            for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
                for r in set.records {
                    offset = r.offset + 1;
                    let s = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
                    out.push((r.offset, s(r.key.unwrap()), r.value.map(s)));
                }
            }
        }
        out
    }

    #[test]
    fn a_compacted_log_refuses_records_without_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            compact: true,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir.path(), config, false, 0).unwrap();
        let keyless = crate::log::batch::tests::batch(2, 10, Compression::None);
        assert!(matches!(
            log.append(keyless, 0),
            Err(LogError::InvalidRecord(_))
        ));
        assert_eq!(log.log_end_offset(), 0, "nothing appended");
        log.append(keyed(&[("a", Some("1"))], 10), 0).unwrap();
        assert_eq!(log.log_end_offset(), 1);
    }

    #[test]
    fn compaction_keeps_the_latest_value_per_key_and_drops_expired_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 200,
            compact: true,
            delete: false,
            delete_retention_ms: 1_000,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir.path(), config, false, 0).unwrap();
        for round in 0..10 {
            let value = format!("v{round}");
            log.append(keyed(&[("a", Some(&value)), ("b", Some(&value))], 10), 0)
                .unwrap();
        }
        log.append(keyed(&[("b", None)], 10), 0).unwrap(); // delete b
        log.append(keyed(&[("c", Some("only"))], 10), 0).unwrap();
        let before = all_records(&log).len();
        let outcome = log.compact(1_000_000).unwrap();
        assert!(outcome.records_removed > 0);
        let after = all_records(&log);
        assert!(after.len() < before);
        let latest: HashMap<String, Option<String>> = after
            .iter()
            .map(|(_, k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(latest["a"].as_deref(), Some("v9"));
        assert_eq!(latest.get("b").cloned().flatten(), None, "b is deleted");
        assert_eq!(latest["c"].as_deref(), Some("only"));
        let offsets: Vec<i64> = after.iter().map(|(o, ..)| *o).collect();
        let mut sorted = offsets.clone();
        sorted.sort_unstable();
        assert_eq!(offsets, sorted, "offsets keep their order");
        // A second pass with nothing new closed does nothing.
        assert_eq!(
            log.compact(1_000_000).unwrap(),
            CompactionOutcome::default()
        );
        // The rewritten segments' indexes reached their files: after a clean
        // reopen (indexes trusted) the timestamps are still known.
        let max = log.max_timestamp();
        assert!(max.is_some());
        log.flush_all().unwrap();
        let config = log.config();
        drop(log);
        let log = PartitionLog::open(dir.path(), config, false, 0).unwrap();
        assert_eq!(log.max_timestamp(), max);
        let state = log.state.read();
        let segments = state.segments.values();
        assert!(
            segments
                .filter(|s| !s.is_empty())
                .all(|s| s.max_timestamp().is_some())
        );
        drop(state);
        assert_eq!(all_records(&log), after);
    }
}
