//! Random and mutated request frames never take the broker down: a bad frame
//! closes at most its own connection, and the broker keeps serving others.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{RawClient, encode_request, start_broker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rand::{Rng, SeedableRng, rngs::StdRng};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

/// Valid frames of several APIs, to be mutated.
fn seeds() -> Vec<Bytes> {
    let produce = ProduceRequest::default().with_acks(1).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(name("fuzz"))
            .with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from_static(&[0u8; 80]))),
            ]),
    ]);
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name("fuzz"))
                .with_partitions(vec![FetchPartition::default()]),
        ]);
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("fuzz2"))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    vec![
        encode_request(&ApiVersionsRequest::default(), 3, 1),
        encode_request(&MetadataRequest::default(), 12, 2),
        encode_request(&produce, 9, 3),
        encode_request(&produce, 3, 4),
        encode_request(&fetch, 12, 5),
        encode_request(&create, 7, 6),
        encode_request(&ListOffsetsRequest::default(), 7, 7),
        encode_request(&DescribeConfigsRequest::default(), 4, 8),
    ]
}

#[tokio::test]
async fn random_and_mutated_frames_never_take_the_broker_down() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("socket.request.max.bytes", "100000")]).await;
    let addr = broker.kafka_addr();
    let mut rng = StdRng::seed_from_u64(0x006b_6172_7374);
    let seeds = seeds();
    let mut client = RawClient::connect(addr).await;
    for round in 0..1500 {
        let frame: Vec<u8> = if round % 3 == 0 {
            let len = rng.random_range(0..200);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let mut frame = seeds[rng.random_range(0..seeds.len())].to_vec();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..frame.len());
                match rng.random_range(0..3) {
                    0 => frame[at] = rng.random(),
                    1 => frame.truncate(at.max(1)),
                    _ => frame.insert(at, rng.random()),
                }
            }
            frame
        };
        if client.send_frame(&frame).await.is_err() {
            client = RawClient::connect(addr).await;
            continue;
        }
        // Either an answer or a closed connection; never a hang.
        match tokio::time::timeout(Duration::from_secs(5), client.read_frame()).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => client = RawClient::connect(addr).await,
            Err(_) => panic!("round {round}: no answer and no close within 5 s"),
        }
    }
    let mut fresh = RawClient::connect(addr).await;
    let versions = fresh.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(
        versions.error_code, 0,
        "the broker still serves after hostile input"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn oversized_frame_closes_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("socket.request.max.bytes", "1024")]).await;
    let mut bystander = RawClient::connect(broker.kafka_addr()).await;
    let mut hostile = RawClient::connect(broker.kafka_addr()).await;
    hostile.send_raw(&100_000i32.to_be_bytes()).await.unwrap();
    hostile.send_raw(&[0u8; 512]).await.ok();
    let closed = tokio::time::timeout(Duration::from_secs(5), hostile.read_frame()).await;
    assert!(
        matches!(closed, Ok(Err(_))),
        "oversized frame must close the connection"
    );
    let versions = bystander.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(versions.error_code, 0);
    broker.shutdown().await;
}
