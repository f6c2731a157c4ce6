//! A slow disk stalls only the requests that wait for the partition it
//! holds: while one partition's append (its write) or its group commit
//! fsync is held (the `test-hooks` feature stands in for a disk that takes
//! seconds), other connections are still answered, on a broker with a
//! single async worker: ApiVersions, Metadata, a Fetch and a Produce of
//! another partition.
//!
//! What this shows: appends run on the partitions' I/O lanes and fsyncs on
//! the log flusher's threads, and the produce waiting for them holds
//! nothing the async side needs.

mod common;

use common::{RawClient, create_topic, produce, record_batch, start_broker, topic_name};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiVersionsRequest, FetchRequest, MetadataRequest, ProduceRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use karst_broker::log::test_hooks::{IoHold, hold_appends, hold_fsyncs};

/// One async worker: were the write on it, nothing else would be answered
/// until the hold is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_held_append_leaves_other_connections_answered() {
    other_connections_answered_while_held("held-append", 1, hold_appends).await;
}

/// One async worker: were the fsync on it, nothing else would be answered
/// until the hold is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_held_fsync_leaves_other_connections_answered() {
    other_connections_answered_while_held("held-fsync", -1, hold_fsyncs).await;
}

/// Produces to topic `held` with `acks` while `hold` holds its partition's
/// disk work, and checks what other connections get meanwhile.
async fn other_connections_answered_while_held(
    held: &'static str,
    acks: i16,
    hold: fn(&str) -> IoHold,
) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut other = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(create_topic(&mut other, held, 1).await.0, 0);
    assert_eq!(create_topic(&mut other, "free", 1).await.0, 0);
    assert_eq!(
        produce(&mut other, "free", 0, record_batch(&[b"a", b"b"])).await,
        0
    );

    let hold = hold(&format!("{held}-0"));
    let mut writer = RawClient::connect(broker.kafka_addr()).await;
    let held_produce = tokio::spawn(async move {
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name(held))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(record_batch(&[b"held"]))),
                    ]),
            ]);
        let mut response = writer.send(&request, 9).await;
        response.responses.remove(0).partition_responses.remove(0)
    });
    // The produce's held work sits on an I/O or flusher thread.
    let hold = tokio::task::spawn_blocking(move || {
        hold.wait_until_held();
        hold
    })
    .await
    .unwrap();

    let versions = other
        .send(
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("test"))
                .with_client_software_version(StrBytes::from_static_str("1")),
            3,
        )
        .await;
    assert_eq!(versions.error_code, 0);
    assert!(!versions.api_keys.is_empty());

    let metadata = other
        .send(
            &MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(held))),
            ])),
            12,
        )
        .await;
    assert_eq!(metadata.topics[0].error_code, 0);
    assert_eq!(metadata.topics[0].partitions.len(), 1);

    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name("free"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let mut fetched = other.send(&fetch, 12).await;
    let partition = fetched.responses.remove(0).partitions.remove(0);
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 2);
    let mut records = partition.records.expect("records of the free partition");
    let batches = RecordBatchDecoder::decode_all(&mut records).unwrap();
    assert_eq!(batches.iter().map(|b| b.records.len()).sum::<usize>(), 2);

    // Another partition's appends go on (their own I/O lane).
    assert_eq!(
        produce(&mut other, "free", 0, record_batch(&[b"c"])).await,
        0
    );

    // All answered while the disk work was still held; releasing it lets
    // the produce finish normally.
    assert!(!held_produce.is_finished());
    assert!(
        hold.release(),
        "the hold expired: the held work stalled the other connections"
    );
    let answer = held_produce.await.unwrap();
    assert_eq!(answer.error_code, 0);
    assert_eq!(answer.base_offset, 0);
    broker.shutdown().await;
}
