//! CreateTopics and CreatePartitions answer success only when every new
//! partition's log is open: when one cannot be opened, the change is refused
//! with KAFKA_STORAGE_ERROR, the logs opened for it are removed, and nothing
//! of it is in the metadata, before or after a restart.

mod common;

use std::path::Path;

use common::{RawClient, create_topic, partition_count, start_broker, topic_name};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::CreatePartitionsRequest;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;

/// A file where the directory of partition `name` would go: opening that
/// partition's log fails, as it would without file descriptors or space.
fn block(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), b"in the way").unwrap();
}

fn dir_exists(dir: &Path, name: &str) -> bool {
    dir.join(name).is_dir()
}

async fn grow(client: &mut RawClient, name: &str, count: i32) -> i16 {
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic_name(name))
                .with_count(count),
        ]);
    client.send(&request, 3).await.results.remove(0).error_code
}

#[tokio::test]
async fn a_partition_that_cannot_be_opened_fails_the_whole_change() {
    let dir = tempfile::tempdir().unwrap();
    let storage_error = ResponseError::KafkaStorageError.code();
    let unknown = Err(ResponseError::UnknownTopicOrPartition.code());
    block(dir.path(), "half-3");
    block(dir.path(), "grown-2");
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;

    let (code, message) = create_topic(&mut client, "half", 5).await;
    assert_eq!(code, storage_error, "{message:?}");
    assert!(message.unwrap().contains("half-3"));
    assert_eq!(partition_count(&mut client, "half").await, unknown);
    assert!(!(0..5).any(|p| dir_exists(dir.path(), &format!("half-{p}"))));

    assert_eq!(create_topic(&mut client, "grown", 1).await.0, 0);
    assert_eq!(grow(&mut client, "grown", 4).await, storage_error);
    assert_eq!(partition_count(&mut client, "grown").await, Ok(1));
    assert!(dir_exists(dir.path(), "grown-0"));
    assert!(!dir_exists(dir.path(), "grown-1"));

    drop(client);
    broker.shutdown_checked().await.unwrap();
    std::fs::remove_file(dir.path().join("grown-2")).unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(partition_count(&mut client, "half").await, unknown);
    assert_eq!(partition_count(&mut client, "grown").await, Ok(1));
    // With the obstacle gone the same change succeeds whole.
    assert_eq!(grow(&mut client, "grown", 4).await, 0);
    assert_eq!(partition_count(&mut client, "grown").await, Ok(4));
    drop(client);
    broker.shutdown_checked().await.unwrap();
}
