//! Tests of [`super::PartitionLog`].

use super::*;
use crate::log::batch::tests::batch;
use kafka_protocol::records::Compression;

fn open(dir: &Path, config: LogConfig, recover: bool) -> Arc<PartitionLog> {
    PartitionLog::open(dir, config, recover, 1_000).unwrap()
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    }
}

/// How many segment (`.log`) files `dir` holds.
fn segment_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count()
}

fn offsets(bytes: &Bytes) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = BatchHeader::parse(&bytes[pos..]).unwrap();
        out.push((h.base_offset, h.last_offset()));
        pos += h.size;
    }
    out
}

#[test]
fn appends_assign_offsets_and_reads_return_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(
        log.append(batch(3, 10, Compression::None), 1)
            .unwrap()
            .first_offset,
        0
    );
    let info = log.append(batch(2, 20, Compression::Lz4), 1).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(
        offsets(&log.read(0, 1 << 20, 5).unwrap()),
        vec![(0, 2), (3, 4)]
    );
    // From the middle of a batch: the whole batch holding the offset.
    assert_eq!(offsets(&log.read(4, 1 << 20, 5).unwrap()), vec![(3, 4)]);
    // Bounded by the high watermark.
    assert_eq!(offsets(&log.read(0, 1 << 20, 3).unwrap()), vec![(0, 2)]);
    // max_bytes smaller than one batch still returns that batch.
    assert_eq!(offsets(&log.read(0, 1, 5).unwrap()), vec![(0, 2)]);
    assert!(log.read(5, 100, 5).unwrap().is_empty());
    assert!(matches!(
        log.read(6, 100, 5),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segments_roll_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(), false);
    for i in 0..20 {
        log.append(batch(2, i * 10, Compression::None), 1).unwrap();
    }
    let segments = segment_files(dir.path());
    assert!(segments > 3, "rolled into {segments} segments");
    log.flush_all().unwrap();
    drop(log);
    let log = open(dir.path(), small_segments(), false);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(offsets(&log.read(17, 1, 40).unwrap()), vec![(16, 17)]);
    assert_eq!(
        log.append(batch(1, 0, Compression::None), 1)
            .unwrap()
            .first_offset,
        40
    );
}

#[test]
fn torn_tail_is_cut_off_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    log.append(batch(2, 0, Compression::None), 1).unwrap();
    log.append(batch(2, 0, Compression::None), 1).unwrap();
    drop(log);
    let path = dir.path().join("00000000000000000000.log");
    let len = std::fs::metadata(&path).unwrap().len();
    // A crash in the middle of the second batch.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 5).unwrap();
    let log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(
        log.append(batch(1, 0, Compression::None), 1)
            .unwrap()
            .first_offset,
        2
    );
    // A flipped byte is caught by the CRC.
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn invalid_input_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, false);
    let good = batch(1, 0, Compression::None);
    let mut two = good.to_vec();
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    two.extend_from_slice(&bad);
    assert!(matches!(
        log.append(Bytes::from(two), 1),
        Err(LogError::CorruptMessage(_))
    ));
    assert!(matches!(
        log.append(batch(40, 0, Compression::None), 1),
        Err(LogError::MessageTooLarge { .. })
    ));
    assert_eq!(log.log_end_offset(), 0);
    // Random bytes: an error, never a panic, never an append.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let len = (seed % 300) as usize;
        let mut junk = good.to_vec();
        junk.resize(len.max(1), 0);
        for b in junk.iter_mut().skip((seed % 7) as usize).step_by(3) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let _ = log.append(Bytes::from(junk), 1);
    }
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn timestamps_find_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    log.append(batch(2, 1_000, Compression::None), 1).unwrap();
    log.append(batch(2, 5_000, Compression::Zstd), 1).unwrap();
    assert_eq!(log.offset_for_timestamp(0), Some((0, 1_000)));
    assert_eq!(log.offset_for_timestamp(1_001), Some((1, 1_001)));
    assert_eq!(log.offset_for_timestamp(2_000), Some((2, 5_000)));
    assert_eq!(log.offset_for_timestamp(5_001), Some((3, 5_001)));
    assert_eq!(log.offset_for_timestamp(9_000), None);
    assert_eq!(log.max_timestamp(), Some((5_001, 3)));
}

#[test]
fn retention_by_size_and_time_and_delete_records_move_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: 600,
        ..small_segments()
    };
    let log = open(dir.path(), config, false);
    for i in 0..20 {
        log.append(batch(2, i, Compression::None), 1).unwrap();
    }
    let before = log.size_bytes();
    assert!(log.enforce_retention(1).unwrap() > 0);
    assert!(log.size_bytes() < before);
    assert!(log.size_bytes() >= 600);
    let start = log.log_start_offset();
    assert!(start > 0);
    assert!(matches!(
        log.read(0, 100, 40),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(30).unwrap(), 30);
    drop(log);
    let log = open(dir.path(), small_segments(), false);
    assert_eq!(log.log_start_offset(), 30, "log start offset is persisted");

    let expiring = LogConfig {
        retention_ms: 1_000,
        ..small_segments()
    };
    log.update_config(expiring);
    log.enforce_retention(1_000_000).unwrap();
    assert!(log.log_start_offset() > 30);
    assert!(log.size_bytes() <= 300, "only the active segment is left");
    assert!(
        !log.read(log.log_start_offset(), 100, 40)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_flushes_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    let mut waiters = Vec::new();
    for _ in 0..50 {
        let info = log.append(batch(1, 0, Compression::None), 1).unwrap();
        let log = log.clone();
        waiters.push(tokio::spawn(async move {
            log.flush_to(info.last_offset + 1).await
        }));
    }
    for w in waiters {
        w.await.unwrap().unwrap();
    }
    assert!(log.flushed_offset.load(Ordering::Acquire) >= 50);
}

/// acks=all asks for its fsync at the append: the flusher syncs the log
/// although nobody awaits `flush_to` yet (a connection awaits its replies
/// in order, so a later reply's fsync must not wait for its turn).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_requested_flush_runs_before_anyone_awaits_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    let info = log.append(batch(3, 0, Compression::None), 1).unwrap();
    let end = info.last_offset + 1;
    assert!(log.flushed_offset.load(Ordering::Acquire) < end);
    loop {
        let flushed = log.group_commit.flushed_notified();
        tokio::pin!(flushed);
        flushed.as_mut().enable();
        if log.flushed_offset.load(Ordering::Acquire) >= end {
            break;
        }
        log.request_flush(end);
        flushed.await;
    }
    assert_eq!(log.flushed_offset.load(Ordering::Acquire), end);
}

