//! Helpers for integration tests: an in-process broker on 127.0.0.1:0 and a
//! raw Kafka protocol connection to it.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use karst_broker::Node;
use karst_broker::config::BrokerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a broker on an ephemeral port with its data in `dir`.
pub async fn start_broker(dir: &Path, overrides: &[(&str, &str)]) -> Node {
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("karst.http.listener", "127.0.0.1:0").unwrap();
    config.set("log.dirs", dir.to_str().unwrap()).unwrap();
    for (k, v) in overrides {
        config.set(k, v).unwrap();
    }
    Node::start(config).await.expect("broker starts")
}

/// One raw connection speaking the Kafka protocol.
pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    /// A client on an already connected stream.
    pub fn from_stream(stream: TcpStream) -> Self {
        Self {
            stream,
            correlation_id: 0,
        }
    }

    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends `request` at `version` and decodes the response.
    pub async fn send<R: Request>(&mut self, request: &R, version: i16) -> R::Response
    where
        R::Response: Decodable + HeaderVersion,
    {
        let id = self.next_id();
        self.send_frame(&encode_request(request, version, id))
            .await
            .expect("write");
        let mut frame = self.read_frame().await.expect("response frame");
        ResponseHeader::decode(&mut frame, R::Response::header_version(version)).expect("header");
        R::Response::decode(&mut frame, version).expect("response body")
    }

    fn next_id(&mut self) -> i32 {
        self.correlation_id += 1;
        self.correlation_id
    }

    /// Writes a frame body with its size prefix.
    pub async fn send_frame(&mut self, body: &[u8]) -> std::io::Result<()> {
        let mut buf = BytesMut::with_capacity(body.len() + 4);
        buf.put_i32(body.len() as i32);
        buf.put_slice(body);
        self.stream.write_all(&buf).await
    }

    /// Writes raw bytes (no size prefix added).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one size-prefixed frame.
    pub async fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let size = self.stream.read_i32().await?;
        let mut buf = vec![0u8; size as usize];
        self.stream.read_exact(&mut buf).await?;
        Ok(Bytes::from(buf))
    }
}

/// The frame body (header + request) of `request` at `version`.
pub fn encode_request<R: Request>(request: &R, version: i16, correlation_id: i32) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("karst-test")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).unwrap();
    request.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// The correlation id of a response frame.
pub fn correlation_id(mut frame: Bytes) -> i32 {
    frame.get_i32()
}

/// A RecordBatch v2 holding one record per value, uncompressed.
pub fn record_batch(values: &[&[u8]]) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
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
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::copy_from_slice(v)),
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
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

/// A Kafka topic name.
pub fn topic_name(name: &str) -> kafka_protocol::messages::TopicName {
    kafka_protocol::messages::TopicName(StrBytes::from_string(name.to_owned()))
}

/// CreateTopics (v7) of one topic; returns its error code and message.
pub async fn create_topic(
    client: &mut RawClient,
    name: &str,
    partitions: i32,
) -> (i16, Option<String>) {
    use kafka_protocol::messages::CreateTopicsRequest;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
    let result = client.send(&request, 7).await.topics.remove(0);
    (
        result.error_code,
        result.error_message.map(|m| m.to_string()),
    )
}

/// Produce (v9, acks=all) of `records` to one partition; returns the error code.
pub async fn produce(client: &mut RawClient, name: &str, partition: i32, records: Bytes) -> i16 {
    use kafka_protocol::messages::ProduceRequest;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(name))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let mut response = client.send(&request, 9).await;
    response
        .responses
        .remove(0)
        .partition_responses
        .remove(0)
        .error_code
}

/// DescribeProducers (v0) of one partition: its answer.
pub async fn describe_producers(
    client: &mut RawClient,
    name: &str,
    partition: i32,
) -> kafka_protocol::messages::describe_producers_response::PartitionResponse {
    use kafka_protocol::messages::DescribeProducersRequest;
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(topic_name(name))
            .with_partition_indexes(vec![partition]),
    ]);
    let mut topic = client.send(&request, 0).await.topics.remove(0);
    assert_eq!(topic.name.0.as_str(), name);
    let answer = topic.partitions.remove(0);
    assert_eq!(answer.partition_index, partition);
    answer
}

/// The number of partitions of `name` in Metadata, or its error code.
pub async fn partition_count(client: &mut RawClient, name: &str) -> Result<usize, i16> {
    use kafka_protocol::messages::{MetadataRequest, metadata_request::MetadataRequestTopic};
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(name))),
        ]));
    let topic = client.send(&request, 12).await.topics.remove(0);
    if topic.error_code != 0 {
        return Err(topic.error_code);
    }
    Ok(topic.partitions.len())
}

/// Fetch (v12) of one partition from `offset`: the values of the records
/// returned, or the partition's error code.
pub async fn fetch_values(
    client: &mut RawClient,
    name: &str,
    partition: i32,
    offset: i64,
) -> Result<Vec<Bytes>, i16> {
    use kafka_protocol::messages::FetchRequest;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::records::RecordBatchDecoder;
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(16 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(name))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(16 << 20),
                ]),
        ]);
    let mut response = client.send(&request, 12).await;
    let data = response.responses.remove(0).partitions.remove(0);
    if data.error_code != 0 {
        return Err(data.error_code);
    }
    let mut records = data.records.unwrap_or_default();
    let mut values = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut records).unwrap() {
        values.extend(set.records.into_iter().filter_map(|r| r.value));
    }
    Ok(values)
}

/// GET `path` on the HTTP listener: status and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (response[9..12].parse().unwrap(), body)
}

/// Polls `check` until it holds, failing after `bound`.
pub async fn wait_until<F, Fut>(bound: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + bound;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {bound:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
