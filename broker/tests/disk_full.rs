//! A full disk never loses what was acknowledged and never leaves a change
//! half made: on a small tmpfs (mounted by the test; it needs root, as CI
//! has), CreateTopics fails whole with KAFKA_STORAGE_ERROR, DeleteTopics
//! still frees space, and every acknowledged change survives a restart.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    RawClient, create_topic, fetch_values, http_get, partition_count, produce, record_batch,
    start_broker, wait_until,
};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteTopicsRequest};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs failed ({status}): this test needs root, as CI has"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free_bytes(&self) -> u64 {
        let stats = rustix::fs::statvfs(self.path()).unwrap();
        stats.f_bavail * stats.f_frsize
    }

    /// Fills the disk with a file outside any partition; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        for chunk in [64 * 1024, 4096, 1] {
            let bytes = vec![7u8; chunk];
            while file.write_all(&bytes).is_ok() {}
        }
        assert_eq!(self.free_bytes(), 0);
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Bounds every wait of these tests.
const BOUND: std::time::Duration = std::time::Duration::from_secs(30);

fn partition_dirs(dir: &Path, topic: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(topic)?.strip_prefix('-'))
                .is_some_and(|p| p.parse::<i32>().is_ok())
        })
        .count()
}

async fn delete_topic(client: &mut RawClient, name: &str) -> i16 {
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(common::topic_name(name))),
        ]);
    client
        .send(&request, 6)
        .await
        .responses
        .remove(0)
        .error_code
}

async fn delete_records(client: &mut RawClient, name: &str, before: i64) -> i16 {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(common::topic_name(name))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(before),
                ]),
        ]);
    let mut response = client.send(&request, 2).await;
    response.topics.remove(0).partitions.remove(0).error_code
}

#[tokio::test]
async fn a_full_disk_fails_changes_whole_and_deleting_a_topic_frees_it() {
    let disk = SmallDisk::mount("8m");
    let storage_error = ResponseError::KafkaStorageError.code();
    let broker = start_broker(disk.path(), &[("log.segment.bytes", "65536")]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;

    assert_eq!(create_topic(&mut client, "kept", 3).await.0, 0);
    assert_eq!(create_topic(&mut client, "bulky", 1).await.0, 0);
    let value = vec![b'x'; 60 * 1024];
    for _ in 0..32 {
        assert_eq!(
            produce(&mut client, "bulky", 0, record_batch(&[&value])).await,
            0
        );
    }
    assert_eq!(
        produce(&mut client, "kept", 1, record_batch(&[b"acked"])).await,
        0
    );

    let filler = disk.fill();
    let http = broker.http_addr();
    wait_until(BOUND, "/readyz to report the full disk", || async {
        let (status, body) = http_get(http, "/readyz").await;
        status == 503 && body.contains("disk full")
    })
    .await;
    let (code, message) = create_topic(&mut client, "doomed", 50).await;
    assert_eq!(code, storage_error, "{message:?}");
    assert_eq!(
        partition_count(&mut client, "doomed").await,
        Err(ResponseError::UnknownTopicOrPartition.code())
    );
    assert_eq!(partition_dirs(disk.path(), "doomed"), 0);
    assert_eq!(
        produce(&mut client, "kept", 0, record_batch(&[&value])).await,
        storage_error
    );

    // DeleteRecords frees the segments below the new start offset...
    assert_eq!(delete_records(&mut client, "bulky", 16).await, 0);
    assert!(
        disk.free_bytes() >= 512 * 1024,
        "free: {}",
        disk.free_bytes()
    );
    let _refill = disk.fill();
    // ...and deleting a topic is written into the reserved space and frees disk.
    assert_eq!(delete_topic(&mut client, "bulky").await, 0);
    assert!(
        disk.free_bytes() >= 1024 * 1024,
        "free: {}",
        disk.free_bytes()
    );
    assert_eq!(partition_dirs(disk.path(), "bulky"), 0);

    // With room again, a change made after the failed one is kept.
    std::fs::remove_file(filler).unwrap();
    wait_until(BOUND, "/readyz to recover", || async {
        http_get(http, "/readyz").await.0 == 200
    })
    .await;
    assert_eq!(create_topic(&mut client, "later", 2).await.0, 0);
    drop(client);
    broker.shutdown().await;

    let broker = start_broker(disk.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(partition_count(&mut client, "kept").await, Ok(3));
    assert_eq!(partition_count(&mut client, "later").await, Ok(2));
    assert_eq!(
        partition_count(&mut client, "doomed").await,
        Err(ResponseError::UnknownTopicOrPartition.code())
    );
    assert_eq!(
        partition_count(&mut client, "bulky").await,
        Err(ResponseError::UnknownTopicOrPartition.code())
    );
    drop(client);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_broker_starts_on_a_full_disk_serves_reads_and_a_failed_flush_is_not_clean() {
    let disk = SmallDisk::mount("4m");
    let storage_error = ResponseError::KafkaStorageError.code();
    let broker = start_broker(disk.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(create_topic(&mut client, "t", 1).await.0, 0);
    for value in [&b"one"[..], b"two", b"three"] {
        assert_eq!(
            produce(&mut client, "t", 0, record_batch(&[value])).await,
            0
        );
    }
    drop(client);

    // The disk fills while index entries wait for the shutdown flush: the
    // flush fails, and the shutdown must not be taken for a clean one.
    let filler = disk.fill();
    assert!(broker.shutdown_checked().await.is_err());
    assert!(!disk.path().join(".karst_clean_shutdown").exists());

    // It starts on the full disk (recovering), serves reads, refuses writes.
    let broker = start_broker(disk.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let values = fetch_values(&mut client, "t", 0, 0).await.unwrap();
    assert_eq!(values, [&b"one"[..], b"two", b"three"]);
    // (Larger than the slack in the last page of the segment file.)
    let large = vec![b'x'; 64 * 1024];
    assert_eq!(
        produce(&mut client, "t", 0, record_batch(&[&large])).await,
        storage_error
    );
    let http = broker.http_addr();
    wait_until(BOUND, "/readyz to report the full disk", || async {
        let (status, body) = http_get(http, "/readyz").await;
        status == 503 && body.contains("disk full")
    })
    .await;

    std::fs::remove_file(filler).unwrap();
    wait_until(BOUND, "/readyz to recover", || async {
        http_get(http, "/readyz").await.0 == 200
    })
    .await;
    assert_eq!(
        produce(&mut client, "t", 0, record_batch(&[b"four"])).await,
        0
    );
    drop(client);
    broker.shutdown_checked().await.unwrap();
}
