//! A clean start checks index files against the log and rebuilds them when
//! they do not fit; it never cuts acknowledged records because of them.

use std::io::Write;
use std::path::{Path, PathBuf};

use kafka_protocol::records::Compression;

use super::*;
use crate::log::BatchHeader;
use crate::log::batch::tests::batch;

const BATCHES: i64 = 40;
const PER_BATCH: i64 = 5;

/// A log of two segments, every batch indexed, shut down cleanly.
fn cleanly_shut_down_log(dir: &Path) {
    let config = LogConfig {
        index_interval_bytes: 1,
        segment_bytes: 1024,
        ..LogConfig::default()
    };
    let logs = LogManager::open(dir, config.clone()).unwrap();
    let log = logs.get_or_create("orders", 0, config).unwrap();
    for i in 0..BATCHES {
        log.append(batch(PER_BATCH as usize, 10 + i, Compression::None), 1)
            .unwrap();
    }
    assert!(log.state.read().segments.len() > 1);
    logs.shutdown().unwrap();
}

/// The active segment's file with `extension`.
fn active_file(dir: &Path, extension: &str) -> PathBuf {
    let partition = dir.join("orders-0");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap().with_extension(extension)
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// Reopens cleanly and checks that every record is still there, and that
/// the rebuilt index files are whole again.
fn assert_every_record_survives(dir: &Path) {
    let logs = LogManager::open(dir, LogConfig::default()).unwrap();
    let log = logs.get("orders", 0).unwrap();
    assert_eq!(log.log_end_offset(), BATCHES * PER_BATCH);
    let mut offset = 0;
    while offset < BATCHES * PER_BATCH {
        let bytes = log.read(offset, 1, i64::MAX).unwrap();
        let header = BatchHeader::parse(&bytes).unwrap();
        assert!(header.base_offset <= offset && offset <= header.last_offset());
        offset = header.last_offset() + 1;
    }
    logs.shutdown().unwrap();
    drop(logs);
    assert_eq!(
        std::fs::metadata(active_file(dir, "index")).unwrap().len() % 8,
        0
    );
    assert_eq!(
        std::fs::metadata(active_file(dir, "timeindex"))
            .unwrap()
            .len()
            % 12,
        0
    );
    // And the repaired files are trusted at the next clean start.
    let logs = LogManager::open(dir, LogConfig::default()).unwrap();
    assert_eq!(
        logs.get("orders", 0).unwrap().log_end_offset(),
        BATCHES * PER_BATCH
    );
}

#[test]
fn stray_bytes_after_the_active_index_cut_nothing() {
    let dir = tempfile::tempdir().unwrap();
    cleanly_shut_down_log(dir.path());
    append_bytes(&active_file(dir.path(), "index"), &[1, 2, 3]);
    assert_every_record_survives(dir.path());
}

#[test]
fn an_index_entry_past_the_end_of_the_log_cuts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    cleanly_shut_down_log(dir.path());
    append_bytes(
        &active_file(dir.path(), "index"),
        &[0x64, 0x45, 0, 0, 0x7f, 0, 0, 1],
    );
    assert_every_record_survives(dir.path());
}

#[test]
fn an_index_entry_inside_a_batch_cuts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    cleanly_shut_down_log(dir.path());
    let index = active_file(dir.path(), "index");
    let mut bytes = std::fs::read(&index).unwrap();
    let last = bytes.len() - 8;
    // Same relative offset, a position a few bytes into its batch.
    let position = u32::from_be_bytes(bytes[last + 4..].try_into().unwrap()) + 3;
    bytes[last + 4..].copy_from_slice(&position.to_be_bytes());
    std::fs::write(&index, bytes).unwrap();
    assert_every_record_survives(dir.path());
}

#[test]
fn garbage_in_a_time_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    cleanly_shut_down_log(dir.path());
    append_bytes(
        &active_file(dir.path(), "timeindex"),
        &[0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff],
    );
    let logs = LogManager::open(dir.path(), LogConfig::default()).unwrap();
    let (timestamp, offset) = logs.get("orders", 0).unwrap().max_timestamp().unwrap();
    assert!(timestamp >= 10 + BATCHES - 1, "{timestamp}");
    assert!(offset < BATCHES * PER_BATCH, "{offset}");
    logs.shutdown().unwrap();
    drop(logs);
    assert_every_record_survives(dir.path());
}