#[test]
fn truncation_removes_whole_batches_and_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(), false);
    for i in 0..20 {
        log.append(batch(2, i * 10, Compression::None), 1).unwrap();
    }
    let before = segment_files(dir.path());
    // Offset 13 is inside the batch 12..=13: that whole batch goes.
    assert_eq!(log.truncate_to(13).unwrap(), 12);
    assert_eq!(log.log_end_offset(), 12);
    assert!(segment_files(dir.path()) < before);
    assert_eq!(offsets(&log.read(10, 1 << 20, 12).unwrap()), vec![(10, 11)]);
    assert!(matches!(
        log.read(13, 100, 12),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.max_timestamp().map(|(ts, _)| ts), Some(51));
    // Truncating at or past the end changes nothing.
    assert_eq!(log.truncate_to(100).unwrap(), 12);
    assert_eq!(
        log.append(batch(2, 7, Compression::None), 1)
            .unwrap()
            .first_offset,
        12
    );
    drop(log);
    let log = open(dir.path(), small_segments(), true);
    assert_eq!(log.log_end_offset(), 14);
    // A read stops at a segment's end; walk them all.
    let mut all = Vec::new();
    while all.last().map_or(0, |(_, last)| last + 1) < 14 {
        let from = all.last().map_or(0, |(_, last)| last + 1);
        all.extend(offsets(&log.read(from, 1 << 20, 14).unwrap()));
    }
    let expected: Vec<(i64, i64)> = (0..7).map(|i| (2 * i, 2 * i + 1)).collect();
    assert_eq!(all, expected);
    // Never below the log start offset.
    log.delete_records_before(4).unwrap();
    assert_eq!(log.truncate_to(0).unwrap(), 4);
    assert_eq!(log.log_start_offset(), 4);
}

#[test]
fn a_log_restarted_at_the_leaders_start_holds_only_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(), false);
    for i in 0..20 {
        log.append(batch(2, i * 10, Compression::None), 1).unwrap();
    }
    // The leader's log starts at 100, past this replica's end (40).
    log.truncate_fully_and_start_at(100, 1).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    assert_eq!(log.latest_leader_epoch(), None, "the old epochs are gone");
    assert_eq!(
        log.append(batch(2, 7, Compression::None), 1)
            .unwrap()
            .first_offset,
        100
    );
    drop(log);
    let log = open(dir.path(), small_segments(), true);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 102));
    assert_eq!(
        offsets(&log.read(100, 1 << 20, 102).unwrap()),
        vec![(100, 101)]
    );
    assert!(matches!(
        log.read(10, 100, 102),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    let segments = segment_files(dir.path());
    assert_eq!(segments, 1, "only the new segment is left");
}

#[test]
fn reads_of_many_small_batches_end_at_the_right_batch() {
    // A dense index (an entry every 64 bytes) lets reads jump over most
    // headers; every slice must still hold exactly the whole batches that
    // fit in max_bytes and start below the high watermark.
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, false);
    let mut ends = vec![0u64]; // file position after each batch
    for i in 0..200 {
        let b = batch(1 + i % 3, 1_000 + i as i64, Compression::None);
        ends.push(ends.last().unwrap() + b.len() as u64);
        log.append(b, 1).unwrap();
    }
    let end = log.log_end_offset();
    let everything = log.read(0, usize::MAX >> 1, end).unwrap();
    let all = offsets(&everything);
    assert_eq!(all.len(), 200);
    for (from_batch, max_bytes, hw_batch) in [
        (0, 1000, 200),
        (5, 3000, 200),
        (10, 5000, 40),
        (0, 1, 200),
        (150, 1 << 20, 170),
    ] {
        let (from, _) = all[from_batch];
        let hw = if hw_batch == 200 {
            end
        } else {
            all[hw_batch].0
        };
        let got = offsets(&log.read(from, max_bytes, hw).unwrap());
        let start = ends[from_batch];
        let want: Vec<_> = (from_batch..200)
            .take_while(|&b| all[b].0 < hw)
            .take_while(|&b| b == from_batch || ends[b + 1] - start <= max_bytes as u64)
            .map(|b| all[b])
            .collect();
        assert_eq!(
            got, want,
            "from batch {from_batch}, max {max_bytes}, hw {hw}"
        );
    }
}

#[test]
fn index_entries_survive_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config.clone(), false);
    for i in 0..10 {
        log.append(batch(2, 5_000 + i * 10, Compression::None), 1)
            .unwrap();
    }
    let max = log.max_timestamp();
    log.flush_all().unwrap();
    drop(log);
    let log = open(dir.path(), config, false);
    assert_eq!(log.max_timestamp(), max);
    // The offset index came back from its file: a lookup of a late offset
    // starts past the first batch.
    let state = log.state.read();
    assert!(state.active().position_hint(15) > 0);
    assert_eq!(log.offset_for_timestamp(5_041).map(|(o, _)| o), Some(9));
}
