//! Admin APIs change topics through the metadata log, and the changes
//! survive a restart.

mod common;

use common::{RawClient, start_broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn topic(name: &str) -> TopicName {
    TopicName(s(name))
}

async fn metadata(client: &mut RawClient, name: &str) -> metadata_response::MetadataResponseTopic {
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic(name))),
        ]));
    client.send(&request, 12).await.topics.remove(0)
}

async fn topic_config(client: &mut RawClient, name: &str, key: &str) -> Option<String> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(name))
            .with_configuration_keys(Some(vec![s(key)])),
    ]);
    let response = client.send(&request, 4).await;
    let result = &response.results[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    result
        .configs
        .first()
        .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
}

#[tokio::test]
async fn topics_are_created_grown_configured_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;

    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic("orders"))
            .with_num_partitions(2)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("60000"))),
            ]),
    ]);
    let validate_only = client
        .send(&create.clone().with_validate_only(true), 7)
        .await;
    assert_eq!(validate_only.topics[0].error_code, 0);
    assert_eq!(
        metadata(&mut client, "orders").await.error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    let created = client.send(&create, 7).await;
    assert_eq!(created.topics[0].error_code, 0);
    assert!(!created.topics[0].topic_id.is_nil());
    let again = client.send(&create, 7).await;
    assert_eq!(
        again.topics[0].error_code,
        ResponseError::TopicAlreadyExists.code()
    );
    assert_eq!(metadata(&mut client, "orders").await.partitions.len(), 2);
    assert_eq!(
        topic_config(&mut client, "orders", "retention.ms")
            .await
            .as_deref(),
        Some("60000")
    );

    let grow = CreatePartitionsRequest::default().with_topics(vec![
        CreatePartitionsTopic::default()
            .with_name(topic("orders"))
            .with_count(5),
    ]);
    assert_eq!(client.send(&grow, 3).await.results[0].error_code, 0);
    assert_eq!(metadata(&mut client, "orders").await.partitions.len(), 5);
    let shrink = CreatePartitionsRequest::default().with_topics(vec![
        CreatePartitionsTopic::default()
            .with_name(topic("orders"))
            .with_count(3),
    ]);
    assert_eq!(
        client.send(&shrink, 3).await.results[0].error_code,
        ResponseError::InvalidPartitions.code()
    );

    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("orders"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s("120000"))),
            ]),
    ]);
    assert_eq!(client.send(&alter, 1).await.responses[0].error_code, 0);
    assert_eq!(
        topic_config(&mut client, "orders", "retention.ms")
            .await
            .as_deref(),
        Some("120000")
    );

    // Everything above survives a restart on the same data directory.
    broker.shutdown().await;
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let after = metadata(&mut client, "orders").await;
    assert_eq!(after.partitions.len(), 5);
    assert_eq!(after.topic_id, created.topics[0].topic_id);
    assert_eq!(
        topic_config(&mut client, "orders", "retention.ms")
            .await
            .as_deref(),
        Some("120000")
    );

    let delete = DeleteTopicsRequest::default().with_topic_names(vec![topic("orders")]);
    assert_eq!(client.send(&delete, 5).await.responses[0].error_code, 0);
    assert_eq!(
        metadata(&mut client, "orders").await.error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert!(
        !dir.path().join("orders-0").exists(),
        "partition directories are removed"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn cluster_and_log_dirs_are_described() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let cluster = client.send(&DescribeClusterRequest::default(), 0).await;
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(
        cluster.brokers[0].port,
        i32::from(broker.kafka_addr().port())
    );
    assert_eq!(cluster.cluster_id.len(), 22);

    // Metadata auto-creates a topic (auto.create.topics.enable defaults to true).
    let auto = client
        .send(
            &MetadataRequest::default()
                .with_allow_auto_topic_creation(true)
                .with_topics(Some(vec![
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(topic("auto"))),
                ])),
            9,
        )
        .await;
    assert_eq!(auto.topics[0].error_code, 0);
    let dirs = client
        .send(&DescribeLogDirsRequest::default().with_topics(None), 1)
        .await;
    assert_eq!(dirs.results.len(), 1);
    let volume = client
        .send(&DescribeLogDirsRequest::default().with_topics(None), 4)
        .await;
    let (total, usable) = (
        volume.results[0].total_bytes,
        volume.results[0].usable_bytes,
    );
    assert!(
        total > 0 && usable > 0 && usable <= total,
        "{total} {usable}"
    );
    assert!(
        dirs.results[0]
            .topics
            .iter()
            .any(|t| t.name.0.as_str() == "auto")
    );
    broker.shutdown().await;
}
