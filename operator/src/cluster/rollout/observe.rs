//! Reads what a rolling restart needs from the brokers: the registered
//! brokers (DescribeCluster), the active controller (DescribeQuorum's
//! leader, as Kafka's tools find it) and every partition's replicas and ISR
//! (Metadata), with `min.insync.replicas` of the topics that could block.

use std::time::Duration;

use karst_client::{
    AdminClient,
    kafka_protocol::{
        messages::{
            DescribeQuorumRequest, TopicName,
            describe_quorum_request::{PartitionData, TopicData},
        },
        protocol::StrBytes,
    },
};

use super::{availability::PartitionReplicas, plan::BrokerFacts};

/// The metadata quorum's partition, as KRaft names it.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// Asks the first ready broker (`ip:port`) that answers; the error of the
/// last one otherwise.
pub async fn broker_facts(addresses: &[String], timeout: Duration) -> Result<BrokerFacts, String> {
    let mut last = "no broker is ready".to_owned();
    for addr in addresses {
        match tokio::time::timeout(timeout, ask(addr)).await {
            Ok(Ok(facts)) => return Ok(facts),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {timeout:?}"),
        }
    }
    Err(last)
}

async fn ask(addr: &str) -> Result<BrokerFacts, karst_client::Error> {
    let admin = AdminClient::connect(addr.to_owned()).await?;
    let registered = admin
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    let controller = active_controller(&admin).await?;
    let metadata = admin.metadata(None).await?;
    let mut partitions = Vec::new();
    for topic in &metadata.topics {
        // Only a replicated topic can block a restart; RF=1 needs no lookup.
        let min_isr = if topic.partitions.iter().any(|p| p.replicas.len() > 1) {
            min_insync_replicas(&admin, &topic.name).await?
        } else {
            1
        };
        partitions.extend(topic.partitions.iter().map(|p| PartitionReplicas {
            topic: topic.name.clone(),
            partition: p.partition,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            min_isr,
        }));
    }
    Ok(BrokerFacts {
        controller,
        registered,
        partitions,
    })
}

/// The quorum leader; `None` while there is none (an election runs).
async fn active_controller(admin: &AdminClient) -> Result<Option<i32>, karst_client::Error> {
    let (_, response) = admin
        .send(|_| {
            DescribeQuorumRequest::default().with_topics(vec![
                TopicData::default()
                    .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                    .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
            ])
        })
        .await?;
    Ok(response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map(|p| p.leader_id.0)
        .filter(|id| *id >= 0))
}

/// The topic's effective `min.insync.replicas` (1 when unset or unreadable as a number).
async fn min_insync_replicas(admin: &AdminClient, topic: &str) -> Result<i32, karst_client::Error> {
    Ok(admin
        .describe_topic_configs(topic)
        .await?
        .into_iter()
        .find(|c| c.name == "min.insync.replicas")
        .and_then(|c| c.value?.parse().ok())
        .unwrap_or(1))
}
