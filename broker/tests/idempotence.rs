//! Idempotent producers: a retried batch is stored once, gaps and stale
//! epochs are refused, producer state survives a restart, and
//! DescribeProducers reports it as a Kafka partition leader does.

mod common;

use bytes::{Bytes, BytesMut};
use common::{RawClient, start_broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("idem"))
}

fn batch(producer_id: i64, epoch: i16, first_sequence: i32, count: i32) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: first_sequence + i,
            timestamp: 1000 + i64::from(first_sequence + i),
            key: None,
            value: Some(Bytes::from(format!("r{}", first_sequence + i))),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

async fn produce(client: &mut RawClient, records: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let response = client.send(&request, 9).await;
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn producer_id(client: &mut RawClient) -> (i64, i16) {
    let response = client
        .send(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60000),
            4,
        )
        .await;
    assert_eq!(response.error_code, 0);
    (response.producer_id.0, response.producer_epoch)
}

#[tokio::test]
async fn a_retried_batch_is_stored_once_and_gaps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic())
            .with_num_partitions(2)
            .with_replication_factor(1),
    ]);
    client.send(&create, 5).await;
    let (id, epoch) = producer_id(&mut client).await;
    let (other, _) = producer_id(&mut client).await;
    assert_ne!(id, other, "producer ids are unique");

    assert_eq!(produce(&mut client, batch(id, epoch, 0, 3)).await, (0, 0));
    assert_eq!(produce(&mut client, batch(id, epoch, 3, 2)).await, (0, 3));
    // The same batch again (a retry after a lost response): original offset, not appended.
    assert_eq!(produce(&mut client, batch(id, epoch, 0, 3)).await, (0, 0));
    // A gap in sequence numbers.
    let (code, _) = produce(&mut client, batch(id, epoch, 9, 1)).await;
    assert_eq!(code, ResponseError::OutOfOrderSequenceNumber.code());
    // An older epoch is fenced.
    assert_eq!(produce(&mut client, batch(other, 1, 0, 1)).await, (0, 5));
    let (code, _) = produce(&mut client, batch(other, 0, 1, 1)).await;
    assert_eq!(code, ResponseError::InvalidProducerEpoch.code());

    // Each producer's last batch: the retry and the refused batches change nothing.
    let expected = vec![(id, epoch, 4, 1004), (other, 1, 0, 1000)];
    assert_eq!(
        describe_partition(&mut client, 0).await,
        Ok(sorted(expected.clone()))
    );
    assert_eq!(describe_partition(&mut client, 1).await, Ok(vec![]));

    // Producer state survives a restart: the retry is still recognized.
    broker.shutdown().await;
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(
        describe_partition(&mut client, 0).await,
        Ok(sorted(expected))
    );
    assert_eq!(produce(&mut client, batch(id, epoch, 3, 2)).await, (0, 3));
    assert_eq!(produce(&mut client, batch(id, epoch, 5, 1)).await, (0, 6));
    assert_eq!(
        describe_partition(&mut client, 0).await,
        Ok(sorted(vec![(id, epoch, 5, 1005), (other, 1, 0, 1000)]))
    );
    broker.shutdown().await;
}

/// (producer id, epoch, last sequence, last timestamp), by producer id.
type Producer = (i64, i16, i32, i64);

fn sorted(mut producers: Vec<Producer>) -> Vec<Producer> {
    producers.sort();
    producers
}

/// The producers of one partition of the topic, or its error code. Fields
/// a transaction would fill must be Kafka's "none".
async fn describe_partition(client: &mut RawClient, partition: i32) -> Result<Vec<Producer>, i16> {
    let p = common::describe_producers(client, topic().0.as_str(), partition).await;
    if p.error_code != 0 {
        assert!(p.active_producers.is_empty());
        return Err(p.error_code);
    }
    assert_eq!(p.error_message, None, "no error, no message");
    Ok(p.active_producers
        .iter()
        .map(|s| {
            assert_eq!((s.coordinator_epoch, s.current_txn_start_offset), (-1, -1));
            (
                s.producer_id.0,
                s.producer_epoch as i16,
                s.last_sequence,
                s.last_timestamp,
            )
        })
        .collect())
}

#[tokio::test]
async fn describe_producers_of_unknown_partitions_is_an_error_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    common::create_topic(&mut client, "idem", 2).await;
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(describe_partition(&mut client, 2).await, Err(unknown));
    let absent = common::describe_producers(&mut client, "absent", 0).await;
    assert_eq!(absent.error_code, unknown);
    // The connection is still served.
    assert_eq!(describe_partition(&mut client, 1).await, Ok(vec![]));
    broker.shutdown().await;
}
