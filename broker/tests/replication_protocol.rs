//! Replication's protocol edges on one broker: a follower fetch from a
//! replica the partition does not have, fetches carrying a stale or a newer
//! leader epoch (KIP-320), OffsetForLeaderEpoch for known and unknown
//! partitions. Each gets Kafka's error code; the broker keeps serving.

mod common;

use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest};

fn fetch(replica_id: i32, current_leader_epoch: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name("epochs"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(current_leader_epoch)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

fn end_offset_request(topic: &str, partition: i32, epoch: i32) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(epoch),
                ]),
        ])
}

#[tokio::test]
async fn replication_requests_get_kafkas_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(node.kafka_addr()).await;
    assert_eq!(create_topic(&mut client, "epochs", 1).await.0, 0);
    assert_eq!(
        produce(&mut client, "epochs", 0, record_batch(&[b"a", b"b", b"c"])).await,
        0
    );

    let code = |r: kafka_protocol::messages::FetchResponse| r.responses[0].partitions[0].error_code;
    // A follower fetch from a broker that is not a replica of the partition.
    let refused = client.send(&fetch(7, -1), 12).await;
    assert_eq!(code(refused), ResponseError::NotLeaderOrFollower.code());
    // A consumer with the current epoch (0), or none (-1), reads; a newer
    // one is unknown here (an older one, FENCED_LEADER_EPOCH, needs a
    // leader change: the multi-broker tests make those).
    assert_eq!(code(client.send(&fetch(-1, 0), 12).await), 0);
    assert_eq!(code(client.send(&fetch(-1, -1), 12).await), 0);
    let newer = client.send(&fetch(-1, 3), 12).await;
    assert_eq!(code(newer), ResponseError::UnknownLeaderEpoch.code());

    // Where epoch 0 ends: the log end (3 records), at epoch 0.
    let answer = client.send(&end_offset_request("epochs", 0, 0), 4).await;
    let p = &answer.topics[0].partitions[0];
    assert_eq!((p.error_code, p.leader_epoch, p.end_offset), (0, 0, 3));
    let unknown = client.send(&end_offset_request("nope", 0, 0), 4).await;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    let no_partition = client.send(&end_offset_request("epochs", 9, 0), 4).await;
    assert_eq!(
        no_partition.topics[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    // Still serving.
    assert_eq!(
        produce(&mut client, "epochs", 0, record_batch(&[b"d"])).await,
        0
    );
    node.shutdown().await;
}
