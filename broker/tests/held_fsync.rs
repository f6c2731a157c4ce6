//! A slow fsync stalls only the acks=all requests that wait for it: while
//! one partition's group commit fsync is held (the `test-hooks` feature
//! stands in for a disk that takes seconds to sync), other connections are
//! still answered, on a broker with a single async worker.
//!
//! What this shows: the fsync runs on the log flusher's thread and the
//! produce waiting for it holds nothing the async side needs. It does not
//! hold the append's write itself (that still runs on the request's worker).

mod common;

use common::{RawClient, create_topic, produce, record_batch, start_broker, topic_name};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiVersionsRequest, FetchRequest, MetadataRequest, ProduceRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use karst_broker::log::test_hooks::hold_fsyncs;

/// One async worker: were the fsync on it, nothing else would be answered
/// until the hold is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_held_fsync_leaves_other_connections_answered() {
    let held = "held-fsync";
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut other = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(create_topic(&mut other, held, 1).await.0, 0);
    assert_eq!(create_topic(&mut other, "free", 1).await.0, 0);
    assert_eq!(
        produce(&mut other, "free", 0, record_batch(&[b"a", b"b"])).await,
        0
    );

    let hold = hold_fsyncs(&format!("{held}-0"));
    let mut writer = RawClient::connect(broker.kafka_addr()).await;
    let held_produce = tokio::spawn(async move {
        let request = ProduceRequest::default()
            .with_acks(-1)
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
    // The produce is appended and its fsync sits on a flusher thread.
    let hold = tokio::task::spawn_blocking(move || {
        hold.wait_for_held_fsync();
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

    // All answered while the fsync was still held; releasing it lets the
    // acks=all produce finish normally.
    assert!(!held_produce.is_finished());
    drop(hold);
    let answer = held_produce.await.unwrap();
    assert_eq!(answer.error_code, 0);
    assert_eq!(answer.base_offset, 0);
    broker.shutdown().await;
}
