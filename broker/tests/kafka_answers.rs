//! Wire-level answers where a Kafka 4.x broker's exact behaviour is easier
//! to show with raw requests than through a client: paging cursors that
//! stop inside a topic, the endpoint type of DescribeCluster, and an
//! unknown reassignment target that does not close the connection.

mod common;

use common::{RawClient, start_broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

async fn create(client: &mut RawClient, name: &str, partitions: i32) {
    let response = client
        .send(
            &CreateTopicsRequest::default().with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic(name))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1),
            ]),
            7,
        )
        .await;
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(response.topics[0].error_message, None);
}

#[tokio::test]
async fn describe_topic_partitions_resumes_inside_a_topic_from_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    create(&mut client, "wide", 5).await;
    create(&mut client, "zz-after", 1).await;

    let page = |cursor: Option<Cursor>| {
        DescribeTopicPartitionsRequest::default()
            .with_topics(vec![
                TopicRequest::default().with_name(topic("zz-after")),
                TopicRequest::default().with_name(topic("wide")),
                TopicRequest::default().with_name(topic("missing")),
            ])
            .with_response_partition_limit(3)
            .with_cursor(cursor)
    };
    let first = client.send(&page(None), 0).await;
    // Name order: "missing" (unknown, its own error), then "wide" 0..=2.
    let names: Vec<_> = first
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().0.to_string(),
                t.error_code,
                t.partitions.len(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (
                "missing".to_owned(),
                ResponseError::UnknownTopicOrPartition.code(),
                0
            ),
            ("wide".to_owned(), 0, 3)
        ]
    );
    let cursor = first.next_cursor.expect("more partitions remain");
    assert_eq!(
        (cursor.topic_name.0.as_str(), cursor.partition_index),
        ("wide", 3)
    );

    let second = client
        .send(
            &page(Some(
                Cursor::default()
                    .with_topic_name(cursor.topic_name)
                    .with_partition_index(cursor.partition_index),
            )),
            0,
        )
        .await;
    let rest: Vec<_> = second
        .topics
        .iter()
        .flat_map(|t| {
            let name = t.name.as_ref().unwrap().0.to_string();
            t.partitions
                .iter()
                .map(move |p| (name.clone(), p.partition_index))
        })
        .collect();
    assert_eq!(
        rest,
        vec![
            ("wide".to_owned(), 3),
            ("wide".to_owned(), 4),
            ("zz-after".to_owned(), 0)
        ]
    );
    assert!(second.next_cursor.is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn describe_cluster_is_a_broker_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let brokers = client.send(&DescribeClusterRequest::default(), 2).await;
    assert_eq!(brokers.error_code, 0);
    assert_eq!(brokers.error_message, None);
    assert_eq!(brokers.brokers.len(), 1);
    assert!(!brokers.brokers[0].is_fenced);

    let controllers = client
        .send(&DescribeClusterRequest::default().with_endpoint_type(2), 1)
        .await;
    assert_eq!(
        controllers.error_code,
        ResponseError::MismatchedEndpointType.code()
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_reassignment_of_an_unknown_topic_is_answered_on_the_same_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        alter_partition_reassignments_request::ReassignableTopic::default()
            .with_name(topic("missing"))
            .with_partitions(vec![
                alter_partition_reassignments_request::ReassignablePartition::default()
                    .with_replicas(Some(vec![BrokerId(1)])),
            ]),
    ]);
    let response = client.send(&request, 0).await;
    assert_eq!(response.error_code, 0);
    assert_eq!(response.error_message, None);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(
        partition.error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    // The connection still answers.
    let listed = client
        .send(&ListPartitionReassignmentsRequest::default(), 0)
        .await;
    assert_eq!(listed.error_code, 0);
    assert!(listed.topics.is_empty());
    broker.shutdown().await;
}
