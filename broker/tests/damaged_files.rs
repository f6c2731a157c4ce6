//! Damaged files in closed segments: the broker starts, serves every record
//! it can, names the file, and a consumer reaching the damage gets
//! KAFKA_STORAGE_ERROR for that partition (not a closed connection), while
//! other partitions are served as usual.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    RawClient, create_topic, fetch_values, http_get, produce, record_batch, start_broker,
    wait_until,
};
use kafka_protocol::ResponseError;

const RECORDS: i64 = 60;

/// A topic `t` of one partition in many small segments (one record per
/// batch, value `v<offset>` padded, every batch indexed), and a healthy
/// topic `ok`; shut down cleanly. With every batch indexed, a clean start
/// walks only the last batch of each segment: damage before it is found by
/// the fetch that reaches it, damage in it at start.
async fn write_segments(dir: &Path) {
    let broker = start_broker(
        dir,
        &[
            ("log.segment.bytes", "1024"),
            ("log.index.interval.bytes", "1"),
        ],
    )
    .await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(create_topic(&mut client, "t", 1).await.0, 0);
    assert_eq!(create_topic(&mut client, "ok", 1).await.0, 0);
    for i in 0..RECORDS {
        let value = format!("v{i:<100}");
        assert_eq!(
            produce(&mut client, "t", 0, record_batch(&[value.as_bytes()])).await,
            0
        );
    }
    assert_eq!(
        produce(&mut client, "ok", 0, record_batch(&[b"fine"])).await,
        0
    );
    drop(client);
    broker.shutdown_checked().await.unwrap();
}

/// The segment files of `t-0`, by base offset.
fn segments(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut segments: Vec<(i64, PathBuf)> = std::fs::read_dir(dir.join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| (p.file_stem().unwrap().to_str().unwrap().parse().unwrap(), p))
        .collect();
    segments.sort();
    assert!(segments.len() > 4, "{segments:?}");
    segments
}

/// Consumes `t-0` from `offset` until the end or an error: the offsets read
/// (from the values) and the error code met, if any.
async fn consume(client: &mut RawClient, mut offset: i64) -> (Vec<i64>, Option<i16>) {
    let mut read = Vec::new();
    loop {
        match fetch_values(client, "t", 0, offset).await {
            Err(code) => return (read, Some(code)),
            Ok(values) if values.is_empty() => return (read, None),
            Ok(values) => {
                for value in values {
                    let text = String::from_utf8(value.to_vec()).unwrap();
                    read.push(text[1..].trim_end().parse().unwrap());
                }
                offset = *read.last().unwrap() + 1;
            }
        }
    }
}

/// Checks what a restarted broker serves around a damaged segment: every
/// record below `damaged_from`, an error there, the segments after it, the
/// other topic; and `/readyz` ready, naming `file`.
async fn assert_served_around(dir: &Path, damaged_from: i64, next_segment: i64, file: &Path) {
    let broker = start_broker(dir, &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let (read, error) = consume(&mut client, 0).await;
    assert_eq!(read, (0..damaged_from).collect::<Vec<_>>());
    assert_eq!(error, Some(ResponseError::KafkaStorageError.code()));
    // Same connection: still open, other data still served.
    let (after, error) = consume(&mut client, next_segment).await;
    assert_eq!(after, (next_segment..RECORDS).collect::<Vec<_>>());
    assert_eq!(error, None);
    assert_eq!(
        fetch_values(&mut client, "ok", 0, 0).await.unwrap(),
        [&b"fine"[..]]
    );
    let http = broker.http_addr();
    let file = file.display().to_string();
    wait_until(
        Duration::from_secs(30),
        "/readyz to name the damaged file",
        || async {
            let (status, body) = http_get(http, "/readyz").await;
            status == 200 && body.contains(&file)
        },
    )
    .await;
    let (_, metrics) = http_get(http, "/metrics").await;
    assert!(
        metrics.contains(r#"karst_partition_damaged{partition="0",topic="t"} 1"#),
        "{metrics}"
    );
    drop(client);
    broker.shutdown().await;
}

/// Found by the fetch that reaches it.
#[tokio::test]
async fn a_rewritten_batch_length_in_a_closed_segment_fails_that_partition_only() {
    let dir = tempfile::tempdir().unwrap();
    write_segments(dir.path()).await;
    let segments = segments(dir.path());
    let (base, path) = &segments[2];
    let mut bytes = std::fs::read(path).unwrap();
    bytes[8..12].copy_from_slice(&0x7fff_ff00_i32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
    assert_served_around(dir.path(), *base, segments[3].0, path).await;
}

/// Found at start.
#[tokio::test]
async fn a_closed_segment_cut_mid_batch_keeps_what_precedes_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    write_segments(dir.path()).await;
    let segments = segments(dir.path());
    let (_, path) = &segments[2];
    let next = segments[3].0;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - 10).unwrap();
    drop(file);
    // The last batch of the segment (one record, offset next - 1) is cut.
    assert_served_around(dir.path(), next - 1, next, path).await;
}
