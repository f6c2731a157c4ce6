//! The broker answers real protocol requests in every version it advertises.

mod common;

use bytes::{Bytes, BytesMut};
use common::{RawClient, start_broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn batch(values: &[&str], timestamp: i64, compression: Compression) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: timestamp + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(v.to_string())),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

async fn create_topic(client: &mut RawClient, name: &str, partitions: i32) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1),
    ]);
    client.send(&request, 5).await
}

async fn produce(
    client: &mut RawClient,
    name: &str,
    partition: i32,
    records: Bytes,
    version: i16,
) -> ProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic(name))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    client.send(&request, version).await
}

async fn fetch(
    client: &mut RawClient,
    name: &str,
    offset: i64,
    version: i16,
) -> fetch_response::PartitionData {
    let request = FetchRequest::default()
        .with_max_wait_ms(10)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic(name))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let mut response = client.send(&request, version).await;
    response.responses.remove(0).partitions.remove(0)
}

fn values(records: Option<Bytes>) -> Vec<String> {
    let mut records = records.unwrap_or_default();
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut records).unwrap() {
        for r in set.records {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn unknown_api_versions_version_is_answered_with_v0_unsupported_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    // ApiVersions v99: header v2 body is opaque to the broker.
    let mut body = vec![0, 18, 0, 99, 0, 0, 0, 7, 0, 4, b't', b'e', b's', b't', 0];
    body.extend_from_slice(&[0, 0, 0]);
    client.send_frame(&body).await.unwrap();
    let mut frame = client.read_frame().await.unwrap();
    assert_eq!(common::correlation_id(frame.clone()), 7);
    let _ = bytes::Buf::get_i32(&mut frame);
    let response =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut frame, 0)
            .unwrap();
    assert_eq!(
        response.error_code,
        ResponseError::UnsupportedVersion.code()
    );
    assert!(
        response
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::Produce as i16)
    );
    // The connection stays usable.
    let ok = client.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(ok.error_code, 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn records_produced_in_every_version_are_fetched_in_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let created = create_topic(&mut client, "versions", 1).await;
    assert_eq!(created.topics[0].error_code, 0);
    let mut expected = Vec::new();
    for version in 3..=12 {
        let value = format!("v{version}");
        let response = produce(
            &mut client,
            "versions",
            0,
            batch(&[&value], 1000, Compression::None),
            version,
        )
        .await;
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0, "produce v{version}");
        assert_eq!(
            partition.base_offset,
            expected.len() as i64,
            "produce v{version}"
        );
        expected.push(value);
    }
    for version in 4..=12 {
        let data = fetch(&mut client, "versions", 0, version).await;
        assert_eq!(data.error_code, 0, "fetch v{version}");
        assert_eq!(data.high_watermark, expected.len() as i64);
        assert_eq!(values(data.records), expected, "fetch v{version}");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn compressed_batches_round_trip_and_offsets_follow_record_counts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    create_topic(&mut client, "compressed", 1).await;
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let response = produce(
            &mut client,
            "compressed",
            0,
            batch(&["a", "b", "c"], 0, compression),
            9,
        )
        .await;
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
    let data = fetch(&mut client, "compressed", 3, 11).await;
    let got = values(data.records);
    assert_eq!(got.len(), 9, "batches from offset 3 on: {got:?}");
    assert_eq!(data.high_watermark, 12);
    broker.shutdown().await;
}

#[tokio::test]
async fn list_offsets_finds_earliest_latest_and_by_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    create_topic(&mut client, "times", 1).await;
    produce(
        &mut client,
        "times",
        0,
        batch(&["a", "b"], 1_000, Compression::None),
        9,
    )
    .await;
    produce(
        &mut client,
        "times",
        0,
        batch(&["c", "d"], 5_000, Compression::None),
        9,
    )
    .await;
    for (timestamp, offset) in [
        (-2, 0),
        (-1, 4),
        (0, 0),
        (2_000, 2),
        (5_001, 3),
        (9_999, -1),
    ] {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic("times"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(timestamp),
                    ]),
            ]);
        let response = client.send(&request, 7).await;
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.offset, offset, "timestamp {timestamp}");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn produce_errors_carry_kafka_codes_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(
        dir.path(),
        &[
            ("auto.create.topics.enable", "false"),
            ("message.max.bytes", "1000"),
        ],
    )
    .await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let unknown = produce(
        &mut client,
        "missing",
        0,
        batch(&["x"], 0, Compression::None),
        9,
    )
    .await;
    assert_eq!(
        unknown.responses[0].partition_responses[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    create_topic(&mut client, "strict", 1).await;
    let mut corrupt = BytesMut::from(&batch(&["x"], 0, Compression::None)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let response = produce(&mut client, "strict", 0, corrupt.freeze(), 9).await;
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        ResponseError::CorruptMessage.code()
    );
    let big = "x".repeat(2000);
    let response = produce(
        &mut client,
        "strict",
        0,
        batch(&[&big], 0, Compression::None),
        9,
    )
    .await;
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        ResponseError::MessageTooLarge.code()
    );
    let metadata = client
        .send(
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(topic("bad name!"))),
            ])),
            9,
        )
        .await;
    assert_eq!(
        metadata.topics[0].error_code,
        ResponseError::InvalidTopicException.code()
    );
    let data = fetch(&mut client, "strict", 0, 11).await;
    assert_eq!(data.high_watermark, 0, "nothing was appended");
    broker.shutdown().await;
}
