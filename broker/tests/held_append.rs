//! A slow disk stalls only the requests that write to it: while one
//! connection's append is held (the `test-hooks` feature stands in for a
//! write that sleeps), other connections are still answered.

mod common;

use common::{RawClient, create_topic, produce, record_batch, start_broker, topic_name};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiVersionsRequest, FetchRequest, MetadataRequest, ProduceRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use karst_broker::io_pool::test_hooks::hold_appends;

/// One async worker, as the broker runs it (multi-thread runtime): before
/// appends left the workers, a held append here stopped every connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_held_append_leaves_other_connections_answered() {
    held_append_leaves_others_answered("held-multi").await;
}

/// The same on a current-thread runtime, where appends go to a blocking
/// thread instead.
#[tokio::test(flavor = "current_thread")]
async fn a_held_append_leaves_other_connections_answered_on_one_thread() {
    held_append_leaves_others_answered("held-current").await;
}

/// Holds appends to `held` (a topic name of this test alone: holds are
/// process-wide) and asks another connection for what it may still get.
async fn held_append_leaves_others_answered(held: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut other = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(create_topic(&mut other, held, 1).await.0, 0);
    assert_eq!(create_topic(&mut other, "free", 1).await.0, 0);
    assert_eq!(
        produce(&mut other, "free", 0, record_batch(&[b"a", b"b"])).await,
        0
    );

    let hold = hold_appends(held);
    let mut writer = RawClient::connect(broker.kafka_addr()).await;
    let held_produce = tokio::spawn(async move {
        let request = ProduceRequest::default()
            .with_acks(1)
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
    // The produce's append now sits on its I/O thread, holding nothing the
    // async side needs.
    let hold = tokio::task::spawn_blocking(move || {
        hold.wait_for_held_append();
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

    // All answered while the append was still held; releasing it lets the
    // held produce finish normally.
    assert!(!held_produce.is_finished());
    drop(hold);
    let answer = held_produce.await.unwrap();
    assert_eq!(answer.error_code, 0);
    assert_eq!(answer.base_offset, 0);
    broker.shutdown().await;
}
